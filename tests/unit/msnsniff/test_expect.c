/* test_expect.c - the expectation table (expect.c): duplicates, matching
 * by address, port and transport, host names resolved among many, the
 * size bound and lifetimes with the reasons reported to subscribers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"
#include "observer.h"

static sn_expect_proto proto_exp(const char *host, uint16_t port, uint8_t tr, uint64_t group) {
    sn_expect_proto e;
    sn_expect_proto_clear(&e);
    e.host = host;
    e.host_len = strlen(host);
    if (sn_addr_parse(host, strlen(host), &e.addr) != 0) memset(&e.addr, 0, sizeof e.addr);
    e.port = port;
    e.transport = tr;
    e.group = group;
    e.app = "test";
    e.source = "test";
    return e;
}

/* The table's own subscribers: expiries counted by reason. */
static int missed, evicted_seen;
static void count_miss(void *ctx, const sn_expect *e, sn_expect_end why) {
    (void)ctx;
    (void)e;
    missed++;
    evicted_seen += why == SN_END_EVICTED;
}
static sn_observers miss_counter(void) {
    sn_observers s;
    memset(&s, 0, sizeof s);
    sn_observer o = {0};
    o.expect_expired = count_miss;
    sn_observers_add(&s, &o);
    return s;
}

static void test_expectations(void **state) {
    (void)state;
    sn_expect_table t;
    sn_observers obs = miss_counter();
    assert_int_equal(sn_expect_init(&t, 1000, 0, &obs), 0);
    sn_expect_proto p1 = proto_exp("10.0.0.1", 6891, SN_TR_TCP, 1), p2 = proto_exp("10.0.0.1", 0, SN_TR_TCP, 1),
                    p3 = proto_exp("10.0.0.9", 5004, SN_TR_UDP, 2),
                    p4 = proto_exp("sb.example.net", 1863, SN_TR_TCP, 3);
    sn_expect *e1 = sn_expect_add(&t, &p1, 100, NULL), *e2 = sn_expect_add(&t, &p2, 100, NULL);
    sn_expect *e3 = sn_expect_add(&t, &p3, 200, NULL), *e4 = sn_expect_add(&t, &p4, 300, NULL);
    sn_expect *dup;
    assert_null(sn_expect_add(&t, &p1, 150, &dup)); /* the same prediction seen twice */
    assert_ptr_equal(dup, e1);
    sn_addr a;
    sn_addr_parse("10.0.0.1", 8, &a);
    assert_ptr_equal(sn_expect_match(&t, &a, 6891, 6, 500), e1); /* exact port first */
    assert_ptr_equal(sn_expect_match(&t, &a, 7000, 6, 500), e2); /* then any port */
    assert_null(sn_expect_match(&t, &a, 6891, 17, 500));         /* wrong transport */
    sn_addr_parse("10.0.0.9", 8, &a);
    assert_ptr_equal(sn_expect_match(&t, &a, 5004, 17, 500), e3);
    assert_null(sn_expect_match(&t, &a, 5004, 17, 5000)); /* expired by then */
    /* a host name matches once DNS resolved it */
    sn_addr_parse("64.4.12.174", 11, &a);
    assert_null(sn_expect_match(&t, &a, 1863, 6, 500));
    assert_int_equal(sn_expect_resolve(&t, "SB.example.net", 14, &a), 1);
    assert_ptr_equal(sn_expect_match(&t, &a, 1863, 6, 500), e4);
    /* a hit retires its alternatives quietly */
    sn_expect_hit(&t, e1, NULL);
    assert_int_equal(e2->state, SN_EXP_RETIRED);
    missed = 0;
    sn_expect_expire(&t, 1150); /* e1, e2 expire: not misses */
    assert_int_equal(missed, 0);
    sn_expect_expire(&t, UINT64_MAX);
    assert_int_equal(missed, 2); /* e3 and e4 */
    assert_int_equal(t.count, 0);
    sn_expect_free(&t);
}

/* A lifetime changed while running (msngate's reload): new predictions
 * take it, and a shorter one ends the pending ones at it too, in order. */
