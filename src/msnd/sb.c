/* Switchboard role: USR/ANS join with cookies, CAL -> RNG through the
 * callee's NS connection, MSG relay with ACK/NAK, OUT/BYE. Payloads are
 * relayed byte for byte. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link.h"
#include "log.h"
#include "peering.h"
#include "presence.h"
#include "role.h"
#include "sb.h"
#include "sbgate.h"
#include "sbreg.h"
#include "server.h"

#define ARG(i) (cmd->argv[(i)])

/* The number of other participants the bytes could not be queued for
 * (each of them is being dropped for its output). */
static size_t send_to_others(conn *c, const void *data, size_t n) {
    sb_session *ss = c->session;
    size_t missed = 0;
    for (size_t i = 0; i < ss->nmembers; i++)
        if (ss->members[i] != c && conn_send(ss->members[i], data, n) != 0) missed++;
    return missed;
}

static void joined(conn *c) {
    c->sb_joined = 1;
    /* The account's id, from its notification session in this process:
     * the deleted-accounts sweep (server.c) closes this connection when
     * the account is gone, also after that session ended. 0 when it has
     * none here: the node of its session tells (GONE) while it has one. */
    const conn *ns = c->srv->has_ns ? presence_find(c->srv->presence, c->email) : NULL;
    c->uid = ns && ns->state == NS_AUTH ? ns->uid : 0;
    conn_set_login_timer(c, 0);
    conn_set_idle_timeout(c, c->srv->cfg.sb_idle_timeout);
}

/* USR and CAL ask the notification side (sbgate.h): directly when this
 * process is also the notification server, over the cluster link (link.h)
 * when the switchboard runs alone. Either way the answer comes back through
 * sb_auth_done / sb_ring_done. */

static void sb_usr(conn *c, const msnp_cmd *cmd) {
    msnd_server *s = c->srv;
    if (c->sb_joined || c->sb_authing) {
        conn_err(c, MSNP_ERR_ALREADY_LOGIN, trid_of(cmd));
        return;
    }
    char email[MSNP_MAX_EMAIL + 1], cookie[SB_COOKIE_MAX];
    if (cmd->argc < 3 || email_normalize(ARG(1), email, sizeof email) != 0 ||
        str_copy(ARG(2), cookie, sizeof cookie) != 0) {
        sb_auth_done(s, c, trid_of(cmd), SB_ANSWER_NO, "", NULL, "malformed USR");
        return;
    }
    if (s->has_ns) {
        char name[MSNP_MAX_NAME_ENCODED + 1];
        int ok = sbgate_auth(s, cookie, email, name, sizeof name) == 0;
        sb_auth_done(s, c, trid_of(cmd), ok ? SB_ANSWER_YES : SB_ANSWER_NO, email, name,
                     ok ? NULL : "cookie not valid for this e-mail");
        return;
    }
    c->sb_authing = 1;
    char why[LINK_WHY_MAX];
    if (link_ask_auth(s, c, trid_of(cmd), cookie, email, why, sizeof why) != 0) {
        c->sb_authing = 0;
        sb_auth_done(s, c, trid_of(cmd), SB_ANSWER_UNAVAILABLE, email, NULL, why);
    }
}

/* One user may be in at most max_switchboards_per_user sessions of this
 * switchboard at once; over it, 714 and close (logged). Returns 1 then. */
static int over_switchboard_quota(msnd_server *s, conn *c, msnd_trid trid, const char *email) {
    long have = sbreg_user_switchboards(s->sbreg, email);
    if (s->cfg.max_switchboards_per_user <= 0 || have < s->cfg.max_switchboards_per_user) return 0;
    LOGW("switchboard quota reached", "conn=%llu peer=%s user=%s open=%ld", (unsigned long long)c->id, c->peer, email,
         have);
    conn_err(c, MSNP_ERR_TOO_MANY_SESSIONS, trid);
    conn_close(c, "switchboard quota");
    return 1;
}

