/* client.c - dispatch and notification server: login, keep-alive,
 * reconnection, presence commands. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <msnkit/text.h>

#include "client_int.h"

#define MAX_NS_HOPS 4
#define DEFAULT_PING_MS 60000u
#define DEFAULT_BACKOFF_MAX_MS 60000u
#define FIRST_BACKOFF_MS 1000u
#define DEFAULT_HANDSHAKE_MS 30000u

static void ns_connect(msnc_client *c, const char *host, uint16_t port, const char *role);

void msnc_client_emit(msnc_client *c, msnc_event *ev) {
    if (c->cb) c->cb(ev, c->arg);
}

void msnc_client_emit_text(msnc_client *c, msnc_event_type t, const char *text) {
    msnc_event ev = {0};
    ev.type = t;
    ev.text = text;
    msnc_client_emit(c, &ev);
}

void msnc_client_warn_line(msnc_client *c, const msnp_cmd *cmd, const char *why) {
    size_t n = strlen(why) + cmd->line.n + 4;
    char *text = malloc(n);
    if (!text) return;
    snprintf(text, n, "%s: ", why);
    size_t off = strlen(text);
    memcpy(text + off, cmd->line.p, cmd->line.n);
    text[off + cmd->line.n] = '\0';
    msnc_client_emit_text(c, MSNC_EV_WARNING, text);
    free(text);
}

int msnc_client_field(msnc_client *c, const msnp_cmd *cmd, msnp_str s, char *dst, size_t cap, const char *what) {
    if (s.n < cap) {
        msnp_str_copy(s, dst, cap);
        return 0;
    }
    char why[160];
    snprintf(why, sizeof(why), "ignored a line whose %s is longer than %zu bytes", what, cap - 1);
    msnc_client_warn_line(c, cmd, why);
    return -1;
}

unsigned msnc_client_handshake_ms(const msnc_client *c) { return c->cfg.login_timeout_ms; }

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* ------------------------------------------------------------ lifecycle */

static void invite_event(const msnc_event *ev, void *arg) {
    msnc_client *c = arg;
    msnc_event copy = *ev;
    msnc_client_emit(c, &copy);
}

msnc_client *msnc_client_new(struct event_base *base, struct evdns_base *dns, const msnc_config *cfg, msnc_event_cb cb,
                             void *arg) {
    if (!cfg->server || !cfg->email || !cfg->password) return NULL;
    msnc_client *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->base = base;
    c->dns = dns;
    c->cfg = *cfg;
    c->server = strdup(cfg->server);
    c->email = strdup(cfg->email);
    c->password = strdup(cfg->password);
    c->bind_ip = strdup(cfg->bind_ip && *cfg->bind_ip ? cfg->bind_ip : "127.0.0.1");
    c->download_dir = strdup(cfg->download_dir && *cfg->download_dir ? cfg->download_dir : ".");
    c->cache_dir = dup_or_null(cfg->cache_dir);
    c->cb = cb;
    c->arg = arg;
    if (c->cfg.max_version < 2 || c->cfg.max_version > 7) c->cfg.max_version = 7;
    if (c->cfg.min_version < 2 || c->cfg.min_version > c->cfg.max_version) c->cfg.min_version = 2;
    if (!c->cfg.ping_interval_ms) c->cfg.ping_interval_ms = DEFAULT_PING_MS;
    if (!c->cfg.reconnect_max_ms) c->cfg.reconnect_max_ms = DEFAULT_BACKOFF_MAX_MS;
    if (!c->cfg.login_timeout_ms) c->cfg.login_timeout_ms = DEFAULT_HANDSHAKE_MS;
    c->wanted_status = cfg->initial_status > MSNP_STATUS_FLN ? cfg->initial_status : MSNP_STATUS_NLN;
    c->status = MSNP_STATUS_FLN;
    c->next_chat_id = 1;
    c->cfg.server = c->cfg.email = c->cfg.password = c->cfg.bind_ip = c->cfg.download_dir = c->cfg.cache_dir = NULL;
    msnc_invite_config ic = {0};
    ic.email = c->email;
    ic.bind_ip = c->bind_ip;
    ic.ftp_port_first = cfg->ftp_port_first;
    ic.ftp_port_last = cfg->ftp_port_last;
    ic.download_dir = c->download_dir;
    ic.invite_timeout_ms = cfg->invite_timeout_ms;
    ic.connect_timeout_ms = cfg->connect_timeout_ms;
    ic.ftp_max_rate = cfg->ftp_max_rate;
    ic.no_incoming = cfg->no_incoming;
    msnc_invite_ops ops = {msnc_sb_send_invite_payload, msnc_sb_other_chat, invite_event};
    c->invites = msnc_invites_new(base, &ic, &ops, c);
    if (!c->invites) {
        msnc_client_free(c);
        return NULL;
    }
    msnc_lists_load_cache(c);
    return c;
}

