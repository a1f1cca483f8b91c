/* Notification servers telling each other their users' presence; see
 * peering.h for the protocol and link_conn.h for the connections. */
#include "peering.h"

#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "link_conn.h"
#include "log.h"
#include "presence.h"

/* ---- accepted side: a peer node dialled us ---- */

/* PEER 1|2|3|4|5 <link-addr> <secret|-> [<sb-addr>] */
int peering_hello(link_in *p, char **tok, int n) {
    if ((n != 4 && n != 5) || strlen(tok[1]) != 1 || tok[1][0] < '1' || tok[1][0] > '0' + PEERING_VERSION) return -1;
    if (n == 5) { /* the peer's switchboard, named in the RNG of the calls it asks us to ring */
        msnp_str h;
        uint16_t pt;
        if (!link_token_ok(tok[4], sizeof p->peer_sb) || msnp_split_hostport(msnp_str_c(tok[4]), &h, &pt, 1) != 0)
            return -1;
        snprintf(p->peer_sb, sizeof p->peer_sb, "%s", tok[4]);
    }
    msnp_str host;
    uint16_t port;
    if (!link_token_ok(tok[2], sizeof p->sb_addr) || msnp_split_hostport(msnp_str_c(tok[2]), &host, &port, 1) != 0)
        return -1;
    if (link_secret_check(p, tok[3], "notification peer refused: wrong secret", tok[2]) != 0) return -1;
    /* A node dialling again while its old link still looks open here (a
     * network partition without a reset): the old one is dead. */
    for (link_in *old = p->L->peers, *next; old; old = next) {
        next = old->next;
        if (old != p && old->ns_peer && old->hello && strcmp(old->sb_addr, tok[2]) == 0) link_in_free(old, "replaced");
    }
    snprintf(p->sb_addr, sizeof p->sb_addr, "%s", tok[2]);
    p->hello = 1;
    p->ns_peer = 1;
    p->peer_version = tok[1][0] - '0';
    bufferevent_set_timeouts(p->bev, NULL, NULL); /* a linked peer may be quiet */
    LOGI("notification peer linked", "ns=%s version=%d", p->sb_addr, p->peer_version);
    return link_send(p->bev, "HELLO %d OK\r\n", p->peer_version);
}

/* Our link to the node at addr, when up. */
static ns_link *link_to(links *L, const char *addr) {
    for (size_t i = 0; i < L->nout; i++)
        if (L->out[i].up && strcmp(L->out[i].addr, addr) == 0) return &L->out[i];
    return NULL;
}

/* The RL lines we have handled from the node at addr (its link to us is
 * up and said RLBASE), or -1 when that is not known. */
static int64_t rl_heard_from(links *L, const char *addr) {
    for (link_in *p = L->peers; p; p = p->next)
        if (p->ns_peer && p->hello && !p->gone && p->rl_known && strcmp(p->sb_addr, addr) == 0)
            return (int64_t)p->rl_got;
    return -1;
}

/* Each e-mail of a watcher list valid; made lower case in place. */
static int list_check(char *list) {
    if (strcmp(list, "-") == 0) return 0;
    char email[MSNP_MAX_EMAIL + 1];
    for (char *e = list;;) {
        char *comma = strchr(e, ',');
        size_t len = comma ? (size_t)(comma - e) : strlen(e);
        if (email_normalize(msnp_str_make(e, len), email, sizeof email) != 0) return -1;
        memcpy(e, email, len);
        if (!comma) return 0;
        e = comma + 1;
    }
}

/* The watcher list of an ON line from p: -1 when malformed; *use is the
 * list, or NULL when p made it before handling every RL line we sent it or
 * our link to p is down (our changes do not reach it): then it is read
 * from the store as without a list. */
static int list_take(link_in *p, const char *heard, char *list, const char **use) {
    uint64_t n;
    if (msnp_str_to_u64(msnp_str_c(heard), UINT64_MAX, &n) != 0 || list_check(list) != 0) return -1;
    const ns_link *back = link_to(p->L, p->sb_addr);
    *use = back && back->rl_sent == n ? list : NULL;
    return 0;
}

