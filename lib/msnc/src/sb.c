/* sb.c - switchboard chats: XFR SB + USR + CAL, RNG + ANS, messages,
 * typing, ACK/NAK, and invitation transport. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "client_int.h"

#define SB_PAYLOAD_MAX 1664 /* the switchboard's limit */
#define TEXT_CHUNK 1400     /* text bytes per message, leaving room for headers */

static chat *chat_by_id(const msnc_client *c, int id) {
    for (chat *h = c->chats; h; h = h->next)
        if (h->id == id) return h;
    return NULL;
}

static chat *chat_by_line(const msnc_client *c, const msnc_line *l) {
    for (chat *h = c->chats; h; h = h->next)
        if (h->line == l) return h;
    return NULL;
}

static chat *chat_new(msnc_client *c) {
    chat *h = calloc(1, sizeof(*h));
    if (!h) return NULL;
    h->id = c->next_chat_id++;
    h->client = c;
    h->next = c->chats;
    c->chats = h;
    return h;
}

/* A field kept whole, however long the server's line made it. */
static char *field_dup(msnp_str s) {
    char *d = malloc(s.n + 1);
    if (d) msnp_str_copy(s, d, s.n + 1);
    return d;
}

static size_t chats_with(const msnc_client *c, const char *peer) {
    size_t n = 0;
    for (const chat *h = c->chats; h; h = h->next)
        if (!peer || strcasecmp(h->last_peer, peer) == 0) n++;
    return n;
}

/* Room for one more chat with peer? If not, a warning says why. */
static int chat_allowed(msnc_client *c, const char *peer, const char *what) {
    char why[MSNP_MAX_EMAIL + 200];
    if (chats_with(c, NULL) >= MAX_CHATS)
        snprintf(why, sizeof(why), "refused %s with %s: %d chats are open already (the limit)", what, peer, MAX_CHATS);
    else if (chats_with(c, peer) >= MAX_CHATS_PER_PEER)
        snprintf(why, sizeof(why), "refused %s with %s: %d chats with them are open already (the limit)", what, peer,
                 MAX_CHATS_PER_PEER);
    else return 1;
    msnc_event ev = {0};
    ev.type = MSNC_EV_WARNING;
    ev.email = peer;
    ev.text = why;
    msnc_client_emit(c, &ev);
    return 0;
}

static void queued_free(queued_msg *q) {
    free(q->payload);
    free(q->text);
}

static void queue_clear(chat *h) {
    for (size_t i = 0; i < h->nqueued; i++) queued_free(&h->queue[i]);
    h->nqueued = 0;
}

/* A line of text that will not be sent: code, the error that ended its
 * wait (0: the chat closed); waiting, the lines ahead of it when it could
 * not wait at all. trid: a line sent already and refused, 0 otherwise. */
static void message_failed(msnc_client *c, const chat *h, const char *text, int code, size_t waiting, uint32_t trid) {
    msnc_event ev = {0};
    ev.type = MSNC_EV_MESSAGE_FAILED;
    ev.chat = h->id;
    ev.text = text;
    ev.code = code;
    ev.count = waiting;
    ev.trid = trid;
    if (trid) ev.status = "refused";
    msnc_client_emit(c, &ev);
}

/* The messages waiting for someone to join will not be sent: each is
 * reported (code: the error that ended the wait, 0 if the chat closed),
 * never dropped in silence. */
static void queue_fail(msnc_client *c, chat *h, int code) {
    /* taken off the chat first: what the reports lead to does not meet them */
    queued_msg q[QUEUE_CAP];
    size_t n = h->nqueued;
    memcpy(q, h->queue, n * sizeof(q[0]));
    h->nqueued = 0;
    for (size_t i = 0; i < n; i++) {
        if (q[i].text) message_failed(c, h, q[i].text, code, 0, q[i].trid);
        else if (q[i].cookie && c->invites) msnc_invites_unsent(c->invites, q[i].cookie, code);
        queued_free(&q[i]);
    }
}

/* A line sent whose ACK or NAK will not come (its chat ended first): it
 * may not have arrived, and the user hears so. */
static void message_unacked(msnc_client *c, const chat *h, const unacked_msg *u) {
    msnc_event ev = {0};
    ev.type = MSNC_EV_MESSAGE_FAILED;
    ev.chat = h->id;
    ev.text = u->text;
    ev.trid = u->trid;
    ev.status = "unacknowledged";
    msnc_client_emit(c, &ev);
}

static void unacked_free(unacked_msg *u) {
    free(u->text);
    free(u->payload);
}

/* How many lines may be out without an answer: one at a time once the
 * switchboard has said we send too fast, so that lines sent again keep
 * their order. */
static size_t window(const chat *h) { return h->throttled ? 1 : MAX_UNACKED; }

/* A switchboard that answers none of the lines sent would otherwise hold
 * them (and every line behind them) for ever: past the handshake timeout
 * without an answer, the chat is given up. */
static void answer_deadline(msnc_client *c, chat *h) {
    if (!h->nunacked) {
        msnc_line_set_deadline(h->line, 0, NULL);
        return;
    }
    char why[400];
    unsigned ms = msnc_client_handshake_ms(c);
    snprintf(why, sizeof(why), "switchboard %s answered none of the lines sent for %u s", msnc_line_peer(h->line),
             ms / 1000u);
    msnc_line_set_deadline(h->line, ms, why);
}

