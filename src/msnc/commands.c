/* commands.c - the slash commands shared by interactive and batch mode. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <event2/event.h>

#include "app.h"

static const char *HELP =
    "/login  /logout  /status online|busy|away|idle|brb|phone|lunch|hidden|invisible  /name NAME\n"
    "/add EMAIL [NAME]  /remove EMAIL  /block EMAIL  /allow EMAIL (/unblock EMAIL)  /list [FL|AL|BL|RL]\n"
    "/chat EMAIL  /invite EMAIL  /chats  /switch N  /leave  /typing  /format FN=..; EF=BI; CO=ff0000\n"
    "/send FILE  /accept [COOKIE]  /decline [COOKIE]  /cancel [COOKIE]\n"
    "/call voice|video  /whiteboard  /share  /remote  /help  /quit (/exit)\n"
    "Anything else is sent to the current chat; start a line with // to send text that begins with /.";

static msnp_status status_from(const char *s) {
    static const struct {
        const char *word;
        msnp_status st;
    } words[] = {{"online", MSNP_STATUS_NLN}, {"busy", MSNP_STATUS_BSY},   {"away", MSNP_STATUS_AWY},
                 {"idle", MSNP_STATUS_IDL},   {"brb", MSNP_STATUS_BRB},    {"phone", MSNP_STATUS_PHN},
                 {"lunch", MSNP_STATUS_LUN},  {"hidden", MSNP_STATUS_HDN}, {"invisible", MSNP_STATUS_HDN}};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (!strcasecmp(s, words[i].word)) return words[i].st;
    char up[8];
    size_t n = strlen(s);
    if (n >= sizeof(up)) return MSNP_STATUS_INVALID;
    for (size_t i = 0; i <= n; i++) up[i] = (char)toupper((unsigned char)s[i]);
    return msnp_status_parse(msnp_str_c(up));
}

typedef struct list_ctx {
    app *a;
    const char *list;
    int shown;
} list_ctx;

static void print_contact(const char *email, const char *name, const char *status, void *arg) {
    list_ctx *ctx = arg;
    out_contact(ctx->a, ctx->list, email, name, status);
    ctx->shown++;
}

static void print_chat(int chat, const char *participants, int ready, void *arg) {
    app *a = arg;
    if (!a->batch) {
        const char *peer = msnc_chat_peer(a->client, chat);
        int failed = ready && !*participants ? msnc_chat_call_error(a->client, chat) : 0;
        char state[160];
        if (failed)
            snprintf(state, sizeof(state), "the call failed (%d: %s); a line typed here calls again", failed,
                     msnp_error_text(failed));
        else
            snprintf(state, sizeof(state), "%s",
                     ready ? (*participants ? "ready" : "waiting for someone to join") : "still connecting");
        out_info(a, "Chat %d with %s: %s%s.", chat, *participants ? participants : (peer ? peer : "nobody yet"), state,
                 chat == a->current_chat ? " (the current chat)" : "");
        return;
    }
    out_chat(a, chat, participants, ready ? "ready" : "connecting", chat == a->current_chat);
}

static void count_chat(int chat, const char *participants, int ready, void *arg) {
    (void)chat;
    (void)participants;
    (void)ready;
    (*(int *)arg)++;
}

static const char *list_words(const char *list) {
    if (!strcasecmp(list, "FL")) return "your contact list (FL)";
    if (!strcasecmp(list, "AL")) return "the allow list (AL)";
    if (!strcasecmp(list, "BL")) return "the block list (BL)";
    if (!strcasecmp(list, "RL")) return "the list of people who added you (RL)";
    return list;
}

/* The file a /send names, written as at a shell prompt: in quotes, with
 * "\\ " for a space, ~/ for the home directory, trailing spaces dropped.
 * A path that exists as typed is taken as typed (a name may hold any of
 * these characters). out holds the result; returns it, or the text as
 * typed when it does not fit. */
static const char *file_arg(const char *typed, char *out, size_t cap) {
    struct stat st;
    if (stat(typed, &st) == 0) return typed;
    size_t n = strlen(typed);
    while (n && isspace((unsigned char)typed[n - 1])) n--;
    size_t o = 0, i = 0;
    if (n >= 2 && typed[0] == '~' && typed[1] == '/' && getenv("HOME")) {
        int w = snprintf(out, cap, "%s", getenv("HOME"));
        if (w < 0 || (size_t)w >= cap) return typed;
        o = (size_t)w;
        i = 1;
    }
    char quote = 0;
    if (i == 0 && n >= 2 && (typed[0] == '"' || typed[0] == '\'') && typed[n - 1] == typed[0]) {
        quote = typed[0];
        i = 1;
        n--;
    }
    for (; i < n; i++) {
        char ch = typed[i];
        if (ch == '\\' && quote != '\'' && i + 1 < n) ch = typed[++i];
        if (o + 1 >= cap) return typed;
        out[o++] = ch;
    }
    out[o] = '\0';
    return out;
}

