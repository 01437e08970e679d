/* Fuzz target: the WebSocket tunnel's open token, open body, DGRAM body,
 * the reverse forward's conn bodies (ACCEPT, JOIN, REFUSE)
 * and records (tunnel/ws/wstun_proto), under a fixed key, sealed and plain. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/ws/wstun_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static wstun_keys_t k;
	static int init;
	static const uint8_t key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	wstun_token_t *t;
	target_t tg;
	const uint8_t *d;
	size_t dl;
	uint8_t sn[WSTUN_NONCE], type, kb[SEAL_KEY], status;
	wstun_bind_t b = {"example.org", 11, "/tun", 4};
	seal_t s;
	sbuf_t *m;

	if (!init) {
		wstun_keys_init(&k, key, sizeof(key));
		init = 1;
	}
	t = malloc(sizeof(*t));
	if (wstun_token_parse(&k, &b, data, size, t) == 0 && t->open_len)
		wstun_open_parse(t->open, t->open_len, &tg, &d, &dl);
	free(t);
	wstun_open_parse(data, size, &tg, &d, &dl);
	if (wstun_dgram_parse(data, size, &tg, &d, &dl) == 0 && (d < data || d + dl > data + size))
		abort(); /* the datagram lies inside the body */
	{
		char peer[WSTUN_PEER_MAX + 1];
		uint64_t conn;
		if (wstun_conn_parse(data, size, &conn, peer, sizeof(peer)) == 0 &&
		    strlen(peer) > WSTUN_PEER_MAX)
			abort();
		wstun_conn_parse(data, size, &conn, NULL, 0);
	}
	wstun_answer_check(&k, key, data, size, sn, &status);
	m = sbuf_from(data, size);
	wstun_rec_open(NULL, m, &type);
	sbuf_free(m);
	memset(kb, 0, sizeof(kb));
	seal_init(&s, kb, 0, 0);
	m = sbuf_from(data, size);
	wstun_rec_open(&s, m, &type);
	sbuf_free(m);
	seal_free(&s);
	return 0;
}