/* A peer's presence lines: ON email status name [rl-heard watchers] |
 * OFF email | PRIV email status name only-email-or-* | SYNCED count (end
 * of the snapshot that follows PEER) | RLBASE count | RL contact ADD ver by
 * by-name | RL contact REM ver by */
static int presence_line(link_in *p, char **tok, int n) {
    msnd_server *s = p->L->s;
    char email[MSNP_MAX_EMAIL + 1], only[MSNP_MAX_EMAIL + 1];
    uint64_t count;
    if (n == 2 && strcmp(tok[0], "RLBASE") == 0) {
        if (msnp_str_to_u64(msnp_str_c(tok[1]), UINT64_MAX, &count) != 0) return -1;
        p->rl_got = count;
        p->rl_known = 1;
        return 0;
    }
    if ((n == 5 || n == 6) && strcmp(tok[0], "RL") == 0) {
        p->rl_got++; /* counted once handled: a watcher list we make from now on knows it */
        int added = n == 6 && strcmp(tok[2], "ADD") == 0;
        if ((!added && strcmp(tok[2], "REM") != 0) || email_normalize(msnp_str_c(tok[1]), email, sizeof email) != 0 ||
            msnp_str_to_u64(msnp_str_c(tok[3]), UINT32_MAX, &count) != 0 ||
            email_normalize(msnp_str_c(tok[4]), only, sizeof only) != 0 ||
            (added && !link_token_ok(tok[5], MSNP_MAX_NAME_ENCODED + 1)))
            return -1;
        presence_rl_remote(s, email, added, tok[3], only, added ? tok[5] : NULL);
        return 0;
    }
    if (n == 2 && strcmp(tok[0], "SYNCED") == 0) {
        if (msnp_str_to_u64(msnp_str_c(tok[1]), UINT32_MAX, &count) != 0) return -1;
        LOGI("notification peer in sync", "ns=%s users=%llu", p->sb_addr, (unsigned long long)count);
        return 0;
    }
    if (n == 3 && strcmp(tok[0], "FAIL") == 0) {
        /* A failed login on that node: the login throttles count a
         * source's failures over the whole cluster, as on one node. */
        char key[FAILURES_KEY_MAX];
        int anonymous = strcmp(tok[1], "-") == 0;
        if (!link_token_ok(tok[2], FAILURES_SRC_MAX) ||
            (!anonymous &&
             (email_normalize(msnp_str_c(tok[1]), email, sizeof email) != 0 ||
              failures_account_key(key, sizeof key, email, tok[2]) != 0)))
            return -1;
        uint64_t now = server_now_ms();
        failures_record(s->fail_address, tok[2], now);
        if (!anonymous) failures_record(s->fail_account_address, key, now);
        return 0;
    }
    if (n < 2 || email_normalize(msnp_str_c(tok[1]), email, sizeof email) != 0) return -1;
    if (n == 2 && strcmp(tok[0], "OFF") == 0) {
        presence_remote_off(s, p, email);
        return 0;
    }
    if (n == 2 && strcmp(tok[0], "GONE") == 0 && p->peer_version >= PEERING_VERSION_GONE) {
        /* The account was deleted and its session on that node ended: it
         * must not go on chatting in a switchboard here it was rung into. */
        server_close_switchboards_of(s, email);
        return 0;
    }
    if (n == 3 && strcmp(tok[0], "LOGIN") == 0) {
        /* One session per account in the whole cluster, as on one node:
         * the newer login wins; and that source's failures are forgotten. */
        char key[FAILURES_KEY_MAX];
        if (!link_token_ok(tok[2], FAILURES_SRC_MAX) || failures_account_key(key, sizeof key, email, tok[2]) != 0)
            return -1;
        failures_clear(s->fail_account_address, key);
        conn *old = presence_find(s->presence, email);
        if (old && !old->closing) {
            conn_cmd(old, "OUT", trid_none(), "OTH", NULL);
            conn_close(old, "logged in on another node");
            LOGI("duplicate login, old session closed", "user=%s old_conn=%llu ns=%s", email,
                 (unsigned long long)old->id, p->sb_addr);
        }
        return 0;
    }
    if (n == 3 && strcmp(tok[0], "SESSION") == 0) {
        /* A session of the peer's, in its snapshot, tok[2] ms old. Logins
         * made while the link was down were told to nobody (LOGIN), so an
         * account may be logged in here and there: the newer login wins,
         * as LOGIN would have had it. Both nodes compare the same two ages
         * (each sends its snapshot), so at most one session stays; two
         * logins within the link's delay may both end. */
        uint64_t age;
        if (msnp_str_to_u64(msnp_str_c(tok[2]), UINT64_MAX, &age) != 0) return -1;
        conn *here = presence_find(s->presence, email);
        if (here && server_now_ms() - here->login_ms >= age) {
            conn_cmd(here, "OUT", trid_none(), "OTH", NULL);
            conn_close(here, "logged in on another node");
            LOGI("duplicate login, older session closed", "user=%s old_conn=%llu ns=%s", email,
                 (unsigned long long)here->id, p->sb_addr);
        }
        return 0;
    }
    int on = (n == 4 || n == 6) && strcmp(tok[0], "ON") == 0, priv = n == 5 && strcmp(tok[0], "PRIV") == 0;
    if (!on && !priv) return -1;
    msnp_status st = msnp_status_parse(msnp_str_c(tok[2]));
    if (st == MSNP_STATUS_INVALID || !link_token_ok(tok[3], MSNP_MAX_NAME_ENCODED + 1)) return -1;
    if (on && n == 6) {
        const char *list;
        if (list_take(p, tok[4], tok[5], &list) != 0) return -1;
        presence_remote_on_with(s, p, email, st, tok[3], list);
        return 0;
    }
    if (on) {
        presence_remote_on(s, p, email, st, tok[3]);
        return 0;
    }
    int all = strcmp(tok[4], "*") == 0;
    if (!all && email_normalize(msnp_str_c(tok[4]), only, sizeof only) != 0) return -1;
    presence_remote_recheck(s, p, email, st, tok[3], all ? NULL : only);
    return 0;
}

