/* MSNFTP sender/receiver: full transfers in one event loop over loopback,
 * and raw hostile peers on either side. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include <msnc/ftp.h>
#include <msnp/msnp.h>

#include "testfs.h"

typedef struct result {
    int done;
    msnc_ftp_result r;
    uint32_t bye;
    uint64_t bytes;
    char path[512];
    char detail[512];
    int notices;
} result;

typedef struct fixture {
    struct event_base *base;
    char dir[256];
    char src[300];
    result snd, rcv;
} fixture;

static void on_notice(msnc_ftp *t, const char *text, void *arg) {
    (void)t;
    (void)text;
    ((result *)arg)->notices++;
}

static void on_finished(msnc_ftp *t, msnc_ftp_result r, const char *detail, const char *path, uint64_t bytes,
                        uint32_t bye, void *arg) {
    (void)t;
    result *res = arg;
    res->done = 1;
    res->r = r;
    res->bye = bye;
    res->bytes = bytes;
    snprintf(res->path, sizeof(res->path), "%s", path ? path : "");
    snprintf(res->detail, sizeof(res->detail), "%s", detail ? detail : "");
}

static const msnc_ftp_callbacks cbs = {NULL, NULL, on_notice, on_finished, NULL};

static void make_file(const char *path, size_t size) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < size; i++) fputc((int)((i * 131u + 7u) & 0xff), f);
    fclose(f);
}

static int files_equal(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    if (!fa || !fb) {
        if (fa) fclose(fa);
        if (fb) fclose(fb);
        return 0;
    }
    int eq = 1;
    for (;;) {
        int x = fgetc(fa), y = fgetc(fb);
        if (x != y) {
            eq = 0;
            break;
        }
        if (x == EOF) break;
    }
    fclose(fa);
    fclose(fb);
    return eq;
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

static void check_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    fixture *f = arg;
    if (f->snd.done && f->rcv.done) event_base_loopbreak(f->base);
}

/* Run until both ends reported, bounded by a 10 s deadline. */
static void run(fixture *f, int need_sender, int need_receiver) {
    struct timeval dl = {10, 0}, tick = {0, 10000};
    struct event *d = evtimer_new(f->base, deadline_cb, f->base);
    struct event *c = event_new(f->base, -1, EV_PERSIST, check_cb, f);
    if (!need_sender) f->snd.done = 1;
    if (!need_receiver) f->rcv.done = 1;
    evtimer_add(d, &dl);
    evtimer_add(c, &tick);
    event_base_dispatch(f->base);
    event_free(d);
    event_free(c);
    /* Let deferred frees and lingering closes run. */
    struct timeval z = {0, 50000};
    event_base_loopexit(f->base, &z);
    event_base_dispatch(f->base);
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof(*f));
    f->base = event_base_new();
    snprintf(f->dir, sizeof(f->dir), "/tmp/msnc-ftp-unit-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->src, sizeof(f->src), "%s/src.bin", f->dir);
    char out[300];
    snprintf(out, sizeof(out), "%s/out", f->dir);
    mkdir(out, 0700);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    struct timeval z = {0, 20000};
    event_base_loopexit(f->base, &z);
    event_base_dispatch(f->base); /* deferred frees */
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) return -1;
    event_base_free(f->base);
    free(f);
    return 0;
}

static msnc_ftp *start_sender(fixture *f, const char *cookie) {
    msnc_ftp_send_opts o = {0};
    o.path = f->src;
    o.bind_ip = "127.0.0.1";
    o.expect_email = "bob@example.com";
    o.auth_cookie = cookie;
    o.accept_timeout_ms = 3000;
    o.idle_timeout_ms = 3000;
    char err[256];
    msnc_ftp *t = msnc_ftp_send_start(f->base, &o, &cbs, &f->snd, err, sizeof(err));
    assert_non_null(t);
    return t;
}

