/* The notification-server side of libmsnc that a program waits on: when
 * the login is complete (msnc_is_ready: the lists have come and the first
 * status was answered), and what became of each status, name and list
 * command sent (msnc_pending_requests, and MSNC_EV_UNANSWERED when no
 * answer comes: a timeout, the connection ending, a logout). The server is
 * this test, on a loopback socket, answering line by line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include <msnc/client.h>

#define EMAIL "alice@example.com"
#define LOGIN_TIMEOUT_MS 400

typedef struct fixture {
    struct event_base *base;
    struct evdns_base *dns;
    msnc_client *client;
    int lfd, peer;
    char in[8192]; /* what msnc sent, not yet read as lines */
    size_t inlen;
    int logged_in, ready_at_logged_in, disconnected;
    int lists, statuses, errors;
    int unanswered;
    char unanswered_status[32], unanswered_text[32], unanswered_email[130];
    int unanswered_online; /* the connection was still up when it came */
} fixture;

static void on_event(const msnc_event *ev, void *arg) {
    fixture *f = arg;
    switch (ev->type) {
    case MSNC_EV_LOGGED_IN:
        f->logged_in++;
        f->ready_at_logged_in = msnc_is_ready(f->client);
        break;
    case MSNC_EV_DISCONNECTED: f->disconnected++; break;
    case MSNC_EV_LIST: f->lists++; break;
    case MSNC_EV_STATUS: f->statuses++; break;
    case MSNC_EV_SERVER_ERROR: f->errors++; break;
    case MSNC_EV_UNANSWERED:
        f->unanswered++;
        snprintf(f->unanswered_status, sizeof f->unanswered_status, "%s", ev->status);
        snprintf(f->unanswered_text, sizeof f->unanswered_text, "%s", ev->text);
        snprintf(f->unanswered_email, sizeof f->unanswered_email, "%s", ev->email ? ev->email : "");
        f->unanswered_online = msnc_is_online(f->client);
        break;
    default: break;
    }
}

static void turn(fixture *f) {
    event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    usleep(1000);
}

/* The next line msnc sent, whose command must be `name`; its TrID in *trid
 * and the whole line in line. PNG keep-alives do not come this fast. */
static void expect(fixture *f, const char *name, char *trid, char *line, size_t cap) {
    for (int i = 0; i < 3000; i++) {
        char *nl = memchr(f->in, '\n', f->inlen);
        if (nl) {
            size_t n = (size_t)(nl - f->in);
            size_t keep = n && f->in[n - 1] == '\r' ? n - 1 : n;
            assert_true(keep < cap);
            memcpy(line, f->in, keep);
            line[keep] = '\0';
            memmove(f->in, nl + 1, f->inlen - n - 1);
            f->inlen -= n + 1;
            char got[8] = "", id[16] = "";
            sscanf(line, "%7s %15s", got, id);
            if (strcmp(got, name) != 0) fail_msg("expected %s from msnc, got '%s'", name, line);
            snprintf(trid, 16, "%s", id);
            return;
        }
        ssize_t r = recv(f->peer, f->in + f->inlen, sizeof f->in - f->inlen, MSG_DONTWAIT);
        if (r > 0) f->inlen += (size_t)r;
        else if (r == 0) fail_msg("msnc closed the connection, waiting for %s", name);
        else if (errno != EAGAIN && errno != EWOULDBLOCK) fail_msg("recv: %s", strerror(errno));
        turn(f);
    }
    fail_msg("no %s from msnc", name);
}

static void say(fixture *f, const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 2, fmt, ap);
    va_end(ap);
    memcpy(line + n, "\r\n", 2);
    assert_int_equal(send(f->peer, line, (size_t)n + 2, MSG_NOSIGNAL), n + 2);
}

/* Run the loop until *flag is set, or for about 3 s. */
static void run_until(fixture *f, const int *flag) {
    for (int i = 0; i < 3000 && !*flag; i++) turn(f);
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof(*f));
    f->base = event_base_new();
    f->dns = evdns_base_new(f->base, 0);
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sin);
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(f->lfd, 4), 0);
    assert_int_equal(fcntl(f->lfd, F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sin, &len), 0);
    char server[32];
    snprintf(server, sizeof server, "127.0.0.1:%u", ntohs(sin.sin_port));
    msnc_config cfg = {.server = server, .email = EMAIL, .password = "pw", .download_dir = "/tmp"};
    cfg.login_timeout_ms = LOGIN_TIMEOUT_MS;
    f->client = msnc_client_new(f->base, f->dns, &cfg, on_event, f);
    assert_non_null(f->client);
    f->peer = -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    msnc_client_free(f->client);
    msnc_close_lingering(f->base);
    if (f->peer >= 0) close(f->peer);
    close(f->lfd);
    evdns_base_free(f->dns, 0);
    event_base_free(f->base);
    free(f);
    return 0;
}

