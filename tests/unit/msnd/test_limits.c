/* Throttles (ratelimit.h), the switchboard cookie registry (sbreg.h) and
 * the pooled random bytes behind challenges (randpool.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "config.h"
#include "randpool.h"
#include "ratelimit.h"
#include "sbreg.h"

static void test_bucket(void **state) {
    (void)state;
    token_bucket b = {0, 0};
    int ok = 0;
    for (int i = 0; i < 10; i++) ok += bucket_take(&b, 1000, 5, 5);
    assert_int_equal(ok, 5);
    assert_true(bucket_take(&b, 1200, 5, 5)); /* 0.2 s at 5/s = one token */
    assert_false(bucket_take(&b, 1200, 5, 5));
    token_bucket u = {0, 0};
    for (int i = 0; i < 1000; i++) assert_true(bucket_take(&u, 1, 0, 1)); /* 0 = unlimited */
}

/* Limits that protect the server are on unless switched off. */
static void test_protective_defaults(void **state) {
    (void)state;
    msnd_config c;
    config_defaults(&c);
    assert_true(c.ns_idle_timeout >= 120); /* several PNG periods */
    assert_true(c.tcp_keepalive > 0);
    assert_true(c.max_connections > 0);
    assert_true(c.max_connections_per_address > 0);
    assert_true(c.max_output_before_login <= 64 * 1024);
    assert_true(c.max_output_total > 0);
    assert_true(c.max_xfr_cookies_per_user > 0);
    assert_true(c.max_switchboards_per_user > 0);
}

static void test_failure_sources(void **state) {
    (void)state;
    char out[64];
    failures_source("127.0.0.2", out, sizeof out);
    assert_string_equal(out, "127.0.0.2");
    failures_source("2001:db8:1:2:aaaa:bbbb:cccc:dddd", out, sizeof out);
    assert_string_equal(out, "2001:db8:1:2::/64");
    failures_source("2001:db8:1:2::1", out, sizeof out);
    assert_string_equal(out, "2001:db8:1:2::/64");
    failures_source("::1", out, sizeof out);
    assert_string_equal(out, "::/64");
    /* IPv4 clients of a dual-stack listener: each its own address */
    failures_source("::ffff:127.0.0.2", out, sizeof out);
    assert_string_equal(out, "127.0.0.2");
    failures_source("::ffff:192.0.2.7", out, sizeof out);
    assert_string_equal(out, "192.0.2.7");
}

static void test_failures(void **state) {
    (void)state;
    failure_window *w = failures_new(3, 60, 1, 300);
    assert_non_null(w);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(failures_blocked(w, "k", 1000), 0);
        assert_int_equal(failures_record(w, "k", 1000), 0);
    }
    /* the third failure blocks for 1 s, each further one twice as long */
    assert_int_equal(failures_record(w, "k", 1000), 1000);
    assert_int_equal(failures_blocked(w, "k", 1500), 500);
    assert_int_equal(failures_blocked(w, "other", 1000), 0);
    assert_int_equal(failures_blocked(w, "k", 2000), 0);
    assert_int_equal(failures_record(w, "k", 2000), 2000);
    assert_int_equal(failures_record(w, "k", 4000), 4000);
    /* capped at the maximum, and waiting out a block does not reset it */
    uint64_t t = 8000;
    for (int i = 0; i < 20; i++) t += failures_record(w, "k", t);
    assert_int_equal(failures_record(w, "k", t), 300000);
    t += 300000;
    assert_int_equal(failures_blocked(w, "k", t), 0);
    assert_int_equal(failures_sweep(w, t + 59999), 1);
    /* forgotten a window after the block ended */
    assert_int_equal(failures_sweep(w, t + 60000), 0);
    assert_int_equal(failures_record(w, "k", t + 60000), 0);
    /* a success forgets the key */
    failures_clear(w, "k");
    assert_int_equal(failures_sweep(w, 0), 0);
    failures_free(w);
    failure_window *off = failures_new(0, 60, 1, 300);
    failures_record(off, "k", 1);
    assert_int_equal(failures_blocked(off, "k", 1), 0);
    failures_free(off);
}

