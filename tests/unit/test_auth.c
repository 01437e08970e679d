/* Unit tests: ppp/auth (PAP, CHAP-MD5, MS-CHAPv2, MPPE keys).
 *
 * The crypto primitives are checked against the worked examples of
 * RFC 2759 9.2 / 9.3 and RFC 3079 3.5.3, and against values computed
 * independently (python3 hashlib for MD5, `openssl dgst -md4` over
 * python3's UTF-16LE encoding for the UTF-8 passwords).  The exchanges run
 * an authenticator and a peer back to back in memory: a queue carries the
 * packets, a filter drops or edits them on the way, and a fake clock drives
 * auth_tick().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ppp/auth.h"

static char **saved_argv;

static void unhex(const char *s, uint8_t *out, size_t n)
{
	size_t i;

	assert_int_equal(strlen(s), 2 * n);
	for (i = 0; i < n; i++) {
		unsigned v;
		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static void assert_hex(const uint8_t *got, const char *want, size_t n)
{
	uint8_t w[64];

	unhex(want, w, n);
	assert_memory_equal(got, w, n);
}

/* ---- RFC vectors ---- */

/* RFC 2759 9.2 */
#define V_USER "User"
#define V_PASS "clientPass"
#define V_AUTH_CHAL "5B5D7C7D7B3F2F3E3C2C602132262628"
#define V_PEER_CHAL "21402324255E262A28295F2B3A337C7E"
#define V_PW_HASH "44EBBA8D5312B8D611474411F56989AE"
#define V_NT_RESP "82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF"
#define V_AUTH_RESP "S=407A5589115FD0D6209F510FE9C04566932CDA56"
/* RFC 3079 3.5.3 */
#define V_MASTER_KEY "FDECE3717A8C838CB388E527AE3CDD31"
#define V_START_KEY "8B7CDC149B993A1BA118CB153F56DCCB"

static void test_rfc2759_hash_example(void **st)
{
	uint8_t ac[16], pc[16], h[16], nt[24];
	char ar[43];

	unhex(V_AUTH_CHAL, ac, 16);
	unhex(V_PEER_CHAL, pc, 16);
	mschap_nt_password_hash(V_PASS, h);
	assert_hex(h, V_PW_HASH, 16);
	mschapv2_generate_nt_response(ac, pc, V_USER, V_PASS, nt);
	assert_hex(nt, V_NT_RESP, 24);
	mschapv2_authenticator_response(V_PASS, nt, pc, ac, V_USER, ar);
	assert_string_equal(ar, V_AUTH_RESP);
	/* only the account name enters ChallengeHash (RFC 2759 4, 8.2) */
	mschapv2_generate_nt_response(ac, pc, "BIGCO\\" V_USER, V_PASS, nt);
	assert_hex(nt, V_NT_RESP, 24);
	mschapv2_authenticator_response(V_PASS, nt, pc, ac, "BIGCO\\" V_USER, ar);
	assert_string_equal(ar, V_AUTH_RESP);
	/* and any other name, password or challenge gives something else */
	mschapv2_generate_nt_response(ac, pc, "user", V_PASS, nt);
	assert_memory_not_equal(nt, "\x82\x30\x9e\xcd", 4);
	ac[0] ^= 1;
	mschapv2_authenticator_response(V_PASS, nt, pc, ac, V_USER, ar);
	assert_string_not_equal(ar, V_AUTH_RESP);
}

/* RFC 2759 9.3: the password whose hash makes the DES key example */
static void test_rfc2759_des_key_example(void **st)
{
	uint8_t h[16];

	mschap_nt_password_hash("MyPw", h);
	assert_hex(h, "FC156AF7EDCD6C0EDDE3337D427F4EAC", 16);
}

/* GetAsymmetricStartKey for 16 octets, written out from RFC 3079 3.4, to
 * check that the RFC's MasterKey leads to the RFC's start key and so tie
 * our output to the printed MasterKey. */
static void start_key_from_master(const uint8_t mk[16], const char *magic, uint8_t out[16])
{
	uint8_t pad1[40] = {0}, pad2[40], d[20];
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	memset(pad2, 0xf2, sizeof(pad2));
	assert_int_equal(strlen(magic), 84);
	assert_true(EVP_DigestInit_ex(c, EVP_sha1(), NULL));
	EVP_DigestUpdate(c, mk, 16);
	EVP_DigestUpdate(c, pad1, 40);
	EVP_DigestUpdate(c, magic, 84);
	EVP_DigestUpdate(c, pad2, 40);
	EVP_DigestFinal_ex(c, d, NULL);
	EVP_MD_CTX_free(c);
	memcpy(out, d, 16);
}

static void test_rfc3079_keys(void **st)
{
	static const char m3[] = "On the client side, this is the receive key; "
	                         "on the server side, it is the send key.";
	uint8_t nt[24], mk[16], ssend[16], srecv[16], csend[16], crecv[16], want[16];

	unhex(V_NT_RESP, nt, 24);
	unhex(V_MASTER_KEY, mk, 16);
	mppe_master_keys(V_PASS, nt, 1, ssend, srecv);
	mppe_master_keys(V_PASS, nt, 0, csend, crecv);
	/* 3.5.3 derives SendStartKey128 as the server does (IsSend, IsServer) */
	assert_hex(ssend, V_START_KEY, 16);
	start_key_from_master(mk, m3, want);
	assert_memory_equal(want, ssend, 16);
	/* crosswise */
	assert_memory_equal(ssend, crecv, 16);
	assert_memory_equal(csend, srecv, 16);
	assert_memory_not_equal(ssend, srecv, 16);
	/* the other direction (Magic2), computed with python3 hashlib.sha1
	 * from the RFC's MasterKey */
	assert_hex(csend, "D5F0E9521E3EA9589645E86051C82226", 16);
}

/* hashlib.md5(bytes([id]) + secret + challenge) in python3 */
static void test_chap_md5_vectors(void **st)
{
	uint8_t chal[16], out[16];
	int i;

	for (i = 0; i < 16; i++)
		chal[i] = (uint8_t)(0x10 + i);
	chap_md5_response(0x2a, "s3cret", 6, chal, 16, out);
	assert_hex(out, "e19a9463414757c0fd809ea3977b7730", 16);
	chap_md5_response(0xff, "x", 1, (const uint8_t *)"\x00\x01\x02", 3, out);
	assert_hex(out, "c8c6750947db472face5439fb4de3910", 16);
}

