#!/bin/bash
# 256 MiB (SLUICE_E2E_BIG) through every front end with sha256 checked: SOCKS5 (remote name),
# SOCKS4a, HTTP absolute-form, HTTP CONNECT, proxy:// (SOCKS and HTTP on one
# port), and a chain through a real microsocks and a real tinyproxy.
. "$(dirname "$0")/lib.sh"
need_cmd microsocks tinyproxy
BIG=${SLUICE_E2E_BIG:-256M}

mkdir -p "$T/www"
big=$(random_file "$BIG")
mv "$big" "$T/www/big"
want=$(sha "$T/www/big")
web=$(free_port)
http_server "$web" "$T/www"
URL="http://127.0.0.1:$web/big"

px=$(free_port)
sk=$(free_port)
hp=$(free_port)
start sluice "$SLUICE" -L "proxy://127.0.0.1:$px" -L "socks://127.0.0.1:$sk" -L "http://127.0.0.1:$hp"
wait_port "$px" && wait_port "$sk" && wait_port "$hp"

# through NAME CURL-ARGS...: download the file, compare its sha256
through() {
	local name=$1
	shift
	local t0 t1 got
	t0=$(date +%s.%N)
	got=$(curl -fsS "$@" "$URL" | sha256sum | cut -d' ' -f1)
	t1=$(date +%s.%N)
	check_eq "$BIG via $name, sha256" "$want" "$got"
	echo "    $(python3 -c "print(round($(stat -c %s "$T/www/big")*8/1e9/($t1-$t0),2))") Gbit/s (incl. sha256)"
}

through "socks5 (remote name)" --socks5-hostname "127.0.0.1:$sk"
through "socks4a" --socks4a "127.0.0.1:$sk"
through "http absolute-form" -x "http://127.0.0.1:$hp"
through "http CONNECT" -p -x "http://127.0.0.1:$hp"
through "proxy:// as socks5" --socks5 "127.0.0.1:$px"
through "proxy:// as http" -x "http://127.0.0.1:$px"

# a chain: sluice -> microsocks -> tinyproxy -> origin
ms=$(free_port)
start microsocks microsocks -i 127.0.0.1 -p "$ms"
tp=$(free_port)
cat >"$T/tinyproxy.conf" <<CONF
Port $tp
Listen 127.0.0.1
Timeout 60
MaxClients 100
Allow 127.0.0.1
ConnectPort $web
LogLevel Error
CONF
start tinyproxy tinyproxy -d -c "$T/tinyproxy.conf"
wait_port "$ms" && wait_port "$tp"
ch=$(free_port)
start chain "$SLUICE" -L "socks5://127.0.0.1:$ch" -F "socks5://127.0.0.1:$ms" -F "http://127.0.0.1:$tp"
wait_port "$ch"
through "chain socks5 -> microsocks -> tinyproxy" --socks5-hostname "127.0.0.1:$ch"
check "sluice is still alive" alive sluice

finish