static void stop_timers(msnc_client *c) {
    if (c->ping_timer) event_free(c->ping_timer);
    if (c->reconnect_timer) event_free(c->reconnect_timer);
    c->ping_timer = c->reconnect_timer = NULL;
}

void msnc_client_free(msnc_client *c) {
    if (!c) return;
    stop_timers(c);
    c->nrequests = 0; /* the user is gone: nothing to report to */
    if (c->request_timer) event_free(c->request_timer);
    c->request_timer = NULL;
    if (c->invites) msnc_invites_free(c->invites);
    c->invites = NULL;
    msnc_sb_free_all(c, 0); /* the user is gone: nothing to report to */
    if (c->ns) msnc_line_free(c->ns);
    msnc_lists_free(c);
    free(c->server);
    free(c->email);
    if (c->password) {
        memset(c->password, 0, strlen(c->password));
        free(c->password);
    }
    free(c->bind_ip);
    free(c->download_dir);
    free(c->cache_dir);
    free(c);
}

/* ------------------------------------------------------------ requests */

static uint64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void request_timeout_cb(evutil_socket_t fd, short what, void *arg);

/* One timer for all requests: they are kept oldest first and all wait the
 * same login_timeout, so it follows the oldest. */
static void requests_arm(msnc_client *c) {
    if (!c->nrequests) {
        if (c->request_timer) evtimer_del(c->request_timer);
        return;
    }
    if (!c->request_timer && !(c->request_timer = evtimer_new(c->base, request_timeout_cb, c))) return;
    uint64_t due = c->requests[0].sent_ms + c->cfg.login_timeout_ms, now = mono_ms();
    uint64_t left = due > now ? due - now : 0;
    struct timeval tv = {(time_t)(left / 1000), (suseconds_t)((left % 1000) * 1000)};
    evtimer_add(c->request_timer, &tv);
}

static void request_remove(msnc_client *c, size_t i) {
    memmove(&c->requests[i], &c->requests[i + 1], (c->nrequests - i - 1) * sizeof c->requests[0]);
    c->nrequests--;
    if (i == 0) requests_arm(c);
}

/* Room for n more requests (a block or an allow sends two commands: both
 * are tracked, or neither is sent). */
static int request_room(const msnc_client *c, size_t n) { return c->nrequests + n <= MSNC_MAX_REQUESTS; }

/* A command just sent (trid 0: it was not): kept until its answer. */
static uint32_t request_sent(msnc_client *c, uint32_t trid, uint32_t code, const char *what, msnp_list list,
                             const char *email) {
    if (!trid || !request_room(c, 1)) return trid;
    ns_request *r = &c->requests[c->nrequests++];
    r->trid = trid;
    r->code = code;
    r->sent_ms = mono_ms();
    r->list = list;
    snprintf(r->email, sizeof r->email, "%s", email ? email : "");
    snprintf(r->what, sizeof r->what, "%s", what);
    if (c->nrequests == 1) requests_arm(c);
    return trid;
}

/* The request cmd answers (its reply, or an error under its TrID), taken
 * out of the table into *out. Other lines that carry a TrID (the ILN lines
 * after a CHG) do not end it. */