/* MD4 of python3's str.encode("utf-16-le"), by `openssl dgst -md4` */
static void test_utf8_passwords(void **st)
{
	uint8_t h[16];

	mschap_nt_password_hash("p\xc3\xa4ssw\xc3\xb6rd", h); /* "pässwörd" */
	assert_hex(h, "0553152250ac01adb4213cb9938663e4", 16);
	/* "€uro😀": a 3-octet character and a surrogate pair */
	mschap_nt_password_hash("\xe2\x82\xac"
	                        "uro\xf0\x9f\x98\x80",
	                        h);
	assert_hex(h, "17f56acc05dc834e3b97118b782db020", 16);
	/* a byte that is not UTF-8 stands for itself: "a\xff" "b" = U+0061 U+00FF U+0062 */
	mschap_nt_password_hash("a\xff"
	                        "b",
	                        h);
	assert_hex(h, "591845d16de085adf101f8e101137e8c", 16);
	/* overlong, surrogate and truncated sequences neither crash nor merge */
	mschap_nt_password_hash("\xc0\xaf\xed\xa0\x80\xf0\x9f", h);
	mschap_nt_password_hash("", h);
	assert_hex(h, "31d6cfe0d16ae931b73c59d7e0c089c0", 16); /* MD4("") */
}

/* ---- two ends back to back ---- */

#define QMAX 64

typedef struct pkt {
	int to;
	uint16_t proto;
	size_t len;
	uint8_t b[1024];
} pkt_t;

typedef struct link link_t;

typedef struct end {
	link_t *l;
	int side; /* 0 authenticator, 1 peer */
	auth_t *a;
	int done, ok, free_in_done;
	int64_t hold;  /* what judged() answers */
	int judged_ok; /* the verdict it was told, -1 before */
	char msg[256];
	unsigned sent;
	pkt_t last; /* last packet this end sent */
} end_t;

struct link {
	end_t e[2];
	pkt_t q[QMAX];
	size_t head, n;
	uint64_t now;
	unsigned seq; /* packets put on the wire */
	/* 0: drop, 1: deliver (possibly edited) */
	int (*filter)(link_t *l, pkt_t *p, unsigned seq);
	int drop_all;
};

static const struct {
	const char *user, *secret;
} accounts[] = {
    {"User", "clientPass"},
    {"alice", "wonderland"},
    {"bob", "p\xc3\xa4ssw\xc3\xb6rd"},
};

static void cb_send(void *ud, uint16_t proto, const uint8_t *pkt, size_t len)
{
	end_t *e = ud;
	link_t *l = e->l;
	pkt_t *p;

	assert_true(len <= sizeof(p->b));
	assert_true(len >= 4);
	assert_int_equal((size_t)(pkt[2] << 8 | pkt[3]), len);
	e->sent++;
	e->last.proto = proto;
	e->last.len = len;
	memcpy(e->last.b, pkt, len);
	if (l->drop_all)
		return;
	assert_true(l->n < QMAX);
	p = &l->q[(l->head + l->n++) % QMAX];
	p->to = !e->side;
	p->proto = proto;
	p->len = len;
	memcpy(p->b, pkt, len);
}

static int cb_lookup(void *ud, const char *user, char *secret, size_t cap)
{
	size_t i;

	for (i = 0; i < sizeof(accounts) / sizeof(accounts[0]); i++) {
		if (!strcmp(user, accounts[i].user)) {
			assert_true(strlen(accounts[i].secret) < cap);
			strcpy(secret, accounts[i].secret);
			return (int)strlen(secret);
		}
	}
	return -1;
}

static void cb_done(void *ud, int ok, const char *msg)
{
	end_t *e = ud;

	e->done++;
	e->ok = ok;
	snprintf(e->msg, sizeof(e->msg), "%s", msg);
	if (e->free_in_done) {
		auth_free(e->a);
		e->a = NULL;
	}
}

static int64_t cb_judged(void *ud, int ok)
{
	end_t *e = ud;

	e->judged_ok = ok;
	return e->hold;
}

static const auth_cbs_t cbs = {cb_send, cb_lookup, cb_done, cb_judged};

static link_t *link_new(auth_method_t m, const char *server_name, const char *user,
                        const char *password)
{
	link_t *l = calloc(1, sizeof(*l));
	auth_cfg_t sc = {1, m, server_name, NULL}, pc = {0, m, user, password};

	l->now = 1000;
	l->e[0].l = l->e[1].l = l;
	l->e[1].side = 1;
	l->e[0].judged_ok = l->e[1].judged_ok = -1;
	l->e[0].a = auth_new(&sc, &cbs, &l->e[0]);
	l->e[1].a = auth_new(&pc, &cbs, &l->e[1]);
	assert_non_null(l->e[0].a);
	assert_non_null(l->e[1].a);
	return l;
}

static void link_free(link_t *l)
{
	auth_free(l->e[0].a);
	auth_free(l->e[1].a);
	free(l);
}

static void pump(link_t *l)
{
	int guard = 0;

	while (l->n) {
		pkt_t p = l->q[l->head];
		unsigned seq = l->seq++;

		l->head = (l->head + 1) % QMAX;
		l->n--;
		assert_true(++guard < 1000);
		if (l->filter && !l->filter(l, &p, seq))
			continue;
		if (l->e[p.to].a)
			auth_input(l->e[p.to].a, p.proto, p.b, p.len, l->now);
	}
}

static void start(link_t *l)
{
	/* the peer first: a CHAP peer waits, a PAP authenticator waits */
	auth_start(l->e[1].a, l->now);
	auth_start(l->e[0].a, l->now);
	pump(l);
}

static void tick(link_t *l, uint64_t ms)
{
	l->now += ms;
	if (l->e[0].a)
		auth_tick(l->e[0].a, l->now);
	if (l->e[1].a)
		auth_tick(l->e[1].a, l->now);
	pump(l);
}

static void expect_result(link_t *l, int server_ok, int peer_ok)
{
	assert_int_equal(l->e[0].done, 1);
	assert_int_equal(l->e[1].done, 1);
	if (l->e[0].ok != server_ok || l->e[1].ok != peer_ok)
		fail_msg("server %d (%s), peer %d (%s)", l->e[0].ok, l->e[0].msg, l->e[1].ok,
		         l->e[1].msg);
}

