/* engine.c - the packet path and the glue between the stages. */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>

#include <msnkit/visible.h>
#include <msnp/msnp.h>

#include "decode.h"
#include "defrag.h"
#include "dns.h"
#include "communityid.h"
#include "flow.h"
#include "invitation.h"
#include "reasm.h"
#include "report.h"
#include "session.h"
#include "strcopy.h"

/* Connections closed by their FINs are remembered a while: a segment on
 * the same addresses and ports after them is not a new connection seen
 * mid-stream but data its receiver drops (past its sender's FIN) or a
 * retransmission of what was read. */
#define CLOSED_KEEP 64
#define CLOSED_LINGER_US (60ull * 1000000u) /* Linux's TIME_WAIT */

/* How often idle flows and expectations are looked for (capture time). */
#define HOUSEKEEPING_US 1000000u

typedef struct sn_closed {
    sn_flow_key key;
    uint32_t fin_seq[2]; /* of each direction, as the flow's were */
    uint64_t flow, ts;
} sn_closed;

struct sn_engine {
    sn_ctx c;
    sn_decoder dec;
    sn_flow_table flows;
    sn_reasm reasm;
    sn_reporter reporter;
    uint64_t last_housekeeping;
    /* last_housekeeping + 1 s (UINT64_MAX past the clock's end): the
     * clock never goes back (advance), so none is due before it */
    uint64_t housekeeping_due;
    sn_closed closed[CLOSED_KEEP];
    unsigned closed_next;
    uint64_t fragments_seen, frag_timeouts_seen, frag_evicted_seen, frag_overlaps_seen; /* told so far */
    char run_hex[16]; /* the run id in hex: every flow's uid begins with it */
};

void sn_config_defaults(sn_config *c) {
    memset(c, 0, sizeof *c);
    c->memcap = 512ull * 1024 * 1024;
    c->flow_limit = 1024 * 1024;
    c->flow_timeout_us = 900ull * 1000000u;
    c->expect_timeout_us = 300ull * 1000000u; /* like nf_conntrack_ftp's 5 minutes */
    c->defrag = 1;
    c->anomaly_limit = 100;
    c->max_expect_per_user = SN_EXPECT_MAX_PER_USER;
    c->max_expect_per_session = SN_EXPECT_MAX_PER_SESSION;
}

/* ---- reassembly callbacks ------------------------------------------------- */

static size_t on_data(void *ctx, void *owner, int dir, const uint8_t *p, size_t n) {
    sn_engine *e = ctx;
    return sn_session_data(&e->c, &e->reasm, owner, dir, p, n);
}

static void on_gap(void *ctx, void *owner, int dir, uint64_t lost, size_t pending, sn_gap_why why) {
    sn_engine *e = ctx;
    sn_session_gap(&e->c, owner, dir, lost, pending, why);
}

static void on_overlap(void *ctx, void *owner, int dir, uint64_t offset, uint64_t len, uint64_t first_hash,
                       uint64_t second_hash, int second_kept) {
    sn_engine *e = ctx;
    sn_session_overlap(&e->c, owner, dir, offset, len, first_hash, second_hash, second_kept);
}

static const sn_reasm_ops reasm_ops = {on_data, on_gap, on_overlap};

/* The engine's own subscriber: counters and the referral table follow
 * the expectations. Registered first, so the others see the counts. */
static void glue_added(void *ctx, const sn_expect *x) {
    (void)x;
    ((sn_engine *)ctx)->c.st.expectations++;
}

static void glue_hit(void *ctx, const sn_expect *x, const sn_expect_hit_info *h) {
    (void)x;
    (void)h;
    ((sn_engine *)ctx)->c.st.hits++;
}

static void glue_expired(void *ctx, const sn_expect *x, sn_expect_end why) {
    (void)why;
    sn_engine *e = ctx;
    if (x->cookie_only) sn_sbref_release(&e->c, sn_strmap_del(&e->c.cookies, x->cookie, x->cookie_len));
    e->c.st.misses++;
}

static void glue_dropped(void *ctx, const sn_expect_proto *p, sn_expect_drop why) {
    (void)p;
    sn_engine *e = ctx;
    if (why == SN_DROP_USER_BOUND) e->c.st.expectations_dropped_user++;
    else if (why == SN_DROP_SESSION_BOUND) e->c.st.expectations_dropped_session++;
}