static int request_take(msnc_client *c, const msnp_cmd *cmd, ns_request *out) {
    if (!cmd->has_trid || !cmd->trid) return 0;
    for (size_t i = 0; i < c->nrequests; i++) {
        if (c->requests[i].trid != cmd->trid || (!cmd->is_error && cmd->code != c->requests[i].code)) continue;
        *out = c->requests[i];
        request_remove(c, i);
        return 1;
    }
    return 0;
}

static void request_unanswered(msnc_client *c, const ns_request *r, const char *why) {
    msnc_event ev = {0};
    ev.type = MSNC_EV_UNANSWERED;
    ev.trid = r->trid;
    ev.text = r->what;
    ev.status = why;
    if (r->email[0]) ev.email = r->email;
    if (r->list != MSNP_LIST_INVALID) ev.list = msnp_list_code(r->list);
    msnc_client_emit(c, &ev);
}

/* A server that never answers a command would leave the program that sent
 * it waiting for ever: after login_timeout it is reported (the connection
 * stays; a late answer is still shown for what it is). */
static void request_timeout_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    msnc_client *c = arg;
    uint64_t now = mono_ms();
    while (c->nrequests && c->requests[0].sent_ms + c->cfg.login_timeout_ms <= now) {
        ns_request r = c->requests[0];
        request_remove(c, 0);
        request_unanswered(c, &r, "timeout");
    }
    requests_arm(c);
}

/* The connection is gone (or the user leaves): no answer will come. */
static void requests_end(msnc_client *c, const char *why) {
    while (c->nrequests) {
        ns_request r = c->requests[0];
        request_remove(c, 0);
        request_unanswered(c, &r, why);
    }
}

size_t msnc_pending_requests(const msnc_client *c) { return c->nrequests; }

size_t msnc_pending_list_changes(const msnc_client *c, const char *email) {
    size_t n = 0;
    for (size_t i = 0; i < c->nrequests; i++)
        if (c->requests[i].list != MSNP_LIST_INVALID && strcasecmp(c->requests[i].email, email) == 0) n++;
    return n;
}

void msnc_client_login_progress(msnc_client *c) {
    if (c->ready || c->state != NS_ONLINE || c->syncing || c->login_chg_trid) return;
    c->ready = 1;
    msnc_line_set_deadline(c->ns, 0, NULL);
}

int msnc_is_ready(const msnc_client *c) { return c->state == NS_ONLINE && c->ready; }

/* ------------------------------------------------------------ connection */

static void ns_lost(msnc_client *c, const char *why);

static void reconnect_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    msnc_login(arg);
}

static void schedule_reconnect(msnc_client *c) {
    if (!c->backoff_ms) c->backoff_ms = FIRST_BACKOFF_MS;
    unsigned delay = c->backoff_ms;
    c->backoff_ms = c->backoff_ms * 2 > c->cfg.reconnect_max_ms ? c->cfg.reconnect_max_ms : c->backoff_ms * 2;
    if (!c->reconnect_timer) c->reconnect_timer = evtimer_new(c->base, reconnect_cb, c);
    struct timeval tv = {(time_t)(delay / 1000), (suseconds_t)((delay % 1000) * 1000)};
    if (c->reconnect_timer) evtimer_add(c->reconnect_timer, &tv);
    msnc_event ev = {0};
    ev.type = MSNC_EV_RECONNECTING;
    ev.delay_ms = delay;
    msnc_client_emit(c, &ev);
}

static void ping_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    msnc_client *c = arg;
    if (c->state != NS_ONLINE || !c->ns) return;
    if (c->pings_unanswered >= 2) {
        ns_lost(c, "notification server stopped answering PNG");
        return;
    }
    c->pings_unanswered++;
    msnc_line_send_bare(c->ns, "PNG");
}

/* Offline: what the server said about the contacts' presence no longer
 * holds (someone may leave while we are away, and nobody tells us); the
 * next login's ILN and NLN say who is online. */
static void forget_presence(msnc_client *c) {
    for (contact *k = c->contacts; k; k = k->next) k->status = MSNP_STATUS_FLN;
}

