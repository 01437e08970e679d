/* pcap: see pcap.h.
 *
 * State: open (dumper valid) -> closed (dumper flushed and closed, timer
 * closing; the struct goes in its close callback).  Records are assembled in
 * one buffer the size of the cooked header plus snaplen, so a packet is one
 * pcap_dump() call and no allocation.  Writes go through libpcap's stdio
 * buffer: a capture is a debugging aid, and a full disk only costs records.
 */
#include "netstack/pcap.h"

#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/bytes.h"
#include "core/log.h"
#include "netstack/ippkt.h"

#define SLL_HDR 16
#define SLL_HOST 0     /* packet type: addressed to us */
#define SLL_OUTGOING 4 /* packet type: sent by us */
#define ARPHRD_NONE_ 0xfffe
#define FLUSH_MS 1000

struct pcapw {
	pcap_t *dead;
	pcap_dumper_t *d;
	uv_timer_t timer;
	uint64_t max_bytes, written;
	unsigned snaplen;
	pcapw_stats_t st;
	unsigned dirty : 1, capped : 1;
	uint8_t rec[]; /* SLL_HDR + snaplen */
};

static void on_flush(uv_timer_t *t)
{
	pcapw_t *w = t->data;

	if (w->d && w->dirty) {
		pcap_dump_flush(w->d);
		w->dirty = 0;
	}
}

int pcapw_open(uv_loop_t *loop, const char *path, uint64_t max_bytes, unsigned snaplen,
               pcapw_t **out)
{
	pcapw_t *w;
	FILE *fp;
	int fd, e;

	if (!snaplen || snaplen > 65535)
		snaplen = 65535;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	fp = fdopen(fd, "wb");
	if (!fp) {
		e = -errno;
		close(fd);
		return e;
	}
	w = calloc(1, sizeof(*w) + SLL_HDR + snaplen);
	if (!w)
		abort();
	w->snaplen = snaplen;
	w->max_bytes = max_bytes;
	w->dead = pcap_open_dead(DLT_LINUX_SLL, (int)(SLL_HDR + snaplen));
	if (!w->dead)
		abort();
	w->d = pcap_dump_fopen(w->dead, fp); /* writes the file header */
	if (!w->d) {
		log_err(0, "pcap %s: %s", path, pcap_geterr(w->dead));
		fclose(fp);
		pcap_close(w->dead);
		free(w);
		return -EIO;
	}
	pcap_dump_flush(w->d);
	uv_timer_init(loop, &w->timer);
	w->timer.data = w;
	uv_timer_start(&w->timer, on_flush, FLUSH_MS, FLUSH_MS);
	uv_unref((uv_handle_t *)&w->timer);
	*out = w;
	return 0;
}

void pcapw_packet(pcapw_t *w, uint64_t session, int dir, const uint8_t *pkt, size_t len)
{
	struct pcap_pkthdr h;
	uv_timeval64_t tv;
	size_t cap;
	uint16_t proto;

	if (!w || !w->d || !len)
		return;
	if (ippkt_version(pkt, len) == 4)
		proto = 0x0800;
	else if (ippkt_version(pkt, len) == 6)
		proto = 0x86dd;
	else
		return;
	cap = len < w->snaplen ? len : w->snaplen;
	if (w->max_bytes && w->written + 16 + SLL_HDR + cap > w->max_bytes) {
		if (!w->capped)
			log_warn(0, "pcap: file reached %llu bytes, not capturing any more",
			         (unsigned long long)w->max_bytes);
		w->capped = 1;
		w->st.dropped++;
		return;
	}
	put_be16(w->rec, dir == PCAPW_OUT ? SLL_OUTGOING : SLL_HOST);
	put_be16(w->rec + 2, ARPHRD_NONE_);
	put_be16(w->rec + 4, 8);
	for (int i = 0; i < 8; i++)
		w->rec[6 + i] = (uint8_t)(session >> (56 - 8 * i));
	put_be16(w->rec + 14, proto);
	memcpy(w->rec + SLL_HDR, pkt, cap);
	uv_gettimeofday(&tv);
	h.ts.tv_sec = (time_t)tv.tv_sec;
	h.ts.tv_usec = (suseconds_t)tv.tv_usec;
	h.caplen = (bpf_u_int32)(SLL_HDR + cap);
	h.len = (bpf_u_int32)(SLL_HDR + len);
	pcap_dump((u_char *)w->d, &h, w->rec);
	w->written += 16 + h.caplen; /* record header + data */
	w->dirty = 1;
	w->st.packets++;
	w->st.bytes += len;
}

void pcapw_get_stats(const pcapw_t *w, pcapw_stats_t *st)
{
	*st = w->st;
}

static void on_closed(uv_handle_t *h)
{
	free(h->data);
}

void pcapw_close(pcapw_t *w)
{
	if (!w)
		return;
	pcap_dump_close(w->d); /* flushes */
	w->d = NULL;
	pcap_close(w->dead);
	w->dead = NULL;
	uv_timer_stop(&w->timer);
	uv_close((uv_handle_t *)&w->timer, on_closed);
}
