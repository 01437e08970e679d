/* dgram: see dgram.h.
 *
 * The flow an owner gets from dgram_open() is a wrapper (an "outer" flow)
 * around the one the chain's last hop opens: it holds datagrams while the
 * hop opens (DGRAM_HOLD_MAX, then drops), turns a failed or timed-out open
 * into on_error on a later turn, and forwards everything once the inner
 * flow is up.  States: OPENING (req in flight, datagrams held) -> UP
 * (inner set) -> FAILED (err latched, sends dropped) -> closed.
 */
#include "core/dgram.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/metrics.h"

uint64_t dgram_drops[DGRAM_DROP_N];
static uint64_t flows_active, flows_total;

static const char *const drop_names[DGRAM_DROP_N] = {
    "queue", "refused", "resolve", "malformed", "size", "stranger", "send",
};

const char *dgram_drop_name(dgram_drop_why_t why)
{
	return why < DGRAM_DROP_N ? drop_names[why] : "?";
}

dgram_drop_why_t dgram_drop_why(int err)
{
	switch (err) {
	case UV_ENOBUFS:
	case UV_EAGAIN:
		return DGRAM_DROP_QUEUE;
	case UV_EMSGSIZE:
		return DGRAM_DROP_SIZE;
	case UV_EACCES:
		return DGRAM_DROP_REFUSED;
	default:
		return DGRAM_DROP_SEND;
	}
}

static void metrics_fn(mbuf_t *b, void *ud)
{
	char lab[64];

	for (int i = 0; i < DGRAM_DROP_N; i++)
		metrics_sample(
		    b, "sluice_udp_dropped_total", "counter", "Datagrams dropped, by reason.",
		    metrics_label(lab, sizeof(lab), "reason", drop_names[i]), dgram_drops[i]);
	metrics_sample(b, "sluice_udp_flows_active", "gauge", "Datagram flows open now.", "",
	               flows_active);
	metrics_sample(b, "sluice_udp_flows_total", "counter", "Datagram flows opened.", "",
	               flows_total);
}

void dgram_init(dgram_t *f, const dgram_ops_t *ops, uint64_t id)
{
	static int registered;

	if (!registered) {
		registered = 1;
		metrics_register(metrics_fn, NULL);
	}
	memset(f, 0, sizeof(*f));
	f->ops = ops;
	f->id = id;
}

void dgram_deliver(dgram_t *f, const struct sockaddr *src, sbuf_t *b)
{
	if (f->closed || !f->cbs) {
		sbuf_free(b);
		return;
	}
	f->recvd++;
	f->cbs->on_recv(f, src, b);
}

void dgram_fail(dgram_t *f, int err)
{
	const dgram_cbs_t *cbs = f->cbs;

	if (f->closed || !cbs)
		return;
	f->cbs = NULL; /* once */
	cbs->on_error(f, err);
}

void dgram_drop(dgram_t *f, dgram_drop_why_t why, sbuf_t *b)
{
	if (b)
		sbuf_free(b);
	f->dropped++;
	if (why < DGRAM_DROP_N)
		dgram_drops[why]++;
	log_trace(f->id, "%s: dropped a datagram (%s)", f->ops->name, dgram_drop_name(why));
}

uint64_t dgram_dropped(const dgram_t *f)
{
	uint64_t n = 0;

	for (; f; f = f->inner)
		n += f->dropped;
	return n;
}

sbuf_t *dgram_buf(const void *p, size_t n)
{
	sbuf_t *b = sbuf_new(DGRAM_HEADROOM + n);

	b->off = DGRAM_HEADROOM;
	b->len = (uint32_t)n;
	if (n)
		memcpy(b->data + DGRAM_HEADROOM, p, n);
	return b;
}

/* ---- peers ---- */

int dgram_peers_has(const dgram_peers_t *p, const struct sockaddr *sa)
{
	/* newest first: a flow mostly hears from the one it just sent to */
	for (unsigned i = 0; i < p->n; i++) {
		unsigned k = (p->next + DGRAM_PEERS - 1 - i) % DGRAM_PEERS;
		if (sockaddr_equal((const struct sockaddr *)&p->a[k], sa))
			return 1;
	}
	return 0;
}

void dgram_peers_add(dgram_peers_t *p, const struct sockaddr *sa)
{
	if (dgram_peers_has(p, sa))
		return;
	memcpy(&p->a[p->next], sa, sockaddr_len(sa));
	p->next = (p->next + 1) % DGRAM_PEERS;
	if (p->n < DGRAM_PEERS)
		p->n++;
}