static msnc_ftp *start_receiver(fixture *f, uint16_t port, const char *cookie, uint64_t size, const char *dir) {
    char out[300];
    snprintf(out, sizeof(out), "%s/out", f->dir);
    msnc_ftp_recv_opts o = {0};
    o.host = "127.0.0.1";
    o.port = port;
    o.email = "bob@example.com";
    o.auth_cookie = cookie;
    o.dir = dir ? dir : out;
    o.filename = "../../etc/evil name.bin";
    o.expected_size = size;
    o.idle_timeout_ms = 3000;
    char err[256];
    msnc_ftp *t = msnc_ftp_recv_start(f->base, &o, &cbs, &f->rcv, err, sizeof(err));
    assert_non_null(t);
    return t;
}

static void transfer(void **state, size_t size) {
    fixture *f = *state;
    make_file(f->src, size);
    msnc_ftp *s = start_sender(f, "777");
    start_receiver(f, msnc_ftp_port(s), "777", size, NULL);
    run(f, 1, 1);
    assert_int_equal(f->snd.r, MSNC_FTP_OK);
    assert_int_equal(f->rcv.r, MSNC_FTP_OK);
    assert_int_equal(f->rcv.bye, MSNFTP_BYE_RECEIVED_OK);
    assert_int_equal(f->rcv.bytes, size);
    /* The peer's name is reduced to its last component. */
    assert_non_null(strstr(f->rcv.path, "/out/evil name.bin"));
    assert_true(files_equal(f->src, f->rcv.path));
    char out[300];
    snprintf(out, sizeof(out), "%s/out", f->dir);
    assert_int_equal(dir_entries(out), 1);
}

/* The sender's progress counts what the connection took, not what was
 * framed into its output buffer (up to 1 MiB ahead): a rate-capped
 * transfer of 120 000 bytes at 60 000 bytes/s does not start at 100 %,
 * and its figures only grow, up to the whole file. */
typedef struct progress_seen {
    int calls;
    uint64_t first, last;
    int went_back;
} progress_seen;

static progress_seen seen_progress;

static void on_progress(msnc_ftp *t, uint64_t done, uint64_t size, void *arg) {
    (void)t;
    (void)size;
    (void)arg;
    if (seen_progress.calls++ == 0) seen_progress.first = done;
    else if (done < seen_progress.last) seen_progress.went_back = 1;
    seen_progress.last = done;
}

static void test_sender_progress_is_what_was_sent(void **state) {
    fixture *f = *state;
    const size_t size = 120000;
    make_file(f->src, size);
    memset(&seen_progress, 0, sizeof seen_progress);
    static const msnc_ftp_callbacks pcbs = {NULL, on_progress, on_notice, on_finished, NULL};
    msnc_ftp_send_opts o = {0};
    o.path = f->src;
    o.bind_ip = "127.0.0.1";
    o.expect_email = "bob@example.com";
    o.auth_cookie = "778";
    o.accept_timeout_ms = 3000;
    o.idle_timeout_ms = 3000;
    o.max_rate = 60000;
    char err[256];
    msnc_ftp *s = msnc_ftp_send_start(f->base, &o, &pcbs, &f->snd, err, sizeof(err));
    assert_non_null(s);
    start_receiver(f, msnc_ftp_port(s), "778", size, NULL);
    run(f, 1, 1);
    assert_int_equal(f->snd.r, MSNC_FTP_OK);
    assert_int_equal(f->rcv.r, MSNC_FTP_OK);
    assert_true(seen_progress.calls >= 2);
    assert_true(seen_progress.first < size);
    assert_false(seen_progress.went_back);
    assert_int_equal(seen_progress.last, size);
}

static void test_empty(void **state) { transfer(state, 0); }
static void test_one(void **state) { transfer(state, 1); }
static void test_block_edges(void **state) { transfer(state, 2045 * 3); }
static void test_larger(void **state) { transfer(state, 3 * 1024 * 1024 + 5); }

static void test_wrong_cookie(void **state) {
    fixture *f = *state;
    make_file(f->src, 100);
    msnc_ftp *s = start_sender(f, "777");
    start_receiver(f, msnc_ftp_port(s), "778", 100, NULL);
    run(f, 0, 1);
    assert_int_equal(f->rcv.r, MSNC_FTP_REFUSED);
    assert_int_equal(f->snd.notices, 1);
    msnc_ftp_cancel(s); /* still listening for the right receiver */
}

