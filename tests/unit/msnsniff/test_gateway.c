/* test_gateway.c - what a gateway needs from the analyzer, on captures
 * written by msnsynth: the origin check of announced addresses and the
 * pinhole policy, the per-user / per-session / global bounds on
 * outstanding predictions, overlapping TCP segments with different
 * contents, invitation fields written into the MIME header block, and
 * the typed events a subscriber receives for all of it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "engine.h"
#include "nftout.h"
#include "reasm.h"
#include "runner.h"
#include "synth.h"

static char path[96];

static void set_path(const char *what) {
    snprintf(path, sizeof path, "/tmp/msnsniff-gateway-%s-%d.pcap", what, (int)getpid());
}

static msnsynth_endpoint ep(const char *a, uint16_t port) {
    msnsynth_endpoint e;
    msnsynth_endpoint_set(&e, a, port);
    return e;
}

static void send_s(msnsynth_tcp *t, int from_server, const char *s) {
    assert_int_equal(msnsynth_tcp_send(t, from_server, s, strlen(s)), 0);
}

/* An invitation message from the client side of a switchboard connection. */
static void send_invite(msnsynth_tcp *sb, unsigned trid, const char *fields) {
    char body[1024], msg[1200];
    snprintf(body, sizeof body, "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\n\r\n%s\r\n",
             fields);
    snprintf(msg, sizeof msg, "MSG %u N %zu\r\n%s", trid, strlen(body), body);
    send_s(sb, 0, msg);
}

/* The same from the server side: bob's message as alice's connection gets it. */
static void recv_invite(msnsynth_tcp *sb, const char *fields) {
    char body[1024], msg[1200];
    snprintf(body, sizeof body, "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\n\r\n%s\r\n",
             fields);
    snprintf(msg, sizeof msg, "MSG bob@example.com Bob %zu\r\n%s", strlen(body), body);
    send_s(sb, 1, msg);
}

/* alice logs in from a public address and opens a switchboard with bob. */
static msnsynth_tcp *alice_session(msnsynth *w, msnsynth_tcp **ns_out) {
    msnsynth_endpoint c = ep("198.51.100.7", 2000), ns = ep("64.4.12.1", 1863);
    msnsynth_endpoint c2 = ep("198.51.100.7", 2001), sb = ep("64.4.12.2", 1863);
    msnsynth_tcp *t = msnsynth_tcp_open(w, &c, &ns, 1, 1000, 1);
    send_s(t, 0, "VER 1 MSNP7 CVR0\r\n");
    send_s(t, 1, "VER 1 MSNP7\r\n");
    send_s(t, 0, "USR 2 MD5 I alice@example.com\r\n");
    send_s(t, 1, "USR 2 MD5 S 1013928519.693957190\r\n");
    send_s(t, 0, "USR 3 MD5 S 0123456789abcdef0123456789abcdef\r\n");
    send_s(t, 1, "USR 3 OK alice@example.com Alice 1\r\n");
    send_s(t, 0, "XFR 4 SB\r\n");
    send_s(t, 1, "XFR 4 SB 64.4.12.2:1863 CKI 111.222.333\r\n");
    msnsynth_tcp *s = msnsynth_tcp_open(w, &c2, &sb, 5000, 9000, 1);
    send_s(s, 0, "USR 1 alice@example.com 111.222.333\r\n");
    send_s(s, 1, "USR 1 OK alice@example.com Alice\r\n");
    send_s(s, 0, "CAL 2 bob@example.com\r\n");
    send_s(s, 1, "CAL 2 RINGING 424242\r\n");
    send_s(s, 1, "JOI bob@example.com Bob\r\n");
    *ns_out = t;
    return s;
}

static const char FT_GUID[] = "{5D3E02AB-6190-11d3-BBBB-00C04F795683}";

/* ---- a subscriber that keeps what it is told ------------------------------ */

typedef struct seen {
    unsigned added, hit, retired, expired, evicted, dropped_user, dropped_session, anomalies, overlaps;
    uint8_t flags[64];
    uint8_t classes[64];
    uint64_t sessions[64];
    char owners[64][64];
    sn_anomaly_info overlap;
} seen;

static void s_added(void *ctx, const sn_expect *x) {
    seen *s = ctx;
    if (s->added < 64) {
        s->flags[s->added] = x->flags;
        s->classes[s->added] = x->app_class;
        s->sessions[s->added] = x->session;
        snprintf(s->owners[s->added], sizeof s->owners[0], "%s", x->owner);
    }
    s->added++;
}
static void s_hit(void *ctx, const sn_expect *x, const sn_expect_hit_info *h) {
    (void)x;
    (void)h;
    ((seen *)ctx)->hit++;
}
static void s_retired(void *ctx, const sn_expect *x, sn_expect_end why) {
    (void)x;
    (void)why;
    ((seen *)ctx)->retired++;
}
static void s_expired(void *ctx, const sn_expect *x, sn_expect_end why) {
    (void)x;
    seen *s = ctx;
    s->expired++;
    s->evicted += why == SN_END_EVICTED;
}
static void s_dropped(void *ctx, const sn_expect_proto *p, sn_expect_drop why) {
    (void)p;
    seen *s = ctx;
    s->dropped_user += why == SN_DROP_USER_BOUND;
    s->dropped_session += why == SN_DROP_SESSION_BOUND;
}
static void s_anomaly(void *ctx, const sn_anomaly_info *a) {
    seen *s = ctx;
    s->anomalies++;
    if (a->kind == SN_AN_OVERLAP_CONFLICT) {
        s->overlaps++;
        s->overlap = *a;
    }
}

