/* fuzz_msnc_client - a logged-in libmsnc client fed by a hostile server,
 * over real loopback sockets.
 *
 * The harness plays the notification server: it answers the login with a
 * fixed script (VER, CVR, INF, USR MD5 S, USR OK), rings the client into
 * one switchboard it also plays (RNG, then IRO and ANS OK), and then sends
 * the input: the bytes before the first "\0SB\0" marker go to the
 * notification connection, the bytes after it to the switchboard. The
 * first input byte picks how the bytes are cut into writes (1, 2, 3, 7,
 * 64, 509, 4096 bytes or all at once).
 *
 * Every event's strings are read whole (ASan catches a dangling or
 * unterminated one). After the input the client is freed and the harness
 * closes its sockets; the event loop must then go quiet. Seeds in
 * fuzz/corpus/msnc_client/ are made by fuzz/msnc/make_client_seeds.py. */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include <msnc/client.h>

#include "../fuzz_tmpdir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define EMAIL "alice@example.com"
#define MAX_ROUNDS 20000
#define QUIET_ROUNDS 8

static struct event_base *g_base;
static struct evdns_base *g_dns;
static int g_ns_listen = -1, g_sb_listen = -1;
static uint16_t g_ns_port, g_sb_port;
static const char *g_dir;        /* download directory (fuzz_tmpdir) */
static unsigned long g_progress; /* events seen and bytes read from the client */

typedef struct state {
    int logged_in;
    int events;
} state;

static void touch(const char *s) {
    if (s) (void)strlen(s);
}

static void on_event(const msnc_event *ev, void *arg) {
    state *st = arg;
    st->events++;
    g_progress++;
    touch(ev->email);
    touch(ev->name);
    touch(ev->status);
    touch(ev->list);
    touch(ev->text);
    touch(ev->app);
    touch(ev->file);
    touch(ev->transport);
    touch(ev->local);
    touch(ev->peer);
    (void)msnc_event_type_name(ev->type);
    if (ev->type == MSNC_EV_LOGGED_IN) st->logged_in = 1;
}

static int listen_any(uint16_t *port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) abort();
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sin);
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) != 0)
        abort();
    *port = ntohs(sin.sin_port);
    return fd;
}

static void init_once(void) {
    if (g_base) return;
    signal(SIGPIPE, SIG_IGN); /* as msnc does: a closed peer is an error, not a signal */
    g_base = event_base_new();
    g_dns = evdns_base_new(g_base, 0);
    if (!g_base || !g_dns) abort();
    g_ns_listen = listen_any(&g_ns_port);
    g_sb_listen = listen_any(&g_sb_port);
    g_dir = fuzz_tmpdir("fuzz-msnc-client");
}

static int turn(void) { return event_base_loop(g_base, EVLOOP_NONBLOCK); }

/* Run the loop until fd accepts a connection (or give up). */
static int accept_within(int lfd) {
    for (int i = 0; i < MAX_ROUNDS; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) return fd;
        turn();
        if (i > 100) poll(NULL, 0, 1);
    }
    return -1;
}

/* Write all of buf, running the loop while the socket is full (the client
 * reads on the loop). Returns -1 if the client stops reading for good. */
static int send_all(int fd, const uint8_t *buf, size_t n, size_t chunk) {
    size_t off = 0;
    int stuck = 0;
    while (off < n) {
        size_t want = n - off < chunk ? n - off : chunk;
        ssize_t w = send(fd, buf + off, want, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            stuck = 0;
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
            return -1;
        } else if (++stuck > 200) {
            return -1;
        }
        turn();
    }
    return 0;
}

static void drain(int fd) {
    char buf[4096];
    while (fd >= 0 && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0) g_progress++;
}

/* Turn the loop until nothing has moved (no event, no byte from the
 * client) for a few turns; loopback delivers at once, so only timers could
 * still add something, and those are far away. */
