/* fuzz_msnftp - the client's MSNFTP state machine (lib/msnc/src/ftp.c and
 * the parallel connect in connect_any.c) against a hostile peer, over real
 * loopback sockets.
 *
 * Input: one mode byte, then the bytes the peer sends.
 *   bit 0     0: msnc is the sender and the input is what a receiver says
 *                (VER, USR, TFR, BYE, CCL ...);
 *             1: msnc is the receiver and the input is what a sender says
 *                (VER, FIL, data blocks, cancel marker ...).
 *   bit 1     reverse connection: the receiver listens and the sender
 *             connects (Sender-Connect: TRUE); otherwise the sender listens.
 *   bits 2-4  how the peer cuts its bytes into writes: 1, 2, 3, 7, 64, 509,
 *             4096 bytes, or all at once.
 *   bit 5     receiver: the invitation's Application-FileSize (5000) is
 *             known; otherwise it is not. Sender: USR must name the e-mail.
 *   bit 6     the connecting side also gets a second address that refuses
 *             (IP-Address-Internal), so the parallel connect runs.
 *   bit 7     the peer closes its direction after its last byte (otherwise
 *             it stays open and msnc decides alone, then is cancelled).
 *
 * After each input: no final or temporary file may remain unless the
 * transfer succeeded, and then exactly one file of the announced size; the
 * event base must be empty once the transfer has finished and its sockets
 * have closed (anything left would be a leak). fuzz/msnc/make_seeds.py
 * records real exchanges between two msnc processes as seeds. */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include <msnc/ftp.h>

#include "../fuzz_net.h"
#include "../fuzz_tmpdir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define COOKIE "4242"
#define EMAIL "bob@example.com"
#define FILE_SIZE 5000u
#define MAX_ROUNDS 20000 /* loop turns per input (8 KiB one byte at a time fits) */
#define QUIET_ROUNDS \
    8                    /* turns with nothing moving: msnc has nothing more to do \
                            (loopback delivers at once; only timers could add more) */
#define HANG_ROUNDS 2000 /* ~2 s without a reaction to the end of our stream */

static const char *g_dir;    /* download directory (fuzz_tmpdir) */
static char g_src[96];       /* the file the sender offers */
static int g_listen_fd = -1; /* where a connecting msnc reaches "the peer" */
static uint16_t g_listen_port;
static uint16_t g_refusing_port; /* bound, never listening: connects are refused */

typedef struct outcome {
    int done;
    msnc_ftp_result r;
    uint64_t bytes;
    char path[512];
} outcome;

static void on_finished(msnc_ftp *t, msnc_ftp_result r, const char *detail, const char *path, uint64_t bytes,
                        uint32_t bye, void *arg) {
    (void)t;
    (void)detail;
    (void)bye;
    outcome *o = arg;
    o->done = 1;
    o->r = r;
    o->bytes = bytes;
    snprintf(o->path, sizeof(o->path), "%s", path ? path : "");
}

static const msnc_ftp_callbacks callbacks = {NULL, NULL, NULL, on_finished, NULL};

static uint16_t local_port(int fd) {
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    if (getsockname(fd, (struct sockaddr *)&sin, &len) != 0) abort();
    return ntohs(sin.sin_port);
}

static int tcp_socket_on_loopback(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) abort();
    return fd;
}

static void remove_source(void) { unlink(g_src); }

static void init_once(void) {
    if (g_dir) return;
    g_dir = fuzz_tmpdir("fuzz-msnftp");
    snprintf(g_src, sizeof(g_src), "%s.src", g_dir);
    FILE *f = fopen(g_src, "wb");
    if (!f) abort();
    for (unsigned i = 0; i < FILE_SIZE; i++) fputc((int)(i * 131u & 0xffu), f);
    fclose(f);
    g_listen_fd = tcp_socket_on_loopback();
    if (listen(g_listen_fd, 16) != 0 || fcntl(g_listen_fd, F_SETFL, O_NONBLOCK) != 0) abort();
    g_listen_port = local_port(g_listen_fd);
    /* Bound but not listening: the kernel refuses connections to it. The
     * socket stays open so no one else takes the port. */
    static int refusing = -1;
    refusing = tcp_socket_on_loopback();
    g_refusing_port = local_port(refusing);
    atexit(remove_source);
}

