/* test_pinholes.c - the pinhole table against a real nftables table, in a
 * network namespace of this test's own (root; skipped with 77 otherwise):
 * sets removed while more pinholes are open than one netlink batch holds
 * come back with every one of them, a connection seen when less than the
 * hit grace is left of its pinhole's timeout keeps the pinhole, a
 * pinhole closed and opened again in one commit stays, addresses an
 * outsider or an outside server names on an inside side of the gateway
 * are refused, and the reverse-path check follows the routing table. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <linux/netfilter.h>
#include <nftables/libnftables.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <time.h>
#include <unistd.h>

#include "pinholes.h"
#include "ruleset.h"
#include "sides.h"

#define TABLE "msngate_unit"

static ruleset_opts ro = {.table = TABLE};

/* The output of an nft command (NULL when it fails), to free. */
static char *nft(const char *cmd) {
    struct nft_ctx *n = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!n) return NULL;
    nft_ctx_buffer_output(n);
    nft_ctx_buffer_error(n);
    char *out = NULL;
    if (nft_run_cmd_from_buffer(n, cmd) == 0) out = strdup(nft_ctx_get_output_buffer(n));
    nft_ctx_free(n);
    return out;
}

/* Elements of file_transfer_v4 (each listed as "addr . tcp . port"). */
static int file_elements(void) {
    char *out = nft("list set inet " TABLE " file_transfer_v4");
    assert_non_null(out);
    int n = 0;
    for (const char *p = out; (p = strstr(p, " . tcp . ")) != NULL; p++) n++;
    free(out);
    return n;
}

static int recreate(void *ctx) {
    (void)ctx;
    char err[512];
    return ruleset_setup_sets(&ro, err, sizeof err);
}

typedef struct fixture {
    gate_config cfg;
    gate_stats st;
    nftset *set;
    pinholes *p;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    char err[512];
    gate_config_defaults(&f->cfg);
    if (ruleset_setup_sets(&ro, err, sizeof err) != 0) fail_msg("%s", err);
    f->set = nftset_open(NFPROTO_INET, TABLE, err, sizeof err);
    assert_non_null(f->set);
    f->p = pinholes_new(f->set, &f->st, &f->cfg);
    assert_non_null(f->p);
    pinholes_on_missing_sets(f->p, recreate, NULL);
    *state = f;
    return 0;
}

/* The links a test made, also when it failed half-way (the next test
 * makes them again). */
static int links_gone(void **state) {
    (void)state;
    if (system("for l in probe0 lan0 wan0; do ip link del $l 2>/dev/null; done; true") != 0) return -1;
    return 0;
}

static int teardown(void **state) {
    links_gone(state);
    fixture *f = *state;
    pinholes_free(f->p);
    nftset_close(f->set);
    free(nft("delete table inet " TABLE));
    free(f);
    return 0;
}

static void predict(fixture *f, uint64_t id, uint16_t port, uint64_t timeout_ms) {
    gate_prediction pr = {0};
    pr.id = id;
    pr.invitation = 1000 + id;
    pr.app = "file_transfer";
    assert_int_equal(sn_addr_parse("10.0.0.5", 8, &pr.addr), 0);
    pr.port = port;
    pr.transport = 6;
    pr.timeout_ms = timeout_ms;
    pinholes_predicted(f->p, &pr, 0);
}

static void test_sets_recreated_with_every_pinhole(void **state) {
    fixture *f = *state;
    for (uint64_t i = 1; i <= 300; i++) {
        predict(f, i, (uint16_t)(20000 + i), 300000);
        assert_int_equal(pinholes_commit(f->p, 1), 0);
    }
    assert_int_equal(file_elements(), 300);
    free(nft("delete table inet " TABLE)); /* "flush ruleset" of an administrator */
    predict(f, 301, 20301, 300000);
    assert_int_equal(pinholes_commit(f->p, 1), 0);
    assert_int_equal(f->st.sets_recreated, 1);
    assert_int_equal(file_elements(), 301); /* more than one batch (256) holds */
    assert_int_equal(f->st.commit_errors, 0);
}

