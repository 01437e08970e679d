/* routing: the chains, groups and rules of a process, as one object.
 *
 *     routing_t
 *       chains     "default" (-F / forward:), each --chain / chains: entry,
 *                  and "direct"; each a dialer chain (core/dial.h) whose
 *                  hops may be groups (group://NAME, core/route/group.h)
 *       rules      the rule list (core/route/rules.h), every action bound
 *                  to a chain, direct or block
 *       router     a dialer that picks a chain per destination by the rules
 *
 * A listener names its chain with via=NAME and then always dials through
 * it; a listener without via= dials through the router when there are
 * rules, else through "default".  routing_dialer() gives either.
 *
 * The router, for a stream to host:port from a client:
 *   1. the rules that need no address decide (rules_match): a domain,
 *      suffix, glob or keyword rule for a name, a CIDR rule for an IP
 *      literal, port, client and network rules for both;
 *   2. when that sends a name direct or blocks it and a CIDR rule comes
 *      before it, the name is resolved here and the first such CIDR rule
 *      that holds one of its addresses decides; the connection then goes
 *      to that address (what the rule saw);
 *   3. a name the rules send through a chain is never resolved here: it
 *      goes to the chain as a name and the chain's last hop resolves it
 *      (remote DNS).
 * block fails the dial with UV_EACCES (SOCKS reply 2, HTTP 403) and the
 * rule in the reason.  A datagram flow through the router opens one flow
 * per chain its datagrams are routed to, on the first datagram there;
 * datagrams to a chain that cannot carry them, or blocked, are dropped and
 * counted (never sent around), and a name that needs resolving waits
 * (bounded) while it resolves.
 *
 * A reload builds a new routing with the current one as old: a chain whose
 * definition did not change (its hops, the groups it names, the files
 * their options name: chain_key) is the old one, shared, with its tunnel
 * sessions; the rest is built anew.
 *
 * Lifetime: routing_build() makes one from a configuration, checking
 * everything (an unknown chain in a rule is "FILE:LINE: no chain 'x'").
 * The process has one current routing (routing_install); a connection
 * takes a reference on it when it dials (conn.c) and drops it when it
 * closes, so a routing replaced by another (a reload) lives on until its
 * last connection ends.  The loop thread only.
 */
#ifndef SLUICE_ROUTING_H
#define SLUICE_ROUTING_H

#include "core/config.h"
#include "core/dial.h"
#include "core/route/rules.h"

typedef struct routing routing_t;

/* Everything of cfg that routing reads: forward (the default chain),
 * chains, groups, rules.  0, or -EINVAL and a message for the user. */
int routing_build(uv_loop_t *loop, const config_t *cfg, const routing_t *old, routing_t **out,
                  char *err, size_t errlen);
/* Start what runs by itself (the groups' probes), once the loop runs. */
void routing_start(routing_t *rt);

routing_t *routing_ref(routing_t *rt);
void routing_unref(routing_t *rt);
/* Make rt current (taking over the caller's reference); the previous one
 * is released.  NULL releases the current one. */
void routing_install(routing_t *rt);
routing_t *routing_current(void);

/* The dialer for a listener's via= (NULL: the rules, or "default" when
 * there are none); NULL when no chain has that name. */
dialer_t *routing_dialer(routing_t *rt, const char *via);
/* "default, corp, direct": the names via= may take. */
void routing_chain_names(const routing_t *rt, char *buf, size_t len);
/* Each chain (default first; not direct): its name, its hops as text
 * (no credentials) and its first dialer. */
typedef void (*routing_chain_fn)(void *ud, const char *name, const char *hops, dialer_t *head);
void routing_chains(const routing_t *rt, routing_chain_fn fn, void *ud);
/* The chains a dialer from routing_dialer() sends through: that chain,
 * or for the rules' router "default" and every chain a rule names; none
 * for direct. */
void routing_deps(const routing_t *rt, const dialer_t *d, routing_chain_fn fn, void *ud);
const rules_t *routing_rules(const routing_t *rt); /* NULL: none */
/* 1 when the rules' action a (RULE_NONE: no rule matched) reaches its
 * targets from this host: direct, or a chain without hops. */
int routing_action_is_direct(const routing_t *rt, uint32_t a);
size_t routing_nchains(const routing_t *rt); /* with default and direct */
/* For `sluice check`: each chain as "NAME: hop hop ...", and the groups. */
void routing_describe(const routing_t *rt, void (*line)(void *ud, const char *s), void *ud);

#endif