static void no_secret_in(const char *msg, const char *secret)
{
	if (strstr(msg, secret))
		fail_msg("'%s' shows the password", msg);
}

/* ---- PAP ---- */

static void test_pap_success(void **st)
{
	link_t *l = link_new(AUTH_PAP, "srv", "alice", "wonderland");
	const uint8_t *r;

	start(l);
	expect_result(l, 1, 1);
	assert_string_equal(auth_peer_name(l->e[0].a), "alice");
	assert_string_equal(auth_peer_name(l->e[1].a), "");
	/* the request as RFC 1334 2.2.1 lays it out */
	r = l->e[1].last.b;
	assert_int_equal(l->e[1].last.proto, PPP_PAP);
	assert_int_equal(r[0], 1);
	assert_int_equal(r[4], 5);
	assert_memory_equal(r + 5, "alice", 5);
	assert_int_equal(r[10], 10);
	assert_memory_equal(r + 11, "wonderland", 10);
	assert_int_equal(l->e[0].last.b[0], 2); /* Ack */
	assert_int_equal(l->e[0].last.b[1], r[1]);
	no_secret_in(l->e[0].msg, "wonderland");
	no_secret_in(l->e[1].msg, "wonderland");
	link_free(l);
}

static void test_pap_wrong_password(void **st)
{
	link_t *l = link_new(AUTH_PAP, "srv", "alice", "wonderlan");

	start(l);
	expect_result(l, 0, 0);
	assert_int_equal(l->e[0].last.b[0], 3); /* Nak */
	assert_string_equal(auth_peer_name(l->e[0].a), "");
	assert_non_null(strstr(l->e[0].msg, "wrong password"));
	no_secret_in(l->e[0].msg, "wonderlan");
	link_free(l);
}

static void test_pap_unknown_user(void **st)
{
	link_t *l = link_new(AUTH_PAP, "srv", "mallory", "x");

	start(l);
	expect_result(l, 0, 0);
	assert_non_null(strstr(l->e[0].msg, "unknown user"));
	link_free(l);
}

static int drop_first(link_t *l, pkt_t *p, unsigned seq)
{
	return seq != 0;
}

static void test_pap_retransmit(void **st)
{
	link_t *l = link_new(AUTH_PAP, "srv", "alice", "wonderland");
	uint8_t first_id;

	l->filter = drop_first;
	start(l);
	assert_int_equal(l->e[1].sent, 1);
	first_id = l->e[1].last.b[1];
	tick(l, 2999);
	assert_int_equal(l->e[1].sent, 1);
	assert_int_equal(l->e[0].done + l->e[1].done, 0);
	tick(l, 1);
	assert_int_equal(l->e[1].sent, 2);
	/* RFC 1334 2.2.1: a new Identifier for each request */
	assert_int_not_equal(l->e[1].last.b[1], first_id);
	expect_result(l, 1, 1);
	link_free(l);
}

/* The Ack is lost: the peer asks again, the authenticator repeats itself. */
static int drop_second(link_t *l, pkt_t *p, unsigned seq)
{
	return seq != 1;
}

static void test_pap_lost_ack(void **st)
{
	link_t *l = link_new(AUTH_PAP, "srv", "alice", "wonderland");

	l->filter = drop_second;
	start(l);
	assert_int_equal(l->e[0].done, 1);
	assert_int_equal(l->e[1].done, 0);
	tick(l, 3000);
	expect_result(l, 1, 1);
	assert_int_equal(l->e[0].sent, 2);
	link_free(l);
}

static void test_pap_peer_gives_up(void **st)
{
	link_t *l = link_new(AUTH_PAP, "srv", "alice", "wonderland");
	int i;

	l->drop_all = 1;
	start(l);
	for (i = 0; i < 9; i++)
		tick(l, 3000);
	assert_int_equal(l->e[1].sent, 10);
	assert_int_equal(l->e[1].done, 0);
	tick(l, 3000);
	assert_int_equal(l->e[1].sent, 10);
	assert_int_equal(l->e[1].done, 1);
	assert_int_equal(l->e[1].ok, 0);
	/* the authenticator, who never heard anything, gives up too */
	tick(l, 3000);
	assert_int_equal(l->e[0].done, 1);
	assert_int_equal(l->e[0].ok, 0);
	link_free(l);
}

/* ---- CHAP-MD5 ---- */

static void test_chap_md5_success(void **st)
{
	link_t *l = link_new(AUTH_CHAP_MD5, "srv", "alice", "wonderland");
	const uint8_t *r;

	start(l);
	expect_result(l, 1, 1);
	assert_string_equal(auth_peer_name(l->e[0].a), "alice");
	/* check the Response against the primitive on the Challenge seen */
	assert_int_equal(l->e[0].sent, 2); /* Challenge, Success */
	r = l->e[1].last.b;
	assert_int_equal(r[0], 2);
	assert_int_equal(r[4], 16);
	assert_memory_equal(r + 21, "alice", 5);
	assert_int_equal(l->e[0].last.b[0], 3);
	assert_int_equal(l->e[0].last.b[1], r[1]);
	link_free(l);
}

/* Capture the Challenge and check the Response octet for octet. */
static pkt_t seen[8];
static int capture(link_t *l, pkt_t *p, unsigned seq)
{
	if (seq < 8)
		seen[seq] = *p;
	return 1;
}

static void test_chap_md5_response_format(void **st)
{
	link_t *l = link_new(AUTH_CHAP_MD5, "server", "alice", "wonderland");
	uint8_t want[16];

	l->filter = capture;
	start(l);
	expect_result(l, 1, 1);
	/* Challenge: code 1, Value-Size 16, the value, our name */
	assert_int_equal(seen[0].proto, PPP_CHAP);
	assert_int_equal(seen[0].b[0], 1);
	assert_int_equal(seen[0].b[4], 16);
	assert_int_equal(seen[0].len, 4 + 1 + 16 + 6);
	assert_memory_equal(seen[0].b + 21, "server", 6);
	/* Response: same id, MD5(id || secret || challenge) */
	assert_int_equal(seen[1].b[1], seen[0].b[1]);
	chap_md5_response(seen[0].b[1], "wonderland", 10, seen[0].b + 5, 16, want);
	assert_memory_equal(seen[1].b + 5, want, 16);
	link_free(l);
}

