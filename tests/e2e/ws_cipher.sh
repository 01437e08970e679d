#!/bin/bash
# Ciphers chosen for speed (docs/ws-protocol.md, "Records"; README, wss):
# the tunnel's records are sealed with AES-128-GCM when the client offers it
# (enc=auto on a CPU with AES instructions, or enc=aes-128-gcm) and the
# server's CPU has them too, else with ChaCha20-Poly1305; a server that
# claims AES records the client did not offer is refused.  wss:// puts
# TLS_AES_128_GCM_SHA256 first where the CPU has AES, follows its own order
# against openssl s_client, except that a client listing ChaCha20 first
# gets ChaCha20; ciphers= sets the list (on the wstan server too).  SLUICE_NO_AES=1 plays a CPU
# without AES.  Every case moves a file through the tunnel and checks it.
. "$(dirname "$0")/lib.sh"
need_py websockets
WSPEER="/usr/bin/python3 $SRCDIR/tests/e2e/wspeer.py"

KEY=$("$SLUICE" keygen)
if grep -q '^flags.* aes .*pclmulqdq\|^flags.* pclmulqdq .* aes ' /proc/cpuinfo; then
	HW=aes-128-gcm TLSHW=TLS_AES_128_GCM_SHA256
else
	HW=chacha20-poly1305 TLSHW=TLS_CHACHA20_POLY1305_SHA256
fi
echo "    this CPU: $HW"
mkdir -p "$T/www"
head -c 4M /dev/urandom >"$T/www/blob"
want=$(sha "$T/www/blob")
web=$(free_port)
http_server "$web" "$T/www"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
	-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$T/key.pem" -out "$T/cert.pem" \
	2>/dev/null

ws=$(free_port)
wsnoaes=$(free_port)
wss=$(free_port)
start server "$SLUICE" -v -L "ws://127.0.0.1:$ws?host-loopback=1&key=$KEY" \
	-L "wss://127.0.0.1:$wss?host-loopback=1&key=$KEY&cert=$T/cert.pem&certkey=$T/key.pem"
start noaes env SLUICE_NO_AES=1 "$SLUICE" -v -L "ws://127.0.0.1:$wsnoaes?host-loopback=1&key=$KEY"
wait_port "$ws" && wait_port "$wss" && wait_port "$wsnoaes"

# through NAME SERVER-LOG URL [ENV...]: a client for URL fetches the blob;
# prints the last cipher SERVER-LOG names for a tunnel
n=0
through() {
	local name=$1 log=$2 url=$3 p got
	shift 3
	n=$((n + 1))
	p=$(free_port)
	start "$name" env "$@" "$SLUICE" -v -L "proxy://127.0.0.1:$p" -F "$url"
	wait_port "$p"
	got=$(curl -fsS -m 20 --socks5-hostname "127.0.0.1:$p" "http://127.0.0.1:$web/blob" | sha256sum | cut -d' ' -f1)
	[ "$got" = "$want" ] || echo "blob-corrupt"
	grep -o 'ws tunnel up (sealed, [a-z0-9-]*' "$T/$log.log" | tail -1 | sed 's/.*, //'
	# called in $(...): finish()'s list of PIDS never sees this client
	kill "$(pid_of "$name")" 2>/dev/null
	wait "$(pid_of "$name")" 2>/dev/null
	true
}

check_eq "enc=auto: $HW, the blob intact" "$HW" "$(through auto server "ws://127.0.0.1:$ws?key=$KEY")"
check_eq "enc=chacha20-poly1305: no offer, chacha20-poly1305" chacha20-poly1305 \
	"$(through chacha server "ws://127.0.0.1:$ws?key=$KEY&enc=chacha20-poly1305")"
check_eq "enc=aes-128-gcm to a server with AES: $HW" "$HW" \
	"$(through aes server "ws://127.0.0.1:$ws?key=$KEY&enc=aes-128-gcm")"
check_eq "enc=aes-128-gcm to a server without AES: the offer declined, chacha20-poly1305" \
	chacha20-poly1305 "$(through aesnoaes noaes "ws://127.0.0.1:$wsnoaes?key=$KEY&enc=aes-128-gcm")"
