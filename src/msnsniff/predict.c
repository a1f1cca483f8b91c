/* predict.c - prediction rules and the origin check. */
#include "predict.h"

#include <string.h>

sn_app_class sn_app_class_of(msnp_app_kind k) {
    switch (k) {
    case MSNP_APP_FILE_TRANSFER: return SN_CLASS_FILE_TRANSFER;
    case MSNP_APP_VOICE:
    case MSNP_APP_VIDEO:
    case MSNP_APP_NETMEETING: return SN_CLASS_VOICE_VIDEO;
    case MSNP_APP_WHITEBOARD: return SN_CLASS_WHITEBOARD;
    case MSNP_APP_APP_SHARING: return SN_CLASS_APP_SHARING;
    case MSNP_APP_REMOTE_ASSISTANCE: return SN_CLASS_REMOTE_ASSISTANCE;
    case MSNP_APP_GAME: return SN_CLASS_GAME;
    default: return SN_CLASS_OTHER;
    }
}

uint8_t sn_app_transport(msnp_app_kind k) {
    switch (msnp_app_transport(k)) {
    case MSNP_TRANSPORT_TCP: return SN_TR_TCP;
    case MSNP_TRANSPORT_UDP: return SN_TR_UDP;
    default: return SN_TR_ANY;
    }
}

/* The length of s up to a NUL, at most max: what a copy into a C string
 * would hold. */
static size_t text_len(const char *s, size_t max) { return max ? strnlen(s, max) : 0; }

/* host[:port] into p->host / p->addr / p->port; 0, or -1 when the host
 * does not fit (refused whole, never cut). */
static int endpoint(sn_expect_proto *p, msnp_str host, uint16_t port) {
    host = msnp_str_trim(host);
    if (host.n == 0 || host.n >= SN_EXPECT_HOST_MAX) return -1;
    p->host = host.p;
    p->host_len = text_len(host.p, host.n);
    if (sn_addr_parse(host.p, host.n, &p->addr) != 0) memset(&p->addr, 0, sizeof p->addr);
    p->port = port;
    return 0;
}

/* The users of an invitation's predictions, measured once for all. */
typedef struct invite_users {
    const char *sender, *peer;
    size_t sender_len, peer_len;
} invite_users;

static int invite_one(const sn_predict_invite *in, const invite_users *u, msnp_str host, uint16_t port,
                      const char *source, sn_expect_proto *p) {
    sn_expect_proto_clear(p);
    if (endpoint(p, host, port) != 0) return 0;
    p->transport = sn_app_transport(in->app);
    p->app = msnp_app_kind_name(in->app);
    p->app_class = (uint8_t)sn_app_class_of(in->app);
    p->source = source;
    p->group = in->invitation;
    p->invitation = in->invitation;
    p->learned_flow = in->flow;
    p->session = in->session;
    p->owner_is_to = 1;
    p->cookie = in->cookie;
    p->cookie_len = in->cookie_len;
    p->to = u->sender;
    p->to_len = u->sender_len;
    p->from = u->peer;
    p->from_len = u->peer_len;
    return 1;
}

size_t sn_predict_invitation(const sn_predict_invite *in, const msnp_invite *inv, sn_expect_proto out[SN_PREDICT_MAX]) {
    size_t n = 0;
    /* an address or port that is none: nothing is predicted from the
     * message (an IP-Address without its bad port would read as any port) */
    if (inv->command == MSNP_INVITE_CANCEL || inv->addr_error != MSNP_INVITE_OK) return 0;
    int ip = inv->ip.p && inv->ip.n, internal = inv->ip_internal.p && inv->ip_internal.n;
    if (!ip && !internal && !inv->has_context_addr) return 0;
    invite_users u = {in->sender ? in->sender : "", in->peer ? in->peer : "", 0, 0};
    u.sender_len = text_len(u.sender, SN_EXPECT_USER_MAX - 1);
    u.peer_len = text_len(u.peer, SN_EXPECT_USER_MAX - 1);
    /* the ports the peer's client connects to (libmsnp's rule, shared with
     * msnc): a prediction of any other port would miss its connection */
    if (ip) n += (size_t)invite_one(in, &u, inv->ip, msnp_invite_port(inv), "IP-Address", &out[n]);
    if (internal)
        n += (size_t)invite_one(in, &u, inv->ip_internal, msnp_invite_internal_port(inv), "IP-Address-Internal",
                                &out[n]);
    if (inv->has_context_addr)
        n += (size_t)invite_one(in, &u, inv->context_host, inv->context_port, "Context-Data", &out[n]);
    return n;
}

