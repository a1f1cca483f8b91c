/* libmsnp stream parser: transcripts, chunking, round trips, bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "transcripts.h"

/* Feed data to a fresh parser in chunks given by `sizes` (cycled), the way
 * a connection would: bytes are appended to a buffer, complete items are
 * consumed from its front. Returns everything re-serialized, concatenated,
 * plus one summary line per item in *summary. */
typedef struct drive_result {
    char *out;
    size_t out_n;
    char *summary;
    size_t summary_n;
    int error;
    uint64_t error_offset;
    size_t items;
} drive_result;

static void append(char **buf, size_t *n, const void *src, size_t len) {
    *buf = realloc(*buf, *n + len + 1);
    assert_non_null(*buf);
    memcpy(*buf + *n, src, len);
    *n += len;
    (*buf)[*n] = '\0';
}

static drive_result drive(msnp_role role, const char *data, size_t len, const size_t *sizes, size_t nsizes,
                          const msnp_parser_limits *limits) {
    drive_result r = {0};
    msnp_parser p;
    msnp_parser_init(&p, role, limits);
    char *buf = malloc(len + 1);
    assert_non_null(buf);
    size_t have = 0, fed = 0, k = 0;
    while (fed < len || have > 0) {
        if (fed < len) {
            size_t c = sizes[k++ % nsizes];
            if (c > len - fed) c = len - fed;
            memcpy(buf + have, data + fed, c);
            have += c;
            fed += c;
        }
        for (;;) {
            msnp_cmd cmd;
            msnp_parse_error err;
            long used = msnp_parse(&p, buf, have, &cmd, &err);
            if (used < 0) {
                r.error = (int)used;
                r.error_offset = err.offset;
                free(buf);
                return r;
            }
            if (used == 0) break;
            char tmp[70000];
            long w = msnp_write_parsed(tmp, sizeof(tmp), &cmd);
            assert_true(w > 0);
            append(&r.out, &r.out_n, tmp, (size_t)w);
            char line[128];
            int l = snprintf(line, sizeof(line), "%s trid=%d:%u argc=%zu payload=%d:%zu off=%llu size=%zu\n", cmd.name,
                             cmd.has_trid, cmd.trid, cmd.argc, cmd.has_payload, cmd.payload.n,
                             (unsigned long long)cmd.offset, cmd.size);
            append(&r.summary, &r.summary_n, line, (size_t)l);
            r.items++;
            memmove(buf, buf + used, have - (size_t)used);
            have -= (size_t)used;
        }
        if (fed == len) break;
    }
    if (have > 0) r.error = 1; /* leftover incomplete bytes */
    free(buf);
    return r;
}

static void free_result(drive_result *r) {
    free(r->out);
    free(r->summary);
}

static void test_transcripts_round_trip(void **state) {
    (void)state;
    for (size_t t = 0; t < N_TRANSCRIPTS; t++) {
        const transcript *tr = &transcripts[t];
        size_t len = strlen(tr->bytes), whole = len;
        drive_result r = drive(tr->role, tr->bytes, len, &whole, 1, NULL);
        if (r.error) fail_msg("%s: error %d at %llu", tr->name, r.error, (unsigned long long)r.error_offset);
        assert_int_equal(r.out_n, len);
        assert_memory_equal(r.out, tr->bytes, len);
        free_result(&r);
    }
}

static void test_every_split_point(void **state) {
    (void)state;
    for (size_t t = 0; t < N_TRANSCRIPTS; t++) {
        const transcript *tr = &transcripts[t];
        size_t len = strlen(tr->bytes), whole = len;
        drive_result ref = drive(tr->role, tr->bytes, len, &whole, 1, NULL);
        assert_int_equal(ref.error, 0);
        for (size_t split = 1; split < len; split++) {
            size_t sizes[2] = {split, len};
            drive_result r = drive(tr->role, tr->bytes, len, sizes, 2, NULL);
            if (r.error || r.summary_n != ref.summary_n || memcmp(r.summary, ref.summary, ref.summary_n) != 0)
                fail_msg("%s: split at %zu differs", tr->name, split);
            assert_memory_equal(r.out, ref.out, ref.out_n);
            free_result(&r);
        }
        /* one byte at a time, and a few odd chunk patterns */
        static const size_t one[] = {1}, odd[] = {3, 1, 7, 2, 64, 5};
        drive_result r1 = drive(tr->role, tr->bytes, len, one, 1, NULL);
        drive_result r2 = drive(tr->role, tr->bytes, len, odd, 6, NULL);
        assert_int_equal(r1.error, 0);
        assert_int_equal(r2.error, 0);
        assert_string_equal(r1.summary, ref.summary);
        assert_string_equal(r2.summary, ref.summary);
        free_result(&r1);
        free_result(&r2);
        free_result(&ref);
    }
}

static long parse1(msnp_role role, const char *s, msnp_cmd *c, msnp_parse_error *e) {
    msnp_parser p;
    msnp_parser_init(&p, role, NULL);
    return msnp_parse(&p, s, strlen(s), c, e);
}

