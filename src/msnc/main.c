/* main.c - msnc: options, configuration, the event loop and the two front
 * ends (libedit prompt, or JSON lines with --batch). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wchar.h>

#include <editline/readline.h>
#include <event2/dns.h>
#include <event2/event.h>

#include <msnc/addr.h>
#include <msnkit/fiber.h>

#include "app.h"

#define STDIN_LINE_MAX 8192

static app g_app;

static void usage(FILE *f) {
    fprintf(f,
            "usage: msnc [options]            interactive client (libedit)\n"
            "       msnc --batch [options]    commands on stdin, one JSON event per line on stdout\n"
            "       msnc ftp-send|ftp-recv    peer-to-peer MSNFTP without a server (see --help there)\n"
            "options:\n"
            "  -c, --config FILE        INI file (server, account, password_file, bind_ip, download_dir, ...)\n"
            "  -s, --server HOST:PORT   dispatch or notification server (default 127.0.0.1:1863)\n"
            "  -u, --account EMAIL\n"
            "      --password-file FILE first line is the password\n"
            "      --password-env VAR   read the password from $VAR (default MSNC_PASSWORD)\n"
            "      --bind-ip IP         local address for secondary connections, advertised to peers\n"
            "      --ftp-ports A-B      MSNFTP listening range (default 6891-6900; 0 = any free port)\n"
            "      --max-rate BYTES     cap file transfer speed (bytes per second)\n"
            "      --no-incoming        this host cannot accept connections: files we send ask the\n"
            "                           receiver to listen (Connectivity: N, reverse MSNFTP connection)\n"
            "      --download-dir DIR   where received files go (default .)\n"
            "      --cache-dir DIR      contact list cache\n"
            "      --status CODE        status after login (NLN, BSY, AWY, HDN, ...)\n"
            "      --max-version N / --min-version N   MSNP versions offered (7..2)\n"
            "      --ping-interval S    PNG keep-alive period\n"
            "      --invite-timeout S / --connect-timeout S\n"
            "      --login-timeout S    give up a login (or a switchboard handshake) after S seconds (30)\n"
            "      --no-reconnect       do not reconnect after a lost connection\n"
            "      --batch              scriptable mode\n"
            "      --version            version\n"
            "exit codes: 0 ok, 1 a command failed (batch), 2 authentication failed, 3 network failure,\n"
            "            4 a file transfer failed (batch), 64 usage, 74 writing standard output failed,\n"
            "            78 configuration\n");
}

void print_version(const char *sub) {
    printf("msnc%s%s %s (libmsnp %s)\n", sub ? " " : "", sub ? sub : "", MSNC_VERSION, msnp_version_string());
}

static void stdin_resume(app *a);
static void stdin_pause(app *a);
static void input_wake(app *a);

/* Batch: a lost connection that will not be retried ends msnc (exit 3).
 * Checked once the library has said whether it reconnects. */
static void lost_check_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    app *a = arg;
    if (!a->reconnect_pending && !msnc_is_online(a->client)) app_quit(a, EXIT_NETWORK);
}

/* An invitation we sent or accepted that did not take place: a file
 * that was not transferred (4), or another application that failed (1,
 * unless a later code applies). */
static void invitation_failed(app *a, const msnc_event *ev) {
    if (ev->app && !strcmp(ev->app, "file_transfer")) a->exit_code = EXIT_TRANSFER;
    else if (a->exit_code == EXIT_OK) a->exit_code = EXIT_FAILURE_GENERIC;
}

/* Quitting ended an invitation we had sent or accepted ("abandoned"), or
 * one whose INVITE never left (FAIL): a file that was not transferred, or
 * another application that failed. An offer never answered is not ours. */
static void abandoned_invitation(app *a, const msnc_event *ev) {
    int ours = (ev->status && !strcmp(ev->status, "abandoned")) || (ev->text && !strcmp(ev->text, "FAIL"));
    if (!ours) return;
    invitation_failed(a, ev);
}