static sn_observer observer_of(seen *s) {
    memset(s, 0, sizeof *s);
    sn_observer o = {.expect_added = s_added,
                     .expect_hit = s_hit,
                     .expect_retired = s_retired,
                     .expect_expired = s_expired,
                     .expect_dropped = s_dropped,
                     .anomaly = s_anomaly,
                     .ctx = s};
    return o;
}

static json_t *expectation_from(json_t *ev, const char *source, const char *address) {
    size_t i;
    json_t *e;
    json_array_foreach(ev, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "event")), "expectation") != 0) continue;
        if (strcmp(json_string_value(json_object_get(e, "source")), source) == 0 &&
            strcmp(json_string_value(json_object_get(e, "address")), address) == 0)
            return e;
    }
    return NULL;
}

static const char *jstr(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

/* A file transfer INVITE of a 10-byte file, offering ip:port, sent by the
 * client of switchboard connection s with TrID trid. */
static void send_file_invite(msnsynth_tcp *s, unsigned trid, const char *cookie, const char *file, const char *ip,
                             unsigned port) {
    char f[512];
    snprintf(f, sizeof f,
             "Application-Name: File Transfer\r\nApplication-GUID: %s\r\nInvitation-Command: INVITE\r\n"
             "Invitation-Cookie: %s\r\nApplication-File: %s\r\nApplication-FileSize: 10\r\n"
             "IP-Address: %s\r\nPort: %u",
             FT_GUID, cookie, file, ip, port);
    send_invite(s, trid, f);
}

/* ---- origin check and policy ------------------------------------------- */

static void write_origin_capture(void) {
    msnsynth *w = msnsynth_open(path, NULL);
    assert_non_null(w);
    msnsynth_tcp *ns, *s = alice_session(w, &ns);
    char f[512];
    /* alice's own (public) address: verified */
    send_file_invite(s, 3, "1001", "a.txt", "198.51.100.7", 6891);
    /* a private address while alice is seen from a public one: NAT */
    send_file_invite(s, 4, "1002", "b.txt", "192.168.1.5", 6892);
    /* a third host: forged */
    send_file_invite(s, 5, "1003", "c.txt", "203.0.113.9", 6893);
    /* bob's address, from bob, whose own connections are not captured */
    snprintf(f, sizeof f,
             "Application-Name: File Transfer\r\nApplication-GUID: %s\r\nInvitation-Command: INVITE\r\n"
             "Invitation-Cookie: 1004\r\nApplication-File: d.txt\r\nApplication-FileSize: 10\r\n"
             "IP-Address: 203.0.113.50\r\nPort: 6894",
             FT_GUID);
    recv_invite(s, f);
    msnsynth_tcp_close(s, 0);
    msnsynth_tcp_close(ns, 0);
    assert_int_equal(msnsynth_close(w), 0);
}

/* The switchboard server's address is not the announcer's: counted as
 * such, a client could have its peer let through to any port of the
 * server. */
static void test_server_address_announced_is_forged(void **state) {
    (void)state;
    set_path("server-announced");
    msnsynth *w = msnsynth_open(path, NULL);
    assert_non_null(w);
    msnsynth_tcp *ns, *s = alice_session(w, &ns);
    send_file_invite(s, 3, "1201", "a.txt", "64.4.12.2", 22);
    msnsynth_tcp_close(s, 0);
    msnsynth_tcp_close(ns, 0);
    assert_int_equal(msnsynth_close(w), 0);
    sn_run r;
    assert_int_equal(sn_run_file(path, NULL, &r), 0);
    json_t *e = expectation_from(r.events, "IP-Address", "64.4.12.2");
    assert_non_null(e);
    assert_string_equal(jstr(e, "origin"), "forged");
    assert_true(json_is_false(json_object_get(e, "pinhole")));
    assert_int_equal(r.stats.announced_forged, 1);
    sn_run_free(&r);
    unlink(path);
}

static void test_origin_and_policy(void **state) {
    (void)state;
    set_path("origin");
    write_origin_capture();
    /* the default policy (nat): only the forged one gets no pinhole */
    seen sn;
    sn_observer o = observer_of(&sn);
    sn_run r;
    assert_int_equal(sn_run_file_observed(path, NULL, &o, &r), 0);
    json_t *ok = expectation_from(r.events, "IP-Address", "198.51.100.7");
    json_t *nat = expectation_from(r.events, "IP-Address", "192.168.1.5");
    json_t *forged = expectation_from(r.events, "IP-Address", "203.0.113.9");
    json_t *unchecked = expectation_from(r.events, "IP-Address", "203.0.113.50");
    assert_non_null(ok);
    assert_non_null(nat);
    assert_non_null(forged);
    assert_non_null(unchecked);
    assert_null(json_object_get(ok, "origin"));
    assert_null(json_object_get(ok, "pinhole"));
    assert_string_equal(jstr(nat, "origin"), "nat");
    assert_null(json_object_get(nat, "pinhole"));
    assert_string_equal(jstr(forged, "origin"), "forged");
    assert_true(json_is_false(json_object_get(forged, "pinhole")));
    assert_null(json_object_get(unchecked, "origin"));
    json_t *an = sn_find(r.events, "anomaly", "kind", "announced_address");
    assert_non_null(an);
    assert_string_equal(jstr(an, "cookie"), "1003");
    assert_int_equal(r.stats.announced_forged, 1);
    assert_int_equal(r.stats.announced_nat, 1);
    assert_int_equal(r.stats.pinholes_refused, 1);
    /* the subscriber sees the same, typed: XFR SB, then the four invitations */
    assert_int_equal(sn.added, 5);
    assert_int_equal(sn.classes[0], SN_CLASS_SWITCHBOARD);
    assert_string_equal(sn.owners[0], "alice@example.com");
    assert_int_equal(sn.flags[1], 0);
    assert_int_equal(sn.flags[2], SN_XF_NAT);
    assert_int_equal(sn.flags[3], SN_XF_FORGED | SN_XF_NO_PINHOLE);
    assert_int_equal(sn.flags[4], SN_XF_UNCHECKED);
    assert_int_equal(sn.classes[1], SN_CLASS_FILE_TRANSFER);
    assert_string_equal(sn.owners[1], "alice@example.com");
    assert_string_equal(sn.owners[4], "bob@example.com");
    assert_true(sn.sessions[1] != 0);
    assert_true(sn.sessions[1] == sn.sessions[4]);
    sn_run_free(&r);

    /* strict: only the verified one may open */
    sn_config cfg;
    sn_config_defaults(&cfg);
    cfg.announce_policy = SN_ANNOUNCE_STRICT;
    assert_int_equal(sn_run_file_observed(path, &cfg, &o, &r), 0);
    assert_null(json_object_get(expectation_from(r.events, "IP-Address", "198.51.100.7"), "pinhole"));
    assert_true(json_is_false(json_object_get(expectation_from(r.events, "IP-Address", "192.168.1.5"), "pinhole")));
    assert_true(json_is_false(json_object_get(expectation_from(r.events, "IP-Address", "203.0.113.9"), "pinhole")));
    assert_true(json_is_false(json_object_get(expectation_from(r.events, "IP-Address", "203.0.113.50"), "pinhole")));
    assert_int_equal(r.stats.pinholes_refused, 3);
    sn_run_free(&r);

    /* any: flagged, but opened */
    cfg.announce_policy = SN_ANNOUNCE_ANY;
    assert_int_equal(sn_run_file_observed(path, &cfg, &o, &r), 0);
    forged = expectation_from(r.events, "IP-Address", "203.0.113.9");
    assert_string_equal(jstr(forged, "origin"), "forged");
    assert_null(json_object_get(forged, "pinhole"));
    assert_int_equal(r.stats.pinholes_refused, 0);
    sn_run_free(&r);
    unlink(path);
}

/* The capture at path analysed with the nftables writer subscribed: what
 * it wrote (free it), the run in r. */
static char *run_with_nft(sn_run *r) {
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    assert_non_null(fp);
    sn_nft_out n = {.fp = fp, .family = "inet", .table = "t"};
    sn_observer o = sn_nft_observer(&n);
    assert_int_equal(sn_run_file_observed(path, NULL, &o, r), 0);
    fclose(fp);
    sn_nft_out_free(&n);
    return text;
}

/* The nftables writer, as a subscriber: elements for what may open, a
 * comment for what may not. */
static void test_nft_subscriber(void **state) {
    (void)state;
    set_path("nft");
    write_origin_capture();
    sn_run r;
    char *text = run_with_nft(&r);
    assert_non_null(strstr(text, "add element inet t msn4 { 198.51.100.7 . tcp . 6891 timeout 300s }"));
    assert_non_null(strstr(text, "add element inet t msn4 { 192.168.1.5 . tcp . 6892 timeout 300s }"));
    assert_non_null(strstr(text, "add element inet t msn4 { 203.0.113.50 . tcp . 6894 timeout 300s }"));
    assert_null(strstr(text, "203.0.113.9 . tcp"));
    assert_non_null(strstr(text, "# not opened: 203.0.113.9 announced by alice@example.com (forged) cookie 1003"));
    free(text);
    sn_run_free(&r);
    unlink(path);
}

/* A DNS response naming one address for name (an A record for 4 bytes, an
 * AAAA for 16), as bob's resolver gets it. */
static void dns_answer_of(msnsynth *w, const char *name, const uint8_t *a, size_t alen) {
    uint8_t pkt[512] = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0};
    size_t n = 12;
    for (const char *p = name; *p;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        pkt[n++] = (uint8_t)len;
        memcpy(pkt + n, p, len);
        n += len;
        p += len + (dot != NULL);
    }
    uint8_t type = alen == 16 ? 28 : 1;
    const uint8_t rest[] = {0, 0, type, 0, 1, 0xC0, 0x0C, 0, type, 0, 1, 0, 0, 0x0E, 0x10, 0, (uint8_t)alen};
    memcpy(pkt + n, rest, sizeof rest);
    n += sizeof rest;
    memcpy(pkt + n, a, alen);
    n += alen;
    msnsynth_endpoint srv = ep("203.0.113.53", 53), cli = ep("203.0.113.50", 33000);
    assert_int_equal(msnsynth_udp(w, &srv, &cli, pkt, n), 0);
}