/* Remember a line sent with ack mode A until the server answers it (the
 * caller keeps the window: at most window(h) are out). */
static void unacked_add(msnc_client *c, chat *h, uint32_t trid, const char *text, const char *payload, size_t len,
                        unsigned refusals) {
    if (!trid || h->nunacked == MAX_UNACKED) return;
    unacked_msg *u = &h->unacked[h->nunacked];
    u->text = strdup(text);
    u->payload = malloc(len);
    if (!u->text || !u->payload) {
        unacked_free(u);
        return;
    }
    memcpy(u->payload, payload, len);
    u->len = len;
    u->trid = trid;
    u->refusals = refusals;
    if (h->nunacked++ == 0) answer_deadline(c, h);
}

/* Take the line sent as trid off the list into *out; 0 if none was. */
static int unacked_take(chat *h, uint32_t trid, unacked_msg *out) {
    for (size_t i = 0; i < h->nunacked; i++)
        if (h->unacked[i].trid == trid) {
            *out = h->unacked[i];
            h->nunacked--;
            memmove(&h->unacked[i], &h->unacked[i + 1], (h->nunacked - i) * sizeof(h->unacked[0]));
            return 1;
        }
    return 0;
}

static void unacked_clear(chat *h) {
    for (size_t i = 0; i < h->nunacked; i++) unacked_free(&h->unacked[i]);
    h->nunacked = 0;
}

/* The chat ends: no ACK or NAK will come for the lines still out. */
static void unacked_fail(msnc_client *c, chat *h) {
    /* taken off the chat first, as in queue_fail */
    unacked_msg u[MAX_UNACKED];
    size_t n = h->nunacked;
    memcpy(u, h->unacked, n * sizeof(u[0]));
    h->nunacked = 0;
    for (size_t i = 0; i < n; i++) {
        message_unacked(c, h, &u[i]);
        unacked_free(&u[i]);
    }
}

static void chat_close(msnc_client *c, chat *h, const char *reason);

/* Nobody came: a call that rang (the contact is online but never joins,
 * e.g. a client that ignores RNG) or that the switchboard never answered.
 * Lines and invitations waiting for a join would otherwise wait for ever:
 * the chat ends and each is reported, as when a chat closes. */
static void join_timeout(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    chat *h = arg;
    msnc_client *c = h->client;
    if (h->nparticipants) return;
    char why[160 + MSNP_MAX_EMAIL];
    snprintf(why, sizeof(why), "nobody joined the chat within %u s of the call to %s",
             msnc_client_handshake_ms(c) / 1000u, h->last_peer);
    if (h->line) {
        msnc_line_send_bare(h->line, "OUT");
        msnc_line_close_after_flush(h->line);
        h->line = NULL;
    }
    chat_close(c, h, why);
}

/* The call's bound is the handshake timeout (login_timeout): joining is
 * the last step of opening a chat. */
static void join_deadline(chat *h) {
    msnc_client *c = h->client;
    if (!h->join_timer) h->join_timer = evtimer_new(c->base, join_timeout, h);
    if (!h->join_timer) return;
    unsigned ms = msnc_client_handshake_ms(c);
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    evtimer_add(h->join_timer, &tv);
}

static void join_deadline_off(chat *h) {
    if (h->join_timer) evtimer_del(h->join_timer);
}

static int send_cal(chat *h, const char *email) {
    if (!msnc_line_send(h->line, "CAL", email, NULL)) return -1;
    h->calls_out++;
    h->call_error = 0; /* this call's answer decides */
    if (h->nparticipants == 0) join_deadline(h);
    return 0;
}

static void chat_unlink(msnc_client *c, chat *h) {
    for (chat **pp = &c->chats; *pp; pp = &(*pp)->next)
        if (*pp == h) {
            *pp = h->next;
            break;
        }
    queue_clear(h);
    unacked_clear(h);
    if (h->pause_timer) event_free(h->pause_timer);
    if (h->join_timer) event_free(h->join_timer);
    if (h->line) msnc_line_free(h->line);
    free(h->cookie);
    free(h->sessid);
    free(h);
}

/* A voice or video invitation waits for its second chat to have the
 * peer: when that chat fails (the call failed, nobody joined, it closed,
 * msnc leaves) the INVITE never leaves, and the invitation is reported as
 * not sent (FAIL, local) like any other that never reached its chat. */
static void deferred_fail(msnc_client *c, chat *h, int code) {
    if (h->deferred_kind == MSNP_APP_UNKNOWN) return;
    msnc_event ev = {0};
    ev.type = MSNC_EV_INVITE_CANCELLED;
    ev.chat = h->deferred_target;
    ev.cookie = h->deferred_cookie;
    ev.app = msnp_app_kind_name(h->deferred_kind);
    ev.email = h->last_peer;
    ev.text = "FAIL";
    ev.local_side = 1;
    ev.code = code;
    ev.failed = 1;
    h->deferred_kind = MSNP_APP_UNKNOWN;
    msnc_client_emit(c, &ev);
}

static void start_deferred_invite(msnc_client *c, chat *h);

static void chat_close(msnc_client *c, chat *h, const char *reason) {
    deferred_fail(c, h, 0);
    unacked_fail(c, h);
    queue_fail(c, h, 0);
    msnc_event ev = {0};
    ev.type = MSNC_EV_CHAT_CLOSED;
    ev.chat = h->id;
    ev.text = reason;
    chat_unlink(c, h);
    msnc_client_emit(c, &ev);
    if (c->invites) msnc_invites_chat_closed(c->invites, ev.chat);
}