static void test_size_mismatch(void **state) {
    fixture *f = *state;
    make_file(f->src, 100);
    msnc_ftp *s = start_sender(f, "9");
    start_receiver(f, msnc_ftp_port(s), "9", 99, NULL);
    run(f, 1, 1);
    assert_int_equal(f->rcv.r, MSNC_FTP_PROTOCOL);
    assert_int_equal(f->snd.r, MSNC_FTP_PEER_CANCELLED);
}

static void test_unwritable(void **state) {
    fixture *f = *state;
    make_file(f->src, 100);
    msnc_ftp *s = start_sender(f, "9");
    start_receiver(f, msnc_ftp_port(s), "9", 100, "/nonexistent/msnc/dir");
    run(f, 1, 1);
    assert_int_equal(f->rcv.r, MSNC_FTP_LOCAL_IO);
    assert_int_equal(f->snd.r, MSNC_FTP_PEER_DISK_FULL);
    assert_int_equal(f->snd.bye, MSNFTP_BYE_DISK_FULL);
}

/* The file is cut after the sender opened it and announced its size: the
 * sender's own failure (local_io naming the file and both sizes), told to
 * the receiver with the cancel marker; nothing is left on the receiver. */
static void test_source_shrinks(void **state) {
    fixture *f = *state;
    make_file(f->src, 300000);
    msnc_ftp *s = start_sender(f, "9");
    assert_int_equal(truncate(f->src, 1000), 0);
    start_receiver(f, msnc_ftp_port(s), "9", 300000, NULL);
    run(f, 1, 1);
    assert_int_equal(f->snd.r, MSNC_FTP_LOCAL_IO);
    assert_non_null(strstr(f->snd.detail, "src.bin: file shrank from 300000 to 1000 bytes while being sent"));
    assert_int_equal(f->rcv.r, MSNC_FTP_PEER_CANCELLED);
    char out[300];
    snprintf(out, sizeof(out), "%s/out", f->dir);
    assert_int_equal(dir_entries(out), 0);
}

/* The size offered in the invitation is what FIL announces and what is
 * sent: a file cut since the offer fails as the sender's own, one that
 * grew since is sent as offered (its first bytes). */
static void offered(fixture *f, size_t on_disk, uint64_t offer) {
    make_file(f->src, on_disk);
    msnc_ftp_send_opts o = {0};
    o.path = f->src;
    o.bind_ip = "127.0.0.1";
    o.auth_cookie = "5";
    o.accept_timeout_ms = 3000;
    o.idle_timeout_ms = 3000;
    o.has_offered_size = 1;
    o.offered_size = offer;
    char err[256];
    msnc_ftp *s = msnc_ftp_send_start(f->base, &o, &cbs, &f->snd, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(msnc_ftp_size(s), offer);
    start_receiver(f, msnc_ftp_port(s), "5", offer, NULL);
    run(f, 1, 1);
}

static void test_offered_size_shrunk(void **state) {
    fixture *f = *state;
    offered(f, 5000, 9000);
    assert_int_equal(f->snd.r, MSNC_FTP_LOCAL_IO);
    assert_non_null(strstr(f->snd.detail, "src.bin: file shrank from 9000 to 5000 bytes"));
    assert_int_equal(f->rcv.r, MSNC_FTP_PEER_CANCELLED);
}

static void test_offered_size_grown(void **state) {
    fixture *f = *state;
    offered(f, 9000, 5000);
    assert_int_equal(f->snd.r, MSNC_FTP_OK);
    assert_int_equal(f->rcv.r, MSNC_FTP_OK);
    assert_int_equal(f->rcv.bytes, 5000);
    assert_int_equal(truncate(f->src, 5000), 0);
    assert_true(files_equal(f->src, f->rcv.path));
}

/* A raw TCP peer, blocking, for hostile-input tests. */
static int raw_listen(uint16_t *port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    socklen_t l = sizeof(sin);
    getsockname(fd, (struct sockaddr *)&sin, &l);
    *port = ntohs(sin.sin_port);
    listen(fd, 1);
    return fd;
}

typedef struct script {
    int lfd;
    const char *send_after_usr; /* bytes sent by the fake sender after USR */
    size_t send_len;
    const char *send_after_tfr;
    size_t tfr_len;
    int conn;
    int stage;
} script;

/* Drive the fake sender from the event loop (non-blocking accept/reads). */
static void script_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    script *s = arg;
    if (s->conn < 0) {
        s->conn = accept(s->lfd, NULL, NULL);
        if (s->conn >= 0) fcntl(s->conn, F_SETFL, O_NONBLOCK);
        return;
    }
    char buf[512];
    ssize_t n = recv(s->conn, buf, sizeof(buf) - 1, 0);
    if (n <= 0) return;
    buf[n] = '\0';
    if (strstr(buf, "VER MSNFTP") && s->stage == 0) {
        (void)!write(s->conn, "VER MSNFTP\r\n", 12);
        s->stage = 1;
    }
    if (strstr(buf, "USR ") && s->stage == 1) {
        (void)!write(s->conn, s->send_after_usr, s->send_len);
        s->stage = 2;
    }
    if (strstr(buf, "TFR") && s->stage == 2 && s->send_after_tfr) {
        (void)!write(s->conn, s->send_after_tfr, s->tfr_len);
        s->stage = 3;
        shutdown(s->conn, SHUT_WR);
    }
}