int peering_line(link_in *p, char **tok, int n) {
    if (strcmp(tok[0], "RING") != 0) return presence_line(p, tok, n);
    if (!p->peer_sb[0]) return -1; /* a peer without a switchboard cannot ask */
    return link_answer_ring(p, tok, n, p->peer_sb);
}

void peering_dropped(link_in *p) {
    msnd_server *s = p->L->s;
    if (s->shutting_down) return;
    server_pass_read_scope(s); /* its users are offline to us now */
    presence_remote_drop(s, p);
}

/* ---- dialling side: our link to a peer node ---- */

/* How a peer knows this node: the link listener's address, or, when that
 * is a wildcard, the address this connection leaves from with the
 * listener's port (what the peer's --ns-peers is expected to name). */
static void own_link_addr(const links *L, evutil_socket_t fd, char *out, size_t cap) {
    const char *colon = strrchr(L->bound, ':');
    int wildcard = !strncmp(L->bound, "0.0.0.0:", 8) || !strncmp(L->bound, "[::]:", 5);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char ip[64];
    if (!wildcard || !colon || getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        snprintf(out, cap, "%s", L->bound);
        return;
    }
    if (ss.ss_family == AF_INET6) {
        evutil_inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof ip);
        snprintf(out, cap, "[%s]%s", ip, colon);
    } else {
        evutil_inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof ip);
        snprintf(out, cap, "%s%s", ip, colon);
    }
}

void peering_introduce(ns_link *nl) {
    const msnd_server *s = nl->L->s;
    const char *secret = s->cfg.link_secret[0] ? s->cfg.link_secret : "-";
    char sb[CFG_ADDR] = "", me[80];
    own_link_addr(nl->L, bufferevent_getfd(nl->bev), me, sizeof me);
    if (s->has_sb) server_advertised(s, NULL, CONN_SB, sb, sizeof sb);
    if (sb[0]) link_send(nl->bev, "PEER %d %s %s %s\r\n", nl->peer_version, me, secret, sb);
    else link_send(nl->bev, "PEER %d %s %s\r\n", nl->peer_version, me, secret);
    nl->hello_sent = 1;
}

