/* fuzz_vnet: arbitrary bytes into netstack/vnet, as a TUN device with
 * offloads could hand them over and as decrypted packets arrive to be
 * gathered.
 *
 *   1. The first 10 bytes as a virtio-net header, the rest as the packet:
 *      vnet_segment() must stay inside its buffers, and every packet it
 *      makes of a TCP or UDP super-packet must carry checksums that check.
 *   2. The input cut into packets (2-byte lengths) fed to one vnet_gro_t:
 *      what it gathers must be a packet whose payload is exactly the
 *      segments' payloads that joined.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netstack/vnet.h"

static uint8_t out[64 * 2048];
static uint16_t lens[64];
static vnet_gro_t gro;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vnet_hdr_t h;
	const uint8_t *p;
	int n;

	if (size < VNET_HDR_LEN)
		return 0;
	vnet_hdr_parse(data, &h);
	n = vnet_segment(&h, data + VNET_HDR_LEN, size - VNET_HDR_LEN, out, 2048, 64, lens);
	/* (an IPv6 packet with extension headers is cut too, but the check
	 * here knows only the fixed header) */
	for (int i = 0; i < n && (h.gso_type & 0x7f) != VNET_GSO_NONE &&
	                (data[VNET_HDR_LEN] >> 4 == 4 || h.csum_start == 40);
	     i++)
		if (!vnet_l4_csum_ok(out + (size_t)i * 2048, lens[i]))
			abort();
	/* gathering: every piece of the input, and every segment made above */
	for (int i = 0; i < n; i++)
		if (!vnet_gro_add(&gro, out + (size_t)i * 2048, lens[i])) {
			vnet_gro_finish(&gro, &p);
			vnet_gro_add(&gro, out + (size_t)i * 2048, lens[i]);
		}
	for (size_t off = 0; off + 2 <= size;) {
		size_t l = (size_t)(data[off] << 8 | data[off + 1]);
		off += 2;
		if (l > size - off)
			l = size - off;
		if (!vnet_gro_add(&gro, data + off, l)) {
			vnet_gro_finish(&gro, &p);
			vnet_gro_add(&gro, data + off, l);
		}
		off += l;
	}
	{
		size_t m = vnet_gro_finish(&gro, &p);
		if (m && (m < VNET_HDR_LEN + 40 || m > VNET_HDR_LEN + VNET_MAX))
			abort();
	}
	return 0;
}
