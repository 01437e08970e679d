# gen-options.awk: fill a template from man/options.txt.
#
#   awk -v mode=man  -f gen-options.awk options.txt sluice.1.scd     > sluice.1.scd
#   awk -v mode=bash -f gen-options.awk options.txt sluice.bash.in   > sluice.bash
#
# man:  each template line "@options GROUP@" becomes that group's option
#       list in scdoc; "@schemes -L@" / "@schemes -F@" the list of schemes.
# bash: the template line "# @options@" becomes the functions the
#       completion asks: _sluice_schemes ROLE, _sluice_opts ROLE:SCHEME,
#       _sluice_values ROLE:SCHEME:OPTION.
# Everything else is copied.  POSIX awk (mawk) only.

function trim(s) {
	sub(/^[ \t]+/, "", s)
	sub(/[ \t]+$/, "", s)
	return s
}

function add_word(list, w) {
	return index(" " list " ", " " w " ") ? list : (list == "" ? w : list " " w)
}

# the options file
FNR == NR {
	if ($0 ~ /^#/ || $0 ~ /^[ \t]*$/)
		next
	if ($0 ~ /^\[/) {
		group = $1
		gsub(/[\[\]]/, "", group)
		if (group in gsize)
			fatal("group " group " twice")
		gsize[group] = 0
		role = ""
		for (i = 2; i <= NF; i++) {
			if ($i == "-L" || $i == "-F") {
				role = substr($i, 2)
				continue
			}
			if (role == "")
				fatal("[" group "]: -L or -F before the schemes")
			key = role ":" $i
			if (!(key in sopts)) {
				sopts[key] = ""
				sorder[++nsopts] = key
			}
			schemes[role] = add_word(schemes[role], $i)
			gkeys[group] = gkeys[group] " " key
		}
		next
	}
	if (group == "")
		fatal("an option before the first [group]")
	n = split($0, f, / [|] /)
	if (n != 3)
		fatal("want NAME=VALUE | DEFAULT | MEANING")
	name = trim(f[1])
	val = ""
	if (index(name, "=")) {
		val = substr(name, index(name, "=") + 1)
		name = substr(name, 1, index(name, "=") - 1)
	}
	k = ++gsize[group]
	oname[group, k] = name
	oval[group, k] = val
	odef[group, k] = trim(f[2])
	omean[group, k] = trim(f[3])
	nk = split(gkeys[group], ks, " ")
	for (i = 1; i <= nk; i++) {
		sopts[ks[i]] = add_word(sopts[ks[i]], name)
		w = ""
		if (val ~ /^(FILE|DIR|PATH)$/)
			w = "@file"
		else if (val ~ /[|]/) {
			w = val
			gsub(/[|]/, " ", w)
		}
		if (w != "" && !((ks[i] ":" name) in svals))
			vorder[++nsvals] = ks[i] ":" name
		if (w != "")
			svals[ks[i] ":" name] = w
	}
	next
}

function fatal(msg) {
	printf "gen-options.awk: %s:%d: %s\n", FILENAME, FNR, msg > "/dev/stderr"
	failed = 1
	exit 1
}

# scdoc: upper-case placeholders underlined, the rest as written
function man_value(v,   out, n, parts, i) {
	if (v == "")
		return ""
	n = split(v, parts, /[|]/)
	out = ""
	for (i = 1; i <= n; i++)
		out = out (i > 1 ? "|" : "") (parts[i] ~ /^[A-Z][A-Z0-9,.]*$/ ? "_" parts[i] "_" : parts[i])
	return "=" out
}

function sentence(s) {
	s = toupper(substr(s, 1, 1)) substr(s, 2)
	return s ~ /[.]$/ ? s : s "."
}

function man_group(g,   k) {
	if (!(g in gsize))
		fatal("no group " g " in the options file")
	for (k = 1; k <= gsize[g]; k++) {
		if (k > 1)
			print ""
		printf "*%s*%s (default: %s)\n", oname[g, k], man_value(oval[g, k]), odef[g, k]
		printf "\t%s\n", sentence(omean[g, k])
	}
}

function bash_out(   k, i) {
	print "# generated from man/options.txt by man/gen-options.awk"
	print "_sluice_schemes() {"
	print "\tcase $1 in"
	printf "\tL) echo '%s' ;;\n", schemes["L"]
	printf "\tF) echo '%s' ;;\n", schemes["F"]
	print "\tesac"
	print "}"
	print "_sluice_opts() {"
	print "\tcase $1 in"
	for (i = 1; i <= nsopts; i++)
		if (sopts[sorder[i]] != "")
			printf "\t'%s') echo '%s' ;;\n", sorder[i], sopts[sorder[i]]
	print "\tesac"
	print "}"
	print "_sluice_values() {"
	print "\tcase $1 in"
	for (i = 1; i <= nsvals; i++)
		printf "\t'%s') echo '%s' ;;\n", vorder[i], svals[vorder[i]]
	print "\tesac"
	print "}"
}

mode == "man" && /^@options [a-z0-9-]+@$/ {
	g = $2
	sub(/@$/, "", g)
	man_group(g)
	next
}

mode == "man" && /@schemes -[LF]@/ {
	r = substr($0, index($0, "@schemes -") + 10, 1)
	n = split(schemes[r], ks, " ")
	list = ""
	for (i = 1; i <= n; i++)
		list = list (i > 1 ? ", " : "") "*" ks[i] "*://"
	sub(/@schemes -[LF]@/, list)
	print
	next
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
