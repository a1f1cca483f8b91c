/* output.c - events as JSON lines (--batch) or as timestamped text with a
 * progress bar (interactive). */
/* wcwidth */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include <editline/readline.h>
#include <jansson.h>
#include <msnkit/visible.h>

#include "app.h"

#define PROGRESS_EVERY_MS 250
/* Transfers followed at once: as many as invitations can be open. */
#define MAX_XFERS 32
/* Progress lines above the prompt at most; the last says how many more
 * transfers run when there are more. */
#define MAX_BAR_LINES 4

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

/* Standard output refused what was written (a full disk, a reader that
 * went away): said once on stderr, and the session ends, since every
 * event after it would be lost as well. */
static void output_failed(app *a) {
    if (a->output_failed) return;
    a->output_failed = 1;
    fprintf(stderr, "msnc: writing to standard output failed: %s; logging out\n", strerror(errno));
    app_quit(a, 0);
}

static void emit_json(app *a, json_t *o) {
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (s && !a->output_failed) {
        if (fputs(s, stdout) == EOF || fputc('\n', stdout) == EOF || fflush(stdout) == EOF) output_failed(a);
    }
    free(s);
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

static size_t term_columns(void);

/* The row, counted from the prompt's, that the cursor is on: the prompt
 * and the line being typed (rl_line_buffer up to rl_point) laid out as
 * libedit lays them out on cols columns (a control character as ^X, a tab
 * to the next multiple of 8, a character that does not fit at the end of
 * a row on the next one, and the cursor on the next row once a row is
 * full). */
static size_t rows_before(const char *s, size_t n, size_t cols, size_t *h) {
    size_t v = 0;
    mbstate_t st;
    memset(&st, 0, sizeof st);
    for (size_t i = 0; i < n;) {
        wchar_t wc;
        size_t len = mbrtowc(&wc, s + i, n - i, &st);
        size_t cw;
        if (len == (size_t)-1 || len == (size_t)-2) {
            memset(&st, 0, sizeof st);
            len = 1;
            cw = 4; /* shown as \ooo */
        } else {
            if (len == 0) len = 1;
            if (wc == L'\t') cw = 8 - *h % 8;
            else if (wc < 0x20 || wc == 0x7f) cw = 2;
            else {
                int w = wcwidth(wc);
                cw = w >= 0 ? (size_t)w : 7; /* \U+XXXX */
            }
        }
        i += len;
        if (*h + cw > cols && cw <= cols && wc != L'\t') {
            v++;
            *h = 0;
        }
        *h += cw;
        while (*h >= cols) {
            v++;
            *h -= cols;
        }
    }
    return v;
}

static size_t input_rows_above_cursor(app *a, size_t cols) {
    size_t h = 0;
    size_t v = rows_before(MSNC_PROMPT, strlen(MSNC_PROMPT), cols, &h);
    if (a->input_empty || !rl_line_buffer || rl_point <= 0) return v;
    size_t n = strnlen(rl_line_buffer, (size_t)rl_point);
    return v + rows_before(rl_line_buffer, n, cols, &h);
}

/* Takes away what is below the last line printed: the progress lines and
 * the prompt with whatever is half typed, however many rows these take.
 * The cursor is left at the start of the first of those rows. */
static void clear_below_output(app *a) {
    size_t up = (size_t)a->bar_lines;
    if (a->prompt_shown) up += input_rows_above_cursor(a, term_columns());
    if (up) printf("\033[%zuA", up);
    fputs("\r\033[J", stdout);
    a->bar_lines = 0;
}

/* The prompt and the half-typed line are drawn again below what was
 * printed (unless a line is being handled or msnc is leaving). */
static void redraw_prompt(app *a) {
    if (!a->batch && !a->quitting && !a->in_line_handler) {
        rl_forced_update_display();
        a->prompt_shown = 1;
    } else a->prompt_shown = 0;
}

void tty_line_accepted(app *a, const char *line) {
    if (!a->bar_lines) return; /* the line stays where libedit left it */
    size_t cols = term_columns(), h = 0;
    size_t rows = rows_before(MSNC_PROMPT, strlen(MSNC_PROMPT), cols, &h);
    rows += rows_before(line, strlen(line), cols, &h) + 1;
    printf("\033[%zuA\r\033[J%s", rows + (size_t)a->bar_lines, MSNC_PROMPT);
    msnkit_put_visible(stdout, line, NULL);
    fputs("\r\n", stdout);
    a->bar_lines = 0;
    if (fflush(stdout) == EOF) output_failed(a);
}

static void tprint(app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tprint(app *a, const char *fmt, ...) {
    char ts[16];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
    /* The message takes the place of the progress lines and the prompt; the
     * next progress update draws them again below it, so no stale line
     * stays behind. */
    clear_below_output(a);
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
    redraw_prompt(a);
    if (fflush(stdout) == EOF) output_failed(a);
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

/* b in at most 5 characters and a unit letter: "7.0M", "512K", "12B". */
static void short_size(double b, char *dst, size_t cap) {
    const char *u = "BKMGT";
    int i = 0;
    while (b >= 1000 && i < 4) {
        b /= 1024;
        i++;
    }
    snprintf(dst, cap, i && b < 10 ? "%.1f%c" : "%.0f%c", b, u[i]);
}

/* What the progress lines show of each running transfer: one line each,
 * named as the other lines name a transfer, so that two at once are told
 * apart. Updated by every progress event, drawn at most every
 * PROGRESS_EVERY_MS. */
typedef struct xfer_view {
    uint64_t cookie; /* 0: a free slot */
    uint64_t seq;    /* order of arrival: the lines keep it */
    uint64_t start_ms;
    uint64_t bytes, size;
    int sending;
    char file[256];
    char peer[MSNP_MAX_EMAIL + 1];
} xfer_view;

static xfer_view xfers[MAX_XFERS];
static uint64_t xfer_seq;

/* The view of transfer cookie, made (its clock started now) if new. */
static xfer_view *xfer_get(uint64_t cookie) {
    xfer_view *free_slot = NULL, *oldest = &xfers[0];
    for (int i = 0; i < MAX_XFERS; i++) {
        if (xfers[i].cookie == cookie) return &xfers[i];
        if (!xfers[i].cookie && !free_slot) free_slot = &xfers[i];
        if (xfers[i].seq < oldest->seq) oldest = &xfers[i];
    }
    xfer_view *x = free_slot ? free_slot : oldest;
    memset(x, 0, sizeof(*x));
    x->cookie = cookie;
    x->seq = ++xfer_seq;
    x->start_ms = now_ms();
    return x;
}

static void xfer_forget(uint64_t cookie) {
    for (int i = 0; i < MAX_XFERS; i++)
        if (xfers[i].cookie == cookie) xfers[i].cookie = 0;
}

/* Columns s takes on the terminal, counted high (a character from U+1100
 * on as two, wide or not) so that a line said to fit never wraps: the
 * lines above the prompt are redrawn by moving up one row per line. */
static size_t columns(const char *s, size_t n) {
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp = 0;
        size_t len = msnp_utf8_seq(s + i, n - i, &cp);
        w += len && cp >= 0x1100 ? 2 : 1;
        i += len ? len : 1;
    }
    return w;
}

/* How many bytes of s fit in cols columns, whole characters only. */
static size_t prefix_within(const char *s, size_t cols) {
    size_t n = strlen(s), w = 0, i = 0;
    while (i < n) {
        uint32_t cp = 0;
        size_t len = msnp_utf8_seq(s + i, n - i, &cp);
        size_t cw = len && cp >= 0x1100 ? 2 : 1;
        if (w + cw > cols) break;
        w += cw;
        i += len ? len : 1;
    }
    return i;
}

/* s (a file name or e-mail from the network) as msnc shows network text,
 * escapes written out, never obeyed by the terminal. */
static void visible(const char *s, char *dst, size_t cap) {
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    dst[0] = '\0';
    if (!fp) return;
    msnkit_put_visible(fp, s, NULL);
    if (fclose(fp) == 0 && buf) {
        size_t keep = msnp_utf8_prefix(buf, len, cap - 1);
        memcpy(dst, buf, keep);
        dst[keep] = '\0';
    }
    free(buf);
}

static size_t term_columns(void) {
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 80;
}

/* One transfer's line, within cols columns: "transfer 123 (a.jpg to
 * bob@example.com) [#####.....]  45% 22.5 MiB / 50.0 MiB  110.3 MiB/s
 * ETA 0s". The cookie, which the other lines name a transfer by and
 * /cancel takes, and the figures always stay; when the line does not fit,
 * the bar narrows to 10, then the peer goes, then the file name is
 * shortened ("...") and goes too, then the bar, and last the figures are
 * written shorter. */
static void xfer_line(const xfer_view *x, size_t cols, char *line, size_t cap) {
    double secs = (double)(now_ms() - x->start_ms) / 1000.0;
    double rate = secs > 0 ? (double)x->bytes / secs : 0;
    double frac = x->size ? (double)x->bytes / (double)x->size : 1.0;
    if (frac > 1) frac = 1;
    char done[32], total[32], r[32];
    human_size((double)x->bytes, done, sizeof(done));
    human_size((double)x->size, total, sizeof(total));
    human_size(rate, r, sizeof(r));
    double eta = rate > 0 && x->size > x->bytes ? (double)(x->size - x->bytes) / rate : 0;
    char head[32], stats[128], file[256], peer[256];
    snprintf(head, sizeof(head), "transfer %" PRIu64, x->cookie);
    snprintf(stats, sizeof(stats), "%3.0f%% %s / %s  %s/s  ETA %.0fs", frac * 100, done, total, r, eta);
    visible(x->file, file, sizeof(file));
    visible(x->peer, peer, sizeof(peer));
    /* head, " [", the bar (10 at least), "] ", stats */
    size_t fixed = strlen(head) + 4 + 10 + strlen(stats);
    if (fixed > cols) {
        /* No room for a bar: the cookie and the figures alone, then the
         * figures written shorter ("7.0M/7.6M"), then without the word
         * "transfer"; cut only when even that does not fit. */
        char d[32], t[32], rr[32];
        short_size((double)x->bytes, d, sizeof(d));
        short_size((double)x->size, t, sizeof(t));
        short_size(rate, rr, sizeof(rr));
        snprintf(line, cap, "%s %s", head, stats);
        if (strlen(line) > cols) snprintf(line, cap, "%s %.0f%% %s/%s %s/s ETA %.0fs", head, frac * 100, d, t, rr, eta);
        if (strlen(line) > cols)
            snprintf(line, cap, "%" PRIu64 ": %.0f%% %s/%s %s/s ETA %.0fs", x->cookie, frac * 100, d, t, rr, eta);
        line[prefix_within(line, cols)] = '\0';
        return;
    }
    char label[600];
    if (peer[0]) snprintf(label, sizeof(label), " (%s %s %s)", file, x->sending ? "to" : "from", peer);
    else snprintf(label, sizeof(label), " (%s)", file);
    if (fixed + columns(label, strlen(label)) > cols) snprintf(label, sizeof(label), " (%s)", file);
    if (fixed + columns(label, strlen(label)) > cols) {
        /* " (" a part of the name "...)": one character of it at least */
        if (fixed + 7 <= cols)
            snprintf(label, sizeof(label), " (%.*s...)", (int)prefix_within(file, cols - fixed - 6), file);
        else label[0] = '\0';
    }
    size_t bar_w = 10, used = fixed + columns(label, strlen(label));
    if (used < cols) bar_w += cols - used < 20 ? cols - used : 20;
    char bar[31];
    int fill = (int)(frac * (double)bar_w);
    for (size_t i = 0; i < bar_w; i++) bar[i] = (int)i < fill ? '#' : '.';
    bar[bar_w] = '\0';
    snprintf(line, cap, "%s%s [%s] %s", head, label, bar, stats);
    /* a terminal narrower than even the cookie and the figures: cut, as a
     * wrapped line would break the redraw */
    line[prefix_within(line, cols)] = '\0';
}

static int xfer_order(const void *pa, const void *pb) {
    const xfer_view *a = *(const xfer_view *const *)pa, *b = *(const xfer_view *const *)pb;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* The progress lines live just above the prompt, one per transfer, so a
 * half-typed line stays visible: clear the prompt line, go up over the
 * lines drawn last time, draw them anew, and let libedit redraw the
 * prompt below. Each line fits the terminal's width, so each is one row. */
static void progress_lines(app *a) {
    const xfer_view *run[MAX_XFERS];
    int n = 0;
    for (int i = 0; i < MAX_XFERS; i++)
        if (xfers[i].cookie) run[n++] = &xfers[i];
    qsort(run, (size_t)n, sizeof(run[0]), xfer_order);
    size_t cols = term_columns();
    cols = cols > 1 ? cols - 1 : 1; /* the last column would wrap on some terminals */
    clear_below_output(a);
    int shown = n > MAX_BAR_LINES ? MAX_BAR_LINES - 1 : n;
    char line[1024];
    for (int i = 0; i < shown; i++) {
        xfer_line(run[i], cols, line, sizeof(line));
        printf("%s\n", line);
    }
    if (shown < n) {
        snprintf(line, sizeof(line), "and %d more transfer%s", n - shown, n - shown == 1 ? "" : "s");
        line[prefix_within(line, cols)] = '\0';
        printf("%s\n", line);
    }
    a->bar_lines = shown < n ? shown + 1 : shown;
    redraw_prompt(a);
    if (fflush(stdout) == EOF) output_failed(a);
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
    case MSNC_EV_LOGIN_FAILED:
        /* /login would send the same password again: say what to do */
        if (ev->code == MSNP_ERR_AUTH_FAILED)
            tprint(a,
                   "login failed: %s (911): the server refused this e-mail and password (or, after many failed "
                   "logins from here, holds them back for a while); /quit and start msnc with the right password",
                   ev->text);
        else tprint(a, "login failed: %s", ev->text);
        break;
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
        if (ev->file && ev->size == UINT64_MAX) /* the INVITE had no Application-FileSize */
            tprint(a, "%s offers file %s (size not given): /accept %" PRIu64 " or /decline %" PRIu64, ev->email,
                   ev->file, ev->cookie, ev->cookie);
        else if (ev->file)
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
        if (ev->failed) {
            /* ended here, yet not at the user's word (a call that failed,
             * no answer, no connection): "ended by you" would blame them */
            char cause[160] = "";
            if (ev->code) snprintf(cause, sizeof(cause), " (%d: %s)", ev->code, msnp_error_text(ev->code));
            if (why && ev->text && strcmp(ev->text, "FAIL"))
                tprint(a, "The %s invitation %" PRIu64 " failed: %s%s.", kind, ev->cookie, why, cause);
            else tprint(a, "The %s invitation %" PRIu64 " failed%s.", kind, ev->cookie, cause);
        } else if (why) tprint(a, "The %s invitation %" PRIu64 " was ended by %s: %s.", kind, ev->cookie, who, why);
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
    case MSNC_EV_TRANSFER_START: {
        xfer_view *x = xfer_get(ev->cookie);
        x->start_ms = now_ms();
        x->bytes = 0;
        x->size = ev->size;
        x->sending = ev->text && strcmp(ev->text, "send") == 0;
        snprintf(x->file, sizeof(x->file), "%s", ev->file ? ev->file : "");
        snprintf(x->peer, sizeof(x->peer), "%s", ev->email ? ev->email : "");
        tprint(a, "transfer %" PRIu64 ": %s %s (%" PRIu64 " bytes)", ev->cookie, x->sending ? "sending" : "receiving",
               ev->file, ev->size);
        break;
    }
    case MSNC_EV_TRANSFER_PROGRESS: {
        xfer_view *x = xfer_get(ev->cookie);
        x->bytes = ev->bytes;
        x->size = ev->size;
        if (!x->file[0] && ev->file) snprintf(x->file, sizeof(x->file), "%s", ev->file);
        uint64_t t = now_ms();
        if (t - a->last_progress_ms >= PROGRESS_EVERY_MS) {
            a->last_progress_ms = t;
            progress_lines(a);
        }
        break;
    }
    case MSNC_EV_TRANSFER_DONE: {
        uint64_t start = xfer_get(ev->cookie)->start_ms;
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
    case MSNC_EV_UNANSWERED: {
        const char *why = !strcmp(ev->status, "timeout") ? "no answer came in time"
            : !strcmp(ev->status, "logout")              ? "logged out first"
                                                         : "the connection ended first";
        tprint(a, "the server did not answer %s%s%s (%s); it may or may not have been done", ev->text,
               ev->email ? " " : "", ev->email ? ev->email : "", why);
        break;
    }
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
    emit_json(a, o);
}

/* /add sends ADD FL and ADD AL: an error both get alike (215 already
 * there, 205 no such user) is said once, for the FL. */
static int add_pair_repeat(app *a, const msnc_event *ev) {
    if (ev->type != MSNC_EV_SERVER_ERROR || !ev->trid || ev->chat) return 0;
    for (size_t k = 0; k < MSNC_MAX_REQUESTS; k++) {
        if (ev->trid == a->adds[k].fl_trid) {
            a->adds[k].fl_code = ev->code;
            return 0;
        }
        if (ev->trid == a->adds[k].al_trid) return ev->code == a->adds[k].fl_code;
    }
    return 0;
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
        emit_json(a, o);
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
        emit_json(a, o);
    } else {
        tprint(a, "  %s  %-30s %-20s %s", list, email, name,
               msnp_status_description(msnp_status_parse(msnp_str_c(status))));
    }
}

/* One line of the batch answer to /chats: `chat` a number, as in every
 * other event that names a chat. */
void out_chat(app *a, int chat, const char *participants, const char *state, int current) {
    json_t *o = json_event("chat");
    json_object_set_new(o, "chat", json_integer(chat));
    set_str(o, "participants", participants);
    set_str(o, "state", state);
    set_str(o, "current", current ? "yes" : "no");
    emit_json(a, o);
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
    if (a->batch) emit_json(a, o);
    else {
        json_decref(o);
        tprint(a, "%s: %s", event, line);
    }
}