static void test_cookies(void **state) {
    (void)state;
    sbreg *r = sbreg_new();
    char c1[SB_COOKIE_MAX], c2[SB_COOKIE_MAX];
    assert_int_equal(sbreg_issue(r, "a@x.com", 0, 5000, c1, sizeof c1), 0);
    assert_int_equal(sbreg_issue(r, "a@x.com", 0, 5000, c2, sizeof c2), 0);
    assert_string_not_equal(c1, c2);
    assert_int_equal(sbreg_redeem(r, c1, "b@x.com", 0, 1000), SBREG_REFUSED); /* wrong user */
    assert_int_equal(sbreg_redeem(r, c1, "a@x.com", 0, 1000), SBREG_UNKNOWN); /* burnt */
    assert_int_equal(sbreg_redeem(r, c2, "a@x.com", 0, 6000), SBREG_REFUSED); /* expired */
    assert_int_equal(sbreg_issue(r, "a@x.com", 0, 5000, c1, sizeof c1), 0);
    assert_int_equal(sbreg_redeem(r, c1, "a@x.com", 7, 1000), SBREG_REFUSED); /* wrong session */
    assert_int_equal(sbreg_issue(r, "a@x.com", 0, 5000, c1, sizeof c1), 0);
    assert_int_equal(sbreg_redeem(r, c1, "a@x.com", 0, 1000), 0);
    assert_int_equal(sbreg_redeem(r, c1, "a@x.com", 0, 1000), SBREG_UNKNOWN);      /* single use */
    assert_int_equal(sbreg_redeem(r, "1.2.3", "a@x.com", 0, 1000), SBREG_UNKNOWN); /* never issued */
    assert_int_equal(sbreg_issue(r, "a@x.com", 0, 5000, c1, sizeof c1), 0);
    sbreg_sweep(r, 10000);
    assert_int_equal(sbreg_cookie_count(r), 0);
    sbreg_free(r);
}

/* XFR SB cookies count against their user until used, cancelled or
 * expired; RNG cookies do not. */
static void test_xfr_cookies_per_user(void **state) {
    (void)state;
    sbreg *r = sbreg_new();
    char c1[SB_COOKIE_MAX], c2[SB_COOKIE_MAX], c3[SB_COOKIE_MAX];
    assert_int_equal(sbreg_issue(r, "a@x.com", 0, 5000, c1, sizeof c1), 0);
    assert_int_equal(sbreg_issue(r, "a@x.com", 0, 9000, c2, sizeof c2), 0);
    assert_int_equal(sbreg_issue(r, "a@x.com", 42, 5000, c3, sizeof c3), 0);
    assert_int_equal(sbreg_xfr_outstanding(r, "a@x.com"), 2);
    assert_int_equal(sbreg_xfr_outstanding(r, "b@x.com"), 0);
    assert_int_equal(sbreg_redeem(r, c1, "b@x.com", 0, 1000), SBREG_REFUSED); /* burnt all the same */
    assert_int_equal(sbreg_xfr_outstanding(r, "a@x.com"), 1);
    sbreg_sweep(r, 9000);
    assert_int_equal(sbreg_xfr_outstanding(r, "a@x.com"), 0);
    assert_int_equal(sbreg_issue(r, "a@x.com", 0, 5000, c1, sizeof c1), 0);
    sbreg_cancel(r, c1);
    assert_int_equal(sbreg_xfr_outstanding(r, "a@x.com"), 0);
    sbreg_free(r);
}

/* XFR SB cookies end with the notification session they were issued to;
 * another session's of the same user, RNG cookies and other users' stay. */