static void hostile_sender(void **state, const char *after_usr, size_t ulen, const char *after_tfr, size_t tlen,
                           msnc_ftp_result want) {
    fixture *f = *state;
    uint16_t port;
    script s = {0};
    s.lfd = raw_listen(&port);
    fcntl(s.lfd, F_SETFL, O_NONBLOCK);
    s.conn = -1;
    s.send_after_usr = after_usr;
    s.send_len = ulen;
    s.send_after_tfr = after_tfr;
    s.tfr_len = tlen;
    struct event *poll = event_new(f->base, -1, EV_PERSIST, script_cb, &s);
    struct timeval tv = {0, 2000};
    evtimer_add(poll, &tv);
    start_receiver(f, port, "1", UINT64_MAX, NULL);
    run(f, 0, 1);
    event_free(poll);
    assert_int_equal(f->rcv.done, 1);
    assert_int_equal(f->rcv.r, want);
    char out[300];
    snprintf(out, sizeof(out), "%s/out", f->dir);
    assert_int_equal(dir_entries(out), 0); /* no final and no temporary file */
    if (s.conn >= 0) close(s.conn);
    close(s.lfd);
}

static void test_bad_block_flag(void **state) {
    static const char blk[] = "\x07\x01\x00x";
    hostile_sender(state, "FIL 10\r\n", 8, blk, 4, MSNC_FTP_PROTOCOL);
}

static void test_block_beyond_size(void **state) {
    static const char blk[] = "\x00\x05\x00hello";
    hostile_sender(state, "FIL 3\r\n", 7, blk, 8, MSNC_FTP_PROTOCOL);
}

static void test_truncated_stream(void **state) {
    static const char blk[] = "\x00\x05\x00hel";
    hostile_sender(state, "FIL 10\r\n", 8, blk, 6, MSNC_FTP_NETWORK);
}

static void test_sender_cancel_marker(void **state) {
    static const char blk[] = "\x00\x02\x00hi\x01\x00\x00";
    hostile_sender(state, "FIL 10\r\n", 8, blk, 8, MSNC_FTP_PEER_CANCELLED);
}

static void test_garbage_instead_of_fil(void **state) {
    fixture *f = *state;
    /* The report says what is wrong with FIL, not that FIL was expected. */
    static const char *const bad[] = {"FIL banana\r\n", "FIL -1\r\n", "FIL 18446744073709551616\r\n", "FIL\r\n",
                                      "FIL 5 6\r\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&f->rcv, 0, sizeof(f->rcv));
        hostile_sender(state, bad[i], strlen(bad[i]), NULL, 0, MSNC_FTP_PROTOCOL);
        assert_non_null(strstr(f->rcv.detail, "FIL has no valid size"));
    }
}

static void test_overlong_line(void **state) {
    static char big[2000];
    memset(big, 'A', sizeof(big));
    hostile_sender(state, big, sizeof(big), NULL, 0, MSNC_FTP_PROTOCOL);
}

/* ---- reverse connection and two addresses ---- */

/* A port that refuses: bound, never listening. Returns the socket. */
static int refusing_port(uint16_t *port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    socklen_t len = sizeof(sin);
    getsockname(fd, (struct sockaddr *)&sin, &len);
    *port = ntohs(sin.sin_port);
    return fd;
}