int sn_predict_referral(const msnp_cmd *cmd, const char *user, uint64_t flow, sn_expect_proto *out) {
    sn_expect_proto_clear(out);
    msnp_str addr, cookie = {NULL, 0};
    if (cmd->code == MSNP_XFR && cmd->argc >= 3 && msnp_str_eq(cmd->argv[1], "NS")) {
        /* XFR trid NS addr ... */
        addr = cmd->argv[2];
        out->app = "notification";
        out->app_class = SN_CLASS_NOTIFICATION;
        out->source = "XFR NS";
    } else if (cmd->code == MSNP_XFR && cmd->argc >= 5 && msnp_str_eq(cmd->argv[1], "SB")) {
        /* XFR trid SB addr CKI cookie */
        addr = cmd->argv[2];
        cookie = cmd->argv[4];
        out->app = "switchboard";
        out->source = "XFR SB";
    } else if (cmd->code == MSNP_RNG && cmd->argc >= 5) {
        /* RNG sessid addr CKI cookie caller name */
        addr = cmd->argv[1];
        cookie = cmd->argv[3];
        out->app = "switchboard";
        out->source = "RNG";
    } else {
        return 0;
    }
    msnp_str host;
    uint16_t port = 0;
    if (msnp_split_hostport(addr, &host, &port, 0) != 0) {
        host = addr;
        port = 0;
    }
    if (host.n) {
        out->host = host.p;
        out->host_len = text_len(host.p, host.n < SN_EXPECT_HOST_MAX ? host.n : SN_EXPECT_HOST_MAX - 1);
    }
    if (sn_addr_parse(host.p, host.n, &out->addr) != 0) memset(&out->addr, 0, sizeof out->addr);
    out->port = port ? port : 1863;
    out->transport = SN_TR_TCP;
    if (cookie.p) {
        out->cookie_only = 1;
        out->app_class = SN_CLASS_SWITCHBOARD;
        out->cookie = cookie.p;
        out->cookie_len = cookie.n;
    }
    out->from = user ? user : "";
    out->from_len = text_len(out->from, SN_EXPECT_USER_MAX - 1);
    out->learned_flow = flow;
    return 1;
}

int sn_addr_is_private(const sn_addr *a) {
    const uint8_t *b = a->b;
    if (a->family == 4)
        return b[0] == 10 || (b[0] == 172 && (b[1] & 0xF0u) == 16) || (b[0] == 192 && b[1] == 168) ||
            (b[0] == 100 && (b[1] & 0xC0u) == 64) || (b[0] == 169 && b[1] == 254);
    if (a->family == 6) return (b[0] & 0xFEu) == 0xFC || (b[0] == 0xFE && (b[1] & 0xC0u) == 0x80);
    return 0;
}

static int same(const sn_addr *a, const sn_addr *b) { return b && b->family && sn_addr_eq(a, b); }

unsigned sn_origin_check(const sn_addr *announced, const sn_origin *o) {
    const sn_addr *seen = o->sb_client && o->sb_client->family ? o->sb_client
        : o->ns_client && o->ns_client->family                 ? o->ns_client
                                                               : NULL;
    if (!announced->family || !seen) return SN_XF_UNCHECKED;
    if (same(announced, o->sb_client) || same(announced, o->ns_client)) return 0;
    if (sn_addr_is_private(announced) && !sn_addr_is_private(seen)) return SN_XF_NAT;
    return SN_XF_FORGED;
}

int sn_policy_allows(sn_announce_policy p, unsigned flags) {
    switch (p) {
    case SN_ANNOUNCE_ANY: return 1;
    case SN_ANNOUNCE_STRICT: return (flags & (SN_XF_FORGED | SN_XF_NAT | SN_XF_UNCHECKED)) == 0;
    case SN_ANNOUNCE_NAT: break;
    }
    return (flags & SN_XF_FORGED) == 0;
}
