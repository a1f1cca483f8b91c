/* libmsnp MD5 login, challenges, URL-encoding, address checks, MSNFTP. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "msnp/msnp.h"

static void test_login_response(void **state) {
    (void)state;
    char out[33];
    /* The source's challenge with a known password; the expected value was
     * computed independently (Python hashlib.md5). */
    msnp_login_response(msnp_str_c("1013928519.693957190"), msnp_str_c("hunter2"), out);
    assert_string_equal(out, "8aca4d4721b726ba9cd5e3a5f601671a");
    /* UTF-8 password bytes are hashed as they are */
    msnp_login_response(msnp_str_c("1013928519.693957190"), msnp_str_c("p\xc3\xa4ssw\xc3\xb6rd"), out);
    assert_string_equal(out, "c082588e299e327c66bed322a02df35b");
    msnp_md5_hex("", 0, out);
    assert_string_equal(out, "d41d8cd98f00b204e9800998ecf8427e");
    assert_true(msnp_md5_hex_equal(msnp_str_c("8ACA4D4721B726BA9CD5E3A5F601671A"),
                                   msnp_str_c("8aca4d4721b726ba9cd5e3a5f601671a")));
    assert_false(msnp_md5_hex_equal(msnp_str_c("8aca4d4721b726ba9cd5e3a5f601671b"),
                                    msnp_str_c("8aca4d4721b726ba9cd5e3a5f601671a")));
    assert_false(msnp_md5_hex_equal(msnp_str_c("8aca"), msnp_str_c("8aca")));
}

static void test_challenge(void **state) {
    (void)state;
    char out[33];
    assert_int_equal(msnp_chl_response(msnp_str_c("11111111111111111111"), msnp_str_c(MSNP_CHL_CLIENT_ID), out), 0);
    assert_string_equal(out, "3b6666b60157322b6fc6e41a115968f5");
    assert_int_equal(msnp_chl_response(msnp_str_c("12345678901234567890"), msnp_str_c(MSNP_CHL_CLIENT_ID), out), 0);
    assert_string_equal(out, "8ba1bb9d6dbf624fee31a2053af5fdd0");
    assert_int_equal(msnp_chl_response(msnp_str_c("1"), msnp_str_c("nobody@example.com"), out), -1);
    unsigned char r1[16], r2[16];
    assert_int_equal(msnp_random_bytes(r1, sizeof(r1)), 0);
    assert_int_equal(msnp_random_bytes(r2, sizeof(r2)), 0);
    assert_memory_not_equal(r1, r2, sizeof(r1));
}

/* Byte-by-byte decoding, as the definition reads: the reference for
 * every buffer size below. */
static int hexdigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static long reference_decode(const char *in, size_t n, char *dst, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == '%' && i + 2 < n && hexdigit(in[i + 1]) >= 0 && hexdigit(in[i + 2]) >= 0) {
            c = (char)(hexdigit(in[i + 1]) * 16 + hexdigit(in[i + 2]));
            i += 2;
        }
        if (o + 1 >= cap) return -1;
        dst[o++] = c;
    }
    if (o >= cap) return -1;
    dst[o] = '\0';
    return (long)o;
}

/* Runs between escapes are copied in one piece: the same result and the
 * same bytes written as byte by byte, for every buffer size. */
static void test_url_decode_sizes(void **state) {
    (void)state;
    const char *const in[] = {"",    "a",    "abc%41def", "%41%42", "plain text of some length",
                              "a%2", "%zz%", "x%4",       "%%41%"};
    for (size_t k = 0; k < sizeof in / sizeof in[0]; k++)
        for (size_t cap = 0; cap < 32; cap++) {
            char got[32], want[32];
            memset(got, '#', sizeof got);
            memset(want, '#', sizeof want);
            long g = msnp_url_decode(msnp_str_c(in[k]), got, cap);
            long w = reference_decode(in[k], strlen(in[k]), want, cap);
            assert_int_equal(g, w);
            assert_memory_equal(got, want, sizeof got);
        }
}