/* Log in as a notification server would, up to USR OK. */
static void login(fixture *f) {
    assert_int_equal(msnc_login(f->client), 0);
    for (int i = 0; i < 3000 && f->peer < 0; i++) {
        turn(f);
        f->peer = accept(f->lfd, NULL, NULL); /* the listener does not block: reads use MSG_DONTWAIT */
    }
    assert_true(f->peer >= 0);
    char trid[16], line[1024];
    expect(f, "VER", trid, line, sizeof line);
    say(f, "VER %s MSNP7", trid);
    expect(f, "CVR", trid, line, sizeof line);
    say(f, "CVR %s 6.0.0602 6.0.0602 1.0.0000 http://x.invalid http://x.invalid", trid);
    expect(f, "INF", trid, line, sizeof line);
    say(f, "INF %s MD5", trid);
    expect(f, "USR", trid, line, sizeof line);
    say(f, "USR %s MD5 S 1013928519.693957190", trid);
    expect(f, "USR", trid, line, sizeof line);
    say(f, "USR %s OK %s alice 1", trid, EMAIL);
    run_until(f, &f->logged_in);
    assert_int_equal(f->logged_in, 1);
}

/* The rest of the login: SYN (empty lists) and the first CHG, answered. */
static void settle(fixture *f) {
    char trid[16], line[1024];
    expect(f, "SYN", trid, line, sizeof line);
    say(f, "SYN %s 0", trid);
    expect(f, "CHG", trid, line, sizeof line);
    say(f, "CHG %s NLN", trid);
    run_until(f, &f->statuses);
    assert_true(msnc_is_ready(f->client));
}

static void test_ready_needs_the_lists_and_the_first_status(void **state) {
    fixture *f = *state;
    login(f);
    assert_int_equal(f->ready_at_logged_in, 0);
    char syn[16], chg[16], line[1024];
    expect(f, "SYN", syn, line, sizeof line);
    expect(f, "CHG", chg, line, sizeof line);
    /* the status answered first, the lists still to come: not ready */
    say(f, "CHG %s NLN", chg);
    run_until(f, &f->statuses);
    assert_false(msnc_is_ready(f->client));
    /* the lists, in pieces: ready only after RL, the last */
    say(f, "SYN %s 7", syn);
    say(f, "LST %s FL 7 1 1 bob@example.com Bob 0", syn);
    say(f, "LST %s AL 7 1 1 bob@example.com Bob", syn);
    say(f, "LST %s BL 7 0 0", syn);
    for (int i = 0; i < 50; i++) turn(f);
    assert_false(msnc_is_ready(f->client));
    say(f, "LST %s RL 7 0 0", syn);
    for (int i = 0; i < 3000 && !msnc_is_ready(f->client); i++) turn(f);
    assert_true(msnc_is_ready(f->client));
    /* past login_timeout: the deadline of the login no longer applies */
    usleep((LOGIN_TIMEOUT_MS + 100) * 1000);
    for (int i = 0; i < 50; i++) turn(f);
    assert_true(msnc_is_online(f->client));
    assert_int_equal(f->disconnected, 0);
}

static void test_lists_that_never_end_fail_the_login(void **state) {
    fixture *f = *state;
    login(f);
    char syn[16], chg[16], line[1024];
    expect(f, "SYN", syn, line, sizeof line);
    expect(f, "CHG", chg, line, sizeof line);
    say(f, "SYN %s 7", syn);
    say(f, "CHG %s NLN", chg);
    run_until(f, &f->disconnected);
    assert_int_equal(f->disconnected, 1);
    assert_false(msnc_is_ready(f->client));
}

