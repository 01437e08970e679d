# gen-options.awk: fill a template with the URL options of every scheme.
#
#   awk -v mode=man|bash [-v commands=... ...] -f gen-options.awk \
#       SCHEMAS options.txt TEMPLATE > OUT
#
# (man/gen.sh runs it.)  The options of a scheme in a role come from its
# option schema (SCHEMAS: the output of `sluice help --schemas`) when the
# schema declares any, and else from options.txt, which keeps them for the
# transports that have no schema yet.  The options every listener takes
# are "-L *".
#
# man:  a template line "@options -L|-F SCHEME...@" becomes the options of
#       those schemes in scdoc, one list, an option not every one of them
#       takes marked with the ones that do; "@schemes -L@" / "@schemes -F@"
#       the list of schemes.
# bash: the template line "# @options@" becomes what the completion asks:
#       the subcommands, transports, options and options taking a value
#       (-v commands= transports= opts= argopts=), the schemes of each role
#       (-v lschemes= fschemes=), and the URL options of each scheme and
#       their values (_sluice_opts ROLE:SCHEME, _sluice_values
#       ROLE:SCHEME:OPTION).
# Everything else is copied.  POSIX awk (mawk) only.

function trim(s) {
	sub(/^[ \t]+/, "", s)
	sub(/[ \t]+$/, "", s)
	return s
}

function add_word(list, w) {
	return index(" " list " ", " " w " ") ? list : (list == "" ? w : list " " w)
}

function fatal(msg) {
	printf "gen-options.awk: %s:%d: %s\n", FILENAME, FNR, msg > "/dev/stderr"
	failed = 1
	exit 1
}

# one option of key ("L:ws", "F:sstp", "L:*") from source src (1 schema, 2 file)
function add_opt(src, key, name, arg, def, help,   i) {
	if (!((src, key) in n)) {
		n[src, key] = 0
		if (!(key in seen_key)) {
			seen_key[key] = 1
			keys[++nkeys] = key
		}
	}
	for (i = 1; i <= n[src, key]; i++)
		if (oname[src, key, i] == name)
			return
	i = ++n[src, key]
	oname[src, key, i] = name
	oarg[src, key, i] = arg
	odef[src, key, i] = def
	ohelp[src, key, i] = help
}

# which source speaks for key: the schema when it declares anything
function src_of(key) {
	return ((1, key) in n) ? 1 : ((2, key) in n) ? 2 : 0
}

FNR == 1 {
	file++
}

# SCHEMAS: option TRANSPORT SCHEME ROLE NAME TYPE ARG DEFAULT HELP
file == 1 {
	split($0, f, "\t")
	if (f[1] == "option")
		add_opt(1, (f[4] == "listen" ? "L" : "F") ":" f[3], f[5], f[7], f[8], f[9])
	next
}