static void test_url_coding(void **state) {
    (void)state;
    char b[64];
    assert_int_equal(msnp_url_encode(msnp_str_c("my screen name"), b, sizeof(b)), 18);
    assert_string_equal(b, "my%20screen%20name");
    assert_int_equal(msnp_url_encode(msnp_str_c("100% \xe7\x99\xbd"), b, sizeof(b)), 18);
    assert_string_equal(b, "100%25%20%E7%99%BD");
    assert_int_equal(msnp_url_decode(msnp_str_c("100%25%20%E7%99%BD"), b, sizeof(b)), 8);
    assert_string_equal(b, "100% \xe7\x99\xbd");
    /* invalid escapes stay literal */
    assert_int_equal(msnp_url_decode(msnp_str_c("a%2"), b, sizeof(b)), 3);
    assert_string_equal(b, "a%2");
    assert_int_equal(msnp_url_decode(msnp_str_c("%zz%"), b, sizeof(b)), 4);
    /* too small */
    assert_int_equal(msnp_url_encode(msnp_str_c("a b"), b, 5), -1);
    assert_int_equal(msnp_url_decode(msnp_str_c("abcdef"), b, 3), -1);
    /* an encoded name is always one safe parameter */
    assert_int_equal(msnp_url_encode(msnp_str_make("a\r\n\0b", 5), b, sizeof(b)), 11);
    assert_true(msnp_param_is_safe(msnp_str_c(b)));
}

/* A parameter is safe unless it is empty or holds a byte that splits or ends
 * a line (space, tab, CR, LF, NUL) or another control byte the parser
 * refuses (below 0x20, DEL): every byte value at every position of strings
 * around the eight-byte words the check reads at once. */
static void test_param_is_safe(void **state) {
    (void)state;
    char b[40];
    assert_false(msnp_param_is_safe(msnp_str_make("", 0)));
    for (size_t len = 1; len <= 25; len++) {
        for (size_t at = 0; at < len; at++) {
            for (int v = 0; v < 256; v++) {
                memset(b, 'a', len);
                b[at] = (char)v;
                int refused = v <= ' ' || v == 0x7f;
                assert_int_equal(msnp_param_is_safe(msnp_str_make(b, len)), !refused);
            }
        }
    }
    /* bytes just above the refused ones, and UTF-8 */
    assert_true(msnp_param_is_safe(msnp_str_c("!~\x80\xff\xe7\x99\xbd")));
    /* what the writers refuse, the parser would refuse in the line */
    char line[64];
    msnp_str bell = msnp_str_c("a\x07"
                               "b");
    assert_int_equal(msnp_write_cmd(line, sizeof(line), "REA", 1, 5, &bell, 1), -1);
    msnp_str del = msnp_str_c("name\x7f");
    assert_int_equal(msnp_write_cmd(line, sizeof(line), "REA", 1, 5, &del, 1), -1);
}

