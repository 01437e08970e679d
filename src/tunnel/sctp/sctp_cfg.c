/* sctp_cfg: the SCTP tunnel's options, both ends (sctp_assoc_opts: the
 * key, the window and the association's limits; sctp_stack_opts: which
 * stack carries sctp://), checked together into an sctp_assoc_cfg_t.
 * See sctp_cfg.h. */
#include "tunnel/sctp/sctp_cfg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/crypto.h"
#include "core/log.h"
#include "core/tunkey.h"
#include "tunnel/sctp/sctp_kern.h"

static const opt_include_t assoc_inc[] = {
    OPT_INCLUDE(sctp_assoc_opts_t, key, &tunkey_opts),
    {NULL, 0},
};

static const opt_t assoc_table[] = {
    OPT_UINT(sctp_assoc_opts_t, window, "window", SCTP_PROTO_WINDOW_MAX, "1048576",
             "receive window granted to each stream, in bytes (64 KiB to 64 MiB)"),
    OPT_DURATION(sctp_assoc_opts_t, hb_ms, "hb", "1s", "SCTP heartbeat interval"),
    OPT_UINT(sctp_assoc_opts_t, max_rtx, "max-rtx", 100, "4",
             "retransmissions before the peer is taken for dead"),
    OPT_UINT(sctp_assoc_opts_t, sndbuf, "sndbuf", 64 << 20, "4194304",
             "the association's send buffer, in bytes"),
    OPT_UINT(sctp_assoc_opts_t, mtu, "mtu", 9000, "0",
             "a fixed path MTU (576 to 9000; 0: usrsctp's own)"),
    OPT_UINT(sctp_assoc_opts_t, buffer, "assoc-buffer", 1ull << 32, "67108864",
             "bytes the association keeps for readers that have not taken them, all streams "
             "together (at least window); a stream whose DATA would go over is reset"),
};

const opt_schema_t sctp_assoc_opts = OPT_SCHEMA_WITH(assoc_inc, assoc_table);

int sctp_assoc_cfg_load(const sctp_assoc_opts_t *o, int server, sctp_assoc_cfg_t *cfg,
                        sctp_proto_keys_t *keys, char *err, size_t errlen)
{
	uint8_t k[KEY_MAX];
	size_t klen;
	uint64_t window = o->window, hb = o->hb_ms, rtx = o->max_rtx, sndbuf = o->sndbuf,
	         mtu = o->mtu, buffer = o->buffer;
	int r;

	if ((r = tunkey_load(&o->key, server, k, &klen, err, errlen)) < 0)
		return r;
	if (window < SCTP_PROTO_WINDOW_MIN) {
		snprintf(err, errlen, "option 'window': at least %d bytes", SCTP_PROTO_WINDOW_MIN);
		return -EINVAL;
	}
	if (buffer < window) {
		snprintf(err, errlen,
		         "option 'assoc-buffer': at least the window (%llu bytes): one stream "
		         "must be able to fill its window",
		         (unsigned long long)window);
		return -EINVAL;
	}
	if (mtu && mtu < 576) {
		snprintf(err, errlen, "option 'mtu': at least 576 (or 0: discover it)");
		return -EINVAL;
	}
	if (!hb || !rtx || sndbuf < 64 * 1024) {
		snprintf(err, errlen,
		         "options 'hb', 'max-rtx' and 'sndbuf' (>= 65536) must not be 0");
		return -EINVAL;
	}
	sctp_proto_keys_init(keys, k, klen);
	OPENSSL_cleanse(k, sizeof(k));
	cfg->keys = keys;
	cfg->window = (uint32_t)window;
	cfg->max_buffer = buffer;
	cfg->hb_ms = (uint32_t)hb;
	cfg->max_rtx = (uint16_t)rtx;
	cfg->sndbuf = (uint32_t)sndbuf;
	cfg->mtu = (uint32_t)mtu;
	return 0;
}

const char *const sctp_stack_names[] = {"SCTP over UDP, usrsctp", "kernel SCTP",
                                        "SCTP on a raw socket, usrsctp"};

/* usrsctp sends and receives raw SCTP: root or CAP_NET_RAW */
static int raw_allowed(void)
{
	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_SCTP);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static const opt_t stack_table[] = {
    OPT_STR(sctp_stack_opts_t, stack, "stack", "auto", "auto|kernel|usrsctp",
            "the kernel's SCTP where it has SCTP, else usrsctp on a raw socket (root)"),
};

const opt_schema_t sctp_stack_opts = OPT_SCHEMA(NULL, stack_table);

int sctp_stack_pick(const char *v, int udp, int *stack, char *err, size_t errlen)
{
	int kern = sctp_kern_available();

	if (udp) {
		*stack = SCTP_STACK_UDP;
		return 0;
	}
	if (!v)
		v = "auto";
	if (!strcmp(v, "auto")) {
		*stack = kern ? SCTP_STACK_KERNEL : SCTP_STACK_RAW;
	} else if (!strcmp(v, "kernel")) {
		if (!kern) {
			snprintf(err, errlen,
			         "stack=kernel: this kernel has no SCTP (modprobe sctp), so use "
			         "stack=usrsctp (root) or sctp+udp://");
			return -EPROTONOSUPPORT;
		}
		*stack = SCTP_STACK_KERNEL;
	} else if (!strcmp(v, "usrsctp")) {
		*stack = SCTP_STACK_RAW;
	} else {
		snprintf(err, errlen, "option 'stack': '%s' is not auto, kernel or usrsctp", v);
		return -EINVAL;
	}
	if (*stack == SCTP_STACK_RAW && !raw_allowed()) {
		snprintf(err, errlen,
		         "%susrsctp's raw SCTP socket needs root (CAP_NET_RAW); sctp+udp:// "
		         "needs neither",
		         kern ? "stack=usrsctp: " : "this kernel has no SCTP, and ");
		return -EPERM;
	}
	if (*stack == SCTP_STACK_RAW && kern)
		log_warn(0, "stack=usrsctp on a kernel with SCTP: the kernel answers usrsctp's "
		            "packets too (unload its sctp module, or use stack=kernel)");
	return 0;
}
