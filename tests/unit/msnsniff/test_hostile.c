/* test_hostile.c - garbage and hostile payloads inside otherwise valid
 * TCP streams: oversized lines and payload lengths, control bytes, binary
 * MIME, malformed invitations, crowds of participants, bogus MSNFTP
 * blocks, streams that end mid-item. The analyzer reports anomalies,
 * resynchronises, keeps going, and frees everything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner.h"
#include "synth.h"

static char path[64];

static msnsynth_endpoint ep(const char *a, uint16_t port) {
    msnsynth_endpoint e;
    msnsynth_endpoint_set(&e, a, port);
    return e;
}

static void send_s(msnsynth_tcp *t, int from_server, const char *s) { msnsynth_tcp_send(t, from_server, s, strlen(s)); }

static void write_capture(void) {
    msnsynth_opts o;
    memset(&o, 0, sizeof o);
    msnsynth *w = msnsynth_open(path, &o);
    assert_non_null(w);
    msnsynth_seed(w, 42);
    msnsynth_endpoint c = ep("10.9.0.1", 2000), ns = ep("10.9.0.100", 1863), sb = ep("10.9.0.101", 1863);

    /* notification: garbage between valid commands */
    msnsynth_tcp *t = msnsynth_tcp_open(w, &c, &ns, 1, 1000, 1);
    send_s(t, 0, "VER 0 MSNP7 CVR0\r\n");
    uint8_t junk[5000];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)msnsynth_rand(w);
    msnsynth_tcp_send(t, 0, junk, sizeof junk);
    send_s(t, 0, "\r\nUSR 1 MD5 I victim@example.com\r\n");
    send_s(t, 1, "VER 0 MSNP7\r\n");
    /* a length past 64 bits: no framing left, resynchronised */
    send_s(t, 1, "MSG Hotmail Hotmail 99999999999999999999999\r\n\r\n");
    send_s(t, 1, "XYZ\x01\x02 broken\r\n");
    send_s(t, 1, "USR 1 MD5 S 1013928519.693957190\r\n");
    send_s(t, 1, "USR 2 OK victim@example.com Victim 1\r\n");
    char many[600];
    size_t n = (size_t)snprintf(many, sizeof many, "ILN 3 NLN");
    for (int i = 0; i < 40; i++) n += (size_t)snprintf(many + n, sizeof many - n, " p%d", i);
    snprintf(many + n, sizeof many - n, "\r\n");
    send_s(t, 1, many);
    send_s(t, 1, "XFR 4 SB\r\nXFR 5 SB :::: CKI\r\nRNG\r\nNLN NLN\r\n");
    send_s(t, 1, "CHG 6 NLN\r\n");

    /* switchboard full of bad items, then one good message */
    msnsynth_tcp *s = msnsynth_tcp_open(w, &c, &sb, 5000, 9000, 1);
    send_s(s, 0, "USR 1 victim@example.com 1.2.3\r\n");
    send_s(s, 1, "USR 1 OK victim@example.com Victim\r\n");
    for (int i = 0; i < 30; i++) {
        char iro[128];
        snprintf(iro, sizeof iro, "IRO 1 %d 30 user%d@example.com U%d\r\n", i + 1, i, i);
        send_s(s, 1, iro);
    }
    char *longline = malloc(10001);
    memset(longline, 'A', 10000);
    longline[0] = 'M';
    longline[1] = 'S';
    longline[2] = 'G';
    longline[3] = ' ';
    longline[10000] = '\0';
    send_s(s, 1, longline);
    free(longline);
    send_s(s, 1, "\r\n");
    static const char bin[] = "MSG a@b.c A 12\r\n\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b";
    msnsynth_tcp_send(s, 1, bin, sizeof bin - 1);
    const char *inv_bad =
        "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite\r\n\r\n"
        "Invitation-Command: ACCEPT\r\nInvitation-Cookie: abc\r\nIP-Address: 1.2.3.4\r\nPort: 99999\r\n\r\n";
    const char *inv_nocookie = "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite\r\n\r\n"
                               "Invitation-Command: ACCEPT\r\nIP-Address: 1.2.3.4:5\r\n\r\n";
    const char *inv_host = "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite\r\n\r\n"
                           "Invitation-Command: CONTEXT\r\nInvitation-Cookie: 7\r\nContext-Data: [::1]:x\r\n"
                           "IP-Address: \xff\xfe:0\r\n\r\n";
    const char *invs[3] = {inv_bad, inv_nocookie, inv_host};
    for (int i = 0; i < 3; i++) {
        char m[512];
        snprintf(m, sizeof m, "MSG user1@example.com U1 %zu\r\n%s", strlen(invs[i]), invs[i]);
        send_s(s, 1, m);
    }
    char hdrs[4096];
    size_t h = (size_t)snprintf(hdrs, sizeof hdrs, "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n");
    for (int i = 0; i < 100; i++) h += (size_t)snprintf(hdrs + h, sizeof hdrs - h, "X-H%d: v\r\n", i);
    h += (size_t)snprintf(hdrs + h, sizeof hdrs - h, "\r\nbody");
    char m2[4200];
    snprintf(m2, sizeof m2, "MSG user2@example.com U2 %zu\r\n%s", h, hdrs);
    send_s(s, 1, m2);
    const char *ok = "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nstill alive";
    char m3[256];
    snprintf(m3, sizeof m3, "MSG user3@example.com U3 %zu\r\n%s", strlen(ok), ok);
    send_s(s, 1, m3);
    send_s(s, 1, "MSG user3@example.com U3 50\r\ncut short");
    msnsynth_tcp_close(s, 1);

    /* MSNFTP with a bad FIL and a bogus block flag */
    msnsynth_endpoint r = ep("10.9.0.2", 3000), snd = ep("10.9.0.1", 6891);
    msnsynth_tcp *f = msnsynth_tcp_open(w, &r, &snd, 77, 88, 1);
    send_s(f, 0, "VER MSNFTP\r\n");
    send_s(f, 1, "VER MSNFTP\r\n");
    send_s(f, 0, "USR x@y.z 1\r\n");
    send_s(f, 1, "FIL 10\r\n");
    send_s(f, 0, "TFR\r\n");
    msnsynth_tcp_send(f, 1,
                      "\x00\x04\x00"
                      "abcd"
                      "\x07\xff\xff"
                      "zz",
                      12);
    msnsynth_tcp_close(f, 0);
    msnsynth_tcp_close(t, 0);
    assert_int_equal(msnsynth_close(w), 0);
}