sn_engine *sn_engine_new(const sn_config *cfg) {
    sn_engine *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    if (cfg) e->c.cfg = *cfg;
    else sn_config_defaults(&e->c.cfg);
    sn_config *c = &e->c.cfg;
    e->housekeeping_due = HOUSEKEEPING_US;
    while (!c->run_id && getrandom(&c->run_id, sizeof c->run_id, 0) != (ssize_t)sizeof c->run_id) {
        /* interrupted before the entropy pool answered: ask again */
    }
    static const char hex[] = "0123456789abcdef";
    uint64_t run = c->run_id;
    for (int i = 15; i >= 0; i--, run >>= 4) e->run_hex[i] = hex[run & 15u];
    sn_memcap_init(&e->c.mem, c->memcap);
    sn_memcap_enable_reuse(&e->c.mem);
    sn_events_init(&e->c.ev);
    sn_observer glue = {.expect_added = glue_added,
                        .expect_hit = glue_hit,
                        .expect_expired = glue_expired,
                        .expect_dropped = glue_dropped,
                        .ctx = e};
    sn_observers_add(&e->c.obs, &glue);
    e->reporter.ev = &e->c.ev;
    e->reporter.clock = &e->c.now;
    sn_observer rep = sn_reporter_observer(&e->reporter);
    sn_observers_add(&e->c.obs, &rep);
    int ok = sn_expect_init(&e->c.expect, c->expect_timeout_us, c->max_expectations, &e->c.obs) == 0 &&
        sn_strmap_init(&e->c.cookies) == 0 && sn_invitations_init(&e->c) == 0 && sn_strmap_init(&e->c.dns) == 0 &&
        sn_strmap_init(&e->c.users) == 0 && sn_strmap_init(&e->c.conversations) == 0 &&
        sn_decoder_init(&e->dec, &e->c.mem, c->defrag, 30ull * 1000000u) == 0 &&
        sn_flow_table_init(&e->flows, &e->c.mem, c->max_flows) == 0;
    e->c.expect.max_per_user = c->max_expect_per_user;
    e->c.expect.max_per_session = c->max_expect_per_session;
    e->c.expect.check_resolved = sn_invitation_check_resolved;
    e->c.expect.check_resolved_ctx = &e->c;
    sn_reasm_init(&e->reasm, &e->c.mem, c->flow_limit, &reasm_ops, e);
    if (!ok) {
        sn_engine_free(e);
        return NULL;
    }
    return e;
}

sn_events *sn_engine_events(sn_engine *e) { return &e->c.ev; }
int sn_engine_observe(sn_engine *e, const sn_observer *o) { return sn_observers_add(&e->c.obs, o); }
const sn_expect_table *sn_engine_expectations(const sn_engine *e) { return &e->c.expect; }
const sn_stats *sn_engine_stats(const sn_engine *e) { return &e->c.st; }
const sn_memcap *sn_engine_memcap(const sn_engine *e) { return &e->c.mem; }
uint64_t sn_engine_run_id(const sn_engine *e) { return e->c.cfg.run_id; }

/* ---- flows ------------------------------------------------------------------- */

static const char *app_name(const sn_flow *f) {
    switch (f->app) {
    case SN_APP_MSNP: return "msnp";
    case SN_APP_MSNFTP: return "msnftp";
    case SN_APP_EXPECTED: return "expected";
    case SN_APP_OTHER: return "other";
    default: return "unknown";
    }
}

static void flow_event(sn_engine *e, sn_flow *f, const char *why, const char *role, const char *user) {
    sn_ctx *c = &e->c;
    int interesting = f->app == SN_APP_MSNP || f->app == SN_APP_MSNFTP || f->app == SN_APP_EXPECTED || f->expect_id;
    if (!interesting && !c->cfg.all_flows) return;
    sn_ev *ev = sn_ev_new(&c->ev, "flow", f->last_ts > c->now ? f->last_ts : c->now);
    sn_ev_set_int(ev, "flow", f->id);
    /* unique across runs: the run's random id and the flow's number in it */
    char uid[18 + SN_JB_INT_MAX];
    memcpy(uid, e->run_hex, 16);
    uid[16] = '-';
    sn_ev_set_strn(ev, "uid", uid, (size_t)(sn_jb_format_int(uid + 17, (int64_t)f->id) - uid));
    /* src is the client, also when the first packet seen was the server's */
    int cl = f->client_side, sv = !cl;
    sn_ev_set_community_id(ev, "community_id", &f->addr[cl], f->port[cl], &f->addr[sv], f->port[sv], f->proto);
    sn_ev_set_str(ev, "transport", f->proto == 6 ? "tcp" : "udp");
    sn_ev_set_addr(ev, "src", &f->addr[cl]);
    sn_ev_set_int(ev, "sport", f->port[cl]);
    sn_ev_set_addr(ev, "dst", &f->addr[sv]);
    sn_ev_set_int(ev, "dport", f->port[sv]);
    const char *name = sn_dns_name_of(c, &f->addr[sv]);
    if (name) sn_ev_set_str(ev, "dst_name", name);
    if (f->vlan[0]) sn_ev_set_int(ev, "vlan", f->vlan[0]);
    if (f->vlan[1]) sn_ev_set_int(ev, "vlan_inner", f->vlan[1]);
    sn_ev_set_str(ev, "app", app_name(f));
    sn_ev_set_str(ev, "role", role);
    sn_ev_set_str(ev, "user", user);
    sn_ev_set_ts(ev, "start", f->first_ts);
    sn_ev_set_ts(ev, "end", f->last_ts);
    sn_ev_set_int(ev, "packets_c2s", f->pkts[cl]);
    sn_ev_set_int(ev, "packets_s2c", f->pkts[sv]);
    sn_ev_set_int(ev, "bytes_c2s", f->bytes[cl]);
    sn_ev_set_int(ev, "bytes_s2c", f->bytes[sv]);
    sn_ev_set_int(ev, "gaps", f->st[0].gaps + f->st[1].gaps);
    sn_ev_set_int(ev, "gap_bytes", f->st[0].gap_bytes + f->st[1].gap_bytes);
    sn_ev_set_bool(ev, "midstream", f->midstream);
    if (f->expect_id) sn_ev_set_int(ev, "expectation", f->expect_id);
    else sn_ev_set_null(ev, "expectation");
    sn_ev_set_str(ev, "end_reason", why);
    sn_ev_emit(&c->ev, ev);
}

