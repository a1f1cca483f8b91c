/* nftout.c - nftables script from the typed expectation events. */
#include "nftout.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
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
    else if (fwrite(line, 1, k, n->fp) != k && !n->err) n->err = errno ? errno : EIO; /* stdio drops it */
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

/* What happens to x's elements. */
typedef enum { EL_ADD, EL_DELETE, EL_FORGET } el_op;

/* x's elements are in the sets: it had an address when it was announced
 * or when the name was answered, and the policy let it open. */
static int printed(const sn_expect *x) { return x->addr.family && !(x->flags & SN_XF_NO_PINHOLE); }

/* One more (+1) or one less (-1) prediction holding the element `key`:
 * how many hold it now; -1 when it was not counted, or memory ran out (a
 * new element is then added anyway and never deleted: it times out). */
static long hold(sn_nft_out *n, const char *key, size_t len, int delta) {
    if (!n->held_ready) {
        if (sn_strmap_init(&n->held) != 0) return -1;
        n->held_ready = 1;
    }
    void **slot = sn_strmap_ref(&n->held, key, len, delta > 0);
    if (!slot) return -1; /* not held (never counted), or no memory */
    long count = (long)(uintptr_t)*slot + delta;
    if (count > 0) *slot = (void *)(uintptr_t)count;
    else sn_strmap_del(&n->held, key, len);
    return count;
}

/* Adds x's elements, timing out `timeout` seconds from now; deletes them
 * when x was the last to hold them; or only counts x out (its time ran
 * out, so the kernel removed them, or it was hit: the connection is made
 * and its element lives out its timeout). */
static void elements(sn_nft_out *n, const sn_expect *x, el_op op, long long timeout, const char *why) {
    if (!x->addr.family) return; /* host names cannot go into a set until resolved */
    header(n);
    if (x->flags & SN_XF_NO_PINHOLE) {
        if (op != EL_ADD) return;
        out(n, "# not opened: %s announced by %s (%s) cookie %s\n", x->host, x->owner[0] ? x->owner : "?",
            (x->flags & SN_XF_FORGED)    ? "forged"
                : (x->flags & SN_XF_NAT) ? "nat"
                                         : "unchecked",
            x->cookie);
        return;
    }
    if (timeout <= 0) timeout = 1;
    /* nft takes a number of seconds of at most 8 digits ("value too
     * large" from 100000000s on, about 3 years, which --expect-timeout
     * allows): a longer one is written in days and seconds */
    char tmo[48];
    if (timeout > 99999999) snprintf(tmo, sizeof tmo, "%lldd%llds", timeout / 86400, timeout % 86400);
    else snprintf(tmo, sizeof tmo, "%llds", timeout);
    char a[SN_ADDR_STRLEN];
    sn_addr_str(&x->addr, a);
    const char *set6 = x->addr.family == 6 ? "6" : "4";
    static const char *const protos[2] = {"tcp", "udp"};
    static const uint8_t numbers[2] = {SN_TR_TCP, SN_TR_UDP};
    for (int i = 0; i < 2; i++) {
        if (x->transport != SN_TR_ANY && x->transport != numbers[i]) continue;
        /* the set and the element's value: the key of its count */
        char key[SN_ADDR_STRLEN + 32];
        int klen = x->port ? snprintf(key, sizeof key, "msn%s { %s . %s . %u", set6, a, protos[i], (unsigned)x->port)
                           : snprintf(key, sizeof key, "msn%sany { %s . %s", set6, a, protos[i]);
        if (klen < 0 || (size_t)klen >= sizeof key) continue;
        long held = hold(n, key, (size_t)klen, op == EL_ADD ? 1 : -1);
        if (op == EL_ADD)
            out(n, "add element %s %s %s timeout %s } # %s cookie %s\n", n->family, n->table, key, tmo, x->app,
                x->cookie);
        else if (op == EL_DELETE && held == 0)
            out(n, "delete element %s %s %s } # %s cookie %s %s\n", n->family, n->table, key, x->app, x->cookie, why);
    }
    if (n->flush_each && !n->q && fflush(n->fp) != 0 && !n->err) n->err = errno;
}

static void on_added(void *ctx, const sn_expect *x) {
    elements(ctx, x, EL_ADD, (long long)((x->expires - x->learned) / 1000000u), NULL);
}

/* A name answered later: the element gets what is left of the timeout. */
static void on_resolved(void *ctx, const sn_expect *x) {
    sn_nft_out *n = ctx;
    uint64_t now = n->clock ? *n->clock : x->learned;
    elements(n, x, EL_ADD, x->expires > now ? (long long)((x->expires - now) / 1000000u) : 0, NULL);
}

static void on_hit(void *ctx, const sn_expect *x, const sn_expect_hit_info *h) {
    (void)h;
    if (printed(x)) elements(ctx, x, EL_FORGET, 0, NULL);
}

/* Withdrawn (a CANCEL, a sibling's hit, a refused invitation message, or
 * announced again under a new id): the pinhole closes, as msngate's do. */
static void on_retired(void *ctx, const sn_expect *x, sn_expect_end why) {
    if (printed(x)) elements(ctx, x, EL_DELETE, 0, sn_expect_end_name(why));
}

/* Evicted by the global bound: nothing follows it any more, so it closes
 * (as in msngate). Its timeout passed: the kernel removed the element.
 * The capture ended: the script keeps what was still expected. */
static void on_expired(void *ctx, const sn_expect *x, sn_expect_end why) {
    if (!printed(x) || why == SN_END_INPUT_END) return;
    elements(ctx, x, why == SN_END_EVICTED ? EL_DELETE : EL_FORGET, 0, sn_expect_end_name(why));
}

void sn_nft_out_free(sn_nft_out *n) {
    if (n->held_ready) sn_strmap_free(&n->held, NULL);
    n->held_ready = 0;
}

sn_observer sn_nft_observer(sn_nft_out *n) {
    sn_observer o = {0};
    o.expect_added = on_added;
    o.expect_resolved = on_resolved;
    o.expect_hit = on_hit;
    o.expect_retired = on_retired;
    o.expect_expired = on_expired;
    o.ctx = n;
    return o;
}
