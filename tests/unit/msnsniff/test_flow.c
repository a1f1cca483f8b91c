/* test_flow.c - the flow table (flow.c): every flow found from both
 * directions whatever order the packets come in (the last flows seen are
 * tried before the hash), none found after its removal, flows told apart
 * by their VLAN ids and by their addresses' family, and the address hash
 * spreading neighbouring addresses over the buckets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "addr.h"
#include "decode.h"
#include "flow.h"
#include "hash64.h"
#include "memcap.h"

#define NFLOWS 600

static sn_packet packet(int i, int reverse) {
    sn_packet p;
    memset(&p, 0, sizeof p);
    sn_addr a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    if (i % 3 == 2) { /* some IPv6 */
        a.family = b.family = 6;
        a.b[0] = b.b[0] = 0x20;
        a.b[15] = (uint8_t)i;
        a.b[14] = (uint8_t)(i >> 8);
        b.b[15] = 1;
    } else {
        a.family = b.family = 4;
        a.b[0] = 10;
        a.b[2] = (uint8_t)(i >> 8);
        a.b[3] = (uint8_t)i;
        b.b[0] = 64;
        b.b[1] = 4;
        b.b[3] = (uint8_t)(i % 7); /* servers shared by many flows */
    }
    /* the same two hosts twice: flows apart only by port or protocol */
    uint16_t ca = (uint16_t)(1030 + i % 2), sa = (uint16_t)(i % 4 < 2 ? 1863 : 6891);
    p.proto = i % 5 == 4 ? 17 : 6;
    p.src = reverse ? b : a;
    p.dst = reverse ? a : b;
    p.sport = reverse ? sa : ca;
    p.dport = reverse ? ca : sa;
    return p;
}

static void test_lookup_every_order(void **state) {
    (void)state;
    sn_memcap mem;
    sn_memcap_init(&mem, 64u << 20);
    sn_flow_table t;
    assert_int_equal(sn_flow_table_init(&t, &mem, 0), 0);
    sn_flow *made[NFLOWS];
    int dir;
    for (int i = 0; i < NFLOWS; i++) {
        sn_packet p = packet(i, 0);
        if (sn_flow_lookup(&t, &p, &dir)) {
            made[i] = NULL; /* the same 5-tuple as an earlier one */
            continue;
        }
        made[i] = sn_flow_create(&t, &p, 0);
        assert_non_null(made[i]);
        sn_flow_touch(&t, made[i], (uint64_t)i);
    }
    /* in turn, back and forth between a few flows (the recent ones), and
     * scattered (the hash) */
    uint32_t x = 7;
    for (int round = 0; round < 20000; round++) {
        int i;
        if (round % 3 == 0) i = (round / 3) % NFLOWS;
        else if (round % 3 == 1) i = (round / 3 + (round / 9) % 3) % NFLOWS;
        else {
            x = x * 1103515245u + 12345u;
            i = (int)((x >> 8) % NFLOWS);
        }
        if (!made[i]) continue;
        int rev = (int)((x >> 4) & 1);
        sn_packet p = packet(i, rev);
        sn_flow *f = sn_flow_lookup(&t, &p, &dir);
        assert_ptr_equal(f, made[i]);
        assert_int_equal(dir, rev);
        sn_flow_touch(&t, f, (uint64_t)round);
    }
    /* removed flows are gone, the others stay */
    for (int i = 0; i < NFLOWS; i += 2)
        if (made[i]) sn_flow_remove(&t, made[i]);
    for (int i = 0; i < NFLOWS; i++) {
        if (!made[i]) continue;
        sn_packet p = packet(i, i & 1);
        assert_ptr_equal(sn_flow_lookup(&t, &p, &dir), i % 2 ? made[i] : NULL);
    }
    while (sn_flow_oldest(&t)) sn_flow_remove(&t, sn_flow_oldest(&t));
    sn_flow_table_free(&t);
}

/* A connection closed and opened again on the same ports (a client that
 * reuses its port, the last ACK after both FINs): the removed tuple is
 * not found while it is gone, and is found again, from both directions,
 * once a flow has it again, with neighbours that share its bucket
 * unaffected. */