static void flow_close(sn_engine *e, sn_flow *f, const char *why) {
    if (f->proto == 6) {
        sn_reasm_flush(&e->reasm, f, &f->st[0], 0);
        sn_reasm_flush(&e->reasm, f, &f->st[1], 1);
    }
    /* the session goes first (its closing events precede the flow's), so
     * keep what the flow event needs from it */
    const char *role = sn_role_name(sn_session_role(f));
    char user[130]; /* a string: only what sn_strcopy writes is read */
    user[0] = '\0';
    if (sn_session_user(f)) sn_strcopy(user, sizeof user, sn_session_user(f));
    sn_session_close(&e->c, f, why);
    flow_event(e, f, why, role, user[0] ? user : NULL);
    if (f->proto == 6 && f->st[0].fin && f->st[1].fin && f->app != SN_APP_OTHER) {
        sn_closed *k = &e->closed[e->closed_next++ % CLOSED_KEEP];
        sn_flow_key_of(f, &k->key);
        k->fin_seq[0] = f->st[0].fin_seq;
        k->fin_seq[1] = f->st[1].fin_seq;
        k->flow = f->id;
        k->ts = e->c.now;
    }
    sn_stream_free(&e->reasm, &f->st[0]);
    sn_stream_free(&e->reasm, &f->st[1]);
    sn_flow_remove(&e->flows, f);
}

static void peak(uint64_t *p, uint64_t v) {
    if (v > *p) *p = v;
}

/* The tables outside the memcap, sampled for the summary. */
static void sample_tables(sn_engine *e) {
    sn_ctx *c = &e->c;
    peak(&c->st.peak_expectations, c->expect.peak); /* the table's own peak: it is bounded on every add */
    peak(&c->st.peak_invitations, sn_invitations_live(c));
    peak(&c->st.peak_sbrefs, c->cookies.count);
    peak(&c->st.peak_users, c->users.count);
    peak(&c->st.peak_dns, c->dns.count + c->dns_rev.count);
    peak(&c->st.peak_conversations, c->conversations.count);
    c->st.expectations_evicted = c->expect.evicted;
}

static void housekeeping(sn_engine *e, uint64_t now) {
    sample_tables(e);
    sn_expect_expire(&e->c.expect, now);
    sn_invitations_expire(&e->c, now);
    uint64_t idle = e->c.cfg.flow_timeout_us;
    /* bounded by the number of idle flows; each iteration removes one */
    for (sn_flow *f = sn_flow_oldest(&e->flows); f && idle && sn_ts_after(f->last_ts, idle) < now;
         f = sn_flow_oldest(&e->flows)) {
        e->c.st.flows_evicted++;
        flow_close(e, f, "idle");
    }
}

static void hit(sn_engine *e, sn_flow *f, sn_expect *x, const sn_packet *p, int matched_reverse) {
    sn_ctx *c = &e->c;
    f->expect_id = x->id;
    f->expect_group = x->group;
    if (f->app == SN_APP_UNKNOWN) f->app = SN_APP_EXPECTED;
    c->st.flows_expected++;
    if (x->invitation) sn_invitation_finish(c, x->cookie, x->invitation);
    sn_expect_hit_info h;
    memset(&h, 0, sizeof h);
    h.ts = c->now;
    h.flow = f->id;
    h.proto = p->proto;
    h.matched_by = p->proto == 6 ? ((p->tcp_flags & SN_TCP_SYN) ? "syn" : "midstream") : "udp";
    h.src = matched_reverse ? p->dst : p->src;
    h.sport = matched_reverse ? p->dport : p->sport;
    h.dst = matched_reverse ? p->src : p->dst;
    h.dport = matched_reverse ? p->sport : p->dport;
    sn_expect_hit(&c->expect, x, &h);
}

static sn_flow *new_flow(sn_engine *e, const sn_packet *p, int swap) {
    sn_flow *f = sn_flow_create(&e->flows, p, swap);
    if (!f && sn_flow_oldest(&e->flows)) {
        /* out of budget: the least recently seen flow makes room */
        e->c.st.flows_evicted++;
        e->c.st.flows_evicted_bound++;
        sn_anomaly_info a = sn_anomaly_make(SN_AN_MEMCAP, sn_flow_oldest(&e->flows)->id,
                                            "memcap reached: least recently seen flow closed to admit a new one");
        sn_anomaly_report(&e->c, &a);
        flow_close(e, sn_flow_oldest(&e->flows), "memcap");
        f = sn_flow_create(&e->flows, p, swap);
    }
    if (!f) {
        /* nothing to close (the budget cannot hold even this one flow):
         * said, counted and in the summary, never dropped in silence */
        e->c.st.packets_not_admitted++;
        sn_anomaly_info a = sn_anomaly_make(
            SN_AN_MEMCAP, 0, "memcap reached with no flow to close: a new flow's packet is not analyzed");
        sn_anomaly_report(&e->c, &a);
        return NULL;
    }
    if (e->c.cfg.max_flows && e->flows.count > e->c.cfg.max_flows && sn_flow_oldest(&e->flows) != f) {
        e->c.st.flows_evicted++;
        e->c.st.flows_evicted_bound++;
        flow_close(e, sn_flow_oldest(&e->flows), "max_flows");
    }
    e->c.st.flows++;
    return f;
}

static int is_server_port(uint16_t p) { return p == 1863 || (p >= MSNFTP_PORT_FIRST && p <= MSNFTP_PORT_LAST); }

/* A SYN (not a SYN-ACK) on a known flow may start a new connection on
 * the same addresses and ports when it is not a copy of the SYN the flow
 * began with and the connection was established (its peer acknowledged
 * the first SYN) or has carried data or a FIN: the port was reused (the
 * old connection's end may not have been captured). Before that it is
 * the same connection, tried again (sn_reasm_segment). */
