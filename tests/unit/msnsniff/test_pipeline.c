/* test_pipeline.c - the reference scenario through the whole engine: events,
 * torture variants that must give identical results, gaps, snaplen cuts,
 * memory caps and file carving. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner.h"
#include "scenario.h"

static char tmpdir[64];
static json_t *baseline; /* normalised events of the plain capture */
static sn_run base_run;

static void path_in_tmp(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", tmpdir, name); }

static void scenario_opts(sn_scenario_opts *o) {
    memset(o, 0, sizeof *o);
    o->policy.acks = 1;
    o->synth.step_us = 10; /* keeps even the 1-byte variants well inside every timeout */
}

static void write_and_run(const sn_scenario_opts *o, const sn_config *cfg, sn_run *r) {
    char path[128];
    path_in_tmp(path, sizeof path, "variant.pcap");
    assert_int_equal(sn_scenario_write(path, o), 0);
    assert_int_equal(sn_run_file(path, cfg, r), 0);
    unlink(path);
}

static int setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/msnsniff-unit-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    sn_scenario_opts o;
    scenario_opts(&o);
    write_and_run(&o, NULL, &base_run);
    baseline = sn_normalize(base_run.events, NULL);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    json_decref(baseline);
    sn_run_free(&base_run);
    rmdir(tmpdir);
    return 0;
}

static const char *str(json_t *ev, const char *key) {
    const char *s = json_string_value(json_object_get(ev, key));
    return s ? s : "";
}

static long long num(json_t *ev, const char *key) { return (long long)json_integer_value(json_object_get(ev, key)); }

static void test_login_and_referral(void **state) {
    (void)state;
    json_t *ev = base_run.events;
    json_t *login = sn_nth(ev, "login", 0);
    assert_non_null(login);
    assert_string_equal(str(login, "user"), "example@passport.com");
    assert_string_equal(str(login, "name"), "my screen name");
    assert_string_equal(str(login, "version"), "MSNP7");
    assert_string_equal(str(login, "server"), "64.4.12.132:1863");
    /* the dispatch server's XFR NS predicted the notification connection */
    json_t *ns = sn_find(ev, "expectation_hit", "app", "notification");
    assert_non_null(ns);
    assert_string_equal(str(ns, "dst"), "64.4.12.132");
    /* the scenario's XFR: 64.4.12.193:1863 CKI 16925950.1016955577.17693 */
    json_t *ref = sn_find(ev, "switchboard", "cookie", "16925950.1016955577.17693");
    assert_non_null(ref);
    assert_string_equal(str(ref, "action"), "referral");
    assert_string_equal(str(ref, "server"), "64.4.12.193:1863");
    json_t *open = sn_find(ev, "switchboard", "action", "open");
    assert_non_null(open);
    assert_string_equal(str(open, "cookie"), "16925950.1016955577.17693");
    assert_int_equal(num(open, "ns_flow"), num(login, "flow"));
    /* the incoming call's RNG named a host; DNS in the capture resolved it */
    json_t *ring = sn_find(ev, "expectation", "source", "RNG");
    assert_non_null(ring);
    assert_string_equal(str(ring, "address"), "sb7.msgr.hotmail.com");
    assert_string_equal(str(ring, "resolved"), "64.4.12.174");
    json_t *ans = sn_find(ev, "switchboard", "mode", "answer");
    assert_non_null(ans);
    assert_string_equal(str(ans, "sessid"), "11752100");
    assert_int_equal(base_run.stats.role_ds, 1);
    assert_int_equal(base_run.stats.role_ns, 2); /* ours, and the peer's picked up mid-stream */
    assert_int_equal(base_run.stats.role_sb, 6);
}

static void test_messages(void **state) {
    (void)state;
    json_t *ev = base_run.events;
    json_t *hello = sn_find(ev, "message", "text", "hello! how are you?");
    assert_non_null(hello);
    assert_string_equal(str(hello, "sender"), "example@passport.com");
    assert_string_equal(str(hello, "direction"), "sent");
    assert_int_equal(num(hello, "size"), 157); /* the scenario's MSG 3 A 157 */
    json_t *rcpt = json_object_get(hello, "recipients");
    assert_int_equal(json_array_size(rcpt), 1);
    assert_string_equal(json_string_value(json_array_get(rcpt, 0)), "name_123@hotmail.com");
    json_t *fmt = json_object_get(hello, "format");
    assert_string_equal(str(fmt, "font"), "Microsoft Sans Serif");
    assert_string_equal(str(fmt, "effects"), "I");
    json_t *reply = sn_find(ev, "message", "text", "fine, thanks \xe4\xbd\xa0\xe5\xa5\xbd\r\nsecond line");
    assert_non_null(reply);
    assert_string_equal(str(reply, "sender"), "name_123@hotmail.com");
    assert_string_equal(str(json_object_get(reply, "format"), "color"), "#0000ff");
    json_t *typing = sn_find(ev, "message", "kind", "typing");
    assert_non_null(typing);
    assert_string_equal(str(typing, "typing_user"), "name_123@hotmail.com");
    assert_non_null(sn_find(ev, "message", "text", "are you there?"));
    assert_int_equal(base_run.stats.messages, 4);
}