typedef struct snapshot_ctx {
    ns_link *nl;
    unsigned long n;
} snapshot_ctx;

static long on_line(const ns_link *nl, const conn *c, const char *watchers, char *line);

/* Each user with its watchers when they are at hand without a read, so
 * that a node coming back does not make the others read every user's. */
static void snapshot_one(conn *c, void *arg) {
    snapshot_ctx *x = arg;
    char list[PEERING_LIST_MAX], line[LINK_MAX_LINE + 2];
    long len = on_line(x->nl, c, presence_peer_list(x->nl->L->s, c, list, sizeof list) >= 0 ? list : NULL, line);
    if (len < 0 || bufferevent_write(x->nl->bev, line, (size_t)len) != 0) return;
    x->n++;
}

/* Each session with its age, ahead of the ON lines: a peer that holds an
 * older session of the account (hidden or not) ends it, so the ON line
 * that follows is taken there; one that holds a newer session keeps it,
 * and this node ends its own when that peer's snapshot comes. */
static void session_one(conn *c, void *arg) {
    const snapshot_ctx *x = arg;
    link_send(x->nl->bev, "SESSION %s %llu\r\n", c->email, (unsigned long long)(server_now_ms() - c->login_ms));
}

/* A peer learns every session and every visible user of ours now, then
 * each change. */
void peering_up(ns_link *nl) {
    link_send(nl->bev, "RLBASE %llu\r\n", (unsigned long long)nl->rl_sent);
    snapshot_ctx x = {nl, 0};
    presence_each_session(nl->L->s->presence, session_one, &x);
    presence_each_visible(nl->L->s->presence, snapshot_one, &x);
    link_send(nl->bev, "SYNCED %lu\r\n", x.n);
}

int peering_dial_all(msnd_server *s, const char *ns_peers, char *err, size_t errcap) {
    links *L = s->links;
    if (!L || !L->listener) {
        snprintf(err, errcap, "--ns-peers needs --link-listen (the peers dial it to tell their users' presence)");
        return -1;
    }
    return link_dial_list(L, ns_peers, "--ns-peers", 1, &L->out, &L->nout, err, errcap);
}

/* Tokens joined by spaces into line (cap bytes, room for CRLF kept); the
 * length, or -1 when they do not fit. */
static long join_tokens(char *line, size_t cap, const char *const *tok, size_t ntok) {
    size_t len = 0;
    for (size_t i = 0; i < ntok; i++) {
        size_t n = strlen(tok[i]);
        if (len + n + 3 > cap) return -1;
        if (i) line[len++] = ' ';
        memcpy(line + len, tok[i], n);
        len += n;
    }
    return (long)len;
}

static void queue_line(ns_link *nl, char *line, size_t len) {
    line[len++] = '\r';
    line[len++] = '\n';
    if (link_out_queue(nl, line, len) != 0) link_out_down(nl, "output limit");
}

/* One line of tokens to every linked peer, joined without printf: it is
 * on the path of every presence change. A peer that stopped reading loses
 * its link; the snapshot after it comes back puts that peer right. RL
 * lines are counted per peer (ns_link.rl_sent). */
static void peers_line(msnd_server *s, const char *const *tok, size_t ntok, int is_rl) {
    links *L = s->links;
    if (!L || !L->nout) return;
    char line[LINK_MAX_LINE + 2];
    long len = join_tokens(line, sizeof line, tok, ntok);
    if (len < 0) { /* the tokens are bounded far below this */
        LOGE("peer line too long", "cmd=%s", tok[0]);
        return;
    }
    for (size_t i = 0; i < L->nout; i++) {
        ns_link *nl = &L->out[i];
        if (!nl->up) continue;
        nl->rl_sent += is_rl != 0;
        queue_line(nl, line, (size_t)len);
    }
}

void peering_login_out(msnd_server *s, const char *email, const char *src) {
    const char *tok[] = {"LOGIN", email, src};
    peers_line(s, tok, 3, 0);
}

