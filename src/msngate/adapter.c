/* adapter.c - engine observer -> pinholes. */
#include "adapter.h"

#include <string.h>

#include "expect.h"
#include "observer.h"

static void open_hole(gate_adapter *a, const sn_expect *x, int ingress) {
    gate_prediction pr;
    memset(&pr, 0, sizeof pr);
    pr.id = x->id;
    pr.invitation = x->invitation;
    pr.app = x->app;
    pr.addr = x->addr;
    pr.port = x->port;
    pr.transport = x->transport;
    pr.timeout_ms = x->expires > x->learned ? (x->expires - x->learned) / 1000u : 1;
    pr.forged = (x->flags & SN_XF_FORGED) != 0;
    pr.nat = (x->flags & SN_XF_NAT) != 0;
    pr.unchecked = (x->flags & SN_XF_UNCHECKED) != 0;
    pr.receiver = x->receiver;
    pr.referral = x->app && strcmp(x->app, "switchboard") == 0;
    pr.ingress = ingress;
    pinholes_predicted(a->holes, &pr, a->arrival_us);
}

static void on_added(void *ctx, const sn_expect *x) {
    gate_adapter *a = ctx;
    open_hole(a, x, a->ingress);
}

static void on_resolved(void *ctx, const sn_expect *x) {
    gate_adapter *a = ctx;
    a->st->predictions--; /* the same prediction, now with an address */
    open_hole(a, x, 0);   /* resolved by a DNS answer: the announcement's own ingress is not known here */
}

static void on_hit(void *ctx, const sn_expect *x, const sn_expect_hit_info *h) {
    (void)h;
    gate_adapter *a = ctx;
    pinholes_hit(a->holes, x->id, x->invitation);
}

static void on_retired(void *ctx, const sn_expect *x, sn_expect_end why) {
    (void)why; /* cancelled, or a sibling was hit: closed either way */
    gate_adapter *a = ctx;
    pinholes_withdrawn(a->holes, x->id);
}

static void on_expired(void *ctx, const sn_expect *x, sn_expect_end why) {
    gate_adapter *a = ctx;
    /* expired: the kernel's timeout (the same) removed the element; the
     * pinhole table forgets it on its own. Evicted early: close now. */
    if (why != SN_END_EXPIRED) pinholes_withdrawn(a->holes, x->id);
    else pinholes_prediction_expired(a->holes, x->id);
}

static void on_dropped(void *ctx, const sn_expect_proto *p, sn_expect_drop why) {
    (void)p;
    (void)why;
    gate_adapter *a = ctx;
    a->st->dropped_by_analyzer++;
}

int gate_adapter_attach(gate_adapter *a, sn_engine *e) {
    sn_observer o;
    memset(&o, 0, sizeof o);
    o.expect_added = on_added;
    o.expect_resolved = on_resolved;
    o.expect_hit = on_hit;
    o.expect_retired = on_retired;
    o.expect_expired = on_expired;
    o.expect_dropped = on_dropped;
    o.ctx = a;
    return sn_engine_observe(e, &o);
}
