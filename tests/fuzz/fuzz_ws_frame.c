/* fuzz_ws_frame: the frame codec (tunnel/ws/ws_frame.h) against libwslay's
 * frame layer, on the same bytes.
 *
 * The input is a peer's byte stream.  Our side parses frame after frame
 * with ws_frame_parse and unmasks each payload with ws_mask_copy (in
 * pieces, at the offsets the first input byte picks); wslay_frame_recv
 * reads the same bytes through its receive callback in chunks of a size the
 * first byte also picks.  Both must see the same frames (FIN, RSV, opcode,
 * mask bit, length, payload bytes) and stop the same way: a framing error
 * on both sides or more bytes wanted on both.  Any difference aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <wslay/wslay.h>

#include "tunnel/ws/ws_frame.h"

#define MAXF 64

typedef struct seen {
	uint8_t fin, rsv, opcode, mask;
	uint64_t len;
	size_t got; /* payload bytes present */
	uint32_t sum;
} seen_t;

typedef struct feed {
	const uint8_t *p;
	size_t len, off, step;
} feed_t;

static ssize_t f_recv(uint8_t *buf, size_t len, int flags, void *ud)
{
	feed_t *f = ud;
	size_t n = f->len - f->off;

	if (n > len)
		n = len;
	if (n > f->step)
		n = f->step;
	memcpy(buf, f->p + f->off, n);
	f->off += n;
	return n ? (ssize_t)n : -1;
}

static ssize_t f_send(const uint8_t *d, size_t n, int flags, void *ud)
{
	return (ssize_t)n;
}

static int f_genmask(uint8_t *buf, size_t n, void *ud)
{
	memset(buf, 0, n);
	return 0;
}

static uint32_t mix(uint32_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* ours: frames into s, returns how many; *err: a framing error */
static int ours(const uint8_t *p, size_t n, size_t piece, seen_t *s, int *err)
{
	size_t off = 0;
	int k = 0;
	uint8_t tmp[256];

	*err = 0;
	while (k < MAXF) {
		ws_frame_t f;
		int h = ws_frame_parse(p + off, n - off, &f);
		size_t have;

		if (h < 0)
			*err = 1;
		if (h <= 0)
			break;
		off += (size_t)h;
		have = n - off < f.len ? n - off : (size_t)f.len;
		if (!have && f.len)
			break; /* wslay shows a frame with its first payload byte */
		s[k] = (seen_t){f.fin, f.rsv, f.opcode, f.masked, f.len, have, 2166136261u};
		for (size_t done = 0; done < have;) {
			size_t m = have - done;

			if (m > piece)
				m = piece;
			if (m > sizeof(tmp))
				m = sizeof(tmp);
			if (f.masked)
				ws_mask_copy(tmp, p + off + done, m, f.key, done);
			else
				memcpy(tmp, p + off + done, m);
			s[k].sum = mix(s[k].sum, tmp, m);
			done += m;
		}
		off += have;
		k++;
		if (have < f.len)
			break;
	}
	return k;
}

static int theirs(const uint8_t *p, size_t n, size_t step, seen_t *s, int *err)
{
	static const struct wslay_frame_callbacks cbs = {f_send, f_recv, f_genmask};
	feed_t fd = {p, n, 0, step};
	wslay_frame_context_ptr ctx;
	int k = 0;

	*err = 0;
	if (wslay_frame_context_init(&ctx, &cbs, &fd) != 0)
		abort();
	for (;;) {
		struct wslay_frame_iocb io;
		ssize_t r;

		memset(&io, 0, sizeof(io));
		r = wslay_frame_recv(ctx, &io);
		if (r == WSLAY_ERR_PROTO) {
			*err = 1;
			break;
		}
		if (r < 0) {
			if (fd.off < fd.len)
				continue; /* wslay wants another read: there is more */
			break;
		}
		/* a piece of a frame: a new frame starts when the last is whole */
		if (!k || s[k - 1].got == s[k - 1].len) {
			if (k == MAXF)
				break;
			s[k++] = (seen_t){io.fin, io.rsv,     io.opcode, io.mask, io.payload_length,
			                  0,      2166136261u};
		}
		s[k - 1].sum = mix(s[k - 1].sum, io.data, io.data_length);
		s[k - 1].got += io.data_length;
		if (!io.data_length && s[k - 1].got < s[k - 1].len && fd.off == fd.len)
			break;
	}
	wslay_frame_context_free(ctx);
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t steps[4] = {1, 3, 100, 4096};
	seen_t a[MAXF], b[MAXF];
	int na, nb, ea, eb;
	size_t piece, step;

	if (!size)
		return 0;
	piece = 1 + (data[0] & 0x1f);
	step = steps[(data[0] >> 5) & 3];
	data++;
	size--;
	na = ours(data, size, piece, a, &ea);
	nb = theirs(data, size, step, b, &eb);
	if (na == MAXF || nb == MAXF)
		return 0; /* one stopped counting: the ends differ */
	if (na != nb || ea != eb)
		abort();
	for (int i = 0; i < na; i++)
		if (a[i].fin != b[i].fin || a[i].rsv != b[i].rsv || a[i].opcode != b[i].opcode ||
		    a[i].mask != b[i].mask || a[i].len != b[i].len || a[i].got != b[i].got ||
		    a[i].sum != b[i].sum)
			abort();
	return 0;
}
