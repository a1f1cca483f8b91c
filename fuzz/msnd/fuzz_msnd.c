/* fuzz_msnd - a hostile client against a real msnd in this process.
 *
 * One server (dispatch, notification and switchboard roles on loopback
 * ports, a SQLite store in a temporary directory, rate limits off) lives
 * for the whole run. Each input is one client connection: the first byte
 * picks where the input starts and how it is written, the rest is sent as
 * the client's bytes:
 *   0  raw, to the dispatch server
 *   1  raw, to the notification server (before login)
 *   2  after a real MD5 login on the notification server (and CHG NLN)
 *   3  inside a switchboard: logged in, XFR SB, USR with the cookie; the
 *      input may CAL the second account, which stays logged in on its own
 *      notification connection (its output is drained; it is logged in
 *      again if the server dropped it)
 *   4-7  raw, to the cluster link listener (a switchboard's HELLO, AUTH and
 *      RING; another notification node's PEER, ON, OFF, PRIV, SYNCED, RING)
 * The low three bits of that byte are the mode; the rest, if not zero,
 * makes the bytes go out in pieces of 1-32 bytes. The server must
 * answer whatever it gets without crashing; once the client has gone it
 * must hold no connection for it (the count of open connections goes back
 * to what it was) and must still serve others (the second account's PNG
 * gets its QNG), and users a link told of must be gone with the link, or
 * the target aborts. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <msnp/msnp.h>

#include "config.h"
#include "link.h"
#include "log.h"
#include "presence.h"
#include "server.h"
#include "store.h"
#include "../fuzz_check.h"
#include "../fuzz_net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define USER1 "fuzz1@msnkit.test"
#define USER2 "fuzz2@msnkit.test"
#define PASS "secret"

static msnd_server *srv;
static char dir[] = "/tmp/fuzz_msnd.XXXXXX";
static char db[sizeof dir + 16];
static int friend_fd = -1;
/* A linked peer's LOGIN line for the friend's account ended its session
 * (OUT OTH), as a login on another node of a cluster does. */
static int friend_ended_by_peer;
static int verbose; /* FUZZ_MSND_VERBOSE=1: the test client's replies on stderr */

/* Pending output of a client socket, kept only as far as needed to find
 * the reply lines the set-up waits for. */
typedef struct client {
    int fd;
    char buf[8192];
    size_t len;
} client;

static void pump(int passes) {
    for (int i = 0; i < passes; i++) event_base_loop(srv->base, EVLOOP_NONBLOCK);
}

static int dial(conn_kind kind);

/* The second account answers every RNG it gets (up to a few switchboards
 * per input), so the fuzzed switchboard has someone to relay to. */
#define ANSWERS_MAX 4
static int answers[ANSWERS_MAX], nanswers;

static void answer_rings(const char *p, size_t n) {
    char text[4097];
    memcpy(text, p, n);
    text[n] = '\0';
    /* and its CHL challenges, so that it stays logged in for the whole run */
    char chl[64];
    const char *q = strstr(text, "CHL 0 ");
    if (q && sscanf(q, "CHL 0 %63s", chl) == 1) {
        static const char id[] = "msmsgs@msnmsgr.com";
        char hash[MSNP_MD5_HEX_LEN + 1], cmd[128];
        if (msnp_chl_response(msnp_str_make(chl, strlen(chl)), msnp_str_make(id, sizeof id - 1), hash) == 0) {
            snprintf(cmd, sizeof cmd, "QRY 9 %s 32\r\n%s", id, hash);
            (void)send(friend_fd, cmd, strlen(cmd), MSG_NOSIGNAL);
        }
    }
    for (char *r = strstr(text, "RNG "); r && nanswers < ANSWERS_MAX; r = strstr(r + 4, "RNG ")) {
        char sess[32], addr[128], cookie[128], cmd[300];
        if (sscanf(r, "RNG %31s %127s CKI %127s", sess, addr, cookie) != 3) continue;
        int fd = dial(CONN_SB);
        snprintf(cmd, sizeof cmd, "ANS 1 %s %s %s\r\n", USER2, cookie, sess);
        if (send(fd, cmd, strlen(cmd), MSG_NOSIGNAL) != (ssize_t)strlen(cmd)) {
            close(fd);
            continue;
        }
        answers[nanswers++] = fd;
    }
}