static void test_fields(void **state) {
    (void)state;
    msnp_cmd c;
    msnp_parse_error e;
    assert_int_equal(parse1(MSNP_FROM_SERVER, "XFR 10 SB 64.4.12.193:1863 CKI 16925950.1016955577.17693\r\n", &c, &e),
                     58);
    assert_string_equal(c.name, "XFR");
    assert_int_equal(c.code, MSNP_XFR);
    assert_true(c.has_trid);
    assert_int_equal(c.trid, 10);
    assert_int_equal(c.argc, 5);
    assert_true(msnp_str_eq(c.argv[2], "64.4.12.193:1863"));
    assert_true(msnp_str_eq(c.argv[4], "16925950.1016955577.17693"));
    assert_true(msnp_str_eq(c.line, "XFR 10 SB 64.4.12.193:1863 CKI 16925950.1016955577.17693"));

    /* server notifications have no TrID even when the first token is a number */
    assert_true(parse1(MSNP_FROM_SERVER, "RNG 11752013 1.2.3.4:1863 CKI 1.2 a@b.com A\r\n", &c, &e) > 0);
    assert_false(c.has_trid);
    assert_true(parse1(MSNP_FROM_SERVER, "MSG a@b.com A 0\r\n", &c, &e) > 0);
    assert_false(c.has_trid);
    assert_true(c.has_payload);
    assert_int_equal(c.payload.n, 0);
    /* the server's bare `QRY trid` carries no payload; the client's does */
    assert_true(parse1(MSNP_FROM_SERVER, "QRY 11\r\n", &c, &e) == 8);
    assert_false(c.has_payload);
    assert_int_equal(c.trid, 11);
    assert_int_equal(parse1(MSNP_FROM_CLIENT, "QRY 11 msmsgs@msnmsgr.com 32\r\n", &c, &e), 0);
    /* error replies */
    assert_true(parse1(MSNP_FROM_SERVER, "911 6\r\n", &c, &e) > 0);
    assert_true(c.is_error);
    assert_int_equal(c.trid, 6);
    assert_int_equal(c.code, MSNP_CODE('9', '1', '1'));
    /* client PNG and OUT have no TrID */
    assert_true(parse1(MSNP_FROM_CLIENT, "PNG\r\n", &c, &e) == 5);
    assert_false(c.has_trid);
    assert_int_equal(c.argc, 0);
    /* analyzer direction unknown: numeric first token of a TrID command */
    assert_true(parse1(MSNP_FROM_UNKNOWN, "MSG 3 A 0\r\n", &c, &e) > 0);
    assert_true(c.has_trid);
    assert_true(parse1(MSNP_FROM_UNKNOWN, "MSG a@b.com A 0\r\n", &c, &e) > 0);
    assert_false(c.has_trid);
    /* a TrID slot that is not a number is left to the handler, not fatal */
    assert_true(parse1(MSNP_FROM_CLIENT, "CHG x NLN\r\n", &c, &e) > 0);
    assert_false(c.has_trid);
    /* TrID above 2^32-1 is not a TrID */
    assert_true(parse1(MSNP_FROM_CLIENT, "CHG 4294967296 NLN\r\n", &c, &e) > 0);
    assert_false(c.has_trid);
    assert_true(parse1(MSNP_FROM_CLIENT, "CHG 4294967295 NLN\r\n", &c, &e) > 0);
    assert_true(c.has_trid);
    assert_int_equal(c.trid, 4294967295u);
}

/* A TrID keeps the digits it was written with, so that a reply echoes it
 * exactly: `VER 007` is answered `VER 007`. */
static void test_trid_echoed_as_written(void **state) {
    (void)state;
    msnp_cmd c;
    msnp_parse_error e;
    char b[128];
    static const struct {
        const char *line, *echo;
        uint32_t trid;
    } cases[] = {
        {"VER 007 MSNP7 CVR0\r\n", "VER 007\r\n", 7},
        {"VER 7 MSNP7 CVR0\r\n", "VER 7\r\n", 7},
        {"VER 0 MSNP7 CVR0\r\n", "VER 0\r\n", 0},
        {"VER 000 MSNP7 CVR0\r\n", "VER 000\r\n", 0},
        {"CHG 04294967295 NLN\r\n", "CHG 04294967295\r\n", 4294967295u},
        {"CHG 00000000000000000001 NLN\r\n", "CHG 00000000000000000001\r\n", 1}, /* 20 digits */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_true(parse1(MSNP_FROM_CLIENT, cases[i].line, &c, &e) > 0);
        assert_true(c.has_trid);
        assert_int_equal(c.trid, cases[i].trid);
        assert_int_equal(c.trid_digits, c.argv[0].n);
        long n = msnp_write_cmd(b, sizeof(b), c.name, c.trid_digits, c.trid, NULL, 0);
        assert_int_equal(n, (long)strlen(cases[i].echo));
        assert_memory_equal(b, cases[i].echo, (size_t)n);
    }
    /* still a number in range: 21 digits, or above 2^32-1, is no TrID */
    assert_true(parse1(MSNP_FROM_CLIENT, "CHG 000000000000000000001 NLN\r\n", &c, &e) > 0);
    assert_false(c.has_trid);
    assert_int_equal(c.trid_digits, 0);
    assert_true(parse1(MSNP_FROM_CLIENT, "CHG 04294967296 NLN\r\n", &c, &e) > 0);
    assert_false(c.has_trid);
    /* a width over 20 writes 20 digits; 1 the plain number */
    assert_int_equal(msnp_write_cmd(b, sizeof(b), "CHG", 40, 5, NULL, 0), 26);
    assert_memory_equal(b, "CHG 00000000000000000005\r\n", 26);
    assert_int_equal(msnp_write_cmd(b, sizeof(b), "CHG", 1, 5, NULL, 0), 7);
    assert_memory_equal(b, "CHG 5\r\n", 7);
    /* the width counts in the room a line needs */
    assert_int_equal(msnp_write_cmd(b, 8, "CHG", 3, 5, NULL, 0), -1);
    assert_int_equal(msnp_write_cmd(b, 9, "CHG", 3, 5, NULL, 0), 9);
}

static void test_bare_lf_and_blank_lines(void **state) {
    (void)state;
    msnp_cmd c;
    msnp_parse_error e;
    assert_int_equal(parse1(MSNP_FROM_CLIENT, "CHG 7 NLN\n", &c, &e), 10);
    assert_true(msnp_str_eq(c.line, "CHG 7 NLN"));
    /* stray CRLF before a command is skipped and counted */
    assert_int_equal(parse1(MSNP_FROM_CLIENT, "\r\n\nCHG 7 NLN\r\n", &c, &e), 14);
    assert_int_equal(c.offset, 3);
    assert_int_equal(c.size, 11);
    /* runs of spaces between parameters are tolerated */
    assert_true(parse1(MSNP_FROM_CLIENT, "ADD 5  FL   a@b.com a@b.com\r\n", &c, &e) > 0);
    assert_int_equal(c.argc, 4);
    assert_true(msnp_str_eq(c.argv[1], "FL"));
}

static void expect_error(msnp_role role, const char *s, size_t n, msnp_parse_status st, uint64_t off) {
    msnp_parser p;
    msnp_cmd c;
    msnp_parse_error e;
    msnp_parser_init(&p, role, NULL);
    long r = msnp_parse(&p, s, n, &c, &e);
    if (r != (long)st) fail_msg("'%.*s': got %ld want %d", (int)(n > 40 ? 40 : n), s, r, (int)st);
    assert_int_equal(e.status, st);
    assert_int_equal(e.offset, off);
    assert_non_null(e.what);
}

