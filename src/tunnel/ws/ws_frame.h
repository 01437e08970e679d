/* ws_frame: the RFC 6455 frame codec, pure (no I/O, no allocation).
 *
 *   header   ws_frame_parse() reads one frame header (2 to 14 bytes) and
 *            refuses what section 5.2 forbids at that level: a length not
 *            in its shortest form, a 64-bit length with the top bit set, a
 *            control frame that is fragmented or longer than 125 bytes.
 *            ws_frame_check() applies the rules that depend on the
 *            connection: RSV bits (no extension is negotiated), masking
 *            (client to server only), known opcodes, continuation frames
 *            only inside a fragmented message and data frames only outside.
 *            ws_frame_header() writes a header (FIN set: sluice never
 *            fragments what it sends) in its shortest form.
 *   masking  ws_mask() XORs the 4-byte key over a payload in place,
 *            ws_mask_copy() while copying it; both run sixteen bytes at a
 *            time (the compiler's vector extension: SSE2 on x86-64) and
 *            take the payload offset the bytes start at, so a payload that
 *            arrives in pieces is unmasked piece by piece.
 *   UTF-8    ws_utf8() checks text as it arrives (a message and a close
 *            reason must be valid UTF-8, section 8.1), in any pieces.
 */
#ifndef SLUICE_WS_FRAME_H
#define SLUICE_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define WS_HDR_MAX 14u /* 2 + 8 (length) + 4 (key) */
#define WS_CTRL_MAX 125

enum {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xa,
};

typedef struct ws_frame {
	uint64_t len; /* payload length */
	uint8_t key[4];
	uint8_t fin, rsv, opcode, masked;
} ws_frame_t;

/* The header at buf: its length (2..14) with *f filled, 0 if more bytes
 * are needed, -EPROTO if it breaks the framing rules above. */
int ws_frame_parse(const uint8_t *buf, size_t len, ws_frame_t *f);
/* 0, or -EPROTO for a frame that may not come now: from_client says which
 * side sent it, in_msg whether a fragmented message is under way. */
int ws_frame_check(const ws_frame_t *f, int from_client, int in_msg);
static inline int ws_is_control(int opcode)
{
	return (opcode & 0x8) != 0;
}

/* The header of a final frame of len payload bytes, masked with key when
 * key is not NULL; returns its length (2..14). */
size_t ws_frame_header(uint8_t out[WS_HDR_MAX], int opcode, uint64_t len, const uint8_t *key);
/* Its length, without writing it. */
static inline size_t ws_frame_header_len(uint64_t len, int masked)
{
	return (len < 126 ? 2 : len < 65536 ? 4 : 10) + (masked ? 4 : 0);
}

/* XOR key over p[0..n), p being payload bytes from offset `at` on. */
void ws_mask(uint8_t *p, size_t n, const uint8_t key[4], uint64_t at);
/* The same, from src into dst (the same buffer, or one that does not
 * overlap it). */
void ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4], uint64_t at);

/* UTF-8: *state starts at WS_UTF8_OK; feed every byte of a text in order.
 * After a piece the state is WS_UTF8_BAD (never valid, whatever follows),
 * WS_UTF8_OK (valid if it ends here) or another value (inside a
 * character). */
#define WS_UTF8_OK 0
#define WS_UTF8_BAD 1
void ws_utf8(uint32_t *state, const uint8_t *p, size_t n);

#endif