/* ---- held datagrams ---- */

struct dgram_held {
	dgram_held_t *next;
	sbuf_t *b;
	target_t dst;
};

int dgram_hq_push(dgram_hq_t *q, const target_t *dst, sbuf_t *b)
{
	dgram_held_t *h;

	if (q->n >= DGRAM_HOLD_MAX || q->bytes + b->len > DGRAM_HOLD_BYTES) {
		sbuf_free(b);
		return UV_ENOBUFS;
	}
	h = malloc(sizeof(*h));
	if (!h)
		abort();
	h->next = NULL;
	h->b = b;
	h->dst = *dst;
	if (q->tail)
		q->tail->next = h;
	else
		q->head = h;
	q->tail = h;
	q->n++;
	q->bytes += b->len;
	return 0;
}

int dgram_hq_pop(dgram_hq_t *q, target_t *dst, sbuf_t **b)
{
	dgram_held_t *h = q->head;

	if (!h)
		return 0;
	q->head = h->next;
	if (!q->head)
		q->tail = NULL;
	q->n--;
	q->bytes -= h->b->len;
	*dst = h->dst;
	*b = h->b;
	free(h);
	return 1;
}

void dgram_hq_clear(dgram_hq_t *q)
{
	target_t t;
	sbuf_t *b;

	while (dgram_hq_pop(q, &t, &b))
		sbuf_free(b);
}

/* ---- a flow ready at once ---- */

typedef struct soon {
	uv_timer_t t;
	dgram_t *f;
	dgram_cb cb;
	void *ud;
} soon_t;

static void soon_closed(uv_handle_t *h)
{
	free(h->data);
}

static void soon_fire(uv_timer_t *t)
{
	soon_t *s = t->data;

	uv_close((uv_handle_t *)&s->t, soon_closed);
	s->cb(s->ud, s->f, 0);
}

dial_t *dgram_ready_soon(uv_loop_t *loop, dgram_t *f, dgram_cb cb, void *ud)
{
	soon_t *s = calloc(1, sizeof(*s));

	if (!s)
		abort();
	s->f = f;
	s->cb = cb;
	s->ud = ud;
	uv_timer_init(loop, &s->t);
	s->t.data = s;
	uv_timer_start(&s->t, soon_fire, 0, 0);
	return (dial_t *)s;
}

void dgram_ready_cancel(dial_t *req)
{
	soon_t *s = (soon_t *)req;

	dgram_close(s->f);
	uv_close((uv_handle_t *)&s->t, soon_closed);
}

/* ---- chains ---- */

const dialer_t *chain_dgram_blocker(const dialer_t *d)
{
	for (; d; d = d->next) {
		if (!d->ops->dgram)
			return d;
		if (!(dialer_caps(d) & HOP_DGRAM_NEXT))
			return NULL;
	}
	return NULL;
}

int chain_dgram_require(const dialer_t *chain, const char *what, char *err, size_t errlen)
{
	const dialer_t *blk = chain_dgram_blocker(chain);
	char hop[256];

	if (!blk)
		return 0;
	dialer_name(blk, hop, sizeof(hop));
	snprintf(err, errlen,
	         "the hop %s cannot carry UDP: %s needs a chain that does (nothing is sent "
	         "around it)",
	         hop, what);
	return -EINVAL;
}

void dialer_name(const dialer_t *d, char *buf, size_t len)
{
	char t[300];

	if (!d->next) { /* the direct dialer has no server */
		snprintf(buf, len, "%s", dialer_scheme(d));
		return;
	}
	if (d->server.port)
		target_str(&d->server, t, sizeof(t));
	else /* a name rather than a server (a group) */
		snprintf(t, sizeof(t), "%s", d->server.host);
	snprintf(buf, len, "%s://%s", dialer_scheme(d), t);
}

int chain_dns_servers(const dialer_t *chain, struct sockaddr_storage *out, size_t max)
{
	if (!chain || !chain->ops->dns_servers)
		return UV_ENOTSUP;
	return chain->ops->dns_servers(chain, out, max);
}

/* ---- the owner's flow ---- */

typedef struct oflow {
	dgram_t f;
	dialer_t *d;
	dial_t *req; /* while OPENING */
	uv_timer_t *timer;
	dgram_hq_t held;
	int err;
} oflow_t;