static void drain_fd(int fd) {
    char junk[4096];
    ssize_t n;
    for (int i = 0; i < 64 && (n = recv(fd, junk, sizeof junk, MSG_DONTWAIT)) > 0; i++) {
        if (verbose) fprintf(stderr, "%s<<< %.*s", fd == friend_fd ? "friend " : "", (int)n, junk);
        if (fd == friend_fd) {
            answer_rings(junk, (size_t)n);
            if (memmem(junk, (size_t)n, "OUT OTH\r\n", 9)) friend_ended_by_peer = 1;
        }
    }
}

static void drain_all(int fd) {
    drain_fd(fd);
    drain_fd(friend_fd);
    for (int i = 0; i < nanswers; i++) drain_fd(answers[i]);
}

/* Runs the server until a reply line starting with `prefix` arrives on c;
 * copies it (without CRLF) to line. Bounded: gives up after 200 passes. */
static int expect_line(client *c, const char *prefix, char *line, size_t cap) {
    for (int pass = 0; pass < 200; pass++) {
        pump(1);
        if (friend_fd >= 0 && c->fd != friend_fd) drain_fd(friend_fd);
        ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len, MSG_DONTWAIT);
        if (n == 0) return -1;
        if (n > 0) {
            if (verbose) fprintf(stderr, "setup<<< %.*s", (int)n, c->buf + c->len);
            c->len += (size_t)n;
        }
        c->buf[c->len] = '\0';
        char *eol;
        while ((eol = strstr(c->buf, "\r\n")) != NULL) {
            size_t ll = (size_t)(eol - c->buf);
            int match = strncmp(c->buf, prefix, strlen(prefix)) == 0;
            if (match && line) {
                size_t k = ll < cap - 1 ? ll : cap - 1;
                memcpy(line, c->buf, k);
                line[k] = '\0';
            }
            memmove(c->buf, eol + 2, c->len - ll - 2 + 1);
            c->len -= ll + 2;
            if (match) return 0;
        }
        if (c->len > sizeof c->buf / 2) c->len = 0; /* a reply this long is not one the set-up waits for */
    }
    return -1;
}

static void say(client *c, const char *s) { CHECK(send(c->fd, s, strlen(s), MSG_NOSIGNAL) == (ssize_t)strlen(s)); }

/* A loopback connection to port, from a new source address each time
 * (127.1.1.1 on, 15 million of them): a thousand connections a second
 * would otherwise use up the ports of one address pair while the closed
 * ones wait out TIME_WAIT, and a SYN that meets the server's TIME_WAIT
 * socket of an earlier connection waits a second for its retransmission. */
static int dial_port(uint16_t port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    static unsigned next_src;
    unsigned k = next_src++ % (250u * 250u * 250u);
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7F000000u | (1u + k / 62500u) << 16 | (1u + k / 250u % 250u) << 8 | (1u + k % 250u));
    int rc = bind(fd, (struct sockaddr *)&src, sizeof src);
    if (rc == 0) rc = fuzz_connect(fd, (struct sockaddr *)&a, sizeof a); /* loopback: the kernel completes it */
    if (rc != 0) {
        fprintf(stderr, "fuzz_msnd: connecting to 127.0.0.1:%u: %s\n", (unsigned)port, strerror(errno));
        abort();
    }
    pump(2);
    return fd;
}

static int dial(conn_kind kind) {
    for (size_t i = 0; i < srv->nlisteners; i++)
        if (srv->listeners[i].kind == kind) return dial_port(srv->listeners[i].port);
    abort();
}

/* The cluster link listener (--link-listen), where switchboard processes
 * and other notification nodes connect. */