void sb_auth_done(msnd_server *s, conn *c, msnd_trid trid, int answer, const char *email, const char *name,
                  const char *why) {
    if (!c || c->closing) return;
    c->sb_authing = 0;
    if (answer != SB_ANSWER_YES) {
        int code = answer == SB_ANSWER_NO ? MSNP_ERR_AUTH_FAILED : MSNP_ERR_SERVER_UNAVAILABLE;
        LOGI("switchboard login refused", "conn=%llu peer=%s user=%s error=%d reason=\"%s\"", (unsigned long long)c->id,
             c->peer, email && email[0] ? email : "-", code, why ? why : "-");
        conn_err(c, code, trid);
        conn_close(c, answer == SB_ANSWER_NO ? "bad switchboard cookie" : "notification server unavailable");
        return;
    }
    if (over_switchboard_quota(s, c, trid, email)) return;
    snprintf(c->email, sizeof c->email, "%s", email);
    sb_session *ss = conn_set_name(c, name && name[0] ? name : email) == 0 ? sbreg_session_new(s->sbreg) : NULL;
    if (!ss || sbreg_join(s->sbreg, ss, c) != 0) {
        if (ss) sbreg_leave(s->sbreg, ss, c);
        conn_err(c, MSNP_ERR_SWITCHBOARD_FAILED, trid);
        conn_close(c, "switchboard failed");
        return;
    }
    joined(c);
    conn_cmd(c, "USR", trid, "OK", c->email, c->name, NULL);
    LOGI("switchboard opened", "conn=%llu user=%s session=%u", (unsigned long long)c->id, email, ss->id);
}

static void sb_ans(conn *c, const msnp_cmd *cmd) {
    msnd_server *s = c->srv;
    if (c->sb_joined || c->sb_authing) {
        conn_err(c, MSNP_ERR_ALREADY_LOGIN, trid_of(cmd));
        return;
    }
    char email[MSNP_MAX_EMAIL + 1], cookie[SB_COOKIE_MAX], name[MSNP_MAX_NAME_ENCODED + 1];
    uint64_t sid = 0;
    sb_session *ss = NULL;
    /* RNG cookies are this switchboard's own: no need to ask anyone. */
    if (cmd->argc < 4 || email_normalize(ARG(1), email, sizeof email) != 0 ||
        str_copy(ARG(2), cookie, sizeof cookie) != 0 || msnp_str_to_u64(ARG(3), UINT32_MAX, &sid) != 0 ||
        sbreg_redeem_name(s->sbreg, cookie, email, (uint32_t)sid, server_now_ms(), name, sizeof name) != 0 ||
        !sbreg_session_find(s->sbreg, (uint32_t)sid)) {
        LOGI("switchboard answer refused", "conn=%llu peer=%s", (unsigned long long)c->id, c->peer);
        conn_err(c, MSNP_ERR_AUTH_FAILED, trid_of(cmd));
        conn_close(c, "bad switchboard cookie");
        return;
    }
    /* A ring another node made may be answered before its reply brought
     * the callee's name: it is read from the store, which may wait
     * (PostgreSQL). Meanwhile this connection may have been closed (login
     * timeout), and the session may have ended with its last member: it is
     * looked up only afterwards. */
    char own[MSNP_MAX_NAME_ENCODED + 1] = "";
    if (!name[0] && s->has_ns) sbgate_name_of(s, email, own, sizeof own);
    if (c->closing) return;
    if (!(ss = sbreg_session_find(s->sbreg, (uint32_t)sid))) {
        LOGI("switchboard answer refused: the session ended", "conn=%llu peer=%s session=%llu",
             (unsigned long long)c->id, c->peer, (unsigned long long)sid);
        conn_err(c, MSNP_ERR_AUTH_FAILED, trid_of(cmd));
        conn_close(c, "switchboard session ended");
        return;
    }
    sbreg_ring_remove(ss, email);
    for (size_t i = 0; i < ss->nmembers; i++) {
        if (strcmp(ss->members[i]->email, email) == 0) { /* answered twice */
            conn_err(c, MSNP_ERR_ALREADY_THERE, trid_of(cmd));
            conn_close(c, "already in the session");
            return;
        }
    }
    if ((long)ss->nmembers >= s->cfg.max_participants) {
        conn_err(c, MSNP_ERR_SESSION_OVERLOAD, trid_of(cmd));
        conn_close(c, "switchboard full");
        return;
    }
    if (over_switchboard_quota(s, c, trid_of(cmd), email)) return;
    snprintf(c->email, sizeof c->email, "%s", email);
    if (conn_set_name(c, name[0] ? name : s->has_ns ? own : email) != 0) {
        conn_err(c, MSNP_ERR_SWITCHBOARD_FAILED, trid_of(cmd));
        conn_close(c, "out of memory");
        return;
    }
    char idx[24], total[24];
    snprintf(total, sizeof total, "%zu", ss->nmembers);
    for (size_t i = 0; i < ss->nmembers; i++) {
        snprintf(idx, sizeof idx, "%zu", i + 1);
        conn_cmd(c, "IRO", trid_of(cmd), idx, total, ss->members[i]->email, ss->members[i]->name, NULL);
    }
    if (sbreg_join(s->sbreg, ss, c) != 0) {
        conn_err(c, MSNP_ERR_SWITCHBOARD_FAILED, trid_of(cmd));
        conn_close(c, "switchboard failed");
        return;
    }
    joined(c);
    conn_cmd(c, "ANS", trid_of(cmd), "OK", NULL);
    char line[600];
    msnp_str p[2] = {msnp_str_c(c->email), msnp_str_c(c->name)};
    long n = msnp_write_cmd(line, sizeof line, "JOI", 0, 0, p, 2);
    if (n > 0) send_to_others(c, line, (size_t)n);
    LOGI("switchboard joined", "conn=%llu user=%s session=%u members=%zu", (unsigned long long)c->id, email, ss->id,
         ss->nmembers);
}