static void dns_answer(msnsynth *w, const char *name, const uint8_t a[4]) { dns_answer_of(w, name, a, 4); }

/* A host name is checked by the address DNS gives it, also when the answer
 * comes after the announcement (as it does: the peer asks once it has the
 * message): a name of a third host is forged, one of the announcer's own
 * address is not. */
static void test_host_name_resolved_later(void **state) {
    (void)state;
    set_path("hostname");
    msnsynth *w = msnsynth_open(path, NULL);
    assert_non_null(w);
    msnsynth_tcp *ns, *s = alice_session(w, &ns);
    send_file_invite(s, 3, "2001", "a.txt", "elsewhere.example.net", 22);
    send_file_invite(s, 4, "2002", "b.txt", "alice.example.net", 6891);
    send_file_invite(s, 5, "2003", "c.txt", "alice6.example.net", 6896);
    static const uint8_t third[4] = {192, 0, 2, 99}, own[4] = {198, 51, 100, 7};
    static const uint8_t own_mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 7};
    dns_answer(w, "elsewhere.example.net", third);
    dns_answer(w, "alice.example.net", own);
    /* an IPv4-mapped AAAA answer: her IPv4 address */
    dns_answer_of(w, "alice6.example.net", own_mapped, sizeof own_mapped);
    msnsynth_tcp_close(s, 0);
    msnsynth_tcp_close(ns, 0);
    assert_int_equal(msnsynth_close(w), 0);

    sn_run r;
    char *text = run_with_nft(&r);
    assert_null(strstr(text, "192.0.2.99"));
    assert_non_null(
        strstr(text, "# not opened: elsewhere.example.net announced by alice@example.com (forged) cookie 2001"));
    assert_non_null(strstr(text, "add element inet t msn4 { 198.51.100.7 . tcp . 6891 timeout 300s }"));
    assert_non_null(strstr(text, "add element inet t msn4 { 198.51.100.7 . tcp . 6896 timeout 300s }"));
    json_t *an = sn_find(r.events, "anomaly", "kind", "announced_address");
    assert_non_null(an);
    assert_string_equal(jstr(an, "cookie"), "2001");
    assert_int_equal(r.stats.announced_forged, 1);
    assert_int_equal(r.stats.pinholes_refused, 1);
    free(text);
    sn_run_free(&r);
    unlink(path);
}