static void test_hit_late_keeps_the_pinhole(void **state) {
    fixture *f = *state;
    f->cfg.hit_grace_s = 30;
    pinholes_configure(f->p, &f->cfg);
    predict(f, 1, 6891, 20000); /* 20 s left, less than the grace */
    assert_int_equal(pinholes_commit(f->p, 1), 0);
    pinholes_hit(f->p, 1, 1001);
    assert_int_equal(pinholes_commit(f->p, 1), 0);
    /* a retransmitted SYN still finds it; it closes at its own timeout */
    assert_int_equal(file_elements(), 1);
    assert_int_equal(f->st.withdrawn, 0);
}

/* unresolved: predictions waiting for their host name now, down when a
 * DNS answer resolves one or the analyzer lets it go; hits: predictions
 * whose pinhole was used, once each (a connection seen twice, or one of a
 * prediction that opened nothing, is not another). */
static void test_unresolved_and_hits(void **state) {
    fixture *f = *state;
    gate_prediction pr = {0};
    pr.app = "file_transfer";
    pr.port = 6891;
    pr.transport = 6;
    pr.timeout_ms = 300000;
    for (uint64_t id = 1; id <= 3; id++) { /* written with a host name */
        pr.id = id;
        pr.invitation = 1000 + id;
        pinholes_predicted(f->p, &pr, 0);
    }
    assert_int_equal(f->st.unresolved, 3);
    pinholes_predicted(f->p, &pr, 0); /* 3 reported again, still waiting */
    assert_int_equal(f->st.unresolved, 3);
    pr.id = 1; /* a DNS answer resolved the first: opened */
    pr.invitation = 1001;
    assert_int_equal(sn_addr_parse("10.0.0.5", 8, &pr.addr), 0);
    pinholes_predicted(f->p, &pr, 0);
    assert_int_equal(pinholes_commit(f->p, 1), 0);
    assert_int_equal(file_elements(), 1);
    assert_int_equal(f->st.unresolved, 2);
    pinholes_withdrawn(f->p, 2); /* cancelled while waiting */
    assert_int_equal(f->st.unresolved, 1);
    pinholes_prediction_expired(f->p, 3); /* the analyzer's timeout */
    assert_int_equal(f->st.unresolved, 0);
    pinholes_prediction_expired(f->p, 3);
    assert_int_equal(f->st.unresolved, 0);
    pinholes_hit(f->p, 1, 1001);
    pinholes_hit(f->p, 1, 1001); /* its retransmitted SYN */
    assert_int_equal(f->st.hits, 1);
    pinholes_hit(f->p, 3, 1003); /* opened nothing */
    pinholes_hit(f->p, 99, 0);   /* not known here (refused, any port) */
    assert_int_equal(f->st.hits, 1);
}

/* The CANCEL of one invitation and the ACCEPT of another that names the
 * same address and port in one packet: the first's pinhole is closed and
 * the second's opened in one commit, and the element stays (the delete
 * used to go after the add, and removed the second's pinhole). */
static void test_closed_and_opened_again_in_one_commit(void **state) {
    fixture *f = *state;
    predict(f, 1, 6891, 300000);
    assert_int_equal(pinholes_commit(f->p, 1), 0);
    assert_int_equal(file_elements(), 1);
    pinholes_cancelled(f->p, 1001);
    predict(f, 2, 6891, 300000);
    assert_int_equal(pinholes_commit(f->p, 1), 0);
    assert_int_equal(file_elements(), 1);
    assert_int_equal(f->st.commit_errors, 0);
    pinholes_cancelled(f->p, 1002); /* and it closes with the second */
    assert_int_equal(pinholes_commit(f->p, 1), 0);
    assert_int_equal(file_elements(), 0);
}

/* A file transfer offered by an announcer the gateway never saw (the
 * analyzer could not check the address) to the user at receiver. */
static gate_prediction outsider_offer(const char *receiver) {
    gate_prediction pr = {0};
    pr.app = "file_transfer";
    pr.port = 22;
    pr.transport = 6;
    pr.timeout_ms = 300000;
    pr.unchecked = 1;
    assert_int_equal(sn_addr_parse(receiver, strlen(receiver), &pr.receiver), 0);
    return pr;
}

/* An announcer the gateway never sees (an outsider) naming an address on
 * the link of the user it wrote to: an inside host, refused as forged (a
 * pinhole there would open that host to anyone). The same announcer's
 * address elsewhere is opened; forged = open opens both. */