static msnc_ftp *start_listening_receiver(fixture *f, const char *cookie, uint64_t size) {
    char out[300];
    snprintf(out, sizeof(out), "%s/out", f->dir);
    msnc_ftp_recv_opts o = {0};
    o.listen = 1;
    o.bind_ip = "127.0.0.1";
    o.accept_timeout_ms = 3000;
    o.email = "bob@example.com";
    o.auth_cookie = cookie;
    o.dir = out;
    o.filename = "rev.bin";
    o.expected_size = size;
    o.idle_timeout_ms = 3000;
    char err[256];
    msnc_ftp *t = msnc_ftp_recv_start(f->base, &o, &cbs, &f->rcv, err, sizeof(err));
    assert_non_null(t);
    assert_true(msnc_ftp_port(t) != 0);
    return t;
}

static void start_connecting_sender(fixture *f, uint16_t port, const char *cookie) {
    msnc_ftp_send_opts o = {0};
    o.path = f->src;
    o.bind_ip = "127.0.0.1";
    o.expect_email = "bob@example.com";
    o.auth_cookie = cookie;
    o.accept_timeout_ms = 3000;
    o.idle_timeout_ms = 3000;
    o.connect_host = "127.0.0.1";
    o.connect_port = port;
    char err[256];
    assert_non_null(msnc_ftp_send_start(f->base, &o, &cbs, &f->snd, err, sizeof(err)));
}

static void test_reverse_transfer(void **state) {
    fixture *f = *state;
    make_file(f->src, 100003);
    msnc_ftp *r = start_listening_receiver(f, "4242", 100003);
    start_connecting_sender(f, msnc_ftp_port(r), "4242");
    run(f, 1, 1);
    assert_int_equal(f->snd.r, MSNC_FTP_OK);
    assert_int_equal(f->rcv.r, MSNC_FTP_OK);
    assert_int_equal(f->rcv.bye, MSNFTP_BYE_RECEIVED_OK);
    assert_true(files_equal(f->src, f->rcv.path));
}

static void test_reverse_wrong_cookie(void **state) {
    fixture *f = *state;
    make_file(f->src, 5000);
    msnc_ftp *r = start_listening_receiver(f, "1111", 5000);
    start_connecting_sender(f, msnc_ftp_port(r), "2222");
    run(f, 1, 1);
    assert_int_equal(f->snd.r, MSNC_FTP_REFUSED);
    assert_non_null(strstr(f->snd.detail, "wrong AuthCookie"));
    assert_int_equal(f->rcv.r, MSNC_FTP_REFUSED);
    char out[300];
    snprintf(out, sizeof(out), "%s/out", f->dir);
    assert_int_equal(dir_entries(out), 0);
}

/* A stranger reaches the listening receiver first; the real sender still gets through. */
static void test_reverse_stranger_first(void **state) {
    fixture *f = *state;
    make_file(f->src, 7000);
    msnc_ftp *r = start_listening_receiver(f, "55", 7000);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(msnc_ftp_port(r));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    const char junk[] = "GET / HTTP/1.0\r\n\r\n";
    assert_int_equal(write(fd, junk, sizeof(junk) - 1), (ssize_t)(sizeof(junk) - 1));
    start_connecting_sender(f, msnc_ftp_port(r), "55");
    run(f, 1, 1);
    close(fd);
    assert_int_equal(f->snd.r, MSNC_FTP_OK);
    assert_int_equal(f->rcv.r, MSNC_FTP_OK);
    assert_true(f->rcv.notices >= 1);
    assert_true(files_equal(f->src, f->rcv.path));
}

/* Silent strangers take every waiting slot of a listening sender before
 * the receiver comes: the oldest one makes room, the transfer goes through. */