static int tcp_reused(const sn_flow *f, int dir, const sn_packet *p) {
    const sn_stream *s = &f->st[dir];
    if (s->has_isn && s->isn == p->seq) return 0;
    return s->peer_ack_set || sn_stream_used(f->st);
}

/* The new connection of a pending reused SYN is real when its peer's
 * SYN-ACK acknowledges that SYN, or its sender goes on from it. Until
 * then the old connection goes on: its receiver answers a SYN on an
 * established connection with an ACK and keeps it (RFC 5961), so a forged
 * SYN must not end the flow and leave the old connection's bytes to a new
 * one that takes them for retransmissions. */
static int reuse_confirmed(const sn_flow *f, int dir, const sn_packet *p) {
    uint8_t fl = p->tcp_flags & (SN_TCP_SYN | SN_TCP_ACK | SN_TCP_RST);
    if (dir != f->reuse_dir) return fl == (SN_TCP_SYN | SN_TCP_ACK) && p->ack == f->reuse_isn + 1;
    return !(fl & (SN_TCP_SYN | SN_TCP_RST)) && p->seq == f->reuse_isn + 1;
}

/* How far from the next expected byte a RST may be and still be taken:
 * its receiver ignores one outside its receive window (RFC 793, 5961),
 * which is not tracked; this covers the windows of the time. */
#define RST_WINDOW (1u << 20)

/* Would the receiver take this RST? Without data of its sender (a refused
 * SYN, a flow not reassembled) there is nothing to hold it against. */
static int rst_acceptable(const sn_flow *f, int dir, const sn_packet *p) {
    const sn_stream *s = &f->st[dir];
    if (!s->started || f->app == SN_APP_OTHER) return 1;
    uint32_t next = s->next_seq;
    if (s->peer_ack_set && (int32_t)(s->peer_ack - next) > 0) next = s->peer_ack;
    int32_t d = (int32_t)(p->seq - next);
    return d >= -(int32_t)RST_WINDOW && d <= (int32_t)RST_WINDOW;
}

/* Data at or past the sequence number its sender's FIN took: its
 * receiver drops it (the sender said it would send no more), and so does
 * the analysis, which would otherwise read bytes the receiver never got
 * after a gap of one. A FIN sent again with data is left to reassembly.
 * A FIN the stream has not reached yet is held out of order by the
 * receiver, which drops it when data covering its sequence number comes:
 * that data is the stream's and the FIN is forgotten, as a forged FIN
 * ahead of the data must not silence the rest of the connection. */
static int data_after_fin(sn_flow *f, int dir, const sn_packet *p) {
    sn_stream *s = &f->st[dir];
    if (!s->fin || !(p->len + p->missing) || (p->tcp_flags & (SN_TCP_FIN | SN_TCP_SYN))) return 0;
    if ((int32_t)(p->seq + (uint32_t)(p->len + p->missing) - s->fin_seq) <= 0) return 0;
    if (s->next_seq != s->fin_seq && (int32_t)(p->seq - s->fin_seq) <= 0) {
        s->fin = 0;
        return 0;
    }
    return 1;
}

/* A segment with data and no flow, on a connection closed by its FINs
 * within CLOSED_LINGER_US: 1 if it is that connection's (past a FIN:
 * said; before: a retransmission), not to be taken as a new one. A new
 * connection's initial sequence number is far from the old one's. */
static int after_close(sn_engine *e, const sn_packet *p) {
    /* bounded by CLOSED_KEEP */
    for (unsigned i = 0; i < CLOSED_KEEP; i++) {
        sn_closed *k = &e->closed[i];
        int dir;
        if (!sn_flow_key_matches(&k->key, p, &dir) || e->c.now - k->ts > CLOSED_LINGER_US) continue;
        int32_t past = (int32_t)(p->seq + (uint32_t)(p->len + p->missing) - k->fin_seq[dir]);
        if (past > (int32_t)RST_WINDOW || past <= -(int32_t)RST_WINDOW) continue; /* another connection's */
        if (past > 0) {
            sn_anomaly_info a = sn_anomaly_make(SN_AN_DATA_AFTER_FIN, k->flow,
                                                "data after its sender's FIN, dropped as its receiver drops it");
            sn_anomaly_report(&e->c, &a);
        }
        return 1;
    }
    return 0;
}

/* The SYN of a new connection on a flow's addresses and ports, confirmed
 * by p: the old flow ends and the SYN is replayed into a flow of its own,
 * which is returned (NULL when it cannot be admitted) with *dir set for p.
 * Rare, and kept out of the per-packet path. */
__attribute__((noinline, cold)) static sn_flow *replay_reused_syn(sn_engine *e, sn_flow *f, int *dir,
                                                                  const sn_packet *p) {
    int from_sender = *dir == f->reuse_dir;
    sn_packet syn_again = *p;
    syn_again.tcp_flags = SN_TCP_SYN;
    syn_again.seq = f->reuse_isn;
    syn_again.ack = 0;
    syn_again.payload = NULL;
    syn_again.tcp = sn_tcp_made_up; /* its options are not known: nor are the windows */
    syn_again.len = syn_again.missing = 0;
    syn_again.wire_len = f->reuse_wire;
    syn_again.ts = f->reuse_ts;
    f->pkts[f->reuse_dir]--;
    f->bytes[f->reuse_dir] -= f->reuse_wire;
    flow_close(e, f, "reused");
    /* the SYN's sender is the new connection's client */
    f = new_flow(e, p, !from_sender);
    if (!f) return NULL;
    *dir = from_sender ? 0 : 1;
    f->syn_seen = 1;
    f->first_ts = syn_again.ts;
    f->pkts[0]++;
    f->bytes[0] += syn_again.wire_len;
    sn_reasm_segment(&e->reasm, f, f->st, 0, &syn_again);
    sn_expect *x = sn_expect_match(&e->c.expect, &f->addr[1], f->port[1], 6, e->c.now);
    if (x) hit(e, f, x, from_sender ? &syn_again : p, *dir == 1);
    return f;
}