/* The ring went out to the callee's session here: it ends with that
 * session (ns_on_close), not only when its cookie expires. */
static void bind_ring(msnd_server *s, sb_session *ss, const char *email) {
    const conn *callee = presence_find(s->presence, email);
    if (callee) sbreg_ring_bind(ss, email, callee->id);
}

/* A caller who appears offline (HDN), or whose notification session has
 * ended, may not ring anyone from a switchboard joined before: the RNG
 * would show them online. XFR SB refuses them the same way (913). Where
 * the notification server is this process, it knows (a caller of another
 * node of a cluster: by what that node tells, sbgate_caller_offline); a
 * switchboard process of its own asks the callee's node, which answers
 * HIDDEN (link.h). */
static int caller_appears_offline(msnd_server *s, const conn *c) {
    return s->has_ns && sbgate_caller_offline(s, c->email);
}

static void sb_cal(conn *c, const msnp_cmd *cmd) {
    msnd_server *s = c->srv;
    sb_session *ss = c->session;
    uint64_t now = server_now_ms();
    char email[MSNP_MAX_EMAIL + 1];
    if (cmd->argc < 2 || email_normalize(ARG(1), email, sizeof email) != 0) {
        conn_err(c, MSNP_ERR_INVALID_USERNAME, trid_of(cmd));
        return;
    }
    /* Calling too fast: more than 10 CALs within a second. */
    if (now - c->last_cal_ms < 1000) {
        if (++c->cal_burst > 10) {
            conn_err(c, MSNP_ERR_USER_TOO_ACTIVE, trid_of(cmd));
            return;
        }
    } else {
        c->last_cal_ms = now;
        c->cal_burst = 1;
    }
    if (strcmp(email, c->email) == 0 || sbreg_ringing(ss, email, now)) {
        conn_err(c, MSNP_ERR_ALREADY_THERE, trid_of(cmd));
        return;
    }
    if (caller_appears_offline(s, c)) {
        conn_err(c, MSNP_ERR_NOT_ALLOWED_WHEN_OFFLINE, trid_of(cmd));
        return;
    }
    for (size_t i = 0; i < ss->nmembers; i++) {
        if (strcmp(ss->members[i]->email, email) == 0) {
            conn_err(c, MSNP_ERR_ALREADY_THERE, trid_of(cmd));
            return;
        }
    }
    if ((long)(ss->nmembers + sbreg_ring_count(ss, now)) >= s->cfg.max_participants) {
        conn_err(c, MSNP_ERR_SESSION_OVERLOAD, trid_of(cmd));
        return;
    }
    /* The ring is registered before the notification side is asked, so a
     * second CAL for the same callee meanwhile gets 215. */
    char cookie[SB_COOKIE_MAX];
    uint64_t expires = now + (uint64_t)s->cfg.cookie_lifetime * 1000u;
    if (sbreg_issue(s->sbreg, email, ss->id, expires, cookie, sizeof cookie) != 0) {
        conn_err(c, MSNP_ERR_SWITCHBOARD_FAILED, trid_of(cmd));
        return;
    }
    if (sbreg_ring_add(ss, email, cookie, expires) != 0) {
        sbreg_cancel(s->sbreg, cookie);
        conn_err(c, MSNP_ERR_SWITCHBOARD_FAILED, trid_of(cmd));
        return;
    }
    /* A callee logged in to another notification node (--ns-peers): that
     * node rings. Anyone else is answered here, 217 included. */
    const ns_peer *elsewhere = s->has_ns ? presence_remote_from(s->presence, email) : NULL;
    if (elsewhere && !presence_find(s->presence, email)) {
        if (peering_ask_ring(s, elsewhere, c, trid_of(cmd), ss->id, cookie, c->email, c->name, email) != 0)
            sb_ring_done(s, c, trid_of(cmd), ss->id, email, cookie, SB_ANSWER_UNAVAILABLE, NULL,
                         "the notification peer the callee is on is not linked or too many requests are waiting");
        return;
    }
    if (s->has_ns) {
        char name[MSNP_MAX_NAME_ENCODED + 1];
        uint32_t sid = ss->id;
        int r = sbgate_ring(s, c->email, c->name, email, sid, cookie, NULL, name, sizeof name);
        /* Looked up again: the ring's reads may wait (PostgreSQL), and a
         * session whose last member left meanwhile (the caller's connection
         * closed by a shutdown or a write error) has been freed. */
        ss = sbreg_session_find(s->sbreg, sid);
        if (r == 0 && ss) bind_ring(s, ss, email);
        sb_ring_done(s, c, trid_of(cmd), sid, email, cookie,
                     r == 0                 ? SB_ANSWER_YES
                         : r == SBGATE_FAIL ? SB_ANSWER_DB_ERROR
                                            : SB_ANSWER_NO,
                     name,
                     r == 0                 ? NULL
                         : r == SBGATE_FAIL ? "the database could not be read"
                                            : "callee not online");
        return;
    }
    char why[LINK_WHY_MAX];
    if (link_ask_ring(s, c, trid_of(cmd), ss->id, cookie, c->email, c->name, email, why, sizeof why) != 0)
        sb_ring_done(s, c, trid_of(cmd), ss->id, email, cookie, SB_ANSWER_UNAVAILABLE, NULL, why);
}