static int has_anomaly(json_t *ev, const char *kind) { return sn_find(ev, "anomaly", "kind", kind) != NULL; }

static void test_hostile_streams(void **state) {
    (void)state;
    snprintf(path, sizeof path, "/tmp/msnsniff-hostile-%d.pcap", (int)getpid());
    write_capture();
    sn_run r;
    assert_int_equal(sn_run_file(path, NULL, &r), 0);
    unlink(path);
    json_t *ev = r.events;
    /* resynchronised after 5000 bytes of garbage and broken server lines */
    json_t *login = sn_nth(ev, "login", 0);
    assert_non_null(login);
    assert_string_equal(json_string_value(json_object_get(login, "user")), "victim@example.com");
    assert_true(has_anomaly(ev, "parse_error"));
    /* a good message after everything else still comes through */
    json_t *alive = sn_find(ev, "message", "text", "still alive");
    assert_non_null(alive);
    /* participants are bounded, not lost track of */
    assert_true(json_array_size(json_object_get(alive, "recipients")) <= 17);
    assert_true(has_anomaly(ev, "bad_invitation") || has_anomaly(ev, "bad_mime"));
    /* the file transfer with a bogus block is reported, not trusted */
    json_t *file = sn_nth(ev, "file", 0);
    assert_non_null(file);
    assert_string_not_equal(json_string_value(json_object_get(file, "status")), "complete");
    assert_true(has_anomaly(ev, "msnftp"));
    assert_int_equal(r.mem_left, 0);
    sn_run_free(&r);
}

static const char *TEXT_HEAD = "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n";

/* "MSG email name len\r\n" and a text payload, appended to b at *n. */
static void put_msg(char *b, size_t cap, size_t *n, const char *email, const char *text) {
    *n += (size_t)snprintf(b + *n, cap - *n, "MSG %s %s %zu\r\n%s%s", email, email, strlen(TEXT_HEAD) + strlen(text),
                           TEXT_HEAD, text);
}