static void on_event(const msnc_event *ev, void *arg) {
    app *a = arg;
    out_event(a, ev);
    switch (ev->type) {
    case MSNC_EV_LOGIN_FAILED:
        if (ev->code == MSNP_ERR_AUTH_FAILED) {
            if (a->batch) app_quit(a, EXIT_AUTH);
            else a->exit_code = EXIT_AUTH;
        } else if (a->batch && !a->quitting) {
            /* a reconnection the server refused (500, a dropped line) may
             * be tried again: ended only when the library does not */
            a->reconnect_pending = 0;
            struct timeval now = {0, 0};
            event_base_once(a->base, -1, EV_TIMEOUT, lost_check_cb, a, &now);
        }
        break;
    case MSNC_EV_LOGGED_IN:
        /* a new connection numbers its commands from 1 again: the /add
         * pairs of the last one would match the new TrIDs */
        memset(a->adds, 0, sizeof a->adds);
        break;
    case MSNC_EV_DISCONNECTED:
        if (a->batch && !a->quitting) {
            stdin_pause(a);
            a->reconnect_pending = 0;
            struct timeval now = {0, 0};
            event_base_once(a->base, -1, EV_TIMEOUT, lost_check_cb, a, &now);
        }
        break;
    case MSNC_EV_RECONNECTING: a->reconnect_pending = 1; break;
    case MSNC_EV_MESSAGE_FAILED:
        a->line_refused = 1;
        if (a->batch && !a->exit_code) a->exit_code = EXIT_FAILURE_GENERIC; /* a line typed was not sent */
        a->last_answer_ms = now_ms();
        input_wake(a);
        break;
    case MSNC_EV_ACK:
    case MSNC_EV_NAK:
        a->last_answer_ms = now_ms();
        input_wake(a); /* the chat may take held-back input now */
        break;
    case MSNC_EV_CHAT_OPEN:
        /* /chat picks outgoing chats itself (voice opens a second one). */
        if (!strcmp(ev->text, "incoming") && (!a->current_chat || !msnc_chat_peer(a->client, a->current_chat)))
            a->current_chat = ev->chat;
        break;
    case MSNC_EV_CHAT_CLOSED:
        if (a->current_chat == ev->chat) a->current_chat = 0;
        input_wake(a);
        break;
    case MSNC_EV_CHAT_JOIN:
        input_wake(a); /* the lines held for the join go out now */
        break;
    case MSNC_EV_TRANSFER_FAILED:
        if (a->batch) a->exit_code = EXIT_TRANSFER;
        break;
    case MSNC_EV_INVITE_CANCELLED:
        if (!a->batch) break;
        if (ev->failed) invitation_failed(a, ev);
        else if (a->quitting && ev->local_side) abandoned_invitation(a, ev);
        break;
    case MSNC_EV_SERVER_ERROR:
    case MSNC_EV_UNANSWERED:
        /* The notification server refused a command, or its outcome is
         * unknown: the command failed. A switchboard's error (a call
         * nobody takes) is told by what it ends: the lines and
         * invitations waiting for that call. */
        if (a->batch && !a->exit_code && !ev->chat) a->exit_code = EXIT_FAILURE_GENERIC;
        a->last_answer_ms = now_ms();
        input_wake(a); /* input held while many commands were unanswered */
        break;
    case MSNC_EV_LIST:
    case MSNC_EV_STATUS:
    case MSNC_EV_NAME:
        a->last_answer_ms = now_ms();
        input_wake(a);
        break;
    default: break;
    }
    /* Batch commands run once the login is complete: logged in, the
     * contact lists received and the first status answered. At logged_in
     * the lists have not come yet: a /list would show them empty and a
     * list change would race the sync. The event that completes the login
     * may be any of its last lines', so every event checks. */
    if (a->batch && a->stdin_paused && msnc_is_ready(a->client)) stdin_resume(a);
}

/* ---- batch: line reader on stdin ---- */

static char inbuf[STDIN_LINE_MAX];
static size_t inlen;
/* The start of an over-long line was dropped: so is everything up to its
 * newline (its tail is not a line of its own). */
static int in_long_line;

/* A line typed becomes up to 6 messages (8191 bytes in pieces of 1400):
 * the next line is run only while that many still fit among the messages
 * the chats hold back, so a burst of lines waits in stdin instead of being
 * refused. Lines waiting for a chat to open or for someone to join count
 * too (msnc_waiting_messages): each chat holds at most MSNC_MAX_HELD, and
 * those waits are bounded (handshake, join and call timeouts). */
#define INPUT_HELD_MAX (MSNC_MAX_HELD - 8)

/* A line is at most two notification commands (/add, /block): input
 * waits while the commands unanswered come near the library's bound. */
#define INPUT_REQUESTS_MAX (MSNC_MAX_REQUESTS - 4)

static int input_paced(const app *a) {
    return msnc_waiting_messages(a->client) > INPUT_HELD_MAX || msnc_pending_requests(a->client) > INPUT_REQUESTS_MAX;
}

