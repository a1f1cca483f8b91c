/* test_gate_config - msngate settings and stats helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "ruleset.h"
#include "stats.h"

static void test_defaults(void **state) {
    (void)state;
    gate_config c;
    gate_config_defaults(&c);
    assert_int_equal(c.mode, GATE_PASSIVE);
    assert_string_equal(c.table, "msngate");
    assert_int_equal(c.queue_bypass, 1); /* fail-open unless asked otherwise */
    assert_int_equal(c.forged_policy, GATE_POLICY_SKIP);
    assert_int_equal(c.nat_policy, GATE_POLICY_OPEN);
    assert_int_equal(c.ncontrol_ports, 1);
    assert_int_equal(c.control_ports[0], 1863);
    assert_int_equal(c.expect_timeout_s, 300);
}

static void test_values(void **state) {
    (void)state;
    gate_config c;
    gate_config_defaults(&c);
    char err[256];
    assert_int_equal(gate_config_set(&c, "mode", "inline", err, sizeof err), 0);
    assert_int_equal(c.mode, GATE_INLINE);
    assert_int_equal(gate_config_set(&c, "control_ports", "1863, 1864,7001", err, sizeof err), 0);
    assert_int_equal(c.ncontrol_ports, 3);
    assert_int_equal(c.control_ports[2], 7001);
    assert_int_equal(gate_config_set(&c, "queue_bypass", "no", err, sizeof err), 0);
    assert_int_equal(c.queue_bypass, 0);
    assert_int_equal(gate_config_set(&c, "mark_control", "0x10", err, sizeof err), 0);
    assert_int_equal(c.mark_control, 0x10);
    assert_int_equal(gate_config_set(&c, "forged", "open", err, sizeof err), 0);
    assert_int_equal(c.forged_policy, GATE_POLICY_OPEN);
    assert_int_equal(gate_config_set(&c, "direction", "in", err, sizeof err), 0);
    assert_int_equal(c.capture_in_only, 1);
    assert_int_equal(c.reverse_path, 1); /* the default */
    assert_int_equal(gate_config_set(&c, "reverse_path", "off", err, sizeof err), 0);
    assert_int_equal(c.reverse_path, 0);
    assert_int_equal(gate_config_set(&c, "reverse_path", "strict", err, sizeof err), 0);
    assert_int_equal(c.reverse_path, 1);

    /* refused, and the setting is unchanged */
    const char *bad[][2] = {{"mode", "both"},
                            {"control_ports", "0"},
                            {"control_ports", "70000"},
                            {"control_ports", "18x"},
                            {"expect_timeout", "0"},
                            {"expect_timeout", "-5"},
                            {"queue_num", "65536"},
                            {"table", "bad name"},
                            {"table", "x;flush ruleset"},
                            {"forged", "maybe"},
                            {"mark_secondary", "0"},
                            {"direction", "up"},
                            {"max_pinholes", "0"},
                            {"realtime", "sometimes"},
                            {"control_ports", ""},
                            {"table", "1abc"},
                            {"control_ports", " , "},
                            {"reverse_path", "loose"},
                            /* strtoul negates: this one was port 1 */
                            {"control_ports", "-18446744073709551615"},
                            {"control_ports", "1863,+1864"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gate_config before = c;
        err[0] = '\0';
        assert_int_equal(gate_config_set(&c, bad[i][0], bad[i][1], err, sizeof err), -1);
        assert_non_null(strstr(err, bad[i][0]));
        assert_memory_equal(&before, &c, sizeof c);
    }
    /* a leading zero is decimal, not octal; hex only after 0x; no space */
    assert_int_equal(gate_config_set(&c, "stats_interval", "010", err, sizeof err), 0);
    assert_int_equal(c.stats_interval_s, 10);
    assert_int_equal(gate_config_set(&c, "queue_num", "0x10", err, sizeof err), 0);
    assert_int_equal(c.queue_num, 16);
    assert_int_equal(gate_config_set(&c, "queue_num", " 7", err, sizeof err), -1);
    /* a refused value says what is wanted */
    assert_int_equal(gate_config_set(&c, "queue_num", "-1", err, sizeof err), -1);
    assert_string_equal(err, "bad value \"-1\" for queue_num (want a number from 0 to 65535)");
    assert_int_equal(gate_config_set(&c, "colour", "blue", err, sizeof err), -1);
    assert_string_equal(err, "unknown setting \"colour\"");
    /* 17 ports do not fit */
    assert_int_equal(gate_config_set(&c, "control_ports", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", err, sizeof err),
                     -1);
}

static void write_file(const char *path, const char *text) {
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_ini(void **state) {
    (void)state;
    char path[] = "/tmp/msngate-ini-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    gate_config c;
    gate_config_defaults(&c);
    char err[512];
    write_file(path, "; comment\n[msngate]\nmode = inline\nqueue_num = 7\nnat = skip\nstats_file = /run/x.json\n");
    assert_int_equal(gate_config_load(&c, path, err, sizeof err), 0);
    assert_int_equal(c.mode, GATE_INLINE);
    assert_int_equal(c.queue_num, 7);
    assert_int_equal(c.nat_policy, GATE_POLICY_SKIP);
    assert_string_equal(c.stats_file, "/run/x.json");

    write_file(path, "[msngate]\nmode = inline\n\nexpect_timeout = soon\n");
    assert_int_equal(gate_config_load(&c, path, err, sizeof err), -1);
    char want[600];
    snprintf(want, sizeof want, "%s:4: bad value \"soon\" for expect_timeout (want seconds from 1 to 86400)", path);
    assert_string_equal(err, want);

    /* a line longer than libinih's 200-byte default is read whole: a BPF
     * filter of 400 bytes arrives as written */
    char filter[420], text[600];
    size_t fn = 0;
    while (fn + 26 < 400)
        fn += (size_t)snprintf(filter + fn, sizeof filter - fn, "%shost 10.0.0.%zu", fn ? " or " : "", fn % 250);
    snprintf(text, sizeof text, "[msngate]\nfilter = %s\nqueue_num = 9\n", filter);
    write_file(path, text);
    assert_int_equal(gate_config_load(&c, path, err, sizeof err), 0);
    assert_string_equal(c.filter, filter);
    assert_int_equal(c.queue_num, 9);
    /* one longer than the longest line taken is refused by its number */
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("[msngate]\n; ", fp);
    for (int i = 0; i < 70000; i++) fputc('x', fp);
    fputs("\nmode = inline\n", fp);
    fclose(fp);
    assert_int_equal(gate_config_load(&c, path, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:2: line longer than 65536 bytes", path);
    assert_string_equal(err, want);

    /* an indented line is a setting of its own, not more of the one
     * above: the stats file stays as written and the filter is set */
    gate_config_defaults(&c);
    write_file(path, "[msngate]\nstats_file = /run/s.json\n  filter = tcp\n");
    assert_int_equal(gate_config_load(&c, path, err, sizeof err), 0);
    assert_string_equal(c.stats_file, "/run/s.json");
    assert_string_equal(c.filter, "tcp");
    /* a NUL byte would end the line for libinih, the rest dropped in
     * silence (queue_num 1 instead of 1 then garbage): refused by line */
    fp = fopen(path, "w");
    assert_non_null(fp);
    fwrite("[msngate]\nqueue_num = 1\0 000\n", 1, 30, fp);
    fclose(fp);
    gate_config_defaults(&c);
    assert_int_equal(gate_config_load(&c, path, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:2: a NUL byte (not a text file?)", path);
    assert_string_equal(err, want);
    assert_int_equal(c.queue_num, 1863);

    write_file(path, "[other]\nmode = inline\n");
    assert_int_equal(gate_config_load(&c, path, err, sizeof err), -1);
    assert_non_null(strstr(err, ":2: unknown section [other]"));
    /* a key before any section was "unknown section []" */
    write_file(path, "; no header\nmode = inline\n");
    assert_int_equal(gate_config_load(&c, path, err, sizeof err), -1);
    assert_non_null(strstr(err, ":2: \"mode\" is outside the [msngate] section"));
    unlink(path);
    assert_int_equal(gate_config_load(&c, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot read"));
}

static void test_classes(void **state) {
    (void)state;
    assert_int_equal(gate_class_of_app("file_transfer"), GATE_FILE_TRANSFER);
    assert_int_equal(gate_class_of_app("voice"), GATE_VOICE_VIDEO);
    assert_int_equal(gate_class_of_app("video"), GATE_VOICE_VIDEO);
    assert_int_equal(gate_class_of_app("switchboard"), GATE_SWITCHBOARD);
    assert_int_equal(gate_class_of_app("game"), -1);
    assert_int_equal(gate_class_of_app(NULL), -1);
    char name[64];
    gate_set_name(GATE_REMOTE_ASSISTANCE, 6, name, sizeof name);
    assert_string_equal(name, "remote_assistance_v6");
}

static void test_percentiles(void **state) {
    (void)state;
    static gate_stats s;
    memset(&s, 0, sizeof s);
    assert_int_equal(gate_stats_pct(s.lat, s.lat_n, 50), 0);
    for (int i = 0; i < 98; i++) gate_stats_latency(s.lat, &s.lat_n, &s.lat_max_us, 45); /* bucket 40-49 us */
    gate_stats_latency(s.lat, &s.lat_n, &s.lat_max_us, 700);
    gate_stats_latency(s.lat, &s.lat_n, &s.lat_max_us, 5000000); /* beyond the last bucket */
    assert_int_equal(gate_stats_pct(s.lat, s.lat_n, 50), 50);
    assert_int_equal(gate_stats_pct(s.lat, s.lat_n, 98), 50);
    assert_int_equal(gate_stats_pct(s.lat, s.lat_n, 99), 710);
    assert_int_equal(gate_stats_pct(s.lat, s.lat_n, 100), GATE_LAT_BUCKETS * 10);
    assert_int_equal(s.lat_max_us, 5000000);
}

/* The percentiles are the upper bounds of 10 us buckets, but never above
 * the largest latency measured: one commit of 94 us reads p50 = p99 = max =
 * 94, not a p99 of 100 over a max of 94. Both the status line and the JSON
 * file say so. */
static void test_percentiles_not_above_max(void **state) {
    (void)state;
    static gate_stats s;
    memset(&s, 0, sizeof s);
    gate_stats_latency(s.lat, &s.lat_n, &s.lat_max_us, 94);
    gate_stats_latency(s.qlat, &s.qlat_n, &s.qlat_max_us, 31);
    char *line = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&line, &len);
    assert_non_null(fp);
    gate_stats_line(&s, 0, fp);
    fclose(fp);
    assert_non_null(strstr(line, " commit_p50_us=94 commit_p99_us=94 commit_max_us=94 "));
    assert_non_null(strstr(line, " queue_p50_us=31 queue_p99_us=31 "));
    free(line);
    char dir[] = "/tmp/gate-pct-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/stats.json", dir);
    assert_int_equal(gate_stats_write_json(&s, 0, "inline", "nft", path), 0);
    char buf[4096] = {0};
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    assert_true(fread(buf, 1, sizeof buf - 1, in) > 0);
    fclose(in);
    assert_non_null(strstr(buf, "\"commit_latency_us\":{\"n\":1,\"p50\":94,\"p99\":94,\"max\":94}"));
    assert_non_null(strstr(buf, "\"queue_latency_us\":{\"n\":1,\"p50\":31,\"p99\":31,\"max\":31}"));
    unlink(path);
    rmdir(dir);
}

/* The names of a status line's counters, in order: each "name=" after
 * "msngate: stats", wherever the line is broken. */
static void counter_names(const char *text, char *out, size_t cap) {
    size_t n = 0;
    out[0] = '\0';
    for (const char *p = strstr(text, "msngate: stats"); p && *p; p++) {
        if (*p != '=') continue;
        const char *b = p;
        while (b > text && (b[-1] == '_' || (b[-1] >= 'a' && b[-1] <= 'z') || (b[-1] >= '0' && b[-1] <= '9'))) b--;
        int w = snprintf(out + n, cap - n, "%.*s ", (int)(p - b), b);
        assert_true(w > 0 && (size_t)w < cap - n);
        n += (size_t)w;
    }
}

/* docs/msngate.md shows a status line ("Status line and stats"): it has the
 * counters msngate prints, in the same order. */
static void test_doc_status_line(void **state) {
    (void)state;
    FILE *in = fopen(MSNGATE_DOC, "r");
    assert_non_null(in);
    static char doc[1 << 17];
    size_t len = fread(doc, 1, sizeof doc - 1, in);
    fclose(in);
    doc[len] = '\0';
    char *start = strstr(doc, "## Status line and stats");
    assert_non_null(start);
    start = strstr(start, "```\n");
    assert_non_null(start);
    char *end = strstr(start + 4, "```");
    assert_non_null(end);
    *end = '\0';
    static gate_stats s;
    memset(&s, 0, sizeof s);
    char *line = NULL;
    size_t n = 0;
    FILE *fp = open_memstream(&line, &n);
    assert_non_null(fp);
    gate_stats_line(&s, 0, fp);
    fclose(fp);
    char want[2048], got[2048];
    counter_names(line, want, sizeof want);
    counter_names(start, got, sizeof got);
    free(line);
    assert_true(strlen(want) > 100);
    assert_string_equal(got, want);
}

/* The stats file goes through a new file of its own: a link planted at the
 * name of a temporary file is not followed, its target keeps its content,
 * and no temporary file stays behind. */
static void test_stats_file_no_link(void **state) {
    (void)state;
    char dir[] = "/tmp/gate-stats-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char victim[128], link[128], path[128];
    snprintf(victim, sizeof victim, "%s/victim", dir);
    snprintf(path, sizeof path, "%s/stats.json", dir);
    snprintf(link, sizeof link, "%s/stats.json.tmp", dir);
    write_file(victim, "precious\n");
    assert_int_equal(symlink(victim, link), 0);
    static gate_stats st;
    st.analyzer_evicted = 7;
    assert_int_equal(gate_stats_write_json(&st, 0, "passive", "none", path), 0);
    assert_int_equal(gate_stats_write_json(&st, 0, "passive", "none", path), 0);
    char buf[2048];
    FILE *fp = fopen(victim, "r");
    assert_non_null(fp);
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    assert_string_equal(buf, "precious\n");
    fp = fopen(path, "r");
    assert_non_null(fp);
    n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "\"report\":2,"));
    assert_non_null(strstr(buf, "\"analyzer_evicted\":7,"));
    /* the directory holds the file, the link and its target: nothing else */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) -eq 3", dir);
    assert_int_equal(system(cmd), 0);
    unlink(link);
    unlink(victim);
    unlink(path);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_ini),
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_percentiles),
        cmocka_unit_test(test_percentiles_not_above_max),
        cmocka_unit_test(test_doc_status_line),
        cmocka_unit_test(test_stats_file_no_link),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