static void test_invitations(void **state) {
    (void)state;
    json_t *ev = base_run.events;
    struct {
        const char *cookie, *app, *by;
    } want[] = {{"77001", "whiteboard", "guid"},
                {"33267", "file_transfer", "guid"},
                {"55001", "voice", "name"},
                {"88001", "app_sharing", "name"},
                {"99001", "remote_assistance", "name"}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        json_t *inv = sn_find(ev, "invitation", "cookie", want[i].cookie);
        assert_non_null(inv);
        assert_string_equal(str(inv, "command"), "INVITE");
        assert_string_equal(str(inv, "app"), want[i].app);
        assert_string_equal(str(inv, "classified_by"), want[i].by);
    }
    json_t *ft = sn_find(ev, "invitation", "cookie", "33267");
    assert_string_equal(str(ft, "file"), "readme.txt");
    assert_int_equal(num(ft, "file_size"), 60904);
    /* the localised names are reported byte for byte */
    json_t *voice = sn_find(ev, "invitation", "cookie", "55001");
    assert_string_equal(str(voice, "app_name"), "\xe8\xaf\xad\xe9\x9f\xb3\xe5\xaf\xb9\xe8\xaf\x9d");
    /* the two switchboards of the call share one invitation */
    long long inv_id = num(voice, "invitation");
    size_t i;
    json_t *e;
    long long flows[2] = {0, 0};
    json_array_foreach(ev, i, e) {
        if (strcmp(str(e, "event"), "invitation") == 0 && strcmp(str(e, "cookie"), "55001") == 0) {
            assert_int_equal(num(e, "invitation"), inv_id);
            assert_string_equal(str(e, "app"), "voice");
            if (!flows[0]) flows[0] = num(e, "flow");
            else if (num(e, "flow") != flows[0]) flows[1] = num(e, "flow");
        }
    }
    assert_true(flows[1] != 0);
}

static json_t *expectation_for(json_t *ev, const char *addr, long long port, const char *transport) {
    size_t i;
    json_t *e;
    json_array_foreach(ev, i, e) {
        if (strcmp(str(e, "event"), "expectation") != 0 || strcmp(str(e, "address"), addr) != 0 ||
            strcmp(str(e, "transport"), transport) != 0)
            continue;
        json_t *p = json_object_get(e, "port");
        if ((port == 0 && json_is_string(p)) || (port && json_integer_value(p) == port)) return e;
    }
    return NULL;
}

static json_t *hit_for(json_t *ev, long long id) {
    size_t i;
    json_t *e;
    json_array_foreach(ev, i, e) {
        if (strcmp(str(e, "event"), "expectation_hit") == 0 && num(e, "id") == id) return e;
    }
    return NULL;
}

static void test_predictions(void **state) {
    (void)state;
    json_t *ev = base_run.events;
    /* file transfer: IP-Address 10.44.102.65, Port 6891 -> TCP, hit by the MSNFTP flow */
    json_t *ft = expectation_for(ev, "10.44.102.65", 6891, "tcp");
    assert_non_null(ft);
    assert_string_equal(str(ft, "app"), "file_transfer");
    assert_string_equal(str(ft, "cookie"), "33267");
    assert_string_equal(str(ft, "to"), "example@passport.com");
    assert_string_equal(str(ft, "from"), "name_123@hotmail.com");
    json_t *h = hit_for(ev, num(ft, "id"));
    assert_non_null(h);
    assert_string_equal(str(h, "src"), "10.1.1.211");
    assert_string_equal(str(h, "matched_by"), "syn");
    /* whiteboard: Context-Data 10.1.1.211:13374 -> TCP */
    json_t *wb = expectation_for(ev, "10.1.1.211", 13374, "tcp");
    assert_non_null(wb);
    assert_string_equal(str(wb, "app"), "whiteboard");
    assert_string_equal(str(wb, "source"), "Context-Data");
    assert_non_null(hit_for(ev, num(wb, "id")));
    /* the whiteboard ACCEPT gave only an address: port "any" */
    assert_non_null(expectation_for(ev, "10.44.102.65", 0, "tcp"));
    /* voice: UDP to the inviter's ip:port, hit by the peer's first datagram */
    json_t *vo = expectation_for(ev, "10.44.102.65", 5004, "udp");
    assert_non_null(vo);
    assert_string_equal(str(vo, "app"), "voice");
    json_t *vh = hit_for(ev, num(vo, "id"));
    assert_non_null(vh);
    assert_string_equal(str(vh, "transport"), "udp");
    /* remote assistance was never connected: a miss; app sharing was
     * cancelled: nothing predicted */
    json_t *ra = expectation_for(ev, "10.1.1.211", 3389, "tcp");
    assert_non_null(ra);
    json_t *miss = sn_find(ev, "expectation_miss", "cookie", "99001");
    assert_non_null(miss);
    assert_int_equal(num(miss, "id"), num(ra, "id"));
    assert_null(sn_find(ev, "expectation", "cookie", "88001"));
    assert_int_equal(sn_count(ev, "expectation_miss"), 1);
    /* retired alternatives (the any-port ones) are not misses */
    assert_int_equal(base_run.stats.misses, 1);
}

static void test_file_event(void **state) {
    (void)state;
    json_t *f = sn_nth(base_run.events, "file", 0);
    assert_non_null(f);
    assert_string_equal(str(f, "status"), "complete");
    assert_string_equal(str(f, "name"), "readme.txt");
    assert_int_equal(num(f, "size_fil"), 60904);
    assert_int_equal(num(f, "size_announced"), 60904);
    assert_int_equal(num(f, "size_received"), 60904);
    assert_string_equal(str(f, "auth_cookie"), "93301");
    assert_int_equal(num(f, "bye_code"), 16777989);
}

static void test_other_traffic_ignored(void **state) {
    (void)state;
    size_t i;
    json_t *e;
    json_array_foreach(base_run.events, i, e) {
        if (strcmp(str(e, "event"), "flow") == 0) {
            assert_int_not_equal(num(e, "dport"), 80);
            assert_string_not_equal(str(e, "dst"), "192.0.2.81");
        }
    }
    assert_int_equal(sn_count(base_run.events, "anomaly"), 0);
    assert_int_equal(base_run.mem_left, 0); /* every reservation was given back */
}

