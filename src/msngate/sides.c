/* sides.c - the gateway's side of an address, from its routing table
 * (sides.h). One RTM_GETROUTE question per address, asked with
 * RTM_F_FIB_MATCH so that the answer is the route that matched (its
 * prefix length tells a default route apart), not a host route made up
 * for the question. The questions come with predictions an outsider made,
 * a few per invitation: no cache. */
#include "sides.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

/* Reverse-path answers, kept a short while: the check is asked for every
 * packet, the routing table changes seldom. Direct-mapped: a flood of
 * sources overwrites slots, it does not grow anything. */
#define GATE_RP_SLOTS 4096u
#define GATE_RP_TTL_MS 1000u

typedef struct rp_slot {
    sn_addr src;
    int ifindex;
    uint64_t at_ms;
    uint8_t valid, ok;
} rp_slot;

struct gate_sides {
    struct mnl_socket *nl;
    unsigned portid, seq;
    int broken;   /* the socket could not be opened: every answer is "not known" */
    int loopback; /* ifindex of lo */
    rp_slot rp[GATE_RP_SLOTS];
};

gate_sides *gate_sides_new(void) {
    gate_sides *s = calloc(1, sizeof(gate_sides));
    if (s) s->loopback = (int)if_nametoindex("lo");
    return s;
}

void gate_sides_free(gate_sides *s) {
    if (!s) return;
    if (s->nl) mnl_socket_close(s->nl);
    free(s);
}