static int dial_link(void) {
    const char *b = link_bound(srv);
    CHECK(b != NULL);
    const char *colon = strrchr(b, ':');
    CHECK(colon != NULL);
    return dial_port((uint16_t)atoi(colon + 1));
}

/* A real MD5 login (MSNP7) on a new notification connection; -1 if the
 * server refused, which the fuzzer's earlier inputs cannot cause (they
 * cannot know the password). */
static int login(client *c, const char *email) {
    char line[512], cmd[600];
    c->fd = dial(CONN_NS);
    c->len = 0;
    say(c, "VER 1 MSNP7 MSNP6 CVR0\r\n");
    if (expect_line(c, "VER 1", NULL, 0) != 0) return -1;
    snprintf(cmd, sizeof cmd, "USR 2 MD5 I %s\r\n", email);
    say(c, cmd);
    if (expect_line(c, "USR 2 MD5 S ", line, sizeof line) != 0) return -1;
    const char *salt = line + strlen("USR 2 MD5 S ");
    char hash[MSNP_MD5_HEX_LEN + 1];
    msnp_login_response(msnp_str_make(salt, strlen(salt)), msnp_str_make(PASS, strlen(PASS)), hash);
    snprintf(cmd, sizeof cmd, "USR 3 MD5 S %s\r\n", hash);
    say(c, cmd);
    if (expect_line(c, "USR 3 OK", NULL, 0) != 0) return -1;
    say(c, "CHG 4 NLN\r\n");
    /* MSNP7: the first CHG brings a challenge; answered, as a real client would */
    if (expect_line(c, "CHL 0 ", line, sizeof line) != 0) return -1;
    const char *chl = line + strlen("CHL 0 ");
    static const char id[] = "msmsgs@msnmsgr.com";
    CHECK(msnp_chl_response(msnp_str_make(chl, strlen(chl)), msnp_str_make(id, sizeof id - 1), hash) == 0);
    snprintf(cmd, sizeof cmd, "QRY 5 %s 32\r\n%s", id, hash);
    say(c, cmd);
    if (expect_line(c, "QRY 5", NULL, 0) != 0) return -1;
    return 0;
}