/* The files in the download directory: count, and the size of the last. */
static int dir_files(off_t *last_size, char *last_name, size_t cap) {
    DIR *d = opendir(g_dir);
    if (!d) abort();
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        n++;
        snprintf(last_name, cap, "%s/%s", g_dir, e->d_name);
        struct stat st;
        *last_size = stat(last_name, &st) == 0 ? st.st_size : -1;
    }
    closedir(d);
    return n;
}

static void pump(struct event_base *base, int wait_ms) {
    event_base_loop(base, EVLOOP_NONBLOCK);
    if (wait_ms) poll(NULL, 0, wait_ms);
}

/* Connecting msnc: take its connection from the shared listener. */
static int accept_peer(struct event_base *base, outcome *o) {
    for (int i = 0; i < HANG_ROUNDS && !o->done; i++) {
        int fd = accept4(g_listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) return fd;
        struct pollfd p = {g_listen_fd, POLLIN, 0};
        event_base_loop(base, EVLOOP_NONBLOCK);
        poll(&p, 1, 1);
    }
    return -1;
}

/* Listening msnc: connect to it (waiting out libFuzzer's alarm). */
static int connect_peer(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons(port);
    if (fd < 0) abort();
    int rc = fuzz_connect(fd, (struct sockaddr *)&sin, sizeof(sin));
    if (rc != 0) {
        fprintf(stderr, "fuzz_msnftp: connecting to msnc on 127.0.0.1:%u: %s\n", (unsigned)port, strerror(errno));
        abort();
    }
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) abort();
    return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const size_t chunks[8] = {1, 2, 3, 7, 64, 509, 4096, SIZE_MAX};
    if (size < 1) return 0;
    init_once();
    const uint8_t mode = data[0];
    const int receiver = mode & 1, reverse = (mode >> 1) & 1, flag = (mode >> 5) & 1;
    const int alt = (mode >> 6) & 1, close_write = (mode >> 7) & 1;
    const size_t chunk = chunks[(mode >> 2) & 7];
    const uint8_t *in = data + 1;
    size_t left = size - 1;

    /* A connection left in the backlog by an earlier input must not be
     * taken for this one's. */
    for (int stale; (stale = accept4(g_listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0;) close(stale);

    struct event_base *base = event_base_new();
    if (!base) abort();
    outcome o = {0};
    char err[512];
    msnc_ftp *t;
    const int msnc_connects = receiver != reverse; /* receiver normally, sender in the reverse case */
    if (receiver) {
        msnc_ftp_recv_opts ro = {0};
        ro.email = EMAIL;
        ro.auth_cookie = COOKIE;
        ro.dir = g_dir;
        ro.filename = "fuzzed.bin";
        ro.expected_size = flag ? FILE_SIZE : UINT64_MAX;
        ro.bind_ip = "127.0.0.1";
        if (reverse) {
            ro.listen = 1;
        } else {
            ro.host = "127.0.0.1";
            ro.port = g_listen_port;
            if (alt) {
                ro.alt_host = "127.0.0.1";
                ro.alt_port = g_refusing_port;
            }
        }
        t = msnc_ftp_recv_start(base, &ro, &callbacks, &o, err, sizeof(err));
    } else {
        msnc_ftp_send_opts so = {0};
        so.path = g_src;
        so.bind_ip = "127.0.0.1";
        so.auth_cookie = COOKIE;
        so.expect_email = flag ? EMAIL : NULL;
        if (reverse) {
            so.connect_host = "127.0.0.1";
            so.connect_port = g_listen_port;
            if (alt) {
                so.connect_alt_host = "127.0.0.1";
                so.connect_alt_port = g_refusing_port;
            }
        }
        t = msnc_ftp_send_start(base, &so, &callbacks, &o, err, sizeof(err));
    }
    if (!t) {
        fprintf(stderr, "fuzz_msnftp: cannot start: %s\n", err);
        abort();
    }
    int fd = msnc_connects ? accept_peer(base, &o) : connect_peer(msnc_ftp_port(t));
    /* Tiny writes must go out at once: with Nagle they would wait for a
     * delayed ACK and the quiet spell below would end the input early. */
    int one = 1;
    if (fd >= 0) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    /* Feed the input, read and drop whatever msnc sends, until msnc ends
     * the transfer or closes, or the rounds run out. */
    int shut = 0, peer_closed = 0, idle = 0;
    for (int round = 0; fd >= 0 && round < MAX_ROUNDS && !o.done && !peer_closed; round++) {
        int progressed = 0;
        if (left) {
            size_t n = left < chunk ? left : chunk;
            ssize_t w = send(fd, in, n, MSG_NOSIGNAL);
            if (w > 0) {
                in += w;
                left -= (size_t)w;
                progressed = 1;
            } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                left = 0; /* msnc closed on us */
            }
        }
        if (!left && close_write && !shut) {
            shutdown(fd, SHUT_WR);
            shut = 1;
        }
        char sink[65536];
        ssize_t r;
        while ((r = recv(fd, sink, sizeof(sink), 0)) > 0) progressed = 1;
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) peer_closed = 1;
        /* Nothing more to say and nothing heard: let msnc run, briefly. */
        idle = progressed || left ? 0 : idle + 1;
        pump(base, idle > QUIET_ROUNDS ? 1 : 0);
        /* With our side still open msnc would wait for its idle timeout;
         * a few quiet milliseconds say it has nothing left to do. Once our
         * side is closed it must react: a transfer that ignores the end of
         * the stream would hang a real user. */
        if (!close_write && idle > QUIET_ROUNDS) break;
        if (close_write && idle > HANG_ROUNDS) {
            fprintf(stderr, "fuzz_msnftp: no reaction to the end of the peer's stream\n");
            abort();
        }
    }
    if (!o.done) msnc_ftp_cancel(t); /* still waiting for us: end it the user's way */
    if (!o.done) abort();            /* cancel must report before it returns */

    /* Close hard (RST): no TIME_WAIT piles up over millions of inputs, and
     * msnc's lingering close ends at once. */
    if (fd >= 0) {
        struct linger lg = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(fd);
    }
    for (int i = 0; i < HANG_ROUNDS && event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED) > 0; i++)
        pump(base, i > QUIET_ROUNDS ? 1 : 0);
    if (event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED) > 0) {
        fprintf(stderr, "fuzz_msnftp: events left after the transfer ended\n");
        abort();
    }
    event_base_free(base);

    /* FUZZ_MSNFTP_VERBOSE=1: say how each input ended (checking seeds). */
    if (getenv("FUZZ_MSNFTP_VERBOSE"))
        fprintf(stderr, "fuzz_msnftp: mode 0x%02x (%s%s): %s after %llu bytes\n", mode,
                receiver ? "receiver" : "sender", reverse ? ", reverse" : "", msnc_ftp_result_name(o.r),
                (unsigned long long)o.bytes);

    off_t fsize = -1;
    char name[400] = "";
    int files = dir_files(&fsize, name, sizeof(name));
    if (receiver && o.r == MSNC_FTP_OK) {
        if (files != 1 || strcmp(name, o.path) != 0 || (uint64_t)fsize != o.bytes) {
            fprintf(stderr, "fuzz_msnftp: success but %d files, %s (%lld bytes) vs %s (%llu)\n", files, name,
                    (long long)fsize, o.path, (unsigned long long)o.bytes);
            abort();
        }
        unlink(name);
    } else if (files != 0) {
        fprintf(stderr, "fuzz_msnftp: %s left behind after result %s\n", name, msnc_ftp_result_name(o.r));
        abort();
    }
    return 0;
}