static void test_outsider_naming_an_inside_host(void **state) {
    fixture *f = *state;
    assert_int_equal(system("ip link add probe0 type veth peer name probe1 && ip addr add 10.77.1.1/24 dev probe0 && "
                            "ip link set probe0 up"),
                     0);
    gate_prediction pr = outsider_offer("10.77.1.2");
    const char *inside[] = {"10.77.1.50", "10.77.1.2"}; /* another inside host, the receiver itself */
    for (int i = 0; i < 2; i++) {
        pr.id = (uint64_t)i + 1;
        pr.invitation = pr.id;
        assert_int_equal(sn_addr_parse(inside[i], strlen(inside[i]), &pr.addr), 0);
        pinholes_predicted(f->p, &pr, 0);
    }
    assert_int_equal(pinholes_commit(f->p, 1), 0);
    assert_int_equal(f->st.refused_forged, 2);
    assert_int_equal(file_elements(), 0);
    pr.id = pr.invitation = 3; /* the outsider's own address */
    assert_int_equal(sn_addr_parse("198.51.100.7", 12, &pr.addr), 0);
    pinholes_predicted(f->p, &pr, 0);
    pr.id = pr.invitation = 4; /* seen leaving its announcer: checked by the analyzer, not here */
    pr.unchecked = 0;
    memset(&pr.receiver, 0, sizeof pr.receiver);
    assert_int_equal(sn_addr_parse("10.77.1.2", 9, &pr.addr), 0);
    pinholes_predicted(f->p, &pr, 0);
    assert_int_equal(pinholes_commit(f->p, 1), 0);
    assert_int_equal(file_elements(), 2);
    f->cfg.forged_policy = GATE_POLICY_OPEN;
    pinholes_configure(f->p, &f->cfg);
    pr.id = pr.invitation = 5;
    pr.unchecked = 1;
    assert_int_equal(sn_addr_parse("10.77.1.2", 9, &pr.receiver), 0);
    assert_int_equal(sn_addr_parse("10.77.1.50", 10, &pr.addr), 0);
    pinholes_predicted(f->p, &pr, 0);
    assert_int_equal(pinholes_commit(f->p, 1), 0);
    assert_int_equal(file_elements(), 3);
    assert_int_equal(system("ip link del probe0"), 0);
}

/* The inside reaches past the gateway's own link: a network behind a
 * router there (10.88.0.0/16 via 10.77.1.254) is on the same side as the
 * receiver, so an outsider naming a host in it is refused as forged too.
 * Addresses the gateway reaches only through a default route are on no
 * side: with the default route out of the receiver's own interface (a
 * gateway with one interface), an outsider's own address is still opened;
 * so is one on another interface (the outside, 192.0.2.0/24). */
