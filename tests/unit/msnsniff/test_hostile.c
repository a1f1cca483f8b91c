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
    send_s(t, 1, "MSG Hotmail Hotmail 99999999\r\n\r\n");
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

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_hostile_streams)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