/* Torture: the same streams, cut and shuffled; identical results. */
static void check_variant(const char *name, void (*tweak)(sn_scenario_opts *)) {
    sn_scenario_opts o;
    scenario_opts(&o);
    tweak(&o);
    sn_run r;
    write_and_run(&o, NULL, &r);
    json_t *n = sn_normalize(r.events, NULL);
    if (!json_equal(n, baseline)) {
        char *a = json_dumps(baseline, JSON_INDENT(1)), *b = json_dumps(n, JSON_INDENT(1));
        fprintf(stderr, "variant %s differs\n--- baseline\n%s\n--- variant\n%s\n", name, a, b);
        free(a);
        free(b);
    }
    assert_true(json_equal(n, baseline));
    assert_int_equal(r.stats.gaps, 0);
    assert_int_equal(r.stats.parse_errors, 0);
    assert_int_equal(r.mem_left, 0);
    json_decref(n);
    sn_run_free(&r);
}

static void v_mss1(sn_scenario_opts *o) { o->policy.mss = 1; }
static void v_reorder(sn_scenario_opts *o) {
    o->policy.mss = 3;
    o->policy.reorder = 1;
}
static void v_dup(sn_scenario_opts *o) {
    o->policy.mss = 5;
    o->policy.duplicate = 1;
}
static void v_overlap(sn_scenario_opts *o) {
    o->policy.mss = 4;
    o->policy.overlap = 1;
}
static void v_all(sn_scenario_opts *o) {
    o->policy.mss = 2;
    o->policy.reorder = o->policy.duplicate = o->policy.overlap = 1;
}
static void v_vlan(sn_scenario_opts *o) {
    o->synth.nvlan = 1;
    o->synth.vlan[0] = 7;
}
static void v_qinq(sn_scenario_opts *o) {
    o->synth.nvlan = 2;
    o->synth.vlan[0] = 100;
    o->synth.vlan[1] = 7;
    o->policy.mss = 9;
}
static void v_pcapng(sn_scenario_opts *o) { o->synth.format = MSNSYNTH_PCAPNG; }
static void v_raw(sn_scenario_opts *o) { o->synth.link = MSNSYNTH_LINK_RAW; }
static void v_sll(sn_scenario_opts *o) { o->synth.link = MSNSYNTH_LINK_SLL; }
static void v_sll2(sn_scenario_opts *o) {
    o->synth.link = MSNSYNTH_LINK_SLL2;
    o->synth.format = MSNSYNTH_PCAPNG;
}
static void v_null(sn_scenario_opts *o) { o->synth.link = MSNSYNTH_LINK_NULL; }
static void v_frag(sn_scenario_opts *o) {
    o->synth.ipv4_frag_mtu = 200;
    o->policy.mss = 700;
    o->policy.reorder = 1;
}

static void test_torture_1byte(void **s) {
    (void)s;
    check_variant("mss1", v_mss1);
}
static void test_torture_reorder(void **s) {
    (void)s;
    check_variant("reorder", v_reorder);
}
static void test_torture_duplicate(void **s) {
    (void)s;
    check_variant("duplicate", v_dup);
}
static void test_torture_overlap(void **s) {
    (void)s;
    check_variant("overlap", v_overlap);
}
static void test_torture_all(void **s) {
    (void)s;
    check_variant("all", v_all);
}
static void test_link_vlan(void **s) {
    (void)s;
    check_variant("vlan", v_vlan);
}
static void test_link_qinq(void **s) {
    (void)s;
    check_variant("qinq", v_qinq);
}
static void test_pcapng(void **s) {
    (void)s;
    check_variant("pcapng", v_pcapng);
}
static void test_link_raw(void **s) {
    (void)s;
    check_variant("raw", v_raw);
}
static void test_link_sll(void **s) {
    (void)s;
    check_variant("sll", v_sll);
}
static void test_link_sll2(void **s) {
    (void)s;
    check_variant("sll2", v_sll2);
}
static void test_link_null(void **s) {
    (void)s;
    check_variant("null", v_null);
}
static void test_ipv4_fragments(void **s) {
    (void)s;
    check_variant("frag", v_frag);
}

/* IPv6 fragments (with and without extension headers, segments reordered)
 * give the same events as the unfragmented IPv6 capture; with --no-defrag
 * they are reported as fragment anomalies instead. */
static void test_ipv6_fragments(void **state) {
    (void)state;
    for (int ext = 0; ext < 2; ext++) {
        sn_scenario_opts o;
        scenario_opts(&o);
        o.ipv6 = 1;
        o.synth.ipv6_ext_headers = ext;
        o.policy.mss = 700;
        o.policy.reorder = 1;
        sn_run plain, frag;
        write_and_run(&o, NULL, &plain);
        json_t *want = sn_normalize(plain.events, NULL);
        o.synth.ipv6_frag_mtu = 200;
        write_and_run(&o, NULL, &frag);
        json_t *got = sn_normalize(frag.events, NULL);
        assert_true(json_array_size(want) > 50);
        assert_true(json_equal(got, want));
        assert_true(frag.stats.packets > plain.stats.packets); /* it was fragmented */
        assert_int_equal(frag.stats.gaps, 0);
        assert_int_equal(frag.stats.parse_errors, 0);
        assert_int_equal(frag.stats.decode_errors, 0);
        assert_int_equal(frag.mem_left, 0);
        json_decref(got);
        json_decref(want);
        sn_run_free(&frag);
        sn_run_free(&plain);

        sn_config cfg;
        sn_config_defaults(&cfg);
        cfg.defrag = 0;
        write_and_run(&o, &cfg, &frag);
        assert_true(sn_find(frag.events, "anomaly", "kind", "fragment") != NULL);
        assert_true(sn_count(frag.events, "message") < sn_count(base_run.events, "message"));
        sn_run_free(&frag);
    }
}

/* IPv6 transport: the payload still names IPv4 addresses, so predictions
 * are not hit; everything the conversation says is the same. */
