/* config.c - defaults, INI file, key=value settings. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>
#include <msnkit/ini.h>

void gate_config_defaults(gate_config *c) {
    memset(c, 0, sizeof *c);
    c->mode = GATE_PASSIVE;
    snprintf(c->table, sizeof c->table, "msngate");
    c->queue_num = 1863;
    c->queue_bypass = 1;
    c->reverse_path = 1;
    c->control_ports[0] = 1863;
    c->ncontrol_ports = 1;
    c->mark_control = 0x4d000000u;
    c->mark_secondary = 0x00100000u;
    c->hit_grace_s = 5;        /* covers the SYN retransmissions at 1 s and 3 s */
    c->expect_timeout_s = 300; /* nf_conntrack_ftp's expectation timeout */
    c->forged_policy = GATE_POLICY_SKIP;
    c->nat_policy = GATE_POLICY_OPEN;
    c->max_pinholes = 65536;
    c->stats_interval_s = 60;
    c->memcap = 64ull * 1024 * 1024;
    c->capture_buf_mb = 16;
    snprintf(c->iptables, sizeof c->iptables, "iptables-nft");
    snprintf(c->ip6tables, sizeof c->ip6tables, "ip6tables-nft");
}

/* Decimal, or hexadecimal after 0x (marks); never octal: "010" is ten. */
static int parse_uint(const char *v, unsigned long long max, unsigned long long *out) {
    char *end;
    int hex = v[0] == '0' && (v[1] == 'x' || v[1] == 'X');
    if (!isxdigit((unsigned char)v[hex ? 2 : 0])) return -1; /* no sign, no space */
    errno = 0;
    unsigned long long x = strtoull(v, &end, hex ? 16 : 10);
    if (errno || end == v || *end || x > max) return -1;
    *out = x;
    return 0;
}

static int parse_bool(const char *v, int *out) {
    if (!strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(v, "0") || !strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off")) {
        *out = 0;
        return 0;
    }
    return -1;
}

static int copy(char *dst, size_t cap, const char *v) {
    size_t n = strlen(v);
    if (n >= cap) return -1;
    memcpy(dst, v, n + 1);
    return 0;
}

static int parse_ports(gate_config *c, const char *v) {
    size_t n = 0;
    uint16_t tmp[GATE_MAX_PORTS];
    const char *p = v;
    while (*p == ' ') p++;
    while (*p) {
        char *end;
        /* digits only: strtoul takes a sign, and "-18446744073709551615" as 1 */
        if (!isdigit((unsigned char)*p)) return -1;
        errno = 0;
        unsigned long x = strtoul(p, &end, 10);
        if (errno || end == p || x == 0 || x > 65535 || n == GATE_MAX_PORTS) return -1;
        tmp[n++] = (uint16_t)x;
        p = end;
        while (*p == ',' || *p == ' ') p++;
    }
    if (n == 0) return -1; /* inline mode would queue no login: nothing ever opens */
    memcpy(c->control_ports, tmp, n * sizeof tmp[0]);
    c->ncontrol_ports = n;
    return 0;
}

static int parse_policy(const char *v, gate_policy *out) {
    if (!strcmp(v, "open")) *out = GATE_POLICY_OPEN;
    else if (!strcmp(v, "skip")) *out = GATE_POLICY_SKIP;
    else return -1;
    return 0;
}

