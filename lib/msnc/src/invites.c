#include "msnc/invites.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include <msnp/msnp.h>

#include "msnc/ftp.h"
#include "msnc/probe.h"
#include "netutil.h"

#define PAYLOAD_MAX 1600 /* stays under the switchboard's 1664-byte limit */
/* Each invitation may open a secondary socket: bounded per client and per
 * other party, whoever starts them. */
#define MAX_INVITES 32
#define MAX_INVITES_PER_PEER 8
#define SESSION_ID_MAX 127

typedef enum inv_state {
    INV_SENT,         /* outgoing: INVITE sent, waiting for ACCEPT */
    INV_OFFERED,      /* incoming: waiting for the local user */
    INV_ACCEPTED,     /* incoming: we accepted, waiting for the inviter's address */
    INV_WAIT_CONTEXT, /* outgoing whiteboard/app sharing: waiting for CONTEXT */
    INV_CONNECTING,   /* secondary connection being set up */
    INV_TRANSFER      /* MSNFTP running */
} inv_state;

typedef struct inv {
    struct inv *next;
    msnc_invites *m;
    uint64_t cookie;
    msnp_app_kind kind;
    int outgoing;
    int chat;
    inv_state state;
    char peer[MSNP_MAX_EMAIL + 1];
    char file[256];
    char path[PATH_MAX];
    uint64_t size;
    char session_id[SESSION_ID_MAX + 1];
    char auth_cookie[64];
    msnc_ftp *ftp;
    msnc_probe *probe;
    struct event *timer;
    int peer_cancelled;
    int reverse; /* file transfer: the receiver listens (INVITE said Connectivity: N) */
    /* The Cancel-Code of the peer's CANCEL, as sent. */
    char peer_cancel_code[32];
} inv;

/* Where to reach a listener: IP-Address with Port, and IP-Address-Internal
 * with the port PortX-Internal hides (or the same Port). */
typedef struct peer_addrs {
    char ip[64], internal[64];
    uint16_t port, internal_port;
} peer_addrs;

struct msnc_invites {
    struct event_base *base;
    msnc_invite_config cfg;
    char *email, *bind_ip, *dir;
    msnc_invite_ops ops;
    void *arg;
    inv *list;
    uint64_t last_incoming;
};

/* ------------------------------------------------------------- helpers */

static const char *app_name(msnp_app_kind k) { return msnp_app_kind_name(k); }

/* English name and GUID of an application; video is the voice GUID asking
 * for SIP_V, so it has no table row of its own. */
static const msnp_app_info *app_info(msnp_app_kind k) {
    static const msnp_app_info video = {MSNP_APP_VIDEO, MSNP_TRANSPORT_UDP, "Video Conversation", NULL, 0};
    if (k == MSNP_APP_VIDEO) return &video;
    size_t n = 0;
    const msnp_app_info *t = msnp_app_table(&n);
    for (size_t i = 0; i < n; i++)
        if (t[i].kind == k) return &t[i];
    return NULL;
}

static void emit(msnc_invites *m, msnc_event *ev) {
    if (m->ops.event) m->ops.event(ev, m->arg);
}

/* A warning about invitation v that names only its cookie. */
static void warn(inv *v, const char *text) {
    msnc_event ev = {0};
    ev.type = MSNC_EV_WARNING;
    ev.cookie = v->cookie;
    ev.text = text;
    emit(v->m, &ev);
}

/* An event about invitation v: its type, switchboard, cookie and
 * application; the caller adds the rest. */
static msnc_event inv_event(const inv *v, msnc_event_type type) {
    msnc_event ev = {0};
    ev.type = type;
    ev.chat = v->chat;
    ev.cookie = v->cookie;
    ev.app = app_name(v->kind);
    return ev;
}

static void emit_simple(inv *v, msnc_event_type type, const char *text) {
    msnc_event ev = inv_event(v, type);
    ev.email = v->peer;
    ev.text = text;
    ev.file = v->file[0] ? v->file : NULL;
    ev.size = v->size;
    emit(v->m, &ev);
}

/* The secondary connection's events (listening, connected): the same
 * fields for probes and MSNFTP. email is set only where the event names
 * the peer. */
static void emit_secondary(inv *v, msnc_event_type type, const char *email, const char *transport, const char *local,
                           const char *peer) {
    msnc_event ev = inv_event(v, type);
    ev.email = email;
    ev.transport = transport;
    ev.local = local;
    ev.peer = peer;
    emit(v->m, &ev);
}

static uint32_t random_u32(void) {
    uint32_t r = 0;
    while (r == 0)
        if (msnp_random_bytes(&r, sizeof(r)) != 0) r = (uint32_t)rand();
    return r & 0x7fffffffu; /* official cookies are positive 32-bit numbers */
}