/* Long tokens are scanned sixteen bytes at a time: a control byte or DEL
 * at any position of a 40-byte token is found at its offset, a tab or a
 * space there splits it, and bytes from 0x80 up stay part of it. */
static void test_long_token_bytes(void **state) {
    (void)state;
    const unsigned char special[] = {0x00, 0x01, 0x0d, 0x1f, 0x7f, '\t', ' ', 0x80, 0xff};
    for (size_t pos = 0; pos < 40; pos++)
        for (size_t k = 0; k < sizeof special; k++) {
            char line[64];
            memcpy(line, "USR 1 ", 6);
            memset(line + 6, 'a', 40);
            line[6 + pos] = (char)special[k];
            memcpy(line + 46, "\r\n", 2);
            unsigned char c = special[k];
            if (c < 0x20 && c != '\t') {
                expect_error(MSNP_FROM_CLIENT, line, 48, MSNP_ECONTROL_CHAR, 6 + pos);
                continue;
            }
            if (c == 0x7f) {
                expect_error(MSNP_FROM_CLIENT, line, 48, MSNP_ECONTROL_CHAR, 6 + pos);
                continue;
            }
            msnp_parser p;
            msnp_cmd cmd;
            msnp_parser_init(&p, MSNP_FROM_CLIENT, NULL);
            assert_int_equal(msnp_parse(&p, line, 48, &cmd, NULL), 48);
            size_t want = c >= 0x80 ? 2u : (pos == 0 || pos == 39) ? 2u : 3u;
            assert_int_equal(cmd.argc, want);
            if (c >= 0x80) assert_int_equal(cmd.argv[1].n, 40);
        }
}

/* The tokenizer against a byte-at-a-time model of the same rules, on
 * random lines of 4 to 300 bytes (so tokens cross the 16- and 64-byte
 * blocks it reads, and lines end anywhere in them) built from the bytes
 * that matter: token bytes, blanks, control bytes, DEL and bytes from 0x80
 * up, with parameter limits small enough to be hit. Some lines end the
 * buffer, others are followed by up to 40 more bytes of the same kinds
 * (the next item), which the line's tokens and errors must not see. The
 * model: blanks
 * (space, tab) separate tokens; the first control byte (below 0x20, or
 * DEL) is an error at its offset, unless a token beyond the limit starts
 * and ends before it, which is an error at that token's start. */
typedef struct model_result {
    msnp_parse_status st;
    size_t bad;
    size_t argc;
    size_t tok[MSNP_MAX_PARAMS][2];
} model_result;

static void model_tokenize(const unsigned char *line, size_t n, size_t max, model_result *m) {
    memset(m, 0, sizeof *m);
    size_t i = 3;
    while (i < n) {
        if (line[i] == ' ' || line[i] == '\t') {
            i++;
            continue;
        }
        size_t t = i;
        while (i < n && line[i] > 0x20 && line[i] != 0x7f) i++;
        if (i < n && line[i] != ' ' && line[i] != '\t') {
            m->st = MSNP_ECONTROL_CHAR;
            m->bad = i;
            return;
        }
        if (m->argc >= max) {
            m->st = MSNP_ETOO_MANY_PARAMS;
            m->bad = t;
            return;
        }
        m->tok[m->argc][0] = t;
        m->tok[m->argc][1] = i - t;
        m->argc++;
    }
}

static void test_tokenizer_against_model(void **state) {
    (void)state;
    static const unsigned char alphabet[] = {'a', 'b', 'Z', '7',  '@',  '.',  '-',  0x80, 0xe4, 0xff,
                                             ' ', ' ', ' ', '\t', 0x00, 0x01, '\r', 0x1f, 0x7f};
    uint32_t seed = 12345;
    unsigned char line[360];
    for (int iter = 0; iter < 200000; iter++) {
        seed = seed * 1103515245u + 12345u;
        size_t n = 4 + (seed >> 8) % 297;
        /* mostly token bytes and blanks; a control byte in about one line of three */
        int controls = ((seed >> 4) & 3) == 0;
        memcpy(line, "USR ", 4);
        for (size_t k = 4; k < n; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t r = (seed >> 16) % (controls ? sizeof alphabet : sizeof alphabet - 5);
            if (!controls && ((seed >> 12) & 63) == 0) r = sizeof alphabet - 5 + (seed >> 20) % 5; /* rare ones */
            line[k] = alphabet[r];
        }
        seed = seed * 1103515245u + 12345u;
        size_t max = 1 + (seed >> 16) % MSNP_MAX_PARAMS;
        line[n] = '\r';
        line[n + 1] = '\n';
        seed = seed * 1103515245u + 12345u;
        size_t tail = (seed >> 16) % 3 == 0 ? 0 : (seed >> 20) % 41;
        for (size_t k = 0; k < tail; k++) {
            seed = seed * 1103515245u + 12345u;
            line[n + 2 + k] = alphabet[(seed >> 16) % sizeof alphabet];
        }
        model_result m;
        model_tokenize(line, n, max, &m);
        msnp_parser_limits lim = {4096, 65536, max};
        msnp_parser p;
        msnp_cmd c;
        msnp_parse_error e;
        msnp_parser_init(&p, MSNP_FROM_CLIENT, &lim);
        long r = msnp_parse(&p, (const char *)line, n + 2 + tail, &c, &e);
        if (m.st != MSNP_OK) {
            if (r != (long)m.st || e.offset != m.bad)
                fail_msg("line %d (%zu bytes, limit %zu): got %ld at %llu, want %d at %zu", iter, n, max, r,
                         (unsigned long long)e.offset, (int)m.st, m.bad);
            continue;
        }
        if (r != (long)(n + 2)) fail_msg("line %d (%zu bytes, limit %zu): got %ld, want the line", iter, n, max, r);
        assert_int_equal(c.argc, m.argc);
        for (size_t k = 0; k < m.argc; k++) {
            assert_ptr_equal(c.argv[k].p, (const char *)line + m.tok[k][0]);
            assert_int_equal(c.argv[k].n, m.tok[k][1]);
        }
    }
}

/* Every name of three letters, in `XYZ 7 8 9` followed by nine bytes, in
 * each role: argv[0] is a TrID as msnp_command_has_trid says, and the
 * nine bytes are a payload for exactly the payload commands (MSG, IPG,
 * NOT, QRY with three parameters, the MSNP8 ones whose last parameter is
 * a number). */