static void of_timer_closed(uv_handle_t *h)
{
	free(h);
}

static void of_stop_timer(oflow_t *of)
{
	if (of->timer) {
		uv_close((uv_handle_t *)of->timer, of_timer_closed);
		of->timer = NULL;
	}
}

static void of_inner_recv(dgram_t *in, const struct sockaddr *src, sbuf_t *b)
{
	dgram_deliver(in->data, src, b);
}

static void of_inner_error(dgram_t *in, int err)
{
	oflow_t *of = in->data;

	of->err = err;
	dgram_fail(&of->f, err);
}

static const dgram_cbs_t of_inner_cbs = {of_inner_recv, of_inner_error, NULL};

static void of_failed(oflow_t *of, int err)
{
	of->err = err ? err : UV_EPROTO;
	dgram_hq_clear(&of->held);
	dgram_fail(&of->f, of->err);
}

static void of_opened(void *ud, dgram_t *in, int err)
{
	oflow_t *of = ud;
	target_t dst;
	sbuf_t *b;

	of->req = NULL;
	of_stop_timer(of);
	if (err < 0) {
		of_failed(of, err);
		return;
	}
	of->f.inner = in;
	in->id = of->f.id;
	dgram_set_cbs(in, &of_inner_cbs, of);
	while (dgram_hq_pop(&of->held, &dst, &b))
		dgram_send(in, &dst, b);
	if (!of->f.closed && of->f.cbs && of->f.cbs->on_ready)
		of->f.cbs->on_ready(&of->f);
}

static void of_on_timer(uv_timer_t *t)
{
	oflow_t *of = t->data;
	int err = of->err ? of->err : UV_ETIMEDOUT;

	of_stop_timer(of);
	if (of->req) {
		of->d->ops->dgram_cancel(of->d, of->req);
		of->req = NULL;
	}
	of_failed(of, err);
}

static int of_send(dgram_t *f, const target_t *dst, sbuf_t *b)
{
	oflow_t *of = (oflow_t *)f;

	if (b->len > DGRAM_MAX) {
		dgram_drop(f, DGRAM_DROP_SIZE, b);
		return UV_EMSGSIZE;
	}
	if (f->inner) {
		f->sent++;
		return dgram_send(f->inner, dst, b);
	}
	if (of->err || dgram_hq_push(&of->held, dst, b) < 0) {
		dgram_drop(f, DGRAM_DROP_QUEUE, of->err ? b : NULL);
		return 0;
	}
	f->sent++;
	return 0;
}

static void of_close(dgram_t *f)
{
	oflow_t *of = (oflow_t *)f;

	if (of->req)
		of->d->ops->dgram_cancel(of->d, of->req);
	of->req = NULL;
	of_stop_timer(of);
	dgram_close(f->inner);
	dgram_hq_clear(&of->held);
	flows_active--;
	free(of);
}

static const dgram_ops_t of_ops = {"flow", of_send, of_close};

dgram_t *dgram_open(dialer_t *d, const dial_opts_t *o, uint64_t timeout_ms, const dgram_cbs_t *cbs,
                    void *data)
{
	oflow_t *of = calloc(1, sizeof(*of));

	if (!of)
		abort();
	dgram_init(&of->f, &of_ops, o->id);
	dgram_set_cbs(&of->f, cbs, data);
	of->d = d;
	flows_active++;
	flows_total++;
	of->timer = malloc(sizeof(*of->timer));
	if (!of->timer)
		abort();
	uv_timer_init(d->loop, of->timer);
	of->timer->data = of;
	if (chain_dgram_blocker(d))
		of->err = UV_ENOTSUP;
	else if (!(of->req = d->ops->dgram(d, o, of_opened, of)))
		of->err = UV_ENOMEM;
	/* a failure is reported from the timer, never from inside the call */
	if (of->err)
		uv_timer_start(of->timer, of_on_timer, 0, 0);
	else if (timeout_ms)
		uv_timer_start(of->timer, of_on_timer, timeout_ms, 0);
	return &of->f;
}

dgram_t *dgram_open_next(dialer_t *d, const dial_opts_t *o, const dgram_cbs_t *cbs, void *data)
{
	dial_opts_t o2 = *o;

	o2.acl = NULL;
	o2.cred = NULL;
	o2.why = NULL;
	return dgram_open(d->next, &o2, 0, cbs, data);
}