static void friend_alive(void) {
    if (friend_fd >= 0) {
        char b;
        ssize_t n = recv(friend_fd, &b, 1, MSG_DONTWAIT | MSG_PEEK);
        if (n != 0 && !(n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return;
        close(friend_fd);
        friend_fd = -1;
        pump(4);
    }
    client f;
    CHECK(login(&f, USER2) == 0);
    friend_fd = f.fd;
}

static void cleanup(void) {
    if (friend_fd >= 0) close(friend_fd);
    if (srv) {
        server_free(srv);
        free(srv);
    }
    char p[sizeof db + 8];
    static const char *const tails[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", db, tails[i]);
        unlink(p);
    }
    rmdir(dir);
}

static void setup(void) {
    CHECK(mkdtemp(dir) != NULL);
    verbose = getenv("FUZZ_MSND_VERBOSE") != NULL;
    snprintf(db, sizeof db, "%s/msnd.db", dir);
    char log_err[128];
    /* silent: hostile input is expected here */
    log_open("auto", "/dev/null", LOG_ERROR, log_err, sizeof log_err);
    char err[512];
    store *st = store_open(db, err, sizeof err);
    CHECK(st != NULL);
    CHECK(store_user_add(st, USER1, PASS, "Fuzz%20One") == STORE_OK);
    CHECK(store_user_add(st, USER2, PASS, "Fuzz%20Two") == STORE_OK);
    store_close(st);
    msnd_config cfg;
    config_defaults(&cfg);
    static const char *const settings[][2] = {
        {"listen", "127.0.0.1:0"},
        {"ns-listen", "127.0.0.1:0"},
        {"sb-listen", "127.0.0.1:0"},
        {"max-commands-per-second", "0"},
        {"auth-failures-per-account", "0"},
        {"auth-failures-per-address", "0"},
        {"max-connections-per-address", "0"},
        /* One server serves every input: the per-user quotas would fill up
         * with the cookies and sessions of earlier inputs and refuse the
         * XFR that mode 3 needs (714), which is policy, not a failure. */
        {"max-xfr-cookies-per-user", "0"},
        {"max-switchboards-per-user", "0"},
        {"link-listen", "127.0.0.1:0"},
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        CHECK(config_set(&cfg, settings[i][0], settings[i][1], err, sizeof err) == 0);
    snprintf(cfg.db, sizeof cfg.db, "%s", db);
    srv = calloc(1, sizeof *srv);
    CHECK(srv != NULL);
    if (server_init(srv, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_msnd: %s\n", err);
        abort();
    }
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!srv) setup();
    if (size < 1) return 0;
    unsigned mode = data[0] & 7, pieces = data[0] >> 3; /* 0 = one write, else up to 31+1 bytes each */
    data++;
    size--;
    friend_alive();
    size_t before = srv->nconns;
    client c = {.fd = -1, .len = 0};
    char line[512];
    if (mode >= 4) {
        c.fd = dial_link();
    } else if (mode == 0 || mode == 1) {
        c.fd = dial(mode == 0 ? CONN_DS : CONN_NS);
    } else {
        CHECK(login(&c, USER1) == 0);
        if (mode == 3) {
            say(&c, "XFR 5 SB\r\n");
            CHECK(expect_line(&c, "XFR 5 SB ", line, sizeof line) == 0);
            char addr[128], cookie[128];
            CHECK(sscanf(line, "XFR 5 SB %127s CKI %127s", addr, cookie) == 2);
            client sb = {.fd = dial(CONN_SB), .len = 0};
            char cmd[300];
            snprintf(cmd, sizeof cmd, "USR 1 %s %s\r\n", USER1, cookie);
            say(&sb, cmd);
            CHECK(expect_line(&sb, "USR 1 OK", NULL, 0) == 0);
            close(c.fd); /* the switchboard session outlives its NS connection */
            pump(4);
            c = sb;
        }
    }
    /* Send the input, letting the server run between pieces. */
    size_t at = 0;
    while (at < size) {
        size_t n = pieces ? 1 + (size_t)(pieces + at) % 32 : size - at;
        if (n > size - at) n = size - at;
        ssize_t w = send(c.fd, data + at, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) w = 0;
        if (w < 0) break; /* the server closed the connection: fine */
        at += (size_t)w;
        pump(1);
        drain_all(c.fd);
    }
    for (int i = 0; i < 8; i++) {
        pump(1);
        drain_all(c.fd);
    }
    close(c.fd);
    for (int i = 0; i < nanswers; i++) close(answers[i]);
    nanswers = 0;
    /* Bounded: the server sees the close within a few passes. */
    for (int pass = 0; pass < 400 && srv->nconns > before; pass++) {
        pump(1);
        drain_fd(friend_fd);
    }
    for (int pass = 0; pass < 400 && presence_remote_count(srv->presence) > 0; pass++) pump(1);
    if (srv->nconns > before) {
        fprintf(stderr, "fuzz_msnd: %zu connections open after the client left, %zu before\n", srv->nconns, before);
        abort();
    }
    if (presence_remote_count(srv->presence) > 0) { /* a link that went took its users with it */
        fprintf(stderr, "fuzz_msnd: %zu remote users left after the link closed\n",
                presence_remote_count(srv->presence));
        abort();
    }
    /* The server still serves others: the second account's PNG is answered
     * (after logging in again when a peer's LOGIN ended its session: only a
     * link input can do that). */
    if (friend_ended_by_peer) {
        CHECK(mode >= 4);
        friend_ended_by_peer = 0;
        friend_alive();
    }
    client f = {.fd = friend_fd, .len = 0};
    say(&f, "PNG\r\n");
    if (expect_line(&f, "QNG", NULL, 0) != 0) {
        fprintf(stderr, "fuzz_msnd: no QNG for another user's PNG after this input\n");
        abort();
    }
    return 0;
}