static void settle(int ns, int sb) {
    int quiet = 0;
    for (int i = 0; i < MAX_ROUNDS && quiet < QUIET_ROUNDS; i++) {
        unsigned long before = g_progress;
        drain(ns);
        drain(sb);
        turn();
        quiet = g_progress == before ? quiet + 1 : 0;
        if (quiet) poll(NULL, 0, 1);
    }
}

static const char LOGIN[] = "VER 1 MSNP7\r\n"
                            "CVR 2 6.0.0602 6.0.0602 1.0.0000 http://example.invalid http://example.invalid\r\n"
                            "INF 3 MD5\r\n"
                            "USR 4 MD5 S 1013928519.693957190\r\n"
                            "USR 5 OK " EMAIL " Alice 1\r\n"
                            "SYN 6 0\r\n"
                            "CHG 7 NLN\r\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const size_t chunks[] = {1, 2, 3, 7, 64, 509, 4096, 1u << 20};
    init_once();
    if (size < 1) return 0;
    size_t chunk = chunks[data[0] & 7u];
    data++;
    size--;
    const uint8_t *sb_part = NULL;
    size_t ns_len = size, sb_len = 0;
    for (size_t i = 0; i + 4 <= size; i++)
        if (!memcmp(data + i, "\0SB\0", 4)) {
            ns_len = i;
            sb_part = data + i + 4;
            sb_len = size - i - 4;
            break;
        }

    state st = {0};
    char server[32];
    snprintf(server, sizeof(server), "127.0.0.1:%u", (unsigned)g_ns_port);
    msnc_config cfg = {0};
    cfg.server = server;
    cfg.email = EMAIL;
    cfg.password = "secret";
    cfg.bind_ip = "127.0.0.1";
    cfg.download_dir = g_dir;
    cfg.ping_interval_ms = 3600000;
    cfg.login_timeout_ms = 3600000;
    cfg.invite_timeout_ms = 3600000;
    cfg.connect_timeout_ms = 3600000;
    msnc_client *c = msnc_client_new(g_base, g_dns, &cfg, on_event, &st);
    if (!c) abort();
    msnc_login(c);
    int ns = accept_within(g_ns_listen);
    int sb = -1;
    if (ns < 0) abort();
    if (send_all(ns, (const uint8_t *)LOGIN, sizeof(LOGIN) - 1, sizeof(LOGIN)) != 0) abort();
    settle(ns, -1);
    if (!st.logged_in) abort(); /* the fixed script must log in */

    char rng[128];
    int n = snprintf(rng, sizeof(rng), "RNG 1 127.0.0.1:%u CKI 1.2 bob@example.com Bob\r\n", (unsigned)g_sb_port);
    if (send_all(ns, (const uint8_t *)rng, (size_t)n, (size_t)n) == 0) {
        sb = accept_within(g_sb_listen);
        static const char ROSTER[] = "IRO 1 1 1 bob@example.com Bob\r\nANS 1 OK\r\n";
        if (sb >= 0) send_all(sb, (const uint8_t *)ROSTER, sizeof(ROSTER) - 1, sizeof(ROSTER));
    }
    settle(ns, sb);
    /* Something the client may do meanwhile: answer in the chat. */
    if (ns_len) send_all(ns, data, ns_len, chunk);
    int chat = msnc_chat_find(c, "bob@example.com");
    if (chat) msnc_chat_send(c, chat, "hi", NULL);
    if (sb >= 0 && sb_len) send_all(sb, sb_part, sb_len, chunk);
    settle(ns, sb);

    msnc_client_free(c);
    if (ns >= 0) close(ns);
    if (sb >= 0) close(sb);
    /* Connections the client opened meanwhile (a second RNG to our port). */
    int extra;
    while ((extra = accept4(g_sb_listen, NULL, NULL, SOCK_CLOEXEC)) >= 0) close(extra);
    while ((extra = accept4(g_ns_listen, NULL, NULL, SOCK_CLOEXEC)) >= 0) close(extra);
    settle(-1, -1);
    return 0;
}