static void test_chap_md5_wrong_secret(void **st)
{
	link_t *l = link_new(AUTH_CHAP_MD5, "srv", "alice", "Wonderland");

	start(l);
	expect_result(l, 0, 0);
	assert_int_equal(l->e[0].last.b[0], 4);
	assert_non_null(strstr(l->e[0].msg, "wrong secret"));
	link_free(l);
}

static void test_chap_md5_unknown_user(void **st)
{
	link_t *l = link_new(AUTH_CHAP_MD5, "srv", "eve", "wonderland");

	start(l);
	expect_result(l, 0, 0);
	assert_non_null(strstr(l->e[0].msg, "unknown user"));
	link_free(l);
}

static void test_chap_retransmit_challenge(void **st)
{
	link_t *l = link_new(AUTH_CHAP_MD5, "srv", "alice", "wonderland");

	l->drop_all = 1;
	start(l);
	assert_int_equal(l->e[0].sent, 1);
	l->drop_all = 0;
	tick(l, 2999);
	assert_int_equal(l->e[0].sent, 1);
	tick(l, 1);
	/* RFC 1994 4.1: new Identifier and new Value */
	assert_int_equal(l->e[0].sent, 3);
	expect_result(l, 1, 1);
	link_free(l);
}

static void test_chap_new_challenge_each_time(void **st)
{
	link_t *l = link_new(AUTH_CHAP_MD5, "srv", "alice", "wonderland");
	uint8_t id1, v1[16];

	l->drop_all = 1;
	start(l);
	id1 = l->e[0].last.b[1];
	memcpy(v1, l->e[0].last.b + 5, 16);
	tick(l, 3000);
	assert_int_equal(l->e[0].sent, 2);
	assert_int_equal(l->e[0].last.b[1], (uint8_t)(id1 + 1));
	assert_memory_not_equal(l->e[0].last.b + 5, v1, 16);
	link_free(l);
}

/* Lost Success: the peer repeats its Response, the authenticator repeats
 * its reply (RFC 1994 4.1, "the same reply Code"). */
static int drop_chap_success(link_t *l, pkt_t *p, unsigned seq)
{
	return !(p->b[0] == 3 && p->to == 1 && seq == 2);
}

static void test_chap_lost_success(void **st)
{
	link_t *l = link_new(AUTH_MSCHAPV2, "srv", "User", "clientPass");

	l->filter = drop_chap_success;
	start(l);
	assert_int_equal(l->e[0].done, 1);
	assert_int_equal(l->e[1].done, 0);
	tick(l, 3000);
	assert_int_equal(l->e[1].sent, 2);
	assert_int_equal(l->e[0].sent, 3);
	expect_result(l, 1, 1);
	link_free(l);
}

/* The peer answers a repeated Challenge (same id and value) with the same
 * Response, so a Success to either one verifies. */
static void test_chap_same_challenge_same_response(void **st)
{
	link_t *l = link_new(AUTH_MSCHAPV2, "srv", "User", "clientPass");
	pkt_t chal, resp1;

	l->drop_all = 1;
	start(l);
	chal = l->e[0].last;
	auth_input(l->e[1].a, chal.proto, chal.b, chal.len, l->now);
	resp1 = l->e[1].last;
	auth_input(l->e[1].a, chal.proto, chal.b, chal.len, l->now);
	assert_int_equal(l->e[1].sent, 2);
	assert_int_equal(l->e[1].last.len, resp1.len);
	assert_memory_equal(l->e[1].last.b, resp1.b, resp1.len);
	l->drop_all = 0;
	auth_input(l->e[0].a, resp1.proto, resp1.b, resp1.len, l->now);
	pump(l);
	expect_result(l, 1, 1);
	link_free(l);
}

static void test_chap_gives_up(void **st)
{
	link_t *l = link_new(AUTH_CHAP_MD5, "srv", "alice", "wonderland");
	int i;

	l->drop_all = 1;
	start(l);
	for (i = 0; i < 9; i++)
		tick(l, 3000);
	assert_int_equal(l->e[0].sent, 10);
	assert_int_equal(l->e[0].done, 0);
	tick(l, 3000);
	assert_int_equal(l->e[0].sent, 10);
	assert_int_equal(l->e[0].done, 1);
	assert_int_equal(l->e[0].ok, 0);
	/* the peer never got a challenge: it gives up at 33 s */
	tick(l, 2999);
	assert_int_equal(l->e[1].done, 0);
	tick(l, 1);
	assert_int_equal(l->e[1].done, 1);
	assert_int_equal(l->e[1].ok, 0);
	link_free(l);
}

/* ---- MS-CHAPv2 ---- */

static void test_msv2_success_and_keys(void **st)
{
	link_t *l = link_new(AUTH_MSCHAPV2, "", "User", "clientPass");
	uint8_t ss[16], sr[16], cs[16], cr[16];
	const uint8_t *r, *s;
	int i;

	l->filter = capture;
	start(l);
	expect_result(l, 1, 1);
	assert_string_equal(auth_peer_name(l->e[0].a), "User");
	/* Challenge: 16 octets (RFC 2759 3) */
	assert_int_equal(seen[0].b[4], 16);
	/* Response: Peer-Challenge, 8 zero octets, NT-Response, flags 0 */
	r = seen[1].b;
	assert_int_equal(r[4], 49);
	for (i = 21; i < 29; i++)
		assert_int_equal(r[i], 0);
	assert_int_equal(r[53], 0);
	assert_memory_equal(r + 54, "User", 4);
	/* Success: "S=<40 hex> M=..." matching the primitive */
	s = seen[2].b;
	assert_int_equal(s[0], 3);
	assert_int_equal(s[1], r[1]);
	{
		char ar[43];
		mschapv2_authenticator_response("clientPass", r + 29, r + 5, seen[0].b + 5, "User",
		                                ar);
		assert_memory_equal(s + 4, ar, 42);
		assert_memory_equal(s + 46, " M=", 3);
	}
	/* keys crosswise and equal to the primitive's */
	assert_int_equal(auth_mppe_keys(l->e[0].a, ss, sr), 0);
	assert_int_equal(auth_mppe_keys(l->e[1].a, cs, cr), 0);
	assert_memory_equal(ss, cr, 16);
	assert_memory_equal(cs, sr, 16);
	assert_memory_not_equal(ss, sr, 16);
	{
		uint8_t ps[16], pr[16];
		mppe_master_keys("clientPass", r + 29, 1, ps, pr);
		assert_memory_equal(ps, ss, 16);
		assert_memory_equal(pr, sr, 16);
	}
	link_free(l);
}

