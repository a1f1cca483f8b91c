/* nftout.c - nftables script from the typed expectation events. */
#include "nftout.h"

#include <stdarg.h>
#include <string.h>

#include "expect.h"

static void out(sn_nft_out *n, const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (len < 0) return;
    size_t k = (size_t)len < sizeof line ? (size_t)len : sizeof line - 1;
    if (n->q) sn_outq_write(n->q, line, k);
    else fwrite(line, 1, k, n->fp);
}

static void header(sn_nft_out *n) {
    if (n->header_done) return;
    /* one table, two sets per family; elements time out like the expectation */
    const char *f = n->family, *t = n->table;
    out(n, "add table %s %s\n", f, t);
    out(n, "add set %s %s msn4 { type ipv4_addr . inet_proto . inet_service; flags timeout; }\n", f, t);
    out(n, "add set %s %s msn4any { type ipv4_addr . inet_proto; flags timeout; }\n", f, t);
    out(n, "add set %s %s msn6 { type ipv6_addr . inet_proto . inet_service; flags timeout; }\n", f, t);
    out(n, "add set %s %s msn6any { type ipv6_addr . inet_proto; flags timeout; }\n", f, t);
    out(n, "add chain %s %s forward { type filter hook forward priority -1; policy accept; }\n", f, t);
    out(n, "add rule %s %s forward ct state new ip daddr . meta l4proto . th dport @msn4 accept\n", f, t);
    out(n, "add rule %s %s forward ct state new ip daddr . meta l4proto @msn4any accept\n", f, t);
    out(n, "add rule %s %s forward ct state new ip6 daddr . meta l4proto . th dport @msn6 accept\n", f, t);
    out(n, "add rule %s %s forward ct state new ip6 daddr . meta l4proto @msn6any accept\n", f, t);
    n->header_done = 1;
}

/* Elements for x, timing out `timeout` seconds from now. */
static void element(sn_nft_out *n, const sn_expect *x, long long timeout) {
    if (!x->addr.family) return; /* host names cannot go into a set until resolved */
    header(n);
    if (x->flags & SN_XF_NO_PINHOLE) {
        out(n, "# not opened: %s announced by %s (%s) cookie %s\n", x->host, x->owner[0] ? x->owner : "?",
            (x->flags & SN_XF_FORGED)    ? "forged"
                : (x->flags & SN_XF_NAT) ? "nat"
                                         : "unchecked",
            x->cookie);
        return;
    }
    if (timeout <= 0) timeout = 1;
    char a[SN_ADDR_STRLEN];
    sn_addr_str(&x->addr, a);
    const char *set6 = x->addr.family == 6 ? "6" : "4";
    static const char *const protos[2] = {"tcp", "udp"};
    static const uint8_t numbers[2] = {SN_TR_TCP, SN_TR_UDP};
    for (int i = 0; i < 2; i++) {
        if (x->transport != SN_TR_ANY && x->transport != numbers[i]) continue;
        if (x->port)
            out(n, "add element %s %s msn%s { %s . %s . %u timeout %llds } # %s cookie %s\n", n->family, n->table, set6,
                a, protos[i], (unsigned)x->port, timeout, x->app, x->cookie);
        else
            out(n, "add element %s %s msn%sany { %s . %s timeout %llds } # %s cookie %s\n", n->family, n->table, set6,
                a, protos[i], timeout, x->app, x->cookie);
    }
    if (n->flush_each && !n->q) fflush(n->fp);
}

static void on_added(void *ctx, const sn_expect *x) {
    element(ctx, x, (long long)((x->expires - x->learned) / 1000000u));
}

/* A name answered later: the element gets what is left of the timeout. */
static void on_resolved(void *ctx, const sn_expect *x) {
    sn_nft_out *n = ctx;
    uint64_t now = n->clock ? *n->clock : x->learned;
    element(n, x, x->expires > now ? (long long)((x->expires - now) / 1000000u) : 0);
}

sn_observer sn_nft_observer(sn_nft_out *n) {
    sn_observer o = {0};
    o.expect_added = on_added;
    o.expect_resolved = on_resolved;
    o.ctx = n;
    return o;
}