static void ns_lost(msnc_client *c, const char *why) {
    int was_online = c->state == NS_ONLINE;
    if (c->ns) msnc_line_free(c->ns);
    c->ns = NULL;
    c->state = NS_IDLE;
    c->status = MSNP_STATUS_FLN;
    c->ready = 0;
    c->login_chg_trid = 0;
    forget_presence(c);
    if (c->ping_timer) evtimer_del(c->ping_timer);
    msnc_sb_ns_lost(c);
    requests_end(c, "disconnected");
    msnc_event ev = {0};
    ev.type = was_online || c->ever_logged_in ? MSNC_EV_DISCONNECTED : MSNC_EV_LOGIN_FAILED;
    ev.text = why;
    msnc_client_emit(c, &ev);
    if (!c->user_logout && !c->no_reconnect && c->cfg.reconnect && c->ever_logged_in) schedule_reconnect(c);
}

static void send_ver(msnc_client *c) {
    char vers[7][8];
    const char *p[9];
    size_t n = 0;
    for (int v = c->cfg.max_version; v >= c->cfg.min_version && n < 7; v--) {
        snprintf(vers[n], sizeof(vers[n]), "MSNP%d", v);
        p[n] = vers[n];
        n++;
    }
    p[n++] = "CVR0";
    p[n] = NULL;
    /* msnc_line_send takes a NULL-terminated list; pass up to 8 params. */
    msnc_line_send(c->ns, "VER", p[0], n > 1 ? p[1] : NULL, n > 2 ? p[2] : NULL, n > 3 ? p[3] : NULL,
                   n > 4 ? p[4] : NULL, n > 5 ? p[5] : NULL, n > 6 ? p[6] : NULL, n > 7 ? p[7] : NULL, NULL);
    c->state = NS_VER;
}

static void ns_connected(msnc_line *l, void *arg) {
    (void)l;
    send_ver(arg);
}

static void ns_closed(msnc_line *l, const char *reason, void *arg) {
    msnc_client *c = arg;
    if (c->ns != l) return;
    msnc_line_free(l);
    c->ns = NULL;
    ns_lost(c, reason);
}

static void login_failed(msnc_client *c, int code, const char *text) {
    c->no_reconnect = code == MSNP_ERR_AUTH_FAILED;
    if (c->ns) msnc_line_free(c->ns);
    c->ns = NULL;
    c->state = NS_IDLE;
    msnc_event ev = {0};
    ev.type = MSNC_EV_LOGIN_FAILED;
    ev.code = code;
    ev.text = text;
    msnc_client_emit(c, &ev);
    if (!c->no_reconnect && !c->user_logout && c->cfg.reconnect && c->ever_logged_in) schedule_reconnect(c);
}

/* A field that is only a number: the verified flag or kid of newer
 * servers where MSNP7 has the display name. */
static int numeric_field(msnp_str s) {
    if (s.n == 0) return 0;
    for (size_t i = 0; i < s.n; i++)
        if (s.p[i] < '0' || s.p[i] > '9') return 0;
    return 1;
}

