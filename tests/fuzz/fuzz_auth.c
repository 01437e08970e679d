/* Fuzz target: ppp/auth, every method in both roles.
 *
 * The first octet picks a method (PAP, CHAP-MD5, MS-CHAPv2) and a mode:
 *
 *   alone   one authenticator or peer; the rest of the input is a script
 *           of packets (2-octet length, protocol chosen by a flag) and
 *           clock steps fed to it.
 *   paired  an authenticator and a peer back to back; the input decides
 *           for each packet in flight whether it is delivered, dropped,
 *           duplicated, truncated or has an octet changed, and when the
 *           clock moves.  This reaches the success paths and the repeats
 *           after the end, which random packets alone cannot.
 *
 * The input as a string also goes through the UTF-8 password hashing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ppp/auth.h"

#define QMAX 32
#define PMAX 1024
/* unprintable, so no sanitized name off the wire can look like it */
#define PASSWORD "s\001cret"

typedef struct fpkt {
	int to;
	uint16_t proto;
	size_t len;
	uint8_t b[PMAX];
} fpkt_t;

typedef struct fend {
	auth_t *a;
	int side, done;
} fend_t;

static fpkt_t q[QMAX];
static size_t qhead, qn;
static fend_t ends[2];

static void cb_send(void *ud, uint16_t proto, const uint8_t *pkt, size_t len)
{
	fend_t *e = ud;
	fpkt_t *p;

	if (len < 4 || len > PMAX || (size_t)(pkt[2] << 8 | pkt[3]) != len)
		abort(); /* we never build such a packet */
	if (qn == QMAX)
		return;
	p = &q[(qhead + qn++) % QMAX];
	p->to = !e->side;
	p->proto = proto;
	p->len = len;
	memcpy(p->b, pkt, len);
}

static int cb_lookup(void *ud, const char *user, char *secret, size_t cap)
{
	if (strcmp(user, "user") && strcmp(user, "U"))
		return -1;
	strncpy(secret, PASSWORD, cap - 1);
	secret[cap - 1] = 0;
	return (int)strlen(secret);
}

static void cb_done(void *ud, int ok, const char *msg)
{
	fend_t *e = ud;

	if (e->done++ || strstr(msg, PASSWORD))
		abort(); /* done() fires once and never shows the password */
}

static const auth_cbs_t cbs = {.send = cb_send, .lookup = cb_lookup, .done = cb_done};

static void alone(auth_method_t m, int authenticator, const uint8_t *d, size_t n)
{
	auth_cfg_t c = {authenticator, m, "user", PASSWORD};
	uint64_t now = 0;
	uint8_t k1[16], k2[16];
	auth_t *a;

	memset(ends, 0, sizeof(ends));
	qhead = qn = 0;
	a = auth_new(&c, &cbs, &ends[0]);
	if (!a)
		abort();
	auth_start(a, now);
	while (n >= 1) {
		uint8_t op = d[0];
		uint16_t proto;
		size_t len;

		d++, n--;
		if ((op & 3) == 0) {
			now += (uint64_t)(op >> 2) * 250;
			auth_tick(a, now);
			continue;
		}
		if (n < 2)
			break;
		len = (size_t)d[0] << 8 | d[1];
		d += 2, n -= 2;
		if (len > n)
			len = n;
		proto = m == AUTH_PAP ? PPP_PAP : PPP_CHAP;
		if ((op & 3) == 2)
			proto = proto == PPP_PAP ? PPP_CHAP : PPP_PAP;
		else if ((op & 3) == 3)
			proto = 0xc021; /* LCP */
		auth_input(a, proto, d, len, now);
		d += len, n -= len;
		qhead = qn = 0; /* nobody listens */
	}
	auth_peer_name(a);
	auth_mppe_keys(a, k1, k2);
	auth_free(a);
}

static void paired(auth_method_t m, const uint8_t *d, size_t n)
{
	auth_cfg_t sc = {1, m, "srv", NULL}, pc = {0, m, "user", PASSWORD};
	uint64_t now = 0;
	uint8_t k1[16], k2[16];
	int i;

	memset(ends, 0, sizeof(ends));
	qhead = qn = 0;
	ends[1].side = 1;
	ends[0].a = auth_new(&sc, &cbs, &ends[0]);
	ends[1].a = auth_new(&pc, &cbs, &ends[1]);
	if (!ends[0].a || !ends[1].a)
		abort();
	auth_start(ends[1].a, now);
	auth_start(ends[0].a, now);
	while (n >= 1) {
		uint8_t op = d[0];
		fpkt_t p;

		d++, n--;
		if (!qn || (op & 7) == 0) {
			now += (uint64_t)(op >> 3) * 200;
			auth_tick(ends[0].a, now);
			auth_tick(ends[1].a, now);
			continue;
		}
		p = q[qhead];
		qhead = (qhead + 1) % QMAX;
		qn--;
		switch (op & 7) {
		case 1: /* drop */
			continue;
		case 2: /* duplicate */
			auth_input(ends[p.to].a, p.proto, p.b, p.len, now);
			break;
		case 3: /* truncate */
			p.len = p.len * (op >> 3) / 32;
			break;
		case 4: /* change one octet */
			if (n >= 2) {
				p.b[d[0] % p.len] = d[1];
				d += 2, n -= 2;
			}
			break;
		case 5: /* to the wrong side */
			p.to = !p.to;
			break;
		default:
			break;
		}
		auth_input(ends[p.to].a, p.proto, p.b, p.len, now);
	}
	/* both sides must agree on the keys when both succeeded */
	if (m == AUTH_MSCHAPV2 && !auth_mppe_keys(ends[0].a, k1, k2)) {
		uint8_t c1[16], c2[16];
		if (!auth_mppe_keys(ends[1].a, c1, c2) &&
		    (memcmp(k1, c2, 16) || memcmp(k2, c1, 16)))
			abort();
	}
	for (i = 0; i < 2; i++) {
		auth_peer_name(ends[i].a);
		auth_free(ends[i].a);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const auth_method_t methods[] = {AUTH_PAP, AUTH_CHAP_MD5, AUTH_MSCHAPV2};
	uint8_t mode, h[16];
	char *s;

	if (size < 1)
		return 0;
	mode = data[0];
	if (mode & 0x80)
		paired(methods[mode % 3], data + 1, size - 1);
	else
		alone(methods[mode % 3], (mode >> 2) & 1, data + 1, size - 1);

	s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = 0;
	mschap_nt_password_hash(s, h);
	free(s);
	return 0;
}