static void test_timeout_changed(void **state) {
    (void)state;
    sn_expect_table t;
    sn_observers obs = miss_counter();
    assert_int_equal(sn_expect_init(&t, 300000, 0, &obs), 0);
    sn_expect_proto p1 = proto_exp("10.0.0.1", 6891, SN_TR_TCP, 1), p2 = proto_exp("10.0.0.2", 6891, SN_TR_TCP, 2),
                    p3 = proto_exp("10.0.0.3", 6891, SN_TR_TCP, 3), p4 = proto_exp("10.0.0.4", 6891, SN_TR_TCP, 4);
    sn_expect *e1 = sn_expect_add(&t, &p1, 1000, NULL), *e2 = sn_expect_add(&t, &p2, 2000, NULL);
    sn_expect_set_timeout(&t, 20000);
    assert_int_equal(e1->expires, 21000);
    assert_int_equal(e2->expires, 22000);
    sn_expect *e3 = sn_expect_add(&t, &p3, 3000, NULL);
    assert_int_equal(e3->expires, 23000);
    sn_expect_set_timeout(&t, 60000); /* longer: only what comes next */
    sn_expect *e4 = sn_expect_add(&t, &p4, 4000, NULL);
    assert_int_equal(e4->expires, 64000);
    assert_int_equal(e1->expires, 21000);
    missed = 0;
    sn_expect_expire(&t, 23000); /* the three made under 20 s, in their order */
    assert_int_equal(missed, 3);
    assert_int_equal(t.count, 1);
    sn_expect_expire(&t, UINT64_MAX);
    sn_expect_free(&t);
}

/* A switchboard cookie past its prediction's time does not match, even
 * before the once-a-second expiry has removed it. */
static void test_cookie_past_its_time(void **state) {
    (void)state;
    sn_expect_table t;
    sn_observers obs = miss_counter();
    assert_int_equal(sn_expect_init(&t, 1000, 0, &obs), 0);
    sn_expect_proto p = proto_exp("64.4.12.193", 1863, SN_TR_TCP, 0);
    p.cookie = "1.2.3";
    p.cookie_len = 5;
    p.cookie_only = 1; /* a switchboard referral: its login presents the cookie */
    sn_expect_set_clock(&t, 100);
    assert_non_null(sn_expect_add(&t, &p, 100, NULL));
    sn_expect_set_clock(&t, 1100);
    assert_non_null(sn_expect_by_cookie(&t, "1.2.3", 5)); /* at its last moment */
    sn_expect_set_clock(&t, 1101);
    assert_null(sn_expect_by_cookie(&t, "1.2.3", 5));
    sn_expect_expire(&t, UINT64_MAX);
    sn_expect_free(&t);
}

/* The lengths an expectation keeps of its strings are theirs, up to the
 * longest host name and user it takes; the per-user bound counts by the
 * announcing user's (the owner's) length. */
static void test_lengths_kept(void **state) {
    (void)state;
    sn_expect_table t;
    assert_int_equal(sn_expect_init(&t, 1000, 0, NULL), 0);
    t.max_per_user = 1;
    static char host[SN_EXPECT_HOST_MAX + 10], from[SN_EXPECT_USER_MAX + 10];
    memset(host, 'h', sizeof host - 1); /* longer than a name is kept: cut to the longest */
    memset(from, 'f', sizeof from - 1);
    sn_expect_proto p = proto_exp(host, 1863, SN_TR_TCP, 7);
    p.cookie = "12345.67890 and what follows";
    p.cookie_len = 11;
    p.from = from;
    p.from_len = strlen(from);
    p.to = "bob@example.com";
    p.to_len = 15;
    p.owner_is_to = 1;
    sn_expect *e = sn_expect_add(&t, &p, 100, NULL);
    assert_non_null(e);
    assert_int_equal(e->host_len, SN_EXPECT_HOST_MAX - 1);
    assert_int_equal(strlen(e->host), e->host_len);
    assert_int_equal(e->cookie_len, 11);
    assert_string_equal(e->cookie, "12345.67890");
    assert_int_equal(e->from_len, SN_EXPECT_USER_MAX - 1);
    assert_int_equal(strlen(e->from), e->from_len);
    assert_int_equal(e->to_len, 15);
    assert_string_equal(e->to, "bob@example.com");
    /* bob's one outstanding prediction: his next is refused, another user's is not */
    sn_expect_proto q = proto_exp("10.0.0.1", 6891, SN_TR_TCP, 8);
    q.to = "bob@example.com";
    q.to_len = strlen(q.to);
    q.owner_is_to = 1;
    assert_null(sn_expect_add(&t, &q, 100, NULL));
    assert_int_equal(t.dropped_user, 1);
    q.to = "carol@example.com";
    q.to_len = strlen(q.to);
    sn_expect *x = sn_expect_add(&t, &q, 100, NULL);
    assert_non_null(x);
    assert_int_equal(x->host_len, 8);
    assert_int_equal(x->cookie_len, 0);
    assert_string_equal(x->cookie, "");
    assert_int_equal(x->from_len, 0);
    /* a cookie is a C string to whoever reads it: up to a NUL in it */
    q.cookie = "12\0"
               "34";
    q.cookie_len = 5;
    q.group = 10;
    q.to = "dave@example.com";
    q.to_len = strlen(q.to);
    x = sn_expect_add(&t, &q, 100, NULL);
    assert_non_null(x);
    assert_int_equal(x->cookie_len, 2);
    /* a hit frees bob's count: his next prediction is taken */
    sn_expect_hit_info h;
    memset(&h, 0, sizeof h);
    sn_expect_hit(&t, e, &h);
    q.to = "bob@example.com";
    q.to_len = strlen(q.to);
    q.group = 9;
    assert_non_null(sn_expect_add(&t, &q, 100, NULL));
    sn_expect_expire(&t, UINT64_MAX);
    sn_expect_free(&t);
}