static void test_ipv6(void **state) {
    (void)state;
    static const char *const types[] = {"message", "invitation", "expectation", NULL};
    json_t *want = sn_normalize(base_run.events, types);
    for (int ext = 0; ext < 2; ext++) {
        sn_scenario_opts o;
        scenario_opts(&o);
        o.ipv6 = 1;
        o.synth.ipv6_ext_headers = ext;
        o.policy.mss = ext ? 3 : 0;
        o.policy.reorder = ext;
        sn_run r;
        write_and_run(&o, NULL, &r);
        json_t *got = sn_normalize(r.events, types);
        /* file events carry no address; expectations are the same text */
        assert_int_equal(json_array_size(got), json_array_size(want));
        size_t i;
        json_t *e;
        json_array_foreach(want, i, e) {
            json_t *g = json_array_get(got, i);
            assert_string_equal(str(g, "event"), str(e, "event"));
            assert_string_equal(str(g, "text"), str(e, "text"));
            assert_string_equal(str(g, "cookie"), str(e, "cookie"));
        }
        assert_non_null(sn_find(r.events, "login", "user", "example@passport.com"));
        assert_int_equal(r.stats.parse_errors, 0);
        assert_int_equal(r.stats.gaps, 0);
        json_decref(got);
        sn_run_free(&r);
    }
    json_decref(want);
}

/* Gaps: data lost from the capture is reported, the parser recovers, and
 * whatever is reported was really said. */
static void test_gaps(void **state) {
    (void)state;
    static const unsigned drops[] = {7, 13, 3};
    static const size_t mss[] = {0, 20, 50};
    static const char *const types[] = {"message", NULL};
    json_t *all_msgs = sn_normalize(base_run.events, types);
    for (size_t k = 0; k < 3; k++) {
        sn_scenario_opts o;
        scenario_opts(&o);
        o.policy.drop_every = drops[k];
        o.policy.mss = mss[k];
        sn_run r;
        write_and_run(&o, NULL, &r);
        assert_true(r.stats.gaps > 0);
        assert_true(sn_count(r.events, "anomaly") > 0);
        json_t *msgs = sn_normalize(r.events, types);
        size_t i;
        json_t *m;
        json_array_foreach(msgs, i, m) {
            /* flow and session numbers shift when a lost packet hides a flow */
            int found = 0;
            size_t j;
            json_t *b;
            json_array_foreach(all_msgs, j, b) {
                found |= strcmp(str(m, "text"), str(b, "text")) == 0 &&
                    strcmp(str(m, "sender"), str(b, "sender")) == 0 && strcmp(str(m, "kind"), str(b, "kind")) == 0 &&
                    json_equal(json_object_get(m, "recipients"), json_object_get(b, "recipients"));
            }
            if (!found) {
                char *s = json_dumps(m, 0);
                fprintf(stderr, "message not in the baseline: %s\n", s);
                free(s);
            }
            assert_true(found);
        }
        assert_int_equal(r.mem_left, 0);
        json_decref(msgs);
        sn_run_free(&r);
    }
    json_decref(all_msgs);
}

static void test_snaplen_cut(void **state) {
    (void)state;
    sn_scenario_opts o;
    scenario_opts(&o);
    o.synth.snaplen = 90;
    sn_run r;
    write_and_run(&o, NULL, &r);
    assert_int_equal(r.stats.decode_errors, 0);
    assert_true(r.stats.gaps > 0);
    /* counted as cut, and at what length: the summary and stats say why */
    assert_true(r.stats.packets_truncated > 0 && r.stats.packets_truncated < r.stats.packets);
    assert_int_equal(r.stats.truncated_caplen, 90);
    assert_int_equal(r.mem_left, 0);
    sn_run_free(&r);
}

static void test_small_memcap(void **state) {
    (void)state;
    sn_scenario_opts o;
    scenario_opts(&o);
    o.policy.mss = 64;
    o.policy.reorder = 1;
    sn_config cfg;
    sn_config_defaults(&cfg);
    cfg.memcap = 16 * 1024;
    cfg.flow_limit = 4096;
    sn_run r;
    write_and_run(&o, &cfg, &r);
    assert_true(r.mem_peak <= cfg.memcap);
    assert_int_equal(r.mem_left, 0);
    assert_non_null(sn_nth(r.events, "login", 0));
    sn_run_free(&r);
}

/* A budget too small for even one flow: no flow can be closed to make
 * room, so every packet that would start one is refused - each a memcap
 * anomaly and counted, never dropped in silence. */
static void test_memcap_below_one_flow(void **state) {
    (void)state;
    sn_scenario_opts o;
    scenario_opts(&o);
    sn_config cfg;
    sn_config_defaults(&cfg);
    cfg.memcap = 1;
    cfg.anomaly_limit = 0; /* every one */
    sn_run r;
    write_and_run(&o, &cfg, &r);
    assert_int_equal(r.stats.flows, 0);
    assert_true(r.stats.packets_not_admitted > 0);
    assert_int_equal(sn_count(r.events, "anomaly"), r.stats.packets_not_admitted);
    json_t *a = sn_nth(r.events, "anomaly", 0);
    assert_non_null(a);
    assert_string_equal(str(a, "kind"), "memcap");
    assert_null(sn_nth(r.events, "login", 0));
    assert_int_equal(r.mem_left, 0);
    sn_run_free(&r);
}

