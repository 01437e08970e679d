/* Fuzz target: wstan's message parser, URI and cookie decoding
 * (tunnel/ws/wstan).
 *
 * The input is a mode byte, then messages, each prefixed by a 2-byte
 * length.  Mode bit 0: AES-CTR (a fixed key and nonce) or none (TLS mode);
 * bit 1: the first message came in a URI; bit 2: sign each message as a
 * key holder would (else the MAC is whatever the input says), so the
 * parsing behind the MAC is reached too.  The messages run through one
 * keystream, as on a tunnel.  The whole input is also tried as a
 * request-target, a Cookie header and an upgrade URI.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tunnel/ws/wstan.h"

static wstan_key_t key;

static void sign(uint8_t *p, size_t n)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned ml = 0;

	HMAC(EVP_sha1(), key.k, (int)key.len, p, n, md, &ml);
	memcpy(p + n, md, WSTAN_MAC);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t iv[WSTAN_NONCE] = {9, 8, 7, 6, 5, 4, 3, 2, 1};
	static int init;
	wstan_ctr_t rx = {0};
	wstan_msg_t m;
	uint8_t mode, nonce[WSTAN_NONCE], *buf;
	char *s;

	if (!init) {
		wstan_key_init(&key, "QsTpzrTt6h5A056TtxBetw==");
		init = 1;
	}
	if (!size)
		return 0;

	/* the string decoders */
	s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = 0;
	buf = malloc(WSTAN_URI_MAX);
	int n = wstan_path_decode(s, size, "/t", buf, WSTAN_URI_MAX);
	if (n > 0)
		wstan_msg_open(&rx, &key, buf, (size_t)n, 1, &m);
	wstan_cookie_nonce(s, size, key.cookie, nonce);
	free(s);

	/* a sequence of messages */
	mode = data[0];
	data++;
	size--;
	if (mode & 1)
		wstan_ctr_init(&rx, &key, iv);
	for (int first = 1; size >= 2; first = 0) {
		size_t len = (size_t)(data[0] << 8 | data[1]);

		data += 2;
		size -= 2;
		if (len > size)
			len = size;
		if (len > WSTAN_URI_MAX - WSTAN_MAC)
			len = WSTAN_URI_MAX - WSTAN_MAC;
		memcpy(buf, data, len);
		data += len;
		size -= len;
		if (mode & 4) {
			sign(buf, len);
			len += WSTAN_MAC;
		}
		if (wstan_msg_open(&rx, &key, buf, len, (mode & 2) && first, &m) < 0)
			break; /* a tunnel closes here */
	}
	wstan_ctr_free(&rx);
	free(buf);
	return 0;
}