/* Always inlined into sn_engine_packet, which is inlined into the program's
 * loop over packets (below): the whole per-packet path is then one
 * function, by design. Left to the compiler, whether this was inlined
 * flipped with unrelated growth elsewhere in the program, and out of line
 * it cost 4.3 M instructions on the 300-session benchmark capture. */
static inline __attribute__((always_inline)) void tcp_packet(sn_engine *e, const sn_packet *p) {
    int dir = 0;
    sn_flow *f = sn_flow_lookup(&e->flows, p, &dir);
    uint8_t fl = p->tcp_flags;
    if (f && (fl & (SN_TCP_SYN | SN_TCP_ACK | SN_TCP_RST)) == SN_TCP_SYN && tcp_reused(f, dir, p)) {
        /* counted with the old connection until its new one is confirmed */
        f->pkts[dir]++;
        f->bytes[dir] += p->wire_len;
        sn_flow_touch(&e->flows, f, e->c.now);
        f->reuse_pending = 1;
        f->reuse_dir = (uint8_t)dir;
        f->reuse_isn = p->seq;
        f->reuse_wire = p->wire_len;
        f->reuse_ts = p->ts;
        return;
    }
    if (f && f->reuse_pending && reuse_confirmed(f, dir, p)) {
        f = replay_reused_syn(e, f, &dir, p);
        if (!f) return;
    }
    if (!f) {
        int syn = (fl & SN_TCP_SYN) && !(fl & SN_TCP_ACK);
        int synack = (fl & SN_TCP_SYN) && (fl & SN_TCP_ACK);
        if (fl & SN_TCP_RST) return;
        if (!syn && !synack && p->len == 0) return; /* stray ACK/FIN of a flow we do not know (or just closed) */
        if (!syn && !synack && after_close(e, p)) return;
        int swap = synack || (!syn && is_server_port(p->sport) && !is_server_port(p->dport));
        sn_expect *x = NULL;
        if (!syn && !synack) {
            /* picked up mid-stream, its handshake lost: the first packet
             * may be the listener's, from the predicted address and port
             * (the exact port only, as for UDP), which makes it the server */
            const sn_addr *to = swap ? &p->src : &p->dst, *from = swap ? &p->dst : &p->src;
            uint16_t to_port = swap ? p->sport : p->dport, from_port = swap ? p->dport : p->sport;
            x = sn_expect_match(&e->c.expect, to, to_port, 6, e->c.now);
            if (!x && (x = sn_expect_match(&e->c.expect, from, from_port, 6, e->c.now)) != NULL) {
                if (x->port == 0) x = NULL;
                else swap = !swap;
            }
        }
        f = new_flow(e, p, swap);
        if (!f) return;
        dir = swap ? 1 : 0;
        f->syn_seen = (uint8_t)(syn || synack);
        if (!syn) f->midstream = (uint8_t)!synack;
        if (syn || synack) x = sn_expect_match(&e->c.expect, &f->addr[1], f->port[1], 6, e->c.now);
        if (x) hit(e, f, x, p, dir == 1);
    }
    f->pkts[dir]++;
    f->bytes[dir] += p->wire_len;
    /* the engine's time, not the packet's: a capture clock that stepped
     * back would date the flow's end before its start and have it evicted
     * as idle at once; the LRU list stays in time order */
    sn_flow_touch(&e->flows, f, e->c.now);
    if (f->app != SN_APP_OTHER) {
        /* A RST's payload is never delivered (its receiver resets the
         * connection or, out of window, drops the whole segment): read as
         * the stream's, it would be a command nobody got. */
        int rst_data = (fl & SN_TCP_RST) && (p->len || p->missing);
        /* Nor is a SYN's: a receiver without TCP Fast Open (every MSN
         * client and server) drops it and the sender sends it again after
         * the handshake, perhaps other bytes. One that took it acknowledges
         * it, and those bytes are then a gap like any acknowledged hole. */
        int syn_data = (fl & SN_TCP_SYN) && (p->len || p->missing);
        if (rst_data || syn_data || data_after_fin(f, dir, p)) {
            sn_anomaly_info a = rst_data
                ? sn_anomaly_make(SN_AN_RST_WITH_DATA, f->id, "data on a RST, dropped as its receiver drops it")
                : syn_data ? sn_anomaly_make(SN_AN_SYN_WITH_DATA, f->id,
                                             "data on a SYN, not read: a receiver without TCP Fast Open drops it")
                           : sn_anomaly_make(SN_AN_DATA_AFTER_FIN, f->id,
                                             "data after its sender's FIN, dropped as its receiver drops it");
            sn_anomaly_report(&e->c, &a);
            sn_packet bare = *p;         /* its acknowledgement still counts */
            bare.len = bare.missing = 0; /* (payload still ends the options: sn_tcp_wscale reads up to it) */
            sn_reasm_segment(&e->reasm, f, f->st, dir, &bare);
        } else {
            sn_reasm_segment(&e->reasm, f, f->st, dir, p);
        }
    }
    if (fl & SN_TCP_RST) {
        if (rst_acceptable(f, dir, p)) {
            f->rst = 1;
            flow_close(e, f, "rst");
            return;
        }
        sn_anomaly_info a = sn_anomaly_make(SN_AN_IGNORED_RST, f->id,
                                            "RST out of window, ignored as its receiver ignores it; the flow goes on");
        sn_anomaly_report(&e->c, &a);
    }
    if (f->app == SN_APP_OTHER) {
        /* not buffered: only the FIN bookkeeping matters */
        if (fl & SN_TCP_FIN) f->st[dir].done = 1;
    }
    if (f->st[0].done && f->st[1].done) flow_close(e, f, "fin");
}