static void test_answers_end_requests(void **state) {
    fixture *f = *state;
    login(f);
    settle(f);
    char trid[16], line[1024];
    assert_int_not_equal(msnc_list_add(f->client, MSNP_LIST_FL, "bob@example.com", "Bob"), 0);
    assert_int_not_equal(msnc_set_status(f->client, MSNP_STATUS_BSY), 0);
    assert_int_equal(msnc_pending_requests(f->client), 2);
    char add[16];
    expect(f, "ADD", add, line, sizeof line);
    expect(f, "CHG", trid, line, sizeof line);
    /* an ILN under the CHG's TrID is not its answer */
    say(f, "ILN %s NLN bob@example.com Bob", trid);
    for (int i = 0; i < 20; i++) turn(f);
    assert_int_equal(msnc_pending_requests(f->client), 2);
    say(f, "CHG %s BSY", trid);
    for (int i = 0; i < 3000 && msnc_pending_requests(f->client) != 1; i++) turn(f);
    assert_int_equal(msnc_pending_requests(f->client), 1);
    say(f, "205 %s", add); /* an error is an answer too */
    for (int i = 0; i < 3000 && !f->errors; i++) turn(f);
    assert_int_equal(f->errors, 1);
    assert_int_equal(msnc_pending_requests(f->client), 0);
    assert_int_equal(f->unanswered, 0);
}

static void test_unanswered_after_login_timeout(void **state) {
    fixture *f = *state;
    login(f);
    settle(f);
    char trid[16], line[1024];
    assert_int_not_equal(msnc_list_remove(f->client, MSNP_LIST_AL, "bob@example.com"), 0);
    expect(f, "REM", trid, line, sizeof line);
    run_until(f, &f->unanswered);
    assert_int_equal(f->unanswered, 1);
    assert_string_equal(f->unanswered_status, "timeout");
    assert_string_equal(f->unanswered_text, "REM AL");
    assert_string_equal(f->unanswered_email, "bob@example.com");
    assert_true(f->unanswered_online); /* the connection stays */
    assert_int_equal(msnc_pending_requests(f->client), 0);
    /* a late answer is still shown for what it is */
    say(f, "REM %s AL 8 bob@example.com", trid);
    run_until(f, &f->lists);
    assert_int_equal(f->lists, 1);
}

static void test_unanswered_when_the_connection_ends(void **state) {
    fixture *f = *state;
    login(f);
    settle(f);
    char trid[16], line[1024];
    assert_int_not_equal(msnc_rename(f->client, NULL, "Alice"), 0);
    expect(f, "REA", trid, line, sizeof line);
    close(f->peer);
    f->peer = -1;
    run_until(f, &f->unanswered);
    assert_string_equal(f->unanswered_status, "disconnected");
    assert_string_equal(f->unanswered_text, "REA");
    assert_string_equal(f->unanswered_email, EMAIL);
    assert_int_equal(msnc_pending_requests(f->client), 0);
}

static void test_unanswered_at_logout(void **state) {
    fixture *f = *state;
    login(f);
    settle(f);
    assert_int_not_equal(msnc_set_status(f->client, MSNP_STATUS_AWY), 0);
    msnc_logout(f->client);
    assert_int_equal(f->unanswered, 1);
    assert_string_equal(f->unanswered_status, "logout");
    assert_string_equal(f->unanswered_text, "CHG AWY");
    assert_int_equal(msnc_pending_requests(f->client), 0);
}

static void test_requests_are_bounded(void **state) {
    fixture *f = *state;
    login(f);
    settle(f);
    for (int i = 0; i < MSNC_MAX_REQUESTS - 1; i++) {
        char email[64];
        snprintf(email, sizeof email, "user%d@example.com", i);
        assert_int_not_equal(msnc_list_add(f->client, MSNP_LIST_FL, email, NULL), 0);
    }
    /* a block is two commands: with room for one, neither is sent */
    assert_int_equal(msnc_block(f->client, "bob@example.com"), -1);
    assert_int_equal(msnc_pending_requests(f->client), MSNC_MAX_REQUESTS - 1);
    assert_int_not_equal(msnc_rename(f->client, NULL, "Alice"), 0);
    assert_int_equal(msnc_list_add(f->client, MSNP_LIST_FL, "more@example.com", NULL), 0);
    assert_int_equal(msnc_set_status(f->client, MSNP_STATUS_BSY), 0);
    assert_int_equal(msnc_pending_requests(f->client), MSNC_MAX_REQUESTS);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ready_needs_the_lists_and_the_first_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lists_that_never_end_fail_the_login, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answers_end_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unanswered_after_login_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unanswered_when_the_connection_ends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unanswered_at_logout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requests_are_bounded, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