static void test_msv2_utf8_password(void **st)
{
	link_t *l = link_new(AUTH_MSCHAPV2, "srv", "bob", "p\xc3\xa4ssw\xc3\xb6rd");

	start(l);
	expect_result(l, 1, 1);
	link_free(l);
}

static void test_msv2_wrong_password(void **st)
{
	link_t *l = link_new(AUTH_MSCHAPV2, "srv", "User", "clientpass");
	const char *m;
	uint8_t k1[16], k2[16];

	start(l);
	expect_result(l, 0, 0);
	/* "E=691 R=0 C=<32 hex> V=3 M=..." (RFC 2759 6) */
	m = (const char *)l->e[0].last.b + 4;
	assert_int_equal(l->e[0].last.b[0], 4);
	assert_memory_equal(m, "E=691 R=0 C=", 12);
	assert_true(strspn(m + 12, "0123456789ABCDEF") == 32);
	assert_memory_equal(m + 44, " V=3 M=", 7);
	assert_non_null(strstr(l->e[1].msg, "691"));
	assert_non_null(strstr(l->e[0].msg, "wrong secret"));
	no_secret_in(l->e[0].msg, "clientPass");
	no_secret_in(l->e[1].msg, "clientpass");
	assert_int_equal(auth_mppe_keys(l->e[0].a, k1, k2), -1);
	assert_int_equal(auth_mppe_keys(l->e[1].a, k1, k2), -1);
	link_free(l);
}

static void test_msv2_unknown_user(void **st)
{
	link_t *l = link_new(AUTH_MSCHAPV2, "srv", "Nobody", "clientPass");

	start(l);
	expect_result(l, 0, 0);
	assert_non_null(strstr(l->e[0].msg, "unknown user"));
	assert_non_null(strstr(l->e[1].msg, "691"));
	link_free(l);
}

static void test_msv2_domain_prefix(void **st)
{
	link_t *l = link_new(AUTH_MSCHAPV2, "srv", "CORP\\User", "clientPass");

	start(l);
	expect_result(l, 1, 1);
	link_free(l);
}

/* An authenticator that does not know the password cannot make "S=": flip
 * one hex digit of it on the way. */
static int forge_success(link_t *l, pkt_t *p, unsigned seq)
{
	if (p->b[0] == 3 && p->to == 1)
		p->b[10] = p->b[10] == '0' ? '1' : '0';
	return 1;
}

static int nonhex_success(link_t *l, pkt_t *p, unsigned seq)
{
	if (p->b[0] == 3 && p->to == 1)
		p->b[6] = 'Z';
	return 1;
}

static int strip_success(link_t *l, pkt_t *p, unsigned seq)
{
	if (p->b[0] == 3 && p->to == 1) {
		memcpy(p->b + 4, "M=hello", 7);
		p->len = 11;
		p->b[3] = 11;
	}
	return 1;
}

static void test_msv2_forged_authenticator(void **st)
{
	link_t *l = link_new(AUTH_MSCHAPV2, "srv", "User", "clientPass");
	uint8_t k1[16], k2[16];

	l->filter = forge_success;
	start(l);
	expect_result(l, 1, 0);
	assert_non_null(strstr(l->e[1].msg, "not verified"));
	assert_int_equal(auth_mppe_keys(l->e[1].a, k1, k2), -1);
	link_free(l);

	l = link_new(AUTH_MSCHAPV2, "srv", "User", "clientPass");
	l->filter = strip_success;
	start(l);
	expect_result(l, 1, 0);
	link_free(l);

	l = link_new(AUTH_MSCHAPV2, "srv", "User", "clientPass");
	l->filter = nonhex_success;
	start(l);
	expect_result(l, 1, 0);
	assert_non_null(strstr(l->e[1].msg, "without a valid authenticator response"));
	link_free(l);
}

/* ---- malformed input ---- */

static void feed(auth_t *a, uint16_t proto, const char *hex)
{
	uint8_t b[512];
	size_t n = strlen(hex) / 2;

	unhex(hex, b, n);
	auth_input(a, proto, b, n, 5000);
}