static void test_xfr_cookies_end_with_session(void **state) {
    (void)state;
    sbreg *r = sbreg_new();
    char old1[SB_COOKIE_MAX], old2[SB_COOKIE_MAX], mine[SB_COOKIE_MAX], other[SB_COOKIE_MAX], rng[SB_COOKIE_MAX];
    assert_int_equal(sbreg_issue_xfr(r, "a@x.com", 7, 5000, old1, sizeof old1), 0);
    assert_int_equal(sbreg_issue_xfr(r, "a@x.com", 7, 5000, old2, sizeof old2), 0);
    assert_int_equal(sbreg_issue_xfr(r, "a@x.com", 8, 5000, mine, sizeof mine), 0);
    assert_int_equal(sbreg_issue_xfr(r, "b@x.com", 7, 5000, other, sizeof other), 0);
    assert_int_equal(sbreg_issue(r, "a@x.com", 42, 5000, rng, sizeof rng), 0);
    sbreg_xfr_end(r, "a@x.com", 7);
    assert_int_equal(sbreg_xfr_outstanding(r, "a@x.com"), 1);
    assert_int_equal(sbreg_cookie_count(r), 3);
    assert_int_equal(sbreg_redeem(r, old1, "a@x.com", 0, 1000), SBREG_UNKNOWN);
    assert_int_equal(sbreg_redeem(r, old2, "a@x.com", 0, 1000), SBREG_UNKNOWN);
    assert_int_equal(sbreg_redeem(r, mine, "a@x.com", 0, 1000), 0);
    assert_int_equal(sbreg_redeem(r, other, "b@x.com", 0, 1000), 0);
    assert_int_equal(sbreg_redeem(r, rng, "a@x.com", 42, 1000), 0);
    sbreg_xfr_end(r, "a@x.com", 8); /* nothing left: a no-op */
    assert_int_equal(sbreg_cookie_count(r), 0);
    sbreg_free(r);
}

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A session's end finds its unused XFR SB cookies among its user's own:
 * it walked the whole table of everyone's, so 2000 session ends among
 * 50000 other cookies took seconds of CPU (about 3 s in a release build);
 * now milliseconds, far below the bound even under sanitizers. */
static void test_xfr_end_costs_the_users_own_cookies(void **state) {
    (void)state;
    sbreg *r = sbreg_new();
    char ck[SB_COOKIE_MAX], email[32];
    for (unsigned i = 0; i < 50000; i++) {
        snprintf(email, sizeof email, "u%u@x.com", i % 5000);
        assert_int_equal(sbreg_issue_xfr(r, email, i % 5000 + 1, 5000, ck, sizeof ck), 0);
    }
    double t0 = cpu_seconds();
    for (uint64_t owner = 10000; owner < 12000; owner++) {
        assert_int_equal(sbreg_issue_xfr(r, "a@x.com", owner, 5000, ck, sizeof ck), 0);
        sbreg_xfr_end(r, "a@x.com", owner);
    }
    double spent = cpu_seconds() - t0;
    assert_int_equal(sbreg_xfr_outstanding(r, "a@x.com"), 0);
    assert_int_equal(sbreg_xfr_outstanding(r, "u7@x.com"), 10);
    assert_int_equal(sbreg_cookie_count(r), 50000);
    sbreg_xfr_end(r, "u7@x.com", 8); /* one user's session: its 10 cookies alone */
    assert_int_equal(sbreg_xfr_outstanding(r, "u7@x.com"), 0);
    assert_int_equal(sbreg_cookie_count(r), 49990);
    sbreg_free(r);
    if (spent > 1.0) fail_msg("2000 session ends took %.2f s of CPU", spent);
}

/* Cookies carry 80 random bits: 32.32.16. Over 4000 cookies every one of
 * those bits is seen both set and clear (a fixed bit would survive that
 * by chance with probability 2^-3999), and no field is ever wider. */