/* Declared payload lengths keep the stream framed where lines cannot: a
 * payload ends without a line end, so after a hole in one, or past the
 * parser's size limit, the next command is found by the length, and text
 * inside a payload is never read as commands. A hole inside a
 * connection's first line does not hide the connection. */
static void test_declared_lengths_keep_framing(void **state) {
    (void)state;
    snprintf(path, sizeof path, "/tmp/msnsniff-framing-%d.pcap", (int)getpid());
    msnsynth *w = msnsynth_open(path, NULL);
    assert_non_null(w);
    msnsynth_endpoint c = ep("10.9.0.1", 2000), c2 = ep("10.9.0.1", 2001), c3 = ep("10.9.0.1", 2002),
                      ns = ep("10.9.0.100", 1863), sb = ep("10.9.0.101", 1863);
    static char big[80000];
    size_t n = 0;

    /* 1: a payload above the parser's 64 KiB with a message inside it,
     * then a real one in the same segments */
    msnsynth_tcp *s = msnsynth_tcp_open(w, &c, &sb, 100, 200, 1);
    send_s(s, 0, "USR 1 watcher@example.com 1.2.3\r\n");
    send_s(s, 1, "USR 1 OK watcher@example.com Watcher\r\n");
    char inner[256];
    size_t in = 0;
    put_msg(inner, sizeof inner, &in, "ghost@example.com", "PHANTOM inside a payload");
    size_t plen = 70000;
    n = (size_t)snprintf(big, sizeof big, "MSG big@example.com big %zu\r\n", plen);
    memset(big + n, 'x', plen);
    memcpy(big + n + 1000, "\r\n", 2); /* at a line's start, as a resynchronising reader would take it */
    memcpy(big + n + 1002, inner, in);
    n += plen;
    put_msg(big, sizeof big, &n, "big@example.com", "after the big one");
    msnsynth_tcp_send(s, 1, big, n);
    msnsynth_tcp_close(s, 0);

    /* 2: a hole inside a payload; the payload's tail and the next message
     * come in one segment */
    s = msnsynth_tcp_open(w, &c2, &sb, 300, 400, 1);
    send_s(s, 0, "USR 1 watcher@example.com 1.2.4\r\n");
    send_s(s, 1, "USR 1 OK watcher@example.com Watcher\r\n");
    char pay[400];
    memset(pay, 'y', sizeof pay);
    n = (size_t)snprintf(big, sizeof big, "MSG a@example.com a %zu\r\n", sizeof pay);
    assert_true(n < 200);
    memcpy(big + n, pay, sizeof pay);
    n += sizeof pay;
    assert_true(n > 400);
    put_msg(big, sizeof big, &n, "a@example.com", "right after the hole");
    assert_true(n <= 600);
    msnsynth_seg_policy drop2 = {.mss = 200, .drop_every = 2};
    msnsynth_tcp_policy(s, &drop2); /* bytes 200-399 lost, inside the payload */
    msnsynth_tcp_send(s, 1, big, n);
    msnsynth_seg_policy plain = {0};
    msnsynth_tcp_policy(s, &plain);
    msnsynth_tcp_close(s, 0);

    /* 4: a message line refused for a control byte: its payload (a whole
     * message line and body) is passed over by its length */
    msnsynth_endpoint c4 = ep("10.9.0.1", 2003);
    s = msnsynth_tcp_open(w, &c4, &sb, 700, 800, 1);
    send_s(s, 0, "USR 1 watcher@example.com 1.2.5\r\n");
    send_s(s, 1, "USR 1 OK watcher@example.com Watcher\r\n");
    in = 0;
    put_msg(inner, sizeof inner, &in, "ghost@example.com", "PHANTOM after a refused line");
    n = (size_t)snprintf(big, sizeof big, "MSG bad@example.com Bad\x01 %zu\r\n", in);
    memcpy(big + n, inner, in);
    n += in;
    put_msg(big, sizeof big, &n, "bad@example.com", "after the refused one");
    msnsynth_tcp_send(s, 1, big, n);
    msnsynth_tcp_close(s, 0);

    /* 3: a hole inside the first line of a notification connection */
    msnsynth_tcp *t = msnsynth_tcp_open(w, &c3, &ns, 500, 600, 1);
    msnsynth_seg_policy drop10 = {.mss = 10, .drop_every = 2};
    msnsynth_tcp_policy(t, &drop10); /* bytes 10-19 lost */
    send_s(t, 0, "VER 1 MSNP7 MSNP6 CVR0\r\n");
    msnsynth_tcp_policy(t, &plain);
    send_s(t, 1, "VER 1 MSNP7 MSNP6 CVR0\r\n");
    send_s(t, 0, "USR 2 MD5 I holed@example.com\r\n");
    send_s(t, 1, "USR 2 MD5 S 1013928519.693957190\r\n");
    send_s(t, 0, "USR 3 MD5 S 0123456789abcdef0123456789abcdef\r\n");
    send_s(t, 1, "USR 3 OK holed@example.com Holed\r\n");
    msnsynth_tcp_close(t, 0);
    assert_int_equal(msnsynth_close(w), 0);

    sn_run r;
    assert_int_equal(sn_run_file(path, NULL, &r), 0);
    unlink(path);
    json_t *ev = r.events;
    assert_null(sn_find(ev, "message", "text", "PHANTOM inside a payload"));
    assert_non_null(sn_find(ev, "message", "text", "after the big one"));
    assert_true(has_anomaly(ev, "parse_error"));
    assert_non_null(sn_find(ev, "message", "text", "right after the hole"));
    assert_null(sn_find(ev, "message", "text", "PHANTOM after a refused line"));
    assert_non_null(sn_find(ev, "message", "text", "after the refused one"));
    json_t *login = sn_find(ev, "login", "user", "holed@example.com");
    assert_non_null(login);
    json_t *gap = NULL;
    for (size_t i = 0; (gap = sn_nth(ev, "anomaly", i)) != NULL; i++) {
        const char *kind = json_string_value(json_object_get(gap, "kind"));
        if (kind && strcmp(kind, "gap") == 0 && json_integer_value(json_object_get(gap, "offset")) == 10) break;
    }
    assert_non_null(gap); /* the first line's hole, at its stream offset */
    assert_int_equal(r.mem_left, 0);
    sn_run_free(&r);
}

