/* report.c - typed events as JSON records. */
#include "report.h"

#include "expect.h"

static void port_field(sn_ev *ev, uint16_t port) {
    if (port) sn_ev_set_int(ev, "port", port);
    else sn_ev_set_str(ev, "port", "any");
}

/* Fields only present when the origin check flagged the address, so
 * records of verified predictions keep their form. */
static void origin_fields(sn_ev *ev, const sn_expect *x) {
    if (x->flags & (SN_XF_FORGED | SN_XF_NAT))
        sn_ev_set_str(ev, "origin", (x->flags & SN_XF_FORGED) ? "forged" : "nat");
    if (x->flags & SN_XF_NO_PINHOLE) sn_ev_set_bool(ev, "pinhole", 0);
}

static void on_added(void *ctx, const sn_expect *e) {
    sn_reporter *r = ctx;
    sn_ev *ev = sn_ev_new(r->ev, "expectation", e->learned);
    if (!ev) return;
    sn_ev_set_int(ev, "id", e->id);
    sn_ev_set_str(ev, "app", e->app);
    sn_ev_set_str(ev, "transport", sn_transport_name(e->transport));
    sn_ev_set_strn(ev, "address", e->host, e->host_len);
    if (e->addr.family) {
        sn_ev_set_addr(ev, "resolved", &e->addr);
    } else {
        sn_ev_set_null(ev, "resolved");
    }
    port_field(ev, e->port);
    sn_ev_set_strn(ev, "cookie", e->cookie, e->cookie_len);
    if (e->invitation) sn_ev_set_int(ev, "invitation", e->invitation);
    sn_ev_set_strn(ev, "from", e->from_len ? e->from : NULL, e->from_len);
    sn_ev_set_strn(ev, "to", e->to_len ? e->to : NULL, e->to_len);
    sn_ev_set_str(ev, "source", e->source);
    sn_ev_set_int(ev, "learned_flow", e->learned_flow);
    sn_ev_set_ts(ev, "expires", e->expires);
    sn_ev_set_int(ev, "timeout_s", (e->expires - e->learned) / 1000000u);
    if (e->replaces) sn_ev_set_int(ev, "replaces", e->replaces);
    origin_fields(ev, e);
    sn_ev_emit(r->ev, ev);
}

static void on_hit(void *ctx, const sn_expect *x, const sn_expect_hit_info *h) {
    sn_reporter *r = ctx;
    sn_ev *ev = sn_ev_new(r->ev, "expectation_hit", h->ts);
    if (!ev) return;
    sn_ev_set_int(ev, "flow", h->flow);
    sn_ev_set_int(ev, "id", x->id);
    sn_ev_set_str(ev, "app", x->app);
    if (h->by_cookie) {
        /* a switchboard login: the cookie, not the address, matched */
        sn_ev_set_str(ev, "transport", "tcp");
        sn_ev_set_strn(ev, "address", x->host, x->host_len);
        sn_ev_set_int(ev, "port", x->port);
        sn_ev_set_strn(ev, "cookie", x->cookie, x->cookie_len);
        sn_ev_set_str(ev, "matched_by", "cookie");
        sn_ev_set_str(ev, "server", h->server);
        sn_ev_set_bool(ev, "address_matches", h->address_matches);
        sn_ev_set_int(ev, "delay_us", h->ts - x->learned);
        sn_ev_emit(r->ev, ev);
        return;
    }
    sn_ev_set_str(ev, "transport", h->proto == 6 ? "tcp" : "udp");
    sn_ev_set_strn(ev, "address", x->host, x->host_len);
    port_field(ev, x->port);
    sn_ev_set_strn(ev, "cookie", x->cookie, x->cookie_len);
    if (x->invitation) sn_ev_set_int(ev, "invitation", x->invitation);
    sn_ev_set_addr(ev, "src", &h->src);
    sn_ev_set_int(ev, "sport", h->sport);
    sn_ev_set_addr(ev, "dst", &h->dst);
    sn_ev_set_int(ev, "dport", h->dport);
    sn_ev_set_str(ev, "matched_by", h->matched_by);
    sn_ev_set_strn(ev, "from", x->from_len ? x->from : NULL, x->from_len);
    sn_ev_set_strn(ev, "to", x->to_len ? x->to : NULL, x->to_len);
    sn_ev_set_int(ev, "delay_us", h->ts - x->learned);
    sn_ev_emit(r->ev, ev);
}