static void test_silent_strangers_fill_the_slots(void **state) {
    fixture *f = *state;
    make_file(f->src, 6000);
    msnc_ftp *s = start_sender(f, "64");
    int fds[6];
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(msnc_ftp_port(s));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < 6; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_int_equal(connect(fds[i], (struct sockaddr *)&sin, sizeof(sin)), 0);
        /* Let the sender accept it before the next one. */
        event_base_loop(f->base, EVLOOP_NONBLOCK);
    }
    start_receiver(f, msnc_ftp_port(s), "64", 6000, NULL);
    run(f, 1, 1);
    for (int i = 0; i < 6; i++) close(fds[i]);
    assert_int_equal(f->snd.r, MSNC_FTP_OK);
    assert_int_equal(f->rcv.r, MSNC_FTP_OK);
    assert_true(f->snd.notices >= 1);
    assert_true(files_equal(f->src, f->rcv.path));
}

static void two_addresses(fixture *f, int good_first) {
    make_file(f->src, 9000);
    msnc_ftp *s = start_sender(f, "99");
    uint16_t bad;
    int hold = refusing_port(&bad);
    char out[300];
    snprintf(out, sizeof(out), "%s/out", f->dir);
    msnc_ftp_recv_opts o = {0};
    o.host = "127.0.0.1";
    o.port = good_first ? msnc_ftp_port(s) : bad;
    o.alt_host = "127.0.0.1";
    o.alt_port = good_first ? bad : msnc_ftp_port(s);
    o.email = "bob@example.com";
    o.auth_cookie = "99";
    o.dir = out;
    o.filename = "two.bin";
    o.expected_size = 9000;
    o.idle_timeout_ms = 3000;
    char err[256];
    assert_non_null(msnc_ftp_recv_start(f->base, &o, &cbs, &f->rcv, err, sizeof(err)));
    run(f, 1, 1);
    close(hold);
    assert_int_equal(f->snd.r, MSNC_FTP_OK);
    assert_int_equal(f->rcv.r, MSNC_FTP_OK);
    assert_true(files_equal(f->src, f->rcv.path));
}

static void test_alt_address_works(void **state) { two_addresses(*state, 0); }
static void test_main_address_works(void **state) { two_addresses(*state, 1); }

static void test_both_addresses_refuse(void **state) {
    fixture *f = *state;
    uint16_t p1, p2;
    int h1 = refusing_port(&p1), h2 = refusing_port(&p2);
    char out[300];
    snprintf(out, sizeof(out), "%s/out", f->dir);
    msnc_ftp_recv_opts o = {0};
    o.host = "127.0.0.1";
    o.port = p1;
    o.alt_host = "127.0.0.1";
    o.alt_port = p2;
    o.email = "bob@example.com";
    o.auth_cookie = "1";
    o.dir = out;
    o.expected_size = 1;
    char err[256];
    assert_non_null(msnc_ftp_recv_start(f->base, &o, &cbs, &f->rcv, err, sizeof(err)));
    run(f, 0, 1);
    close(h1);
    close(h2);
    assert_int_equal(f->rcv.r, MSNC_FTP_NETWORK);
    char a[32], b[32];
    snprintf(a, sizeof(a), "127.0.0.1:%u", (unsigned)p1);
    snprintf(b, sizeof(b), "127.0.0.1:%u", (unsigned)p2);
    assert_non_null(strstr(f->rcv.detail, a));
    assert_non_null(strstr(f->rcv.detail, b));
}

/* A connected callback that cancels at once: the listening end must stop
 * there (it used to carry on with the handshake on a finished transfer). */
static void cancel_on_connected(msnc_ftp *t, const char *local, const char *peer, void *arg) {
    (void)local;
    (void)peer;
    (void)arg;
    msnc_ftp_cancel(t);
}