static void test_every_name(void **state) {
    (void)state;
    static const char *const payload[] = {"MSG", "IPG", "NOT", "QRY", "ADL", "RML", "FQY",
                                          "GCF", "UBX", "UUX", "UBN", "UUN", "UBM", "UUM"};
    static const msnp_role roles[] = {MSNP_FROM_CLIENT, MSNP_FROM_SERVER, MSNP_FROM_UNKNOWN};
    char buf[32];
    for (int a = 'A'; a <= 'Z'; a++)
        for (int b = 'A'; b <= 'Z'; b++)
            for (int c = 'A'; c <= 'Z'; c++) {
                snprintf(buf, sizeof buf, "%c%c%c 7 8 9\r\n123456789", a, b, c);
                uint32_t code = MSNP_CODE(a, b, c);
                int carries = 0;
                for (size_t k = 0; k < sizeof payload / sizeof payload[0]; k++)
                    carries |= memcmp(buf, payload[k], 3) == 0;
                for (size_t r = 0; r < sizeof roles / sizeof roles[0]; r++) {
                    msnp_parser p;
                    msnp_cmd cmd;
                    msnp_parser_init(&p, roles[r], NULL);
                    long n = msnp_parse(&p, buf, 20, &cmd, NULL);
                    if (n != (carries ? 20 : 11)) fail_msg("%.3s: %ld bytes", buf, n);
                    int trid = roles[r] == MSNP_FROM_UNKNOWN
                        ? msnp_command_has_trid(code, 0) || msnp_command_has_trid(code, 1)
                        : msnp_command_has_trid(code, roles[r] == MSNP_FROM_SERVER);
                    if (cmd.has_trid != trid || (trid && cmd.trid != 7) || (!trid && cmd.trid_digits))
                        fail_msg("%.3s in role %d: has_trid %d", buf, (int)roles[r], cmd.has_trid);
                    assert_int_equal(cmd.has_payload, carries);
                }
            }
}

static void test_bad_input(void **state) {
    (void)state;
    expect_error(MSNP_FROM_CLIENT, "MSG 1 A -5\r\n", 12, MSNP_EBAD_LENGTH, 8);
    expect_error(MSNP_FROM_CLIENT, "MSG 1 A abc\r\n", 13, MSNP_EBAD_LENGTH, 8);
    /* digits past 2^64 - 1: a length, above every limit */
    expect_error(MSNP_FROM_CLIENT, "MSG 1 A 99999999999999999999999\r\n", 33, MSNP_EPAYLOAD_TOO_BIG, 8);
    expect_error(MSNP_FROM_CLIENT, "MSG 1 A 9999999999999999999999x\r\n", 33, MSNP_EBAD_LENGTH, 8);
    expect_error(MSNP_FROM_CLIENT, "MSG 1 A 70000\r\n", 15, MSNP_EPAYLOAD_TOO_BIG, 8);
    /* leading zeros before something that is no digit: no length */
    expect_error(MSNP_FROM_CLIENT, "MSG 1 A 0x5\r\n", 13, MSNP_EBAD_LENGTH, 8);
    expect_error(MSNP_FROM_CLIENT, "MSG 1 A 000a\r\n", 14, MSNP_EBAD_LENGTH, 8);
    expect_error(MSNP_FROM_CLIENT, "MSG 1 A 0000000000000000000000000000x\r\n", 39, MSNP_EBAD_LENGTH, 8);
    expect_error(MSNP_FROM_CLIENT, "MSG\r\n", 5, MSNP_EBAD_LENGTH, 0);
    expect_error(MSNP_FROM_CLIENT, "chg 1 NLN\r\n", 11, MSNP_EBAD_COMMAND, 0);
    expect_error(MSNP_FROM_CLIENT, "CHGX 1 NLN\r\n", 12, MSNP_EBAD_COMMAND, 0);
    expect_error(MSNP_FROM_CLIENT, "C\r\n", 3, MSNP_EBAD_COMMAND, 0);
    expect_error(MSNP_FROM_CLIENT, "CHG 1 N\0LN\r\n", 12, MSNP_ECONTROL_CHAR, 7);
    expect_error(MSNP_FROM_CLIENT, "CHG 1 N\rLN\r\n", 12, MSNP_ECONTROL_CHAR, 7);
    expect_error(MSNP_FROM_CLIENT, "A1C 1\r\n", 7, MSNP_EBAD_COMMAND, 0);

    /* too many parameters */
    char many[512] = "LST 1";
    for (int i = 0; i < MSNP_MAX_PARAMS; i++) strcat(many, " x");
    strcat(many, "\r\n");
    expect_error(MSNP_FROM_CLIENT, many, strlen(many), MSNP_ETOO_MANY_PARAMS, 4 + 2 * MSNP_MAX_PARAMS);

    /* a line that never ends: incomplete until the limit, then an error */
    msnp_parser_limits lim = {64, 1024, MSNP_MAX_PARAMS};
    char longline[200];
    memset(longline, 'A', sizeof(longline));
    memcpy(longline, "USR 1 ", 6);
    msnp_parser p;
    msnp_cmd c;
    msnp_parse_error e;
    msnp_parser_init(&p, MSNP_FROM_CLIENT, &lim);
    assert_int_equal(msnp_parse(&p, longline, 63, &c, &e), 0);
    assert_int_equal(msnp_parse(&p, longline, 64, &c, &e), MSNP_ELINE_TOO_LONG);
    assert_int_equal(e.offset, 64);
    /* exactly at the limit (CRLF included) is fine */
    char edge[64];
    memset(edge, 'A', sizeof(edge));
    memcpy(edge, "USR 1 ", 6);
    edge[62] = '\r';
    edge[63] = '\n';
    msnp_parser_init(&p, MSNP_FROM_CLIENT, &lim);
    assert_int_equal(msnp_parse(&p, edge, 64, &c, &e), 64);
    /* endless empty lines are refused too, not buffered forever */
    char blanks[200];
    for (size_t i = 0; i < sizeof(blanks); i += 2) {
        blanks[i] = '\r';
        blanks[i + 1] = '\n';
    }
    msnp_parser_init(&p, MSNP_FROM_CLIENT, &lim);
    assert_int_equal(msnp_parse(&p, blanks, sizeof(blanks), &c, &e), MSNP_ELINE_TOO_LONG);

    /* payload shorter than declared: incomplete, never read past the buffer */
    static const char shortmsg[] = "MSG 1 A 10\r\nabc";
    msnp_parser_init(&p, MSNP_FROM_CLIENT, NULL);
    assert_int_equal(msnp_parse(&p, shortmsg, sizeof(shortmsg) - 1, &c, &e), 0);
    /* missing line end: incomplete */
    msnp_parser_init(&p, MSNP_FROM_CLIENT, NULL);
    assert_int_equal(msnp_parse(&p, "CHG 1 NLN", 9, &c, &e), 0);
}