static void random_guid(char out[40]) {
    unsigned char b[16];
    if (msnp_random_bytes(b, sizeof(b)) != 0)
        for (size_t i = 0; i < sizeof(b); i++) b[i] = (unsigned char)rand();
    snprintf(out, 40, "{%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X}", b[0], b[1], b[2], b[3],
             b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static inv *find(msnc_invites *m, uint64_t cookie) {
    for (inv *v = m->list; v; v = v->next)
        if (v->cookie == cookie) return v;
    return NULL;
}

static void drop(inv *v) {
    msnc_invites *m = v->m;
    for (inv **pp = &m->list; *pp; pp = &(*pp)->next)
        if (*pp == v) {
            *pp = v->next;
            break;
        }
    if (v->timer) event_free(v->timer);
    if (v->probe) msnc_probe_cancel(v->probe);
    v->probe = NULL;
    if (v->ftp) {
        msnc_ftp *f = v->ftp;
        v->ftp = NULL;
        msnc_ftp_cancel(f); /* its callback sees v->ftp == NULL and stays quiet */
    }
    free(v);
}

static void send_fields(inv *v, int chat, msnp_invite_fields *f) {
    char buf[PAYLOAD_MAX];
    f->cookie = v->cookie;
    long n = msnp_invite_build(f, buf, sizeof(buf));
    if (n < 0 || v->m->ops.send(chat, v->cookie, buf, (size_t)n, v->m->arg) != 0) {
        msnc_event ev = {0};
        ev.type = MSNC_EV_WARNING;
        ev.cookie = v->cookie;
        ev.chat = chat;
        ev.text = "could not send an invitation message (switchboard gone?)";
        emit(v->m, &ev);
    }
}

static void send_cancel(inv *v, const char *code) {
    msnp_invite_fields f = {0};
    f.command = MSNP_INVITE_CANCEL;
    f.cancel_code = code;
    if (v->session_id[0]) f.session_id = v->session_id;
    send_fields(v, v->chat, &f);
}

/* Finish an invitation without a transfer result (error: the MSNP error
 * that kept it from its peer, if one did). */
static void end_cancelled_as(inv *v, const char *code, int local, int error, int failed) {
    msnc_event ev = inv_event(v, MSNC_EV_INVITE_CANCELLED);
    ev.email = v->peer;
    ev.text = code;
    ev.local_side = local;
    ev.code = error;
    /* one we sent or accepted was meant to happen: ending it here for a
     * failure (not the user's cancel, not the peer's answer) is one; an
     * offer never answered is not ours */
    ev.failed = failed && local && (v->outgoing || v->state != INV_OFFERED);
    ev.file = v->file[0] ? v->file : NULL;
    emit(v->m, &ev);
    drop(v);
}

/* FAIL and FTTIMEOUT from this side are failures; REJECT, TIMEOUT and
 * OUTBANDCANCEL from here are the user's choice (timeouts say so
 * themselves). */
static void end_cancelled_error(inv *v, const char *code, int local, int error) {
    end_cancelled_as(v, code, local, error, !strcmp(code, "FAIL") || !strcmp(code, "FTTIMEOUT"));
}

static void end_cancelled(inv *v, const char *code, int local) { end_cancelled_error(v, code, local, 0); }

static void timeout_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    inv *v = arg;
    const char *code = (v->state == INV_SENT || v->state == INV_OFFERED) ? "TIMEOUT" : "FTTIMEOUT";
    if (v->state != INV_OFFERED) send_cancel(v, code);
    end_cancelled_as(v, code, 1, 0, 1);
}

static void arm(inv *v, unsigned ms) {
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    if (!v->timer) v->timer = evtimer_new(v->m->base, timeout_cb, v);
    if (v->timer) evtimer_add(v->timer, &tv);
}

static unsigned invite_ms(const msnc_invites *m) {
    return m->cfg.invite_timeout_ms ? m->cfg.invite_timeout_ms : 120000u;
}
static unsigned connect_ms(const msnc_invites *m) {
    return m->cfg.connect_timeout_ms ? m->cfg.connect_timeout_ms : 30000u;
}

/* Room for one more invitation with peer? If not, err says why. */
static int invites_room(const msnc_invites *m, const char *peer, char *err, size_t errcap) {
    size_t all = 0, theirs = 0;
    for (const inv *v = m->list; v; v = v->next) {
        all++;
        if (peer && strcasecmp(v->peer, peer) == 0) theirs++;
    }
    if (all >= MAX_INVITES)
        snprintf(err, errcap, "refused an invitation with %s: %d invitations are open already (the limit)",
                 peer ? peer : "?", MAX_INVITES);
    else if (theirs >= MAX_INVITES_PER_PEER)
        snprintf(err, errcap, "refused an invitation with %s: %d invitations with them are open already (the limit)",
                 peer ? peer : "?", MAX_INVITES_PER_PEER);
    else return 1;
    return 0;
}

static inv *inv_new(msnc_invites *m, uint64_t cookie, msnp_app_kind kind, int outgoing, int chat, const char *peer) {
    inv *v = calloc(1, sizeof(*v));
    if (!v) return NULL;
    v->m = m;
    v->cookie = cookie;
    v->kind = kind;
    v->outgoing = outgoing;
    v->chat = chat;
    snprintf(v->peer, sizeof(v->peer), "%s", peer ? peer : "");
    v->next = m->list;
    m->list = v;
    return v;
}

/* ---------------------------------------------------- secondary probes */

static void probe_connected(msnc_probe *p, const char *local, const char *peer, void *arg) {
    (void)p;
    inv *v = arg;
    v->probe = NULL;
    emit_secondary(v, MSNC_EV_SECONDARY_CONNECTED, v->peer, msnp_transport_name(msnp_app_transport(v->kind)), local,
                   peer);
    drop(v);
}

static void probe_failed(msnc_probe *p, const char *why, void *arg) {
    (void)p;
    inv *v = arg;
    v->probe = NULL;
    msnc_event ev = {0};
    ev.type = MSNC_EV_WARNING;
    ev.cookie = v->cookie;
    ev.app = app_name(v->kind);
    ev.text = why;
    emit(v->m, &ev);
    send_cancel(v, "FTTIMEOUT");
    end_cancelled(v, "FTTIMEOUT", 1);
}

static const msnc_probe_callbacks probe_cb = {probe_connected, probe_failed};

static int start_listen(inv *v, uint16_t *port) {
    char err[256];
    msnp_transport tr = msnp_app_transport(v->kind);
    v->probe = msnc_probe_listen(v->m->base, tr, v->m->bind_ip, 0, v->cookie, connect_ms(v->m), &probe_cb, v, err,
                                 sizeof(err));
    if (!v->probe) {
        warn(v, err);
        return -1;
    }
    *port = msnc_probe_port(v->probe);
    char local[64];
    snprintf(local, sizeof(local), "%s:%u", v->m->bind_ip, (unsigned)*port);
    emit_secondary(v, MSNC_EV_SECONDARY_LISTEN, NULL, msnp_transport_name(tr), local, NULL);
    v->state = INV_CONNECTING;
    if (v->timer) evtimer_del(v->timer);
    return 0;
}

/* A peer-supplied address we are willing to connect to, copied into out
 * (never a truncated copy that happens to look valid). */
static int peer_ip(msnp_str s, char out[64]) {
    out[0] = '\0';
    if (s.n == 0 || s.n >= 64) return 0;
    msnp_str_copy(s, out, 64);
    if (msnc_ipv4_unicast(out)) return 1;
    out[0] = '\0';
    return 0;
}

static void start_connect(inv *v, msnp_str host, uint16_t port) {
    char ip[64], err[256];
    if (!peer_ip(host, ip) || port == 0) {
        warn(v, "peer sent no usable address");
        send_cancel(v, "FAIL");
        end_cancelled(v, "FAIL", 1);
        return;
    }
    v->probe = msnc_probe_connect(v->m->base, msnp_app_transport(v->kind), v->m->bind_ip, ip, port, v->cookie,
                                  connect_ms(v->m), &probe_cb, v, err, sizeof(err));
    if (!v->probe) {
        warn(v, err);
        send_cancel(v, "FAIL");
        end_cancelled(v, "FAIL", 1);
        return;
    }
    v->state = INV_CONNECTING;
    if (v->timer) evtimer_del(v->timer);
}

/* --------------------------------------------------------- file transfer */

static void ftp_started(msnc_ftp *t, uint64_t size, void *arg) {
    inv *v = arg;
    if (v->ftp != t) return;
    v->size = size;
    if (v->timer) evtimer_del(v->timer);
    v->state = INV_TRANSFER;
    msnc_event ev = {0};
    ev.type = MSNC_EV_TRANSFER_START;
    ev.chat = v->chat;
    ev.cookie = v->cookie;
    ev.email = v->peer;
    ev.file = v->file;
    ev.size = size;
    ev.text = v->outgoing ? "send" : "receive";
    emit(v->m, &ev);
}

static void ftp_progress(msnc_ftp *t, uint64_t done, uint64_t size, void *arg) {
    inv *v = arg;
    if (v->ftp != t) return;
    msnc_event ev = {0};
    ev.type = MSNC_EV_TRANSFER_PROGRESS;
    ev.chat = v->chat;
    ev.cookie = v->cookie;
    ev.bytes = done;
    ev.size = size;
    ev.file = v->file;
    emit(v->m, &ev);
}

static void ftp_connected(msnc_ftp *t, const char *local, const char *peer, void *arg) {
    inv *v = arg;
    if (v->ftp != t) return;
    emit_secondary(v, MSNC_EV_SECONDARY_CONNECTED, v->peer, "tcp", local, peer);
}

static void ftp_notice(msnc_ftp *t, const char *text, void *arg) {
    (void)t;
    inv *v = arg;
    warn(v, text);
}

static void ftp_finished(msnc_ftp *t, msnc_ftp_result r, const char *detail, const char *path, uint64_t bytes,
                         uint32_t bye, void *arg) {
    inv *v = arg;
    if (v->ftp != t) return; /* dropped on purpose */
    v->ftp = NULL;
    char text[600];
    msnc_event ev = inv_event(v, r == MSNC_FTP_OK ? MSNC_EV_TRANSFER_DONE : MSNC_EV_TRANSFER_FAILED);
    ev.email = v->peer;
    ev.bytes = bytes;
    ev.size = v->size;
    ev.code = (int)bye;
    if (r == MSNC_FTP_OK) {
        ev.file = path;
        ev.text = v->outgoing ? "send" : "receive";
    } else {
        /* The peer's switchboard CANCEL stops the transfer through
         * msnc_ftp_cancel, so it comes back as our own cancel; it is the
         * peer's, as its cancel marker or CCL would have been. Which of
         * the two arrives first is a race (a sender whose file failed sends
         * both), and the report must not depend on it. */
        msnc_ftp_result shown = v->peer_cancelled ? MSNC_FTP_PEER_CANCELLED : r;
        if (v->peer_cancelled)
            snprintf(text, sizeof(text), "%s: peer cancelled the invitation (%s)", msnc_ftp_result_name(shown),
                     v->peer_cancel_code[0] ? v->peer_cancel_code : "no Cancel-Code");
        else snprintf(text, sizeof(text), "%s: %s", msnc_ftp_result_name(shown), detail);
        ev.file = v->file;
        ev.text = text;
        ev.status = msnc_ftp_result_name(shown);
        /* Ended by this side: a cancel here, or this side's own file or
         * disk failing (as when the file cannot even be opened). */
        ev.local_side = shown == MSNC_FTP_CANCELLED || shown == MSNC_FTP_LOCAL_IO;
        /* Tell the peer over the switchboard too, for failures MSNFTP itself
         * could not carry (nobody connected, we could not connect, disk). */
        if (!v->peer_cancelled) {
            if (r == MSNC_FTP_TIMEOUT || r == MSNC_FTP_NETWORK) send_cancel(v, "FTTIMEOUT");
            else if (r == MSNC_FTP_LOCAL_IO) send_cancel(v, "FAIL");
            /* A sender that connected (reverse case) and refused what the
             * listening receiver said: that receiver would wait in vain. */
            else if (r == MSNC_FTP_REFUSED && v->outgoing) send_cancel(v, "FAIL");
        }
    }
    emit(v->m, &ev);
    drop(v);
}

static const msnc_ftp_callbacks ftp_cb = {ftp_started, ftp_progress, ftp_notice, ftp_finished, ftp_connected};

static int peer_addrs_from(const msnp_invite *in, peer_addrs *a) {
    memset(a, 0, sizeof(*a));
    /* the ports as libmsnp reads them for everyone (msnsniff predicts the
     * same): Port, IP-Address's :port, PortX */
    a->port = msnp_invite_port(in);
    if (!a->port || !peer_ip(in->ip, a->ip)) {
        a->ip[0] = '\0';
        a->port = 0;
    }
    uint16_t iport = msnp_invite_internal_port(in);
    if (iport && peer_ip(in->ip_internal, a->internal) && !(strcmp(a->internal, a->ip) == 0 && iport == a->port))
        a->internal_port = iport;
    else a->internal[0] = '\0';
    if (!a->ip[0] && a->internal[0]) {
        /* Only the internal address is usable: it becomes the main one. */
        memcpy(a->ip, a->internal, sizeof(a->ip));
        a->port = a->internal_port;
        a->internal[0] = '\0';
        a->internal_port = 0;
    }
    return a->ip[0] ? 0 : -1;
}

/* The peer's AuthCookie, if it fits our buffer and the MSNFTP USR line. */
static int peer_auth_cookie(msnp_str s, char out[64]) {
    out[0] = '\0';
    if (s.n == 0 || s.n >= 64 || !msnp_param_is_safe(s)) return 0;
    msnp_str_copy(s, out, 64);
    return 1;
}

/* An ACCEPT we cannot act on (no usable address or AuthCookie). */
static void refuse_accept(inv *v, const char *why) {
    msnc_event ev = inv_event(v, MSNC_EV_WARNING);
    ev.text = why;
    emit(v->m, &ev);
    send_cancel(v, "FAIL");
    end_cancelled(v, "FAIL", 1);
}

/* MSNFTP could not even start (file, port range, address): transfer_failed
 * here, CANCEL FAIL to the peer (it would otherwise wait in vain), drop. */
static void ftp_start_failed(inv *v, const char *status, const char *text) {
    msnc_event ev = inv_event(v, MSNC_EV_TRANSFER_FAILED);
    ev.email = v->peer;
    ev.file = v->file;
    ev.size = v->size; /* the offered size, as in every other transfer event */
    ev.text = text;
    ev.status = status;
    ev.local_side = 1;
    emit(v->m, &ev);
    send_cancel(v, "FAIL");
    drop(v);
}

/* Options both MSNFTP roles share, from the invitation and the config. */
#define FTP_COMMON_OPTS(o, v) \
    do { \
        (o).bind_ip = (v)->m->bind_ip; \
        (o).auth_cookie = (v)->auth_cookie; \
        (o).accept_timeout_ms = connect_ms((v)->m); \
        (o).idle_timeout_ms = (v)->m->cfg.ftp_idle_ms; \
        (o).max_rate = (v)->m->cfg.ftp_max_rate; \
    } while (0)

/* Our side of a file transfer is set up (listening or connecting): the
 * invitation now waits for MSNFTP, with a backstop beyond its own timer. */
static void ftp_began(inv *v) {
    v->state = INV_CONNECTING;
    arm(v, connect_ms(v->m) + 5000u);
}

/* Sender: listen (to == NULL) or, in the reverse case, connect to the
 * receiver's addresses. 0, or -1 when v is gone. */
static int start_sender(inv *v, const peer_addrs *to) {
    msnc_invites *m = v->m;
    msnc_ftp_send_opts o = {0};
    FTP_COMMON_OPTS(o, v);
    o.path = v->path;
    /* FIL must say what the INVITE offered: the file may have changed
     * since, and the receiver holds us to Application-FileSize. */
    o.has_offered_size = 1;
    o.offered_size = v->size;
    o.expect_email = v->peer[0] ? v->peer : NULL;
    if (to) {
        o.connect_host = to->ip;
        o.connect_port = to->port;
        o.connect_alt_host = to->internal[0] ? to->internal : NULL;
        o.connect_alt_port = to->internal_port;
    } else {
        o.port_first = m->cfg.ftp_port_first;
        o.port_last = m->cfg.ftp_port_last;
    }
    char err[512];
    v->ftp = msnc_ftp_send_start(m->base, &o, &ftp_cb, v, err, sizeof(err));
    if (!v->ftp) {
        /* The file itself (gone, unreadable, no longer a regular file), or
         * the network side (ports, addresses)? */
        struct stat st;
        int file_ok = stat(v->path, &st) == 0 && S_ISREG(st.st_mode) && access(v->path, R_OK) == 0;
        ftp_start_failed(v, file_ok ? "network" : "local_io", err);
        return -1;
    }
    ftp_began(v);
    return 0;
}

/* Receiver: connect to the sender's addresses, or listen (from == NULL,
 * reverse case). 0, or -1 when v is gone. */
static int start_receiver(inv *v, const peer_addrs *from) {
    msnc_invites *m = v->m;
    msnc_ftp_recv_opts o = {0};
    FTP_COMMON_OPTS(o, v);
    o.email = m->email ? m->email : "";
    o.dir = m->dir;
    o.filename = v->file;
    o.expected_size = v->size;
    if (from) {
        /* Both addresses at once; the first to connect is used. */
        o.host = from->ip;
        o.port = from->port;
        o.alt_host = from->internal[0] ? from->internal : NULL;
        o.alt_port = from->internal_port;
    } else {
        o.listen = 1;
        o.port_first = m->cfg.ftp_port_first;
        o.port_last = m->cfg.ftp_port_last;
    }
    char err[512];
    v->ftp = msnc_ftp_recv_start(m->base, &o, &ftp_cb, v, err, sizeof(err));
    if (!v->ftp) {
        ftp_start_failed(v, "network", err);
        return -1;
    }
    ftp_began(v);
    return 0;
}

/* The listening side's ACCEPT (sender normally, receiver in the reverse
 * case with Sender-Connect: TRUE), and its secondary_listen event. */
static void send_listen_accept(inv *v, int chat, int sender_connect) {
    msnc_invites *m = v->m;
    uint16_t port = msnc_ftp_port(v->ftp);
    msnp_invite_fields f = {0};
    f.command = MSNP_INVITE_ACCEPT;
    if (v->session_id[0]) f.session_id = v->session_id;
    f.ip = m->bind_ip;
    f.port = port;
    f.with_portx = 1;
    f.auth_cookie = v->auth_cookie;
    f.sender_connect = sender_connect;
    f.launch_application = "FALSE";
    f.request_data = "IP-Address:";
    send_fields(v, chat, &f);
    char local[64];
    snprintf(local, sizeof(local), "%s:%u", m->bind_ip, (unsigned)port);
    emit_secondary(v, MSNC_EV_SECONDARY_LISTEN, NULL, "tcp", local, NULL);
}

/* ------------------------------------------------------------- starting */

uint64_t msnc_invites_send_file(msnc_invites *m, int chat, const char *peer, const char *path, char *err,
                                size_t errcap) {
    struct stat st;
    /* errno speaks only for a stat that failed: a directory, FIFO or
     * device is found fine and simply is no file to send */
    if (stat(path, &st) != 0) {
        snprintf(err, errcap, "cannot send %s: %s", path, strerror(errno));
        return 0;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errcap, "cannot send %s: not a regular file", path);
        return 0;
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    /* the name goes out as a header line of the invitation: a line break
     * (or any control byte) cannot be carried, and refusing here beats an
     * invitation announced as sent that never left */
    for (const unsigned char *q = (const unsigned char *)base; *q; q++) {
        if (*q < 0x20 || *q == 0x7F) {
            snprintf(err, errcap,
                     "cannot send %s: its name has a control character (0x%02X), which an invitation "
                     "cannot carry; rename the file",
                     path, (unsigned)*q);
            return 0;
        }
    }
    /* the invitation says charset=UTF-8: a name in another encoding
     * (Latin-1 from an old archive) would reach the peer as bytes it
     * cannot show */
    if (!msnp_utf8_valid(base, strlen(base))) {
        snprintf(err, errcap, "cannot send %s: its name is not UTF-8, which an invitation must carry; rename the file",
                 path);
        return 0;
    }
    if (!invites_room(m, peer, err, errcap)) return 0;
    uint64_t cookie = random_u32();
    inv *v = inv_new(m, cookie, MSNP_APP_FILE_TRANSFER, 1, chat, peer);
    if (!v) {
        snprintf(err, errcap, "out of memory");
        return 0;
    }
    snprintf(v->path, sizeof(v->path), "%s", path);
    snprintf(v->file, sizeof(v->file), "%s", base);
    v->size = (uint64_t)st.st_size;
    v->state = INV_SENT;
    msnp_invite_fields f = {0};
    f.command = MSNP_INVITE_INVITE;
    f.app_name = "File Transfer";
    f.app_guid = app_info(MSNP_APP_FILE_TRANSFER)->guid;
    f.file = v->file;
    f.file_size = v->size;
    f.has_file_size = 1;
    /* We cannot accept connections: ask the receiver to listen. */
    if (m->cfg.no_incoming) f.connectivity = "N";
    send_fields(v, chat, &f);
    arm(v, invite_ms(m));
    emit_simple(v, MSNC_EV_INVITE_SENT, NULL);
    return cookie;
}

static const char *context_for(msnp_app_kind k) {
    if (k == MSNP_APP_VIDEO) return "Requested:SIP_V,; Capabilities:SIP_A,SIP_V";
    if (k == MSNP_APP_VOICE) return "Requested:SIP_A,; Capabilities:SIP_A,SIP_V";
    return NULL;
}

uint64_t msnc_invites_new_cookie(void) { return random_u32(); }

uint64_t msnc_invites_start(msnc_invites *m, int chat, const char *peer, msnp_app_kind kind, uint64_t cookie, char *err,
                            size_t errcap) {
    const msnp_app_info *info = app_info(kind);
    if (!info || kind == MSNP_APP_FILE_TRANSFER || msnp_app_transport(kind) == MSNP_TRANSPORT_NONE) {
        snprintf(err, errcap, "unsupported application");
        return 0;
    }
    if (!invites_room(m, peer, err, errcap)) return 0;
    if (cookie == 0 || find(m, cookie)) cookie = random_u32();
    inv *v = inv_new(m, cookie, kind, 1, chat, peer);
    if (!v) {
        snprintf(err, errcap, "out of memory");
        return 0;
    }
    random_guid(v->session_id);
    v->state = INV_SENT;
    msnp_invite_fields f = {0};
    f.command = MSNP_INVITE_INVITE;
    f.app_name = info->name;
    /* Video has no GUID of its own: it is the voice application asking for SIP_V. */
    f.app_guid = info->guid ? info->guid : app_info(MSNP_APP_VOICE)->guid;
    f.session_protocol = "SM1";
    f.session_id = v->session_id;
    f.context_data = context_for(kind);
    send_fields(v, chat, &f);
    arm(v, invite_ms(m));
    emit_simple(v, MSNC_EV_INVITE_SENT, NULL);
    return cookie;
}

/* ------------------------------------------------------------ receiving */

static void on_invite(msnc_invites *m, int chat, const char *from, const msnp_invite *in) {
    if (!in->has_cookie || find(m, in->cookie)) return;
    char err[MSNP_MAX_EMAIL + 160];
    const char *refusal = NULL;
    /* 0 stands for "no cookie" everywhere (events, /accept with none):
     * such an offer could be neither named nor answered by its cookie */
    if (in->cookie == 0) refusal = "refused an invitation whose Invitation-Cookie is 0";
    else if (!invites_room(m, from, err, sizeof(err))) refusal = err;
    else if (in->session_id.n > SESSION_ID_MAX) refusal = "refused an invitation whose Session-ID is over 127 bytes";
    /* it is echoed in every answer, which msnp_invite_build could then
     * not write: it takes only text (msnp_text_valid) */
    else if (!msnp_text_valid(in->session_id.p, in->session_id.n))
        refusal = "refused an invitation whose Session-ID is not UTF-8 text without control characters";
    else if (in->file.n > 255) refusal = "refused a file whose name is over 255 bytes";
    /* no file can be that large (off_t is signed), and the size would not
     * survive as a JSON integer: a lie, refused like an impossible name */
    else if (in->has_file_size && in->file_size > INT64_MAX)
        refusal = "refused a file whose size is over 9223372036854775807 bytes";
    if (refusal) {
        msnc_event ev = {0};
        ev.type = MSNC_EV_WARNING;
        ev.chat = chat;
        ev.cookie = in->cookie;
        ev.email = from;
        ev.text = refusal;
        emit(m, &ev);
        return;
    }
    msnp_app_kind kind = msnp_invite_classify(in, NULL);
    inv *v = inv_new(m, in->cookie, kind, 0, chat, from);
    if (!v) return;
    if (in->session_id.n) msnp_str_copy(in->session_id, v->session_id, sizeof(v->session_id));
    if (kind == MSNP_APP_UNKNOWN || kind == MSNP_APP_OTHER || kind == MSNP_APP_GAME || kind == MSNP_APP_NETMEETING) {
        char *name = malloc(in->app_name.n + 1);
        if (name) msnp_str_copy(in->app_name, name, in->app_name.n + 1);
        msnc_event ev = {0};
        ev.type = MSNC_EV_INFO;
        ev.chat = chat;
        ev.cookie = in->cookie;
        ev.email = from;
        ev.app = app_name(kind);
        ev.text = "declined an invitation for an application msnc does not support";
        ev.file = name;
        emit(m, &ev);
        free(name);
        send_cancel(v, "REJECT_NOT_INSTALLED");
        drop(v);
        return;
    }
    if (kind == MSNP_APP_FILE_TRANSFER) {
        char raw[256];
        msnp_str_copy(in->file, raw, sizeof(raw));
        msnc_ftp_safe_name(raw, v->file, sizeof(v->file));
        v->size = in->has_file_size ? in->file_size : UINT64_MAX;
        v->reverse = in->connectivity.n > 0 && (in->connectivity.p[0] == 'N' || in->connectivity.p[0] == 'n');
    }
    v->state = INV_OFFERED;
    m->last_incoming = v->cookie;
    arm(v, invite_ms(m));
    emit_simple(v, MSNC_EV_INVITE, NULL);
}

/* Reverse case: the receiver's ACCEPT says Sender-Connect: TRUE with its
 * address and AuthCookie; we connect, and check that cookie in its USR. */
static void sender_connect(inv *v, const msnp_invite *in) {
    peer_addrs pa;
    if (peer_addrs_from(in, &pa) != 0 || !peer_auth_cookie(in->auth_cookie, v->auth_cookie)) {
        refuse_accept(v, "receiver asked us to connect but gave no usable address or AuthCookie");
        return;
    }
    (void)start_sender(v, &pa);
}

/* Reverse case, receiver side: listen and answer with our own address. */
static void receiver_listen(inv *v) {
    snprintf(v->auth_cookie, sizeof(v->auth_cookie), "%" PRIu32, random_u32());
    if (start_receiver(v, NULL) == 0) send_listen_accept(v, v->chat, 1);
}

/* The peer accepted our INVITE. */
static void on_accept_outgoing(inv *v, int chat, const msnp_invite *in) {
    msnc_invites *m = v->m;
    emit_simple(v, MSNC_EV_INVITE_ACCEPTED, NULL);
    msnp_invite_fields f = {0};
    f.command = MSNP_INVITE_ACCEPT;
    if (v->session_id[0]) f.session_id = v->session_id;
    char addr[64];
    uint16_t port = 0;
    switch (v->kind) {
    case MSNP_APP_FILE_TRANSFER:
        if (in->sender_connect) {
            sender_connect(v, in);
            return;
        }
        snprintf(v->auth_cookie, sizeof(v->auth_cookie), "%" PRIu32, random_u32());
        if (start_sender(v, NULL) == 0) send_listen_accept(v, chat, 0);
        return;
    case MSNP_APP_VOICE:
    case MSNP_APP_VIDEO:
        if (start_listen(v, &port) != 0) break;
        snprintf(addr, sizeof(addr), "%s:%u", m->bind_ip, (unsigned)port);
        f.ip = addr;
        send_fields(v, chat, &f);
        return;
    case MSNP_APP_WHITEBOARD:
    case MSNP_APP_APP_SHARING:
        /* IP only; the invitee answers with CONTEXT and its own address. */
        f.ip = m->bind_ip;
        send_fields(v, chat, &f);
        v->state = INV_WAIT_CONTEXT;
        arm(v, connect_ms(m));
        return;
    case MSNP_APP_REMOTE_ASSISTANCE:
        if (start_listen(v, &port) != 0) break;
        snprintf(addr, sizeof(addr), "%s:%u", m->bind_ip, (unsigned)port);
        f.ip = m->bind_ip;
        f.context_data = addr;
        send_fields(v, chat, &f);
        return;
    default: break;
    }
    (void)in;
    send_cancel(v, "FAIL");
    end_cancelled(v, "FAIL", 1);
}

/* The inviter's second ACCEPT: it carries the address to use. */
static void on_accept_incoming(inv *v, int chat, const msnp_invite *in) {
    msnc_invites *m = v->m;
    uint16_t port = msnp_invite_port(in);
    switch (v->kind) {
    case MSNP_APP_FILE_TRANSFER: {
        peer_addrs pa;
        if (peer_addrs_from(in, &pa) != 0 || !peer_auth_cookie(in->auth_cookie, v->auth_cookie)) {
            refuse_accept(v, "sender gave no usable address or AuthCookie");
            return;
        }
        (void)start_receiver(v, &pa);
        return;
    }
    case MSNP_APP_VOICE:
    case MSNP_APP_VIDEO: start_connect(v, in->ip, port); return;
    case MSNP_APP_WHITEBOARD:
    case MSNP_APP_APP_SHARING: {
        uint16_t lport;
        if (start_listen(v, &lport) != 0) {
            send_cancel(v, "FAIL");
            end_cancelled(v, "FAIL", 1);
            return;
        }
        char addr[64];
        snprintf(addr, sizeof(addr), "%s:%u", m->bind_ip, (unsigned)lport);
        msnp_invite_fields f = {0};
        f.command = MSNP_INVITE_CONTEXT;
        f.context_data = addr;
        if (v->session_id[0]) f.session_id = v->session_id;
        send_fields(v, chat, &f);
        return;
    }
    case MSNP_APP_REMOTE_ASSISTANCE:
        if (in->has_context_addr) start_connect(v, in->context_host, in->context_port);
        else start_connect(v, in->ip, port);
        return;
    default: send_cancel(v, "FAIL"); end_cancelled(v, "FAIL", 1);
    }
}

/* An ACCEPT for invitation v whose number fields are garbage ("Port: -1",
 * "PortX: x") is an unusable answer, like one without an address: v ends
 * now with CANCEL FAIL instead of both sides waiting for the timeout.
 * Returns 1 if it was such an answer. */
static int malformed_accept(inv *v, const char *from, const char *body, size_t off, const msnp_invite *in) {
    if (!v || in->command != MSNP_INVITE_ACCEPT || (from && v->peer[0] && strcasecmp(from, v->peer) != 0)) return 0;
    if (!(v->outgoing && v->state == INV_SENT) && !(!v->outgoing && v->state == INV_ACCEPTED)) return 0;
    msnp_str field = msnp_str_c("a field");
    for (size_t i = 0; i < in->mime.count; i++)
        if (in->mime.h[i].value.p == body + off) field = in->mime.h[i].name;
    char why[160];
    snprintf(why, sizeof(why), "the answer to the invitation has a malformed number (%.*s); ended it",
             (int)(field.n > 64 ? 64 : field.n), field.p);
    refuse_accept(v, why);
    return 1;
}

void msnc_invites_on_message(msnc_invites *m, int chat, const char *from, const char *body, size_t n) {
    msnp_invite in;
    size_t off = 0;
    msnp_invite_status st = msnp_invite_parse(body, n, &in, &off);
    if (st != MSNP_INVITE_OK || !in.has_cookie) {
        if (st == MSNP_INVITE_EBAD_NUMBER && in.has_cookie &&
            malformed_accept(find(m, in.cookie), from, body, off, &in))
            return;
        msnc_event ev = {0};
        ev.type = MSNC_EV_WARNING;
        ev.chat = chat;
        ev.email = from;
        ev.text = "ignored a malformed invitation";
        emit(m, &ev);
        return;
    }
    if (in.command == MSNP_INVITE_INVITE) {
        on_invite(m, chat, from, &in);
        return;
    }
    inv *v = find(m, in.cookie);
    if (!v) return;                                                   /* late or foreign: nothing to do */
    if (from && v->peer[0] && strcasecmp(from, v->peer) != 0) return; /* not the other party */
    switch (in.command) {
    case MSNP_INVITE_CANCEL: {
        if (v->ftp) {
            v->peer_cancelled = 1;
            msnp_str_copy(in.cancel_code, v->peer_cancel_code, sizeof(v->peer_cancel_code));
            msnc_ftp *f = v->ftp;
            msnc_ftp_cancel(f); /* reports through ftp_finished and drops v */
            return;
        }
        /* The Cancel-Code as sent, whole. */
        char *code = malloc(in.cancel_code.n + 1);
        if (code) msnp_str_copy(in.cancel_code, code, in.cancel_code.n + 1);
        end_cancelled(v, code && code[0] ? code : "CANCEL", 0);
        free(code);
        return;
    }
    case MSNP_INVITE_ACCEPT:
        if (v->outgoing && v->state == INV_SENT) on_accept_outgoing(v, chat, &in);
        else if (!v->outgoing && v->state == INV_ACCEPTED) on_accept_incoming(v, chat, &in);
        return;
    case MSNP_INVITE_CONTEXT:
        if (v->outgoing && v->state == INV_WAIT_CONTEXT) {
            if (in.has_context_addr) start_connect(v, in.context_host, in.context_port);
            else {
                send_cancel(v, "FAIL");
                end_cancelled(v, "FAIL", 1);
            }
        }
        return;
    default: return;
    }
}

/* ------------------------------------------------------------ decisions */

/* The invitation named, or with no cookie the oldest offer still waiting
 * for an answer (the list holds the newest first): offers are answered in
 * the order they came, and one already answered or ended is skipped. */
static inv *pick(msnc_invites *m, uint64_t cookie) {
    if (cookie) return find(m, cookie);
    inv *oldest = NULL;
    for (inv *v = m->list; v; v = v->next)
        if (!v->outgoing && v->state == INV_OFFERED) oldest = v;
    return oldest;
}

int msnc_invites_accept(msnc_invites *m, uint64_t cookie) {
    inv *v = pick(m, cookie);
    if (!v || v->outgoing || v->state != INV_OFFERED) return -1;
    msnp_invite_fields f = {0};
    f.command = MSNP_INVITE_ACCEPT;
    if (v->session_id[0]) f.session_id = v->session_id;
    int chat = v->chat;
    if (v->kind == MSNP_APP_FILE_TRANSFER && v->reverse) {
        if (m->cfg.no_incoming) {
            /* Neither side can be reached from outside; they may still
             * share a network, and listening is the only way left. */
            msnc_event ev = {0};
            ev.type = MSNC_EV_WARNING;
            ev.chat = v->chat;
            ev.cookie = v->cookie;
            ev.app = app_name(v->kind);
            ev.text = "both sides say they cannot accept connections; listening anyway";
            emit(m, &ev);
        }
        /* A failure to listen is reported as transfer_failed. */
        receiver_listen(v);
        return 0;
    }
    if (v->kind == MSNP_APP_FILE_TRANSFER) {
        f.launch_application = "FALSE";
        f.request_data = "IP-Address:";
    } else {
        f.ip = m->bind_ip;
        if (v->kind == MSNP_APP_VOICE || v->kind == MSNP_APP_VIDEO) {
            /* Voice and video answer on the second switchboard. */
            if (m->ops.other_chat) chat = m->ops.other_chat(v->chat, v->peer, m->arg);
            f.launch_application = "FALSE";
        }
    }
    send_fields(v, chat, &f);
    v->state = INV_ACCEPTED;
    arm(v, connect_ms(m));
    return 0;
}

int msnc_invites_decline(msnc_invites *m, uint64_t cookie) {
    inv *v = pick(m, cookie);
    if (!v || v->outgoing || v->state != INV_OFFERED) return -1;
    send_cancel(v, "REJECT");
    end_cancelled(v, "REJECT", 1);
    return 0;
}

int msnc_invites_cancel(msnc_invites *m, uint64_t cookie) {
    inv *v = cookie ? find(m, cookie) : m->list; /* the newest, either way */
    if (!v) return -1;
    if (v->ftp && v->state == INV_TRANSFER) {
        msnc_ftp *f = v->ftp;
        msnc_ftp_cancel(f); /* MSNFTP-level cancel; reports and drops v */
        return 0;
    }
    if (v->state == INV_OFFERED) return msnc_invites_decline(m, v->cookie);
    send_cancel(v, v->state == INV_SENT ? "TIMEOUT" : "OUTBANDCANCEL");
    end_cancelled(v, v->state == INV_SENT ? "TIMEOUT" : "OUTBANDCANCEL", 1);
    return 0;
}

void msnc_invites_unsent(msnc_invites *m, uint64_t cookie, int code) {
    inv *v = find(m, cookie); /* gone already when what waited was its CANCEL */
    if (v) end_cancelled_error(v, "FAIL", 1, code);
}

void msnc_invites_chat_closed(msnc_invites *m, int chat) {
    if (!m) return;
    /* What is still to be said on that chat never will be: those end now
     * (a running transfer, or a secondary connection under way, has its
     * own connection and its own timeouts, and goes on). */
    for (;;) {
        inv *v = m->list;
        while (v && (v->chat != chat || v->state == INV_CONNECTING || v->state == INV_TRANSFER)) v = v->next;
        if (!v) return;
        end_cancelled(v, "FAIL", 1);
    }
}

size_t msnc_invites_active(const msnc_invites *m) {
    size_t n = 0;
    for (const inv *v = m->list; v; v = v->next) n++;
    return n;
}

/* ------------------------------------------------------------ lifecycle */

msnc_invites *msnc_invites_new(struct event_base *base, const msnc_invite_config *cfg, const msnc_invite_ops *ops,
                               void *arg) {
    msnc_invites *m = calloc(1, sizeof(*m));
    if (!m) return NULL;
    m->base = base;
    m->cfg = *cfg;
    m->ops = *ops;
    m->arg = arg;
    m->email = cfg->email ? strdup(cfg->email) : NULL;
    m->bind_ip = strdup(cfg->bind_ip && *cfg->bind_ip ? cfg->bind_ip : "127.0.0.1");
    m->dir = strdup(cfg->download_dir && *cfg->download_dir ? cfg->download_dir : ".");
    m->cfg.email = m->cfg.bind_ip = m->cfg.download_dir = NULL;
    return m;
}

void msnc_invites_set_email(msnc_invites *m, const char *email) {
    free(m->email);
    m->email = email ? strdup(email) : NULL;
}

/* End one invitation because we are leaving, and say so: a running
 * transfer is cancelled inside MSNFTP (CCL or the cancel marker, then
 * transfer_failed "cancelled"); any other gets CANCEL OUTBANDCANCEL, an
 * offer we never answered included, so that its peer does not wait for
 * an answer that cannot come, and invite_cancelled. */
static void abandon(inv *v) {
    if (v->ftp && v->state == INV_TRANSFER) {
        msnc_ftp_cancel(v->ftp); /* reports and drops v */
        return;
    }
    send_cancel(v, "OUTBANDCANCEL");
    msnc_event ev = inv_event(v, MSNC_EV_INVITE_CANCELLED);
    ev.email = v->peer;
    ev.text = "OUTBANDCANCEL";
    ev.local_side = 1;
    ev.file = v->file[0] ? v->file : NULL;
    /* one we sent or accepted was meant to happen; an offer we never
     * answered was not */
    if (v->outgoing || v->state != INV_OFFERED) ev.status = "abandoned";
    emit(v->m, &ev);
    drop(v);
}

void msnc_invites_end_all(msnc_invites *m) {
    if (!m) return;
    while (m->list) abandon(m->list);
}

void msnc_invites_free(msnc_invites *m) {
    if (!m) return;
    /* The user is gone: the peers are told, nobody else. */
    while (m->list) {
        inv *v = m->list;
        if (v->state != INV_TRANSFER) send_cancel(v, "OUTBANDCANCEL");
        drop(v);
    }
    free(m->email);
    free(m->bind_ip);
    free(m->dir);
    free(m);
}