static void eof_wait_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    app *a = arg;
    /* Finish running transfers, send the lines still waiting for their
     * chat, and get the server's answer to every list, status and name
     * command, before leaving: EOF means "no more input", not "drop what is
     * on its way" (each wait is bounded: connect, handshake and invitation
     * timeouts end them as failed, and a command the server leaves
     * unanswered for login_timeout is reported as such). */
    if (a->quitting) return;
    if (msnc_active_invitations(a->client) == 0 && msnc_waiting_messages(a->client) == 0 &&
        msnc_pending_requests(a->client) == 0) {
        app_quit(a, 0);
        return;
    }
    struct timeval tv = {0, 200 * 1000};
    event_base_once(a->base, -1, EV_TIMEOUT, eof_wait_cb, a, &tv);
}

/* The end of input came while msnc was not logged in (still logging in,
 * or reconnecting): the lines left wait for the login, but only for
 * login_timeout; a connection that does not come back by then is lost
 * for good. */
static void eof_offline_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    app *a = arg;
    if (a->quitting || !a->stdin_paused) return;
    inlen = 0; /* not run */
    unsigned s = a->cfg.login_timeout_s ? a->cfg.login_timeout_s : 30;
    if (msnc_is_online(a->client))
        out_error(a, "end of input: the contact list and status did not come within %u s; giving up", s);
    else out_error(a, "end of input: not logged in again within %u s; giving up", s);
    app_quit(a, EXIT_NETWORK);
}

static void input_stop_reading(app *a) {
    if (a->stdin_polled) event_del(a->stdin_poll);
    else event_del(a->stdin_ev);
}

/* stdin is read while there is room for it, logged in or not: the end of
 * input is seen even while the lines before it wait. A file has no
 * readiness to wait for: it is read on the next turn of the loop, so
 * network events are served in between. */
static void input_read_more(app *a) {
    if (a->stdin_eof || a->quitting || inlen == sizeof(inbuf)) {
        input_stop_reading(a);
        return;
    }
    struct timeval now = {0, 0};
    if (a->stdin_polled) event_add(a->stdin_poll, &now);
    else event_add(a->stdin_ev, NULL);
}

/* Lines are run only while logged in (before the login has completed, or
 * while reconnecting, they wait), not after /quit, and not while the
 * chats hold back many messages already. */
static int input_can_run(const app *a) { return !a->quitting && !a->stdin_paused && !input_paced(a); }

static void input_eof_reached(app *a) {
    if (a->eof_handled) return;
    a->eof_handled = 1;
    eof_wait_cb(-1, 0, a);
}

/* A list change (/add, /remove, /block, /allow) decides what to send
 * from the lists as known: while an earlier change for the same contact
 * is unanswered, they do not show it yet (/block then /allow would find
 * the contact still on AL and do nothing). Such a line waits for those
 * answers (each comes, or is reported unanswered, within login_timeout),
 * so that list commands take effect in the order given. */
static int list_change_waits(const app *a, const char *line, size_t len) {
    static const char *const cmds[] = {"/add ", "/remove ", "/block ", "/allow ", "/unblock "};
    for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++) {
        size_t n = strlen(cmds[k]);
        if (len <= n || strncmp(line, cmds[k], n) != 0) continue;
        const char *p = line + n, *end = line + len;
        while (p < end && *p == ' ') p++;
        const char *e = p;
        while (e < end && *e != ' ' && *e != '\r') e++;
        char email[MSNP_MAX_EMAIL + 1];
        if (e == p || (size_t)(e - p) >= sizeof(email)) return 0;
        memcpy(email, p, (size_t)(e - p));
        email[e - p] = '\0';
        return msnc_pending_list_changes(a->client, email) > 0;
    }
    return 0;
}

/* Run the complete lines read so far, as far as input_can_run allows. */
static void input_run_lines(app *a) {
    size_t start = 0;
    int held = 0;
    for (size_t i = 0; i < inlen && input_can_run(a); i++) {
        if (inbuf[i] != '\n') continue;
        if (list_change_waits(a, inbuf + start, i - start)) {
            held = 1; /* run again by the answer's event (input_wake) */
            break;
        }
        inbuf[i] = '\0';
        command_run(a, inbuf + start);
        start = i + 1;
    }
    if (a->quitting) {
        /* /quit: what follows is not run */
        inlen = 0;
        return;
    }
    memmove(inbuf, inbuf + start, inlen - start);
    inlen -= start;
    if (inlen == sizeof(inbuf) && !memchr(inbuf, '\n', inlen)) {
        out_error(a, "input line longer than %d bytes; dropped", STDIN_LINE_MAX - 1);
        inlen = 0;
        in_long_line = 1;
    }
    if (held || !a->stdin_eof || !input_can_run(a)) return;
    if (inlen && list_change_waits(a, inbuf, inlen)) return;
    if (inlen) { /* a last line without its newline */
        inbuf[inlen] = '\0';
        inlen = 0;
        command_run(a, inbuf);
    }
    input_eof_reached(a);
}