static void emit_chat(msnc_client *c, msnc_event_type t, int id, const char *email, const char *name_enc) {
    char name[MSNP_MAX_NAME_ENCODED + 1] = "";
    if (name_enc) msnc_url_decode(msnp_str_c(name_enc), name, sizeof(name));
    msnc_event ev = {0};
    ev.type = t;
    ev.chat = id;
    ev.email = email;
    ev.name = name_enc ? name : NULL;
    msnc_client_emit(c, &ev);
}

static int has_participant(const chat *h, const char *email) {
    for (size_t i = 0; i < h->nparticipants; i++)
        if (strcasecmp(h->participants[i], email) == 0) return 1;
    return 0;
}

static void add_participant(chat *h, const char *email) {
    if (has_participant(h, email) || h->nparticipants >= MAX_PARTICIPANTS) return;
    snprintf(h->participants[h->nparticipants++], MSNP_MAX_EMAIL + 1, "%s", email);
    snprintf(h->last_peer, sizeof(h->last_peer), "%s", email);
    h->call_error = 0;
    join_deadline_off(h);
}

static void remove_participant(chat *h, const char *email) {
    for (size_t i = 0; i < h->nparticipants; i++)
        if (strcasecmp(h->participants[i], email) == 0) {
            memmove(h->participants[i], h->participants[i + 1],
                    (h->nparticipants - i - 1) * sizeof(h->participants[0]));
            h->nparticipants--;
            return;
        }
}

/* May a message of this mode go out now? Someone must be there, no pause
 * asked for by the switchboard may be running, and a line of text needs
 * room in the window of lines in flight. */
static int can_send_now(const chat *h, char mode) {
    if (h->state != CH_READY || h->nparticipants == 0 || h->pausing) return 0;
    return mode != 'A' || h->nunacked < window(h);
}

/* Put q on the wire. A line of text is kept until its answer, and a new
 * one is reported as message_sent (one sent again after a 713 keeps its
 * TrID and was reported already). The TrID, or 0 if the connection is
 * failing (its closing reports the chat). */
static uint32_t deliver(msnc_client *c, chat *h, const queued_msg *q) {
    char mode[2] = {q->mode, 0};
    uint32_t trid = q->trid ? msnc_line_resend_payload(h->line, q->trid, "MSG", q->payload, q->len, mode)
                            : msnc_line_send_payload(h->line, "MSG", q->payload, q->len, mode, NULL);
    if (!trid || !q->text) return trid;
    if (q->mode == 'A') unacked_add(c, h, trid, q->text, q->payload, q->len, q->refusals);
    if (q->trid) return trid;
    msnc_event ev = {0};
    ev.type = MSNC_EV_MESSAGE_SENT;
    ev.chat = h->id;
    ev.trid = trid;
    ev.text = q->text;
    msnc_client_emit(c, &ev);
    return trid;
}

/* Send what waits, in order, as far as can_send_now allows. Returns the
 * chat, or NULL if what the events led to closed it. */
static chat *flush_queue(msnc_client *c, chat *h) {
    int id = h->id;
    while (h->nqueued && can_send_now(h, h->queue[0].mode)) {
        queued_msg q = h->queue[0];
        h->nqueued--;
        memmove(&h->queue[0], &h->queue[1], h->nqueued * sizeof(h->queue[0]));
        deliver(c, h, &q);
        queued_free(&q);
        if (!(h = chat_by_id(c, id))) return NULL;
    }
    /* Everything said has been answered: the full window again. */
    if (!h->nqueued && !h->nunacked && !h->pausing) h->throttled = 0;
    return h;
}

static void pause_over(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    chat *h = arg;
    h->pausing = 0;
    flush_queue(h->client, h);
}

/* The switchboard refused a line as too fast: wait before sending more
 * (250 ms, doubling while refusals go on, at most 2 s; an answer resets
 * it), then one line at a time. */
static void pause_sending(msnc_client *c, chat *h) {
    if (!h->throttled) {
        msnc_event ev = {0};
        ev.type = MSNC_EV_WARNING;
        ev.chat = h->id;
        ev.text = "the switchboard refused lines sent too fast (713); they are sent again, more slowly";
        msnc_client_emit(c, &ev);
    }
    h->throttled = 1;
    if (h->pausing) return;
    if (!h->pause_timer) h->pause_timer = evtimer_new(c->base, pause_over, h);
    if (!h->pause_timer) return;
    h->pause_ms = h->pause_ms ? (h->pause_ms >= 1000 ? 2000 : h->pause_ms * 2) : 250;
    struct timeval tv = {(time_t)(h->pause_ms / 1000), (suseconds_t)((h->pause_ms % 1000) * 1000)};
    h->pausing = 1;
    evtimer_add(h->pause_timer, &tv);
}

/* A line refused as too fast goes back in front of the new ones, after
 * those refused before it (TrIDs in order): the order of the lines holds. */