int gate_config_set(gate_config *out, const char *key, const char *v, char *err, size_t errcap) {
    /* changed on a copy: a refused value leaves the settings as they were */
    gate_config tmp = *out, *c = &tmp;
    unsigned long long x = 0;
    int bad = 0;
    const char *want = NULL; /* said with a refused value */
    if (!strcmp(key, "mode")) {
        want = "passive or inline";
        if (!strcmp(v, "passive")) c->mode = GATE_PASSIVE;
        else if (!strcmp(v, "inline")) c->mode = GATE_INLINE;
        else bad = 1;
    } else if (!strcmp(key, "interface")) {
        bad = copy(c->interface, sizeof c->interface, v);
    } else if (!strcmp(key, "filter")) {
        bad = copy(c->filter, sizeof c->filter, v);
    } else if (!strcmp(key, "table")) {
        /* an nft identifier: it is written into nft commands */
        want = "letters, digits and _, not starting with a digit";
        bad = copy(c->table, sizeof c->table, v) || !v[0] || (v[0] >= '0' && v[0] <= '9') ||
            strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != strlen(v);
    } else if (!strcmp(key, "queue_num")) {
        want = "a number from 0 to 65535";
        bad = parse_uint(v, 65535, &x);
        c->queue_num = (unsigned)x;
    } else if (!strcmp(key, "queue_bypass")) {
        want = "yes or no";
        bad = parse_bool(v, &c->queue_bypass);
    } else if (!strcmp(key, "control_ports")) {
        want = "1 to 16 ports from 1 to 65535, separated by commas";
        bad = parse_ports(c, v);
    } else if (!strcmp(key, "mark_control") || !strcmp(key, "mark_secondary")) {
        want = "a non-zero 32-bit mark, decimal or 0x...";
        bad = parse_uint(v, 0xffffffffu, &x) || x == 0;
        if (!strcmp(key, "mark_control")) c->mark_control = (uint32_t)x;
        else c->mark_secondary = (uint32_t)x;
    } else if (!strcmp(key, "expect_timeout")) {
        want = "seconds from 1 to 86400";
        bad = parse_uint(v, 86400, &x) || x == 0;
        c->expect_timeout_s = (unsigned)x;
    } else if (!strcmp(key, "hit_grace")) {
        want = "seconds from 0 to 3600";
        bad = parse_uint(v, 3600, &x);
        c->hit_grace_s = (unsigned)x;
    } else if (!strcmp(key, "direction")) {
        want = "in or inout";
        if (!strcmp(v, "in")) c->capture_in_only = 1;
        else if (!strcmp(v, "inout")) c->capture_in_only = 0;
        else bad = 1;
    } else if (!strcmp(key, "reverse_path")) {
        want = "strict or off";
        if (!strcmp(v, "strict")) c->reverse_path = 1;
        else if (!strcmp(v, "off")) c->reverse_path = 0;
        else bad = 1;
    } else if (!strcmp(key, "forged")) {
        want = "open or skip";
        bad = parse_policy(v, &c->forged_policy);
    } else if (!strcmp(key, "nat")) {
        want = "open or skip";
        bad = parse_policy(v, &c->nat_policy);
    } else if (!strcmp(key, "max_pinholes")) {
        want = "a number from 1 to 16777216";
        bad = parse_uint(v, 1u << 24, &x) || x == 0;
        c->max_pinholes = (unsigned)x;
    } else if (!strcmp(key, "stats_interval")) {
        want = "seconds from 0 to 86400";
        bad = parse_uint(v, 86400, &x);
        c->stats_interval_s = (unsigned)x;
    } else if (!strcmp(key, "stats_file")) {
        bad = copy(c->stats_file, sizeof c->stats_file, v);
    } else if (!strcmp(key, "memcap_mb")) {
        want = "megabytes from 1 to 1048576";
        bad = parse_uint(v, 1u << 20, &x) || x == 0;
        c->memcap = x * 1024 * 1024;
    } else if (!strcmp(key, "capture_buffer_mb")) {
        want = "megabytes from 1 to 1024";
        bad = parse_uint(v, 1024, &x) || x == 0;
        c->capture_buf_mb = (unsigned)x;
    } else if (!strcmp(key, "iptables")) {
        bad = copy(c->iptables, sizeof c->iptables, v);
    } else if (!strcmp(key, "ip6tables")) {
        bad = copy(c->ip6tables, sizeof c->ip6tables, v);
    } else if (!strcmp(key, "realtime")) {
        want = "yes or no";
        bad = parse_bool(v, &c->realtime);
    } else if (!strcmp(key, "verbose")) {
        want = "yes or no";
        bad = parse_bool(v, &c->verbose);
    } else {
        snprintf(err, errcap, "unknown setting \"%s\"", key);
        return -1;
    }
    if (bad) {
        if (want) snprintf(err, errcap, "bad value \"%s\" for %s (want %s)", v, key, want);
        else snprintf(err, errcap, "bad value \"%s\" for %s", v, key);
        return -1;
    }
    *out = tmp;
    return 0;
}

typedef struct load_ctx {
    gate_config *c;
    char *err;
    size_t errcap;
    int failed;
} load_ctx;

static int on_ini(void *user, const char *section, const char *key, const char *value) {
    load_ctx *l = user;
    if (l->failed) return 0;
    if (strcmp(section, "msngate") != 0) {
        /* no section at all is not one named "" */
        if (!section[0]) snprintf(l->err, l->errcap, "\"%s\" is outside the [msngate] section", key);
        else snprintf(l->err, l->errcap, "unknown section [%s]", section);
        l->failed = 1;
        return 0;
    }
    if (gate_config_set(l->c, key, value, l->err, l->errcap) != 0) {
        l->failed = 1;
        return 0;
    }
    return 1;
}

int gate_config_load(gate_config *c, const char *path, char *err, size_t errcap) {
    char e[256] = "";
    load_ctx l = {c, e, sizeof e, 0};
    int bad_line = 0;
    int rc = msnkit_ini_parse(path, on_ini, &l, &bad_line);
    if (msnkit_ini_line_error(rc, path, bad_line, err, errcap)) return -1;
    if (rc < 0) {
        snprintf(err, errcap, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    if (rc > 0) {
        snprintf(err, errcap, "%s:%d: %s", path, rc, e[0] ? e : "syntax error");
        return -1;
    }
    return 0;
}