static void input_run_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    app *a = arg;
    if (!a->batch) {
        /* the terminal is read again once the chats have taken the lines */
        if (a->tty_paced && !input_paced(a) && !a->quitting) {
            a->tty_paced = 0;
            event_add(a->stdin_ev, NULL);
        }
        return;
    }
    input_run_lines(a);
    input_read_more(a);
}

/* Run waiting input from the event loop (never from inside a library
 * callback, which may be in the middle of a chat's queue). */
static void input_wake(app *a) {
    struct timeval now = {0, 0};
    if (a->input_ev) evtimer_add(a->input_ev, &now);
}

/* The end of input while not logged in: the login has login_timeout to
 * come (again). */
static void eof_offline_arm(app *a) {
    if (!a->stdin_eof || !a->stdin_paused || a->quitting || !a->eof_offline_ev) return;
    struct timeval tv = {(time_t)(a->cfg.login_timeout_s ? a->cfg.login_timeout_s : 30), 0};
    evtimer_add(a->eof_offline_ev, &tv);
}

/* Commands are run only while logged in and synced: a command piped in
 * before the login completes waits for it (and the login timeout bounds
 * the wait). */
static void stdin_pause(app *a) {
    if (a->stdin_paused) return;
    a->stdin_paused = 1;
    eof_offline_arm(a);
}

static void stdin_resume(app *a) {
    if (!a->stdin_paused || a->quitting) return;
    a->stdin_paused = 0;
    if (a->eof_offline_ev) evtimer_del(a->eof_offline_ev);
    input_wake(a);
}

void input_hold_for_login(app *a) {
    if (!a->batch) return;
    stdin_pause(a);
    if (msnc_is_ready(a->client)) stdin_resume(a);
}

/* Drop the bytes of an over-long line up to its newline; the rest of the
 * read stays. */
static void skip_long_line_tail(size_t from) {
    const char *nl = memchr(inbuf + from, '\n', inlen - from);
    if (!nl) {
        inlen = from;
        return;
    }
    in_long_line = 0;
    size_t next = (size_t)(nl - inbuf) + 1;
    memmove(inbuf + from, inbuf + next, inlen - next);
    inlen -= next - from;
}

static void batch_read_cb(evutil_socket_t fd, short what, void *arg) {
    (void)what;
    app *a = arg;
    if (a->stdin_polled) fd = STDIN_FILENO;
    if (inlen == sizeof(inbuf)) { /* full of lines that wait */
        input_stop_reading(a);
        return;
    }
    ssize_t n = read(fd, inbuf + inlen, sizeof(inbuf) - inlen);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        if (a->stdin_polled) {
            struct timeval later = {0, 50 * 1000};
            event_add(a->stdin_poll, &later);
        }
        return;
    }
    if (n < 0) { /* a directory (EISDIR), a device's error: said, and the input ends there */
        fprintf(stderr, "msnc: reading standard input failed: %s; taken as the end of input\n", strerror(errno));
        if (a->exit_code == EXIT_OK) a->exit_code = EXIT_FAILURE_GENERIC;
    }
    if (n <= 0) {
        a->stdin_eof = 1;
        input_stop_reading(a);
        eof_offline_arm(a); /* offline: the lines left wait for the login */
    } else {
        size_t from = inlen;
        inlen += (size_t)n;
        if (in_long_line) skip_long_line_tail(from);
    }
    input_run_lines(a);
    input_read_more(a);
}

/* ---- interactive: libedit ----
 *
 * libedit reads whole keys, each byte with a read of its own: after ESC it
 * waits for the rest of a sequence, after ^V for the character to insert,
 * and ^R reads keys until the search ends. Inside rl_callback_read_char
 * such a read would block the event loop until the next key (no message
 * shown, invitations timing out, pings unanswered). libevent cannot run
 * its loop from inside one of its own callbacks, so each turn of libedit
 * runs on a fiber (msnkit/fiber.h, msnd's PostgreSQL store runs on them
 * too): its getc function (rl_getc_function) takes a byte when one is
 * ready and otherwise waits on the fiber for the terminal, while the loop
 * serves the network. All of it runs on one thread, and libedit is only
 * ever left at that read: the events printed meanwhile redraw its line as
 * they do between keys. The terminal's own event is off while a turn
 * waits; the line handler only keeps the line, and the command runs on the
 * loop's stack once the turn has ended (edit_done). */

