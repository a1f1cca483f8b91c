/* output.c - events as JSON lines (--batch) or as timestamped text with a
 * progress bar (interactive). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <editline/readline.h>
#include <jansson.h>
#include <msnkit/visible.h>

#include "app.h"

#define PROGRESS_EVERY_MS 250

uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static double wall_time(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void emit_json(json_t *o) {
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        fflush(stdout);
        free(s);
    }
    json_decref(o);
}

static json_t *json_event(const char *name) {
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string(name));
    json_object_set_new(o, "time", json_real(wall_time()));
    return o;
}

/* Strings from the network may hold invalid UTF-8; jansson needs valid.
 * Each byte that starts no UTF-8 character becomes U+FFFD (as in
 * msnsniff's events); the characters around it stay as they are. */
static void set_str(json_t *o, const char *key, const char *v) {
    if (!v) return;
    json_t *s = json_string(v);
    if (!s) {
        size_t n = strlen(v), o_n = 0;
        char *clean = malloc(3 * n + 1);
        if (!clean) return;
        for (size_t i = 0; i < n;) {
            size_t len = msnp_utf8_seq(v + i, n - i, NULL);
            if (len) {
                memcpy(clean + o_n, v + i, len);
                o_n += len;
                i += len;
            } else {
                memcpy(clean + o_n, "\xEF\xBF\xBD", 3);
                o_n += 3;
                i++;
            }
        }
        clean[o_n] = '\0';
        s = json_string(clean);
        free(clean);
    }
    if (s) json_object_set_new(o, key, s);
}

/* ---- interactive printing around the libedit prompt ---- */