/* An IPv4-mapped IPv6 address (a dual-stack socket's form of an IPv4
 * address) is that IPv4 address: the announcer's own (verified), in the
 * IPv4 set, and matched by the IPv4 connection a peer opens to it. */
static void test_ipv4_mapped_address(void **state) {
    (void)state;
    set_path("mapped");
    msnsynth *w = msnsynth_open(path, NULL);
    assert_non_null(w);
    msnsynth_tcp *ns, *s = alice_session(w, &ns);
    send_file_invite(s, 3, "3001", "a.txt", "::ffff:198.51.100.7", 6895);
    msnsynth_endpoint bob = ep("203.0.113.50", 40000), listener = ep("198.51.100.7", 6895);
    msnsynth_tcp *ft = msnsynth_tcp_open(w, &bob, &listener, 70000, 80000, 1);
    assert_non_null(ft);
    msnsynth_tcp_close(ft, 0);
    msnsynth_tcp_close(s, 0);
    msnsynth_tcp_close(ns, 0);
    assert_int_equal(msnsynth_close(w), 0);

    sn_run r;
    char *text = run_with_nft(&r);
    assert_non_null(strstr(text, "add element inet t msn4 { 198.51.100.7 . tcp . 6895 timeout 300s }"));
    json_t *x = expectation_from(r.events, "IP-Address", "::ffff:198.51.100.7");
    assert_non_null(x);
    assert_string_equal(jstr(x, "resolved"), "198.51.100.7");
    assert_null(json_object_get(x, "origin"));
    assert_null(sn_find(r.events, "anomaly", "kind", "announced_address"));
    assert_non_null(sn_find(r.events, "expectation_hit", "cookie", "3001"));
    assert_int_equal(r.stats.announced_forged, 0);
    free(text);
    sn_run_free(&r);
    unlink(path);
}