static void test_cancel_from_connected_callback(void **state) {
    fixture *f = *state;
    make_file(f->src, 9000);
    const msnc_ftp_callbacks cancelling = {NULL, NULL, on_notice, on_finished, cancel_on_connected};
    char err[256];
    /* Listening sender: the receiver identifies itself, the sender cancels. */
    msnc_ftp_send_opts so = {0};
    so.path = f->src;
    so.bind_ip = "127.0.0.1";
    so.auth_cookie = "31";
    so.accept_timeout_ms = 3000;
    so.idle_timeout_ms = 3000;
    msnc_ftp *s = msnc_ftp_send_start(f->base, &so, &cancelling, &f->snd, err, sizeof(err));
    assert_non_null(s);
    start_receiver(f, msnc_ftp_port(s), "31", 9000, NULL);
    run(f, 1, 1);
    assert_int_equal(f->snd.r, MSNC_FTP_CANCELLED);
    assert_int_not_equal(f->rcv.r, MSNC_FTP_OK);
    char out[300];
    snprintf(out, sizeof(out), "%s/out", f->dir);
    assert_int_equal(dir_entries(out), 0);
    /* Listening receiver (reverse case): the sender says VER, the receiver cancels. */
    memset(&f->snd, 0, sizeof(f->snd));
    memset(&f->rcv, 0, sizeof(f->rcv));
    msnc_ftp_recv_opts ro = {0};
    ro.listen = 1;
    ro.bind_ip = "127.0.0.1";
    ro.accept_timeout_ms = 3000;
    ro.email = "bob@example.com";
    ro.auth_cookie = "32";
    ro.dir = out;
    ro.filename = "c.bin";
    ro.expected_size = 9000;
    ro.idle_timeout_ms = 3000;
    msnc_ftp *r = msnc_ftp_recv_start(f->base, &ro, &cancelling, &f->rcv, err, sizeof(err));
    assert_non_null(r);
    start_connecting_sender(f, msnc_ftp_port(r), "32");
    run(f, 1, 1);
    assert_int_equal(f->rcv.r, MSNC_FTP_CANCELLED);
    assert_int_not_equal(f->snd.r, MSNC_FTP_OK);
    assert_int_equal(dir_entries(out), 0);
}

static void test_safe_name(void **state) {
    (void)state;
    char b[64];
    assert_string_equal(msnc_ftp_safe_name("../../x.txt", b, sizeof(b)), "x.txt");
    assert_string_equal(msnc_ftp_safe_name("..", b, sizeof(b)), "_.");
    assert_string_equal(msnc_ftp_safe_name("", b, sizeof(b)), "file");
    assert_string_equal(msnc_ftp_safe_name("a\\b\\c", b, sizeof(b)), "c");
    assert_string_equal(msnc_ftp_safe_name(".hidden", b, sizeof(b)), "_hidden");
    /* not an option to a shell command run over the download directory */
    assert_string_equal(msnc_ftp_safe_name("-rf", b, sizeof(b)), "_rf");
    assert_string_equal(msnc_ftp_safe_name("dir/--help", b, sizeof(b)), "_-help");
    assert_string_equal(msnc_ftp_safe_name("a-b", b, sizeof(b)), "a-b");
    assert_string_equal(msnc_ftp_safe_name("tab\there", b, sizeof(b)), "tab_here");
    assert_string_equal(msnc_ftp_safe_name("dir/", b, sizeof(b)), "file");
    /* a right-to-left override would show "invoice\u202Etxt.exe" as "invoiceexe.txt" */
    assert_string_equal(msnc_ftp_safe_name("invoice\xe2\x80\xaetxt.exe", b, sizeof(b)), "invoice_txt.exe");
    assert_string_equal(msnc_ftp_safe_name("a\xe2\x81\xa6"
                                           "b\xc2\x85"
                                           "c",
                                           b, sizeof(b)),
                        "a_b_c"); /* isolate, C1 NEL */
    assert_string_equal(msnc_ftp_safe_name("bad\xff\xfe.bin", b, sizeof(b)), "bad__.bin");
    assert_string_equal(msnc_ftp_safe_name("caf\xc3\xa9 \xe6\x96\x87.txt", b, sizeof(b)),
                        "caf\xc3\xa9 \xe6\x96\x87.txt");
    /* cut between characters, never inside one */
    char small[5];
    assert_string_equal(msnc_ftp_safe_name("ab\xe6\x96\x87", small, sizeof(small)), "ab");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sender_progress_is_what_was_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_block_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_larger, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_cookie, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwritable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_source_shrinks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offered_size_shrunk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offered_size_grown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_block_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_block_beyond_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sender_cancel_marker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_instead_of_fil, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlong_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reverse_transfer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reverse_wrong_cookie, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reverse_stranger_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alt_address_works, setup, teardown),
        cmocka_unit_test_setup_teardown(test_main_address_works, setup, teardown),
        cmocka_unit_test_setup_teardown(test_both_addresses_refuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_from_connected_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_silent_strangers_fill_the_slots, setup, teardown),
        cmocka_unit_test(test_safe_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
