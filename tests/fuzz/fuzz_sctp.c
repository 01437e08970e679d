/* Fuzz target: the SCTP tunnel's messages (tunnel/sctp/sctp_proto): AUTH,
 * AUTH_OK, the stream records (plain and sealed) and their bodies: OPEN,
 * OPEN_FAIL, CREDIT, LISTEN, LISTEN_UDP, LISTEN_OK, ACCEPT, JOIN, REFUSE;
 * CLOSE, EOF and UDP_OPEN are records with empty bodies;
 * datagram messages (sealed with an explicit counter).  Whatever parses
 * must rebuild to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/sctp/sctp_proto.h"
#include "wire/wire_addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static sctp_proto_keys_t k;
	static int init;
	static const uint8_t key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	sctp_proto_auth_t au;
	target_t t;
	const uint8_t *body;
	size_t blen;
	uint8_t sn[SCTP_PROTO_NONCE], type, code, kb[SEAL_KEY], out[SCTP_PROTO_OPEN_MAX], *buf;
	uint32_t w, inc;
	seal_t s;
	int n;

	if (!init) {
		sctp_proto_keys_init(&k, key, sizeof(key));
		init = 1;
	}
	sctp_proto_auth_parse(&k, data, size, &au);
	sctp_proto_answer_check(&k, key, data, size, sn, &w);
	if (sctp_proto_rec_parse(data, size, &type, &body, &blen) == 0) {
		switch (type) {
		case SCTP_PROTO_OPEN:
			if (sctp_proto_open_parse(body, blen, &t) == 0) {
				n = sctp_proto_open_encode(&t, out, sizeof(out));
				if (n != (int)blen || memcmp(out, body, blen))
					abort();
			}
			break;
		case SCTP_PROTO_OPEN_FAIL:
			if (sctp_proto_fail_parse(body, blen, &code) < 0)
				abort();
			break;
		case SCTP_PROTO_CREDIT:
			if (sctp_proto_credit_parse(body, blen, &inc) == 0) {
				uint8_t c[4];
				sctp_proto_credit_encode(inc, c);
				if (memcmp(c, body, 4))
					abort();
			}
			break;
		case SCTP_PROTO_LISTEN:
		case SCTP_PROTO_LISTEN_UDP:
		case SCTP_PROTO_LISTEN_OK:
			/* a reverse listener's address: port 0 too (a BIND's) */
			if (wire_listen_parse(body, blen, &t) == 0) {
				n = wire_addr_encode(&t, out, sizeof(out));
				if (n != (int)blen || memcmp(out, body, blen))
					abort();
			}
			break;
		case SCTP_PROTO_ACCEPT:
		case SCTP_PROTO_JOIN:
		case SCTP_PROTO_REFUSE: {
			char peer[SCTP_PROTO_PEER_MAX + 1];
			uint8_t cb[SCTP_PROTO_CONN_ID + SCTP_PROTO_PEER_MAX];
			uint64_t conn;
			if (sctp_proto_conn_parse(body, blen, &conn, peer, sizeof(peer)) == 0 &&
			    (sctp_proto_conn_encode(conn, peer, cb, sizeof(cb)) != blen ||
			     memcmp(cb, body, blen)))
				abort();
			break;
		}
		default:
			break;
		}
	}
	sctp_proto_open_parse(data, size, &t);
	/* sealed: almost never authentic, but the length checks run */
	memset(kb, 0, sizeof(kb));
	seal_init(&s, kb, 0, 0);
	buf = malloc(size ? size : 1);
	memcpy(buf, data, size);
	sctp_proto_rec_open(&s, buf, size, &type, &body, &blen);
	free(buf);
	seal_free(&s);
	/* a datagram message: the length checks and the open run on anything;
	 * one we seal ourselves opens to what went in */
	{
		aead_t dtx, drx;
		const uint8_t *dd;
		size_t dl;
		uint64_t ctr;
		uint8_t *dm = malloc(size + 8 + 258 + SEAL_TAG + 1);
		aead_init(&dtx, AEAD_CHACHA20_POLY1305, kb, 1);
		aead_init(&drx, AEAD_CHACHA20_POLY1305, kb, 0);
		memcpy(dm, data, size);
		sctp_proto_dgram_ctr(dm, size, &ctr);
		sctp_proto_dgram_open(&drx, dm, size, &t, &dd, &dl);
		target_set(&t, "127.0.0.1", 53);
		n = sctp_proto_dgram_seal(&dtx, size, &t, data, size, dm,
		                          size + 8 + 258 + SEAL_TAG);
		if (size <= SCTP_PROTO_DGRAM_DATA_MAX &&
		    (n < 0 || sctp_proto_dgram_open(&drx, dm, (size_t)n, &t, &dd, &dl) < 0 ||
		     dl != size || memcmp(dd, data, size) || t.port != 53))
			abort();
		free(dm);
		aead_free(&dtx);
		aead_free(&drx);
	}
	/* and a record we seal ourselves always opens to what went in */
	if (size <= SCTP_PROTO_DATA_MAX && size) {
		seal_t tx, rx;
		sbuf_t *m;
		seal_init(&tx, kb, 1, 7);
		seal_init(&rx, kb, 0, 7);
		m = sctp_proto_rec_build(&tx, SCTP_PROTO_DATA, data, size);
		if (!m || sctp_proto_rec_open(&rx, m->data, m->len, &type, &body, &blen) < 0 ||
		    type != SCTP_PROTO_DATA || blen != size || memcmp(body, data, size))
			abort();
		sbuf_free(m);
		seal_free(&tx);
		seal_free(&rx);
	}
	return 0;
}
