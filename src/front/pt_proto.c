/* pt_proto: the pure parsers of the PT protocol (see pt_proto.h). */
#include "front/pt_proto.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/url.h"

int pt_name_valid(const char *s, size_t n)
{
	if (!n || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

int pt_list_next(const char **p, char *out, size_t cap)
{
	const char *s = *p, *e;
	size_t n;

	if (!s || !*s)
		return 0;
	e = strchr(s, ',');
	n = e ? (size_t)(e - s) : strlen(s);
	if (!n || n >= cap)
		return -EINVAL;
	memcpy(out, s, n);
	out[n] = 0;
	*p = e ? e + 1 : s + n;
	if (e && !e[1])
		return -EINVAL; /* trailing comma: an empty last item */
	return 1;
}

int pt_version_pick(const char *list)
{
	char v[64];
	int r, found = 0;

	if (!list || !*list)
		return -EINVAL;
	while ((r = pt_list_next(&list, v, sizeof(v))) > 0) {
		for (const char *c = v; *c; c++)
			if (*c <= ' ' || *c > '~')
				return -EINVAL;
		found |= !strcmp(v, "1");
	}
	return r < 0 ? r : found;
}

/* Read s[*i..len) up to an unescaped char in `stops` (returned, or 0 at
 * the end), unescaping into out. */
static int unesc_until(const char *s, size_t len, size_t *i, const char *stops, char *out,
                       size_t cap)
{
	size_t o = 0;

	while (*i < len) {
		char ch = s[*i];
		if (ch == '\\') {
			if (*i + 1 >= len)
				return -EINVAL;
			ch = s[*i + 1];
			if (!ch)
				return -EINVAL;
			*i += 2;
		} else if (ch && strchr(stops, ch)) {
			(*i)++;
			out[o] = 0;
			return (unsigned char)ch;
		} else {
			if (!ch)
				return -EINVAL;
			(*i)++;
		}
		if (o + 1 >= cap)
			return -EINVAL;
		out[o++] = ch;
	}
	out[o] = 0;
	return 0;
}

/* One k=v up to an unescaped `sep` (or the end); values may hold '='. */
static int kv_parse(const char *s, size_t len, size_t *i, char sep, pt_args_t *a)
{
	char stops[3] = {'=', sep, 0}, vstops[2] = {sep, 0};
	pt_kv_t *kv;
	int r;

	if (a->n >= PT_ARGS_MAX)
		return -EINVAL;
	kv = &a->kv[a->n];
	r = unesc_until(s, len, i, stops, kv->key, sizeof(kv->key));
	if (r != '=' || !kv->key[0])
		return -EINVAL;
	r = unesc_until(s, len, i, vstops, kv->val, sizeof(kv->val));
	if (r < 0)
		return r;
	a->n++;
	return r; /* sep or 0 */
}

int pt_args_parse(const char *s, size_t len, pt_args_t *a)
{
	size_t i = 0;
	int r;

	while (i < len) {
		if ((r = kv_parse(s, len, &i, ';', a)) < 0)
			return r;
		if (r == ';' && i == len)
			return -EINVAL;
	}
	return 0;
}

int pt_socks5_args(const char *user, size_t ulen, const char *pass, size_t plen, pt_args_t *a)
{
	char buf[2 * 256];

	if (ulen > 255 || plen > 255)
		return -EINVAL;
	memcpy(buf, user, ulen);
	if (!(plen == 1 && pass[0] == 0)) {
		memcpy(buf + ulen, pass, plen);
		ulen += plen;
	}
	return pt_args_parse(buf, ulen, a);
}

int pt_server_options(const char *env, const char *name, pt_args_t *a)
{
	char t[PT_KEY_MAX];
	size_t i = 0, len = env ? strlen(env) : 0;
	pt_args_t tmp;
	int r;

	while (i < len) {
		r = unesc_until(env, len, &i, ":", t, sizeof(t));
		if (r != ':' || !pt_name_valid(t, strlen(t)))
			return -EINVAL;
		tmp.n = 0;
		r = kv_parse(env, len, &i, ';', &tmp);
		if (r < 0)
			return r;
		if (r == ';' && i == len)
			return -EINVAL;
		if (!strcmp(t, name)) {
			if (a->n >= PT_ARGS_MAX)
				return -EINVAL;
			a->kv[a->n++] = tmp.kv[0];
		}
	}
	return 0;
}

int pt_bindaddr(const char *env, const char *name, char *out, size_t cap)
{
	char item[320], host[256];
	const char *p = env, *dash;
	uint16_t port;
	int r, found = 0;

	while ((r = pt_list_next(&p, item, sizeof(item))) > 0) {
		dash = strchr(item, '-');
		if (!dash || !pt_name_valid(item, (size_t)(dash - item)) ||
		    hostport_parse_any(dash + 1, host, sizeof(host), &port) < 0)
			return -EINVAL;
		if (!found && (size_t)(dash - item) == strlen(name) &&
		    !memcmp(item, name, strlen(name))) {
			if (strlen(dash + 1) >= cap)
				return -EINVAL;
			strcpy(out, dash + 1);
			found = 1;
		}
	}
	return r < 0 ? r : found;
}

size_t pt_args_escape(const char *in, char *out, size_t cap)
{
	size_t o = 0;

	for (; *in; in++) {
		if (*in == '=' || *in == ',' || *in == '\\') {
			if (o + 1 >= cap)
				return 0;
			out[o++] = '\\';
		}
		if (o + 1 >= cap)
			return 0;
		out[o++] = *in;
	}
	if (o >= cap)
		return 0;
	out[o] = 0;
	return o;
}

const char *pt_args_get(const pt_args_t *a, const char *key)
{
	for (size_t i = 0; i < a->n; i++)
		if (!strcmp(a->kv[i].key, key))
			return a->kv[i].val;
	return NULL;
}

/* What a bridge line may say, per transport: key= and a few harmless
 * tunables.  Anything else would let whoever wrote the bridge line set
 * options of our hop: read a local file (keyfile=), turn TLS checks off
 * (ca=, insecure=1), hold connections open (pool=). */
static const struct {
	const char *name;
	const char *const args[4];
} bridge_args[] = {
    {"ws", {"fast-open", "ping", "dead"}},
    {"sctp", {NULL}},
};

int pt_bridge_args_check(const char *name, const pt_args_t *a, char *err, size_t errlen)
{
	const char *const *ok = NULL;
	size_t nok = sizeof(bridge_args[0].args) / sizeof(bridge_args[0].args[0]);

	for (size_t i = 0; i < sizeof(bridge_args) / sizeof(bridge_args[0]); i++)
		if (!strcmp(bridge_args[i].name, name))
			ok = bridge_args[i].args;
	if (!ok) {
		snprintf(err, errlen, "no transport %s", name);
		return -EINVAL;
	}
	if (!pt_args_get(a, "key")) {
		snprintf(err, errlen, "the bridge line has no key= argument");
		return -EINVAL;
	}
	for (size_t i = 0; i < a->n; i++) {
		const char *k = a->kv[i].key;
		size_t j = 0;

		while (j < nok && ok[j] && strcmp(ok[j], k))
			j++;
		if (strcmp(k, "key") && (j == nok || !ok[j])) {
			snprintf(err, errlen, "'%.64s' is not an argument of a %s bridge line", k,
			         name);
			return -EINVAL;
		}
	}
	return 0;
}