/* A predicted connection picked up mid-stream (its handshake not
 * captured) whose first packet seen is the listener's, from the predicted
 * address and port: it is the predicted connection, the listener its
 * server. */
static void test_midstream_listener_first(void **state) {
    (void)state;
    set_path("midstream");
    msnsynth *w = msnsynth_open(path, NULL);
    assert_non_null(w);
    msnsynth_tcp *ns, *s = alice_session(w, &ns);
    send_invite(s, 3,
                "Application-Name: Application Sharing\r\nApplication-GUID: {F1B1920C-6A3C-4CE7-B18C-AFAB305FD03D}\r\n"
                "Session-Protocol: SM1\r\nInvitation-Command: INVITE\r\nInvitation-Cookie: 4001\r\n"
                "Session-ID: {4}");
    send_invite(s, 4, "Invitation-Command: CONTEXT\r\nInvitation-Cookie: 4001\r\nContext-Data: 198.51.100.7:10337");
    msnsynth_endpoint bob = ep("203.0.113.50", 40000), listener = ep("198.51.100.7", 10337);
    msnsynth_tcp *t = msnsynth_tcp_open(w, &bob, &listener, 70000, 80000, 0);
    assert_non_null(t);
    send_s(t, 1, "from the listener first");
    send_s(t, 0, "and back");
    msnsynth_tcp_close(t, 0);
    msnsynth_tcp_close(s, 0);
    msnsynth_tcp_close(ns, 0);
    assert_int_equal(msnsynth_close(w), 0);

    sn_run r;
    assert_int_equal(sn_run_file(path, NULL, &r), 0);
    json_t *h = sn_find(r.events, "expectation_hit", "cookie", "4001");
    assert_non_null(h);
    assert_string_equal(jstr(h, "matched_by"), "midstream");
    assert_string_equal(jstr(h, "src"), "203.0.113.50");
    assert_string_equal(jstr(h, "dst"), "198.51.100.7");
    assert_int_equal(json_integer_value(json_object_get(h, "dport")), 10337);
    assert_null(sn_find(r.events, "expectation_miss", "cookie", "4001"));
    json_t *f = sn_find(r.events, "flow", "app", "expected");
    assert_non_null(f);
    assert_string_equal(jstr(f, "src"), "203.0.113.50");
    sn_run_free(&r);
    unlink(path);
}

/* ---- bounds ------------------------------------------------------------- */

static void write_many_invitations(unsigned count) {
    msnsynth_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.step_us = 1; /* all of it within one second of capture time */
    msnsynth *w = msnsynth_open(path, &opts);
    assert_non_null(w);
    msnsynth_tcp *ns, *s = alice_session(w, &ns);
    for (unsigned i = 0; i < count; i++) {
        char f[512];
        snprintf(f, sizeof f,
                 "Application-Name: File Transfer\r\nApplication-GUID: %s\r\nInvitation-Command: INVITE\r\n"
                 "Invitation-Cookie: %u\r\nApplication-File: f.txt\r\nApplication-FileSize: 10\r\n"
                 "IP-Address: 198.51.100.7\r\nPort: %u",
                 FT_GUID, 10000 + i, 1024 + i % 60000);
        send_invite(s, 10 + i, f);
    }
    msnsynth_tcp_close(s, 0);
    msnsynth_tcp_close(ns, 0);
    assert_int_equal(msnsynth_close(w), 0);
}

static void test_user_and_session_bounds(void **state) {
    (void)state;
    set_path("bounds");
    write_many_invitations(40);
    /* defaults: 32 per switchboard session */
    seen sn;
    sn_observer o = observer_of(&sn);
    sn_run r;
    assert_int_equal(sn_run_file_observed(path, NULL, &o, &r), 0);
    assert_int_equal(SN_EXPECT_MAX_PER_SESSION, 32);
    assert_int_equal(r.stats.expectations_dropped_session, 8);
    assert_int_equal(sn.dropped_session, 8);
    assert_int_equal(sn_count(r.events, "expectation_dropped"), 8);
    json_t *d = sn_nth(r.events, "expectation_dropped", 0);
    assert_string_equal(jstr(d, "reason"), "session_bound");
    assert_string_equal(jstr(d, "user"), "alice@example.com");
    assert_string_equal(jstr(d, "cookie"), "10032");
    sn_run_free(&r);
    /* a per-user bound of 10, sessions unbounded */
    sn_config cfg;
    sn_config_defaults(&cfg);
    cfg.max_expect_per_user = 10;
    cfg.max_expect_per_session = 0;
    assert_int_equal(sn_run_file_observed(path, &cfg, &o, &r), 0);
    /* the XFR SB referral was alice's too, but it was used before */
    assert_int_equal(r.stats.expectations_dropped_user, 30);
    assert_int_equal(sn.dropped_user, 30);
    assert_int_equal(r.stats.expectations_dropped_session, 0);
    assert_string_equal(jstr(sn_nth(r.events, "expectation_dropped", 0), "reason"), "user_bound");
    sn_run_free(&r);
    unlink(path);
}