static void udp_packet(sn_engine *e, const sn_packet *p) {
    sn_ctx *c = &e->c;
    if (p->sport == 53 || p->sport == 5353) sn_dns_observe(c, p->payload, p->len);
    int dir = 0;
    sn_flow *f = sn_flow_lookup(&e->flows, p, &dir);
    if (!f) {
        sn_expect *x = sn_expect_match(&c->expect, &p->dst, p->dport, 17, c->now);
        int reverse = 0;
        if (!x) {
            /* the listener may speak first (voice peers probe both ways);
             * only an exact address and port can tell that apart */
            x = sn_expect_match(&c->expect, &p->src, p->sport, 17, c->now);
            if (x && x->port == 0) x = NULL;
            reverse = x != NULL;
        }
        if (!x && !c->cfg.all_flows) return;
        f = new_flow(e, p, reverse);
        if (!f) return;
        dir = reverse;
        if (x) hit(e, f, x, p, reverse);
        else f->app = SN_APP_OTHER;
    }
    f->pkts[dir]++;
    f->bytes[dir] += p->wire_len;
    sn_flow_touch(&e->flows, f, c->now); /* the engine's time, as for TCP */
}

static inline void advance(sn_engine *e, uint64_t ts) {
    sn_ctx *c = &e->c;
    if (ts > c->now) c->now = ts; /* capture clocks can step back; ours does not */
    sn_expect_set_clock(&c->expect, c->now);
    if (c->now >= e->housekeeping_due && c->now - e->last_housekeeping >= HOUSEKEEPING_US) {
        housekeeping(e, c->now);
        e->last_housekeeping = c->now;
        e->housekeeping_due = c->now > UINT64_MAX - HOUSEKEEPING_US ? UINT64_MAX : c->now + HOUSEKEEPING_US;
    }
}

void sn_engine_tick(sn_engine *e, uint64_t now) { advance(e, now); }

const uint64_t *sn_engine_clock(const sn_engine *e) { return &e->c.now; }

void sn_engine_set_expect_timeout(sn_engine *e, uint64_t timeout_us) {
    e->c.cfg.expect_timeout_us = timeout_us;
    sn_expect_set_timeout(&e->c.expect, timeout_us);
}

/* A fragment differed from bytes of its datagram already held. */
static void frag_conflict(sn_engine *e) {
    sn_ctx *c = &e->c;
    c->st.overlap_conflicts++;
    sn_anomaly_info a = sn_anomaly_make(SN_AN_OVERLAP_CONFLICT, 0, e->dec.frag_conflict);
    a.has_overlap = 1;
    a.overlap_len = e->dec.frag_conflict_len;
    a.first_hash = e->dec.frag_conflict_first;
    a.second_hash = e->dec.frag_conflict_second;
    sn_anomaly_report(c, &a);
    e->dec.frag_conflict = NULL;
}

/* One fragment anomaly for each datagram of a kind dropped since the
 * last call: *told of them are told, `now` counted. */
static void frag_tell(sn_engine *e, uint64_t *told, uint64_t now, const char *detail) {
    for (; *told < now; (*told)++) {
        sn_anomaly_info a = sn_anomaly_make(SN_AN_FRAGMENT, 0, detail);
        sn_anomaly_report(&e->c, &a);
    }
}

/* Datagrams the defragmenter dropped while adding a fragment (incomplete,
 * or with overlapping fragments): their bytes never reach the analysis,
 * though the capture has some of them, so each is said (a TCP segment
 * among them is a gap later). */
static void frag_drops(sn_engine *e) {
    uint64_t timeouts, evicted, overlaps;
    unsigned held;
    e->fragments_seen = e->dec.fragments;
    if (!e->dec.defrag) return;
    sn_defrag_counts(e->dec.defrag, &timeouts, &evicted, &overlaps, &held);
    /* bounded by the table's 32 datagrams per fragment */
    frag_tell(e, &e->frag_timeouts_seen, timeouts,
              "incomplete IP datagram dropped: its last fragment did not come within 30 s");
    frag_tell(e, &e->frag_evicted_seen, evicted,
              "incomplete IP datagram dropped: the oldest of the 32 held, evicted to make room for another");
    frag_tell(e, &e->frag_overlaps_seen, overlaps,
              "IP datagram dropped: its fragments overlap, and the receiver (Linux, RFC 5722) drops such a "
              "datagram whole");
}

/* Always inlined, with link-time optimisation into the program's loop
 * over packets, for the reason given at tcp_packet: with that inlined here
 * this function is beyond what the compiler inlines by itself, and a call
 * per packet cost 5.5 M instructions on the same capture. An external
 * definition still (engine.h declares it without `inline`), for programs
 * built without link-time optimisation. */