static char *typed_line; /* the line handler's line, run by edit_done */
static int typed_eof;
static int edit_waiting; /* a turn of libedit waits for the rest of a key */

static void rl_line(char *line) {
    if (!line) typed_eof = 1;
    else typed_line = line;
}

static void edit_turn(void *arg) {
    (void)arg;
    rl_callback_read_char();
}

/* One character for libedit, decoded in the user's locale (libedit's own
 * reader decodes UTF-8 too; its getc hook takes whole characters). */
static int tty_getc(FILE *f) {
    (void)f;
    mbstate_t st;
    memset(&st, 0, sizeof st);
    for (;;) {
        struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
        int r = poll(&p, 1, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) {
            /* on a fiber the loop runs until the terminal has input; off
             * one (no fiber could be made) there is nothing to go back to */
            if (fiber_current()) fiber_wait_fd(STDIN_FILENO, EV_READ, -1);
            else poll(&p, 1, -1);
            continue;
        }
        unsigned char b;
        ssize_t n = read(STDIN_FILENO, &b, 1);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) return -1; /* hangup: the end of input */
        char c = (char)b;
        wchar_t wc;
        size_t k = mbrtowc(&wc, &c, 1, &st);
        if (k == (size_t)-2) continue; /* more bytes of this character */
        if (k == (size_t)-1) return b; /* not a character here: the byte itself */
        return (int)wc;
    }
}

/* The prompt with an empty line is shown again. */
static void prompt_again(app *a) {
    rl_callback_handler_install(MSNC_PROMPT, rl_line);
    a->prompt_shown = 1;
    a->input_empty = 1;
}

/* A turn of libedit has ended: the key is read, and a line typed is run. */
static void edit_done(void *arg) {
    app *a = arg;
    if (edit_waiting) {
        edit_waiting = 0;
        if (!a->quitting) event_add(a->stdin_ev, NULL);
    }
    a->input_empty = 0; /* rl_line_buffer and rl_point show the line now */
    if (typed_eof) {
        typed_eof = 0;
        a->prompt_shown = 0;
        app_quit(a, 0);
        return;
    }
    char *line = typed_line;
    if (!line) return;
    typed_line = NULL;
    /* libedit went to the row below the line; the progress lines above it
     * are the ones redrawn next */
    a->prompt_shown = 0;
    tty_line_accepted(a, line);
    if (*line) add_history(line);
    a->in_line_handler = 1;
    command_run(a, line);
    a->in_line_handler = 0;
    free(line);
    /* a paste faster than the chat takes it waits in the terminal */
    if (input_paced(a)) {
        a->tty_paced = 1;
        event_del(a->stdin_ev);
    }
    /* libedit calls the line handler with character-at-a-time mode switched
     * off and leaves it off: the next key would then read a whole line in
     * blocking mode (stalling the event loop) and any event printed before
     * it would redraw the old line as if it were still being typed.
     * Installing the handler again switches the mode back on, empties the
     * line buffer and shows a fresh prompt. */
    if (!a->quitting) prompt_again(a);
}

static void tty_read_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    app *a = arg;
    int rc = fiber_run(a->base, edit_turn, edit_done, a);
    if (rc == 1) { /* waits for the rest of a key on its own; edit_done follows */
        edit_waiting = 1;
        event_del(a->stdin_ev);
    } else if (rc < 0) { /* no fiber (out of memory): the key is read here */
        edit_turn(a);
        edit_done(a);
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg) {
    (void)sig;
    (void)what;
    app_quit(arg, 0);
}

enum {
    OPT_PASSWORD_FILE = 1000,
    OPT_PASSWORD_ENV,
    OPT_BIND_IP,
    OPT_FTP_PORTS,
    OPT_DOWNLOAD_DIR,
    OPT_CACHE_DIR,
    OPT_STATUS,
    OPT_MAX_VERSION,
    OPT_MIN_VERSION,
    OPT_PING,
    OPT_INVITE_TIMEOUT,
    OPT_CONNECT_TIMEOUT,
    OPT_NO_RECONNECT,
    OPT_BATCH,
    OPT_HELP,
    OPT_MAX_RATE,
    OPT_NO_INCOMING,
    OPT_LOGIN_TIMEOUT,
    OPT_VERSION
};

/* Standard input, output or error closed by the caller: the next file
 * or socket opened would take its number, and msnc would read commands
 * from it or write events into it (a server connection). Each is opened
 * on /dev/null instead; 1 when standard output was the closed one. */