static void on_expired(void *ctx, const sn_expect *x, sn_expect_end why) {
    sn_reporter *r = ctx;
    sn_ev *ev = sn_ev_new(r->ev, "expectation_miss", *r->clock);
    if (!ev) return;
    sn_ev_set_int(ev, "id", x->id);
    sn_ev_set_str(ev, "app", x->app);
    sn_ev_set_str(ev, "transport", sn_transport_name(x->transport));
    sn_ev_set_strn(ev, "address", x->host, x->host_len);
    port_field(ev, x->port);
    sn_ev_set_strn(ev, "cookie", x->cookie, x->cookie_len);
    if (x->invitation) sn_ev_set_int(ev, "invitation", x->invitation);
    sn_ev_set_str(ev, "reason", sn_expect_end_name(why));
    sn_ev_emit(r->ev, ev);
}

static void on_dropped(void *ctx, const sn_expect_proto *p, sn_expect_drop why) {
    sn_reporter *r = ctx;
    sn_ev *ev = sn_ev_new(r->ev, "expectation_dropped", *r->clock);
    if (!ev) return;
    sn_ev_set_str(ev, "app", p->app);
    sn_ev_set_str(ev, "transport", sn_transport_name(p->transport));
    /* as sn_expect_add would have kept them */
    size_t hl = p->host_len < SN_EXPECT_HOST_MAX ? p->host_len : SN_EXPECT_HOST_MAX - 1;
    sn_ev_set_strn(ev, "address", p->host, hl);
    port_field(ev, p->port);
    sn_ev_set_strn(ev, "cookie", p->cookie ? p->cookie : "", p->cookie_len);
    if (p->invitation) sn_ev_set_int(ev, "invitation", p->invitation);
    if (p->session) sn_ev_set_int(ev, "session", p->session);
    size_t on = p->owner_is_to ? p->to_len : p->from_len;
    if (on >= SN_EXPECT_USER_MAX) on = SN_EXPECT_USER_MAX - 1;
    sn_ev_set_strn(ev, "user", on ? (p->owner_is_to ? p->to : p->from) : NULL, on);
    sn_ev_set_str(ev, "source", p->source);
    sn_ev_set_int(ev, "learned_flow", p->learned_flow);
    sn_ev_set_str(ev, "reason", sn_expect_drop_name(why));
    sn_ev_emit(r->ev, ev);
}

static void hex64(uint64_t v, char out[17]) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        out[i] = digits[v & 15u];
        v >>= 4;
    }
    out[16] = '\0';
}

static void on_anomaly(void *ctx, const sn_anomaly_info *a) {
    sn_reporter *r = ctx;
    sn_ev *ev = sn_ev_new(r->ev, "anomaly", a->ts);
    if (!ev) return;
    sn_ev_set_str(ev, "kind", sn_anomaly_name(a->kind));
    if (a->flow) sn_ev_set_int(ev, "flow", a->flow);
    sn_ev_set_int(ev, "frame", a->frame);
    sn_ev_set_str(ev, "detail", a->detail);
    if (a->limit_reached) sn_ev_set_bool(ev, "limit_reached", 1);
    if (a->has_caplen) sn_ev_set_int(ev, "caplen", a->caplen);
    if (a->direction >= 0) sn_ev_set_str(ev, "direction", a->direction == 0 ? "client" : "server");
    if (a->has_offset) sn_ev_set_int(ev, "offset", a->offset);
    if (a->has_lost) {
        sn_ev_set_int(ev, "lost", a->lost);
        sn_ev_set_int(ev, "dropped_pending", a->dropped_pending);
    }
    if (a->has_overlap) {
        char h[17];
        sn_ev_set_int(ev, "length", a->overlap_len);
        hex64(a->first_hash, h);
        sn_ev_set_str(ev, "first_fnv1a64", h);
        hex64(a->second_hash, h);
        sn_ev_set_str(ev, "second_fnv1a64", h);
    }
    if (a->cookie) sn_ev_set_str(ev, "cookie", a->cookie);
    sn_ev_emit(r->ev, ev);
}

sn_observer sn_reporter_observer(sn_reporter *r) {
    sn_observer o = {0};
    o.expect_added = on_added;
    o.expect_hit = on_hit;
    o.expect_expired = on_expired;
    o.expect_dropped = on_dropped;
    o.anomaly = on_anomaly;
    o.ctx = r;
    return o;
}