static void test_error_offsets_are_stream_offsets(void **state) {
    (void)state;
    static const char s[] = "PNG\r\nCHG 2 NLN\r\nMSG 3 A x\r\n";
    msnp_parser p;
    msnp_cmd c;
    msnp_parse_error e;
    msnp_parser_init(&p, MSNP_FROM_CLIENT, NULL);
    size_t off = 0;
    long r;
    while ((r = msnp_parse(&p, s + off, sizeof(s) - 1 - off, &c, &e)) > 0) off += (size_t)r;
    assert_int_equal(r, MSNP_EBAD_LENGTH);
    assert_int_equal(e.offset, 24); /* the 'x' */
}

static void test_payload_is_binary_safe(void **state) {
    (void)state;
    static const char s[] = "MSG 1 U 6\r\n\0\r\nX\n\xff"
                            "PNG\r\n";
    msnp_parser p;
    msnp_cmd c;
    msnp_parse_error e;
    msnp_parser_init(&p, MSNP_FROM_CLIENT, NULL);
    long r = msnp_parse(&p, s, sizeof(s) - 1, &c, &e);
    assert_int_equal(r, 17);
    assert_int_equal(c.payload.n, 6);
    assert_memory_equal(c.payload.p, "\0\r\nX\n\xff", 6);
    r = msnp_parse(&p, s + 17, sizeof(s) - 1 - 17, &c, &e);
    assert_int_equal(r, 5);
    assert_string_equal(c.name, "PNG");
    assert_int_equal(c.offset, 17);
}

/* Payload commands of MSNP8 and later, as newer clients and servers send
 * them on the same port: framed by their last parameter when it is a
 * number, so that the next item starts where it should. */
static void test_later_version_payloads(void **state) {
    (void)state;
    static const char s[] = "UBX bob@example.com 53\r\n"
                            "<Data><PSM></PSM><CurrentMedia></CurrentMedia></Data>"
                            "NLN AWY bob@example.com Bob 0\r\n"
                            "GCF 7 Shields.xml 4\r\n<x/>"
                            "UUX 8 0\r\n"
                            "ADL 9 OK\r\n"
                            "FQY 10 5\r\n<ml/>"
                            "UBN bob@example.com 1 3\r\nabc"
                            "RML 11 OK\r\n";
    static const struct {
        const char *name;
        size_t payload; /* (size_t)-1: none */
    } want[] = {{"UBX", 53},         {"NLN", (size_t)-1}, {"GCF", 4}, {"UUX", 0},
                {"ADL", (size_t)-1}, {"FQY", 5},          {"UBN", 3}, {"RML", (size_t)-1}};
    msnp_parser p;
    msnp_cmd c;
    msnp_parse_error e;
    msnp_parser_init(&p, MSNP_FROM_SERVER, NULL);
    size_t at = 0;
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        long r = msnp_parse(&p, s + at, sizeof(s) - 1 - at, &c, &e);
        assert_true(r > 0);
        assert_string_equal(c.name, want[k].name);
        if (want[k].payload == (size_t)-1) {
            assert_false(c.has_payload);
        } else {
            assert_true(c.has_payload);
            assert_int_equal(c.payload.n, want[k].payload);
        }
        at += (size_t)r;
    }
    assert_int_equal(at, sizeof(s) - 1);
    /* the client's GCF asks for a file by name: no payload */
    msnp_parser_init(&p, MSNP_FROM_CLIENT, NULL);
    assert_int_equal(msnp_parse(&p, "GCF 7 Shields.xml\r\n", 19, &c, &e), 19);
    assert_false(c.has_payload);
    /* a payload not yet all there is waited for, as for MSG */
    msnp_parser_init(&p, MSNP_FROM_CLIENT, NULL);
    assert_int_equal(msnp_parse(&p, "UUX 8 10\r\n<Data>", 16, &c, &e), 0);
}

static void test_resync(void **state) {
    (void)state;
    msnp_parser p;
    msnp_parser_init(&p, MSNP_FROM_SERVER, NULL);
    static const char junk[] = "ow are you?\r\nmore junk\r\nJOI a@b.com A\r\n";
    size_t drop = msnp_parser_resync(&p, junk, sizeof(junk) - 1);
    assert_int_equal(drop, 24);
    msnp_cmd c;
    msnp_parse_error e;
    assert_true(msnp_parse(&p, junk + drop, sizeof(junk) - 1 - drop, &c, &e) > 0);
    assert_string_equal(c.name, "JOI");
    assert_int_equal(c.offset, 24);
    /* nothing plausible: drop all but a short tail that may start a command */
    msnp_parser_init(&p, MSNP_FROM_SERVER, NULL);
    assert_int_equal(msnp_parser_resync(&p, "zzzz\r\nJO", 8), 6);
    msnp_parser_init(&p, MSNP_FROM_SERVER, NULL);
    assert_int_equal(msnp_parser_resync(&p, "zzzzzz", 6), 6);
    /* skip keeps offsets true */
    msnp_parser_init(&p, MSNP_FROM_SERVER, NULL);
    msnp_parser_skip(&p, 1000);
    assert_true(msnp_parse(&p, "QNG\r\n", 5, &c, &e) == 5);
    assert_int_equal(c.offset, 1000);
}

/* A whole line refused for its content is stepped over, with its TrID when
 * it has one; the items after it parse as before. */