#if defined(__clang__)
/* clang inlines always_inline functions without `inline`, and with it
 * warns (-Wstatic-in-inline) of the static functions this one calls;
 * GCC wants the keyword beside the attribute */
#define SN_PACKET_PATH __attribute__((always_inline))
#else
#define SN_PACKET_PATH __attribute__((always_inline)) inline
#endif
SN_PACKET_PATH void sn_engine_packet(sn_engine *e, int linktype, uint64_t ts, const uint8_t *data, size_t caplen,
                                     size_t wirelen) {
    sn_ctx *c = &e->c;
    c->frame++;
    c->st.packets++;
    c->st.bytes += wirelen;
    if (caplen < wirelen) { /* what is cut off becomes a gap in the stream */
        c->st.packets_truncated++;
        if (caplen > c->st.truncated_caplen) c->st.truncated_caplen = caplen;
    }
    advance(e, ts);
    sn_packet p;
    sn_decode_status st = sn_decode(&e->dec, linktype, data, caplen, wirelen, ts, &p);
    if (e->dec.fragments != e->fragments_seen) {
        /* a conflict is found only while a fragment is added, which counts it */
        if (e->dec.frag_conflict) frag_conflict(e);
        frag_drops(e);
    }
    if (st == SN_DECODE_MALFORMED) {
        c->st.decode_errors++;
        sn_anomaly_info a = sn_anomaly_make(SN_AN_MALFORMED_PACKET, 0, e->dec.error);
        a.has_caplen = 1;
        a.caplen = caplen;
        sn_anomaly_report(c, &a);
        return;
    }
    if (st == SN_DECODE_FRAGMENT) {
        c->st.non_ip++;
        sn_anomaly_info a = sn_anomaly_make(SN_AN_FRAGMENT, 0, e->dec.error);
        sn_anomaly_report(c, &a);
        return;
    }
    if (st == SN_DECODE_HELD) {
        c->st.fragments_held++;
        return;
    }
    if (st == SN_DECODE_SKIP) {
        c->st.non_ip++;
        return;
    }
    if (p.proto == 6) {
        c->st.tcp_packets++;
        tcp_packet(e, &p);
    } else if (p.proto == 17) {
        c->st.udp_packets++;
        udp_packet(e, &p);
    }
}

void sn_engine_finish(sn_engine *e) {
    sample_tables(e);
    /* bounded: each iteration removes one flow */
    while (sn_flow_oldest(&e->flows)) flow_close(e, sn_flow_oldest(&e->flows), "capture_end");
    sn_expect_expire(&e->c.expect, UINT64_MAX);
    sn_expect_expire(&e->c.expect, UINT64_MAX);
    e->c.st.expectations_evicted = e->c.expect.evicted;
}

static int free_ref(void *ctx, const char *key, void *val) {
    (void)ctx;
    (void)key;
    free(val);
    return 1;
}

void sn_engine_free(sn_engine *e) {
    if (!e) return;
    while (e->flows.buckets && sn_flow_oldest(&e->flows)) {
        sn_flow *f = sn_flow_oldest(&e->flows);
        sn_session_close(&e->c, f, NULL);
        sn_stream_free(&e->reasm, &f->st[0]);
        sn_stream_free(&e->reasm, &f->st[1]);
        sn_flow_remove(&e->flows, f);
    }
    sn_flow_table_free(&e->flows);
    sn_decoder_free(&e->dec);
    sn_expect_free(&e->c.expect);
    if (e->c.cookies.b) {
        sn_strmap_each(&e->c.cookies, free_ref, NULL);
        sn_strmap_free(&e->c.cookies, NULL);
    }
    sn_sbref_spares_free(&e->c);
    sn_invitations_free(&e->c);
    sn_dns_free(&e->c);
    sn_memcap_drain(&e->c.mem);
    if (e->c.users.b) sn_strmap_free(&e->c.users, free);                 /* emptied as the flows closed */
    if (e->c.conversations.b) sn_strmap_free(&e->c.conversations, NULL); /* emptied as the flows closed */
    sn_events_release(&e->c.ev);                                         /* last: closing flows above still emits */
    free(e);
}