# options.txt
file == 2 {
	if ($0 ~ /^#/ || $0 ~ /^[ \t]*$/)
		next
	if ($0 ~ /^\[/) {
		group = $1
		gsub(/[\[\]]/, "", group)
		ngk = 0
		role = ""
		for (i = 2; i <= NF; i++) {
			if ($i == "-L" || $i == "-F") {
				role = substr($i, 2)
				continue
			}
			if (role == "")
				fatal("[" group "]: -L or -F before the schemes")
			# the group of every listener's options is "-L *"
			gk[++ngk] = group == "listen" ? "L:*" : role ":" $i
			if (group == "listen")
				break
		}
		for (i = 1; i <= ngk; i++)
			if (!((2, gk[i]) in n)) {
				n[2, gk[i]] = 0
				if (!(gk[i] in seen_key)) {
					seen_key[gk[i]] = 1
					keys[++nkeys] = gk[i]
				}
			}
		next
	}
	if (group == "")
		fatal("an option before the first [group]")
	if (split($0, fl, / [|] /) != 3)
		fatal("want NAME=VALUE | DEFAULT | MEANING")
	name = trim(fl[1])
	arg = ""
	if (index(name, "=")) {
		arg = substr(name, index(name, "=") + 1)
		name = substr(name, 1, index(name, "=") - 1)
	}
	for (i = 1; i <= ngk; i++)
		add_opt(2, gk[i], name, arg, trim(fl[2]), trim(fl[3]))
	next
}

# scdoc: upper-case placeholders underlined, the rest as written
function man_value(v,   out, k, parts, i) {
	if (v == "")
		return ""
	k = split(v, parts, /[|]/)
	out = ""
	for (i = 1; i <= k; i++)
		out = out (i > 1 ? "|" : "") (parts[i] ~ /^[A-Z][A-Z0-9,.]*$/ ? "_" parts[i] "_" : parts[i])
	return "=" out
}

# as written (it may start with a value: "none turns ..."), with a full stop
function sentence(s) {
	return s ~ /[.]$/ ? s : s "."
}

# "@options -L ws wss@": the union of the schemes' options, in order
function man_options(line,   w, nw, role, i, j, k, key, src, name, cnt, order, no, total, who,
                     first, okey) {
	sub(/^@options /, "", line)
	sub(/@$/, "", line)
	nw = split(line, w, " ")
	role = substr(w[1], 2)
	no = 0
	total = nw - 1
	for (i = 2; i <= nw; i++) {
		key = role ":" w[i]
		if (!(src = src_of(key)))
			fatal("no options known for " w[1] " " w[i])
		for (j = 1; j <= n[src, key]; j++) {
			name = oname[src, key, j]
			if (!((name) in cnt)) {
				cnt[name] = 0
				order[++no] = name
				okey[name] = src SUBSEP key SUBSEP j
				who[name] = ""
			}
			cnt[name]++
			who[name] = who[name] (who[name] == "" ? "" : ", ") "*" w[i] "*://"
		}
	}
	for (k = 1; k <= no; k++) {
		name = order[k]
		split(okey[name], first, SUBSEP)
		src = first[1]
		key = first[2]
		j = first[3]
		if (k > 1)
			print ""
		printf "*%s*%s%s\n", name, man_value(oarg[src, key, j]),
		       odef[src, key, j] == "" ? "" : " (default: " odef[src, key, j] ")"
		printf "\t%s%s\n", cnt[name] < total ? "(" who[name] " only) " : "", sentence(ohelp[src, key, j])
	}
}

function values_of(arg) {
	if (arg ~ /^(FILE|DIR|PATH)$/)
		return "@file"
	if (arg ~ /[|]/) {
		gsub(/[|]/, " ", arg)
		return arg
	}
	return ""
}

function trimmed(s) {
	sub(/ +$/, "", s)
	return s
}

# the completion: a scheme's own options and, for listeners, everyone's
function bash_out(   i, j, k, key, src, list, sk, ns, s, r, v, all) {
	print "# generated by man/gen.sh: lists from the binary, URL options from the"
	print "# option schemas and man/options.txt"
	printf "_sluice_commands='%s'\n", trimmed(commands)
	printf "_sluice_transports='%s'\n", trimmed(transports)
	printf "_sluice_global_opts='%s'\n", trimmed(opts)
	printf "_sluice_arg_opts='%s'\n", trimmed(argopts)
	print "_sluice_schemes() {"
	print "\tcase $1 in"
	printf "\tL) echo '%s' ;;\n", trimmed(lschemes)
	printf "\tF) echo '%s' ;;\n", trimmed(fschemes)
	print "\tesac"
	print "}"
	for (r = 1; r <= 2; r++) {
		all = r == 1 ? lschemes : fschemes
		ns = split(all, sk, " ")
		for (s = 1; s <= ns; s++) {
			key = (r == 1 ? "L" : "F") ":" sk[s]
			list = ""
			# group://NAME takes none: the group's options are in --group
			if (r == 2 && sk[s] == "group") {
				optline[key] = ""
				okeys[++nok] = key
				continue
			}
			for (k = 1; k <= 2; k++) {
				v = k == 1 && r == 1 ? "L:*" : k == 2 ? key : ""
				if (v == "" || !(src = src_of(v)))
					continue
				for (j = 1; j <= n[src, v]; j++) {
					list = add_word(list, oname[src, v, j])
					if (values_of(oarg[src, v, j]) != "")
						vals[key ":" oname[src, v, j]] = values_of(oarg[src, v, j])
				}
			}
			optline[key] = list
			okeys[++nok] = key
		}
	}
	print "_sluice_opts() {"
	print "\tcase $1 in"
	for (i = 1; i <= nok; i++)
		if (optline[okeys[i]] != "")
			printf "\t'%s') echo '%s' ;;\n", okeys[i], optline[okeys[i]]
	print "\tesac"
	print "}"
	print "_sluice_values() {"
	print "\tcase $1 in"
	for (i = 1; i <= nok; i++) {
		ns = split(optline[okeys[i]], sk, " ")
		for (j = 1; j <= ns; j++)
			if ((okeys[i] ":" sk[j]) in vals)
				printf "\t'%s') echo '%s' ;;\n", okeys[i] ":" sk[j], vals[okeys[i] ":" sk[j]]
	}
	print "\tesac"
	print "}"
}

mode == "man" && /^@options -[LF]( [^ @]+)+@$/ {
	man_options($0)
	next
}

mode == "man" && /@schemes -[LF]@/ {
	r = substr($0, index($0, "@schemes -") + 10, 1)
	k = split(r == "L" ? lschemes : fschemes, sk, " ")
	list = ""
	for (i = 1; i <= k; i++)
		list = list (i > 1 ? ", " : "") "*" sk[i] "*://"
	sub(/@schemes -[LF]@/, list)
	print
	next
}

mode == "man" && /@options|@schemes/ {
	fatal("a marker of the old form, or misspelt: " $0)
}

mode == "bash" && /^# @options@$/ {
	bash_out()
	next
}

{ print }

END {
	if (failed)
		exit 1
}