/* The Invitation-Cookie a command names (decimal, as invitations carry
 * it) in *out, 0 when it names none (the latest); -1 after saying what is
 * wrong with it, so that a mistyped cookie never acts on another one. */
static int cookie_arg(app *a, const char *s, uint64_t *out) {
    *out = 0;
    if (!s || !*s) return 0;
    if (msnp_str_to_u64(msnp_str_c(s), UINT64_MAX, out) != 0 || *out == 0) {
        out_error(a, "bad invitation cookie '%s' (want the number of an invitation)", s);
        return -1;
    }
    return 0;
}

static int need_chat(app *a) {
    if (!a->current_chat || !msnc_chat_peer(a->client, a->current_chat)) {
        out_error(a, "no current chat: use /chat EMAIL first");
        return 0;
    }
    return 1;
}

static void start_app(app *a, msnp_app_kind kind) {
    if (!need_chat(a)) return;
    char err[256];
    if (!msnc_invite_app(a->client, a->current_chat, kind, err, sizeof(err))) out_error(a, "%s", err);
}

/* Stop once the last lines (OUT) have been taken by the servers, or after
 * 2 s whatever they do; main closes anything still open. */
static void quit_wait_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    app *a = arg;
    if (msnc_lingering(a->base) == 0 || now_ms() - a->quit_started_ms >= 2000) {
        event_base_loopexit(a->base, NULL);
        return;
    }
    struct timeval tv = {0, 50 * 1000};
    event_base_once(a->base, -1, EV_TIMEOUT, quit_wait_cb, a, &tv);
}

static void log_out_and_stop(app *a) {
    msnc_logout(a->client);
    /* Let OUT reach the servers, then stop. */
    a->quit_started_ms = now_ms();
    struct timeval tv = {0, 50 * 1000};
    event_base_once(a->base, -1, EV_TIMEOUT, quit_wait_cb, a, &tv);
}

/* Lines sent just before quitting get their ACK first (a server answers
 * within a round trip), so that leaving does not make them doubtful, and
 * lines a chat holds back (window full, or a pause after 713) go out
 * first; so do the answers to list, status and name commands. The wait
 * lasts while answers keep coming: one still unanswered ACK_WAIT_MS after
 * the last answer is reported by the logout. */
#define ACK_WAIT_MS 3000

static int lines_in_flight(const app *a) {
    return msnc_unacked_messages(a->client) + msnc_paced_messages(a->client) + msnc_pending_requests(a->client) > 0;
}

static void ack_wait_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    app *a = arg;
    uint64_t since = a->last_answer_ms > a->quit_started_ms ? a->last_answer_ms : a->quit_started_ms;
    if (!lines_in_flight(a) || now_ms() - since >= ACK_WAIT_MS) {
        log_out_and_stop(a);
        return;
    }
    struct timeval tv = {0, 20 * 1000};
    event_base_once(a->base, -1, EV_TIMEOUT, ack_wait_cb, a, &tv);
}

void app_quit(app *a, int code) {
    if (a->quitting) return;
    a->quitting = 1;
    if (code) a->exit_code = code;
    a->quit_started_ms = now_ms();
    if (!lines_in_flight(a)) {
        log_out_and_stop(a);
        return;
    }
    struct timeval tv = {0, 20 * 1000};
    event_base_once(a->base, -1, EV_TIMEOUT, ack_wait_cb, a, &tv);
}

static char *next_word(char **p) {
    while (**p == ' ') (*p)++;
    if (!**p) return NULL;
    char *w = *p;
    while (**p && **p != ' ') (*p)++;
    if (**p) *(*p)++ = '\0';
    return w;
}

static void run_line(app *a, char *buf);

/* The whole line, however long: a long message is split by the library,
 * never cut here. */
void command_run(app *a, const char *input) {
    char *buf = strdup(input);
    if (!buf) {
        out_error(a, "out of memory");
        return;
    }
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = '\0';
    if (n) run_line(a, buf);
    free(buf);
}

static void send_text(app *a, const char *text) {
    if (!need_chat(a)) return;
    a->line_refused = 0;
    if (!msnc_chat_send(a->client, a->current_chat, text, a->has_fmt ? &a->fmt : NULL) && !a->batch && !a->line_refused)
        out_info(a, "(queued until the chat is ready)");
}