static void test_bad_line_stepped_over(void **state) {
    (void)state;
    static const char in[] =
        "\r\nchg 0007 NLN\r\nCHG 8 N\0LN\r\nver x\r\nQRY 9 a b c 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 "
        "0 1 2\r\nPNG\r\n";
    msnp_parser p;
    msnp_parser_init(&p, MSNP_FROM_CLIENT, NULL);
    msnp_cmd c;
    msnp_parse_error e;
    size_t at = 0, n = sizeof(in) - 1;
    static const struct {
        msnp_parse_status st;
        int has_trid;
        uint32_t trid;
        int digits;
        const char *line;
        size_t offset;
    } want[] = {
        {MSNP_EBAD_COMMAND, 1, 7, 4, "chg 0007 NLN", 2},
        {MSNP_ECONTROL_CHAR, 1, 8, 1, "CHG 8 N\0LN", 16},
        {MSNP_EBAD_COMMAND, 0, 0, 0, "ver x", 28},
        {MSNP_ETOO_MANY_PARAMS, 1, 9, 1, NULL, 35},
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        long r = msnp_parse(&p, in + at, n - at, &c, &e);
        assert_int_equal(r, want[k].st);
        r = msnp_parse_bad_line(&p, in + at, n - at, &e, &c);
        assert_true(r > 0);
        assert_int_equal(c.code, 0);
        assert_int_equal(c.has_payload, 0);
        assert_int_equal(c.has_trid, want[k].has_trid);
        assert_int_equal(c.argc, (size_t)want[k].has_trid);
        if (want[k].has_trid) {
            assert_int_equal(c.trid, want[k].trid);
            assert_int_equal(c.trid_digits, want[k].digits);
        }
        if (want[k].line) {
            assert_int_equal(c.line.n, strlen(want[k].line) + (k == 1 ? 3 : 0));
            if (k != 1) assert_memory_equal(c.line.p, want[k].line, c.line.n);
        }
        assert_int_equal(c.offset, want[k].offset);
        at += (size_t)r;
    }
    assert_int_equal(msnp_parse(&p, in + at, n - at, &c, &e), 5);
    assert_string_equal(c.name, "PNG");
    assert_int_equal(c.offset, n - 5);
    /* framing lost: nothing is stepped over */
    static const char *lost[] = {"MSG 1 N x\r\n", "MSG 1 N 99999999\r\n", "VERVERVER"};
    for (size_t k = 0; k < 3; k++) {
        msnp_parser_limits lim = msnp_default_limits;
        lim.max_line = 8;
        msnp_parser_init(&p, MSNP_FROM_CLIENT, k == 2 ? &lim : NULL);
        assert_true(msnp_parse(&p, lost[k], strlen(lost[k]), &c, &e) < 0);
        assert_int_equal(msnp_parse_bad_line(&p, lost[k], strlen(lost[k]), &e, &c), 0);
    }
}

/* A payload command refused for its line (a control byte, too many
 * parameters) still has its payload after the line: msnp_parse reports the
 * line once the payload is in and msnp_parse_bad_line steps over both, so
 * the payload is never read as commands. Without a readable length the
 * framing is lost. */
static void test_refused_payload_command(void **state) {
    (void)state;
    static const char *in[] = {
        "MSG 1 N\x01 11\r\nUSR 9 X Y\r\nPNG\r\n",
        "MSG 1 N 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 11\r\nUSR 9 X Y\r\nPNG\r\n",
        "QRY 1 a\177b 11\r\nUSR 9 X Y\r\nPNG\r\n",
        "UUX 1 a\x01 011\r\nUSR 9 X Y\r\nPNG\r\n",
    };
    static const msnp_parse_status st[] = {MSNP_ECONTROL_CHAR, MSNP_ETOO_MANY_PARAMS, MSNP_ECONTROL_CHAR,
                                           MSNP_ECONTROL_CHAR};
    for (size_t k = 0; k < sizeof in / sizeof in[0]; k++) {
        size_t n = strlen(in[k]), line = (size_t)(strstr(in[k], "\r\n") - in[k]) + 2;
        msnp_parser p;
        msnp_cmd c;
        msnp_parse_error e;
        msnp_parser_init(&p, MSNP_FROM_CLIENT, NULL);
        /* the payload is waited for, one byte at a time */
        for (size_t have = 1; have < line + 11; have++) assert_int_equal(msnp_parse(&p, in[k], have, &c, &e), 0);
        assert_int_equal(msnp_parse(&p, in[k], n, &c, &e), st[k]);
        long r = msnp_parse_bad_line(&p, in[k], n, &e, &c);
        assert_int_equal(r, (long)(line + 11));
        assert_int_equal(c.code, 0);
        assert_int_equal(c.has_trid, 1);
        assert_int_equal(c.trid, 1);
        assert_int_equal(c.has_payload, 1);
        assert_int_equal(c.payload.n, 11);
        assert_memory_equal(c.payload.p, "USR 9 X Y\r\n", 11);
        assert_int_equal(msnp_parse(&p, in[k] + r, n - (size_t)r, &c, &e), 5);
        assert_string_equal(c.name, "PNG");
        assert_int_equal(c.offset, (uint64_t)r);
    }
    /* a refused line of a payload command whose payload is a word: the line alone */
    {
        static const char s[] = "ADL 1\x01 OK\r\nPNG\r\n";
        msnp_parser p;
        msnp_cmd c;
        msnp_parse_error e;
        msnp_parser_init(&p, MSNP_FROM_CLIENT, NULL);
        assert_int_equal(msnp_parse(&p, s, sizeof s - 1, &c, &e), MSNP_ECONTROL_CHAR);
        assert_int_equal(msnp_parse_bad_line(&p, s, sizeof s - 1, &e, &c), 11);
        assert_int_equal(c.has_payload, 0);
    }
    /* no length to be read: a framing error, nothing stepped over */
    static const struct {
        const char *s;
        msnp_parse_status st;
        uint64_t off;
    } lost[] = {
        {"MSG 1 N\x01\r\nhello", MSNP_EBAD_LENGTH, 6},
        {"MSG 1 N 1\x01"
         "1\r\nhello",
         MSNP_EBAD_LENGTH, 8},
        {"MSG 1 N\x01 x\r\nhello", MSNP_EBAD_LENGTH, 9},
        {"MSG 1 N\x01 65537\r\nhello", MSNP_EPAYLOAD_TOO_BIG, 9},
        {"NOT\x01\r\nhello", MSNP_EBAD_LENGTH, 0},
        {"UUX 1 1\x01"
         "1\r\nhello",
         MSNP_EBAD_LENGTH, 6},
    };
    for (size_t k = 0; k < sizeof lost / sizeof lost[0]; k++) {
        size_t n = strlen(lost[k].s);
        expect_error(MSNP_FROM_CLIENT, lost[k].s, n, lost[k].st, lost[k].off);
        msnp_parser p;
        msnp_cmd c;
        msnp_parse_error e;
        msnp_parser_init(&p, MSNP_FROM_CLIENT, NULL);
        assert_true(msnp_parse(&p, lost[k].s, n, &c, &e) < 0);
        assert_int_equal(msnp_parse_bad_line(&p, lost[k].s, n, &e, &c), 0);
    }
}

