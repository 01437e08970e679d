/* sctp_peer: a misbehaving client of sluice's SCTP tunnel over UDP
 * (docs/sctp-protocol.md), for attack tests.  It authenticates with the key
 * like a real client, then breaks the rules a real client keeps:
 *
 *   sctp_peer PORT KEY early N HOST:TPORT SECONDS
 *       opens N streams to HOST:TPORT and sends a whole window of DATA on
 *       each right after its OPEN, without waiting for OPEN_OK
 *   sctp_peer PORT KEY stall N HOST:TPORT SECONDS
 *       opens N streams, waits for their OPEN_OK, then sends a whole
 *       window of DATA on each (each within its window; a target that
 *       never reads leaves it all with the server)
 *   sctp_peer PORT KEY hold N HOST:TPORT SECONDS
 *       opens N streams and, once they are open, never reads again
 *
 * It prints "sent BYTES" when it has sent what it meant to, then reads
 * (early, stall) or sleeps (hold) for SECONDS and prints, over the N
 * streams, how many got OPEN_OK first, OPEN_FAIL first, and a CLOSE (a
 * reset) at any time: "open_ok A open_fail B close C", and closes the
 * association.  usrsctp runs in this process on an ephemeral UDP port (no
 * root).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <usrsctp.h>

#include "core/crypto.h"
#include "core/encoding.h"
#include "tunnel/sctp/sctp_proto.h"

#define MAXN 2000

static struct socket *so;
static sctp_proto_keys_t keys;
static uint8_t cn[SCTP_PROTO_NONCE], sn[SCTP_PROTO_NONCE];
static seal_t tx[MAXN + 1], rx[MAXN + 1];
static int first[MAXN + 1];  /* the first record type the server sent on each stream */
static int closed[MAXN + 1]; /* a CLOSE came on it */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "sctp_peer: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int free_udp_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		die("udp port");
	close(fd);
	return ntohs(a.sin_port);
}

/* One message on sid; waits while usrsctp's send buffer is full. */
static void send_msg(uint16_t sid, const void *p, size_t len)
{
	struct sctp_sndinfo si = {.snd_sid = sid, .snd_ppid = htonl(SCTP_PROTO_PPID)};
	double end = now() + 30;

	while (usrsctp_sendv(so, p, len, NULL, 0, &si, sizeof(si), SCTP_SENDV_SNDINFO, 0) < 0) {
		if ((errno != EWOULDBLOCK && errno != EAGAIN) || now() > end)
			die("send");
		usleep(1000);
	}
}

static void send_rec(uint16_t sid, uint8_t type, const uint8_t *body, size_t len)
{
	sbuf_t *b = sctp_proto_rec_build(&tx[sid], type, body, len);

	send_msg(sid, sbuf_ptr(b), b->len);
	sbuf_free(b);
}

/* The next whole message within `wait` seconds: its length, 0 if none. */
static size_t recv_msg(uint8_t *buf, size_t cap, uint16_t *sid, double wait)
{
	double end = now() + wait;
	size_t got = 0;

	for (;;) {
		struct sctp_rcvinfo ri;
		struct sockaddr_in from;
		socklen_t fl = sizeof(from), il = sizeof(ri);
		unsigned int type = 0;
		int flags = 0;
		ssize_t n = usrsctp_recvv(so, buf + got, cap - got, (struct sockaddr *)&from, &fl,
		                          &ri, &il, &type, &flags);
		if (n > 0) {
			got += (size_t)n;
			*sid = ri.rcv_sid;
			if ((flags & MSG_EOR) || got == cap)
				return got;
			continue;
		}
		if (n == 0 || (errno != EWOULDBLOCK && errno != EAGAIN))
			die("the association ended");
		if (now() > end)
			return 0;
		usleep(1000);
	}
}

/* Reads for `wait` seconds (or until every stream has answered), noting
 * the first record type of each stream. */
static void read_answers(unsigned n, double wait, int until_all)
{
	static uint8_t buf[SCTP_PROTO_REC_MAX + 64];
	double end = now() + wait;

	while (now() < end) {
		uint16_t sid = 0;
		const uint8_t *body;
		size_t len = recv_msg(buf, sizeof(buf), &sid, end - now()), blen;
		uint8_t type;
		unsigned answered = 0;

		if (!len)
			break;
		if (sid < 1 || sid > n ||
		    sctp_proto_rec_open(&rx[sid], buf, len, &type, &body, &blen) < 0)
			continue;
		if (!first[sid])
			first[sid] = type;
		if (type == SCTP_PROTO_CLOSE)
			closed[sid] = 1;
		for (unsigned i = 1; i <= n; i++)
			answered += first[i] != 0;
		if (until_all && answered == n)
			break;
	}
}