static void test_extract(void **state) {
    (void)state;
    char dir[128];
    path_in_tmp(dir, sizeof dir, "files");
    assert_int_equal(mkdir(dir, 0700), 0);
    sn_scenario_opts o;
    scenario_opts(&o);
    o.policy.mss = 500;
    o.policy.reorder = 1;
    sn_config cfg;
    sn_config_defaults(&cfg);
    cfg.extract_dir = dir;
    sn_run r;
    write_and_run(&o, &cfg, &r);
    json_t *f = sn_nth(r.events, "file", 0);
    assert_non_null(f);
    assert_string_equal(str(f, "status"), "complete");
    const char *path = str(f, "path");
    assert_true(strncmp(path, dir, strlen(dir)) == 0);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    size_t n = 0;
    int ch, same = 1;
    while ((ch = fgetc(fp)) != EOF) {
        same &= (unsigned char)ch == sn_scenario_file_byte(n);
        n++;
    }
    fclose(fp);
    assert_int_equal(n, SN_SCENARIO_FILE_SIZE);
    assert_true(same);
    unlink(path);
    rmdir(dir);
    sn_run_free(&r);
}

/* Long downloads that are not MSN: classified on their first bytes, then
 * neither reassembled nor buffered, so they never reach the per-flow limit
 * and never report gaps, whatever their segments look like. An MSN login
 * in the same capture is still seen. */
static void http_download(msnsynth *w, unsigned k, int handshake, const msnsynth_seg_policy *pol, int lose_start) {
    msnsynth_endpoint c, s;
    char ip[32];
    snprintf(ip, sizeof ip, "192.168.7.%u", k + 10);
    msnsynth_endpoint_set(&c, ip, (uint16_t)(40000 + k));
    msnsynth_endpoint_set(&s, "198.51.100.80", 80);
    msnsynth_tcp *t = msnsynth_tcp_open(w, &c, &s, 1000u + k * 7919u, 0x80000000u + k * 104729u, handshake);
    assert_non_null(t);
    if (lose_start) {
        /* the first bytes of both directions never reach the capture */
        msnsynth_seg_policy drop = *pol;
        drop.drop_every = 1;
        msnsynth_tcp_policy(t, &drop);
    } else {
        msnsynth_tcp_policy(t, pol);
    }
    if (handshake)
        assert_int_equal(msnsynth_tcp_send_str(t, 0, "GET /big.iso HTTP/1.1\r\nHost: example.net\r\n\r\n"), 0);
    assert_int_equal(msnsynth_tcp_send_str(t, 1, "HTTP/1.1 200 OK\r\nContent-Length: 4194304\r\n\r\n"), 0);
    msnsynth_tcp_policy(t, pol);
    static unsigned char chunk[65536];
    for (size_t i = 0; i < sizeof chunk; i++) chunk[i] = (unsigned char)(i * 131u + k);
    for (unsigned i = 0; i < 64; i++) /* 4 MiB: four times the per-flow limit */
        assert_int_equal(msnsynth_tcp_send(t, 1, chunk, sizeof chunk), 0);
    assert_int_equal(msnsynth_tcp_close(t, 1), 0);
}

/* A capture of the test's own in the temporary directory (its path in
 * path), packets 10 µs apart. */
static msnsynth *open_capture(char *path, size_t cap, const char *name) {
    path_in_tmp(path, cap, name);
    msnsynth_opts so;
    memset(&so, 0, sizeof so);
    so.step_us = 10;
    msnsynth *w = msnsynth_open(path, &so);
    assert_non_null(w);
    return w;
}

static void test_long_other_flows(void **state) {
    (void)state;
    char path[128];
    msnsynth *w = open_capture(path, sizeof path, "downloads.pcap");
    msnsynth_seg_policy plain = {.acks = 1}, rough = {.mss = 1000, .reorder = 1, .duplicate = 1, .acks = 1},
                        lossy = {.drop_every = 5, .acks = 1};
    http_download(w, 1, 1, &plain, 0);
    http_download(w, 2, 1, &rough, 0);
    http_download(w, 3, 1, &lossy, 0);
    http_download(w, 4, 0, &plain, 0); /* picked up mid-stream */
    http_download(w, 5, 1, &plain, 1);
    msnsynth_endpoint c, s;
    msnsynth_endpoint_set(&c, "10.9.9.9", 1025);
    msnsynth_endpoint_set(&s, "64.4.12.200", 1863);
    msnsynth_tcp *ns = msnsynth_tcp_open(w, &c, &s, 5, 9, 1);
    assert_non_null(ns);
    msnsynth_tcp_send_str(ns, 0, "VER 1 MSNP7 CVR0\r\n");
    msnsynth_tcp_send_str(ns, 1, "VER 1 MSNP7 CVR0\r\n");
    msnsynth_tcp_send_str(ns, 0, "USR 2 MD5 I carol@example.com\r\n");
    msnsynth_tcp_send_str(ns, 1, "USR 2 MD5 S 1013928519.693957190\r\n");
    msnsynth_tcp_send_str(ns, 0, "USR 3 MD5 S 2b5e3fd3a03a5a5c4e1b8ccf32d8dc32\r\n");
    msnsynth_tcp_send_str(ns, 1, "USR 3 OK carol@example.com Carol 1\r\n");
    msnsynth_tcp_close(ns, 0);
    assert_int_equal(msnsynth_close(w), 0);

    sn_run r;
    assert_int_equal(sn_run_file(path, NULL, &r), 0);
    unlink(path);
    assert_int_equal(r.stats.gaps, 0);
    assert_int_equal(r.stats.gap_bytes, 0);
    assert_null(sn_find(r.events, "anomaly", "kind", "gap"));
    assert_int_equal(sn_count(r.events, "anomaly"), 0);
    assert_null(sn_find(r.events, "flow", "dst", "198.51.100.80"));
    /* nothing of the 20 MiB was held: far below one flow's limit */
    assert_true(r.mem_peak < 64 * 1024);
    assert_int_equal(r.mem_left, 0);
    json_t *login = sn_find(r.events, "login", "user", "carol@example.com");
    assert_non_null(login);
    assert_int_equal(sn_count(r.events, "flow"), 1);
    sn_run_free(&r);
}