static void run_line(app *a, char *buf) {
    if (buf[0] != '/') {
        send_text(a, buf);
        return;
    }
    /* "//" escapes text that starts with '/': one slash goes */
    if (buf[1] == '/') {
        send_text(a, buf + 1);
        return;
    }
    char *p = buf + 1;
    char *cmd = next_word(&p);
    if (!cmd) return;
    while (*p == ' ') p++;
    char *rest = p; /* everything after the command */
    char *arg1 = NULL;
    uint32_t fl;
    if (!strcmp(cmd, "help")) {
        out_info(a, "%s", HELP);
    } else if (!strcmp(cmd, "quit") || !strcmp(cmd, "exit")) {
        app_quit(a, 0);
    } else if (!strcmp(cmd, "login")) {
        if (msnc_login(a->client) != 0) out_error(a, "already connected");
        else input_hold_for_login(a);
    } else if (!strcmp(cmd, "logout")) {
        /* said interactively: no event follows a logout asked for */
        int was_online = msnc_is_online(a->client);
        msnc_logout(a->client);
        if (!a->batch) out_info(a, was_online ? "logged out; /login logs in again" : "not logged in");
    } else if (!strcmp(cmd, "status")) {
        msnp_status s = status_from(rest);
        /* the words taken, as /help lists them: an error names what to type */
        if (!*rest) out_error(a, "usage: /status online|busy|away|idle|brb|phone|lunch|hidden");
        else if (s == MSNP_STATUS_INVALID || s == MSNP_STATUS_FLN)
            out_error(a, "unknown status '%s': use online, busy, away, idle, brb, phone, lunch or hidden", rest);
        else if (!msnc_set_status(a->client, s)) out_info(a, "status %s will be set at login", msnp_status_code(s));
    } else if (!strcmp(cmd, "name")) {
        char enc[MSNP_MAX_NAME_ENCODED + 1];
        if (!*rest) out_error(a, "usage: /name NAME");
        else if (msnp_url_encode(msnp_str_c(rest), enc, sizeof enc) < 0)
            out_error(a, "name too long: at most %d bytes once URL-encoded", MSNP_MAX_NAME_ENCODED);
        else if (!msnc_rename(a->client, NULL, rest)) out_error(a, "not logged in");
    } else if (!strcmp(cmd, "add")) {
        arg1 = next_word(&p);
        while (*p == ' ') p++;
        if (!arg1 || !msnp_email_valid(msnp_str_c(arg1))) out_error(a, "usage: /add EMAIL [NAME]");
        else if (!(fl = msnc_list_add(a->client, MSNP_LIST_FL, arg1, *p ? p : arg1))) out_error(a, "not logged in");
        else {
            /* Also allow them to see us, as the official client did, under
             * the same name (the AL reply would otherwise rename them). */
            unsigned k = a->adds_next++ % MSNC_MAX_REQUESTS;
            a->adds[k].fl_trid = fl;
            a->adds[k].fl_code = 0;
            a->adds[k].al_trid = msnc_list_add(a->client, MSNP_LIST_AL, arg1, *p ? p : arg1);
        }
    } else if (!strcmp(cmd, "remove")) {
        arg1 = next_word(&p);
        if (!arg1 || !msnc_list_remove(a->client, MSNP_LIST_FL, arg1))
            out_error(a, "usage: /remove EMAIL (when logged in)");
    } else if (!strcmp(cmd, "block") || !strcmp(cmd, "allow") || !strcmp(cmd, "unblock")) {
        arg1 = next_word(&p);
        int rc = !arg1 ? -1 : (!strcmp(cmd, "block") ? msnc_block(a->client, arg1) : msnc_allow(a->client, arg1));
        if (rc < 0) out_error(a, "usage: /%s EMAIL (when logged in)", cmd);
        /* nothing sent, and no list event will come: said, not silent */
        else if (rc == 1)
            out_info(a, "%s is on %s already and not on %s: nothing to change", arg1,
                     !strcmp(cmd, "block") ? "BL" : "AL", !strcmp(cmd, "block") ? "AL" : "BL");
    } else if (!strcmp(cmd, "list")) {
        const char *lists[] = {"FL", "AL", "BL", "RL"};
        arg1 = next_word(&p);
        int known = !arg1;
        for (int i = 0; i < 4; i++) {
            if (arg1 && strcasecmp(arg1, lists[i])) continue;
            known = 1;
            list_ctx ctx = {a, lists[i], 0};
            msnc_contacts(a->client, (msnp_list)i, print_contact, &ctx);
            if (!a->batch)
                out_info(a, "%d %s on %s.", ctx.shown, ctx.shown == 1 ? "contact" : "contacts", list_words(lists[i]));
        }
        if (!known) out_error(a, "no list %s: use FL, AL, BL or RL", arg1);
        else if (a->batch) out_json_kv(a, "list_end", "list", arg1 ? arg1 : "all", NULL);
    } else if (!strcmp(cmd, "chat")) {
        arg1 = next_word(&p);
        if (!arg1 || !msnp_email_valid(msnp_str_c(arg1))) {
            out_error(a, "usage: /chat EMAIL");
            return;
        }
        int id = msnc_chat_find(a->client, arg1);
        if (!id) id = msnc_chat_open(a->client, arg1);
        if (!id) out_error(a, "cannot open a chat now (not logged in?)");
        else a->current_chat = id;
    } else if (!strcmp(cmd, "invite")) {
        arg1 = next_word(&p);
        if (!need_chat(a)) return;
        if (!arg1 || msnc_chat_invite(a->client, a->current_chat, arg1) != 0) out_error(a, "usage: /invite EMAIL");
    } else if (!strcmp(cmd, "chats")) {
        int open = 0;
        msnc_chats(a->client, count_chat, &open);
        if (open == 0 && !a->batch) out_info(a, "No chats are open.");
        msnc_chats(a->client, print_chat, a);
    } else if (!strcmp(cmd, "switch")) {
        /* a chat number, whole: "1x" is not chat 1 */
        arg1 = next_word(&p);
        unsigned long long id = 0;
        if (!arg1 || next_word(&p) || parse_number(arg1, 1, INT32_MAX, &id) != 0) out_error(a, "usage: /switch N");
        else if (!msnc_chat_peer(a->client, (int)id)) out_error(a, "no chat %s", arg1);
        else a->current_chat = (int)id;
    } else if (!strcmp(cmd, "leave")) {
        if (need_chat(a)) {
            msnc_chat_leave(a->client, a->current_chat);
            a->current_chat = 0;
        }
    } else if (!strcmp(cmd, "typing")) {
        if (need_chat(a) && msnc_chat_typing(a->client, a->current_chat) != 0) out_error(a, "nobody to tell yet");
    } else if (!strcmp(cmd, "format")) {
        msnp_imformat fmt; /* a refused format leaves the one in effect */
        if (!*rest) {
            a->has_fmt = 0;
        } else if (msnp_imformat_parse(msnp_str_c(rest), &fmt) != 0) {
            out_error(a, "bad format, e.g. /format FN=Arial; EF=B; CO=0000ff");
        } else {
            a->fmt = fmt;
            a->has_fmt = 1;
        }
    } else if (!strcmp(cmd, "send")) {
        if (!need_chat(a)) return;
        if (!*rest) {
            out_error(a, "usage: /send FILE");
            return;
        }
        char err[512], path[4096];
        const char *file = file_arg(rest, path, sizeof(path));
        if (!msnc_send_file(a->client, a->current_chat, file, err, sizeof(err))) out_error(a, "%s", err);
    } else if (!strcmp(cmd, "accept") || !strcmp(cmd, "decline") || !strcmp(cmd, "cancel")) {
        uint64_t cookie;
        if (cookie_arg(a, next_word(&p), &cookie) != 0) return;
        int rc = cmd[0] == 'a' ? msnc_invite_accept(a->client, cookie)
            : cmd[0] == 'd'    ? msnc_invite_decline(a->client, cookie)
                               : msnc_invite_cancel(a->client, cookie);
        if (rc != 0 && cookie) out_error(a, "no invitation %" PRIu64 " to %s", cookie, cmd);
        else if (rc != 0) out_error(a, "no invitation to %s", cmd);
    } else if (!strcmp(cmd, "call")) {
        arg1 = next_word(&p);
        if (arg1 && !strcasecmp(arg1, "video")) start_app(a, MSNP_APP_VIDEO);
        else if (!arg1 || !strcasecmp(arg1, "voice")) start_app(a, MSNP_APP_VOICE);
        else out_error(a, "usage: /call voice|video");
    } else if (!strcmp(cmd, "whiteboard")) {
        start_app(a, MSNP_APP_WHITEBOARD);
    } else if (!strcmp(cmd, "share")) {
        start_app(a, MSNP_APP_APP_SHARING);
    } else if (!strcmp(cmd, "remote")) {
        start_app(a, MSNP_APP_REMOTE_ASSISTANCE);
    } else {
        out_error(a, "unknown command /%s (try /help)", cmd);
    }
}