void sn_engine_summary(const sn_engine *e, FILE *fp) {
    const sn_stats *s = &e->c.st;
    fprintf(fp, "msnsniff summary\n");
    fprintf(fp, "  packets: %llu (%llu bytes), decode errors %llu, not TCP/UDP %llu\n", (unsigned long long)s->packets,
            (unsigned long long)s->bytes, (unsigned long long)s->decode_errors, (unsigned long long)s->non_ip);
    if (s->packets_truncated)
        fprintf(fp, "  truncated: %llu packets cut short by the capture's snapshot length (%llu bytes kept)\n",
                (unsigned long long)s->packets_truncated, (unsigned long long)s->truncated_caplen);
    if (e->dec.wifi_protected || e->dec.wifi_bad_fcs)
        fprintf(fp,
                "  802.11: %llu data frames encrypted (their contents cannot be read), %llu damaged in the air "
                "(wrong FCS): not analysed\n",
                (unsigned long long)e->dec.wifi_protected, (unsigned long long)e->dec.wifi_bad_fcs);
    if (e->dec.fragments) {
        uint64_t timeouts = 0, evicted = 0, overlaps = 0;
        unsigned held = 0;
        if (e->dec.defrag) sn_defrag_counts(e->dec.defrag, &timeouts, &evicted, &overlaps, &held);
        fprintf(fp,
                "  fragments: %llu, datagrams reassembled %llu; incomplete datagrams dropped: %llu timed out, %llu "
                "evicted from the table of %d, %llu with overlapping fragments, %u held at the end; fragments "
                "rejected %llu\n",
                (unsigned long long)e->dec.fragments, (unsigned long long)e->dec.reassembled,
                (unsigned long long)timeouts, (unsigned long long)evicted, SN_DEFRAG_SLOTS,
                (unsigned long long)overlaps, held, (unsigned long long)e->dec.frag_dropped);
    }
    fprintf(fp, "  flows: %llu tracked; msnp %llu (ds %llu, ns %llu, sb %llu), msnftp %llu, predicted %llu\n",
            (unsigned long long)s->flows, (unsigned long long)s->flows_msnp, (unsigned long long)s->role_ds,
            (unsigned long long)s->role_ns, (unsigned long long)s->role_sb, (unsigned long long)s->flows_msnftp,
            (unsigned long long)s->flows_expected);
    fprintf(fp, "  logins: %llu ok, %llu failed\n", (unsigned long long)s->logins,
            (unsigned long long)s->login_failures);
    for (unsigned u = 0; u < e->c.nsummary_users; u++) {
        /* names from the capture: shown, never obeyed by the terminal */
        fputs("    ", fp);
        msnkit_put_visible(fp, e->c.summary_users[u].user, NULL);
        fputs(" (", fp);
        msnkit_put_visible(fp, e->c.summary_users[u].version, NULL);
        fputs(")\n", fp);
    }
    fprintf(fp, "  switchboard sessions: %llu, messages %llu, typing %llu, joins %llu", (unsigned long long)s->sessions,
            (unsigned long long)s->messages, (unsigned long long)s->typing, (unsigned long long)s->joins);
    /* what the server refused is neither a session nor a message delivered */
    if (s->sb_refused || s->messages_refused)
        fprintf(fp, "; refused by the server: logins %llu, messages %llu", (unsigned long long)s->sb_refused,
                (unsigned long long)s->messages_refused);
    fputc('\n', fp);
    fprintf(fp, "  invitations: %llu", (unsigned long long)s->invitations);
    for (unsigned k = 0; k < SN_APP_KINDS; k++)
        if (s->invitations_by_app[k])
            fprintf(fp, "%s %s %llu", k ? "," : ";", msnp_app_kind_name((msnp_app_kind)k),
                    (unsigned long long)s->invitations_by_app[k]);
    /* predicted = matched + missed + retired once the capture has ended
     * (every expectation still pending then is a miss) */
    fprintf(fp, "\n  connections: predicted %llu, matched %llu, missed %llu, retired %llu\n",
            (unsigned long long)s->expectations, (unsigned long long)s->hits, (unsigned long long)s->misses,
            (unsigned long long)e->c.expect.retired);
    fprintf(fp, "  files: %llu (%llu bytes)", (unsigned long long)s->files, (unsigned long long)s->file_bytes);
    if (s->files_not_carved) fprintf(fp, "; not carved whole %llu", (unsigned long long)s->files_not_carved);
    fputc('\n', fp);
    fprintf(fp, "  gaps: %llu (%llu bytes), parse errors %llu, anomalies %llu", (unsigned long long)s->gaps,
            (unsigned long long)s->gap_bytes, (unsigned long long)s->parse_errors, (unsigned long long)s->anomalies);
    /* dropped without a gap (garbage or a forged far sequence number):
     * counted, so that a run that lost them says so */
    if (e->reasm.out_of_window)
        fprintf(fp, "; segments dropped more than 64 MB ahead of their stream %llu",
                (unsigned long long)e->reasm.out_of_window);
    fputc('\n', fp);
    fprintf(fp,
            "  memory: peak %llu bytes of memcap %llu; packets of flows it could not admit %llu; flows closed "
            "before their idle timeout to admit others (--memcap, --max-flows) %llu\n",
            (unsigned long long)e->c.mem.peak, (unsigned long long)e->c.mem.limit,
            (unsigned long long)s->packets_not_admitted, (unsigned long long)s->flows_evicted_bound);
    fprintf(fp,
            "  tables (most held at once): expectations %llu, invitations %llu, referrals %llu, users online %llu, "
            "dns %llu, conversations %llu\n",
            (unsigned long long)s->peak_expectations, (unsigned long long)s->peak_invitations,
            (unsigned long long)s->peak_sbrefs, (unsigned long long)s->peak_users, (unsigned long long)s->peak_dns,
            (unsigned long long)s->peak_conversations);
    fprintf(fp,
            "  dropped by table bounds: expectations %llu, invitations %llu, referrals %llu, users %llu, dns %llu; "
            "predictions refused per user %llu, per session %llu\n",
            (unsigned long long)s->expectations_evicted, (unsigned long long)s->invitations_dropped,
            (unsigned long long)s->sbrefs_dropped, (unsigned long long)s->users_untracked,
            (unsigned long long)s->dns_dropped, (unsigned long long)s->expectations_dropped_user,
            (unsigned long long)s->expectations_dropped_session);
    fprintf(fp,
            "  announced addresses: forged %llu, nat %llu, pinholes refused %llu; overlap conflicts %llu, "
            "invitations in header blocks %llu\n",
            (unsigned long long)s->announced_forged, (unsigned long long)s->announced_nat,
            (unsigned long long)s->pinholes_refused, (unsigned long long)s->overlap_conflicts,
            (unsigned long long)s->invitations_in_header);
}