/* A newer client (MSNP11) on the same port: its payload commands (UBX,
 * UUX) are framed by length, so a personal message holding a line that
 * looks like a command predicts nothing, and the real RNG after it still
 * does. */
/* A text/plain message's charset: ISO-8859-1, or none, is Latin-1 (each
 * byte a character, written as UTF-8), but a body without a charset that
 * is valid UTF-8 stays as it is; UTF-8 stays as it is, its broken bytes
 * U+FFFD; another charset is not converted. */
static void test_message_charsets(void **state) {
    (void)state;
    char path[128];
    msnsynth *w = open_capture(path, sizeof path, "charsets.pcap");
    msnsynth_endpoint c, sb;
    msnsynth_endpoint_set(&c, "10.9.9.9", 1030);
    msnsynth_endpoint_set(&sb, "64.4.12.210", 1863);
    msnsynth_tcp *t = msnsynth_tcp_open(w, &c, &sb, 7, 11, 1);
    assert_non_null(t);
    msnsynth_tcp_send_str(t, 0, "USR 1 alice@example.com 1.2.3\r\n");
    msnsynth_tcp_send_str(t, 1, "USR 1 OK alice@example.com Alice\r\n");
    static const char *const bodies[] = {
        "Content-Type: text/plain\r\n\r\ncaf\xe9 \xbfs\xed?",
        "Content-Type: text/plain; charset=ISO-8859-1\r\n\r\nna\xefve",
        "Content-Type: text/plain; charset=UTF-8\r\n\r\ncaf\xc3\xa9 \xe9",
        "Content-Type: text/plain; charset=Shift_JIS\r\n\r\n\x82\xa0",
        "Content-Type: text/plain\r\n\r\nd\xc3\xa9j\xc3\xa0 vu",
        /* high bytes in and across the eight-byte words the body is
         * counted in, and in its tail */
        "Content-Type: text/plain; charset=latin1\r\n\r\n\xe0\xe9 ol\xe9\xff\xe8 r\xe9sum\xe9s na\xefv\xe7",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        char payload[256], line[320];
        int pn = snprintf(payload, sizeof payload, "MIME-Version: 1.0\r\n%s", bodies[i]);
        snprintf(line, sizeof line, "MSG %zu N %d\r\n%s", i + 2, pn, payload);
        msnsynth_tcp_send_str(t, 0, line);
    }
    msnsynth_tcp_close(t, 0);
    assert_int_equal(msnsynth_close(w), 0);

    sn_run r;
    assert_int_equal(sn_run_file(path, NULL, &r), 0);
    unlink(path);
    assert_non_null(sn_find(r.events, "message", "text", "caf\xc3\xa9 \xc2\xbfs\xc3\xad?"));
    assert_non_null(sn_find(r.events, "message", "text", "na\xc3\xafve"));
    assert_non_null(sn_find(r.events, "message", "text", "caf\xc3\xa9 \xef\xbf\xbd"));
    assert_non_null(sn_find(r.events, "message", "text", "\xef\xbf\xbd\xef\xbf\xbd"));
    /* no charset, but valid UTF-8: taken as written, not read as Latin-1 */
    assert_non_null(sn_find(r.events, "message", "text", "d\xc3\xa9j\xc3\xa0 vu"));
    assert_non_null(sn_find(r.events, "message", "text",
                            "\xc3\xa0\xc3\xa9 ol\xc3\xa9\xc3\xbf\xc3\xa8 r\xc3\xa9sum\xc3\xa9s na\xc3\xafv\xc3\xa7"));
    sn_run_free(&r);
}

/* A switchboard login's user is the form the server's USR t OK answered
 * with; an answer whose address does not fit (an oversized_field anomaly)
 * leaves the form the client typed. */
static void test_login_user_as_answered(void **state) {
    (void)state;
    char path[128];
    msnsynth *w = open_capture(path, sizeof path, "sbuser.pcap");
    msnsynth_endpoint c, sb;
    msnsynth_endpoint_set(&sb, "64.4.12.210", 1863);
    char big[300];
    memset(big, 'x', 200);
    memcpy(big + 200, "@example.com", 13);
    const char *answers[] = {"alice@example.com", big};
    const char *typed[] = {"Alice@Example.COM", "Bob@Example.COM"};
    for (int i = 0; i < 2; i++) {
        char line[400];
        msnsynth_endpoint_set(&c, "10.9.9.9", (uint16_t)(1030 + i));
        msnsynth_tcp *t = msnsynth_tcp_open(w, &c, &sb, (uint32_t)(7 + i * 1000), (uint32_t)(11 + i * 1000), 1);
        assert_non_null(t);
        snprintf(line, sizeof line, "USR 1 %s 1.2.3\r\n", typed[i]);
        msnsynth_tcp_send_str(t, 0, line);
        snprintf(line, sizeof line, "USR 1 OK %s Alice\r\n", answers[i]);
        msnsynth_tcp_send_str(t, 1, line);
        msnsynth_tcp_close(t, 0);
    }
    assert_int_equal(msnsynth_close(w), 0);

    sn_run r;
    assert_int_equal(sn_run_file(path, NULL, &r), 0);
    unlink(path);
    json_t *open = sn_find(r.events, "switchboard", "user", "alice@example.com");
    assert_non_null(open);
    assert_string_equal(json_string_value(json_object_get(open, "action")), "open");
    assert_null(sn_find(r.events, "switchboard", "user", "Alice@Example.COM"));
    open = sn_find(r.events, "switchboard", "user", "Bob@Example.COM");
    assert_non_null(open);
    assert_string_equal(json_string_value(json_object_get(open, "action")), "open");
    assert_non_null(sn_find(r.events, "anomaly", "kind", "oversized_field"));
    sn_run_free(&r);
}