static void test_outsider_naming_a_routed_inside_host(void **state) {
    fixture *f = *state;
    assert_int_equal(system("ip link add probe0 type veth peer name probe1 && ip addr add 10.77.1.1/24 dev probe0 && "
                            "ip link set probe0 up && ip link set probe1 up && "
                            "ip route add 10.88.0.0/16 via 10.77.1.254 dev probe0 && "
                            "ip route add default via 10.77.1.254 dev probe0 && "
                            "ip link add wan0 type veth peer name wan1 && ip addr add 192.0.2.1/24 dev wan0 && "
                            "ip link set wan0 up && ip link set wan1 up"),
                     0);
    gate_prediction pr = outsider_offer("10.77.1.2");
    pr.id = pr.invitation = 1; /* a host behind the inside router */
    assert_int_equal(sn_addr_parse("10.88.9.9", 9, &pr.addr), 0);
    pinholes_predicted(f->p, &pr, 0);
    assert_int_equal(pinholes_commit(f->p, 1), 0);
    assert_int_equal(f->st.refused_forged, 1);
    assert_int_equal(file_elements(), 0);
    const char *elsewhere[] = {"198.51.100.7", "192.0.2.9"}; /* by the default route; the other interface */
    for (int i = 0; i < 2; i++) {
        pr.id = pr.invitation = (uint64_t)i + 2;
        assert_int_equal(sn_addr_parse(elsewhere[i], strlen(elsewhere[i]), &pr.addr), 0);
        pinholes_predicted(f->p, &pr, 0);
    }
    assert_int_equal(pinholes_commit(f->p, 1), 0);
    assert_int_equal(f->st.refused_forged, 1);
    assert_int_equal(file_elements(), 2);
    /* a receiver on the outside, an address inside: opposite sides */
    pr.id = pr.invitation = 4;
    assert_int_equal(sn_addr_parse("192.0.2.9", 9, &pr.receiver), 0);
    assert_int_equal(sn_addr_parse("10.88.9.9", 9, &pr.addr), 0);
    pinholes_predicted(f->p, &pr, 0);
    assert_int_equal(pinholes_commit(f->p, 1), 0);
    assert_int_equal(f->st.refused_forged, 1);
    assert_int_equal(file_elements(), 3);
    /* the same over IPv6 */
    assert_int_equal(system("ip -6 addr add fd77::1/64 dev probe0 nodad && "
                            "ip -6 route add fd88::/48 via fd77::fe dev probe0"),
                     0);
    pr.id = pr.invitation = 5;
    assert_int_equal(sn_addr_parse("fd77::2", 7, &pr.receiver), 0);
    assert_int_equal(sn_addr_parse("fd88::9", 7, &pr.addr), 0);
    pinholes_predicted(f->p, &pr, 0);
    assert_int_equal(pinholes_commit(f->p, 1), 0);
    assert_int_equal(f->st.refused_forged, 2);
    pr.id = pr.invitation = 6;
    assert_int_equal(sn_addr_parse("2001:db8::9", 11, &pr.addr), 0);
    pinholes_predicted(f->p, &pr, 0);
    assert_int_equal(pinholes_commit(f->p, 1), 0);
    assert_int_equal(f->st.refused_forged, 2);
    assert_int_equal(system("ip link del probe0 && ip link del wan0"), 0);
}

/* An outsider naming the receiver's host by its other family (the
 * receiver seen over IPv4, the address IPv6, and the reverse), the inside
 * network's broadcast address or the gateway's own inside address: each
 * is on the receiver's side (the interface holding it), refused as
 * forged. */
static void test_outsider_naming_inside_by_another_family_or_broadcast(void **state) {
    fixture *f = *state;
    assert_int_equal(system("ip link add probe0 type veth peer name probe1 && ip addr add 10.77.1.1/24 dev probe0 && "
                            "ip -6 addr add fd77::1/64 dev probe0 nodad && ip link set probe0 up && "
                            "ip link set probe1 up"),
                     0);
    const char *cases[][2] = {
        {"10.77.1.2", "fd77::2"},           /* receiver over IPv4, its IPv6 address */
        {"fd77::2", "10.77.1.2"},           /* receiver over IPv6, its IPv4 address */
        {"10.77.1.2", "10.77.1.255"},       /* the inside broadcast address */
        {"10.77.1.2", "10.77.1.1"},         /* the gateway's own inside address */
        {"10.77.1.2", "fd77::"},            /* the inside subnet-router anycast address */
        {"10.77.1.2", "::ffff:10.77.1.50"}, /* an inside host as an IPv4-mapped IPv6 address */
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gate_prediction pr = outsider_offer(cases[i][0]);
        pr.id = pr.invitation = i + 1;
        assert_int_equal(sn_addr_parse(cases[i][1], strlen(cases[i][1]), &pr.addr), 0);
        pinholes_predicted(f->p, &pr, 0);
        assert_int_equal(pinholes_commit(f->p, 1), 0);
        assert_int_equal(f->st.refused_forged, i + 1);
    }
    assert_int_equal(file_elements(), 0);
    assert_int_equal(system("ip link del probe0"), 0);
}

/* A gateway with a second inside network (lan0) beside the receiver's
 * (probe0) and the outside (wan0, default route): an announcement that
 * came in by wan0 naming a host of either inside network, or of a network
 * behind a router on one, is refused as forged; the outsider's own
 * addresses (default route, wan0's network) are opened. Without the
 * ingress, a host of the second network is on neither the receiver's side
 * nor a known other one: opened, as before. */