/* MSG has three parameters in both directions, its length last: with
 * fewer, what stands last is a TrID or a word, not a length. */
static void test_msg_needs_three_params(void **state) {
    (void)state;
    msnp_cmd c;
    msnp_parse_error e;
    expect_error(MSNP_FROM_CLIENT, "MSG 5\r\nhello", 12, MSNP_EBAD_LENGTH, 4);
    expect_error(MSNP_FROM_SERVER, "MSG 5\r\nhello", 12, MSNP_EBAD_LENGTH, 4);
    expect_error(MSNP_FROM_UNKNOWN, "MSG a@b.com 5\r\nhello", 20, MSNP_EBAD_LENGTH, 12);
    expect_error(MSNP_FROM_CLIENT, "MSG 1 N\r\nhello", 14, MSNP_EBAD_LENGTH, 6);
    assert_int_equal(parse1(MSNP_FROM_SERVER, "MSG a@b.com Nick 5\r\nhello", &c, &e), 25);
    assert_true(msnp_str_eq(c.payload, "hello"));
    assert_int_equal(parse1(MSNP_FROM_CLIENT, "MSG 5 N 5\r\nhello", &c, &e), 16);
    assert_true(msnp_str_eq(c.payload, "hello"));
    /* IPG and NOT carry the length alone */
    assert_int_equal(parse1(MSNP_FROM_SERVER, "NOT 2\r\nhi", &c, &e), 9);
}

/* A payload length may be written with leading zeros, however many: only
 * its value can be too big. */
/* Limits as large as a size_t goes: a length near 2^64 must not wrap the
 * item's size (line + payload) into a small number with a payload that
 * runs past the buffer. */
static void test_huge_limits(void **state) {
    (void)state;
    const msnp_parser_limits lim = {SIZE_MAX, SIZE_MAX, MSNP_MAX_PARAMS};
    static const char *const lines[] = {"MSG 1 N 18446744073709551615\r\n", "MSG 1 N 18446744073709551600\r\n",
                                        "MSG 1 N 9223372036854775807\r\n"};
    for (size_t k = 0; k < sizeof(lines) / sizeof(lines[0]); k++) {
        msnp_parser p;
        msnp_parser_init(&p, MSNP_FROM_CLIENT, &lim);
        msnp_cmd c;
        msnp_parse_error e;
        long r = msnp_parse(&p, lines[k], strlen(lines[k]), &c, &e);
        assert_int_equal(r, MSNP_EPAYLOAD_TOO_BIG);
    }
    /* a length within the lowered limit: waits for its payload */
    msnp_parser p;
    msnp_parser_init(&p, MSNP_FROM_CLIENT, &lim);
    msnp_cmd c;
    msnp_parse_error e;
    const char *line = "MSG 1 N 4611686018427387000\r\n";
    assert_int_equal(msnp_parse(&p, line, strlen(line), &c, &e), 0);
}

static void test_length_leading_zeros(void **state) {
    (void)state;
    msnp_cmd c;
    msnp_parse_error e;
    assert_int_equal(parse1(MSNP_FROM_CLIENT, "MSG 1 N 0000000000000000000005\r\nhello", &c, &e), 37);
    assert_true(msnp_str_eq(c.payload, "hello"));
    assert_int_equal(parse1(MSNP_FROM_CLIENT, "MSG 1 N 0000000000000000000000000000\r\n", &c, &e), 38);
    assert_int_equal(c.payload.n, 0);
    expect_error(MSNP_FROM_CLIENT, "MSG 1 N 0000000000000000000065537\r\n", 35, MSNP_EPAYLOAD_TOO_BIG, 8);
    expect_error(MSNP_FROM_CLIENT, "MSG 1 N 000018446744073709551616\r\n", 34, MSNP_EPAYLOAD_TOO_BIG, 8);
}

/* A control byte in or right after the command name is a control byte:
 * the lone CR of `\r\r\n`, `VER\0 1`; the line is stepped over. */
static void test_control_byte_in_name(void **state) {
    (void)state;
    expect_error(MSNP_FROM_CLIENT, "\r\r\nVER 1 X\r\n", 12, MSNP_ECONTROL_CHAR, 0);
    expect_error(MSNP_FROM_CLIENT, "VER\0 1 X\r\n", 10, MSNP_ECONTROL_CHAR, 3);
    expect_error(MSNP_FROM_CLIENT, "V\0R 1 X\r\n", 9, MSNP_ECONTROL_CHAR, 1);
    expect_error(MSNP_FROM_CLIENT, "\x01\r\n", 3, MSNP_ECONTROL_CHAR, 0);
    static const char s[] = "VER\0 1 X\r\nVER 2 X\r\n";
    msnp_parser p;
    msnp_cmd c;
    msnp_parse_error e;
    msnp_parser_init(&p, MSNP_FROM_CLIENT, NULL);
    assert_int_equal(msnp_parse(&p, s, sizeof s - 1, &c, &e), MSNP_ECONTROL_CHAR);
    assert_int_equal(msnp_parse_bad_line(&p, s, sizeof s - 1, &e, &c), 10);
    assert_int_equal(msnp_parse(&p, s + 10, sizeof s - 11, &c, &e), 9);
    assert_int_equal(c.trid, 2);
}