static void on_logged_in(msnc_client *c, const msnp_cmd *cmd) {
    /* USR trid OK email name (MSNP7), USR trid OK email (no name), or
     * USR trid OK email verified kid (newer servers: no name either). */
    char self_name[MSNP_MAX_NAME_ENCODED + 1];
    snprintf(self_name, sizeof(self_name), "%s", c->email);
    if (cmd->argc >= 4 && !(numeric_field(cmd->argv[3]) && (cmd->argc == 4 || numeric_field(cmd->argv[4]))) &&
        msnc_client_field(c, cmd, cmd->argv[3], self_name, sizeof(self_name), "name") != 0)
        snprintf(self_name, sizeof(self_name), "%s", c->email);
    snprintf(c->self_name, sizeof(c->self_name), "%s", self_name);
    c->state = NS_ONLINE;
    c->ever_logged_in = 1;
    c->backoff_ms = 0;
    c->hops = 0;
    /* Logged in, not ready: the lists and the first status are still to
     * come, and a server that stalls now is as stuck as one that stalls
     * during USR (a fresh login_timeout from here). */
    c->ready = 0;
    c->syncing = 1;
    c->login_chg_trid = 0;
    char why[400];
    snprintf(why, sizeof(why), "%s did not send the contact list and the status within %u s of the login",
             msnc_line_peer(c->ns), c->cfg.login_timeout_ms / 1000u);
    msnc_line_set_deadline(c->ns, c->cfg.login_timeout_ms, why);
    char name[MSNP_MAX_NAME_ENCODED + 1];
    msnc_url_decode(msnp_str_c(c->self_name), name, sizeof(name));
    msnc_event ev = {0};
    ev.type = MSNC_EV_LOGGED_IN;
    ev.email = c->email;
    ev.name = name;
    ev.version = c->version;
    msnc_client_emit(c, &ev);
    if (c->state != NS_ONLINE) return;
    char ver[16];
    snprintf(ver, sizeof(ver), "%" PRIu32, c->list_version);
    msnc_line_send(c->ns, "SYN", ver, NULL);
    c->login_chg_trid = msnc_line_send(c->ns, "CHG", msnp_status_code(c->wanted_status), NULL);
    msnc_client_login_progress(c); /* a CHG that could not be sent is not waited for */
    if (!c->ping_timer) c->ping_timer = event_new(c->base, -1, EV_PERSIST, ping_cb, c);
    struct timeval tv = {(time_t)(c->cfg.ping_interval_ms / 1000),
                         (suseconds_t)((c->cfg.ping_interval_ms % 1000) * 1000)};
    c->pings_unanswered = 0;
    if (c->ping_timer) evtimer_add(c->ping_timer, &tv);
}

static void on_xfr_ns(msnc_client *c, const msnp_cmd *cmd) {
    msnp_str host;
    uint16_t port = 0; /* none given: 1863 */
    if (cmd->argc < 3 || msnp_split_hostport(cmd->argv[2], &host, &port, 0) != 0 || host.n == 0 || host.n >= 256) {
        msnc_client_warn_line(c, cmd, "unusable XFR NS");
        login_failed(c, 0, "malformed XFR NS from the dispatch server");
        return;
    }
    if (++c->hops > MAX_NS_HOPS) {
        login_failed(c, 0, "too many XFR NS redirections");
        return;
    }
    char h[256];
    msnp_str_copy(host, h, sizeof(h));
    if (port == 0) port = 1863;
    msnc_line_free(c->ns);
    c->ns = NULL;
    ns_connect(c, h, port, "ns");
}