/* One send of 400 KB, its segments reordered: the writer's peer
 * acknowledges as its window (64 KB) fills, as a receiver does, and every
 * byte is within the window the analyzer holds the sender to. */
static void test_long_send_within_the_window(void **state) {
    (void)state;
    snprintf(path, sizeof path, "/tmp/msnsniff-window-%d.pcap", (int)getpid());
    msnsynth *w = msnsynth_open(path, NULL);
    assert_non_null(w);
    msnsynth_endpoint c = ep("10.9.0.1", 2003), sb = ep("10.9.0.101", 1863);
    msnsynth_tcp *s = msnsynth_tcp_open(w, &c, &sb, 700, 800, 1);
    send_s(s, 0, "USR 1 long@example.com 1.2.5\r\n");
    send_s(s, 1, "USR 1 OK long@example.com Long\r\n");
    size_t cap = 420000, n = 0;
    char *many = malloc(cap);
    assert_non_null(many);
    while (n < 400000) put_msg(many, cap, &n, "long@example.com", "one of many");
    put_msg(many, cap, &n, "long@example.com", "the last of many");
    msnsynth_seg_policy reorder = {.reorder = 1, .acks = 1};
    msnsynth_tcp_policy(s, &reorder);
    msnsynth_tcp_send(s, 1, many, n);
    free(many);
    msnsynth_tcp_close(s, 0);
    assert_int_equal(msnsynth_close(w), 0);
    sn_run r;
    assert_int_equal(sn_run_file(path, NULL, &r), 0);
    unlink(path);
    assert_non_null(sn_find(r.events, "message", "text", "the last of many"));
    assert_false(has_anomaly(r.events, "gap"));
    sn_run_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_hostile_streams),
                                       cmocka_unit_test(test_declared_lengths_keep_framing),
                                       cmocka_unit_test(test_long_send_within_the_window)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