/* A DNS answer resolves exactly the pending expectations written with its
 * name, however many others wait: names indexed, not scanned. */
static void test_resolve_among_many(void **state) {
    (void)state;
    enum { N = 20000 };
    sn_expect_table t;
    assert_int_equal(sn_expect_init(&t, 1000000, 0, NULL), 0);
    char host[64];
    /* many expectations waiting on other names, and many already resolved */
    for (unsigned i = 0; i < N; i++) {
        if (i % 2) snprintf(host, sizeof host, "sb%u.example.net", i);
        else snprintf(host, sizeof host, "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        sn_expect_proto p = proto_exp(host, 1863, SN_TR_TCP, 100 + i);
        assert_non_null(sn_expect_add(&t, &p, 100 + i, NULL));
    }
    /* four on the same name, written in different cases, at different times */
    sn_expect_proto q1 = proto_exp("SB7.msgr.hotmail.com", 1863, SN_TR_TCP, 1);
    sn_expect_proto q2 = proto_exp("sb7.MSGR.hotmail.com", 1864, SN_TR_TCP, 2);
    sn_expect_proto q3 = proto_exp("sb7.msgr.hotmail.com", 1865, SN_TR_TCP, 3);
    sn_expect_proto q4 = proto_exp("sb7.msgr.hotmail.com", 1866, SN_TR_TCP, 4);
    sn_expect *e1 = sn_expect_add(&t, &q1, 50000, NULL), *e2 = sn_expect_add(&t, &q2, 50001, NULL);
    sn_expect *e3 = sn_expect_add(&t, &q3, 50002, NULL), *e4 = sn_expect_add(&t, &q4, 50003, NULL);
    assert_non_null(e1);
    assert_non_null(e2);
    assert_non_null(e3);
    assert_non_null(e4);
    sn_expect_hit(&t, e3, NULL); /* spent: not resolved, not matched */
    sn_addr a;
    sn_addr_parse("64.4.12.174", 11, &a);
    assert_null(sn_expect_match(&t, &a, 1863, 6, 60000));
    assert_int_equal(sn_expect_resolve(&t, "sb7.msgr.hotmail.COM", 20, &a), 3);
    assert_true(sn_addr_eq(&e1->addr, &a));
    assert_true(sn_addr_eq(&e2->addr, &a));
    assert_int_equal(e3->addr.family, 0);
    assert_ptr_equal(sn_expect_match(&t, &a, 1863, 6, 60000), e1);
    assert_ptr_equal(sn_expect_match(&t, &a, 1864, 6, 60000), e2);
    assert_null(sn_expect_match(&t, &a, 1865, 6, 60000));
    assert_ptr_equal(sn_expect_match(&t, &a, 1866, 6, 60000), e4);
    /* the others still wait for their own names */
    assert_int_equal(sn_expect_resolve(&t, "sb7.msgr.hotmail.com", 20, &a), 0);
    assert_int_equal(sn_expect_resolve(&t, "nothing.example.net", 19, &a), 0);
    sn_addr b;
    sn_addr_parse("64.4.12.175", 11, &b);
    assert_int_equal(sn_expect_resolve(&t, "sb19999.example.net", 19, &b), 1);
    assert_non_null(sn_expect_match(&t, &b, 1863, 6, 60000));
    /* expectations that expire leave the name index: a later answer
     * resolves only what is still there */
    sn_expect_expire(&t, 1000100 + N / 2);
    assert_true(t.count < N);
    assert_int_equal(sn_expect_resolve(&t, "sb1.example.net", 15, &b), 0);
    assert_int_equal(sn_expect_resolve(&t, "sb19997.example.net", 19, &b), 1);
    sn_expect_expire(&t, UINT64_MAX);
    assert_int_equal(t.count, 0);
    assert_int_equal(t.by_name.count, 0);
    sn_expect_free(&t);
}

/* Spent expectations stay only for the linger; pending ones for their
 * timeout; beyond the size bound the oldest pending is an evicted miss. */
static void test_expectation_lifetimes(void **state) {
    (void)state;
    const uint64_t timeout = 300ull * 1000000u;
    sn_expect_table t;
    sn_observers obs = miss_counter();
    assert_int_equal(sn_expect_init(&t, timeout, 0, &obs), 0);
    assert_int_equal(t.linger, SN_EXPECT_LINGER_US);
    /* a long capture: one invitation a second, each hit a second later */
    uint64_t now = 1000000;
    for (unsigned i = 0; i < 2000; i++, now += 1000000) {
        sn_expect_set_clock(&t, now);
        char host[32];
        snprintf(host, sizeof host, "10.1.%u.%u", i >> 8, i & 255);
        sn_expect_proto p = proto_exp(host, 6891, SN_TR_TCP, i + 1);
        sn_expect_proto alt = proto_exp("192.168.0.2", 6891, SN_TR_TCP, i + 1);
        sn_expect *e = sn_expect_add(&t, &p, now, NULL);
        assert_non_null(e);
        assert_non_null(sn_expect_add(&t, &alt, now, NULL)); /* retired by e's hit */
        if (i > 0) {
            snprintf(host, sizeof host, "10.1.%u.%u", (i - 1) >> 8, (i - 1) & 255);
            sn_addr a;
            sn_addr_parse(host, strlen(host), &a);
            sn_expect *x = sn_expect_match(&t, &a, 6891, 6, now);
            assert_non_null(x);
            sn_expect_hit(&t, x, NULL);
        }
        sn_expect_expire(&t, now);
        /* held: the last linger's worth of spent pairs and the newest pending pair */
        assert_true(t.count <= 2 * (SN_EXPECT_LINGER_US / 1000000u + 2));
    }
    assert_true(t.peak <= 2 * (SN_EXPECT_LINGER_US / 1000000u + 2));
    /* the same prediction seen again within the linger is still recognised */
    sn_expect_proto again = proto_exp("10.1.7.206", 6891, SN_TR_TCP, 1999);
    sn_expect *dup = NULL;
    assert_null(sn_expect_add(&t, &again, now, &dup));
    assert_non_null(dup);
    sn_expect_expire(&t, UINT64_MAX);
    sn_expect_free(&t);

    /* the size bound, on every add (no clock tick in between): the oldest
     * pending go first, reported as evicted */
    assert_int_equal(sn_expect_init(&t, timeout, 10, &obs), 0);
    missed = evicted_seen = 0;
    for (unsigned i = 0; i < 25; i++) {
        char host[32];
        snprintf(host, sizeof host, "10.2.0.%u", i);
        sn_expect_proto p = proto_exp(host, 6891, SN_TR_TCP, i + 1);
        assert_non_null(sn_expect_add(&t, &p, 1000 + i, NULL));
        assert_true(t.count <= 10);
    }
    assert_int_equal(t.peak, 10);
    assert_int_equal(missed, 15);
    assert_int_equal(evicted_seen, 15);
    sn_expect_expire(&t, 2000);
    assert_int_equal(t.count, 10);
    assert_int_equal(missed, 15);
    assert_int_equal(t.evicted, 15);
    sn_addr a;
    sn_addr_parse("10.2.0.14", 9, &a);
    assert_null(sn_expect_match(&t, &a, 6891, 6, 2000));
    sn_addr_parse("10.2.0.15", 9, &a);
    assert_non_null(sn_expect_match(&t, &a, 6891, 6, 2000));
    sn_expect_free(&t);
}

/* sn_expect_find: an expectation by its group and id while it lives
 * (pending, then spent for its linger), in no other group, and not after
 * it is freed; expectations without a group are not found. */
static void test_find_by_group_and_id(void **state) {
    (void)state;
    sn_expect_table t;
    assert_int_equal(sn_expect_init(&t, 60ull * 1000000u, 0, NULL), 0);
    sn_expect_set_clock(&t, 1000);
    sn_expect_proto a = proto_exp("10.3.0.1", 6891, SN_TR_TCP, 7), b = proto_exp("10.3.0.2", 6891, SN_TR_TCP, 7);
    sn_expect_proto c = proto_exp("10.3.0.3", 6891, SN_TR_TCP, 8), nogroup = proto_exp("10.3.0.4", 1863, SN_TR_TCP, 0);
    sn_expect *ea = sn_expect_add(&t, &a, 1000, NULL), *eb = sn_expect_add(&t, &b, 1000, NULL);
    sn_expect *ec = sn_expect_add(&t, &c, 1000, NULL), *en = sn_expect_add(&t, &nogroup, 1000, NULL);
    assert_non_null(ea);
    assert_non_null(eb);
    assert_non_null(ec);
    assert_non_null(en);
    assert_ptr_equal(sn_expect_find(&t, 7, ea->id), ea);
    assert_ptr_equal(sn_expect_find(&t, 7, eb->id), eb);
    assert_ptr_equal(sn_expect_find(&t, 8, ec->id), ec);
    assert_null(sn_expect_find(&t, 8, ea->id)); /* another group */
    assert_null(sn_expect_find(&t, 7, 0));
    assert_null(sn_expect_find(&t, 0, en->id));
    uint64_t ida = ea->id, idb = eb->id;
    /* a's hit retires b; both stay findable for the linger */
    sn_expect_hit(&t, ea, NULL);
    sn_expect_expire(&t, 2000);
    assert_ptr_equal(sn_expect_find(&t, 7, ida), ea);
    assert_ptr_equal(sn_expect_find(&t, 7, idb), eb);
    /* and are freed after it */
    uint64_t later = 2000 + t.linger + 1;
    sn_expect_set_clock(&t, later);
    sn_expect_expire(&t, later);
    assert_null(sn_expect_find(&t, 7, ida));
    assert_null(sn_expect_find(&t, 7, idb));
    assert_ptr_equal(sn_expect_find(&t, 8, ec->id), ec);
    sn_expect_free(&t);
}

/* Switchboard expectations by cookie: a hit one leaves the cookie index
 * at once, so the same cookie predicted again within the linger (a
 * referral repeated) is found, and the index does not keep spent ones. */
static void test_cookie_index_holds_pending_only(void **state) {
    (void)state;
    sn_expect_table t;
    assert_int_equal(sn_expect_init(&t, 60ull * 1000000u, 0, NULL), 0);
    sn_expect_set_clock(&t, 1000);
    sn_expect_proto p = proto_exp("10.4.0.1", 1863, SN_TR_TCP, 0);
    p.cookie_only = 1;
    p.cookie = "1234.5678";
    p.cookie_len = 9;
    sn_expect *e1 = sn_expect_add(&t, &p, 1000, NULL);
    assert_non_null(e1);
    assert_ptr_equal(sn_expect_by_cookie(&t, "1234.5678", 9), e1);
    sn_expect_proto other = p;
    other.cookie = "999.1";
    other.cookie_len = 5;
    sn_expect *e3 = sn_expect_add(&t, &other, 1000, NULL);
    assert_int_equal(msnkit_strmap_count(&t.by_cookie), 2);
    sn_expect_hit(&t, e1, NULL);
    assert_null(sn_expect_by_cookie(&t, "1234.5678", 9));
    assert_int_equal(msnkit_strmap_count(&t.by_cookie), 1); /* e1 left it; e3 is pending */
    sn_expect *e2 = sn_expect_add(&t, &p, 2000, NULL);
    assert_non_null(e2);
    assert_ptr_equal(sn_expect_by_cookie(&t, "1234.5678", 9), e2);
    /* e1's end after its linger leaves e2 indexed */
    uint64_t later = 1000 + t.linger + 1;
    sn_expect_set_clock(&t, later);
    sn_expect_expire(&t, later);
    assert_ptr_equal(sn_expect_by_cookie(&t, "1234.5678", 9), e2);
    assert_ptr_equal(sn_expect_by_cookie(&t, "999.1", 5), e3);
    sn_expect_free(&t);
}

/* What subscribers are told, in order: 'a'dded or 'r'etired (with why),
 * each with the id, application and transport the expectation had. */
typedef struct told {
    char kind;
    sn_expect_end why;
    uint64_t id, replaces;
    const char *app;
    uint8_t transport;
} told;
static told seen[8];
static size_t nseen;
static void tell(char kind, const sn_expect *x, sn_expect_end why) {
    if (nseen < 8) seen[nseen++] = (told){kind, why, x->id, x->replaces, x->app, x->transport};
}
static void on_told_added(void *ctx, const sn_expect *x) {
    (void)ctx;
    tell('a', x, SN_END_EXPIRED);
}
static void on_told_retired(void *ctx, const sn_expect *x, sn_expect_end why) {
    (void)ctx;
    tell('r', x, why);
}

/* An invitation's application learnt after it predicted (its INVITE
 * captured after the ACCEPT): its pending predictions are retired as
 * replaced and added again under new ids with the application and
 * transport, learnt now; a hit one, another group's and one already
 * right are left alone, and the counts keep predicted = hit + missed +
 * retired. */
static void test_reannounced_with_the_application(void **state) {
    (void)state;
    sn_expect_table t;
    sn_observers obs;
    memset(&obs, 0, sizeof obs);
    sn_observer o = {0};
    o.expect_added = on_told_added;
    o.expect_retired = on_told_retired;
    o.expect_expired = count_miss;
    sn_observers_add(&obs, &o);
    assert_int_equal(sn_expect_init(&t, 60ull * 1000000u, 0, &obs), 0);
    sn_expect_set_clock(&t, 1000);
    sn_expect_proto any = proto_exp("10.5.0.1", 0, SN_TR_ANY, 4), port = proto_exp("10.5.0.1", 7207, SN_TR_ANY, 4);
    sn_expect_proto right = proto_exp("10.5.0.2", 7208, SN_TR_UDP, 4),
                    other = proto_exp("10.5.0.3", 7209, SN_TR_ANY, 5);
    any.app = port.app = other.app = "unknown";
    right.app = "voice";
    right.app_class = SN_CLASS_VOICE_VIDEO;
    sn_expect *ea = sn_expect_add(&t, &any, 1000, NULL), *ep = sn_expect_add(&t, &port, 1000, NULL);
    sn_expect *er = sn_expect_add(&t, &right, 1000, NULL), *eo = sn_expect_add(&t, &other, 1000, NULL);
    assert_non_null(ea);
    assert_non_null(ep);
    assert_non_null(er);
    assert_non_null(eo);
    uint64_t old_any = ea->id, old_port = ep->id, right_id = er->id, other_id = eo->id;
    nseen = 0;
    assert_int_equal(sn_expect_reannounce(&t, 4, "voice", SN_CLASS_VOICE_VIDEO, SN_TR_UDP, 5000), 2);
    assert_int_equal(nseen, 4);
    /* the old one is told retired as it was, then the new one added */
    for (size_t k = 0; k < 4; k += 2) {
        assert_int_equal(seen[k].kind, 'r');
        assert_int_equal(seen[k].why, SN_END_REPLACED);
        assert_string_equal(seen[k].app, "unknown");
        assert_int_equal(seen[k].transport, SN_TR_ANY);
        assert_int_equal(seen[k + 1].kind, 'a');
        assert_int_equal(seen[k + 1].replaces, seen[k].id);
        assert_true(seen[k + 1].id > other_id);
        assert_string_equal(seen[k + 1].app, "voice");
        assert_int_equal(seen[k + 1].transport, SN_TR_UDP);
    }
    assert_true((seen[0].id == old_any && seen[2].id == old_port) || (seen[0].id == old_port && seen[2].id == old_any));
    assert_string_equal(sn_expect_end_name(SN_END_REPLACED), "replaced");
    assert_int_equal(er->id, right_id); /* already right */
    assert_int_equal(eo->id, other_id); /* another invitation's */
    assert_string_equal(eo->app, "unknown");
    assert_int_equal(ep->learned, 5000);
    assert_int_equal(ep->expires, 5000 + 60ull * 1000000u);
    assert_int_equal(t.added, 6);
    assert_int_equal(t.retired, 2);
    /* the expiry queue stays in order: those learnt at 1000 end first,
     * the two announced again at 5000 live on */
    missed = 0;
    sn_expect_expire(&t, 1000 + 60ull * 1000000u);
    assert_int_equal(missed, 2);
    assert_int_equal(t.count, 2);
    /* a UDP datagram to the announced port is now the voice prediction */
    sn_addr a;
    sn_addr_parse("10.5.0.1", 8, &a);
    sn_expect *x = sn_expect_match(&t, &a, 7207, 17, 6000);
    assert_ptr_equal(x, ep);
    assert_int_equal(x->replaces, old_port);
    assert_null(sn_expect_match(&t, &a, 7207, 6, 6000)); /* TCP is not a voice connection */
    /* once one is hit, the rest of the group (not pending) stays as it is */
    sn_expect_hit(&t, x, NULL);
    nseen = 0;
    assert_int_equal(sn_expect_reannounce(&t, 4, "video", SN_CLASS_VOICE_VIDEO, SN_TR_UDP, 7000), 0);
    assert_int_equal(nseen, 0);
    sn_expect_expire(&t, UINT64_MAX);
    assert_int_equal(t.added, t.hits + t.misses + t.retired);
    sn_expect_free(&t);
}

/* Expectations that fit a slot are kept in slabs, and a freed slot is
 * taken again by a later add; a large one is allocated on its own. Each
 * keeps its strings whichever way it was allocated. */
static void test_slots_reused(void **state) {
    (void)state;
    enum { N = 150 };
    static sn_expect *first[N];
    sn_expect_table t;
    assert_int_equal(sn_expect_init(&t, 1000, 0, NULL), 0);
    t.max_per_session = t.max_per_user = 0;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) {
            char host[32];
            snprintf(host, sizeof host, "10.0.%d.%d", i / 200, i % 200 + 1);
            sn_expect_proto p = proto_exp(host, (uint16_t)(1000 + round), SN_TR_TCP, (uint64_t)i + 1);
            static char longf[SN_EXPECT_USER_MAX], longt[SN_EXPECT_USER_MAX];
            char from[32];
            if (i % 50 == 7) { /* too large for a slot */
                memset(longf, 'f', sizeof longf - 1);
                memset(longt, 't', sizeof longt - 1);
                p.from = longf;
                p.from_len = sizeof longf - 1;
                p.to = longt;
                p.to_len = sizeof longt - 1;
                p.cookie = "a cookie a little longer than most of them are";
                p.cookie_len = strlen(p.cookie);
            } else {
                snprintf(from, sizeof from, "u%d@example.com", i);
                p.from = from;
                p.from_len = strlen(from);
            }
            sn_expect *e = sn_expect_add(&t, &p, 100 + (uint64_t)round * 10000, NULL);
            assert_non_null(e);
            assert_string_equal(e->host, host);
            assert_int_equal(e->port, 1000 + round);
            if (i % 50 == 7) {
                assert_int_equal(e->from_len, SN_EXPECT_USER_MAX - 1);
                assert_int_equal(strlen(e->to), SN_EXPECT_USER_MAX - 1);
                assert_string_equal(e->cookie, "a cookie a little longer than most of them are");
            } else {
                assert_string_equal(e->from, from);
            }
            if (round == 0) {
                first[i] = e;
            } else if (i % 50 != 7) { /* a slot freed in the first round */
                int found = 0;
                for (int j = 0; j < N; j++) found |= first[j] == e;
                assert_true(found);
            }
        }
        assert_int_equal(t.count, N);
        sn_expect_expire(&t, 100 + (uint64_t)round * 10000 + 1000);
        assert_int_equal(t.count, 0);
    }
    sn_expect_free(&t);
}