static void test_cookie_entropy(void **state) {
    (void)state;
    sbreg *r = sbreg_new();
    uint64_t seen_set[3] = {0, 0, 0}, seen_clear[3] = {0, 0, 0};
    for (int i = 0; i < 4000; i++) {
        char ck[SB_COOKIE_MAX];
        assert_int_equal(sbreg_issue(r, "a@x.com", 7, 5000, ck, sizeof ck), 0);
        unsigned long long f[3];
        char tail;
        assert_int_equal(sscanf(ck, "%llu.%llu.%llu%c", &f[0], &f[1], &f[2], &tail), 3);
        assert_true(f[0] <= 0xffffffffull && f[1] <= 0xffffffffull && f[2] <= 0xffffull);
        for (int k = 0; k < 3; k++) {
            seen_set[k] |= f[k];
            seen_clear[k] |= ~f[k];
        }
        sbreg_cancel(r, ck);
    }
    assert_true(seen_set[0] == 0xffffffffull && (seen_clear[0] & 0xffffffffull) == 0xffffffffull);
    assert_true(seen_set[1] == 0xffffffffull && (seen_clear[1] & 0xffffffffull) == 0xffffffffull);
    assert_true(seen_set[2] == 0xffffull && (seen_clear[2] & 0xffffull) == 0xffffull);
    sbreg_free(r);
}

/* Session ids are random in [SB_SESSION_ID_MIN, SB_SESSION_ID_MAX): of
 * 2000 sessions opened one after another, hardly two in a row are within
 * 1000 of each other (sequential ids all are; random ones with
 * probability 5e-7 per pair, so the bound of 20 cannot be reached by
 * chance), and ids above 2^31 make up their share (expected 928, sd 22). */
static void test_session_ids_are_random(void **state) {
    (void)state;
    sbreg *r = sbreg_new();
    enum { N = 2000 };
    static sb_session *open[N];
    int close_pairs = 0, high = 0;
    for (int i = 0; i < N; i++) {
        open[i] = sbreg_session_new(r);
        assert_non_null(open[i]);
        uint32_t id = open[i]->id;
        assert_true(id >= SB_SESSION_ID_MIN && id < SB_SESSION_ID_MAX);
        if (id >= 2147483648u) high++;
        if (i > 0) {
            uint32_t prev = open[i - 1]->id;
            uint32_t d = id > prev ? id - prev : prev - id;
            if (d < 1000) close_pairs++;
        }
    }
    assert_true(close_pairs <= 20);
    assert_true(high >= 600 && high <= 1200);
    for (int i = 0; i < N; i++) {
        conn a;
        memset(&a, 0, sizeof a);
        strcpy(a.email, "a@x.com");
        assert_int_equal(sbreg_join(r, open[i], &a), 0);
        sbreg_leave(r, open[i], &a); /* frees the session */
    }
    assert_int_equal(sbreg_session_count(r), 0);
    sbreg_free(r);
}

/* randpool_digits: every digit equally likely. 200000 digits, 20000
 * expected of each, standard deviation 134: the bounds are 11 deviations
 * away. A digit from a 4-bit value taken modulo 10 comes up 25000 or
 * 12500 times and fails. */
static void test_uniform_digits(void **state) {
    (void)state;
    long count[10] = {0};
    char buf[1001];
    for (int round = 0; round < 200; round++) {
        assert_int_equal(randpool_digits(buf, 1000), 0);
        assert_int_equal(strlen(buf), 1000);
        for (int i = 0; i < 1000; i++) {
            assert_true(buf[i] >= '0' && buf[i] <= '9');
            count[buf[i] - '0']++;
        }
    }
    for (int d = 0; d < 10; d++) assert_true(count[d] > 18500 && count[d] < 21500);
    uint32_t v;
    long low = 0;
    for (int i = 0; i < 100000; i++) {
        assert_int_equal(randpool_uniform(3000000000u, &v), 0);
        assert_true(v < 3000000000u);
        if (v < 1000000000u) low++;
    }
    /* a third below 1e9 (sd 149); plain modulo would give 0.47 of them */
    assert_true(low > 31500 && low < 35200);
}