static void test_malformed_to_authenticators(void **st)
{
	link_t *l = link_new(AUTH_PAP, "srv", "alice", "wonderland");
	auth_t *a = l->e[0].a;

	l->drop_all = 1;
	auth_start(a, 1000);
	feed(a, PPP_PAP, "");
	feed(a, PPP_PAP, "0101");
	feed(a, PPP_PAP, "010100");         /* 3 octets */
	feed(a, PPP_PAP, "01010003");       /* Length < 4 */
	feed(a, PPP_PAP, "01010010050102"); /* Length > octets */
	feed(a, PPP_PAP,
	     "01010006"
	     "0561"); /* Peer-ID Length lies */
	feed(a, PPP_PAP,
	     "01010008"
	     "0161"
	     "0361");                 /* Passwd-Length lies */
	feed(a, PPP_PAP, "01010004"); /* no Peer-ID Length */
	feed(a, PPP_PAP,
	     "02010006"
	     "0000"); /* an Ack to an authenticator */
	feed(a, PPP_CHAP,
	     "0201000a"
	     "00616c696365"); /* wrong protocol */
	assert_int_equal(l->e[0].sent, 0);
	assert_int_equal(l->e[0].done, 0);
	/* a well-formed request with padding after Length is answered */
	feed(a, PPP_PAP,
	     "01070007"
	     "0100"
	     "00"
	     "ffffff");
	assert_int_equal(l->e[0].sent, 1);
	assert_int_equal(l->e[0].done, 1);
	assert_int_equal(l->e[0].ok, 0);
	link_free(l);

	l = link_new(AUTH_CHAP_MD5, "srv", "alice", "wonderland");
	a = l->e[0].a;
	l->drop_all = 1;
	auth_start(a, 1000);
	{
		uint8_t id = l->e[0].last.b[1];
		uint8_t b[400];
		size_t i;

		/* wrong identifier: silently dropped */
		b[0] = 2, b[1] = (uint8_t)(id + 1), b[2] = 0, b[3] = 26, b[4] = 16;
		memset(b + 5, 0xaa, 16);
		memcpy(b + 21, "alice", 5);
		auth_input(a, PPP_CHAP, b, 26, 1000);
		/* Value-Size past the end: dropped */
		b[1] = id, b[3] = 10, b[4] = 16;
		auth_input(a, PPP_CHAP, b, 10, 1000);
		/* truncated: Length says more than we have */
		b[3] = 26;
		auth_input(a, PPP_CHAP, b, 20, 1000);
		/* a Challenge or a Success to an authenticator: dropped */
		b[0] = 1, b[3] = 26;
		auth_input(a, PPP_CHAP, b, 26, 1000);
		b[0] = 3, b[3] = 4;
		auth_input(a, PPP_CHAP, b, 4, 1000);
		assert_int_equal(l->e[0].sent, 1);
		assert_int_equal(l->e[0].done, 0);
		/* a name too long for us: Failure */
		b[0] = 2, b[1] = id;
		for (i = 21; i < sizeof(b); i++)
			b[i] = 'n';
		b[2] = sizeof(b) >> 8, b[3] = sizeof(b) & 0xff;
		auth_input(a, PPP_CHAP, b, sizeof(b), 1000);
		assert_int_equal(l->e[0].done, 1);
		assert_int_equal(l->e[0].ok, 0);
		assert_int_equal(l->e[0].last.b[0], 4);
		assert_non_null(strstr(l->e[0].msg, "too long"));
		/* the same Response again: the same reply; another id: nothing */
		auth_input(a, PPP_CHAP, b, sizeof(b), 1000);
		assert_int_equal(l->e[0].sent, 3);
		b[1] = (uint8_t)(id + 7);
		auth_input(a, PPP_CHAP, b, sizeof(b), 1000);
		assert_int_equal(l->e[0].sent, 3);
		assert_int_equal(l->e[0].done, 1);
	}
	link_free(l);

	l = link_new(AUTH_MSCHAPV2, "srv", "User", "clientPass");
	a = l->e[0].a;
	l->drop_all = 1;
	auth_start(a, 1000);
	{
		uint8_t id = l->e[0].last.b[1], b[4 + 1 + 16 + 4];

		/* a 16-octet (CHAP-MD5 sized) answer to MS-CHAPv2: Failure */
		b[0] = 2, b[1] = id, b[2] = 0, b[3] = sizeof(b), b[4] = 16;
		memset(b + 5, 0, 16);
		memcpy(b + 21, "User", 4);
		auth_input(a, PPP_CHAP, b, sizeof(b), 1000);
		assert_int_equal(l->e[0].done, 1);
		assert_int_equal(l->e[0].ok, 0);
		assert_non_null(strstr(l->e[0].msg, "Value-Size"));
	}
	link_free(l);
}

static void test_malformed_to_peers(void **st)
{
	link_t *l = link_new(AUTH_MSCHAPV2, "srv", "User", "clientPass");
	auth_t *p = l->e[1].a;
	pkt_t resp;

	l->drop_all = 1;
	auth_start(p, 1000);
	feed(p, PPP_CHAP,
	     "0105000a"
	     "08"
	     "0001020304"); /* Value-Size past the end */
	feed(p, PPP_CHAP,
	     "01050006"
	     "00"
	     "00"); /* zero Value-Size */
	feed(p, PPP_CHAP,
	     "0105000d"
	     "08"
	     "0001020304050607"); /* 8 octets: not MS-CHAPv2 */
	feed(p, PPP_PAP,
	     "01050015"
	     "10"
	     "00000000000000000000000000000000");
	feed(p, PPP_CHAP, "03050004"); /* Success before any Response */
	assert_int_equal(l->e[1].sent, 0);
	assert_int_equal(l->e[1].done, 0);
	feed(p, PPP_CHAP,
	     "01050015"
	     "10"
	     "000102030405060708090a0b0c0d0e0f");
	assert_int_equal(l->e[1].sent, 1);
	resp = l->e[1].last;
	assert_int_equal(resp.b[1], 5);
	/* replies with another identifier: dropped */
	{
		uint8_t b[46] = {3, 6, 0, 46, 'S', '='};
		memset(b + 6, '0', 40);
		auth_input(p, PPP_CHAP, b, sizeof(b), 1000);
	}
	feed(p, PPP_CHAP, "04060004");
	/* Success shorter than "S=" + 40: the session ends (RFC 2759 5) */
	assert_int_equal(l->e[1].done, 0);
	feed(p, PPP_CHAP,
	     "03050008"
	     "533d3030");
	assert_int_equal(l->e[1].done, 1);
	assert_int_equal(l->e[1].ok, 0);
	link_free(l);

	/* a Failure with odd text is reported, bounded and printable */
	l = link_new(AUTH_MSCHAPV2, "srv", "User", "clientPass");
	p = l->e[1].a;
	l->drop_all = 1;
	auth_start(p, 1000);
	feed(p, PPP_CHAP,
	     "01090015"
	     "10"
	     "000102030405060708090a0b0c0d0e0f");
	feed(p, PPP_CHAP,
	     "04090014"
	     "453d363438205220"
	     "4d3d0a07ff7a7a7a");
	assert_int_equal(l->e[1].done, 1);
	assert_int_equal(l->e[1].ok, 0);
	assert_non_null(strstr(l->e[1].msg, "E=648 password expired"));
	assert_non_null(strstr(l->e[1].msg, "???zzz"));
	link_free(l);

	/* PAP peer: Ack without Msg-Length, Nak with a lying Msg-Length */
	l = link_new(AUTH_PAP, "srv", "alice", "wonderland");
	p = l->e[1].a;
	l->drop_all = 1;
	auth_start(p, 1000);
	{
		uint8_t b[8] = {2, (uint8_t)(l->e[1].last.b[1] + 1), 0, 4};

		auth_input(p, PPP_PAP, b, 4, 1000); /* wrong id */
		assert_int_equal(l->e[1].done, 0);
		b[1] = l->e[1].last.b[1];
		b[0] = 3, b[3] = 6, b[4] = 200, b[5] = 'x';
		auth_input(p, PPP_PAP, b, 6, 1000);
		assert_int_equal(l->e[1].done, 1);
		assert_int_equal(l->e[1].ok, 0);
		assert_non_null(strstr(l->e[1].msg, "\"x\""));
	}
	link_free(l);

	l = link_new(AUTH_PAP, "srv", "alice", "wonderland");
	p = l->e[1].a;
	l->drop_all = 1;
	auth_start(p, 1000);
	{
		uint8_t b[4] = {2, l->e[1].last.b[1], 0, 4};

		auth_input(p, PPP_PAP, b, 4, 1000);
		assert_int_equal(l->e[1].done, 1);
		assert_int_equal(l->e[1].ok, 1);
		/* and nothing after the end changes it */
		b[0] = 3;
		auth_input(p, PPP_PAP, b, 4, 1000);
		auth_tick(p, 1000000);
		assert_int_equal(l->e[1].done, 1);
	}
	link_free(l);
}