static void tprint(app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tprint(app *a, const char *fmt, ...) {
    char ts[16];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
    fputs("\r\033[K", stdout);
    /* The message takes the progress bar's line; the next progress update
     * draws the bar again below it, so no stale bar stays behind. */
    if (a->bar_above_prompt) fputs("\033[A\r\033[K", stdout);
    a->bar_above_prompt = 0;
    printf("[%s] ", ts);
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *body = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (body) {
        vsnprintf(body, (size_t)n + 1, fmt, ap2);
        msnkit_put_visible(stdout, body, "    ");
        free(body);
    }
    va_end(ap2);
    fputc('\n', stdout);
    if (!a->batch && !a->quitting && !a->in_line_handler) rl_forced_update_display();
    fflush(stdout);
}

static void human_size(double b, char *dst, size_t cap) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (b >= 1024 && i < 4) {
        b /= 1024;
        i++;
    }
    snprintf(dst, cap, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

typedef struct xfer_clock {
    uint64_t cookie;
    uint64_t start_ms;
} xfer_clock;

static xfer_clock clocks[16];

static uint64_t xfer_start(uint64_t cookie, int reset) {
    for (int i = 0; i < 16; i++)
        if (clocks[i].cookie == cookie) {
            if (reset) clocks[i].start_ms = now_ms();
            return clocks[i].start_ms;
        }
    for (int i = 0; i < 16; i++)
        if (clocks[i].cookie == 0) {
            clocks[i].cookie = cookie;
            clocks[i].start_ms = now_ms();
            return clocks[i].start_ms;
        }
    clocks[0].cookie = cookie;
    clocks[0].start_ms = now_ms();
    return clocks[0].start_ms;
}

static void xfer_forget(uint64_t cookie) {
    for (int i = 0; i < 16; i++)
        if (clocks[i].cookie == cookie) clocks[i].cookie = 0;
}

static void progress_bar(app *a, const msnc_event *ev) {
    uint64_t start = xfer_start(ev->cookie, 0);
    double secs = (double)(now_ms() - start) / 1000.0;
    double rate = secs > 0 ? (double)ev->bytes / secs : 0;
    double frac = ev->size ? (double)ev->bytes / (double)ev->size : 1.0;
    char done[32], total[32], r[32];
    human_size((double)ev->bytes, done, sizeof(done));
    human_size((double)ev->size, total, sizeof(total));
    human_size(rate, r, sizeof(r));
    char bar[31];
    int fill = (int)(frac * 30);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    double eta = rate > 0 ? (double)(ev->size - ev->bytes) / rate : 0;
    /* The bar lives on its own line above the prompt, so a half-typed line
     * stays visible: clear the prompt line, go up to the bar (if it is
     * there already), draw it, and let libedit redraw the prompt below. */
    fputs("\r\033[K", stdout);
    if (a->bar_above_prompt) fputs("\033[A\r\033[K", stdout);
    printf("[%s] %3.0f%% %s / %s  %s/s  ETA %.0fs\n", bar, frac * 100, done, total, r, eta);
    a->bar_above_prompt = 1;
    if (!a->batch && !a->quitting && !a->in_line_handler) rl_forced_update_display();
    fflush(stdout);
}

static void count_chat(int chat, const char *participants, int ready, void *arg) {
    (void)chat;
    (void)participants;
    (void)ready;
    (*(int *)arg)++;
}

/* "[chat 2] " in front of chat lines while more than one chat is open. */
static void chat_label(app *a, int chat, char *dst, size_t cap) {
    int n = 0;
    dst[0] = '\0';
    if (a->client) msnc_chats(a->client, count_chat, &n);
    if (chat && n > 1) snprintf(dst, cap, "[chat %d] ", chat);
}

/* "file_transfer" -> "file transfer" */
static const char *app_label(const char *kind, char *dst, size_t cap) {
    snprintf(dst, cap, "%s", kind ? kind : "application");
    for (char *p = dst; *p; p++)
        if (*p == '_') *p = ' ';
    return dst;
}

/* What a Cancel-Code means, as a sentence ending. */
static const char *cancel_reason(const char *code) {
    static const struct {
        const char *code, *text;
    } codes[] = {{"REJECT", "declined"},
                 {"TIMEOUT", "no answer came in time"},
                 {"FTTIMEOUT", "the connection for it did not come in time"},
                 {"OUTBANDCANCEL", "cancelled"},
                 {"FAIL", "it failed"},
                 {"REJECT_NOT_INSTALLED", "the application is not installed"}};
    for (size_t i = 0; code && i < sizeof(codes) / sizeof(codes[0]); i++)
        if (!strcmp(code, codes[i].code)) return codes[i].text;
    return NULL;
}

static void human(app *a, const msnc_event *ev) {
    char label[32];
    chat_label(a, ev->chat, label, sizeof(label));
    switch (ev->type) {
    case MSNC_EV_CONNECTING: tprint(a, "connecting to %s (%s)", ev->peer, ev->text); break;
    case MSNC_EV_LOGGED_IN: tprint(a, "logged in as %s (%s), MSNP%d", ev->email, ev->name, ev->version); break;
    case MSNC_EV_LOGIN_FAILED: tprint(a, "login failed: %s", ev->text); break;
    case MSNC_EV_DISCONNECTED: tprint(a, "disconnected: %s", ev->text); break;
    case MSNC_EV_RECONNECTING: tprint(a, "reconnecting in %.1f s", ev->delay_ms / 1000.0); break;
    case MSNC_EV_SYNCED:
        tprint(a, "contact list: %" PRIu64 " contact%s (version %d)", ev->count, ev->count == 1 ? "" : "s",
               ev->version);
        break;
    case MSNC_EV_STATUS:
        tprint(a, "your status: %s", msnp_status_description(msnp_status_parse(msnp_str_c(ev->status))));
        break;
    case MSNC_EV_PRESENCE:
        tprint(a, "%s (%s) is %s", ev->name, ev->email,
               msnp_status_description(msnp_status_parse(msnp_str_c(ev->status))));
        break;
    case MSNC_EV_LIST: tprint(a, "%s %s list %s", ev->email, ev->text, ev->list); break;
    case MSNC_EV_ADDED_BY: tprint(a, "%s (%s) added you to their contact list", ev->name, ev->email); break;
    case MSNC_EV_REMOVED_BY: tprint(a, "%s removed you from their contact list", ev->email); break;
    case MSNC_EV_NAME: tprint(a, "%s is now known as %s", ev->email, ev->name); break;
    case MSNC_EV_SERVER_ERROR:
        if (ev->email && ev->list)
            tprint(a, "%s (list %s): server error %d: %s", ev->email, ev->list, ev->code, ev->text);
        else tprint(a, "server error %d: %s", ev->code, ev->text);
        break;
    case MSNC_EV_CHAT_OPEN: tprint(a, "chat %d: %s with %s", ev->chat, ev->text, ev->email); break;
    case MSNC_EV_CHAT_JOIN: tprint(a, "chat %d: %s joined", ev->chat, ev->email); break;
    case MSNC_EV_CHAT_LEAVE: tprint(a, "chat %d: %s left", ev->chat, ev->email); break;
    case MSNC_EV_CHAT_CLOSED: tprint(a, "chat %d closed: %s", ev->chat, ev->text); break;
    case MSNC_EV_MESSAGE: tprint(a, "%s<%s> %s", label, ev->name && *ev->name ? ev->name : ev->email, ev->text); break;
    case MSNC_EV_MESSAGE_SENT: break;
    case MSNC_EV_TYPING: tprint(a, "%s%s is typing...", label, ev->email); break;
    case MSNC_EV_ACK: break;
    case MSNC_EV_NAK: tprint(a, "chat %d: message %u was not delivered", ev->chat, (unsigned)ev->trid); break;
    case MSNC_EV_MESSAGE_FAILED:
        if (ev->status && !strcmp(ev->status, "unacknowledged"))
            tprint(a, "chat %d: the server did not acknowledge message %u, it may not have arrived: %s", ev->chat,
                   (unsigned)ev->trid, ev->text);
        else if (ev->count)
            tprint(a, "chat %d: not sent (%" PRIu64 " lines already wait for the chat): %s", ev->chat, ev->count,
                   ev->text);
        else
            tprint(a, "chat %d: not sent (%s): %s", ev->chat, ev->code ? msnp_error_text(ev->code) : "the chat closed",
                   ev->text);
        break;
    case MSNC_EV_INVITE:
        if (ev->file)
            tprint(a, "%s offers file %s (%" PRIu64 " bytes): /accept %" PRIu64 " or /decline %" PRIu64, ev->email,
                   ev->file, ev->size, ev->cookie, ev->cookie);
        else
            tprint(a, "%s invites you to %s: /accept %" PRIu64 " or /decline %" PRIu64, ev->email, ev->app, ev->cookie,
                   ev->cookie);
        break;
    case MSNC_EV_INVITE_SENT: tprint(a, "invitation %" PRIu64 " (%s) sent", ev->cookie, ev->app); break;
    case MSNC_EV_INVITE_ACCEPTED: tprint(a, "invitation %" PRIu64 " accepted", ev->cookie); break;
    case MSNC_EV_INVITE_CANCELLED: {
        const char *why = cancel_reason(ev->text);
        const char *who = ev->local_side ? "you" : (ev->email && *ev->email ? ev->email : "the other side");
        char kind[64];
        app_label(ev->app, kind, sizeof(kind));
        if (why) tprint(a, "The %s invitation %" PRIu64 " was ended by %s: %s.", kind, ev->cookie, who, why);
        else
            tprint(a, "The %s invitation %" PRIu64 " was ended by %s (code %s).", kind, ev->cookie, who,
                   ev->text ? ev->text : "none");
        break;
    }
    case MSNC_EV_SECONDARY_LISTEN: tprint(a, "%s: waiting on %s %s", ev->app, ev->transport, ev->local); break;
    case MSNC_EV_SECONDARY_CONNECTED:
        if (ev->app && !strcmp(ev->app, "file_transfer")) {
            tprint(a, "transfer %" PRIu64 ": MSNFTP connection %s <-> %s", ev->cookie, ev->local, ev->peer);
            break;
        }
        tprint(a, "%s: %s connection %s <-> %s established (probe exchanged; no media is carried)", ev->app,
               ev->transport, ev->local, ev->peer);
        break;
    case MSNC_EV_TRANSFER_START:
        xfer_start(ev->cookie, 1);
        tprint(a, "transfer %" PRIu64 ": %s %s (%" PRIu64 " bytes)", ev->cookie,
               strcmp(ev->text, "send") == 0 ? "sending" : "receiving", ev->file, ev->size);
        break;
    case MSNC_EV_TRANSFER_PROGRESS: {
        uint64_t t = now_ms();
        if (t - a->last_progress_ms >= PROGRESS_EVERY_MS) {
            a->last_progress_ms = t;
            progress_bar(a, ev);
        }
        break;
    }
    case MSNC_EV_TRANSFER_DONE: {
        uint64_t start = xfer_start(ev->cookie, 0);
        double secs = (double)(now_ms() - start) / 1000.0;
        char r[32];
        human_size(secs > 0 ? (double)ev->bytes / secs : 0, r, sizeof(r));
        xfer_forget(ev->cookie);
        tprint(a, "transfer %" PRIu64 " complete: %s (%" PRIu64 " bytes, %s/s)", ev->cookie, ev->file, ev->bytes, r);
        break;
    }
    case MSNC_EV_TRANSFER_FAILED:
        xfer_forget(ev->cookie);
        tprint(a, "transfer %" PRIu64 " failed: %s", ev->cookie, ev->text);
        break;
    case MSNC_EV_WARNING: tprint(a, "warning: %s", ev->text); break;
    case MSNC_EV_INFO: tprint(a, "%s", ev->text); break;
    }
}

static void json_out(app *a, const msnc_event *ev) {
    if (ev->type == MSNC_EV_TRANSFER_PROGRESS) {
        /* Bounded output: a few progress lines per second at most. */
        uint64_t t = now_ms();
        if (t - a->last_progress_ms < PROGRESS_EVERY_MS) return;
        a->last_progress_ms = t;
    }
    json_t *o = json_event(msnc_event_type_name(ev->type));
    if (ev->chat) json_object_set_new(o, "chat", json_integer(ev->chat));
    set_str(o, "email", ev->email);
    set_str(o, "name", ev->name);
    set_str(o, "status", ev->status);
    set_str(o, "list", ev->list);
    set_str(o, "text", ev->text);
    set_str(o, "app", ev->app);
    set_str(o, "file", ev->file);
    set_str(o, "transport", ev->transport);
    set_str(o, "local", ev->local);
    set_str(o, "peer", ev->peer);
    if (ev->cookie) {
        /* A string, as in msnsniff's events: the Invitation-Cookie field. */
        char cookie[24];
        snprintf(cookie, sizeof(cookie), "%" PRIu64, ev->cookie);
        set_str(o, "cookie", cookie);
    }
    if (ev->type == MSNC_EV_INVITE || ev->type == MSNC_EV_INVITE_SENT || ev->type == MSNC_EV_TRANSFER_START ||
        ev->type == MSNC_EV_TRANSFER_PROGRESS || ev->type == MSNC_EV_TRANSFER_DONE ||
        ev->type == MSNC_EV_TRANSFER_FAILED) {
        if (ev->size != UINT64_MAX) json_object_set_new(o, "size", json_integer((json_int_t)ev->size));
        json_object_set_new(o, "bytes", json_integer((json_int_t)ev->bytes));
    }
    if (ev->type == MSNC_EV_SYNCED) json_object_set_new(o, "count", json_integer((json_int_t)ev->count));
    if (ev->type == MSNC_EV_MESSAGE_FAILED && ev->count)
        json_object_set_new(o, "waiting", json_integer((json_int_t)ev->count));
    if (ev->trid) json_object_set_new(o, "trid", json_integer(ev->trid));
    if (ev->code) json_object_set_new(o, "code", json_integer((json_int_t)(uint32_t)ev->code));
    if (ev->version) json_object_set_new(o, "version", json_integer(ev->version));
    if (ev->delay_ms) json_object_set_new(o, "delay_ms", json_integer(ev->delay_ms));
    if (ev->type == MSNC_EV_INVITE_CANCELLED || ev->type == MSNC_EV_TRANSFER_FAILED)
        json_object_set_new(o, "local", json_boolean(ev->local_side));
    if (ev->format) {
        json_t *f = json_object();
        const msnp_imformat *m = ev->format;
        if (m->has_font) set_str(f, "font", m->font);
        if (m->has_effects) {
            char e[5];
            int n = 0;
            if (m->effects & MSNP_EF_BOLD) e[n++] = 'B';
            if (m->effects & MSNP_EF_ITALIC) e[n++] = 'I';
            if (m->effects & MSNP_EF_UNDERLINE) e[n++] = 'U';
            if (m->effects & MSNP_EF_STRIKE) e[n++] = 'S';
            e[n] = '\0';
            set_str(f, "effects", e);
        }
        if (m->has_color) {
            char col[8];
            snprintf(col, sizeof(col), "%06x", (unsigned)msnp_imformat_rgb(m));
            set_str(f, "color_rgb", col);
        }
        if (m->has_charset) json_object_set_new(f, "charset", json_integer(m->charset));
        if (m->has_pf) json_object_set_new(f, "pitch_family", json_integer(m->pitch_family));
        json_object_set_new(o, "format", f);
    }
    emit_json(o);
}

/* /add sends ADD FL and ADD AL: an error both get alike (215 already
 * there, 205 no such user) is said once, for the FL. */
static int add_pair_repeat(app *a, const msnc_event *ev) {
    if (ev->type != MSNC_EV_SERVER_ERROR || !ev->trid) return 0;
    if (ev->trid == a->add_fl_trid) a->add_fl_code = ev->code;
    return ev->trid == a->add_al_trid && ev->code == a->add_fl_code;
}

void out_event(app *a, const msnc_event *ev) {
    if (add_pair_repeat(a, ev)) return;
    if (a->batch) json_out(a, ev);
    else human(a, ev);
}

static void vout(app *a, const char *event, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!buf) {
        va_end(ap2);
        return;
    }
    vsnprintf(buf, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    /* Batch: a command that failed makes the exit code 1 (unless a more
     * specific failure is reported). */
    if (a->batch && strcmp(event, "error") == 0 && a->exit_code == 0) a->exit_code = EXIT_FAILURE_GENERIC;
    if (a->batch) {
        json_t *o = json_event(event);
        set_str(o, "text", buf);
        emit_json(o);
    } else {
        tprint(a, "%s%s", strcmp(event, "error") == 0 ? "error: " : "", buf);
    }
    free(buf);
}

void out_error(app *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vout(a, "error", fmt, ap);
    va_end(ap);
}

void out_info(app *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vout(a, "info", fmt, ap);
    va_end(ap);
}

void out_contact(app *a, const char *list, const char *email, const char *name, const char *status) {
    if (a->batch) {
        json_t *o = json_event("contact");
        set_str(o, "list", list);
        set_str(o, "email", email);
        set_str(o, "name", name);
        set_str(o, "status", status);
        emit_json(o);
    } else {
        tprint(a, "  %s  %-30s %-20s %s", list, email, name,
               msnp_status_description(msnp_status_parse(msnp_str_c(status))));
    }
}

void out_json_kv(app *a, const char *event, ...) {
    va_list ap;
    va_start(ap, event);
    json_t *o = json_event(event);
    const char *k;
    char line[1024] = "";
    size_t off = 0;
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        set_str(o, k, v);
        int n = snprintf(line + off, sizeof(line) - off, "%s%s=%s", off ? " " : "", k, v ? v : "");
        if (n > 0 && (size_t)n < sizeof(line) - off) off += (size_t)n;
    }
    va_end(ap);
    if (a->batch) emit_json(o);
    else {
        json_decref(o);
        tprint(a, "%s: %s", event, line);
    }
}