int main(int argc, char **argv)
{
	uint8_t key[64], msg[SCTP_PROTO_AUTH_LEN], body[SCTP_PROTO_OPEN_MAX],
	    data[SCTP_PROTO_DATA_MAX] = {0};
	struct sctp_initmsg im = {.sinit_num_ostreams = 2048, .sinit_max_instreams = 2048};
	struct sctp_udpencaps ue = {0};
	struct sockaddr_in srv = {.sin_family = AF_INET};
	sctp_proto_auth_t au = {0};
	target_t t;
	uint32_t window;
	unsigned n, ok = 0, fail = 0, nclosed = 0;
	uint64_t sent = 0;
	int klen, one = 1, port, tport;
	char host[256], *colon;
	const char *mode;
	double secs;

	if (argc != 7 || (n = (unsigned)atoi(argv[4])) < 1 || n > MAXN ||
	    !(colon = strrchr(argv[5], ':'))) {
		fprintf(stderr, "usage: sctp_peer PORT KEY early|stall|hold N HOST:PORT SECONDS\n");
		return 2;
	}
	port = atoi(argv[1]);
	mode = argv[3];
	snprintf(host, sizeof(host), "%.*s", (int)(colon - argv[5]), argv[5]);
	tport = atoi(colon + 1);
	secs = atof(argv[6]);
	if ((klen = b64_decode(argv[2], strlen(argv[2]), key, sizeof(key))) < 16 ||
	    target_set(&t, host, (uint16_t)tport) < 0) {
		fprintf(stderr, "sctp_peer: bad key or target\n");
		return 2;
	}
	sctp_proto_keys_init(&keys, key, (size_t)klen);

	usrsctp_init((uint16_t)free_udp_port(), NULL, NULL);
	usrsctp_sysctl_set_sctp_blackhole(2);
	so = usrsctp_socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP, NULL, NULL, 0, NULL);
	if (!so)
		die("socket");
	ue.sue_port = htons((uint16_t)port);
	if (usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_REMOTE_UDP_ENCAPS_PORT, &ue, sizeof(ue)) <
	        0 ||
	    usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_INITMSG, &im, sizeof(im)) < 0 ||
	    usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_RECVRCVINFO, &one, sizeof(one)) < 0 ||
	    usrsctp_setsockopt(so, IPPROTO_SCTP, SCTP_NODELAY, &one, sizeof(one)) < 0)
		die("setsockopt");
	srv.sin_port = htons((uint16_t)port);
	srv.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (usrsctp_connect(so, (struct sockaddr *)&srv, sizeof(srv)) < 0)
		die("connect");
	usrsctp_set_non_blocking(so, 1);

	/* authenticate, as a real client does */
	random_bytes(cn, sizeof(cn));
	au.ts_ms = (uint64_t)time(NULL) * 1000;
	memcpy(au.nonce, cn, sizeof(cn));
	au.window = 1 << 20;
	sctp_proto_auth_build(&keys, &au, msg);
	send_msg(0, msg, sizeof(msg));
	{
		uint8_t ans[256];
		uint16_t sid;
		size_t len = recv_msg(ans, sizeof(ans), &sid, 10);
		if (!len || sid || sctp_proto_answer_check(&keys, cn, ans, len, sn, &window) < 0) {
			fprintf(stderr, "sctp_peer: no AUTH_OK\n");
			return 1;
		}
	}
	for (unsigned i = 1; i <= n; i++) {
		uint8_t kc[SEAL_KEY], ks[SEAL_KEY];
		sctp_proto_stream_key(&keys, cn, sn, 0, (uint16_t)i, 1, kc);
		sctp_proto_stream_key(&keys, cn, sn, 1, (uint16_t)i, 1, ks);
		seal_init(&tx[i], kc, 1, 0);
		seal_init(&rx[i], ks, 0, 0);
	}

	int blen = sctp_proto_open_encode(&t, body, sizeof(body));
	for (unsigned i = 1; i <= n; i++) {
		send_rec((uint16_t)i, SCTP_PROTO_OPEN, body, (size_t)blen);
		if (!strcmp(mode, "early"))
			for (uint32_t k = 0; k < window;
			     k += SCTP_PROTO_DATA_MAX, sent += SCTP_PROTO_DATA_MAX)
				send_rec((uint16_t)i, SCTP_PROTO_DATA, data, SCTP_PROTO_DATA_MAX);
	}
	if (strcmp(mode, "early"))
		read_answers(n, 15, 1);
	if (!strcmp(mode, "stall"))
		for (unsigned i = 1; i <= n; i++)
			for (uint32_t k = 0; first[i] == SCTP_PROTO_OPEN_OK && k < window;
			     k += SCTP_PROTO_DATA_MAX, sent += SCTP_PROTO_DATA_MAX)
				send_rec((uint16_t)i, SCTP_PROTO_DATA, data, SCTP_PROTO_DATA_MAX);
	printf("sent %llu\n", (unsigned long long)sent);
	fflush(stdout);
	if (!strcmp(mode, "hold"))
		sleep((unsigned)secs); /* never read */
	else
		read_answers(n, secs, 0);
	for (unsigned i = 1; i <= n; i++) {
		ok += first[i] == SCTP_PROTO_OPEN_OK;
		fail += first[i] == SCTP_PROTO_OPEN_FAIL;
		nclosed += closed[i];
	}
	printf("open_ok %u open_fail %u close %u\n", ok, fail, nclosed);
	fflush(stdout);
	usrsctp_close(so);
	return 0;
}