/* After the end: the peer answers a new Challenge, done() stays single. */
static void test_peer_rechallenge(void **st)
{
	link_t *l = link_new(AUTH_CHAP_MD5, "srv", "alice", "wonderland");
	uint8_t want[16];

	start(l);
	expect_result(l, 1, 1);
	l->drop_all = 1;
	feed(l->e[1].a, PPP_CHAP,
	     "01420015"
	     "10"
	     "000102030405060708090a0b0c0d0e0f");
	assert_int_equal(l->e[1].sent, 2);
	assert_int_equal(l->e[1].last.b[1], 0x42);
	chap_md5_response(0x42, "wonderland", 10,
	                  (const uint8_t *)"\x00\x01\x02\x03\x04\x05\x06\x07"
	                                   "\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f",
	                  16, want);
	assert_memory_equal(l->e[1].last.b + 5, want, 16);
	feed(l->e[1].a, PPP_CHAP, "04420004");
	assert_int_equal(l->e[1].done, 1);
	assert_int_equal(l->e[1].ok, 1);
	link_free(l);
}

/* A NUL inside a name off the wire never matches an account. */
static void test_nul_in_name(void **st)
{
	link_t *l = link_new(AUTH_MSCHAPV2, "srv", "User", "clientPass");
	uint8_t b[4 + 1 + 49 + 9];

	l->drop_all = 1;
	auth_start(l->e[0].a, 1000);
	memset(b, 0, sizeof(b));
	b[0] = 2, b[1] = l->e[0].last.b[1], b[3] = sizeof(b), b[4] = 49;
	memcpy(b + 54, "X\0Y\\User", 9);
	auth_input(l->e[0].a, PPP_CHAP, b, sizeof(b), 1000);
	assert_int_equal(l->e[0].done, 1);
	assert_int_equal(l->e[0].ok, 0);
	assert_non_null(strstr(l->e[0].msg, "unknown user"));
	assert_non_null(strstr(l->e[0].msg, "X?Y\\User"));
	link_free(l);
}

/* ---- judged(): refusals held, banned sources unanswered ---- */

/* A refusal held 5 s: nothing goes out, the peer's repeat (at 3 s) is
 * ignored, then the Nak/Failure and done(). */
static void held_refusal(auth_method_t m, uint8_t refusal)
{
	link_t *l = link_new(m, "srv", "alice", "wrong");
	unsigned sent, sent1;

	l->e[0].hold = 5000;
	start(l);
	assert_int_equal(l->e[0].judged_ok, 0);
	assert_int_equal(l->e[0].done, 0);
	sent = l->e[0].sent;
	sent1 = l->e[1].sent;
	tick(l, 3000); /* the peer repeats itself: no answer */
	assert_int_equal(l->e[1].sent, sent1 + 1);
	tick(l, 1999);
	assert_int_equal(l->e[0].done, 0);
	assert_int_equal(l->e[0].sent, sent);
	tick(l, 1);
	assert_int_equal(l->e[0].sent, sent + 1);
	assert_int_equal(l->e[0].last.b[0], refusal);
	expect_result(l, 0, 0);
	assert_non_null(strstr(l->e[0].msg, "held 5000 ms"));
	link_free(l);
}

static void test_hold_pap(void **st)
{
	held_refusal(AUTH_PAP, 3);
}

static void test_hold_chap(void **st)
{
	held_refusal(AUTH_CHAP_MD5, 4); /* Failure */
	held_refusal(AUTH_MSCHAPV2, 4);
}

/* Right credentials are never held. */
static void test_hold_not_success(void **st)
{
	link_t *l = link_new(AUTH_MSCHAPV2, "srv", "alice", "wonderland");

	l->e[0].hold = 2000;
	start(l);
	assert_int_equal(l->e[0].judged_ok, 1);
	expect_result(l, 1, 1);
	link_free(l);
}

/* A banned source: no answer at all, even to the right password, and none
 * to its repeats. */
static void test_banned_no_answer(void **st)
{
	auth_method_t ms[] = {AUTH_PAP, AUTH_CHAP_MD5, AUTH_MSCHAPV2};

	for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
		link_t *l = link_new(ms[i], "srv", "alice", "wonderland");
		unsigned sent;

		l->e[0].hold = -1;
		start(l);
		assert_int_equal(l->e[0].done, 1);
		assert_int_equal(l->e[0].ok, 0);
		assert_non_null(strstr(l->e[0].msg, "banned"));
		assert_int_equal(l->e[1].done, 0); /* the peer heard nothing */
		sent = l->e[0].sent;
		tick(l, 3000);
		assert_int_equal(l->e[0].sent, sent);
		link_free(l);
	}
}

/* ---- API edges ---- */