static void test_outsider_naming_a_host_of_another_inside_network(void **state) {
    fixture *f = *state;
    assert_int_equal(system("ip link add probe0 type veth peer name probe1 && ip addr add 10.77.1.1/24 dev probe0 && "
                            "ip link set probe0 up && ip link set probe1 up && "
                            "ip link add lan0 type veth peer name lan1 && ip addr add 10.66.1.1/24 dev lan0 && "
                            "ip -6 addr add fd66::1/64 dev lan0 nodad && ip link set lan0 up && ip link set lan1 up && "
                            "ip route add 10.55.0.0/16 via 10.66.1.254 dev lan0 && "
                            "ip link add wan0 type veth peer name wan1 && ip addr add 192.0.2.1/24 dev wan0 && "
                            "ip link set wan0 up && ip link set wan1 up && "
                            "ip route add default via 192.0.2.254 dev wan0"),
                     0);
    int wan = (int)if_nametoindex("wan0");
    assert_true(wan > 0);
    const char *inside[] = {"10.66.1.2", "fd66::2", "10.55.3.3", "10.66.1.255"};
    for (unsigned i = 0; i < 4; i++) {
        gate_prediction pr = outsider_offer("10.77.1.2");
        pr.ingress = wan;
        pr.id = pr.invitation = i + 1;
        assert_int_equal(sn_addr_parse(inside[i], strlen(inside[i]), &pr.addr), 0);
        pinholes_predicted(f->p, &pr, 0);
    }
    assert_int_equal(pinholes_commit(f->p, 1), 0);
    assert_int_equal(f->st.refused_forged, 4);
    assert_int_equal(file_elements(), 0);
    const char *outside[] = {"198.51.100.7", "192.0.2.9"};
    for (unsigned i = 0; i < 2; i++) {
        gate_prediction pr = outsider_offer("10.77.1.2");
        pr.ingress = wan;
        pr.id = pr.invitation = i + 11;
        assert_int_equal(sn_addr_parse(outside[i], strlen(outside[i]), &pr.addr), 0);
        pinholes_predicted(f->p, &pr, 0);
    }
    assert_int_equal(pinholes_commit(f->p, 1), 0);
    assert_int_equal(f->st.refused_forged, 4);
    assert_int_equal(file_elements(), 2);
    gate_prediction pr = outsider_offer("10.77.1.2"); /* ingress not known */
    pr.id = pr.invitation = 21;
    assert_int_equal(sn_addr_parse("10.66.1.2", 9, &pr.addr), 0);
    pinholes_predicted(f->p, &pr, 0);
    assert_int_equal(pinholes_commit(f->p, 1), 0);
    assert_int_equal(f->st.refused_forged, 4);
    assert_int_equal(file_elements(), 3);
    assert_int_equal(system("ip link del probe0 && ip link del lan0 && ip link del wan0"), 0);
}

/* Elements of switchboard_v4. */
static int switchboard_elements(void) {
    char *out = nft("list set inet " TABLE " switchboard_v4");
    assert_non_null(out);
    int n = 0;
    for (const char *p = out; (p = strstr(p, " . tcp . ")) != NULL; p++) n++;
    free(out);
    return n;
}

/* Switchboard referrals (XFR SB, RNG) name a server: one naming an
 * address on the client's side, or, when the referral came in from the
 * outside, on any inside side, is refused as forged like an outsider's
 * invitation; a switchboard outside is opened. The analyzer does not flag
 * referrals (not unchecked, no origin check): the rule applies to them as
 * referrals. */
static void test_referral_naming_an_inside_host(void **state) {
    fixture *f = *state;
    assert_int_equal(system("ip link add probe0 type veth peer name probe1 && ip addr add 10.77.1.1/24 dev probe0 && "
                            "ip link set probe0 up && ip link set probe1 up && "
                            "ip link add wan0 type veth peer name wan1 && ip addr add 192.0.2.1/24 dev wan0 && "
                            "ip link set wan0 up && ip link set wan1 up && "
                            "ip route add default via 192.0.2.254 dev wan0"),
                     0);
    gate_prediction pr = {0};
    pr.app = "switchboard";
    pr.referral = 1;
    pr.port = 1865;
    pr.transport = 6;
    pr.timeout_ms = 300000;
    assert_int_equal(sn_addr_parse("10.77.1.2", 9, &pr.receiver), 0);
    const char *named[] = {"10.77.1.7", "10.77.1.2"};
    for (unsigned i = 0; i < 2; i++) { /* ingress not known: the client's side */
        pr.id = i + 1;
        assert_int_equal(sn_addr_parse(named[i], strlen(named[i]), &pr.addr), 0);
        pinholes_predicted(f->p, &pr, 0);
    }
    pr.id = 3; /* came in by the outside */
    pr.ingress = (int)if_nametoindex("wan0");
    assert_int_equal(sn_addr_parse("10.77.1.9", 9, &pr.addr), 0);
    pinholes_predicted(f->p, &pr, 0);
    assert_int_equal(pinholes_commit(f->p, 1), 0);
    assert_int_equal(f->st.refused_forged, 3);
    assert_int_equal(switchboard_elements(), 0);
    const char *servers[] = {"198.51.100.7", "192.0.2.9"};
    for (unsigned i = 0; i < 2; i++) {
        pr.id = i + 4;
        assert_int_equal(sn_addr_parse(servers[i], strlen(servers[i]), &pr.addr), 0);
        pinholes_predicted(f->p, &pr, 0);
    }
    assert_int_equal(pinholes_commit(f->p, 1), 0);
    assert_int_equal(f->st.refused_forged, 3);
    assert_int_equal(switchboard_elements(), 2);
    assert_int_equal(system("ip link del probe0 && ip link del wan0"), 0);
}

