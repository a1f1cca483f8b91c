/* nftset.c - netlink batches of set element changes. */
#include "nftset.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

/* One batch holds at most this many element messages; the enforcer
 * commits after every packet, so one packet never predicts more. */
#define BATCH_MAX 256u
#define SET_NAME_MAX 64u

typedef struct pending_op {
    int add;     /* 1 add, 0 delete */
    int replace; /* add preceded by a delete of the same element */
    char set[SET_NAME_MAX];
    nftset_key key;
    uint64_t timeout_ms;
} pending_op;

struct nftset {
    struct mnl_socket *nl;
    uint32_t portid, seq;
    uint16_t nfproto;
    char table[SET_NAME_MAX];
    pending_op ops[BATCH_MAX];
    size_t nops;
    char *buf; /* batch being built */
    size_t bufcap;
    char rbuf[8192];
};

nftset *nftset_open(uint16_t nfproto, const char *table, char *err, size_t errcap) {
    if (strlen(table) >= SET_NAME_MAX) {
        snprintf(err, errcap, "table name \"%s\" too long", table);
        return NULL;
    }
    nftset *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    s->bufcap = 256u * 1024u; /* BATCH_MAX replaces: two messages each */
    s->buf = malloc(s->bufcap);
    s->nl = mnl_socket_open(NETLINK_NETFILTER);
    if (!s->buf || !s->nl || mnl_socket_bind(s->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        snprintf(err, errcap, "netlink socket: %s", strerror(errno));
        nftset_close(s);
        return NULL;
    }
    s->portid = mnl_socket_get_portid(s->nl);
    /* a kernel that never answers must not hang the enforcer */
    struct timeval tv = {2, 0};
    setsockopt(mnl_socket_get_fd(s->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    s->seq = (uint32_t)time(NULL);
    s->nfproto = nfproto;
    memcpy(s->table, table, strlen(table) + 1);
    return s;
}

void nftset_close(nftset *s) {
    if (!s) return;
    if (s->nl) mnl_socket_close(s->nl);
    free(s->buf);
    free(s);
}

static int queue_op(nftset *s, int add, const char *set, const nftset_key *k, uint64_t timeout_ms) {
    if (s->nops >= BATCH_MAX || strlen(set) >= SET_NAME_MAX) return -1;
    pending_op *o = &s->ops[s->nops++];
    o->add = add;
    o->replace = 0;
    memcpy(o->set, set, strlen(set) + 1);
    o->key = *k;
    o->timeout_ms = timeout_ms;
    return 0;
}

int nftset_add(nftset *s, const char *set, const nftset_key *k, uint64_t timeout_ms) {
    return queue_op(s, 1, set, k, timeout_ms);
}

int nftset_del(nftset *s, const char *set, const nftset_key *k) { return queue_op(s, 0, set, k, 0); }

int nftset_replace(nftset *s, const char *set, const nftset_key *k, uint64_t timeout_ms) {
    if (queue_op(s, 1, set, k, timeout_ms) != 0) return -1;
    s->ops[s->nops - 1].replace = 1;
    return 0;
}

size_t nftset_pending(const nftset *s) { return s->nops; }

/* nftables concatenations: every field padded to 4 bytes. */
static size_t key_bytes(const nftset_key *k, uint8_t out[24]) {
    size_t alen = k->family == 6 ? 16 : 4;
    memset(out, 0, 24);
    memcpy(out, k->addr, alen);
    out[alen] = k->proto;
    uint16_t p = htons(k->port);
    memcpy(out + alen + 4, &p, 2);
    return alen + 8;
}

/* One NEWSETELEM / DELSETELEM message for op o at *at; returns its length or 0. */
static size_t build_op(nftset *s, const pending_op *o, int add, char *at, size_t room, uint32_t seq) {
    if (room < 512) return 0;
    struct nftnl_set *set = nftnl_set_alloc();
    struct nftnl_set_elem *e = nftnl_set_elem_alloc();
    if (!set || !e) {
        nftnl_set_free(set);
        nftnl_set_elem_free(e);
        return 0;
    }
    nftnl_set_set_str(set, NFTNL_SET_TABLE, s->table);
    nftnl_set_set_str(set, NFTNL_SET_NAME, o->set);
    uint8_t key[24];
    size_t kl = key_bytes(&o->key, key);
    nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, (uint32_t)kl);
    if (add && o->timeout_ms) nftnl_set_elem_set_u64(e, NFTNL_SET_ELEM_TIMEOUT, o->timeout_ms);
    nftnl_set_elem_add(set, e); /* the set owns the element now */
    struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(at, (uint16_t)(add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM),
                                                 s->nfproto, (uint16_t)((add ? NLM_F_CREATE : 0) | NLM_F_ACK), seq);
    nftnl_set_elems_nlmsg_build_payload(nlh, set);
    nftnl_set_free(set);
    return nlh->nlmsg_len;
}

/* Sends ops[0..n) as one transaction and reads one ACK per message.
 * Returns how many the kernel refused (a refusal aborts the whole
 * transaction), -1 on a socket error. */
static int send_batch(nftset *s, const pending_op *ops, size_t n, int *first_errno, char *err, size_t errcap) {
    size_t len = 0;
    uint32_t seq0 = ++s->seq;
    struct nlmsghdr *b = nftnl_batch_begin(s->buf, seq0);
    len += b->nlmsg_len;
    uint32_t first = s->seq + 1;
    /* message i of the batch (seq first + i): which op, and is it the delete of a replace */
    uint16_t msg_op[2 * BATCH_MAX];
    uint8_t msg_del[2 * BATCH_MAX];
    size_t nmsg = 0;
    for (size_t i = 0; i < n; i++) {
        for (int part = ops[i].replace ? 0 : 1; part < 2; part++) {
            int add = part == 1 && ops[i].add;
            size_t m = build_op(s, &ops[i], add, s->buf + len, s->bufcap - len, ++s->seq);
            if (!m) {
                snprintf(err, errcap, "netlink batch: out of room or memory");
                return -1;
            }
            len += m;
            msg_op[nmsg] = (uint16_t)i;
            msg_del[nmsg] = (uint8_t)!add;
            nmsg++;
        }
    }
    uint32_t last = s->seq;
    struct nlmsghdr *end = nftnl_batch_end(s->buf + len, ++s->seq);
    len += end->nlmsg_len;
    if (mnl_socket_sendto(s->nl, s->buf, len) < 0) {
        snprintf(err, errcap, "netlink send: %s", strerror(errno));
        return -1;
    }
    size_t acked = 0;
    int refused = 0;
    while (acked < nmsg) {
        ssize_t r = mnl_socket_recvfrom(s->nl, s->rbuf, sizeof s->rbuf);
        if (r < 0) {
            snprintf(err, errcap, "netlink receive: %s",
                     errno == EAGAIN ? "no answer from the kernel within 2 s" : strerror(errno));
            return -1;
        }
        int left = (int)r;
        for (struct nlmsghdr *h = (struct nlmsghdr *)s->rbuf; mnl_nlmsg_ok(h, left); h = mnl_nlmsg_next(h, &left)) {
            if (h->nlmsg_type != NLMSG_ERROR) continue;
            const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
            if (h->nlmsg_seq == seq0 && e->error) { /* the batch itself was refused */
                *first_errno = -e->error;
                return (int)n;
            }
            if (h->nlmsg_seq < first || h->nlmsg_seq > last) continue;
            acked++;
            if (e->error == 0) continue;
            size_t m = h->nlmsg_seq - first;
            if (-e->error == ENOENT && msg_del[m] && !ops[msg_op[m]].replace)
                continue; /* a plain delete of an element already gone (timed out) */
            if (!refused) *first_errno = -e->error;
            refused++;
        }
    }
    return refused;
}

int nftset_commit(nftset *s, int *first_errno, char *err, size_t errcap) {
    *first_errno = 0;
    size_t nops = s->nops;
    s->nops = 0;
    if (nops == 0) return 0;
    /* Adds go in one transaction. Deletes go one per transaction: a
     * delete of an element the kernel already timed out is refused
     * (ENOENT), and a refusal aborts everything in its transaction. */
    pending_op adds[BATCH_MAX];
    size_t na = 0;
    for (size_t i = 0; i < nops; i++)
        if (s->ops[i].add) adds[na++] = s->ops[i];
    int total = 0;
    if (na) {
        int r = send_batch(s, adds, na, first_errno, err, errcap);
        int replaces = 0;
        for (size_t i = 0; i < na; i++) replaces += adds[i].replace;
        if (r > 0 && *first_errno == ENOENT && replaces) {
            /* an element to refresh had timed out meanwhile (its delete was
             * refused, which aborted the transaction): add them all plainly */
            for (size_t i = 0; i < na; i++) adds[i].replace = 0;
            *first_errno = 0;
            r = send_batch(s, adds, na, first_errno, err, errcap);
        }
        if (r < 0) return -1;
        total += r;
    }
    for (size_t i = 0; i < nops; i++) {
        if (s->ops[i].add) continue;
        int fe = 0;
        int r = send_batch(s, &s->ops[i], 1, &fe, err, errcap);
        if (r < 0) return -1;
        if (r && !*first_errno) *first_errno = fe;
        total += r;
    }
    return total;
}

void nftset_key_str(const nftset_key *k, char *out, size_t cap) {
    char a[INET6_ADDRSTRLEN];
    inet_ntop(k->family == 6 ? AF_INET6 : AF_INET, k->addr, a, sizeof a);
    snprintf(out, cap, "%s . %s . %u", a, k->proto == 17 ? "udp" : "tcp", (unsigned)k->port);
}