static int requeue_refused(chat *h, unacked_msg *u) {
    if (h->nqueued >= QUEUE_CAP) return -1;
    size_t at = 0;
    while (at < h->nqueued && h->queue[at].trid && h->queue[at].trid < u->trid) at++;
    memmove(&h->queue[at + 1], &h->queue[at], (h->nqueued - at) * sizeof(h->queue[0]));
    queued_msg *q = &h->queue[at];
    memset(q, 0, sizeof(*q));
    q->payload = u->payload;
    q->len = u->len;
    q->mode = 'A';
    q->text = u->text;
    q->trid = u->trid;
    q->refusals = u->refusals + 1;
    h->nqueued++;
    return 0;
}

/* The switchboard answered the line sent as u with an error: it was not
 * delivered. Too fast (713) is worth another try after a pause; anything
 * else, or too many refusals, is reported with the code and the line's
 * TrID. */
static void message_refused(msnc_client *c, chat *h, unacked_msg *u, int code) {
    if (code == MSNP_ERR_USER_TOO_ACTIVE && u->refusals < MAX_RATE_REFUSALS && requeue_refused(h, u) == 0) {
        pause_sending(c, h);
        return;
    }
    message_failed(c, h, u->text, code, 0, u->trid);
    unacked_free(u);
}

static void send_cals(chat *h) {
    for (size_t i = 0; i < h->npending; i++) send_cal(h, h->pending_cal[i]);
    h->npending = 0;
}

/* ------------------------------------------------------------- commands */

static void on_msg(msnc_client *c, chat *h, const msnp_cmd *cmd) {
    if (cmd->argc < 3) {
        msnc_client_warn_line(c, cmd, "ignored a message without sender");
        return;
    }
    char from[MSNP_MAX_EMAIL + 1], name_enc[MSNP_MAX_NAME_ENCODED + 1];
    if (msnc_client_field(c, cmd, cmd->argv[0], from, sizeof(from), "sender") != 0 ||
        msnc_client_field(c, cmd, cmd->argv[1], name_enc, sizeof(name_enc), "sender name") != 0)
        return;
    msnp_mime mime;
    if (msnp_mime_parse(cmd->payload.p, cmd->payload.n, &mime, NULL) != MSNP_MIME_OK) {
        msnc_client_emit_text(c, MSNC_EV_WARNING, "ignored a message with malformed headers");
        return;
    }
    switch (msnp_content_kind_of(&mime)) {
    case MSNP_CT_TEXT_PLAIN: {
        /* a NUL would end the text for every reader of the event: it
         * becomes U+FFFD, and what follows it stays */
        size_t nuls = 0;
        for (size_t i = 0; i < mime.body.n; i++) nuls += mime.body.p[i] == '\0';
        char *text = malloc(mime.body.n + 2 * nuls + 1), *o = text;
        if (!text) return;
        for (size_t i = 0; i < mime.body.n; i++) {
            if (mime.body.p[i]) {
                *o++ = mime.body.p[i];
            } else {
                memcpy(o, "\xEF\xBF\xBD", 3);
                o += 3;
            }
        }
        *o = '\0';
        msnp_imformat fmt;
        int has_fmt = 0;
        msnp_str f = msnp_mime_value(&mime, "X-MMS-IM-Format");
        if (f.p && msnp_imformat_parse(f, &fmt) == 0) has_fmt = 1;
        char name[MSNP_MAX_NAME_ENCODED + 1];
        msnc_url_decode(msnp_str_c(name_enc), name, sizeof(name));
        msnc_event ev = {0};
        ev.type = MSNC_EV_MESSAGE;
        ev.chat = h->id;
        ev.email = from;
        ev.name = name;
        ev.text = text;
        ev.format = has_fmt ? &fmt : NULL;
        msnc_client_emit(c, &ev);
        free(text);
        return;
    }
    case MSNP_CT_CONTROL: {
        msnp_str who = msnp_mime_value(&mime, "TypingUser");
        if (!who.p) return;
        char email[MSNP_MAX_EMAIL + 1];
        if (msnc_client_field(c, cmd, who, email, sizeof(email), "TypingUser") != 0) return;
        emit_chat(c, MSNC_EV_TYPING, h->id, email, NULL);
        return;
    }
    case MSNP_CT_INVITE:
        if (c->invites) msnc_invites_on_message(c->invites, h->id, from, mime.body.p, mime.body.n);
        return;
    default: return;
    }
}

