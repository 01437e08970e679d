/* udpsock: a UDP socket for packet tunnels, batched both ways.
 *
 * The socket is non-blocking and watched with a uv_poll_t.  Receiving asks
 * the kernel for UDP GRO (UDP_GRO): one read brings up to 64 KiB of
 * datagrams of one size from one sender, which are handed to the callback
 * one by one, as if they had come separately; several reads per wakeup
 * (recvmmsg).  Sending a run of datagrams of one size (the last may be
 * shorter), laid end to end, takes one sendmsg with UDP GSO (UDP_SEGMENT)
 * per 64 KiB.  Where the kernel or the route lacks either, the socket says
 * so once in the log and goes on without it: plain recvmmsg, and sendmmsg.
 * Datagrams can also be queued (udpsock_slot, udpsock_commit) rather than
 * sent: they are written straight into the socket's run buffer and go out
 * at the end of the loop turn (a uv_check, and a uv_idle so that the loop
 * does not block first), one UDP GSO send for each run of one size and one
 * destination: a burst of packets that the loop turn produced one by one
 * (lwIP's or libslirp's segments) costs one system call.  The run buffer
 * holds one run; a datagram for another destination, or larger than the
 * run's, sends what is queued first.  A direct send sends the queue first,
 * so the order is kept.  Nothing else queues: a datagram the kernel will
 * not take at once is dropped, as a router would (the packets inside are
 * TCP's to resend).
 *
 * The receive callback may close the socket; no further datagram is
 * delivered then.  Memory goes in the libuv close callback.  Errors are 0
 * or a negative errno.
 */
#ifndef SLUICE_UDPSOCK_H
#define SLUICE_UDPSOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

typedef struct udpsock udpsock_t;
/* d may be modified in place (decrypted) until the callback returns */
typedef void (*udpsock_recv_fn)(void *ud, uint8_t *d, size_t len, const struct sockaddr *from);

#define UDPSOCK_GRO 1 /* ask for UDP GRO on receive */
#define UDPSOCK_GSO 2 /* send runs with UDP GSO */

/* Binds to addr (port 0: any); flags: which offloads to try. */
int udpsock_open(uv_loop_t *loop, const struct sockaddr *addr, unsigned flags, udpsock_recv_fn cb,
                 void *ud, udpsock_t **out);
void udpsock_close(udpsock_t *u);
/* Stops receiving (a draining server); sending goes on. */
void udpsock_recv_stop(udpsock_t *u);
int udpsock_fd(const udpsock_t *u);
/* One datagram. */
int udpsock_send(udpsock_t *u, const struct sockaddr *to, const uint8_t *d, size_t n);
/* n datagrams at buf: n - 1 of stride bytes each, then one of last bytes
 * (at most stride). */
int udpsock_send_run(udpsock_t *u, const struct sockaddr *to, const uint8_t *buf, size_t stride,
                     size_t n, size_t last);
/* Where to write the next queued datagram for to, at most max bytes
 * (max <= UDPSOCK_DGRAM_MAX); then udpsock_commit() with its length.  No
 * other call on the socket in between. */
uint8_t *udpsock_slot(udpsock_t *u, const struct sockaddr *to, size_t max);
void udpsock_commit(udpsock_t *u, size_t len);
/* Sends what is queued now. */
void udpsock_flush(udpsock_t *u);
/* fn(ud) runs at the end of every loop turn in which something was queued
 * or udpsock_arm() was called, before the queue goes: an owner that holds
 * packets back until then (a pure ACK a later one may replace) queues
 * them there. */
void udpsock_on_turn_end(udpsock_t *u, void (*fn)(void *ud), void *ud);
void udpsock_arm(udpsock_t *u);
#define UDPSOCK_DGRAM_MAX 65600

/* What is in use: "GSO", "GRO" as asked and granted. */
unsigned udpsock_offloads(const udpsock_t *u);

#endif