/* The global bound holds on every add, not only when capture time moves
 * on: 5 000 predictions within one second, a bound of 1 000. */
static void test_global_bound_within_one_second(void **state) {
    (void)state;
    set_path("global");
    write_many_invitations(5000);
    sn_config cfg;
    sn_config_defaults(&cfg);
    cfg.max_expectations = 1000;
    cfg.max_expect_per_user = 0;
    cfg.max_expect_per_session = 0;
    seen sn;
    sn_observer o = observer_of(&sn);
    sn_run r;
    assert_int_equal(sn_run_file_observed(path, &cfg, &o, &r), 0);
    assert_int_equal(r.expect_max, 1000);
    assert_true(r.expect_peak <= 1000);
    assert_true(r.stats.peak_expectations <= 1000);
    /* 5 001 made (the referral too), 1 000 held at the end: the rest evicted and counted */
    assert_int_equal(r.stats.expectations, 5001);
    assert_true(r.stats.expectations_evicted >= 4000);
    assert_int_equal(sn.evicted, r.stats.expectations_evicted);
    size_t evicted_records = 0, i;
    json_t *e;
    json_array_foreach(r.events, i, e) {
        if (strcmp(jstr(e, "event"), "expectation_miss") == 0 && strcmp(jstr(e, "reason"), "evicted") == 0)
            evicted_records++;
    }
    assert_int_equal(evicted_records, r.stats.expectations_evicted);
    sn_run_free(&r);
    unlink(path);
}

/* ---- evasion ---------------------------------------------------------------- */

/* Two copies of the same client bytes with different contents arrive
 * before the hole in front of them is filled. */
static void test_overlap_conflict(void **state) {
    (void)state;
    /* FNV-1a 64 reference values (Fowler/Noll/Vo test vectors) */
    assert_true(sn_fnv1a64((const uint8_t *)"", 0) == 0xcbf29ce484222325ull);
    assert_true(sn_fnv1a64((const uint8_t *)"a", 1) == 0xaf63dc4c8601ec8cull);
    set_path("overlap");
    msnsynth_opts opts;
    memset(&opts, 0, sizeof opts);
    msnsynth *w = msnsynth_open(path, &opts);
    assert_non_null(w);
    msnsynth_endpoint c = ep("10.9.2.1", 2000), ns = ep("10.9.2.100", 1863);
    msnsynth_tcp *t = msnsynth_tcp_open(w, &c, &ns, 100, 5000, 1);
    const char *first = "VER 1 MSNP7 CVR0\r\n", *kept = "USR 2 MD5 I a@b.cc\r\n", *other = "USR 2 MD5 I x@y.zz\r\n";
    size_t fl = strlen(first), kl = strlen(kept);
    uint8_t frame[2048];
    uint32_t seq0 = 101; /* ISN 100 + SYN */
    size_t n = msnsynth_frame_tcp(&opts, &c, &ns, seq0 + (uint32_t)fl, 5001, MSNSYNTH_TCP_ACK | MSNSYNTH_TCP_PSH, kept,
                                  kl, frame, sizeof frame);
    assert_true(n > 0);
    assert_int_equal(msnsynth_raw(w, frame, n, n), 0);
    n = msnsynth_frame_tcp(&opts, &c, &ns, seq0 + (uint32_t)fl, 5001, MSNSYNTH_TCP_ACK | MSNSYNTH_TCP_PSH, other, kl,
                           frame, sizeof frame);
    assert_int_equal(msnsynth_raw(w, frame, n, n), 0);
    n = msnsynth_frame_tcp(&opts, &c, &ns, seq0, 5001, MSNSYNTH_TCP_ACK | MSNSYNTH_TCP_PSH, first, fl, frame,
                           sizeof frame);
    assert_int_equal(msnsynth_raw(w, frame, n, n), 0);
    msnsynth_tcp_abandon(t);
    assert_int_equal(msnsynth_close(w), 0);

    seen sn;
    sn_observer o = observer_of(&sn);
    sn_run r;
    assert_int_equal(sn_run_file_observed(path, NULL, &o, &r), 0);
    unlink(path);
    json_t *a = sn_find(r.events, "anomaly", "kind", "overlap_conflict");
    assert_non_null(a);
    assert_string_equal(jstr(a, "direction"), "client");
    assert_int_equal(json_integer_value(json_object_get(a, "offset")), (json_int_t)fl);
    assert_int_equal(json_integer_value(json_object_get(a, "length")), (json_int_t)kl);
    char h1[17], h2[17];
    snprintf(h1, sizeof h1, "%016llx", (unsigned long long)sn_fnv1a64((const uint8_t *)kept, kl));
    snprintf(h2, sizeof h2, "%016llx", (unsigned long long)sn_fnv1a64((const uint8_t *)other, kl));
    assert_string_equal(jstr(a, "first_fnv1a64"), h1);
    assert_string_equal(jstr(a, "second_fnv1a64"), h2);
    assert_int_equal(r.stats.overlap_conflicts, 1);
    assert_int_equal(sn.overlaps, 1);
    assert_int_equal(sn.overlap.offset, fl);
    assert_int_equal(sn.overlap.overlap_len, kl);
    sn_run_free(&r);
}