static void test_sessions(void **state) {
    (void)state;
    sbreg *r = sbreg_new();
    sb_session *ss = sbreg_session_new(r);
    assert_non_null(ss);
    uint32_t id = ss->id;
    conn a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    strcpy(a.email, "a@x.com");
    strcpy(b.email, "b@x.com");
    assert_int_equal(sbreg_join(r, ss, &a), 0);
    assert_int_equal(sbreg_join(r, ss, &b), 0);
    assert_int_equal(sbreg_user_switchboards(r, "a@x.com"), 1);
    assert_int_equal(sbreg_ring_add(ss, "c@x.com", "1.2.3", 5000), 0);
    assert_true(sbreg_ringing(ss, "c@x.com", 1000));
    assert_false(sbreg_ringing(ss, "c@x.com", 6000));
    assert_int_equal(sbreg_ring_count(ss, 1000), 1);
    char ck[SB_COOKIE_MAX];
    assert_int_equal(sbreg_issue(r, "c@x.com", id, 5000, ck, sizeof ck), 0);
    assert_int_equal(sbreg_redeem(r, ck, "c@x.com", id, 1000), 0);
    assert_false(sbreg_ringing(ss, "c@x.com", 1000)); /* redeeming ends the ring */
    sbreg_leave(r, ss, &a);
    assert_int_equal(sbreg_user_switchboards(r, "a@x.com"), 0);
    assert_ptr_equal(sbreg_session_find(r, id), ss);
    sbreg_leave(r, ss, &b);
    assert_null(sbreg_session_find(r, id)); /* last one out frees it */
    assert_int_equal(sbreg_session_count(r), 0);
    sbreg_free(r);
}

/* A user's switchboard connections, for closing a deleted account's: its
 * own in every session, followed through joins and leaves. */
static void test_user_members(void **state) {
    (void)state;
    sbreg *r = sbreg_new();
    sb_session *s1 = sbreg_session_new(r), *s2 = sbreg_session_new(r);
    assert_non_null(s1);
    assert_non_null(s2);
    conn a1, a2, b;
    memset(&a1, 0, sizeof a1);
    memset(&a2, 0, sizeof a2);
    memset(&b, 0, sizeof b);
    strcpy(a1.email, "a@x.com");
    strcpy(a2.email, "a@x.com");
    strcpy(b.email, "b@x.com");
    assert_int_equal(sbreg_join(r, s1, &a1), 0);
    assert_int_equal(sbreg_join(r, s1, &b), 0);
    assert_int_equal(sbreg_join(r, s2, &a2), 0);
    size_t n;
    conn *const *v = sbreg_user_members(r, "a@x.com", &n);
    assert_int_equal(n, 2);
    assert_true((v[0] == &a1 && v[1] == &a2) || (v[0] == &a2 && v[1] == &a1));
    v = sbreg_user_members(r, "b@x.com", &n);
    assert_int_equal(n, 1);
    assert_ptr_equal(v[0], &b);
    sbreg_leave(r, s1, &a1);
    v = sbreg_user_members(r, "a@x.com", &n);
    assert_int_equal(n, 1);
    assert_ptr_equal(v[0], &a2);
    assert_int_equal(sbreg_user_switchboards(r, "a@x.com"), 1);
    sbreg_leave(r, s2, &a2);
    sbreg_user_members(r, "a@x.com", &n);
    assert_int_equal(n, 0);
    assert_int_equal(sbreg_user_switchboards(r, "a@x.com"), 0);
    sbreg_leave(r, s1, &b);
    assert_int_equal(sbreg_session_count(r), 0);
    sbreg_free(r);
}

