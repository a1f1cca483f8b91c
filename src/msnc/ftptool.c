/* ftptool.c - `msnc ftp-send` / `msnc ftp-recv`: one MSNFTP transfer
 * between two processes with no server, for tests, benchmarks and for
 * talking to other MSNFTP implementations. Events are JSON lines. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include <msnc/ftp.h>

#include "app.h"

typedef struct tool {
    struct event_base *base;
    msnc_ftp *t;
    uint64_t cancel_after; /* cancel once this many bytes moved (0 = never) */
    int rc;
    int quiet_progress;
    struct event *sigs[2]; /* SIGINT, SIGTERM: cancel the transfer */
} tool;

static void jprint(json_t *o) {
    char *s = json_dumps(o, JSON_COMPACT);
    if (s) {
        puts(s);
        fflush(stdout);
        free(s);
    }
    json_decref(o);
}

static void started(msnc_ftp *t, uint64_t size, void *arg) {
    (void)t;
    (void)arg;
    jprint(json_pack("{s:s,s:I}", "event", "transfer_start", "size", (json_int_t)size));
}

static void progress(msnc_ftp *t, uint64_t done, uint64_t size, void *arg) {
    tool *tl = arg;
    if (tl->cancel_after && done >= tl->cancel_after) {
        tl->cancel_after = 0;
        jprint(json_pack("{s:s,s:I}", "event", "cancelling", "bytes", (json_int_t)done));
        msnc_ftp_cancel(t);
        return;
    }
    (void)size;
}

static void notice(msnc_ftp *t, const char *text, void *arg) {
    (void)t;
    (void)arg;
    jprint(json_pack("{s:s,s:s}", "event", "warning", "text", text));
}

static void finished(msnc_ftp *t, msnc_ftp_result r, const char *detail, const char *path, uint64_t bytes, uint32_t bye,
                     void *arg) {
    (void)t;
    tool *tl = arg;
    json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:I}", "event", r == MSNC_FTP_OK ? "transfer_done" : "transfer_failed",
                          "result", msnc_ftp_result_name(r), "text", detail ? detail : "", "bytes", (json_int_t)bytes,
                          "bye", (json_int_t)bye);
    if (path) json_object_set_new(o, "file", json_string(path));
    jprint(o);
    tl->rc = r == MSNC_FTP_OK ? 0 : (r == MSNC_FTP_REFUSED ? 2 : 4);
    /* t is freed after this callback; a later signal has nothing to
     * cancel, and takes its default action again (a second Ctrl-C while
     * the last line lingers ends the program at once). */
    tl->t = NULL;
    for (int i = 0; i < 2; i++)
        if (tl->sigs[i]) event_del(tl->sigs[i]);
    /* No exit from the loop here: the transfer has released everything but
     * the connection that carries the final BYE / CCL, which closes once
     * the peer has read it (or after the linger limit), and the loop ends
     * by itself when nothing is left. Leaving earlier (it once waited a
     * fixed 100 ms) could cut that line off and leaked the connection. */
}

static const msnc_ftp_callbacks cbs = {started, progress, notice, finished, NULL};

/* Ctrl-C or SIGTERM: cancel inside MSNFTP (CCL or the cancel marker), so
 * the peer is told and a partly received file is removed, instead of the
 * process dying with its temporary file left in the directory. */
static void on_signal(evutil_socket_t sig, short what, void *arg) {
    (void)sig;
    (void)what;
    tool *tl = arg;
    if (tl->t) msnc_ftp_cancel(tl->t);
}

static void free_signals(tool *tl) {
    for (int i = 0; i < 2; i++)
        if (tl->sigs[i]) event_free(tl->sigs[i]);
}

static void usage(void) {
    fprintf(stderr,
            "usage: msnc ftp-send --cookie C [--bind-ip IP] [--ports A-B] [--email E] [--cancel-after N] FILE\n"
            "       msnc ftp-recv --host IP --port P --email E --cookie C --dir D [--name N] [--size S]\n"
            "                     [--bind-ip IP] [--cancel-after N]\n");
}