static void on_ns_command(msnc_line *l, const msnp_cmd *cmd, void *arg) {
    msnc_client *c = arg;
    if (c->ns != l) return;
    ns_request req;
    int answers = c->state == NS_ONLINE && request_take(c, cmd, &req);
    if (c->state == NS_ONLINE && c->login_chg_trid && cmd->has_trid && cmd->trid == c->login_chg_trid &&
        (cmd->is_error || cmd->code == MSNP_CHG)) {
        /* the first status is answered (even refused): what follows this
         * line is reported as the ready client's */
        c->login_chg_trid = 0;
        msnc_client_login_progress(c);
    }
    if (cmd->is_error) {
        int code = atoi(cmd->name);
        if (c->state != NS_ONLINE) {
            login_failed(c, code, msnp_error_text(code));
            return;
        }
        if (msnc_sb_on_ns_error(c, cmd)) return;
        msnc_event ev = {0};
        ev.type = MSNC_EV_SERVER_ERROR;
        ev.code = code;
        ev.trid = cmd->trid;
        ev.text = msnp_error_text(code);
        if (answers && req.list != MSNP_LIST_INVALID) {
            ev.email = req.email;
            ev.list = msnp_list_code(req.list);
        }
        msnc_client_emit(c, &ev);
        return;
    }
    switch (cmd->code) {
    case MSNP_VER: {
        msnp_version best = MSNP_VERSION_NONE;
        for (size_t i = 1; i < cmd->argc; i++) {
            msnp_version v = msnp_version_parse(cmd->argv[i]);
            if ((int)v >= c->cfg.min_version && (int)v <= c->cfg.max_version && v > best) best = v;
        }
        if (best == MSNP_VERSION_NONE) {
            login_failed(c, 0, "server offers no protocol version in common (MSNP2-MSNP7)");
            return;
        }
        c->version = (int)best;
        if (best >= MSNP3)
            msnc_line_send(c->ns, "CVR", "0x0409", "linux", "6.1", "i386", "MSMSGS", "4.6.0082",
                           best >= MSNP4 ? "MSMSGS" : NULL, NULL);
        msnc_line_send(c->ns, "INF", NULL);
        c->state = NS_INF;
        return;
    }
    case MSNP_CVR: return; /* version advice: nothing to act on */
    case MSNP_INF: {
        int md5 = 0;
        for (size_t i = 1; i < cmd->argc; i++)
            if (msnp_str_istarts(cmd->argv[i], "MD5")) md5 = 1;
        if (!md5) {
            login_failed(c, 0, "server does not offer MD5 authentication");
            return;
        }
        msnc_line_send(c->ns, "USR", "MD5", "I", c->email, NULL);
        c->state = NS_USR_I;
        return;
    }
    case MSNP_XFR:
        if (cmd->argc >= 2 && msnp_str_eq(cmd->argv[1], "NS")) {
            on_xfr_ns(c, cmd);
        } else if (cmd->argc >= 2 && msnp_str_eq(cmd->argv[1], "SB")) {
            msnc_sb_on_xfr(c, cmd);
        }
        return;
    case MSNP_USR:
        if (cmd->argc >= 4 && msnp_str_eq(cmd->argv[1], "MD5") && msnp_str_eq(cmd->argv[2], "S") &&
            c->state == NS_USR_I) {
            char resp[MSNP_MD5_HEX_LEN + 1];
            msnp_login_response(cmd->argv[3], msnp_str_c(c->password), resp);
            msnc_line_send(c->ns, "USR", "MD5", "S", resp, NULL);
            c->state = NS_USR_S;
        } else if (cmd->argc >= 3 && msnp_str_eq(cmd->argv[1], "OK") && c->state == NS_USR_S) {
            on_logged_in(c, cmd);
        } else {
            msnc_client_warn_line(c, cmd, "ignored an unexpected USR");
        }
        return;
    case MSNP_CHG:
        /* CHG trid status [capabilities ...]: extra fields are not used. */
        if (cmd->argc >= 2) {
            msnp_status s = msnp_status_parse(cmd->argv[1]);
            if (s == MSNP_STATUS_INVALID) msnc_client_warn_line(c, cmd, "ignored a CHG with an unknown status");
            if (s != MSNP_STATUS_INVALID) {
                c->status = s;
                msnc_event ev = {0};
                ev.type = MSNC_EV_STATUS;
                ev.status = msnp_status_code(s);
                ev.email = c->email;
                msnc_client_emit(c, &ev);
            }
        }
        return;
    case MSNP_ILN:
    case MSNP_NLN:
    case MSNP_FLN: msnc_lists_on_presence(c, cmd); return;
    case MSNP_CHL:
        if (cmd->argc >= 2) {
            char resp[MSNP_MD5_HEX_LEN + 1];
            if (msnp_chl_response(cmd->argv[1], msnp_str_c(MSNP_CHL_CLIENT_ID), resp) == 0)
                msnc_line_send_payload(c->ns, "QRY", resp, MSNP_MD5_HEX_LEN, MSNP_CHL_CLIENT_ID, NULL);
        }
        return;
    case MSNP_QRY: return;
    case MSNP_QNG: c->pings_unanswered = 0; return;
    case MSNP_RNG: msnc_sb_on_rng(c, cmd); return;
    case MSNP_OUT: {
        int oth = cmd->argc >= 1 && msnp_str_eq(cmd->argv[0], "OTH");
        if (oth) c->no_reconnect = 1;
        ns_lost(c,
                oth ? "logged in from another place (OUT OTH)"
                    : (cmd->argc >= 1 && msnp_str_eq(cmd->argv[0], "SSD") ? "server shutting down (OUT SSD)"
                                                                          : "server ended the session (OUT)"));
        return;
    }
    case MSNP_MSG: return; /* profile and Hotmail notices */
    case MSNP_NOT:
    case MSNP_IPG:
    case MSNP_URL: return; /* notices and links for clients with a web view */
    default:
        if (msnc_lists_on_command(c, cmd)) return;
        msnc_client_warn_line(c, cmd, "ignored an unknown command from the server");
        return;
    }
}