static void test_removed_tuple_and_reuse(void **state) {
    (void)state;
    sn_memcap mem;
    sn_memcap_init(&mem, 64u << 20);
    sn_flow_table t;
    assert_int_equal(sn_flow_table_init(&t, &mem, 0), 0);
    int dir;
    sn_flow *keep[NFLOWS];
    for (int i = 0; i < NFLOWS; i++) {
        sn_packet p = packet(i, 0);
        keep[i] = sn_flow_lookup(&t, &p, &dir) ? NULL : sn_flow_create(&t, &p, 0);
    }
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < NFLOWS; i += 7) {
            if (!keep[i]) continue;
            sn_packet p = packet(i, round & 1), q = packet(i, !(round & 1));
            sn_flow_remove(&t, keep[i]);
            assert_null(sn_flow_lookup(&t, &p, &dir));
            assert_null(sn_flow_lookup(&t, &q, &dir));
            keep[i] = sn_flow_create(&t, &p, round & 1);
            assert_non_null(keep[i]);
            /* recent flows are tried first: touch another so the hash is used */
            sn_flow_touch(&t, keep[(i + 1) % NFLOWS] ? keep[(i + 1) % NFLOWS] : keep[i], 0);
            sn_flow_touch(&t, keep[(i + 2) % NFLOWS] ? keep[(i + 2) % NFLOWS] : keep[i], 0);
            sn_flow_touch(&t, keep[(i + 3) % NFLOWS] ? keep[(i + 3) % NFLOWS] : keep[i], 0);
            assert_ptr_equal(sn_flow_lookup(&t, &q, &dir), keep[i]);
            assert_ptr_equal(sn_flow_lookup(&t, &p, &dir), keep[i]);
        }
    for (int i = 0; i < NFLOWS; i++) {
        if (!keep[i]) continue;
        sn_packet p = packet(i, 1);
        assert_ptr_equal(sn_flow_lookup(&t, &p, &dir), keep[i]);
    }
    while (sn_flow_oldest(&t)) sn_flow_remove(&t, sn_flow_oldest(&t));
    for (int i = 0; i < NFLOWS; i++) {
        sn_packet p = packet(i, 0);
        assert_null(sn_flow_lookup(&t, &p, &dir));
    }
    sn_flow_table_free(&t);
}

/* The same addresses and ports on other VLANs (one tag, two, none) are
 * other flows: each found from both directions, through the recent flows
 * and through the hash, and a removed one not hiding those left. */
static void test_vlans_are_part_of_the_key(void **state) {
    (void)state;
    static const uint16_t vlans[][2] = {{0, 0}, {10, 0}, {20, 0}, {100, 10}, {200, 10}, {10, 100}, {100, 0}};
    enum { NV = sizeof vlans / sizeof vlans[0] };
    sn_memcap mem;
    sn_memcap_init(&mem, 64u << 20);
    sn_flow_table t;
    assert_int_equal(sn_flow_table_init(&t, &mem, 0), 0);
    int dir;
    sn_flow *f[NV];
    for (int v = 0; v < NV; v++) {
        sn_packet p = packet(1, 0);
        memcpy(p.vlan, vlans[v], sizeof p.vlan);
        assert_null(sn_flow_lookup(&t, &p, &dir));
        f[v] = sn_flow_create(&t, &p, 0);
        assert_non_null(f[v]);
        assert_memory_equal(f[v]->vlan, vlans[v], sizeof f[v]->vlan);
    }
    /* other flows in between, so that the hash is used too */
    for (int i = 2; i < 40; i++) {
        sn_packet p = packet(i, 0);
        if (!sn_flow_lookup(&t, &p, &dir)) assert_non_null(sn_flow_create(&t, &p, 0));
    }
    for (int round = 0; round < 4; round++)
        for (int v = 0; v < NV; v++)
            for (int rev = 0; rev < 2; rev++) {
                sn_packet p = packet(1, rev);
                memcpy(p.vlan, vlans[v], sizeof p.vlan);
                assert_ptr_equal(sn_flow_lookup(&t, &p, &dir), f[v]);
                assert_int_equal(dir, rev);
                if (round & 1) sn_flow_touch(&t, f[v], 0);
            }
    /* one removed: the others are still found, it is not */
    sn_flow_remove(&t, f[3]);
    for (int v = 0; v < NV; v++)
        for (int rev = 0; rev < 2; rev++) {
            sn_packet p = packet(1, rev);
            memcpy(p.vlan, vlans[v], sizeof p.vlan);
            if (v == 3) assert_null(sn_flow_lookup(&t, &p, &dir));
            else assert_ptr_equal(sn_flow_lookup(&t, &p, &dir), f[v]);
        }
    while (sn_flow_oldest(&t)) sn_flow_remove(&t, sn_flow_oldest(&t));
    sn_flow_table_free(&t);
}

/* An IPv4 flow and an IPv6 flow whose addresses have the same 16 bytes
 * (the IPv4 ones followed by zeros), ports and protocol: two flows, each
 * found from both directions whether it was seen last, before that, or
 * only through the hash; a new flow's streams start empty. */