void sb_ring_done(msnd_server *s, conn *c, msnd_trid trid, uint32_t session_id, const char *callee, const char *cookie,
                  int answer, const char *callee_name, const char *why) {
    sb_session *ss = sbreg_session_find(s->sbreg, session_id);
    if (answer == SB_ANSWER_YES) {
        sbreg_set_name(s->sbreg, cookie, callee_name);
    } else {
        sbreg_cancel(s->sbreg, cookie);
        if (ss) sbreg_ring_remove(ss, callee);
    }
    if (!c || c->closing) return;
    if (answer == SB_ANSWER_YES) {
        char sid[16];
        snprintf(sid, sizeof sid, "%u", session_id);
        conn_cmd(c, "CAL", trid, "RINGING", sid, NULL);
        LOGD("ringing", "session=%u caller=%s callee=%s", session_id, c->email, callee);
    } else {
        int code = answer == SB_ANSWER_NO        ? MSNP_ERR_USER_NOT_ONLINE
            : answer == SB_ANSWER_DB_ERROR       ? MSNP_ERR_DB_SERVER
            : answer == SB_ANSWER_CALLER_OFFLINE ? MSNP_ERR_NOT_ALLOWED_WHEN_OFFLINE
                                                 : MSNP_ERR_SERVER_UNAVAILABLE;
        /* A callee not online is part of the day; a link that fails is not. */
        if (answer == SB_ANSWER_NO || answer == SB_ANSWER_CALLER_OFFLINE)
            LOGD("call not rung", "conn=%llu peer=%s session=%u caller=%s callee=%s error=%d reason=\"%s\"",
                 (unsigned long long)c->id, c->peer, session_id, c->email, callee, code, why ? why : "-");
        else
            LOGW("call failed", "conn=%llu peer=%s session=%u caller=%s callee=%s error=%d reason=\"%s\"",
                 (unsigned long long)c->id, c->peer, session_id, c->email, callee, code, why ? why : "-");
        conn_err(c, code, trid);
    }
}

