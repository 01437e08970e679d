#!/bin/bash
# The bash completion and the man page say what the binary does.
#
# For every listener and hop scheme sluice knows (read from its own error
# message), the binary is asked which URL options it takes
# (options_probe.py: every option name in the sources, one `sluice check`
# each), and the bash completion must offer exactly those after '?'; the
# completion must offer every scheme after -L / -F, every subcommand and
# every option of --help; sluice(1) must name every scheme, URL option,
# subcommand and option, and render without warnings.  Both generated files come from man/options.txt, so a new or
# renamed option fails here until that file says what it is.
# ctest-label: slow
# (2000 runs of sluice check: half a minute here, minutes under ASan,
# where cli.sh and the unit tests already drive the same option parsers)
. "$(dirname "$0")/lib.sh"
need_cmd openssl groff

BUILD=$(dirname "$SLUICE")
COMP=$BUILD/gen/sluice.bash
MAN=$BUILD/gen/sluice.1
for f in "$COMP" "$MAN"; do
	[ -f "$f" ] || { echo "$f missing: build the sluice-docs target"; exit 1; }
done

"$SLUICE" keygen >"$T/key"
chmod 600 "$T/key"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
	-subj /CN=sluice-test -keyout "$T/k.pem" -out "$T/c.pem" 2>/dev/null
echo pw | "$SLUICE" vpn-user add "$T/users.vpn" alice 2>/dev/null
echo alice:pw >"$T/users.ppp"
chmod 600 "$T/users.ppp"

python3 "$SRCDIR/tests/e2e/options_probe.py" "$SLUICE" "$SRCDIR" "$T" >"$T/probe" ||
	{ fail "probing the binary"; finish; exit 1; }

# complete LINE: what the completion offers at the end of LINE, one a line
complete_line() {
	bash -c '
		source "$1"
		COMP_LINE=$2
		COMP_POINT=${#COMP_LINE}
		_sluice_split
		_sluice sluice "$_sluice_cur" ""
		printf "%s\n" "${COMPREPLY[@]}"' _ "$COMP" "$1"
}

while read -r role scheme opts; do
	if [ "$role" = SKIP ]; then
		echo "skipped: $scheme $opts (a URL of it does not check here)"
		continue
	fi
	want=$(printf '%s\n' $opts | sort | tr '\n' ' ')
	got=$(complete_line "sluice -$role '$scheme://127.0.0.1:1?" | sed "s|^$scheme://127.0.0.1:1?||; s|=\$||" |
		sort | tr '\n' ' ')
	check_eq "-$role $scheme://: completion offers the options sluice takes" "$want" "$got"
	for o in $opts; do
		grep -qF "\\fB$o\\fR=" "$MAN" || fail "sluice(1) does not describe option $o of $scheme://"
	done
	grep -qF "\\fB$scheme\\fR://" "$MAN" || fail "sluice(1) does not name $scheme://"
done <"$T/probe"

for role in L F; do
	want=$(awk -v r="$role" '$1 == r { print $2 "://" }' "$T/probe" | sort | tr '\n' ' ')
	got=$(complete_line "sluice -$role '" | sort | tr '\n' ' ')
	check_eq "-$role: completion offers every scheme sluice knows" "$want" "$got"
done

subs=$("$SLUICE" help --schemas | awk -F'\t' '$1 == "command" { print $2 }' | sort | tr '\n' ' ')
check_eq "completion offers every subcommand" "$subs" "$(complete_line "sluice " | sort | tr '\n' ' ')"
opts=$("$SLUICE" --help | awk '/^ +-/ { for (i = 1; i <= NF && $i ~ /^-/; i++) { sub(/,$/, "", $i); print $i } }' |
	sort | tr '\n' ' ')
check_eq "completion offers every option of --help" "$opts" "$(complete_line "sluice -" | sort | tr '\n' ' ')"
for w in $subs $opts; do
	grep -qE "\\\\fB$w(\\\\fR| )" "$MAN" || fail "sluice(1) does not describe $w"
done
stale=$("$SLUICE" help --schemas | python3 -c '
import re, sys
schema = {("L" if f[3] == "listen" else "F") + ":" + f[2]
          for f in (l.rstrip("\n").split("\t") for l in sys.stdin) if f[0] == "option"}
for line in open(sys.argv[1]):
    m = re.match(r"\[([a-z0-9-]+)\]((?: \S+)+)", line)
    if not m:
        continue
    role, keys = "", []
    for w in m.group(2).split():
        if w in ("-L", "-F"):
            role = w[1]
        else:
            keys.append("L:*" if m.group(1) == "listen" else role + ":" + w)
    print(" ".join(f"[{m.group(1)}]{k}" for k in keys if k in schema))' "$SRCDIR/man/options.txt")
check_eq "man/options.txt lists nothing an option schema declares" "" "$(echo $stale)"
check_eq "completion of a value: enc= of wss://" "wss://h:1?enc=none" \
	"$(complete_line "sluice -F 'wss://h:1?enc=n")"
check_eq "completion of --log-level" "debug" "$(complete_line "sluice --log-level d")"
check "sluice(1) and sluice.yaml(5) render without warnings" bash -c \
	'! groff -man -Tutf8 -ww -z "$1" 2>&1 | grep . && ! groff -man -Tutf8 -ww -z "$2" 2>&1 | grep .' \
	_ "$MAN" "$BUILD/gen/sluice.yaml.5"
finish