/* Invitation fields in the MIME header block (no blank line after
 * Content-Type): still correlated and predicted, and flagged. */
static void test_invitation_in_header_block(void **state) {
    (void)state;
    set_path("header");
    msnsynth *w = msnsynth_open(path, NULL);
    assert_non_null(w);
    msnsynth_tcp *ns, *s = alice_session(w, &ns);
    char body[1024], msg[1200];
    snprintf(body, sizeof body,
             "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\n"
             "Application-Name: File Transfer\r\nApplication-GUID: %s\r\nInvitation-Command: INVITE\r\n"
             "Invitation-Cookie: 7777\r\nApplication-File: h.txt\r\nApplication-FileSize: 10\r\n\r\n",
             FT_GUID);
    snprintf(msg, sizeof msg, "MSG 5 N %zu\r\n%s", strlen(body), body);
    send_s(s, 0, msg);
    snprintf(body, sizeof body,
             "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\n"
             "Invitation-Command: ACCEPT\r\nInvitation-Cookie: 7777\r\nIP-Address: 198.51.100.7\r\nPort: 6899\r\n"
             "AuthCookie: 5\r\n\r\n");
    snprintf(msg, sizeof msg, "MSG 6 N %zu\r\n%s", strlen(body), body);
    send_s(s, 0, msg);
    /* bob connects to the announced port */
    msnsynth_endpoint b = ep("203.0.113.50", 3000), a = ep("198.51.100.7", 6899);
    msnsynth_tcp *f = msnsynth_tcp_open(w, &b, &a, 1, 2, 1);
    msnsynth_tcp_close(f, 0);
    msnsynth_tcp_close(s, 0);
    msnsynth_tcp_close(ns, 0);
    assert_int_equal(msnsynth_close(w), 0);

    sn_run r;
    assert_int_equal(sn_run_file(path, NULL, &r), 0);
    unlink(path);
    json_t *inv = sn_find(r.events, "invitation", "cookie", "7777");
    assert_non_null(inv);
    assert_string_equal(jstr(inv, "app"), "file_transfer");
    json_t *acc = sn_find(r.events, "invitation", "command", "ACCEPT");
    assert_non_null(acc);
    assert_int_equal(json_integer_value(json_object_get(acc, "invitation")),
                     json_integer_value(json_object_get(inv, "invitation")));
    json_t *x = expectation_from(r.events, "IP-Address", "198.51.100.7");
    assert_non_null(x);
    assert_int_equal(json_integer_value(json_object_get(x, "port")), 6899);
    json_t *hit = sn_find(r.events, "expectation_hit", "cookie", "7777");
    assert_non_null(hit);
    assert_int_equal(sn_count(r.events, "anomaly") >= 2, 1);
    size_t flagged = 0, i;
    json_t *e;
    json_array_foreach(r.events, i, e) {
        if (strcmp(jstr(e, "event"), "anomaly") == 0 && strcmp(jstr(e, "kind"), "invitation_in_header") == 0) flagged++;
    }
    assert_int_equal(flagged, 2);
    assert_null(sn_find(r.events, "anomaly", "kind", "bad_invitation"));
    assert_int_equal(r.stats.invitations_in_header, 2);
    sn_run_free(&r);
}

/* A live engine with no packets coming: sn_engine_tick lets the
 * predictions expire on time (before sn_engine_finish). */
static void test_tick_expires_without_packets(void **state) {
    (void)state;
    set_path("tick");
    write_origin_capture();
    char err[256];
    sn_capture *cap = sn_capture_open_file(path, err, sizeof err);
    assert_non_null(cap);
    sn_config cfg;
    sn_config_defaults(&cfg);
    cfg.expect_timeout_us = 10u * 1000000u;
    sn_engine *e = sn_engine_new(&cfg);
    assert_non_null(e);
    seen sn;
    sn_observer o = observer_of(&sn);
    assert_int_equal(sn_engine_observe(e, &o), 0);
    sn_frame fr;
    uint64_t last = 0;
    int lt = sn_capture_linktype(cap);
    while (sn_capture_next(cap, &fr, err, sizeof err) == 1) {
        sn_engine_packet(e, lt, fr.ts_us, fr.data, fr.caplen, fr.wirelen);
        last = fr.ts_us;
    }
    sn_capture_close(cap);
    unlink(path);
    assert_int_equal(sn.added, 5);
    assert_int_equal(sn.expired, 0);
    sn_engine_tick(e, last + 5u * 1000000u); /* not due yet */
    assert_int_equal(sn.expired, 0);
    sn_engine_tick(e, last + 12u * 1000000u);
    assert_int_equal(sn.expired, 4); /* the four invitations; the referral was used */
    assert_int_equal(sn.evicted, 0);
    assert_int_equal(sn_engine_expectations(e)->count, 0);
    sn_engine_tick(e, last); /* time never goes back */
    sn_engine_finish(e);
    assert_int_equal(sn.expired, 4);
    sn_engine_free(e);
}