/* The per-user count is kept by one slot per user that has pending
 * predictions: a prediction refused by the session bound leaves no slot
 * for its user, and one that evicts the user's only other prediction
 * (the global bound) is still counted. */
static void test_user_counts(void **state) {
    (void)state;
    sn_expect_table t;
    assert_int_equal(sn_expect_init(&t, 1000, 2, NULL), 0);
    t.max_per_session = 1;
    sn_expect_proto p = proto_exp("10.0.0.1", 6891, SN_TR_TCP, 1);
    p.to = "bob@example.com";
    p.to_len = strlen(p.to);
    p.owner_is_to = 1;
    p.session = 5;
    assert_non_null(sn_expect_add(&t, &p, 100, NULL));
    assert_int_equal((uintptr_t)sn_strmap_get(&t.pending_by_user, p.to, p.to_len), 1);
    /* carol's first, refused by the session's bound: no count of hers */
    sn_expect_proto q = proto_exp("10.0.0.2", 6891, SN_TR_TCP, 2);
    q.to = "carol@example.com";
    q.to_len = strlen(q.to);
    q.owner_is_to = 1;
    q.session = 5;
    assert_null(sn_expect_add(&t, &q, 100, NULL));
    assert_int_equal(t.dropped_session, 1);
    assert_null(sn_strmap_get(&t.pending_by_user, q.to, q.to_len));
    assert_int_equal(msnkit_strmap_count(&t.pending_by_user), 1);
    /* in another session: counted */
    q.session = 6;
    assert_non_null(sn_expect_add(&t, &q, 100, NULL));
    assert_int_equal((uintptr_t)sn_strmap_get(&t.pending_by_user, q.to, q.to_len), 1);
    /* the table is full: bob's next evicts bob's oldest (the table's
     * oldest), whose count falls to 0 on the way, and is counted */
    p.group = 3;
    p.session = 7;
    p.host = "10.0.0.3";
    p.host_len = 8;
    assert_non_null(sn_expect_add(&t, &p, 200, NULL));
    assert_int_equal(t.evicted, 1);
    assert_int_equal((uintptr_t)sn_strmap_get(&t.pending_by_user, p.to, p.to_len), 1);
    assert_int_equal((uintptr_t)sn_strmap_get(&t.pending_by_user, q.to, q.to_len), 1);
    assert_null(sn_u64map_get(&t.pending_by_session, 5));
    assert_int_equal((uintptr_t)sn_u64map_get(&t.pending_by_session, 7), 1);
    /* two of one user: the first to leave lowers the count, the last takes it out */
    p.group = 5;
    p.session = 6;
    t.max = 10;
    t.max_per_session = 4;
    sn_expect *two = sn_expect_add(&t, &p, 250, NULL);
    assert_non_null(two);
    assert_int_equal((uintptr_t)sn_strmap_get(&t.pending_by_user, p.to, p.to_len), 2);
    assert_int_equal((uintptr_t)sn_u64map_get(&t.pending_by_session, 6), 2);
    sn_expect_hit_info h;
    memset(&h, 0, sizeof h);
    sn_expect_hit(&t, two, &h);
    assert_int_equal((uintptr_t)sn_strmap_get(&t.pending_by_user, p.to, p.to_len), 1);
    assert_int_equal((uintptr_t)sn_u64map_get(&t.pending_by_session, 6), 1);
    /* over the user's bound: refused, the count as it was */
    t.max_per_user = 1;
    p.group = 4;
    p.session = 8;
    assert_null(sn_expect_add(&t, &p, 300, NULL));
    assert_int_equal(t.dropped_user, 1);
    assert_int_equal((uintptr_t)sn_strmap_get(&t.pending_by_user, p.to, p.to_len), 1);
    sn_expect_expire(&t, UINT64_MAX);
    assert_int_equal(msnkit_strmap_count(&t.pending_by_user), 0);
    sn_expect_free(&t);
}

