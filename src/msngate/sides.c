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
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

struct gate_sides {
    struct mnl_socket *nl;
    unsigned portid, seq;
    int broken; /* the socket could not be opened: every answer is "not known" */
};

gate_sides *gate_sides_new(void) { return calloc(1, sizeof(gate_sides)); }

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

/* The interface a is routed out of, 0 when it is not known or reached by a
 * default route only. */
static int side_of(gate_sides *s, const sn_addr *a) {
    if (!ready(s)) return 0;
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
    if (mnl_socket_sendto(s->nl, h, h->nlmsg_len) < 0) return 0;
    answer ans = {0};
    for (;;) { /* bounded: the receive times out, and stale answers run out */
        ssize_t n = mnl_socket_recvfrom(s->nl, buf, sizeof buf);
        if (n <= 0) return 0;
        int rc = mnl_cb_run(buf, (size_t)n, s->seq, s->portid, on_msg, &ans);
        if (rc == MNL_CB_ERROR && errno == ESRCH) continue; /* an earlier question's late answer */
        if (rc == MNL_CB_ERROR) return 0;                   /* no route: ENETUNREACH, EHOSTUNREACH */
        if (ans.complete) break;
    }
    /* the gateway's own addresses (local) are on the side of the interface
     * holding them; unreachable, blackhole and the like are on no side */
    if (ans.type != RTN_UNICAST && ans.type != RTN_LOCAL) return 0;
    if (ans.dst_len == 0) return 0;
    return ans.oif;
}

int gate_sides_same(gate_sides *s, const sn_addr *a, const sn_addr *b) {
    if (!s || !a->family || a->family != b->family) return 0;
    int x = side_of(s, a);
    return x > 0 && x == side_of(s, b);
}