static void ns_connect(msnc_client *c, const char *host, uint16_t port, const char *role) {
    msnc_line_callbacks cb = {ns_connected, on_ns_command, ns_closed};
    char peer[300];
    msnkit_endpoint(peer, sizeof(peer), host, port);
    msnc_event ev = {0};
    ev.type = MSNC_EV_CONNECTING;
    ev.text = role;
    ev.peer = peer;
    msnc_client_emit(c, &ev);
    c->ns = msnc_line_connect(c->base, c->dns, host, port, &cb, c);
    c->state = NS_IDLE;
    if (!c->ns) {
        ns_lost(c, "cannot create a connection");
        return;
    }
    char why[400];
    snprintf(why, sizeof(why), "%s did not complete the login within %u s", peer, c->cfg.login_timeout_ms / 1000u);
    msnc_line_set_deadline(c->ns, c->cfg.login_timeout_ms, why);
}

int msnc_login(msnc_client *c) {
    if (c->ns) return -1;
    c->ready = 0;
    c->user_logout = 0;
    c->no_reconnect = 0;
    c->hops = 0;
    msnp_str host;
    uint16_t port = 1863;
    if (msnp_split_hostport(msnp_str_c(c->server), &host, &port, 0) != 0 || host.n == 0 || host.n >= 256) {
        login_failed(c, 0, "bad server address (want host:port)");
        return -1;
    }
    if (port == 0) port = 1863;
    char h[256];
    msnp_str_copy(host, h, sizeof(h));
    ns_connect(c, h, port, "ds");
    return 0;
}

void msnc_logout(msnc_client *c) {
    c->user_logout = 1;
    stop_timers(c);
    /* What never left ends first, so that an invitation still queued is
     * reported as never sent (FAIL); then the invitations under way are
     * cancelled while their chats can still carry the CANCEL. The manager
     * stays: a later msnc_login invites and receives again. */
    msnc_sb_fail_waiting(c);
    msnc_invites_end_all(c->invites);
    msnc_sb_free_all(c, 1);
    if (c->ns) {
        msnc_line_send_bare(c->ns, "OUT");
        msnc_line_close_after_flush(c->ns);
        c->ns = NULL;
    }
    c->state = NS_IDLE;
    c->status = MSNP_STATUS_FLN;
    c->ready = 0;
    c->login_chg_trid = 0;
    forget_presence(c);
    requests_end(c, "logout"); /* OUT is on its way: no answer can come now */
}

size_t msnc_active_invitations(const msnc_client *c) { return c->invites ? msnc_invites_active(c->invites) : 0; }

int msnc_is_online(const msnc_client *c) { return c->state == NS_ONLINE; }
const char *msnc_self_email(const msnc_client *c) { return c->email; }
msnp_status msnc_self_status(const msnc_client *c) { return c->status; }

/* ---------------------------------------------------------- NS commands */

uint32_t msnc_set_status(msnc_client *c, msnp_status s) {
    if (s <= MSNP_STATUS_FLN) return 0;
    c->wanted_status = s;
    if (c->state != NS_ONLINE || !request_room(c, 1)) return 0;
    char what[16];
    snprintf(what, sizeof(what), "CHG %s", msnp_status_code(s));
    return request_sent(c, msnc_line_send(c->ns, "CHG", msnp_status_code(s), NULL), MSNP_CHG, what, MSNP_LIST_INVALID,
                        NULL);
}