/* An expectation's host, cookie and users are stored whole and terminated
 * at every length around the copy's steps (4, 8, 16, 32 bytes), each right
 * after the one before it, from sources of exactly their length (ASan). */
static void test_strings_at_every_length(void **state) {
    (void)state;
    sn_expect_table t;
    assert_int_equal(sn_expect_init(&t, 1000, 0, NULL), 0);
    char src[48]; /* the last string, to, starts 3 bytes in: 39 + 3 bytes */
    for (int i = 0; i < 48; i++) src[i] = (char)('a' + i % 26);
    for (size_t n = 0; n < 40; n++) {
        char *host = malloc(n + 1), *cookie = malloc(n ? n : 1), *from = malloc(n ? n : 1), *to = malloc(n ? n : 1);
        assert_true(host && cookie && from && to);
        memcpy(host, src, n);
        host[n] = '\0';
        memcpy(cookie, src + 1, n ? n - 1 : 0);
        if (n) cookie[n - 1] = 'C';
        memcpy(from, src + 2, n ? n - 1 : 0);
        if (n) from[n - 1] = 'F';
        memcpy(to, src + 3, n ? n - 1 : 0);
        if (n) to[n - 1] = 'T';
        sn_expect_proto p = proto_exp(host, (uint16_t)(1000 + n), SN_TR_TCP, 0);
        p.cookie = n ? cookie : NULL;
        p.cookie_len = n;
        p.from = from;
        p.from_len = n;
        p.to = to;
        p.to_len = n;
        sn_expect *e = sn_expect_add(&t, &p, 100, NULL);
        assert_non_null(e);
        assert_int_equal(e->host_len, n);
        assert_memory_equal(e->host, host, n);
        assert_int_equal(e->host[n], '\0');
        assert_int_equal(e->cookie_len, n);
        if (n) assert_memory_equal(e->cookie, cookie, n);
        assert_int_equal(e->cookie[n], '\0');
        assert_int_equal(e->from_len, n);
        if (n) assert_memory_equal(e->from, from, n);
        assert_int_equal(e->from[n], '\0');
        assert_int_equal(e->to_len, n);
        if (n) assert_memory_equal(e->to, to, n);
        assert_int_equal(e->to[n], '\0');
        free(host);
        free(cookie);
        free(from);
        free(to);
    }
    sn_expect_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expectations),
        cmocka_unit_test(test_timeout_changed),
        cmocka_unit_test(test_cookie_past_its_time),
        cmocka_unit_test(test_lengths_kept),
        cmocka_unit_test(test_resolve_among_many),
        cmocka_unit_test(test_expectation_lifetimes),
        cmocka_unit_test(test_find_by_group_and_id),
        cmocka_unit_test(test_cookie_index_holds_pending_only),
        cmocka_unit_test(test_reannounced_with_the_application),
        cmocka_unit_test(test_slots_reused),
        cmocka_unit_test(test_user_counts),
        cmocka_unit_test(test_strings_at_every_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