static void log_invitation(conn *c, const msnp_cmd *cmd) {
    msnp_mime outer;
    if (msnp_mime_parse(cmd->payload.p, cmd->payload.n, &outer, NULL) != MSNP_MIME_OK) return;
    if (msnp_content_kind_of(&outer) != MSNP_CT_INVITE) return;
    msnp_invite *inv = malloc(sizeof *inv);
    if (!inv) return;
    if (msnp_invite_parse(outer.body.p, outer.body.n, inv, NULL) == MSNP_INVITE_OK) {
        /* room for every value a client sends in practice (Context-Data
         * of a whiteboard or Remote Assistance runs to a few hundred
         * bytes); a longer one is marked as cut (log_quote) */
        char app[128], guid[64], ip[128], ctx[640], cookie[64];
        msnp_app_kind kind = msnp_invite_classify(inv, NULL);
        sb_session *ss = c->session;
        const size_t slots = sizeof ss->invites / sizeof ss->invites[0];
        if (inv->has_cookie && inv->command == MSNP_INVITE_INVITE && kind != MSNP_APP_UNKNOWN) {
            ss->invites[ss->ninvites % slots].cookie = inv->cookie;
            ss->invites[ss->ninvites % slots].kind = (int)kind;
            ss->ninvites++;
        } else if (inv->has_cookie && kind == MSNP_APP_UNKNOWN) {
            /* the answers carry no GUID: the INVITE they answer said it */
            for (size_t i = 0; i < slots && i < ss->ninvites; i++)
                if (ss->invites[i].cookie == inv->cookie) kind = (msnp_app_kind)ss->invites[i].kind;
        }
        LOGI("invitation",
             "session=%u from=%s command=%s cookie=\"%s\" app=%s name=\"%s\" guid=\"%s\" ip=\"%s\" "
             "port=%u context=\"%s\"",
             c->session->id, c->email, msnp_invite_command_name(inv->command),
             log_quote(inv->cookie_raw.p, inv->cookie_raw.n, cookie, sizeof cookie), msnp_app_kind_name(kind),
             log_quote(inv->app_name.p, inv->app_name.n, app, sizeof app),
             log_quote(inv->app_guid.p, inv->app_guid.n, guid, sizeof guid),
             log_quote(inv->ip.p, inv->ip.n, ip, sizeof ip), inv->has_port ? (unsigned)inv->port : 0u,
             log_quote(inv->context_data.p, inv->context_data.n, ctx, sizeof ctx));
    }
    free(inv);
}