static void test_writer(void **state) {
    (void)state;
    char b[256];
    long n = msnp_writev(b, sizeof(b), "USR", 1, 6, "OK", "example@passport.com", "my%20screen%20name", "1", NULL);
    assert_int_equal(n, 52);
    assert_memory_equal(b, "USR 6 OK example@passport.com my%20screen%20name 1\r\n", 52);
    /* framing-breaking parameters are refused */
    assert_int_equal(msnp_writev(b, sizeof(b), "REA", 1, 1, "a@b.com", "bad name", NULL), -1);
    assert_int_equal(msnp_writev(b, sizeof(b), "REA", 1, 1, "a@b.com", "bad\r\nOUT", NULL), -1);
    assert_int_equal(msnp_writev(b, sizeof(b), "REA", 1, 1, "a@b.com", "", NULL), -1);
    assert_int_equal(msnp_writev(b, sizeof(b), "rea", 1, 1, "a@b.com", NULL), -1);
    /* buffer too small: refused, nothing past cap */
    char small[10];
    memset(small, 'Z', sizeof(small));
    assert_int_equal(msnp_writev(small, 8, "CHG", 1, 12345, "NLN", NULL), -1);
    assert_int_equal(small[8], 'Z');
    /* payload command computes its length */
    msnp_str params[] = {msnp_str_c("A")};
    n = msnp_write_payload_cmd(b, sizeof(b), "MSG", 1, 3, params, 1, "hi", 2);
    assert_int_equal(n, 13);
    assert_memory_equal(b, "MSG 3 A 2\r\nhi", 13);
    n = msnp_write_error(b, sizeof(b), 911, 6);
    assert_int_equal(n, 7);
    assert_memory_equal(b, "911 6\r\n", 7);
    n = msnp_writev(b, sizeof(b), "QNG", 0, 0, NULL);
    assert_int_equal(n, 5);
    assert_memory_equal(b, "QNG\r\n", 5);
}

/* Parameters of every length up to 40 with one byte that splits a line or
 * another control byte the parser refuses (or one it takes) at every
 * position: the word-at-a-time check must see each, the overlapping last
 * word included. A line fits exactly, or is refused with nothing written at
 * all. */
static void test_writer_param_bytes(void **state) {
    (void)state;
    static const char splitters[] = {' ', '\t', '\r', '\n', '\0', '\x01', '\x1f', '\x7f'};
    char p[41], b[128];
    for (size_t n = 1; n <= 40; n++) {
        memset(p, 'a', n);
        assert_int_equal(msnp_param_is_safe((msnp_str){p, n}), 1);
        for (size_t at = 0; at < n; at++) {
            for (size_t k = 0; k < sizeof splitters; k++) {
                memset(p, 'a', n);
                p[at] = splitters[k];
                assert_int_equal(msnp_param_is_safe((msnp_str){p, n}), 0);
                msnp_str prm = {p, n};
                assert_int_equal(msnp_write_cmd(b, sizeof b, "REA", 1, 1, &prm, 1), -1);
            }
            memset(p, 'a', n);
            p[at] = '!'; /* just above the refused bytes; and UTF-8's */
            assert_int_equal(msnp_param_is_safe((msnp_str){p, n}), 1);
            p[at] = '\x80';
            assert_int_equal(msnp_param_is_safe((msnp_str){p, n}), 1);
        }
    }
    assert_int_equal(msnp_param_is_safe((msnp_str){"", 0}), 0);
    msnp_str prm[] = {msnp_str_c("NLN"), msnp_str_c("a@b.com")};
    long need = msnp_write_cmd(b, sizeof b, "CHG", 1, 4294967295u, prm, 2);
    assert_int_equal(need, (long)strlen("CHG 4294967295 NLN a@b.com\r\n"));
    assert_memory_equal(b, "CHG 4294967295 NLN a@b.com\r\n", (size_t)need);
    memset(b, 'Z', sizeof b);
    assert_int_equal(msnp_write_cmd(b, (size_t)need, "CHG", 1, 4294967295u, prm, 2), need);
    memset(b, 'Z', sizeof b);
    assert_int_equal(msnp_write_cmd(b, (size_t)need - 1, "CHG", 1, 4294967295u, prm, 2), -1);
    for (size_t i = 0; i < sizeof b; i++) assert_int_equal(b[i], 'Z');
    /* a payload longer than the buffer is refused before any length is added up */
    assert_int_equal(msnp_write_payload_cmd(b, 16, "MSG", 1, 1, prm, 1, "x", SIZE_MAX), -1);
}

static void test_tables(void **state) {
    (void)state;
    assert_int_equal(msnp_version_parse(msnp_str_c("MSNP7")), MSNP7);
    assert_int_equal(msnp_version_parse(msnp_str_c("MSNP2")), MSNP2);
    assert_int_equal(msnp_version_parse(msnp_str_c("MSNP8")), MSNP_VERSION_NONE);
    assert_int_equal(msnp_version_parse(msnp_str_c("CVR0")), MSNP_VERSION_NONE);
    static const char *const st[] = {"FLN", "NLN", "BSY", "IDL", "BRB", "AWY", "PHN", "LUN", "HDN"};
    for (int i = 0; i < 9; i++) {
        assert_int_equal(msnp_status_parse(msnp_str_c(st[i])), i);
        assert_string_equal(msnp_status_code((msnp_status)i), st[i]);
    }
    assert_int_equal(msnp_status_parse(msnp_str_c("nln")), MSNP_STATUS_INVALID);
    assert_int_equal(msnp_list_parse(msnp_str_c("RL")), MSNP_LIST_RL);
    assert_int_equal(msnp_list_parse(msnp_str_c("XL")), MSNP_LIST_INVALID);
    assert_string_equal(msnp_error_name(911), "ERR_AUTHENTICATION_FAILED");
    assert_string_equal(msnp_error_name(200), "ERR_SYNTAX_ERROR");
    assert_null(msnp_error_name(999));
    assert_string_equal(msnp_error_text(217), "user is offline or not accepting");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transcripts_round_trip),
        cmocka_unit_test(test_every_split_point),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_trid_echoed_as_written),
        cmocka_unit_test(test_bare_lf_and_blank_lines),
        cmocka_unit_test(test_bad_line_stepped_over),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_error_offsets_are_stream_offsets),
        cmocka_unit_test(test_payload_is_binary_safe),
        cmocka_unit_test(test_resync),
        cmocka_unit_test(test_writer),
        cmocka_unit_test(test_writer_param_bytes),
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_long_token_bytes),
        cmocka_unit_test(test_tokenizer_against_model),
        cmocka_unit_test(test_every_name),
        cmocka_unit_test(test_later_version_payloads),
        cmocka_unit_test(test_refused_payload_command),
        cmocka_unit_test(test_msg_needs_three_params),
        cmocka_unit_test(test_length_leading_zeros),
        cmocka_unit_test(test_huge_limits),
        cmocka_unit_test(test_control_byte_in_name),
    };
    return cmocka_run_group_tests_name("msnp_parser", tests, NULL, NULL);
}