/* A relayed message's sender name is URL-decoded; one without a '%' is
 * taken as written; a name that decodes to a NUL is cut there; one that
 * does not fit the decoding buffer (389 bytes do, 390 do not) has no
 * field, with a '%' or without. */
static void test_message_sender_names(void **state) {
    (void)state;
    char path[128];
    msnsynth *w = open_capture(path, sizeof path, "names.pcap");
    msnsynth_endpoint c, sb;
    msnsynth_endpoint_set(&c, "10.9.9.9", 1030);
    msnsynth_endpoint_set(&sb, "64.4.12.210", 1863);
    msnsynth_tcp *t = msnsynth_tcp_open(w, &c, &sb, 7, 11, 1);
    assert_non_null(t);
    msnsynth_tcp_send_str(t, 0, "USR 1 alice@example.com 1.2.3\r\n");
    msnsynth_tcp_send_str(t, 1, "USR 1 OK alice@example.com Alice\r\n");
    char n389[400], n390[400], p390[400];
    memset(n389, 'n', 389);
    n389[389] = '\0';
    memset(n390, 'n', 390);
    n390[390] = '\0';
    memset(p390, 'n', 392); /* decodes to 390 bytes */
    p390[392] = '\0';
    memcpy(p390, "%41", 3);
    const char *const names[] = {"Bob%20Smith", "Bob", "A%00B", "50%", n389, n390, p390};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char payload[64], line[600];
        int pn = snprintf(payload, sizeof payload, "Content-Type: text/plain\r\n\r\nm%zu", i);
        snprintf(line, sizeof line, "MSG bob@example.com %s %d\r\n%s", names[i], pn, payload);
        msnsynth_tcp_send_str(t, 1, line);
    }
    msnsynth_tcp_close(t, 0);
    assert_int_equal(msnsynth_close(w), 0);

    sn_run r;
    assert_int_equal(sn_run_file(path, NULL, &r), 0);
    unlink(path);
    static const char *const want[] = {"Bob Smith", "Bob", "A", "50%", NULL, NULL, NULL};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char text[8];
        snprintf(text, sizeof text, "m%zu", i);
        json_t *ev = sn_find(r.events, "message", "text", text);
        assert_non_null(ev);
        json_t *name = json_object_get(ev, "sender_name");
        if (i == 4) {
            assert_true(json_is_string(name));
            assert_int_equal(strlen(json_string_value(name)), 389);
        } else if (want[i]) {
            assert_true(json_is_string(name));
            assert_string_equal(json_string_value(name), want[i]);
        } else {
            assert_null(name);
        }
    }
    sn_run_free(&r);
}

/* An orphan (its INVITE not captured) ended by a CANCEL without a
 * Cancel-Code is cancelled all the same: an INVITE of its cookie after it
 * is a new invitation, not the orphan's late INVITE. */
static void test_cancel_without_code(void **state) {
    (void)state;
    char path[128];
    msnsynth *w = open_capture(path, sizeof path, "cancel.pcap");
    msnsynth_endpoint c, sb;
    msnsynth_endpoint_set(&c, "10.9.9.9", 1030);
    msnsynth_endpoint_set(&sb, "64.4.12.210", 1863);
    msnsynth_tcp *t = msnsynth_tcp_open(w, &c, &sb, 7, 11, 1);
    assert_non_null(t);
    msnsynth_tcp_send_str(t, 0, "USR 1 alice@example.com 1.2.3\r\n");
    msnsynth_tcp_send_str(t, 1, "USR 1 OK alice@example.com Alice\r\n");
    msnsynth_tcp_send_str(t, 0, "CAL 2 bob@example.com\r\n");
    msnsynth_tcp_send_str(t, 1, "CAL 2 RINGING 4242\r\n");
    msnsynth_tcp_send_str(t, 1, "JOI bob@example.com Bob\r\n");
    static const char *const msgs[][2] = {
        {"MSG bob@example.com Bob", "Invitation-Command: ACCEPT\r\nInvitation-Cookie: 77\r\n"},
        {"MSG 3 N", "Invitation-Command: CANCEL\r\nInvitation-Cookie: 77\r\n"},
        {"MSG 4 N",
         "Application-Name: File Transfer\r\nInvitation-Command: INVITE\r\nInvitation-Cookie: 77\r\n"
         "Application-File: new.txt\r\nApplication-FileSize: 3\r\n"},
    };
    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
        char payload[512], line[600];
        int pn =
            snprintf(payload, sizeof payload,
                     "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\n\r\n%s\r\n", msgs[i][1]);
        snprintf(line, sizeof line, "%s %d\r\n%s", msgs[i][0], pn, payload);
        msnsynth_tcp_send_str(t, i == 0, line);
    }
    msnsynth_tcp_close(t, 0);
    assert_int_equal(msnsynth_close(w), 0);

    sn_run r;
    assert_int_equal(sn_run_file(path, NULL, &r), 0);
    unlink(path);
    assert_int_equal(sn_count(r.events, "invitation"), 3);
    assert_int_equal(num(sn_find(r.events, "invitation", "command", "CANCEL"), "invitation"), 1);
    json_t *invite = sn_find(r.events, "invitation", "command", "INVITE");
    assert_int_equal(num(invite, "invitation"), 2);
    assert_string_equal(str(invite, "file"), "new.txt");
    sn_run_free(&r);
}

/* A notification connection picked up between the two steps of an
 * MSNP2-5 login: its USR ... MD5 S and the answer without the verified
 * flag (USR t OK email name) are a login, not a switchboard session. */