/* 0 if path is a regular file we can read; -1 with err saying why not. */
static int sendable_file(const char *path, char *err, size_t cap) {
    struct stat st;
    if (stat(path, &st) != 0) snprintf(err, cap, "cannot send %s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode)) snprintf(err, cap, "cannot send %s: not a regular file", path);
    else if (access(path, R_OK) != 0) snprintf(err, cap, "cannot send %s: %s", path, strerror(errno));
    else return 0;
    return -1;
}

/* Checked before connecting: a sender served for nothing is told of a
 * failure that was ours all along. */
static int writable_dir(const char *path, char *err, size_t cap) {
    struct stat st;
    if (stat(path, &st) != 0) snprintf(err, cap, "cannot receive into --dir %s: %s", path, strerror(errno));
    else if (!S_ISDIR(st.st_mode)) snprintf(err, cap, "cannot receive into --dir %s: not a directory", path);
    else if (access(path, W_OK | X_OK) != 0)
        snprintf(err, cap, "cannot receive into --dir %s: %s", path, strerror(errno));
    else return 0;
    return -1;
}

int ftptool_main(int argc, char **argv) {
    int sender = !strcmp(argv[1], "ftp-send");
    const char *cookie = NULL, *bind_ip = "127.0.0.1", *email = NULL, *host = NULL, *dir = ".", *name = NULL;
    unsigned long port = 0, first = 0, last = 0;
    uint64_t size = UINT64_MAX;
    tool tl = {0};
    unsigned timeout_ms = 30000;
    static const struct option opts[] = {
        {"cookie", required_argument, NULL, 'k'},  {"bind-ip", required_argument, NULL, 'b'},
        {"ports", required_argument, NULL, 'p'},   {"email", required_argument, NULL, 'e'},
        {"host", required_argument, NULL, 'H'},    {"port", required_argument, NULL, 'P'},
        {"dir", required_argument, NULL, 'd'},     {"name", required_argument, NULL, 'n'},
        {"size", required_argument, NULL, 's'},    {"cancel-after", required_argument, NULL, 'x'},
        {"timeout", required_argument, NULL, 't'}, {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    int ch;
    unsigned long long num;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'k': cookie = optarg; break;
        case 'b': bind_ip = optarg; break;
        case 'p': {
            uint16_t a, b;
            if (parse_port_range(optarg, &a, &b) != 0) {
                fprintf(stderr, "msnc: --ports wants PORT or FIRST-LAST (0 to 65535), not '%s'\n", optarg);
                return 64;
            }
            first = a;
            last = b;
            break;
        }
        case 'e': email = optarg; break;
        case 'H': host = optarg; break;
        case 'P':
            if (parse_number_opt("--port", optarg, 1, 65535, &num) != 0) return 64;
            port = (unsigned long)num;
            break;
        case 'd': dir = optarg; break;
        case 'n': name = optarg; break;
        case 's':
            if (parse_number_opt("--size", optarg, 0, UINT64_MAX, &num) != 0) return 64;
            size = num;
            break;
        case 'x':
            if (parse_number_opt("--cancel-after", optarg, 0, UINT64_MAX, &num) != 0) return 64;
            tl.cancel_after = num;
            break;
        case 't':
            if (parse_number_opt("--timeout", optarg, 0, MSNC_MAX_SECONDS, &num) != 0) return 64;
            timeout_ms = (unsigned)num * 1000u;
            break;
        case 'V': print_version(argv[1]); return 0;
        case 'h': usage(); return 0;
        default: usage(); return 64;
        }
    }
    /* sending takes the one FILE; receiving the sender's address and the e-mail it expects */
    if (!cookie || first > 65535 || last > 65535 || port > 65535 || (sender && optind != argc - 1) ||
        (!sender && (!host || !port || !email))) {
        usage();
        return 64;
    }
    char err[512];
    /* A FILE that cannot be sent, or a --dir that cannot take the file, is
     * the caller's mistake, not the network's. */
    if (sender ? sendable_file(argv[optind], err, sizeof(err)) != 0 : writable_dir(dir, err, sizeof(err)) != 0) {
        jprint(json_pack("{s:s,s:s}", "event", "error", "text", err));
        return 64;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* a file size limit fails the write (reported) instead of killing us */
    tl.base = event_base_new();
    /* before anything is printed: a signal after "listening" is caught */
    static const int signals[2] = {SIGINT, SIGTERM};
    for (int i = 0; i < 2; i++) {
        tl.sigs[i] = evsignal_new(tl.base, signals[i], on_signal, &tl);
        if (tl.sigs[i]) event_add(tl.sigs[i], NULL);
    }
    if (sender) {
        msnc_ftp_send_opts o = {0};
        o.path = argv[optind];
        o.bind_ip = bind_ip;
        o.port_first = (uint16_t)first;
        o.port_last = (uint16_t)last;
        o.expect_email = email;
        o.auth_cookie = cookie;
        o.accept_timeout_ms = timeout_ms;
        tl.t = msnc_ftp_send_start(tl.base, &o, &cbs, &tl, err, sizeof(err));
        if (tl.t)
            jprint(json_pack("{s:s,s:s,s:i,s:I}", "event", "listening", "ip", bind_ip, "port", (int)msnc_ftp_port(tl.t),
                             "size", (json_int_t)msnc_ftp_size(tl.t)));
    } else {
        msnc_ftp_recv_opts o = {0};
        o.host = host;
        o.port = (uint16_t)port;
        o.bind_ip = bind_ip;
        o.email = email;
        o.auth_cookie = cookie;
        o.dir = dir;
        o.filename = name ? name : "received.bin";
        o.expected_size = size;
        tl.t = msnc_ftp_recv_start(tl.base, &o, &cbs, &tl, err, sizeof(err));
    }
    if (!tl.t) {
        free_signals(&tl);
        jprint(json_pack("{s:s,s:s}", "event", "error", "text", err));
        msnc_close_lingering(tl.base);
        event_base_free(tl.base);
        return 3;
    }
    event_base_dispatch(tl.base);
    free_signals(&tl);
    msnc_close_lingering(tl.base);
    event_base_free(tl.base);
    return tl.rc;
}
