/* libFuzzer target for the pluggable transport's parsers: the TOR_PT_*
 * value parsers (version list, transport list, bind addresses, server
 * options), the SOCKS-carried argument lists and the bridge-line check,
 * the ARGS escaper, and the Extended ORPort handshake fed tor's side from
 * the input, whole and in pieces.  Invariants: nothing reads past the input, parsed strings are
 * terminated, and escaping then parsing an argument gives it back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "front/extorport.h"
#include "front/pt_proto.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

static void args_invariants(const pt_args_t *a)
{
	check(a->n <= PT_ARGS_MAX);
	for (size_t i = 0; i < a->n; i++) {
		check(memchr(a->kv[i].key, 0, PT_KEY_MAX) != NULL);
		check(memchr(a->kv[i].val, 0, PT_VAL_MAX) != NULL);
		check(a->kv[i].key[0] != 0);
	}
}

/* Escape a parsed argument for SOCKS the way tor does and parse it back. */
static void roundtrip(const pt_kv_t *kv)
{
	char buf[2 * (PT_KEY_MAX + PT_VAL_MAX) + 2];
	size_t o = 0;
	pt_args_t b = {0};

	for (const char *s = kv->key; *s; s++) {
		if (*s == '\\' || *s == '=' || *s == ';')
			buf[o++] = '\\';
		buf[o++] = *s;
	}
	buf[o++] = '=';
	for (const char *s = kv->val; *s; s++) {
		if (*s == '\\' || *s == '=' || *s == ';')
			buf[o++] = '\\';
		buf[o++] = *s;
	}
	check(pt_args_parse(buf, o, &b) == 0 && b.n == 1);
	check(!strcmp(b.kv[0].key, kv->key) && !strcmp(b.kv[0].val, kv->val));
}

static void hs_run(const uint8_t *p, size_t n, size_t step)
{
	static const uint8_t cookie[EXTOR_COOKIE_LEN] = {1, 2, 3};
	static const uint8_t cn[EXTOR_NONCE_LEN] = {4, 5, 6};
	uint8_t buf[4096], out[EXTOR_OUT_MAX + 64];
	size_t have = 0, fed = 0, used, outlen;
	extor_hs_t hs;
	extor_res_t r;

	extor_hs_init(&hs, cookie, cn, "127.0.0.1:1", "ws");
	while (fed < n) {
		size_t k = n - fed < step ? n - fed : step;
		if (k > sizeof(buf) - have)
			break;
		memcpy(buf + have, p + fed, k);
		have += k;
		fed += k;
		r = extor_hs_feed(&hs, buf, have, &used, out, sizeof(out), &outlen);
		check(used <= have && outlen <= sizeof(out));
		memmove(buf, buf + used, have - used);
		have -= used;
		if (r != EXTOR_MORE) {
			check(r == EXTOR_OK ? hs.state == EXTOR_DONE : hs.state == EXTOR_FAILED);
			break;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), out[256], esc[1024];
	const char *p;
	pt_args_t a = {0};
	int r;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;

	(void)pt_version_pick(s);
	p = s;
	while ((r = pt_list_next(&p, out, sizeof(out))) > 0)
		check(strlen(out) > 0 && strlen(out) < sizeof(out));
	if (pt_bindaddr(s, "ws", out, sizeof(out)) == 1)
		check(strlen(out) < sizeof(out));
	if (pt_server_options(s, "ws", &a) == 0)
		args_invariants(&a);
	memset(&a, 0, sizeof(a));
	if (pt_args_parse(s, size, &a) == 0) {
		args_invariants(&a);
		for (size_t i = 0; i < a.n; i++)
			roundtrip(&a.kv[i]);
	}
	memset(&a, 0, sizeof(a));
	if (size >= 1) {
		size_t ul = data[0] % 256 < size - 1 ? data[0] % 256 : size - 1;
		if (pt_socks5_args(s + 1, ul, s + 1 + ul, size - 1 - ul > 255 ? 255 : size - 1 - ul,
		                   &a) == 0) {
			char err[160];

			args_invariants(&a);
			/* a bridge line that passes names key and nothing like keyfile */
			for (size_t t = 0; t < 2; t++)
				if (pt_bridge_args_check(t ? "sctp" : "ws", &a, err, sizeof(err)) ==
				    0)
					check(pt_args_get(&a, "key") &&
					      !pt_args_get(&a, "keyfile") &&
					      !pt_args_get(&a, "pool") &&
					      (!t || !pt_args_get(&a, "ping")));
		}
	}
	if (pt_args_escape(s, esc, sizeof(esc)))
		check(strlen(esc) >= strlen(s));

	hs_run(data, size, size ? size : 1);
	hs_run(data, size, 1);
	hs_run(data, size, 7);
	free(s);
	return 0;
}
