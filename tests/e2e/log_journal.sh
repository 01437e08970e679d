#!/bin/bash
# Logs to systemd-journald, the real one, run by the test in a mount
# namespace of its own (a tmpfs on /run/systemd and /run/log, so the
# host's journal, if any, is not touched):
#
#   - started as systemd starts a service whose stderr is the journal
#     ($JOURNAL_STREAM names stderr's device and inode), sluice speaks the
#     journal's native protocol: a connection's lines carry CONN_ID,
#     LISTENER, PEER and TARGET as fields of their own, with PRIORITY;
#   - --log-syslog=SOCKET sends RFC 3164 lines to journald's syslog
#     socket, which journald parses (identifier, pid, priority).
# Needs root (mount namespace) and systemd's journald.
. "$(dirname "$0")/lib.sh"
JOURNALD=/lib/systemd/systemd-journald
need_cmd journalctl curl
[ -x "$JOURNALD" ] || skip "systemd-journald is not installed"
in_netns --mount
mount -t tmpfs tmpfs /run/systemd && mkdir -p /run/systemd/journal &&
	mount -t tmpfs tmpfs /run/log || skip "cannot mount a tmpfs here"
start journald "$JOURNALD"
for _ in $(seq 100); do
	[ -S /run/systemd/journal/socket ] && [ -S /run/systemd/journal/dev-log ] && break
	sleep 0.05
done

mkdir -p "$T/www"
echo "journaled" >"$T/www/index.html"
web=$(free_port)
http_server "$web" "$T/www"

a=$(free_port)
b=$(free_port)
: >"$T/a.err"
# shellcheck disable=SC2030,SC2031
(
	export JOURNAL_STREAM
	JOURNAL_STREAM=$(stat -c '%d:%i' "$T/a.err")
	exec "$SLUICE" -L "tcp://127.0.0.1:$a/127.0.0.1:$web" 2>>"$T/a.err"
) &
PIDS="$PIDS $!"
start b "$SLUICE" -L "tcp://127.0.0.1:$b/127.0.0.1:$web" --log-syslog=/run/systemd/journal/dev-log
wait_port "$a"
wait_port "$b"
check_eq "through the first" journaled "$(curl -fsS "http://127.0.0.1:$a/")"
check_eq "through the second" journaled "$(curl -fsS "http://127.0.0.1:$b/")"
sleep 0.5
check_eq "nothing went to stderr under the journal" "" "$(cat "$T/a.err")"

journal() { journalctl -D /run/log/journal --no-pager -o json SYSLOG_IDENTIFIER=sluice "$@"; }
journal >"$T/journal.json"
check "a connection's line has its fields (native protocol)" /usr/bin/python3 - "$T/journal.json" "$a" "$web" <<'PY'
import json, sys
f, a, web = sys.argv[1], sys.argv[2], sys.argv[3]
for line in open(f):
    d = json.loads(line)
    if d.get("_TRANSPORT") == "journal" and d.get("LISTENER") == "tcp://127.0.0.1:" + a \
            and d.get("TARGET") == "127.0.0.1:" + web and d.get("MESSAGE", "").endswith(" -> 127.0.0.1:" + web):
        assert d["PEER"].startswith("127.0.0.1:"), d
        assert int(d["CONN_ID"]) > 0 and d["PRIORITY"] == "6", d
        sys.exit(0)
sys.exit("no such entry")
PY
check "the syslog line was parsed by journald" /usr/bin/python3 - "$T/journal.json" "$b" <<'PY'
import json, sys
f, b = sys.argv[1], sys.argv[2]
for line in open(f):
    d = json.loads(line)
    if d.get("_TRANSPORT") == "syslog" and d.get("MESSAGE") == "listening on tcp://127.0.0.1:" + b:
        assert d["PRIORITY"] == "6" and d["SYSLOG_FACILITY"] == "3" and int(d["SYSLOG_PID"]) > 0, d
        sys.exit(0)
sys.exit("no such entry")
PY
finish
