/* hdlc: PPP in HDLC-like framing, the asynchronous flavour (RFC 1662).
 *
 * On the wire a frame is
 *
 *   7e | ff 03 | protocol (1 or 2) | information | FCS (2 or 4) | 7e
 *
 * with every octet that the sender's transmit ACCM flags (always 7d and 7e,
 * plus those of 00..1f named by the negotiated 32-bit async map) sent as
 * 7d, octet ^ 0x20.  ff 03 is absent once Address-and-Control-Field-
 * Compression is negotiated, and a protocol number below 0x100 shrinks to
 * one octet with Protocol-Field-Compression.
 *
 *   encoder   hdlc_encode(): one frame (address .. information) in, the
 *             stuffed bytes with FCS and both flags out, into the caller's
 *             buffer (HDLC_ENCODED_MAX bytes always suffice).
 *   deframer  hdlc_rx_feed(): a streaming parser over the caller's bounded
 *             buffer.  Bytes in any chunking; each good frame (FCS checked
 *             and stripped) goes to the callback.  Frames with a bad FCS,
 *             runts, frames longer than the buffer and aborted frames
 *             (7d 7e) are counted and dropped; control characters flagged
 *             in the receive ACCM are discarded as inserted by the line.
 *   header    hdlc_put_header() / hdlc_parse_header(): the address/control
 *             and protocol fields, with ACFC and PFC.
 *
 * Pure code: no allocation, no I/O.
 */
#ifndef SLUICE_PPP_HDLC_H
#define SLUICE_PPP_HDLC_H

#include <stddef.h>
#include <stdint.h>

#define HDLC_FLAG 0x7e
#define HDLC_ESC 0x7d
#define HDLC_TRANS 0x20
#define HDLC_ADDR 0xff /* All-Stations */
#define HDLC_CTRL 0x03 /* Unnumbered Information */

#define HDLC_FCS16_INIT 0xffffu
#define HDLC_FCS16_GOOD 0xf0b8u
#define HDLC_FCS32_INIT 0xffffffffu
#define HDLC_FCS32_GOOD 0xdebb20e3u

/* The most bytes hdlc_encode() writes for an n-byte frame: everything,
 * FCS-32 included, escaped, plus two flags. */
#define HDLC_ENCODED_MAX(n) (2 * ((n) + 4) + 2)

/* Running FCS over p[0..len): start from the _INIT value; a frame followed
 * by its transmitted FCS yields the _GOOD value. */
uint16_t hdlc_fcs16(uint16_t fcs, const uint8_t *p, size_t len);
uint32_t hdlc_fcs32(uint32_t fcs, const uint8_t *p, size_t len);

typedef struct hdlc_tx {
	uint32_t map[8]; /* 256-bit transmit ACCM: bit c set = escape octet c */
	int fcs32;       /* 1: send FCS-32, else FCS-16 */
} hdlc_tx_t;

/* async_map covers octets 00..1f; 7d and 7e are always escaped. */
void hdlc_tx_init(hdlc_tx_t *t, uint32_t async_map, int fcs32);
size_t hdlc_encode(const hdlc_tx_t *t, const uint8_t *frame, size_t len, uint8_t *out, size_t cap);

/* One received frame without its FCS.  Return nonzero to stop feeding
 * (hdlc_rx_feed then returns how far it got). */
typedef int (*hdlc_frame_cb)(void *ud, const uint8_t *frame, size_t len);

typedef struct hdlc_rx {
	uint8_t *buf; /* the caller's: the longest frame + its FCS */
	size_t cap, len;
	uint32_t accm; /* receive ACCM for 00..1f: such octets are discarded */
	int fcs32;
	unsigned esc : 1, toss : 1;
	hdlc_frame_cb cb;
	void *ud;
	uint64_t frames, bad_fcs, runts, oversize, aborts;
} hdlc_rx_t;

void hdlc_rx_init(hdlc_rx_t *r, uint8_t *buf, size_t cap, hdlc_frame_cb cb, void *ud);
/* Returns the number of bytes consumed: len, unless the callback stopped. */
size_t hdlc_rx_feed(hdlc_rx_t *r, const uint8_t *p, size_t len);

/* Address/control (unless acfc) and protocol (one octet if pfc allows it)
 * into out (4 bytes room); returns the length written. */
size_t hdlc_put_header(uint8_t *out, uint16_t proto, int acfc, int pfc);
/* Parse what hdlc_put_header writes, accepting every compression whether
 * negotiated or not.  Returns the header length, or -EBADMSG for a bad
 * address/control pair or an invalid protocol number (RFC 1661 2: the low
 * octet odd, the high octet even). */
int hdlc_parse_header(const uint8_t *f, size_t len, uint16_t *proto);

#endif