static void sb_command(msnc_line *l, const msnp_cmd *cmd, void *arg) {
    msnc_client *c = arg;
    chat *h = chat_by_line(c, l);
    if (!h) return;
    if (cmd->is_error) {
        int code = atoi(cmd->name);
        if (h->state != CH_READY) {
            char why[128];
            snprintf(why, sizeof(why), "switchboard refused us: %d %s", code, msnp_error_text(code));
            chat_close(c, h, why);
            return;
        }
        /* An error answering a line of text: that line was not delivered. */
        unacked_msg u;
        if (cmd->has_trid && unacked_take(h, cmd->trid, &u)) {
            answer_deadline(c, h);
            message_refused(c, h, &u, code);
            return;
        }
        msnc_event ev = {0};
        ev.type = MSNC_EV_SERVER_ERROR;
        ev.chat = h->id;
        ev.code = code;
        ev.trid = cmd->trid;
        ev.text = msnp_error_text(code);
        msnc_client_emit(c, &ev);
        /* With nobody here, an error answers a CAL (217: offline): when
         * no other call is out, what waits for a join will not be sent. */
        if (h->nparticipants == 0) {
            if (h->calls_out) h->calls_out--;
            if (h->calls_out == 0) {
                h->call_error = code;
                /* the call has its answer: the chat stays, for a line
                 * typed later to call again */
                join_deadline_off(h);
                queue_fail(c, h, code);
                if (h->deferred_kind != MSNP_APP_UNKNOWN) {
                    /* a second chat opened only for a voice or video
                     * call has nothing left to do */
                    deferred_fail(c, h, code);
                    msnc_chat_leave(c, h->id);
                }
            }
        }
        return;
    }
    char email[MSNP_MAX_EMAIL + 1];
    switch (cmd->code) {
    case MSNP_USR: /* USR trid OK email name */
        if (cmd->argc >= 2 && msnp_str_eq(cmd->argv[1], "OK") && h->state == CH_AUTH) {
            h->state = CH_READY;
            msnc_line_set_deadline(h->line, 0, NULL);
            send_cals(h);
        } else {
            msnc_client_warn_line(c, cmd, "ignored an unexpected USR from the switchboard");
        }
        return;
    case MSNP_CAL: /* RINGING: JOI follows */
        if (h->calls_out) h->calls_out--;
        h->call_error = 0;
        return;
    case MSNP_IRO: /* IRO trid idx total email name */
        if (cmd->argc >= 5) {
            char name[MSNP_MAX_NAME_ENCODED + 1];
            if (msnc_client_field(c, cmd, cmd->argv[3], email, sizeof(email), "e-mail") != 0 ||
                msnc_client_field(c, cmd, cmd->argv[4], name, sizeof(name), "name") != 0)
                return;
            if (strcasecmp(email, c->email) == 0) return; /* some servers list us too */
            add_participant(h, email);
            emit_chat(c, MSNC_EV_CHAT_JOIN, h->id, email, name);
        } else {
            msnc_client_warn_line(c, cmd, "ignored an IRO with missing fields");
        }
        return;
    case MSNP_ANS: /* ANS trid OK */
        if (h->state == CH_AUTH) {
            h->state = CH_READY;
            msnc_line_set_deadline(h->line, 0, NULL);
            send_cals(h);
            if (h->nparticipants) flush_queue(c, h);
        }
        return;
    case MSNP_JOI: /* JOI email name */
        if (cmd->argc >= 1) {
            char name[MSNP_MAX_NAME_ENCODED + 1] = "";
            if (msnc_client_field(c, cmd, cmd->argv[0], email, sizeof(email), "e-mail") != 0 ||
                (cmd->argc >= 2 && msnc_client_field(c, cmd, cmd->argv[1], name, sizeof(name), "name") != 0))
                return;
            /* Some servers announce the joiner itself (before its IRO
             * lines): that is us arriving, not someone joining us. */
            if (strcasecmp(email, c->email) == 0) return;
            add_participant(h, email);
            emit_chat(c, MSNC_EV_CHAT_JOIN, h->id, email, name);
            if (!(h = flush_queue(c, h))) return;
            if (h->deferred_kind != MSNP_APP_UNKNOWN) start_deferred_invite(c, h);
        } else {
            msnc_client_warn_line(c, cmd, "ignored a JOI without an e-mail");
        }
        return;
    case MSNP_BYE: /* BYE email */
        if (cmd->argc >= 1) {
            if (msnc_client_field(c, cmd, cmd->argv[0], email, sizeof(email), "e-mail") != 0) return;
            remove_participant(h, email);
            /* the one called has answered by leaving: that call is over,
             * and a line typed now calls again */
            if (h->nparticipants == 0 && h->calls_out == 0) join_deadline_off(h);
            emit_chat(c, MSNC_EV_CHAT_LEAVE, h->id, email, NULL);
        } else {
            msnc_client_warn_line(c, cmd, "ignored a BYE without an e-mail");
        }
        return;
    case MSNP_MSG: on_msg(c, h, cmd); return;
    case MSNP_ACK:
    case MSNP_NAK: {
        unacked_msg u;
        if (unacked_take(h, cmd->trid, &u)) unacked_free(&u);
        answer_deadline(c, h);
        h->pause_ms = 0; /* the switchboard takes lines again */
        int id = h->id;
        msnc_event ev = {0};
        ev.type = cmd->code == MSNP_ACK ? MSNC_EV_ACK : MSNC_EV_NAK;
        ev.chat = id;
        ev.trid = cmd->trid;
        msnc_client_emit(c, &ev);
        /* room in the window: what waits behind it goes */
        if ((h = chat_by_id(c, id))) flush_queue(c, h);
        return;
    }
    case MSNP_OUT: chat_close(c, h, "switchboard ended the session"); return;
    default: msnc_client_warn_line(c, cmd, "ignored an unknown command from the switchboard"); return;
    }
}

static void sb_connected(msnc_line *l, void *arg) {
    msnc_client *c = arg;
    chat *h = chat_by_line(c, l);
    if (!h) return;
    h->state = CH_AUTH;
    if (!h->cookie) return;
    if (h->incoming) msnc_line_send(l, "ANS", c->email, h->cookie, h->sessid, NULL);
    else msnc_line_send(l, "USR", c->email, h->cookie, NULL);
}

static void sb_closed(msnc_line *l, const char *reason, void *arg) {
    msnc_client *c = arg;
    chat *h = chat_by_line(c, l);
    if (!h) return;
    h->line = NULL;
    msnc_line_free(l);
    chat_close(c, h, reason);
}