void peering_failure_out(msnd_server *s, const char *email, const char *src) {
    const char *tok[] = {"FAIL", email, src};
    peers_line(s, tok, 3, 0);
}

void peering_gone_out(msnd_server *s, const char *email) {
    links *L = s->links;
    if (!L) return;
    char line[LINK_MAX_LINE + 2];
    const char *tok[] = {"GONE", email};
    long len = join_tokens(line, sizeof line, tok, 2);
    for (size_t i = 0; len > 0 && i < L->nout; i++)
        if (L->out[i].up && L->out[i].peer_version >= PEERING_VERSION_GONE) queue_line(&L->out[i], line, (size_t)len);
}

void peering_rl_out(msnd_server *s, const char *contact, int added, const char *ver, const char *by,
                    const char *by_name) {
    const char *tok[] = {"RL", contact, added ? "ADD" : "REM", ver, by, by_name};
    peers_line(s, tok, added ? 6 : 5, 1);
}

/* The ON line of c to nl in line (LINK_MAX_LINE + 2 bytes, with CRLF):
 * with the watcher list and the RL lines we have handled from nl's node
 * when that count is known (its link to us is up) and they fit, else
 * without. The length, or -1 when even that does not fit. */
static long on_line(const ns_link *nl, const conn *c, const char *watchers, char *line) {
    const char *tok[] = {"ON", c->email, msnp_status_code(c->status), c->name};
    long head = join_tokens(line, LINK_MAX_LINE + 2, tok, 4);
    if (head < 0) return -1;
    size_t len = (size_t)head;
    int64_t got = watchers ? rl_heard_from(nl->L, nl->addr) : -1;
    if (got >= 0) {
        char heard[24];
        int hl = snprintf(heard, sizeof heard, "%lld", (long long)got);
        size_t wl = strlen(watchers);
        if (len + (size_t)hl + wl + 2 <= LINK_MAX_LINE) {
            line[len++] = ' ';
            memcpy(line + len, heard, (size_t)hl);
            len += (size_t)hl;
            line[len++] = ' ';
            memcpy(line + len, watchers, wl);
            len += wl;
        }
    }
    line[len++] = '\r';
    line[len++] = '\n';
    return (long)len;
}

/* ON with the watcher list: the same list to every peer, each with its
 * own count. */
static void on_with_list(msnd_server *s, const conn *c, const char *watchers) {
    links *L = s->links;
    if (!L) return;
    char line[LINK_MAX_LINE + 2];
    for (size_t i = 0; i < L->nout; i++) {
        ns_link *nl = &L->out[i];
        if (!nl->up) continue;
        long len = on_line(nl, c, watchers, line);
        if (len < 0) {
            LOGE("peer line too long", "cmd=%s", "ON");
            return;
        }
        if (link_out_queue(nl, line, (size_t)len) != 0) link_out_down(nl, "output limit");
    }
}

void peering_presence_out(msnd_server *s, peering_presence what, const conn *c, const char *only,
                          const char *watchers) {
    const char *st = msnp_status_code(c->status);
    switch (what) {
    case PEERING_ON:
        if (watchers) on_with_list(s, c, watchers);
        else peers_line(s, (const char *[]){"ON", c->email, st, c->name}, 4, 0);
        break;
    case PEERING_OFF: peers_line(s, (const char *[]){"OFF", c->email}, 2, 0); break;
    case PEERING_PRIV: peers_line(s, (const char *[]){"PRIV", c->email, st, c->name, only ? only : "*"}, 5, 0); break;
    }
}

int peering_ask_ring(msnd_server *s, const ns_peer *p, conn *c, msnd_trid trid, uint32_t session_id, const char *cookie,
                     const char *caller, const char *caller_name, const char *callee) {
    links *L = s->links;
    if (!L || !p) return -1;
    /* The node that told us of the callee dials us from its link address;
     * we dial it at the same address (--ns-peers). */
    for (size_t i = 0; i < L->nout; i++)
        if (L->out[i].up && strcmp(L->out[i].addr, p->sb_addr) == 0)
            return link_out_ask_ring(&L->out[i], c, trid, session_id, cookie, caller, caller_name, callee);
    return -1;
}