/* ---- transcript ----------------------------------------------------------- */

static void invitation_body(char *body, size_t cap, const char *fields) {
    snprintf(body, cap, "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\n\r\n%s\r\n", fields);
}

/* Both ends of a switchboard session captured: every invitation message
 * is seen leaving one client and reaching the other. The JSON keeps both
 * copies; the transcript shows each message once. */
static void test_transcript_each_invitation_once(void **state) {
    (void)state;
    set_path("transcript");
    msnsynth *w = msnsynth_open(path, NULL);
    assert_non_null(w);
    msnsynth_tcp *ns, *sa = alice_session(w, &ns);
    msnsynth_endpoint bc = ep("203.0.113.50", 3001), sb = ep("64.4.12.2", 1863);
    msnsynth_tcp *sbb = msnsynth_tcp_open(w, &bc, &sb, 7000, 8000, 1);
    send_s(sbb, 0, "ANS 1 bob@example.com 555.666 424242\r\n");
    send_s(sbb, 1, "IRO 1 1 1 alice@example.com Alice\r\n");
    send_s(sbb, 1, "ANS 1 OK\r\n");
    char f[512], body[1024], msg[1200];
    snprintf(f, sizeof f,
             "Application-Name: File Transfer\r\nApplication-GUID: %s\r\nInvitation-Command: INVITE\r\n"
             "Invitation-Cookie: 9090\r\nApplication-File: t.txt\r\nApplication-FileSize: 10",
             FT_GUID);
    invitation_body(body, sizeof body, f);
    snprintf(msg, sizeof msg, "MSG 3 N %zu\r\n%s", strlen(body), body);
    send_s(sa, 0, msg);
    snprintf(msg, sizeof msg, "MSG alice@example.com Alice %zu\r\n%s", strlen(body), body);
    send_s(sbb, 1, msg);
    invitation_body(body, sizeof body,
                    "Invitation-Command: ACCEPT\r\nInvitation-Cookie: 9090\r\n"
                    "IP-Address: 203.0.113.50\r\nPort: 6891\r\nAuthCookie: 77");
    snprintf(msg, sizeof msg, "MSG 2 N %zu\r\n%s", strlen(body), body);
    send_s(sbb, 0, msg);
    snprintf(msg, sizeof msg, "MSG bob@example.com Bob %zu\r\n%s", strlen(body), body);
    send_s(sa, 1, msg);
    msnsynth_tcp_close(sbb, 0);
    msnsynth_tcp_close(sa, 0);
    msnsynth_tcp_close(ns, 0);
    assert_int_equal(msnsynth_close(w), 0);

    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    assert_non_null(fp);
    sn_transcript_sink ts = {.fp = fp};
    sn_observer o = sn_transcript_observer(&ts);
    sn_config cfg;
    sn_config_defaults(&cfg);
    sn_run r;
    assert_int_equal(sn_run_file_observed(path, &cfg, &o, &r), 0);
    unlink(path);
    fclose(fp);
    /* the JSON has both copies of both messages, one invitation */
    assert_int_equal(sn_count(r.events, "invitation"), 4);
    size_t i;
    json_t *e;
    json_array_foreach(r.events, i, e) {
        if (strcmp(jstr(e, "event"), "invitation") == 0)
            assert_int_equal(json_integer_value(json_object_get(e, "invitation")), 1);
    }
    /* the transcript has each once */
    size_t invites = 0, accepts = 0;
    for (const char *p = text; (p = strstr(p, "(cookie 9090)")) != NULL; p++) {
        const char *line = p;
        while (line > text && line[-1] != '\n') line--;
        invites += strstr(line, " INVITE file_transfer ") != NULL && strstr(line, " INVITE file_transfer ") < p;
        accepts += strstr(line, " ACCEPT file_transfer ") != NULL && strstr(line, " ACCEPT file_transfer ") < p;
    }
    assert_int_equal(invites, 1);
    assert_int_equal(accepts, 1);
    assert_non_null(strstr(text, "*** alice@example.com INVITE file_transfer (cookie 9090)"));
    assert_non_null(strstr(text, "*** bob@example.com ACCEPT file_transfer (cookie 9090)"));
    free(text);
    sn_run_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_origin_and_policy),
        cmocka_unit_test(test_server_address_announced_is_forged),
        cmocka_unit_test(test_nft_subscriber),
        cmocka_unit_test(test_host_name_resolved_later),
        cmocka_unit_test(test_ipv4_mapped_address),
        cmocka_unit_test(test_midstream_listener_first),
        cmocka_unit_test(test_user_and_session_bounds),
        cmocka_unit_test(test_global_bound_within_one_second),
        cmocka_unit_test(test_overlap_conflict),
        cmocka_unit_test(test_invitation_in_header_block),
        cmocka_unit_test(test_transcript_each_invitation_once),
        cmocka_unit_test(test_tick_expires_without_packets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