static void sb_msg(conn *c, const msnp_cmd *cmd) {
    msnd_server *s = c->srv;
    sb_session *ss = c->session;
    /* MSG trid U|N|A len: the ack letter is case-sensitive. D and S belong
     * to later protocol versions. */
    char mode = (cmd->argc == 3 && ARG(1).n == 1) ? ARG(1).p[0] : '?';
    if (!cmd->has_payload || (mode != 'U' && mode != 'N' && mode != 'A')) {
        conn_err(c, MSNP_ERR_INVALID_PARAMETER, trid_of(cmd));
        return;
    }
    if (s->cfg.max_message > 0 && cmd->payload.n > (size_t)s->cfg.max_message) {
        LOGI("message too large, refused", "conn=%llu user=%s bytes=%zu", (unsigned long long)c->id, c->email,
             cmd->payload.n);
        conn_err(c, MSNP_ERR_INVALID_PARAMETER, trid_of(cmd));
        return;
    }
    if (ss->nmembers < 2) {
        if (mode != 'U') conn_cmd(c, "NAK", trid_of(cmd), NULL);
        return;
    }
    if (s->cfg.log_invitations) log_invitation(c, cmd);
    msnp_str p[2] = {msnp_str_c(c->email), msnp_str_c(c->name)};
    char stackbuf[2048];
    size_t cap = cmd->payload.n + 600;
    char *buf = cap <= sizeof stackbuf ? stackbuf : malloc(cap);
    if (!buf) {
        if (mode != 'U') conn_cmd(c, "NAK", trid_of(cmd), NULL);
        return;
    }
    long n = msnp_write_payload_cmd(buf, cap, "MSG", 0, 0, p, 2, cmd->payload.p, cmd->payload.n);
    /* A participant that could not take it (dropped as a slow reader) never
     * gets it: that is a NAK, not an ACK. */
    size_t missed = n > 0 ? send_to_others(c, buf, (size_t)n) : 0;
    if (buf != stackbuf) free(buf);
    if (n <= 0 || missed > 0) {
        if (mode != 'U') conn_cmd(c, "NAK", trid_of(cmd), NULL);
        return;
    }
    if (mode == 'A') conn_cmd(c, "ACK", trid_of(cmd), NULL);
}

void sb_on_close(conn *c) {
    link_forget_conn(c->srv, c);
    sb_session *ss = c->session;
    if (!ss) return;
    uint32_t id = ss->id;
    sbreg_leave(c->srv->sbreg, ss, c);
    ss = sbreg_session_find(c->srv->sbreg, id);
    if (ss && !c->srv->shutting_down) {
        char line[200];
        msnp_str p[1] = {msnp_str_c(c->email)};
        long n = msnp_write_cmd(line, sizeof line, "BYE", 0, 0, p, 1);
        for (size_t i = 0; n > 0 && i < ss->nmembers; i++) conn_send(ss->members[i], line, (size_t)n);
    }
    LOGD("switchboard left", "conn=%llu user=%s session=%u", (unsigned long long)c->id, c->email, id);
}

static int sb_logged_in(const conn *c) { return c->sb_joined; }

static const role_cmd sb_cmds[] = {
    {MSNP_USR, sb_usr, 0, 0},
    {MSNP_ANS, sb_ans, 0, 0},
    {MSNP_CAL, sb_cal, 1, 0},
    {MSNP_MSG, sb_msg, 1, 0},
};

/* No PNG at a switchboard: it has no TrID, so it closes. */
const role sb_role = {sb_cmds, sizeof sb_cmds / sizeof sb_cmds[0], 0, sb_logged_in};