/* A ring ends with the callee's notification session it went to: in every
 * switchboard session, its cookie withdrawn; a ring to another session of
 * the same account, or one another node made, stays. */
static void test_rings_end_with_callee_session(void **state) {
    (void)state;
    sbreg *r = sbreg_new();
    sb_session *s1 = sbreg_session_new(r), *s2 = sbreg_session_new(r);
    assert_non_null(s1);
    assert_non_null(s2);
    char c1[SB_COOKIE_MAX], c2[SB_COOKIE_MAX], c3[SB_COOKIE_MAX];
    assert_int_equal(sbreg_issue(r, "b@x.com", s1->id, 5000, c1, sizeof c1), 0);
    assert_int_equal(sbreg_issue(r, "b@x.com", s2->id, 5000, c2, sizeof c2), 0);
    assert_int_equal(sbreg_issue(r, "c@x.com", s2->id, 5000, c3, sizeof c3), 0);
    assert_int_equal(sbreg_ring_add(s1, "b@x.com", c1, 5000), 0);
    assert_int_equal(sbreg_ring_add(s2, "b@x.com", c2, 5000), 0);
    assert_int_equal(sbreg_ring_add(s2, "c@x.com", c3, 5000), 0);
    sbreg_ring_bind(s1, "b@x.com", 7);
    sbreg_ring_bind(s2, "b@x.com", 8); /* a newer session of b */
    assert_int_equal(sbreg_user_rings(r, "b@x.com"), 2);
    sbreg_rings_end(r, "b@x.com", 7);
    assert_false(sbreg_ringing(s1, "b@x.com", 1000));
    assert_true(sbreg_ringing(s2, "b@x.com", 1000));
    assert_int_equal(sbreg_user_rings(r, "b@x.com"), 1);
    assert_int_equal(sbreg_redeem(r, c1, "b@x.com", s1->id, 1000), SBREG_UNKNOWN); /* withdrawn */
    sbreg_rings_end(r, "c@x.com", 0);                                              /* rung through another node */
    assert_false(sbreg_ringing(s2, "c@x.com", 1000));
    assert_int_equal(sbreg_user_rings(r, "c@x.com"), 0);
    sbreg_sweep(r, 6000); /* expiry counts down too */
    assert_int_equal(sbreg_user_rings(r, "b@x.com"), 0);
    assert_int_equal(sbreg_cookie_count(r), 0);
    sbreg_free(r);
}

/* RNG cookies carry the invitee's name (told by the notification side
 * after the ring went out); a failed ring withdraws its cookie. */
static void test_ring_cookie_names(void **state) {
    (void)state;
    sbreg *r = sbreg_new();
    char ck[SB_COOKIE_MAX], name[64];
    assert_int_equal(sbreg_issue(r, "c@x.com", 42, 5000, ck, sizeof ck), 0);
    assert_int_equal(sbreg_set_name(r, ck, "Carol%20C"), 0);
    assert_int_equal(sbreg_set_name(r, ck, "Carol"), 0); /* replaced, not leaked */
    assert_int_equal(sbreg_set_name(r, "1.2.3", "x"), -1);
    strcpy(name, "junk");
    assert_int_equal(sbreg_redeem_name(r, ck, "d@x.com", 42, 1000, name, sizeof name), SBREG_REFUSED);
    assert_string_equal(name, ""); /* nothing leaks from a refused cookie */
    assert_int_equal(sbreg_issue(r, "c@x.com", 42, 5000, ck, sizeof ck), 0);
    assert_int_equal(sbreg_set_name(r, ck, "Carol"), 0);
    assert_int_equal(sbreg_redeem_name(r, ck, "c@x.com", 42, 1000, name, sizeof name), 0);
    assert_string_equal(name, "Carol");
    assert_int_equal(sbreg_issue(r, "c@x.com", 42, 5000, ck, sizeof ck), 0);
    assert_int_equal(sbreg_redeem_name(r, ck, "c@x.com", 42, 1000, name, sizeof name), 0);
    assert_string_equal(name, ""); /* no name recorded */
    assert_int_equal(sbreg_issue(r, "c@x.com", 42, 5000, ck, sizeof ck), 0);
    assert_int_equal(sbreg_set_name(r, ck, "Carol"), 0);
    sbreg_cancel(r, ck);
    assert_int_equal(sbreg_cookie_count(r), 0);
    assert_int_equal(sbreg_redeem(r, ck, "c@x.com", 42, 1000), -1);
    sbreg_cancel(r, ck); /* twice is harmless */
    assert_int_equal(sbreg_issue(r, "c@x.com", 42, 5000, ck, sizeof ck), 0);
    assert_int_equal(sbreg_set_name(r, ck, "Carol"), 0);
    sbreg_free(r); /* with a named cookie outstanding: no leak under ASan */
}