static int sb_connect(msnc_client *c, chat *h, msnp_str addr) {
    msnp_str host;
    uint16_t port = 0; /* none given: 1863 */
    char hs[256];
    if (msnp_split_hostport(addr, &host, &port, 0) != 0 || host.n == 0 || host.n >= sizeof(hs)) return -1;
    msnp_str_copy(host, hs, sizeof(hs));
    msnc_line_callbacks cb = {sb_connected, sb_command, sb_closed};
    h->line = msnc_line_connect(c->base, c->dns, hs, port ? port : 1863, &cb, c);
    if (!h->line) return -1;
    h->state = CH_CONNECTING;
    char why[400];
    unsigned ms = msnc_client_handshake_ms(c);
    snprintf(why, sizeof(why), "switchboard %s did not answer within %u s", msnc_line_peer(h->line), ms / 1000u);
    msnc_line_set_deadline(h->line, ms, why);
    return 0;
}

void msnc_sb_on_xfr(msnc_client *c, const msnp_cmd *cmd) {
    /* XFR trid SB host:port CKI cookie */
    chat *h = NULL;
    for (chat *i = c->chats; i; i = i->next)
        if (i->state == CH_XFR && i->xfr_trid == cmd->trid) h = i;
    if (!h) return;
    if (cmd->argc < 5 || !msnp_str_eq(cmd->argv[3], "CKI")) {
        msnc_client_warn_line(c, cmd, "malformed XFR SB");
        chat_close(c, h, "malformed XFR SB");
        return;
    }
    free(h->cookie);
    h->cookie = field_dup(cmd->argv[4]);
    if (!h->cookie) {
        chat_close(c, h, "out of memory");
        return;
    }
    if (sb_connect(c, h, cmd->argv[2]) != 0) {
        msnc_client_warn_line(c, cmd, "bad switchboard address");
        chat_close(c, h, "bad switchboard address");
    }
}

int msnc_sb_on_ns_error(msnc_client *c, const msnp_cmd *cmd) {
    for (chat *h = c->chats; h; h = h->next)
        if (h->state == CH_XFR && h->xfr_trid == cmd->trid) {
            int code = atoi(cmd->name);
            char why[128];
            snprintf(why, sizeof(why), "no switchboard: %d %s", code, msnp_error_text(code));
            chat_close(c, h, why);
            return 1;
        }
    return 0;
}

void msnc_sb_on_rng(msnc_client *c, const msnp_cmd *cmd) {
    /* RNG sessid host:port CKI cookie email name. Session ids and
     * cookies are kept whole: other servers use 36-character UUIDs. */
    if (cmd->argc < 5 || !msnp_str_eq(cmd->argv[2], "CKI")) {
        msnc_client_warn_line(c, cmd, "ignored a malformed RNG");
        return;
    }
    char email[MSNP_MAX_EMAIL + 1];
    if (msnc_client_field(c, cmd, cmd->argv[4], email, sizeof(email), "caller") != 0) return;
    if (!chat_allowed(c, email, "an incoming chat")) return;
    chat *h = chat_new(c);
    if (!h) return;
    h->incoming = 1;
    h->sessid = field_dup(cmd->argv[0]);
    h->cookie = field_dup(cmd->argv[3]);
    snprintf(h->last_peer, sizeof(h->last_peer), "%s", email);
    if (!h->sessid || !h->cookie || sb_connect(c, h, cmd->argv[1]) != 0) {
        msnc_client_warn_line(c, cmd, "could not answer a RNG (bad switchboard address)");
        chat_unlink(c, h);
        return;
    }
    msnc_event ev = {0};
    ev.type = MSNC_EV_CHAT_OPEN;
    ev.chat = h->id;
    ev.email = email;
    ev.text = "incoming";
    msnc_client_emit(c, &ev);
}

void msnc_sb_ns_lost(msnc_client *c) {
    /* A chat still waiting for its XFR SB answer will never get it (a new
     * connection numbers its TrIDs again): it ends now, and its waiting
     * lines are reported, rather than keep them forever and take the next
     * /chat with the same person. Chats already on their switchboard go on. */
    for (;;) {
        chat *h = c->chats;
        while (h && h->state != CH_XFR) h = h->next;
        if (!h) return;
        chat_close(c, h, "the connection to the notification server was lost before a switchboard was given");
    }
}

void msnc_sb_fail_waiting(msnc_client *c) {
    for (chat *h = c->chats; h; h = h->next) queue_fail(c, h, 0);
}

void msnc_sb_free_all(msnc_client *c, int report) {
    while (c->chats) {
        chat *h = c->chats;
        if (report) {
            deferred_fail(c, h, 0);
            unacked_fail(c, h);
            queue_fail(c, h, 0);
        }
        if (h->line) {
            msnc_line_send_bare(h->line, "OUT");
            msnc_line_close_after_flush(h->line);
            h->line = NULL;
        }
        chat_unlink(c, h);
    }
}

/* ------------------------------------------------------------ public API */