static uint32_t list_change_sent(msnc_client *c, uint32_t trid, uint32_t code, msnp_list list, const char *email) {
    char what[16];
    snprintf(what, sizeof(what), "%s %s", code == MSNP_ADD ? "ADD" : "REM", msnp_list_code(list));
    return request_sent(c, trid, code, what, list, email);
}

uint32_t msnc_list_add(msnc_client *c, msnp_list list, const char *email, const char *name) {
    if (c->state != NS_ONLINE || list == MSNP_LIST_RL || list == MSNP_LIST_INVALID || !request_room(c, 1)) return 0;
    char enc[MSNP_MAX_NAME_ENCODED + 1];
    if (msnp_url_encode(msnp_str_c(name && *name ? name : email), enc, sizeof(enc)) < 0) return 0;
    uint32_t trid = list == MSNP_LIST_FL && c->version >= 7
        ? msnc_line_send(c->ns, "ADD", msnp_list_code(list), email, enc, "0", NULL)
        : msnc_line_send(c->ns, "ADD", msnp_list_code(list), email, enc, NULL);
    return list_change_sent(c, trid, MSNP_ADD, list, email);
}

uint32_t msnc_list_remove(msnc_client *c, msnp_list list, const char *email) {
    if (c->state != NS_ONLINE || list == MSNP_LIST_RL || list == MSNP_LIST_INVALID || !request_room(c, 1)) return 0;
    return list_change_sent(c, msnc_line_send(c->ns, "REM", msnp_list_code(list), email, NULL), MSNP_REM, list, email);
}

uint32_t msnc_rename(msnc_client *c, const char *email, const char *name) {
    if (c->state != NS_ONLINE || !request_room(c, 1)) return 0;
    char enc[MSNP_MAX_NAME_ENCODED + 1];
    if (msnp_url_encode(msnp_str_c(name), enc, sizeof(enc)) < 0) return 0;
    const char *who = email ? email : c->email;
    return request_sent(c, msnc_line_send(c->ns, "REA", who, enc, NULL), MSNP_REA, "REA", MSNP_LIST_INVALID, who);
}

static int move_between(msnc_client *c, const char *email, msnp_list from, msnp_list to) {
    if (c->state != NS_ONLINE || !request_room(c, 2)) return -1;
    contact *k = msnc_lists_find(c, email);
    int was_from = k && (k->lists & (1u << from));
    if (was_from) msnc_list_remove(c, from, email);
    if (k && (k->lists & (1u << to))) return was_from ? 0 : 1;
    /* under the name the contact has on the FL, not its address */
    char name[MSNP_MAX_NAME_ENCODED + 1];
    if (k && k->name[0]) msnc_url_decode(msnp_str_c(k->name), name, sizeof(name));
    else snprintf(name, sizeof(name), "%s", email);
    return msnc_list_add(c, to, email, name) ? 0 : -1;
}

int msnc_block(msnc_client *c, const char *email) { return move_between(c, email, MSNP_LIST_AL, MSNP_LIST_BL); }
int msnc_allow(msnc_client *c, const char *email) { return move_between(c, email, MSNP_LIST_BL, MSNP_LIST_AL); }

void msnc_contacts(const msnc_client *c, msnp_list list, msnc_contact_fn fn, void *arg) {
    for (const contact *k = c->contacts; k; k = k->next) {
        if (!(k->lists & (1u << list))) continue;
        char name[MSNP_MAX_NAME_ENCODED + 1];
        msnc_url_decode(msnp_str_c(k->name), name, sizeof(name));
        fn(k->email, name, msnp_status_code(k->status), arg);
    }
}

/* ---------------------------------------------------------- invitations */

int msnc_invite_accept(msnc_client *c, uint64_t cookie) {
    return c->invites ? msnc_invites_accept(c->invites, cookie) : -1;
}
int msnc_invite_decline(msnc_client *c, uint64_t cookie) {
    return c->invites ? msnc_invites_decline(c->invites, cookie) : -1;
}
int msnc_invite_cancel(msnc_client *c, uint64_t cookie) {
    return c->invites ? msnc_invites_cancel(c->invites, cookie) : -1;
}