static void test_utf8(void **state) {
    (void)state;
    assert_true(msnp_utf8_valid("\xe8\xaf\xad\xe9\x9f\xb3", 6));
    assert_true(msnp_utf8_valid("plain", 5));
    /* display-name text: UTF-8 without control characters */
    assert_true(msnp_text_valid("Zo\xc3\xab Smith", 10));
    assert_false(msnp_text_valid("Name\x1b[2J", 9));
    assert_false(msnp_text_valid("Tab\there", 8));
    assert_false(msnp_text_valid("del\x7f", 4));
    assert_false(msnp_text_valid("Bad\xff", 4));
    assert_false(msnp_utf8_valid("\xe8\xaf", 2));     /* truncated */
    assert_false(msnp_utf8_valid("\xc0\xaf", 2));     /* overlong */
    assert_false(msnp_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
    assert_false(msnp_utf8_valid("\xff", 1));
    assert_false(msnp_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    /* the longest prefix that does not cut a character in two */
    assert_int_equal(msnp_utf8_prefix("abc", 3, 5), 3);
    assert_int_equal(msnp_utf8_prefix("a\xc3\xa9", 3, 2), 1);
    assert_int_equal(msnp_utf8_prefix("a\xc3\xa9", 3, 3), 3);
    assert_int_equal(msnp_utf8_prefix("\xf0\x9f\x98\x80z", 5, 3), 0);
    assert_int_equal(msnp_utf8_prefix("\xf0\x9f\x98\x80z", 5, 4), 4);
    /* one character at a time: its length, 0 where none starts */
    assert_int_equal(msnp_utf8_seq("a\xff", 2, NULL), 1);
    assert_int_equal(msnp_utf8_seq("\xc3\xa9x", 3, NULL), 2);
    assert_int_equal(msnp_utf8_seq("\xe8\xaf\xad", 3, NULL), 3);
    assert_int_equal(msnp_utf8_seq("\xf0\x9f\x98\x80", 4, NULL), 4);
    assert_int_equal(msnp_utf8_seq("\xe8\xaf", 2, NULL), 0);         /* cut short */
    assert_int_equal(msnp_utf8_seq("\xe8\xaf\xad", 2, NULL), 0);     /* n bytes only */
    assert_int_equal(msnp_utf8_seq("\xa9", 1, NULL), 0);             /* a continuation */
    assert_int_equal(msnp_utf8_seq("\xed\xa0\x80", 3, NULL), 0);     /* surrogate */
    assert_int_equal(msnp_utf8_seq("\xf4\x90\x80\x80", 4, NULL), 0); /* > U+10FFFF */
    assert_int_equal(msnp_utf8_seq("", 0, NULL), 0);
    uint32_t cp = 0;
    assert_int_equal(msnp_utf8_seq("\xe2\x80\xae!", 4, &cp), 3);
    assert_int_equal(cp, 0x202E);
    assert_int_equal(msnp_utf8_seq("A", 1, &cp), 1);
    assert_int_equal(cp, 'A');
    /* a URL-encoded name carrying invalid UTF-8 is detected after decoding */
    char b[16];
    long n = msnp_url_decode(msnp_str_c("bad%C0%AFname"), b, sizeof(b));
    assert_false(msnp_utf8_valid(b, (size_t)n));
}

static void test_addresses(void **state) {
    (void)state;
    assert_true(msnp_email_valid(msnp_str_c("example@passport.com")));
    assert_true(msnp_email_valid(msnp_str_c("name_123@hotmail.com")));
    assert_false(msnp_email_valid(msnp_str_c("a@b")));
    assert_false(msnp_email_valid(msnp_str_c("@@a")));
    assert_false(msnp_email_valid(msnp_str_c("a@@b.com")));
    assert_false(msnp_email_valid(msnp_str_c("a b@c.com")));
    assert_false(msnp_email_valid(msnp_str_c("ab@.com")));
    assert_false(msnp_email_valid(msnp_str_c("ab@c..com")));
    assert_false(msnp_email_valid(msnp_str_c("ab@c.com.")));
    char longmail[200];
    memset(longmail, 'a', sizeof(longmail));
    memcpy(longmail + 180, "@example.com", 13);
    assert_false(msnp_email_valid(msnp_str_c(longmail)));

    msnp_str host;
    uint16_t port = 0;
    assert_int_equal(msnp_split_hostport(msnp_str_c("64.4.12.193:1863"), &host, &port, 1), 0);
    assert_true(msnp_str_eq(host, "64.4.12.193"));
    assert_int_equal(port, 1863);
    assert_int_equal(msnp_split_hostport(msnp_str_c("sb1.example.net:1864"), &host, &port, 1), 0);
    assert_true(msnp_str_eq(host, "sb1.example.net"));
    assert_int_equal(msnp_split_hostport(msnp_str_c("host"), &host, &port, 1), -1);
    assert_int_equal(msnp_split_hostport(msnp_str_c("host"), &host, &port, 0), 0);
    assert_int_equal(msnp_split_hostport(msnp_str_c("host:70000"), &host, &port, 1), -1);
    assert_int_equal(msnp_split_hostport(msnp_str_c("host:0"), &host, &port, 1), -1);
    assert_int_equal(msnp_split_hostport(msnp_str_c(":80"), &host, &port, 1), -1);
    /* IPv6 in brackets: the host without them (it was "[::1]", which no
     * resolver takes) */
    assert_int_equal(msnp_split_hostport(msnp_str_c("[::1]:1864"), &host, &port, 1), 0);
    assert_true(msnp_str_eq(host, "::1") && port == 1864);
    port = 7;
    assert_int_equal(msnp_split_hostport(msnp_str_c("[2001:db8::5]"), &host, &port, 0), 0);
    assert_true(msnp_str_eq(host, "2001:db8::5") && port == 7);
    assert_int_equal(msnp_split_hostport(msnp_str_c("[2001:db8::5]"), &host, &port, 1), -1);
    assert_int_equal(msnp_split_hostport(msnp_str_c("[::1]:0"), &host, &port, 1), -1);
    assert_int_equal(msnp_split_hostport(msnp_str_c("[::1]1864"), &host, &port, 0), -1);
    assert_int_equal(msnp_split_hostport(msnp_str_c("[::1"), &host, &port, 0), -1);
    assert_int_equal(msnp_split_hostport(msnp_str_c("[]:1864"), &host, &port, 0), -1);
    assert_int_equal(msnp_split_hostport(msnp_str_c("[::1]:"), &host, &port, 0), -1);
    assert_true(msnp_ipv4_valid(msnp_str_c("10.44.102.65")));
    assert_false(msnp_ipv4_valid(msnp_str_c("10.44.102")));
    assert_false(msnp_ipv4_valid(msnp_str_c("10.44.102.256")));
    assert_false(msnp_ipv4_valid(msnp_str_c("10.44.102.65.1")));
    assert_false(msnp_ipv4_valid(msnp_str_c("010.1.1.1")));
    assert_false(msnp_ipv4_valid(msnp_str_c("sb1.example.net")));
    /* read as a C string: up to the first NUL, as inet_pton reads it */
    uint8_t q[4] = {0};
    static const char nul_then_junk[] = "10.1.2.3\0zz";
    assert_false(msnp_ipv4_parse(msnp_str_make(nul_then_junk, sizeof nul_then_junk - 1), q));
    assert_true(msnp_ipv4_parse_cstr(msnp_str_make(nul_then_junk, sizeof nul_then_junk - 1), q));
    assert_true(q[0] == 10 && q[1] == 1 && q[2] == 2 && q[3] == 3);
    assert_true(msnp_ipv4_parse_cstr(msnp_str_c("10.44.102.65"), q));
    assert_true(q[0] == 10 && q[3] == 65);
    static const char junk_then_nul[] = "10.1.2.3z\0";
    assert_false(msnp_ipv4_parse_cstr(msnp_str_make(junk_then_nul, sizeof junk_then_nul - 1), q));
    assert_false(msnp_ipv4_parse_cstr(msnp_str_make("\0"
                                                    "1.2.3.4",
                                                    8),
                                      q));
    assert_false(msnp_ipv4_parse_cstr(msnp_str_make("", 0), q));
    /* the parser against inet_pton, values included, on every string of
     * up to 11 bytes over digits and dots around the edges (0, 9, 25x) and
     * on longer random ones: a view, not a C string (no NUL after it) */
    static const char alphabet[] = "0259.";
    uint32_t seed = 7;
    for (size_t k = 0; k < 600000; k++) {
        char s[24], v[24];
        size_t len = 1, x = k;
        if (k < 305175) { /* 5 + 5^2 + ... + 5^8 */
            for (size_t span = 5; x >= span; span *= 5, len++) x -= span;
            for (size_t i = 0; i < len; i++, x /= 5) s[i] = alphabet[x % 5];
        } else {
            seed = seed * 1103515245u + 12345u;
            len = 7 + (seed >> 16) % 10;
            for (size_t i = 0; i < len; i++) {
                seed = seed * 1103515245u + 12345u;
                s[i] = (seed >> 16) % 4 ? (char)('0' + (seed >> 18) % 10) : '.';
            }
        }
        s[len] = '\0';
        memcpy(v, s, len);
        memset(v + len, '1', sizeof v - len); /* digits right after the view */
        uint8_t a[4] = {0}, b[4] = {0};
        int want = inet_pton(AF_INET, s, a) == 1;
        if (msnp_ipv4_parse(msnp_str_make(v, len), b) != want) fail_msg("\"%s\": inet_pton says %d", s, want);
        if (want) assert_memory_equal(a, b, 4);
    }
}

static void test_msnftp_blocks(void **state) {
    (void)state;
    unsigned char h[3];
    msnftp_block b;
    msnftp_block_encode(h, 2045);
    assert_int_equal(h[0], 0);
    assert_int_equal(h[1], 2045 & 0xff);
    assert_int_equal(h[2], 2045 >> 8);
    assert_int_equal(msnftp_block_decode(h, 3, &b), 3);
    assert_int_equal(b.len, 2045);
    assert_false(b.cancel);
    static const unsigned char hello[] = {0x00, 0x0b, 0x00};
    assert_int_equal(msnftp_block_decode(hello, 3, &b), 3);
    assert_int_equal(b.len, 11);
    msnftp_cancel_encode(h);
    assert_int_equal(msnftp_block_decode(h, 3, &b), 3);
    assert_true(b.cancel);
    assert_int_equal(msnftp_block_decode(h, 2, &b), 0);
    static const unsigned char bad[] = {0x02, 0, 0};
    assert_int_equal(msnftp_block_decode(bad, 3, &b), -1);
    assert_string_equal(msnftp_bye_text(MSNFTP_BYE_RECEIVED_OK), "file received");
    assert_string_equal(msnftp_bye_text(MSNFTP_BYE_DISK_FULL), "receiver out of disk space");

    /* MSNFTP command lines go through the ordinary parser without TrIDs */
    msnp_parser p;
    msnp_cmd c;
    msnp_parse_error e;
    msnp_parser_init(&p, MSNP_FROM_UNKNOWN, NULL);
    assert_true(msnp_parse(&p, "FIL 60904\r\n", 11, &c, &e) == 11);
    assert_false(c.has_trid);
    assert_true(msnp_str_eq(c.argv[0], "60904"));
    msnp_parser_init(&p, MSNP_FROM_UNKNOWN, NULL);
    assert_true(msnp_parse(&p, "BYE 16777989\r\n", 14, &c, &e) == 14);
    assert_false(c.has_trid);
}

static void test_self_check(void **state) {
    (void)state;
    char report[512];
    assert_int_equal(msnp_self_check(report, sizeof(report)), 0);
    assert_non_null(strstr(report, "ok "));
    assert_null(strstr(report, "FAIL"));
}

/* Case-insensitive comparison of a view with a C string: lengths must
 * match both ways, only ASCII letters fold, a NUL inside the view never
 * matches. */
static void test_str_ieq(void **state) {
    (void)state;
    assert_true(msnp_str_ieq(msnp_str_c("Content-Type"), "content-type"));
    assert_true(msnp_str_ieq(msnp_str_c("TEXT/PLAIN"), "text/plain"));
    assert_true(msnp_str_ieq(msnp_str_make("", 0), ""));
    assert_false(msnp_str_ieq(msnp_str_make("", 0), "a"));
    assert_false(msnp_str_ieq(msnp_str_c("a"), ""));
    assert_false(msnp_str_ieq(msnp_str_c("text/plai"), "text/plain"));   /* shorter view */
    assert_false(msnp_str_ieq(msnp_str_c("text/plainx"), "text/plain")); /* longer view */
    assert_false(msnp_str_ieq(msnp_str_make("te\0t", 4), "te"));
    assert_false(msnp_str_ieq(msnp_str_make("te\0t", 4), "text"));
    assert_true(msnp_str_ieq(msnp_str_make("Typing-User: x", 11), "typing-user"));
    assert_false(msnp_str_ieq(msnp_str_c("\xc3\x89"), "\xc3\xa9")); /* no folding beyond ASCII */
    assert_false(msnp_str_ieq(msnp_str_c("@"), "`"));               /* 0x40 vs 0x60: not letters */
    /* names of 8 to 23 bytes: whole words, then the tail, which a case
     * difference or a mismatch in either must still decide */
    assert_true(msnp_str_ieq(msnp_str_c("Invitation-Command"), "Invitation-Command"));
    assert_true(msnp_str_ieq(msnp_str_c("Invitation-COMMAND"), "invitation-command"));
    assert_false(msnp_str_ieq(msnp_str_c("Invitation-Commanx"), "Invitation-Command"));
    assert_false(msnp_str_ieq(msnp_str_c("Invitatiox-Command"), "Invitation-Command"));
    assert_true(msnp_str_ieq(msnp_str_c("Content-TYPE"), "Content-Type"));
    assert_false(msnp_str_ieq(msnp_str_c("Content-Typf"), "Content-Type"));
    assert_false(msnp_str_ieq(msnp_str_c("Contenu-Type"), "Content-Type"));
    assert_true(msnp_str_ieq(msnp_str_c("PortX-Internal"), "PORTX-INTERNAL"));
    assert_false(msnp_str_ieq(msnp_str_c("IP-Addres@"), "IP-Address`"));
    assert_false(msnp_str_ieq(msnp_str_c("IP-Addres@"), "IP-Addres`"));
    assert_true(msnp_str_ieq(msnp_str_c("12345678"), "12345678"));
    assert_false(msnp_str_ieq(msnp_str_c("12345678"), "12345679"));
    assert_true(msnp_str_istarts(msnp_str_c("MSNFTP blah"), "msnftp"));
    assert_false(msnp_str_istarts(msnp_str_c("MSNF"), "msnftp"));
}

/* Decimal numbers: digits only, at most twenty, within max and 2^64 - 1;
 * the twentieth digit is the only one that can overflow. */
static void test_str_to_u64(void **state) {
    (void)state;
    uint64_t v = 7;
    assert_int_equal(msnp_str_to_u64(msnp_str_c("0"), UINT64_MAX, &v), 0);
    assert_true(v == 0);
    assert_int_equal(msnp_str_to_u64(msnp_str_c("4294967295"), UINT32_MAX, &v), 0);
    assert_true(v == UINT32_MAX);
    assert_int_equal(msnp_str_to_u64(msnp_str_c("4294967296"), UINT32_MAX, &v), -1);
    assert_int_equal(msnp_str_to_u64(msnp_str_c("9999999999999999999"), UINT64_MAX, &v), 0);
    assert_true(v == 9999999999999999999ull);
    assert_int_equal(msnp_str_to_u64(msnp_str_c("18446744073709551615"), UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(msnp_str_to_u64(msnp_str_c("18446744073709551616"), UINT64_MAX, &v), -1);
    assert_int_equal(msnp_str_to_u64(msnp_str_c("99999999999999999999"), UINT64_MAX, &v), -1);
    assert_int_equal(msnp_str_to_u64(msnp_str_c("00000000000000000042"), UINT64_MAX, &v), 0);
    assert_true(v == 42);
    assert_int_equal(msnp_str_to_u64(msnp_str_c("000000000000000000042"), UINT64_MAX, &v), -1); /* 21 digits */
    assert_int_equal(msnp_str_to_u64(msnp_str_c("1844674407370955161x"), UINT64_MAX, &v), -1);
    assert_int_equal(msnp_str_to_u64(msnp_str_c(""), UINT64_MAX, &v), -1);
    assert_int_equal(msnp_str_to_u64(msnp_str_c("12a"), UINT64_MAX, &v), -1);
    assert_int_equal(msnp_str_to_u64(msnp_str_c("-1"), UINT64_MAX, &v), -1);
    assert_int_equal(msnp_str_to_u64(msnp_str_c(" 1"), UINT64_MAX, &v), -1);
    assert_int_equal(msnp_str_to_u64(msnp_str_c("/"), UINT64_MAX, &v), -1); /* '0' - 1 */
    assert_int_equal(msnp_str_to_u64(msnp_str_c(":"), UINT64_MAX, &v), -1); /* '9' + 1 */
    assert_int_equal(msnp_str_to_u64(msnp_str_c("\xb0"), UINT64_MAX, &v), -1);
    assert_true(v == 42); /* left as it was on every refusal */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_response), cmocka_unit_test(test_str_ieq),
        cmocka_unit_test(test_str_to_u64),     cmocka_unit_test(test_challenge),
        cmocka_unit_test(test_url_coding),     cmocka_unit_test(test_url_decode_sizes),
        cmocka_unit_test(test_utf8),           cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_msnftp_blocks),  cmocka_unit_test(test_self_check),
        cmocka_unit_test(test_param_is_safe),
    };
    return cmocka_run_group_tests_name("msnp_auth_util", tests, NULL, NULL);
}