static chat *open_chat(msnc_client *c, const char *email) {
    if (c->state != NS_ONLINE) return NULL;
    if (!chat_allowed(c, email, "to open a chat")) return NULL;
    chat *h = chat_new(c);
    if (!h) return NULL;
    h->state = CH_XFR;
    h->xfr_trid = msnc_line_send(c->ns, "XFR", "SB", NULL);
    if (!h->xfr_trid) {
        chat_unlink(c, h);
        return NULL;
    }
    snprintf(h->pending_cal[0], sizeof(h->pending_cal[0]), "%s", email);
    h->npending = 1;
    snprintf(h->last_peer, sizeof(h->last_peer), "%s", email);
    msnc_event ev = {0};
    ev.type = MSNC_EV_CHAT_OPEN;
    ev.chat = h->id;
    ev.email = email;
    ev.text = "outgoing";
    msnc_client_emit(c, &ev);
    return h;
}

int msnc_chat_open(msnc_client *c, const char *email) {
    if (!msnp_email_valid(msnp_str_c(email))) return 0;
    chat *h = open_chat(c, email);
    return h ? h->id : 0;
}

int msnc_chat_find(const msnc_client *c, const char *email) {
    int best = 0;
    for (chat *h = c->chats; h; h = h->next) {
        int match = (h->nparticipants == 1 && strcasecmp(h->participants[0], email) == 0) ||
            (h->nparticipants == 0 && strcasecmp(h->last_peer, email) == 0);
        if (match && h->deferred_kind == MSNP_APP_UNKNOWN && (best == 0 || h->id < best)) best = h->id;
    }
    return best;
}

int msnc_chat_invite(msnc_client *c, int id, const char *email) {
    chat *h = chat_by_id(c, id);
    if (!h || !msnp_email_valid(msnp_str_c(email))) return -1;
    if (h->state == CH_READY) return send_cal(h, email);
    if (h->npending >= MAX_PARTICIPANTS) return -1;
    snprintf(h->pending_cal[h->npending++], MSNP_MAX_EMAIL + 1, "%s", email);
    return 0;
}

void msnc_chats(const msnc_client *c, msnc_chat_fn fn, void *arg) {
    /* Oldest first (the list holds the newest first; it has at most
     * MAX_CHATS entries). */
    for (int last = 0;;) {
        const chat *h = NULL;
        for (const chat *i = c->chats; i; i = i->next)
            if (i->id > last && (!h || i->id < h->id)) h = i;
        if (!h) break;
        last = h->id;
        char list[MAX_PARTICIPANTS * (MSNP_MAX_EMAIL + 1)] = "";
        size_t off = 0;
        for (size_t i = 0; i < h->nparticipants; i++) {
            int n = snprintf(list + off, sizeof(list) - off, "%s%s", i ? "," : "", h->participants[i]);
            if (n > 0 && (size_t)n < sizeof(list) - off) off += (size_t)n;
        }
        fn(h->id, list, h->state == CH_READY, arg);
    }
}

size_t msnc_waiting_messages(const msnc_client *c) {
    size_t n = 0;
    for (const chat *h = c->chats; h; h = h->next)
        if (h->state != CH_CLOSED) n += h->nqueued + (h->deferred_kind != MSNP_APP_UNKNOWN);
    return n;
}

size_t msnc_paced_messages(const msnc_client *c) {
    size_t n = 0;
    for (const chat *h = c->chats; h; h = h->next)
        if (h->state == CH_READY && h->nparticipants > 0) n += h->nqueued;
    return n;
}

size_t msnc_unacked_messages(const msnc_client *c) {
    size_t n = 0;
    for (const chat *h = c->chats; h; h = h->next) n += h->nunacked;
    return n;
}

const char *msnc_chat_peer(const msnc_client *c, int id) {
    chat *h = chat_by_id(c, id);
    if (!h) return NULL;
    if (h->nparticipants) return h->participants[0];
    return h->last_peer[0] ? h->last_peer : NULL;
}

int msnc_chat_call_error(const msnc_client *c, int chat_id) {
    const chat *h = chat_by_id(c, chat_id);
    return h && h->nparticipants == 0 && h->calls_out == 0 ? h->call_error : 0;
}

/* Send now, or queue until someone is there to receive it and the lines
 * ahead of it have gone: the TrID, or 0 (queued, or refused: a line of
 * text is then message_failed). */
static uint32_t send_or_queue(msnc_client *c, chat *h, const char *payload, size_t len, char mode, const char *text,
                              uint64_t cookie) {
    if (h->nqueued == 0 && can_send_now(h, mode)) {
        queued_msg now = {(char *)payload, len, mode, (char *)text, cookie, 0, 0};
        uint32_t trid = deliver(c, h, &now);
        if (!trid && text) message_failed(c, h, text, 0, 0, 0);
        return trid;
    }
    queued_msg *q = &h->queue[h->nqueued];
    if (h->nqueued >= MAX_QUEUED || !(q->payload = malloc(len))) {
        if (text) message_failed(c, h, text, 0, h->nqueued, 0);
        return 0;
    }
    memcpy(q->payload, payload, len);
    q->len = len;
    q->mode = mode;
    q->text = text ? strdup(text) : NULL;
    q->cookie = cookie;
    q->trid = 0;
    q->refusals = 0;
    h->nqueued++;
    /* Everyone left: ring the last peer again into the same session (once:
     * lines typed while that call is out, or while it rings and the peer
     * has not joined yet, wait for it; a second CAL would be refused as
     * 215 and fail them). */
    if (h->state == CH_READY && h->nparticipants == 0 && h->last_peer[0] && h->npending == 0 && h->calls_out == 0 &&
        !(h->join_timer && evtimer_pending(h->join_timer, NULL)))
        send_cal(h, h->last_peer);
    return 0;
}