check_eq "enc=auto on a client without AES: no offer, chacha20-poly1305" chacha20-poly1305 \
	"$(through autonoaes server "ws://127.0.0.1:$ws?key=$KEY" SLUICE_NO_AES=1)"
check_eq "wss, enc=auto: sealed with $HW" "$HW" \
	"$(through wssauto server "wss://127.0.0.1:$wss?key=$KEY&ca=$T/cert.pem")"

# a server (python websockets, with the key) that answers "AES records" to
# a client that did not offer them: refused; the token's flags say what
# each client offered (1 = sealed, 4 = AES offered)
for e in chacha20-poly1305 aes-128-gcm; do
	py=$(free_port)
	$WSPEER server "$py" "$KEY" 3 2 >"$T/py-$e.log" 2>&1 &
	pypid=$!
	PIDS="$PIDS $pypid"
	wait_port "$py"
	pc=$(free_port)
	start "forged-$e" "$SLUICE" -v -L "tcp://127.0.0.1:$pc/127.0.0.1:$web" \
		-F "ws://127.0.0.1:$py/?key=$KEY&enc=$e&pool=1"
	wait "$pypid"
done
check "the token offers AES only with enc=aes-128-gcm" bash -c \
	"grep -q 'token ok flags 1\$' '$T/py-chacha20-poly1305.log' && grep -q 'token ok flags 5\$' '$T/py-aes-128-gcm.log'"
check "an answer choosing AES records that were not offered is refused" \
	grep -q "server chose AES-128-GCM records, which were not offered" "$T/forged-chacha20-poly1305.log"
check "the same answer to a client that offered them is accepted" \
	bash -c "! grep -q 'not offered\|not authentic' '$T/forged-aes-128-gcm.log'"

# TLS 1.3 suites
tls_of() { grep -o 'TLSv1.3 TLS_[A-Z0-9_]*' "$T/$1.log" | tail -1 | sed 's/.* //'; }
check_eq "wss: sluice to sluice negotiates $TLSHW" "$TLSHW" "$(tls_of wssauto)"
through wsschacha server "wss://127.0.0.1:$wss?key=$KEY&ca=$T/cert.pem&ciphers=TLS_CHACHA20_POLY1305_SHA256" >/dev/null
check_eq "wss: ciphers=TLS_CHACHA20_POLY1305_SHA256 on the client" TLS_CHACHA20_POLY1305_SHA256 \
	"$(tls_of wsschacha)"
s_client() {
	openssl s_client -connect "127.0.0.1:$wss" -tls1_3 -ciphersuites "$1" </dev/null 2>&1 |
		grep -o 'Cipher is TLS_[A-Z0-9_]*' | head -1 | sed 's/Cipher is //'
}
[ $HW = aes-128-gcm ] && check_eq "openssl s_client offering AES-256 first gets the server's choice, AES-128" \
	TLS_AES_128_GCM_SHA256 "$(s_client TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256)"
check_eq "openssl s_client listing ChaCha20 first gets ChaCha20" TLS_CHACHA20_POLY1305_SHA256 \
	"$(s_client TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256)"
# the wstan server in its wss:// mode takes ciphers= too
wt=$(free_port)
start wstan "$SLUICE" -v -L "wstan://127.0.0.1:$wt/t?host-loopback=1&key=cipher-test-password&cert=$T/cert.pem&certkey=$T/key.pem&ciphers=TLS_CHACHA20_POLY1305_SHA256"
wait_port "$wt"
wss=$wt
check_eq "wstan server, ciphers=TLS_CHACHA20_POLY1305_SHA256: s_client offering AES-128 first gets ChaCha20" \
	TLS_CHACHA20_POLY1305_SHA256 "$(s_client TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256)"
check_eq "and one offering only AES-128 gets no session" "" "$(s_client TLS_AES_128_GCM_SHA256)"
timeout 5 "$SLUICE" -L "wss://127.0.0.1:$(free_port)?key=$KEY&cert=$T/cert.pem&certkey=$T/key.pem&ciphers=TLS_ROT13" >"$T/bad.log" 2>&1
rc=$?
check "ciphers= that names no suite stops the server with a reason" \
	bash -c "[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q 'ciphers=TLS_ROT13' '$T/bad.log'"

finish