static void test_api_edges(void **st)
{
	auth_cfg_t c = {1, AUTH_CHAP_MD5, "srv", NULL};
	auth_cbs_t nolookup = {cb_send, NULL, cb_done, NULL};
	char longname[300];
	uint8_t k1[16], k2[16];
	end_t e = {0};

	assert_null(auth_new(NULL, &cbs, NULL));
	assert_null(auth_new(&c, NULL, NULL));
	assert_null(auth_new(&c, &nolookup, NULL));
	c.method = (auth_method_t)7;
	assert_null(auth_new(&c, &cbs, NULL));
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	c.method = AUTH_PAP;
	c.name = longname;
	assert_null(auth_new(&c, &cbs, NULL));
	c.authenticator = 0;
	c.name = "u";
	c.password = longname; /* PAP cannot carry 299 octets */
	assert_null(auth_new(&c, &cbs, NULL));
	c.method = AUTH_CHAP_MD5;
	auth_free(auth_new(&c, &cbs, NULL));

	/* NULL everywhere is harmless */
	auth_free(NULL);
	auth_start(NULL, 0);
	auth_input(NULL, PPP_PAP, (const uint8_t *)"", 0, 0);
	auth_tick(NULL, 0);
	assert_string_equal(auth_peer_name(NULL), "");
	assert_int_equal(auth_mppe_keys(NULL, k1, k2), -1);

	/* AUTH_NONE: done at once */
	c.method = AUTH_NONE;
	c.password = NULL;
	e.a = auth_new(&c, &cbs, &e);
	assert_non_null(e.a);
	auth_start(e.a, 0);
	assert_int_equal(e.done, 1);
	assert_int_equal(e.ok, 1);
	auth_start(e.a, 0);
	assert_int_equal(e.done, 1);
	assert_int_equal(auth_mppe_keys(e.a, k1, k2), -1);
	auth_free(e.a);

	/* not started: input is ignored */
	memset(&e, 0, sizeof(e));
	c.method = AUTH_CHAP_MD5;
	e.a = auth_new(&c, &cbs, &e);
	feed(e.a, PPP_CHAP,
	     "01050015"
	     "10"
	     "000102030405060708090a0b0c0d0e0f");
	assert_int_equal(e.sent, 0);
	auth_free(e.a);
}

/* The owner may free the auth_t from inside done(). */
static void test_free_in_done(void **st)
{
	auth_method_t m[] = {AUTH_PAP, AUTH_CHAP_MD5, AUTH_MSCHAPV2};
	size_t i;

	for (i = 0; i < 3; i++) {
		link_t *l = link_new(m[i], "srv", "alice", i == 0 ? "x" : "wonderland");
		l->e[0].free_in_done = l->e[1].free_in_done = 1;
		start(l);
		assert_int_equal(l->e[0].done, 1);
		assert_int_equal(l->e[1].done, 1);
		assert_null(l->e[0].a);
		assert_null(l->e[1].a);
		link_free(l);
	}
	/* and from a tick */
	{
		link_t *l = link_new(AUTH_CHAP_MD5, "srv", "alice", "wonderland");
		int k;
		l->drop_all = 1;
		l->e[0].free_in_done = l->e[1].free_in_done = 1;
		start(l);
		for (k = 0; k < 12; k++)
			tick(l, 3000);
		assert_null(l->e[0].a);
		assert_null(l->e[1].a);
		link_free(l);
	}
}

/* ---- no legacy provider: MS-CHAPv2 fails with a clear message ----
 * OpenSSL loads its providers once per process, so this runs in a child
 * (this program again) whose OPENSSL_MODULES points nowhere. */

static int child_no_legacy(void)
{
	link_t *l = link_new(AUTH_MSCHAPV2, "srv", "User", "clientPass");
	uint8_t h[16], out[16];
	int ok;

	start(l);
	ok = l->e[0].done == 1 && l->e[1].done == 1 && !l->e[0].ok && !l->e[1].ok &&
	     strstr(l->e[0].msg, "legacy") && strstr(l->e[1].msg, "legacy") && l->e[0].sent == 0 &&
	     l->e[1].sent == 0;
	if (!ok)
		fprintf(stderr, "child: %s / %s\n", l->e[0].msg, l->e[1].msg);
	link_free(l);
	/* MD5 still works; MD4 gives zeros rather than garbage */
	chap_md5_response(0xff, "x", 1, (const uint8_t *)"\x00\x01\x02", 3, out);
	mschap_nt_password_hash("clientPass", h);
	ok = ok &&
	     !memcmp(out, "\xc8\xc6\x75\x09\x47\xdb\x47\x2f\xac\xe5\x43\x9f\xb4\xde\x39\x10", 16) &&
	     !memcmp(h, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	return ok ? 0 : 1;
}

static void test_no_legacy_provider(void **st)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("OPENSSL_MODULES", "/nonexistent-ossl-modules", 1);
		setenv("OPENSSL_CONF", "/dev/null", 1);
		setenv("AUTH_TEST_NO_LEGACY", "1", 1);
		execv("/proc/self/exe", saved_argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc2759_hash_example),
	    cmocka_unit_test(test_rfc2759_des_key_example),
	    cmocka_unit_test(test_rfc3079_keys),
	    cmocka_unit_test(test_chap_md5_vectors),
	    cmocka_unit_test(test_utf8_passwords),
	    cmocka_unit_test(test_pap_success),
	    cmocka_unit_test(test_pap_wrong_password),
	    cmocka_unit_test(test_pap_unknown_user),
	    cmocka_unit_test(test_pap_retransmit),
	    cmocka_unit_test(test_pap_lost_ack),
	    cmocka_unit_test(test_pap_peer_gives_up),
	    cmocka_unit_test(test_chap_md5_success),
	    cmocka_unit_test(test_chap_md5_response_format),
	    cmocka_unit_test(test_chap_md5_wrong_secret),
	    cmocka_unit_test(test_chap_md5_unknown_user),
	    cmocka_unit_test(test_chap_retransmit_challenge),
	    cmocka_unit_test(test_chap_new_challenge_each_time),
	    cmocka_unit_test(test_chap_lost_success),
	    cmocka_unit_test(test_chap_same_challenge_same_response),
	    cmocka_unit_test(test_chap_gives_up),
	    cmocka_unit_test(test_msv2_success_and_keys),
	    cmocka_unit_test(test_msv2_utf8_password),
	    cmocka_unit_test(test_msv2_wrong_password),
	    cmocka_unit_test(test_msv2_unknown_user),
	    cmocka_unit_test(test_msv2_domain_prefix),
	    cmocka_unit_test(test_msv2_forged_authenticator),
	    cmocka_unit_test(test_malformed_to_authenticators),
	    cmocka_unit_test(test_malformed_to_peers),
	    cmocka_unit_test(test_peer_rechallenge),
	    cmocka_unit_test(test_nul_in_name),
	    cmocka_unit_test(test_hold_pap),
	    cmocka_unit_test(test_hold_chap),
	    cmocka_unit_test(test_hold_not_success),
	    cmocka_unit_test(test_banned_no_answer),
	    cmocka_unit_test(test_api_edges),
	    cmocka_unit_test(test_free_in_done),
	    cmocka_unit_test(test_no_legacy_provider),
	};

	saved_argv = argv;
	if (getenv("AUTH_TEST_NO_LEGACY"))
		return child_no_legacy();
	(void)argc;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