uint32_t msnc_chat_send(msnc_client *c, int id, const char *text, const msnp_imformat *fmt) {
    chat *h = chat_by_id(c, id);
    if (!h) return 0;
    char fmtbuf[256] = "";
    if (fmt) {
        long n = msnp_imformat_write(fmt, fmtbuf, sizeof(fmtbuf));
        if (n < 0) fmtbuf[0] = '\0';
    }
    size_t len = strlen(text);
    size_t off = 0;
    uint32_t last = 0;
    /* Long texts go out as several messages, cut at UTF-8 boundaries. */
    do {
        size_t n = msnp_utf8_prefix(text + off, len - off, TEXT_CHUNK);
        char payload[SB_PAYLOAD_MAX];
        int hl = snprintf(payload, sizeof(payload),
                          "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n%s%s%s\r\n",
                          fmtbuf[0] ? "X-MMS-IM-Format: " : "", fmtbuf, fmtbuf[0] ? "\r\n" : "");
        if (hl < 0 || (size_t)hl + n > sizeof(payload)) return 0;
        memcpy(payload + hl, text + off, n);
        char piece[TEXT_CHUNK + 1];
        memcpy(piece, text + off, n);
        piece[n] = '\0';
        uint32_t trid = send_or_queue(c, h, payload, (size_t)hl + n, 'A', piece, 0);
        if (trid) last = trid;
        off += n;
        /* the events of that piece may have closed the chat */
        if (off < len && !(h = chat_by_id(c, id))) return 0;
    } while (off < len);
    return last;
}

int msnc_chat_typing(msnc_client *c, int id) {
    chat *h = chat_by_id(c, id);
    if (!h || h->state != CH_READY || h->nparticipants == 0) return -1;
    char payload[256];
    int n = snprintf(payload, sizeof(payload),
                     "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgscontrol\r\nTypingUser: %s\r\n\r\n\r\n", c->email);
    if (n < 0 || (size_t)n >= sizeof(payload)) return -1;
    return msnc_line_send_payload(h->line, "MSG", payload, (size_t)n, "U", NULL) ? 0 : -1;
}

void msnc_chat_leave(msnc_client *c, int id) {
    chat *h = chat_by_id(c, id);
    if (!h) return;
    if (h->line) {
        msnc_line_send_bare(h->line, "OUT");
        msnc_line_close_after_flush(h->line);
        h->line = NULL;
    }
    chat_close(c, h, "left");
}

int msnc_sb_send_invite_payload(int id, uint64_t cookie, const char *payload, size_t len, void *arg) {
    msnc_client *c = arg;
    chat *h = chat_by_id(c, id);
    if (!h) return -1;
    size_t before = h->nqueued;
    if (send_or_queue(c, h, payload, len, 'N', NULL, cookie)) return 0;
    return h->nqueued > before ? 0 : -1;
}

int msnc_sb_other_chat(int id, const char *peer, void *arg) {
    msnc_client *c = arg;
    int best = id;
    for (chat *h = c->chats; h; h = h->next)
        if (h->id != id && h->state == CH_READY && h->nparticipants == 1 && strcasecmp(h->participants[0], peer) == 0 &&
            h->id > best)
            best = h->id;
    if (best != id) return best;
    for (chat *h = c->chats; h; h = h->next)
        if (h->id != id && h->state == CH_READY && h->nparticipants == 1 && strcasecmp(h->participants[0], peer) == 0)
            return h->id;
    return id;
}

uint64_t msnc_send_file(msnc_client *c, int id, const char *path, char *err, size_t errcap) {
    const char *peer = msnc_chat_peer(c, id);
    if (!peer || !c->invites) {
        snprintf(err, errcap, "no chat with anyone to send to");
        return 0;
    }
    return msnc_invites_send_file(c->invites, id, peer, path, err, errcap);
}

static void start_deferred_invite(msnc_client *c, chat *h) {
    msnp_app_kind kind = h->deferred_kind;
    int target = h->deferred_target;
    uint64_t cookie = h->deferred_cookie;
    h->deferred_kind = MSNP_APP_UNKNOWN;
    chat *t = chat_by_id(c, target);
    if (!t || !c->invites) return;
    const char *peer = msnc_chat_peer(c, target);
    char err[128];
    if (!msnc_invites_start(c->invites, target, peer ? peer : "", kind, cookie, err, sizeof(err)))
        msnc_client_emit_text(c, MSNC_EV_WARNING, err);
}

uint64_t msnc_invite_app(msnc_client *c, int id, msnp_app_kind kind, char *err, size_t errcap) {
    chat *h = chat_by_id(c, id);
    const char *peer = msnc_chat_peer(c, id);
    if (!h || !peer || !c->invites) {
        snprintf(err, errcap, "no chat with anyone to invite");
        return 0;
    }
    if (kind == MSNP_APP_VOICE || kind == MSNP_APP_VIDEO) {
        /* Voice and video use two switchboards with the peer: the INVITE
         * goes out on this one once the second one has the peer in it, and
         * the peer answers on the second. */
        chat *second = open_chat(c, peer);
        if (second) {
            uint64_t cookie = msnc_invites_new_cookie();
            second->deferred_kind = kind;
            second->deferred_target = id;
            second->deferred_cookie = cookie;
            return cookie;
        }
    }
    return msnc_invites_start(c->invites, id, peer, kind, 0, err, errcap);
}