static int ready(gate_sides *s) {
    if (s->nl) return 1;
    if (s->broken) return 0;
    s->nl = mnl_socket_open(NETLINK_ROUTE);
    if (!s->nl || mnl_socket_bind(s->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        if (s->nl) mnl_socket_close(s->nl);
        s->nl = NULL;
        s->broken = 1;
        return 0;
    }
    s->portid = mnl_socket_get_portid(s->nl);
    /* the kernel answers at once; a bound on the wait all the same, since
     * the packet path waits for it */
    struct timeval tv = {.tv_sec = 1};
    setsockopt(mnl_socket_get_fd(s->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return 1;
}

typedef struct answer {
    int oif;      /* 0: none (multipath routes and the like are not judged) */
    int dst_len;  /* the matched route's prefix length */
    int type;     /* RTN_* */
    int complete; /* the answer for our question arrived */
} answer;

static int on_attr(const struct nlattr *a, void *data) {
    answer *ans = data;
    if (mnl_attr_get_type(a) == RTA_OIF && mnl_attr_validate(a, MNL_TYPE_U32) >= 0) ans->oif = (int)mnl_attr_get_u32(a);
    return MNL_CB_OK;
}

static int on_msg(const struct nlmsghdr *h, void *data) {
    answer *ans = data;
    if (h->nlmsg_type != RTM_NEWROUTE || mnl_nlmsg_get_payload_len(h) < sizeof(struct rtmsg)) return MNL_CB_OK;
    const struct rtmsg *rt = mnl_nlmsg_get_payload(h);
    ans->dst_len = rt->rtm_dst_len;
    ans->type = rt->rtm_type;
    ans->complete = 1;
    mnl_attr_parse(h, sizeof *rt, on_attr, ans);
    return MNL_CB_OK;
}

/* The route the gateway would send a out by: 0 with *ans filled, or -1
 * (no route: ENETUNREACH, EHOSTUNREACH; or the table cannot be read, with
 * *unreadable set). */
static int lookup(gate_sides *s, const sn_addr *a, answer *ans, int *unreadable) {
    *unreadable = 0;
    if (!ready(s)) {
        *unreadable = 1;
        return -1;
    }
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *h = mnl_nlmsg_put_header(buf);
    h->nlmsg_type = RTM_GETROUTE;
    h->nlmsg_flags = NLM_F_REQUEST;
    h->nlmsg_seq = ++s->seq;
    struct rtmsg *rt = mnl_nlmsg_put_extra_header(h, sizeof *rt);
    int v4 = a->family == 4;
    rt->rtm_family = v4 ? AF_INET : AF_INET6;
    rt->rtm_dst_len = v4 ? 32 : 128;
    rt->rtm_flags = RTM_F_FIB_MATCH;
    mnl_attr_put(h, RTA_DST, v4 ? 4 : 16, a->b);
    if (mnl_socket_sendto(s->nl, h, h->nlmsg_len) < 0) {
        *unreadable = 1;
        return -1;
    }
    memset(ans, 0, sizeof *ans);
    for (;;) { /* bounded: the receive times out, and stale answers run out */
        ssize_t n = mnl_socket_recvfrom(s->nl, buf, sizeof buf);
        if (n <= 0) {
            *unreadable = 1;
            return -1;
        }
        int rc = mnl_cb_run(buf, (size_t)n, s->seq, s->portid, on_msg, ans);
        if (rc == MNL_CB_ERROR && errno == ESRCH) continue; /* an earlier question's late answer */
        if (rc == MNL_CB_ERROR) return -1;                  /* no route */
        if (ans->complete) return 0;
    }
}

/* The interface a is routed out of, 0 when it is not known or reached by a
 * default route only. The gateway's own addresses (local), a network's
 * broadcast address and an IPv6 anycast address belong to the interface
 * holding them; unreachable, blackhole and the like are on no side. */
static int side_of(gate_sides *s, const sn_addr *a) {
    answer ans;
    int unreadable;
    if (lookup(s, a, &ans, &unreadable) != 0) return 0;
    if (ans.type != RTN_UNICAST && ans.type != RTN_LOCAL && ans.type != RTN_BROADCAST && ans.type != RTN_ANYCAST)
        return 0;
    if (ans.dst_len == 0) return 0;
    return ans.oif;
}

int gate_sides_of(gate_sides *s, const sn_addr *a) {
    if (!s || !a->family) return 0;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (a->family == 6 && memcmp(a->b, mapped, 12) == 0) {
        /* an IPv4-mapped IPv6 address names the IPv4 host */
        sn_addr v4;
        sn_addr_set_words(&v4, 0, 0, 0);
        memcpy(v4.b, a->b + 12, 4);
        v4.family = 4;
        return side_of(s, &v4);
    }
    return side_of(s, a);
}

/* ---- reverse path ------------------------------------------------------ */

static uint64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int link_local(const sn_addr *a) { return a->family == 6 && a->b[0] == 0xFE && (a->b[1] & 0xC0u) == 0x80; }

int gate_sides_reverse_ok(gate_sides *s, const sn_addr *src, int ifindex) {
    if (!s || !src->family || ifindex <= 0) return 1;
    /* a link-local source never crossed a router: it is on the link it came by */
    if (link_local(src)) return 1;
    uint32_t hsh = 2166136261u;
    for (unsigned i = 0; i < 16; i++) hsh = (hsh ^ src->b[i]) * 16777619u;
    hsh = (hsh ^ (uint32_t)ifindex ^ src->family) * 16777619u;
    rp_slot *sl = &s->rp[hsh % GATE_RP_SLOTS];
    uint64_t now = mono_ms();
    if (sl->valid && sl->ifindex == ifindex && sn_addr_eq(&sl->src, src) && now - sl->at_ms < GATE_RP_TTL_MS)
        return sl->ok;
    answer ans;
    int unreadable, ok;
    if (lookup(s, src, &ans, &unreadable) != 0) {
        if (unreadable) return -1;
        ok = 0; /* no route back: strict rp_filter drops it */
    } else if (ans.type == RTN_UNICAST) {
        ok = ans.oif == 0 || ans.oif == ifindex; /* a multipath route is not judged */
    } else if (ans.type == RTN_LOCAL) {
        ok = ifindex == s->loopback; /* the gateway's own address: only from itself */
    } else {
        ok = 0; /* unreachable, blackhole, broadcast, multicast as a source */
    }
    sl->valid = 1;
    sl->src = *src;
    sl->ifindex = ifindex;
    sl->at_ms = now;
    sl->ok = (uint8_t)ok;
    return ok;
}