static int standard_fds_fixed(void) {
    int out_closed = 0;
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
        if (fd == 1) out_closed = 1;
        /* the lowest free number: fd itself, as the ones below it are open */
        int got = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
        if (got >= 0 && got != fd) close(got);
    }
    return out_closed;
}

int main(int argc, char **argv) {
    int stdout_closed = standard_fds_fixed();
    /* The user's locale: libedit then reads and echoes UTF-8 input. */
    setlocale(LC_ALL, "");
    if (argc > 1 && (!strcmp(argv[1], "ftp-send") || !strcmp(argv[1], "ftp-recv"))) return ftptool_main(argc, argv);

    if (stdout_closed) {
        fprintf(stderr,
                "msnc: standard output is closed: the events would have nowhere to go (use >/dev/null "
                "to discard them)\n");
        return EXIT_OUTPUT;
    }
    app *a = &g_app;
    config_defaults(&a->cfg);
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"server", required_argument, NULL, 's'},
                                         {"account", required_argument, NULL, 'u'},
                                         {"password-file", required_argument, NULL, OPT_PASSWORD_FILE},
                                         {"password-env", required_argument, NULL, OPT_PASSWORD_ENV},
                                         {"bind-ip", required_argument, NULL, OPT_BIND_IP},
                                         {"ftp-ports", required_argument, NULL, OPT_FTP_PORTS},
                                         {"download-dir", required_argument, NULL, OPT_DOWNLOAD_DIR},
                                         {"cache-dir", required_argument, NULL, OPT_CACHE_DIR},
                                         {"status", required_argument, NULL, OPT_STATUS},
                                         {"max-version", required_argument, NULL, OPT_MAX_VERSION},
                                         {"min-version", required_argument, NULL, OPT_MIN_VERSION},
                                         {"ping-interval", required_argument, NULL, OPT_PING},
                                         {"invite-timeout", required_argument, NULL, OPT_INVITE_TIMEOUT},
                                         {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
                                         {"no-reconnect", no_argument, NULL, OPT_NO_RECONNECT},
                                         {"batch", no_argument, NULL, OPT_BATCH},
                                         {"max-rate", required_argument, NULL, OPT_MAX_RATE},
                                         {"no-incoming", no_argument, NULL, OPT_NO_INCOMING},
                                         {"help", no_argument, NULL, OPT_HELP},
                                         {"login-timeout", required_argument, NULL, OPT_LOGIN_TIMEOUT},
                                         {"version", no_argument, NULL, OPT_VERSION},
                                         {NULL, 0, NULL, 0}};
    int ch;
    /* The config file is read first so that options override it: a pass
     * of its own, so that every spelling getopt takes (-cFILE,
     * --config=FILE, --conf FILE) finds it; the next pass reports errors. */
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "c:s:u:h", opts, NULL)) != -1) {
        if (ch != 'c') continue;
        char err[512];
        if (config_load_ini(&a->cfg, optarg, err, sizeof(err)) != 0) {
            fprintf(stderr, "msnc: %s\n", err);
            return EXIT_CONFIG;
        }
    }
    opterr = 1;
    optind = 0; /* glibc: start again from argv[1] */
    unsigned long long num;
    app_config *c = &a->cfg;
    const char *status_arg = NULL; /* --status as given, for its error */
    while ((ch = getopt_long(argc, argv, "c:s:u:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': break;
        case 's':
            if (parse_text_opt("--server", optarg, c->server, sizeof c->server) != 0) return EXIT_USAGE;
            break;
        case 'u':
            if (parse_text_opt("--account", optarg, c->email, sizeof c->email) != 0) return EXIT_USAGE;
            break;
        case OPT_PASSWORD_FILE:
            if (parse_text_opt("--password-file", optarg, c->password_file, sizeof c->password_file) != 0)
                return EXIT_USAGE;
            break;
        case OPT_PASSWORD_ENV:
            if (parse_text_opt("--password-env", optarg, c->password_env, sizeof c->password_env) != 0)
                return EXIT_USAGE;
            break;
        case OPT_BIND_IP:
            if (parse_text_opt("--bind-ip", optarg, c->bind_ip, sizeof c->bind_ip) != 0) return EXIT_USAGE;
            break;
        case OPT_FTP_PORTS:
            if (parse_port_range(optarg, &c->ftp_first, &c->ftp_last) != 0) {
                fprintf(stderr, "msnc: --ftp-ports wants a port or a range A-B (0 to 65535), not '%s'\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_DOWNLOAD_DIR:
            if (parse_text_opt("--download-dir", optarg, c->download_dir, sizeof c->download_dir) != 0)
                return EXIT_USAGE;
            break;
        case OPT_CACHE_DIR:
            if (parse_text_opt("--cache-dir", optarg, c->cache_dir, sizeof c->cache_dir) != 0) return EXIT_USAGE;
            break;
        case OPT_STATUS:
            /* longer than any status: the check below names the statuses */
            status_arg = optarg;
            if (strlen(optarg) >= sizeof c->status) memcpy(c->status, "?", 2);
            else memcpy(c->status, optarg, strlen(optarg) + 1);
            break;
        case OPT_MAX_VERSION:
            if (parse_number_opt("--max-version", optarg, 2, 7, &num) != 0) return EXIT_USAGE;
            c->max_version = (int)num;
            break;
        case OPT_MIN_VERSION:
            if (parse_number_opt("--min-version", optarg, 2, 7, &num) != 0) return EXIT_USAGE;
            c->min_version = (int)num;
            break;
        case OPT_PING:
            if (parse_number_opt("--ping-interval", optarg, 0, MSNC_MAX_SECONDS, &num) != 0) return EXIT_USAGE;
            c->ping_s = (unsigned)num;
            break;
        case OPT_INVITE_TIMEOUT:
            if (parse_number_opt("--invite-timeout", optarg, 0, MSNC_MAX_SECONDS, &num) != 0) return EXIT_USAGE;
            c->invite_timeout_s = (unsigned)num;
            break;
        case OPT_CONNECT_TIMEOUT:
            if (parse_number_opt("--connect-timeout", optarg, 0, MSNC_MAX_SECONDS, &num) != 0) return EXIT_USAGE;
            c->connect_timeout_s = (unsigned)num;
            break;
        case OPT_NO_RECONNECT: c->reconnect = 0; break;
        case OPT_BATCH: a->batch = 1; break;
        case OPT_MAX_RATE:
            if (parse_number_opt("--max-rate", optarg, 0, UINT64_MAX, &num) != 0) return EXIT_USAGE;
            c->max_rate = num;
            break;
        case OPT_NO_INCOMING: c->no_incoming = 1; break;
        case OPT_LOGIN_TIMEOUT:
            if (parse_number_opt("--login-timeout", optarg, 0, MSNC_MAX_SECONDS, &num) != 0) return EXIT_USAGE;
            c->login_timeout_s = (unsigned)num;
            break;
        case OPT_VERSION: print_version(NULL); return 0;
        case 'h':
        case OPT_HELP: usage(stdout); return 0;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    int server_bad = config_server_check(c->server);
    if (server_bad == -2) {
        fprintf(stderr,
                "msnc: an IPv6 server goes in brackets, [ADDRESS] or [ADDRESS]:PORT, not '%s' (--server or config)\n",
                c->server);
        return EXIT_USAGE;
    }
    if (server_bad) {
        fprintf(stderr, "msnc: the server is HOST or HOST:PORT (port 1 to 65535), not '%s' (--server or config)\n",
                c->server);
        return EXIT_USAGE;
    }
    if (c->min_version > c->max_version) {
        fprintf(stderr, "msnc: the lowest version offered (MSNP%d) is above the highest (MSNP%d)\n", c->min_version,
                c->max_version);
        return EXIT_USAGE;
    }
    if (!c->email[0]) {
        fprintf(stderr, "msnc: an account e-mail is required (--account or config)\n");
        return EXIT_USAGE;
    }
    if (!msnp_email_valid(msnp_str_c(c->email))) {
        fprintf(stderr, "msnc: '%s' is not an e-mail address (--account or config)\n", c->email);
        return EXIT_USAGE;
    }
    char err[512];
    if (config_resolve_password(c, !a->batch, err, sizeof(err)) != 0) {
        fprintf(stderr, "msnc: %s\n", err);
        return EXIT_CONFIG;
    }
    msnp_status st = msnp_status_parse(msnp_str_c(c->status));
    if (st == MSNP_STATUS_INVALID || st == MSNP_STATUS_FLN) {
        fprintf(stderr, "msnc: bad status '%s' (want NLN, BSY, IDL, BRB, AWY, PHN, LUN or HDN)\n",
                status_arg ? status_arg : c->status);
        return EXIT_USAGE;
    }

    /* Peers are told to connect to it: it must be a real unicast address. */
    if (!msnc_ipv4_unicast(c->bind_ip)) {
        fprintf(stderr, "msnc: --bind-ip %s is not a unicast IPv4 address (it is advertised to peers)\n", c->bind_ip);
        return EXIT_CONFIG;
    }
    /* A directory named for downloads is checked now, not when a file has
     * been accepted and its sender waits (the default, the working
     * directory, is not: a client that never receives files may run where
     * it cannot write). */
    struct stat dst;
    int derr = 0;
    if (strcmp(c->download_dir, ".") == 0) derr = 0;
    else if (stat(c->download_dir, &dst) != 0) derr = errno;
    else if (!S_ISDIR(dst.st_mode)) derr = ENOTDIR;
    else if (access(c->download_dir, W_OK | X_OK) != 0) derr = errno;
    if (derr) {
        fprintf(stderr, "msnc: download directory %s: %s (--download-dir or config)\n", c->download_dir,
                strerror(derr));
        return EXIT_CONFIG;
    }

    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* a file size limit fails the write (reported) instead of killing us */
    a->base = event_base_new();
    a->dns = evdns_base_new(a->base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (!a->dns) {
        /* No resolv.conf: names from /etc/hosts still work. */
        a->dns = evdns_base_new(a->base, 0);
        if (a->dns) evdns_base_load_hosts(a->dns, NULL);
    }
    if (!a->base || !a->dns) {
        fprintf(stderr, "msnc: cannot initialise libevent\n");
        return 1;
    }
    msnc_config mc = {0};
    mc.server = c->server;
    mc.email = c->email;
    mc.password = c->password;
    mc.bind_ip = c->bind_ip;
    mc.ftp_port_first = c->ftp_first;
    mc.ftp_port_last = c->ftp_last;
    mc.download_dir = c->download_dir;
    mc.cache_dir = c->cache_dir[0] ? c->cache_dir : NULL;
    mc.initial_status = st;
    mc.max_version = c->max_version;
    mc.min_version = c->min_version;
    mc.ping_interval_ms = c->ping_s * 1000u;
    mc.invite_timeout_ms = c->invite_timeout_s * 1000u;
    mc.connect_timeout_ms = c->connect_timeout_s * 1000u;
    mc.reconnect = c->reconnect;
    mc.login_timeout_ms = c->login_timeout_s * 1000u;
    mc.ftp_max_rate = c->max_rate;
    mc.no_incoming = c->no_incoming;
    a->client = msnc_client_new(a->base, a->dns, &mc, on_event, a);
    memset(c->password, 0, sizeof(c->password));
    if (!a->client) {
        fprintf(stderr, "msnc: bad configuration\n");
        return EXIT_CONFIG;
    }
    struct event *sigint = evsignal_new(a->base, SIGINT, on_signal, a);
    struct event *sigterm = evsignal_new(a->base, SIGTERM, on_signal, a);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    a->input_ev = evtimer_new(a->base, input_run_cb, a);
    if (a->batch) {
        a->stdin_ev = event_new(a->base, STDIN_FILENO, EV_READ | EV_PERSIST, batch_read_cb, a);
        a->stdin_poll = evtimer_new(a->base, batch_read_cb, a);
        a->eof_offline_ev = evtimer_new(a->base, eof_offline_cb, a);
        /* epoll refuses regular files, directories and devices other
         * than terminals (/dev/null): those are read on a timer, without asking epoll
         * first (libevent would print its refusal on stderr). */
        struct stat in_st;
        a->stdin_polled = fstat(STDIN_FILENO, &in_st) == 0 &&
            (S_ISREG(in_st.st_mode) || S_ISDIR(in_st.st_mode) || (S_ISCHR(in_st.st_mode) && !isatty(STDIN_FILENO)));
        if (!a->stdin_polled && event_add(a->stdin_ev, NULL) != 0) a->stdin_polled = 1;
        a->stdin_paused = 1; /* lines are run once logged in */
        input_read_more(a);
    } else {
        rl_getc_function = tty_getc; /* before libedit is initialised: it installs the hook then */
        prompt_again(a);
        a->stdin_ev = event_new(a->base, STDIN_FILENO, EV_READ | EV_PERSIST, tty_read_cb, a);
        event_add(a->stdin_ev, NULL);
    }
    msnc_login(a->client);
    event_base_dispatch(a->base);
    if (!a->batch) {
        rl_callback_handler_remove();
        fputc('\n', stdout);
    }
    msnc_client_free(a->client);
    msnc_close_lingering(a->base);
    event_free(a->stdin_ev);
    if (a->stdin_poll) event_free(a->stdin_poll);
    if (a->eof_offline_ev) event_free(a->eof_offline_ev);
    if (a->input_ev) event_free(a->input_ev);
    event_free(sigint);
    event_free(sigterm);
    evdns_base_free(a->dns, 0);
    event_base_free(a->base);
    return a->output_failed ? EXIT_OUTPUT : a->exit_code;
}