static void test_families_are_part_of_the_key(void **state) {
    (void)state;
    sn_memcap mem;
    sn_memcap_init(&mem, 64u << 20);
    sn_flow_table t;
    assert_int_equal(sn_flow_table_init(&t, &mem, 0), 0);
    int dir;
    sn_flow *f[2];
    for (int v6 = 0; v6 < 2; v6++) {
        sn_packet p = packet(1, 0); /* IPv4 */
        p.src.family = p.dst.family = (uint8_t)(v6 ? 6 : 4);
        assert_null(sn_flow_lookup(&t, &p, &dir));
        f[v6] = sn_flow_create(&t, &p, 0);
        assert_non_null(f[v6]);
        for (int d = 0; d < 2; d++) {
            assert_false(f[v6]->st[d].started);
            assert_int_equal(f[v6]->st[d].next_seq, 0);
            assert_null(f[v6]->st[d].buf);
            assert_null(f[v6]->st[d].ooo);
        }
    }
    for (int others = 0; others < 3; others++) {
        /* 0: one of the two seen last; 1: behind another flow; 2: behind many */
        for (int i = 2; i < (others == 0 ? 2 : others == 1 ? 3 : 40); i++) {
            sn_packet p = packet(i, 0);
            if (!sn_flow_lookup(&t, &p, &dir)) assert_non_null(sn_flow_create(&t, &p, 0));
            else sn_flow_touch(&t, sn_flow_lookup(&t, &p, &dir), 0);
        }
        for (int v6 = 0; v6 < 2; v6++)
            for (int rev = 0; rev < 2; rev++) {
                sn_packet p = packet(1, rev);
                p.src.family = p.dst.family = (uint8_t)(v6 ? 6 : 4);
                assert_ptr_equal(sn_flow_lookup(&t, &p, &dir), f[v6]);
                assert_int_equal(dir, rev);
            }
    }
    while (sn_flow_oldest(&t)) sn_flow_remove(&t, sn_flow_oldest(&t));
    sn_flow_table_free(&t);
}

/* 4 096 neighbouring addresses, the two varying bytes at every position
 * of an IPv4 and of an IPv6 address, over 1 024 buckets: an even spread
 * puts 4 in each (a random hash at most 11-15), a hash whose low bits
 * ignore some address bytes piles them into a few. */
static void test_addr_hash_spread(void **state) {
    (void)state;
    for (int fam = 4; fam <= 6; fam += 2)
        for (int at = 0; at < (fam == 4 ? 3 : 15); at++) {
            unsigned count[1024] = {0}, most = 0;
            for (int i = 0; i < 4096; i++) {
                sn_addr a;
                memset(&a, 0, sizeof a);
                a.family = (uint8_t)fam;
                a.b[0] = fam == 4 ? 10 : 0x20;
                a.b[at] = (uint8_t)(i >> 8);
                a.b[at + 1] = (uint8_t)i;
                unsigned b = sn_addr_hash(&a, 0x5bd1e995u) & 1023u;
                if (++count[b] > most) most = count[b];
            }
            if (most > 20) fail_msg("IPv%d, bytes %d-%d varying: %u addresses in one bucket", fam, at, at + 1, most);
        }
}

/* sn_hash64_lower is sn_hash64 of the text in lower case, at every length
 * (the word loop and both tail paths); other bytes are hashed as they are. */
static void test_hash64_lower(void **state) {
    (void)state;
    static const char mixed[] = "Alice.Smith@Example.COM\x80\xC1Z[@`{";
    static const char lower[] = "alice.smith@example.com\x80\xC1z[@`{";
    for (size_t n = 0; n < sizeof mixed; n++) {
        assert_true(sn_hash64_lower(7, mixed, n) == sn_hash64(7, lower, n));
        assert_true(sn_hash64_lower(7, lower, n) == sn_hash64(7, lower, n));
        if (n && memcmp(mixed, lower, n) != 0) assert_true(sn_hash64(7, mixed, n) != sn_hash64(7, lower, n));
    }
    assert_true(sn_hash64_lower(7, "ab", 2) != sn_hash64_lower(7, "ac", 2));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_every_order),        cmocka_unit_test(test_removed_tuple_and_reuse),
        cmocka_unit_test(test_vlans_are_part_of_the_key), cmocka_unit_test(test_families_are_part_of_the_key),
        cmocka_unit_test(test_addr_hash_spread),          cmocka_unit_test(test_hash64_lower),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