/* The node hash must spread users even when their addresses differ only
 * in characters of the same parity (plain FNV-1a modulo 2 would not). */
static void test_email_hash_spreads(void **state) {
    (void)state;
    unsigned two[2] = {0, 0}, four[4] = {0, 0, 0, 0};
    char email[32];
    for (char ch = 'a'; ch <= 'y'; ch = (char)(ch + 2)) { /* a c e ... y: all odd */
        snprintf(email, sizeof email, "%c@x.com", ch);
        two[server_email_hash(email) % 2]++;
    }
    assert_true(two[0] >= 3 && two[1] >= 3);
    for (int i = 0; i < 4000; i++) {
        snprintf(email, sizeof email, "user%d@example.com", i);
        four[server_email_hash(email) % 4]++;
    }
    for (int k = 0; k < 4; k++) assert_true(four[k] > 850 && four[k] < 1150);
    assert_int_equal(server_email_hash("a@x.com"), server_email_hash("a@x.com"));
}

/* Requests of every size, across refills, never repeat a block and never
 * come back as zeros (handed-out bytes are wiped from the pool). */
static void test_randpool(void **state) {
    (void)state;
    static unsigned char seen[600][16];
    size_t sizes[] = {1, 7, 10, 16, 4095, 4096, 4097, 9000};
    unsigned char big[9000];
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        memset(big, 0, sizeof big);
        assert_int_equal(randpool_bytes(big, sizes[k]), 0);
        if (sizes[k] >= 64) {
            size_t zero = 0;
            for (size_t i = 0; i < sizes[k]; i++) zero += big[i] == 0;
            assert_true(zero < sizes[k] / 16); /* about 1/256 expected */
        }
    }
    for (int i = 0; i < 600; i++) { /* 9 600 bytes: crosses two refills */
        assert_int_equal(randpool_bytes(seen[i], 16), 0);
        for (int j = 0; j < i; j++) assert_memory_not_equal(seen[i], seen[j], 16);
    }
    randpool_reset();
    assert_int_equal(randpool_bytes(seen[0], 16), 0);
    assert_memory_not_equal(seen[0], seen[1], 16);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket),
        cmocka_unit_test(test_protective_defaults),
        cmocka_unit_test(test_failure_sources),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_randpool),
        cmocka_unit_test(test_cookies),
        cmocka_unit_test(test_sessions),
        cmocka_unit_test(test_xfr_cookies_per_user),
        cmocka_unit_test(test_xfr_cookies_end_with_session),
        cmocka_unit_test(test_cookie_entropy),
        cmocka_unit_test(test_session_ids_are_random),
        cmocka_unit_test(test_uniform_digits),
        cmocka_unit_test(test_xfr_end_costs_the_users_own_cookies),
        cmocka_unit_test(test_user_members),
        cmocka_unit_test(test_rings_end_with_callee_session),
        cmocka_unit_test(test_ring_cookie_names),
        cmocka_unit_test(test_email_hash_spreads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