/* The reverse-path check: a source routed back out of the interface it
 * came by passes (by a network route or a default route), one routed out
 * of another interface, not routed, or the gateway's own address from
 * outside fails; IPv6 link-local sources pass. */
static void test_reverse_path(void **state) {
    (void)state;
    assert_int_equal(system("ip link set lo up && "
                            "ip link add probe0 type veth peer name probe1 && ip addr add 10.77.1.1/24 dev probe0 && "
                            "ip -6 addr add fd77::1/64 dev probe0 nodad && ip link set probe0 up && "
                            "ip link set probe1 up && "
                            "ip link add wan0 type veth peer name wan1 && ip addr add 192.0.2.1/24 dev wan0 && "
                            "ip link set wan0 up && ip link set wan1 up"),
                     0);
    gate_sides *s = gate_sides_new();
    assert_non_null(s);
    int in = (int)if_nametoindex("probe0"), out = (int)if_nametoindex("wan0");
    sn_addr a;
    assert_int_equal(sn_addr_parse("198.51.100.7", 12, &a), 0);
    assert_int_equal(gate_sides_reverse_ok(s, &a, out), 0); /* no route back at all */
    assert_int_equal(system("ip route add default via 192.0.2.254 dev wan0"), 0);
    /* a cached answer lasts a second: a new table is asked after that */
    struct timespec ts = {1, 100000000};
    nanosleep(&ts, NULL);
    assert_int_equal(gate_sides_reverse_ok(s, &a, out), 1);
    assert_int_equal(gate_sides_reverse_ok(s, &a, in), 0);
    const char *inside[] = {"10.77.1.2", "fd77::2"};
    for (unsigned i = 0; i < 2; i++) {
        assert_int_equal(sn_addr_parse(inside[i], strlen(inside[i]), &a), 0);
        assert_int_equal(gate_sides_reverse_ok(s, &a, in), 1);
        assert_int_equal(gate_sides_reverse_ok(s, &a, out), 0); /* an inside source arriving from outside */
    }
    assert_int_equal(sn_addr_parse("10.77.1.1", 9, &a), 0); /* the gateway's own */
    assert_int_equal(gate_sides_reverse_ok(s, &a, out), 0);
    assert_int_equal(sn_addr_parse("fe80::1234", 10, &a), 0);
    assert_int_equal(gate_sides_reverse_ok(s, &a, out), 1);
    assert_int_equal(gate_sides_reverse_ok(s, &a, 0), 1); /* ingress not known */
    gate_sides_free(s);
    assert_int_equal(system("ip link del probe0 && ip link del wan0"), 0);
}

int main(void) {
    if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0) {
        fprintf(stderr, "test_pinholes: needs root and network namespaces (skipped)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sets_recreated_with_every_pinhole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hit_late_keeps_the_pinhole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unresolved_and_hits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_and_opened_again_in_one_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outsider_naming_an_inside_host, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outsider_naming_a_routed_inside_host, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outsider_naming_inside_by_another_family_or_broadcast, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outsider_naming_a_host_of_another_inside_network, setup, teardown),
        cmocka_unit_test_setup_teardown(test_referral_naming_an_inside_host, setup, teardown),
        cmocka_unit_test_teardown(test_reverse_path, links_gone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