static void test_midstream_login_answer(void **state) {
    (void)state;
    char path[128];
    msnsynth *w = open_capture(path, sizeof path, "midlogin.pcap");
    msnsynth_endpoint c, ns;
    msnsynth_endpoint_set(&c, "10.9.9.9", 1030);
    msnsynth_endpoint_set(&ns, "64.4.12.200", 1863);
    msnsynth_tcp *t = msnsynth_tcp_open(w, &c, &ns, 7, 11, 0);
    assert_non_null(t);
    msnsynth_tcp_send_str(t, 0, "USR 4 MD5 S 23e54a439a6a17d15025f4c6cbd0f6b5\r\n");
    msnsynth_tcp_send_str(t, 1, "USR 4 OK alice@example.com Alice\r\n");
    msnsynth_tcp_send_str(t, 0, "XFR 5 SB\r\n");
    msnsynth_tcp_send_str(t, 1, "XFR 5 SB 64.4.12.210:1863 CKI 1.2.3\r\n");
    msnsynth_tcp_close(t, 0);
    assert_int_equal(msnsynth_close(w), 0);

    sn_run r;
    assert_int_equal(sn_run_file(path, NULL, &r), 0);
    unlink(path);
    json_t *login = sn_find(r.events, "login", "user", "alice@example.com");
    assert_non_null(login);
    assert_string_equal(str(login, "result"), "ok");
    assert_null(sn_find(r.events, "switchboard", "action", "open"));
    assert_string_equal(str(sn_find(r.events, "flow", "app", "msnp"), "role"), "ns");
    sn_run_free(&r);
}

static void test_later_version_payloads(void **state) {
    (void)state;
    char path[128];
    msnsynth *w = open_capture(path, sizeof path, "msnp11.pcap");
    msnsynth_endpoint c, s, sb;
    msnsynth_endpoint_set(&c, "10.9.9.9", 1030);
    msnsynth_endpoint_set(&s, "64.4.12.200", 1863);
    msnsynth_tcp *ns = msnsynth_tcp_open(w, &c, &s, 5, 9, 1);
    assert_non_null(ns);
    static const char psm[] = "<Data><PSM>\r\nRNG 1 198.51.100.66:1863 CKI 77.88 eve@example.com Eve\r\n</PSM>"
                              "<CurrentMedia></CurrentMedia></Data>";
    char line[512];
    msnsynth_tcp_send_str(ns, 0, "VER 1 MSNP11 MSNP10 CVR0\r\n");
    msnsynth_tcp_send_str(ns, 1, "VER 1 MSNP11\r\n");
    snprintf(line, sizeof line, "UBX bob@example.com %zu\r\n%s", sizeof psm - 1, psm);
    msnsynth_tcp_send_str(ns, 1, line);
    snprintf(line, sizeof line, "UUX 9 %zu\r\n%s", sizeof psm - 1, psm);
    msnsynth_tcp_send_str(ns, 0, line);
    msnsynth_tcp_send_str(ns, 1, "UUX 9 0\r\n");
    msnsynth_tcp_send_str(ns, 1, "RNG 17069658 64.4.12.210:1863 CKI 1115371039.15845 bob@example.com Bob\r\n");
    msnsynth_endpoint_set(&c, "10.9.9.9", 1031);
    msnsynth_endpoint_set(&sb, "64.4.12.210", 1863);
    msnsynth_tcp *t = msnsynth_tcp_open(w, &c, &sb, 7, 11, 1);
    assert_non_null(t);
    msnsynth_tcp_send_str(t, 0, "ANS 1 alice@example.com 1115371039.15845 17069658\r\n");
    msnsynth_tcp_send_str(t, 1, "IRO 1 1 1 bob@example.com Bob\r\n");
    msnsynth_tcp_send_str(t, 1, "ANS 1 OK\r\n");
    msnsynth_tcp_close(t, 0);
    msnsynth_tcp_close(ns, 0);
    assert_int_equal(msnsynth_close(w), 0);

    sn_run r;
    assert_int_equal(sn_run_file(path, NULL, &r), 0);
    unlink(path);
    assert_int_equal(sn_count(r.events, "anomaly"), 0);
    assert_int_equal(sn_count(r.events, "expectation"), 1);
    json_t *x = sn_find(r.events, "expectation", "address", "64.4.12.210");
    assert_non_null(x);
    assert_string_equal(str(x, "cookie"), "1115371039.15845");
    assert_null(sn_find(r.events, "expectation", "address", "198.51.100.66"));
    assert_non_null(sn_find(r.events, "expectation_hit", "address", "64.4.12.210"));
    sn_run_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_and_referral),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_invitations),
        cmocka_unit_test(test_predictions),
        cmocka_unit_test(test_file_event),
        cmocka_unit_test(test_other_traffic_ignored),
        cmocka_unit_test(test_torture_1byte),
        cmocka_unit_test(test_torture_reorder),
        cmocka_unit_test(test_torture_duplicate),
        cmocka_unit_test(test_torture_overlap),
        cmocka_unit_test(test_torture_all),
        cmocka_unit_test(test_link_vlan),
        cmocka_unit_test(test_link_qinq),
        cmocka_unit_test(test_pcapng),
        cmocka_unit_test(test_link_raw),
        cmocka_unit_test(test_link_sll),
        cmocka_unit_test(test_link_sll2),
        cmocka_unit_test(test_link_null),
        cmocka_unit_test(test_ipv4_fragments),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_ipv6_fragments),
        cmocka_unit_test(test_gaps),
        cmocka_unit_test(test_snaplen_cut),
        cmocka_unit_test(test_small_memcap),
        cmocka_unit_test(test_memcap_below_one_flow),
        cmocka_unit_test(test_extract),
        cmocka_unit_test(test_long_other_flows),
        cmocka_unit_test(test_later_version_payloads),
        cmocka_unit_test(test_message_charsets),
        cmocka_unit_test(test_login_user_as_answered),
        cmocka_unit_test(test_message_sender_names),
        cmocka_unit_test(test_cancel_without_code),
        cmocka_unit_test(test_midstream_login_answer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
