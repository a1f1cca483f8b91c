/* The lifetime rules of one MSNP connection (lib/msnc/src/line.c): no
 * callback runs inside msnc_line_connect or a send, a failure found there
 * reaches the owner from the event loop, the owner may free the line from
 * its own callback, and a peer that does not read gets the line closed
 * instead of an output queue that grows without bound. Real sockets on
 * loopback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "line.h"

typedef struct owner {
    msnc_line *line;
    int in_connect; /* set while msnc_line_connect runs */
    int closed;
    int connected;
    int called_inside_connect;
    int free_in_closed;
    char why[512];
} owner;

static void on_connected(msnc_line *l, void *arg) {
    (void)l;
    owner *o = arg;
    if (o->in_connect) o->called_inside_connect = 1;
    o->connected++;
}

static void on_command(msnc_line *l, const msnp_cmd *cmd, void *arg) {
    (void)l;
    (void)cmd;
    owner *o = arg;
    if (o->in_connect) o->called_inside_connect = 1;
}

static void on_closed(msnc_line *l, const char *why, void *arg) {
    owner *o = arg;
    if (o->in_connect) o->called_inside_connect = 1;
    /* The owner must already hold the line it is told about. */
    assert_ptr_equal(l, o->line);
    o->closed++;
    snprintf(o->why, sizeof(o->why), "%s", why);
    if (o->free_in_closed) {
        msnc_line_free(l);
        o->line = NULL;
    }
}

static const msnc_line_callbacks CB = {on_connected, on_command, on_closed};

static msnc_line *connect_as(owner *o, struct event_base *base, struct evdns_base *dns, const char *host,
                             uint16_t port) {
    o->in_connect = 1;
    o->line = msnc_line_connect(base, dns, host, port, &CB, o);
    o->in_connect = 0;
    return o->line;
}

static void run_until(struct event_base *base, const int *flag) {
    for (int i = 0; i < 2000 && !*flag; i++) {
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        usleep(1000);
    }
}

static void test_connect_fails_at_once(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    struct evdns_base *dns = evdns_base_new(base, 0);
    owner o = {0};
    o.free_in_closed = 1;
    /* Broadcast without SO_BROADCAST: connect() fails inside the call. */
    msnc_line *l = connect_as(&o, base, dns, "255.255.255.255", 1863);
    assert_non_null(l);
    assert_int_equal(o.closed, 0);
    assert_int_equal(o.called_inside_connect, 0);
    /* Sends on the failing line are refused, not queued. */
    assert_int_equal(msnc_line_send(l, "VER", "MSNP7", NULL), 0);
    msnc_line_send_bare(l, "OUT");
    run_until(base, &o.closed);
    assert_int_equal(o.closed, 1);
    assert_null(o.line);
    assert_non_null(strstr(o.why, "255.255.255.255:1863"));
    evdns_base_free(dns, 0);
    event_base_free(base);
}

static void test_free_before_failure_is_reported(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    struct evdns_base *dns = evdns_base_new(base, 0);
    owner o = {0};
    msnc_line *l = connect_as(&o, base, dns, "255.255.255.255", 1863);
    assert_non_null(l);
    msnc_line_free(l); /* the pending report goes with it */
    o.line = NULL;
    for (int i = 0; i < 20; i++) event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert_int_equal(o.closed, 0);
    evdns_base_free(dns, 0);
    event_base_free(base);
}

static int listener(uint16_t *port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sin);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    *port = ntohs(sin.sin_port);
    return fd;
}

static void test_peer_that_does_not_read(void **state) {
    (void)state;
    struct event_base *base = event_base_new();
    struct evdns_base *dns = evdns_base_new(base, 0);
    uint16_t port;
    int lfd = listener(&port);
    owner o = {0};
    o.free_in_closed = 1;
    msnc_line *l = connect_as(&o, base, dns, "127.0.0.1", port);
    assert_non_null(l);
    run_until(base, &o.connected);
    assert_int_equal(o.connected, 1);
    int peer = accept(lfd, NULL, NULL);
    assert_true(peer >= 0);
    /* The peer never reads: sends are accepted until the bound, then the
     * line fails (reported later, never inside the send). */
    int refused = 0;
    for (int i = 0; i < 200000 && !refused; i++) {
        if (msnc_line_send(l, "PNG", "padding-padding-padding-padding-padding-padding", NULL) == 0) refused = 1;
        if (i % 256 == 0) event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        assert_int_equal(o.closed, 0);
    }
    assert_true(refused);
    run_until(base, &o.closed);
    assert_int_equal(o.closed, 1);
    assert_non_null(strstr(o.why, "does not read"));
    close(peer);
    close(lfd);
    evdns_base_free(dns, 0);
    event_base_free(base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_fails_at_once),
        cmocka_unit_test(test_free_before_failure_is_reported),
        cmocka_unit_test(test_peer_that_does_not_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
