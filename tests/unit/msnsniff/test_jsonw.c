/* test_jsonw.c - the event line writer: string escaping (control bytes,
 * quote, backslash), UTF-8 repair (stray continuation bytes, overlong
 * forms, surrogates, code points above U+10FFFF, cut sequences), integers,
 * nested values, and the field index the transcript and nft sinks read.
 * Every line written is also parsed back with jansson. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "jsonw.h"

#define FFFD "\xEF\xBF\xBD"

/* s (n bytes) written as a JSON string must be exactly want. */
static void check_string(const char *s, size_t n, const char *want) {
    sn_jbuf b = {0};
    sn_jb_string(&b, s, n);
    assert_false(b.failed);
    assert_int_equal(b.n, strlen(want));
    assert_memory_equal(b.p, want, b.n);
    /* a JSON parser agrees it is one valid string */
    json_error_t err;
    json_t *j = json_loadb(b.p, b.n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    assert_non_null(j);
    assert_true(json_is_string(j));
    /* and our own decoder gives back what the parser read */
    char *dec = malloc(b.n);
    size_t dn = sn_json_unescape(b.p + 1, b.n - 2, dec);
    assert_int_equal(dn, json_string_length(j));
    assert_memory_equal(dec, json_string_value(j), dn);
    free(dec);
    json_decref(j);
    sn_jb_free(&b);
}
#define CHECK(lit, want) check_string(lit, sizeof(lit) - 1, want)

static void test_plain_and_escapes(void **st) {
    (void)st;
    CHECK("", "\"\"");
    CHECK("hello world", "\"hello world\"");
    CHECK("say \"hi\"", "\"say \\\"hi\\\"\"");
    CHECK("C:\\dir\\file", "\"C:\\\\dir\\\\file\"");
    CHECK("a/b", "\"a/b\"");         /* the solidus is not escaped */
    CHECK("del\x7F", "\"del\x7F\""); /* nor DEL */
    CHECK("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
    CHECK("\x01\x1F", "\"\\u0001\\u001F\"");
    check_string("a\0b", 3, "\"a\\u0000b\"");
}

static void test_every_control_byte(void **st) {
    (void)st;
    for (unsigned c = 0; c < 0x20; c++) {
        char in[1] = {(char)c}, want[16];
        const char *named = c == '\b' ? "\\b"
            : c == '\f'               ? "\\f"
            : c == '\n'               ? "\\n"
            : c == '\r'               ? "\\r"
            : c == '\t'               ? "\\t"
                                      : NULL;
        if (named) snprintf(want, sizeof want, "\"%s\"", named);
        else snprintf(want, sizeof want, "\"\\u%04X\"", c);
        check_string(in, 1, want);
    }
}

static void test_valid_utf8_passes(void **st) {
    (void)st;
    CHECK("caf\xC3\xA9", "\"caf\xC3\xA9\"");                           /* U+00E9 */
    CHECK("\xC2\x80", "\"\xC2\x80\"");                                 /* U+0080, smallest 2-byte */
    CHECK("\xE0\xA0\x80", "\"\xE0\xA0\x80\"");                         /* U+0800, smallest 3-byte */
    CHECK("\xED\x9F\xBF", "\"\xED\x9F\xBF\"");                         /* U+D7FF, below the surrogates */
    CHECK("\xEE\x80\x80", "\"\xEE\x80\x80\"");                         /* U+E000, above them */
    CHECK("\xEF\xBF\xBF", "\"\xEF\xBF\xBF\"");                         /* U+FFFF */
    CHECK("\xF0\x90\x80\x80", "\"\xF0\x90\x80\x80\"");                 /* U+10000 */
    CHECK("\xF4\x8F\xBF\xBF", "\"\xF4\x8F\xBF\xBF\"");                 /* U+10FFFF */
    CHECK("\xE8\xAF\xAD\xE9\x9F\xB3", "\"\xE8\xAF\xAD\xE9\x9F\xB3\""); /* 语音 */
}

static void test_invalid_utf8_replaced(void **st) {
    (void)st;
    CHECK("\x80", "\"" FFFD "\""); /* stray continuation */
    CHECK("a\xBFz", "\"a" FFFD "z\"");
    CHECK("\xC0\x80", "\"" FFFD FFFD "\"");          /* overlong NUL */
    CHECK("\xC1\xBF", "\"" FFFD FFFD "\"");          /* overlong DEL */
    CHECK("\xE0\x80\xAF", "\"" FFFD FFFD FFFD "\""); /* overlong '/' */
    CHECK("\xE0\x9F\xBF", "\"" FFFD FFFD FFFD "\""); /* overlong U+07FF */
    CHECK("\xF0\x80\x80\x80", "\"" FFFD FFFD FFFD FFFD "\"");
    CHECK("\xF0\x8F\xBF\xBF", "\"" FFFD FFFD FFFD FFFD "\"");                   /* overlong U+FFFF */
    CHECK("\xED\xA0\x80", "\"" FFFD FFFD FFFD "\"");                            /* U+D800 */
    CHECK("\xED\xBF\xBF", "\"" FFFD FFFD FFFD "\"");                            /* U+DFFF */
    CHECK("\xED\xA0\xBD\xED\xB8\x80", "\"" FFFD FFFD FFFD FFFD FFFD FFFD "\""); /* CESU-8 pair */
    CHECK("\xF4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\"");                   /* U+110000 */
    CHECK("\xF5\x80\x80\x80", "\"" FFFD FFFD FFFD FFFD "\"");
    CHECK("\xFE\xFF", "\"" FFFD FFFD "\"");
    CHECK("\xE2\x82", "\"" FFFD FFFD "\""); /* cut at the end */
    CHECK("\xE2\x82"
          "A",
          "\"" FFFD FFFD "A\""); /* cut by ASCII */
    CHECK("\xF0\x9F\x98", "\"" FFFD FFFD FFFD "\"");
    CHECK("\xC3\"", "\"" FFFD "\\\"\""); /* cut by a quote, still escaped */
    CHECK("ok\xC3\xA9\xA9ok", "\"ok\xC3\xA9" FFFD "ok\"");
}

/* Pseudo-random byte strings: the output always parses, is valid UTF-8,
 * and valid input comes back unchanged. */
static void test_random_bytes(void **st) {
    (void)st;
    uint32_t x = 12345;
    char in[64];
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)(round % 64);
        for (size_t i = 0; i < n; i++) {
            x = x * 1103515245u + 12345u;
            uint32_t r = x >> 16;
            /* bias towards the interesting bytes */
            in[i] = (char)(r % 4 == 0 ? 0x80 + (r >> 2) % 0x80 : r % 4 == 1 ? (r >> 2) % 0x20 : (r >> 2) & 0xFF);
        }
        sn_jbuf b = {0};
        sn_jb_string(&b, in, n);
        json_error_t err;
        json_t *j = json_loadb(b.p, b.n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        assert_non_null(j);
        json_t *again = json_stringn(json_string_value(j), json_string_length(j));
        assert_non_null(again);              /* jansson checks UTF-8 */
        json_t *valid = json_stringn(in, n); /* NULL unless valid UTF-8 */
        if (valid) {                         /* valid input: unchanged */
            assert_int_equal(json_string_length(j), n);
            assert_memory_equal(json_string_value(j), in, n);
        }
        json_decref(valid);
        json_decref(again);
        json_decref(j);
        sn_jb_free(&b);
    }
}

/* The writer copies plain text eight bytes at a time: a byte that needs
 * care at every position of strings of every length up to 40, next to
 * and across the eight-byte steps, must still be written as it would be
 * alone. */
static void test_special_byte_at_every_position(void **st) {
    (void)st;
    static const struct {
        const char *in, *out;
    } sp[] = {{"\"", "\\\""}, {"\\", "\\\\"}, {"\x01", "\\u0001"},      {"\x1F", "\\u001F"},
              {"\n", "\\n"},  {" ", " "},     {"\x7F", "\x7F"},         {"!", "!"},
              {"]", "]"},     {"\x80", FFFD}, {"\xC3\xA9", "\xC3\xA9"}, {"\xFF", FFFD}};
    char in[64], want[128];
    for (size_t n = 1; n <= 40; n++)
        for (size_t pos = 0; pos < n; pos++)
            for (size_t k = 0; k < sizeof sp / sizeof sp[0]; k++) {
                size_t sl = strlen(sp[k].in);
                if (pos + sl > n) continue;
                memset(in, 'a', n);
                memcpy(in + pos, sp[k].in, sl);
                int w = snprintf(want, sizeof want, "\"%.*s%s%.*s\"", (int)pos, in, sp[k].out, (int)(n - pos - sl),
                                 in + pos + sl);
                assert_true(w > 0 && (size_t)w < sizeof want);
                check_string(in, n, want);
            }
}

static void test_integers(void **st) {
    (void)st;
    const int64_t v[] = {0,    1,          -1,         9,           10,          99,        100,
                         1863, 4294967295, 4294967296, -4294967295, -4294967296, INT64_MAX, INT64_MIN};
    const char *const want[] = {"0",
                                "1",
                                "-1",
                                "9",
                                "10",
                                "99",
                                "100",
                                "1863",
                                "4294967295",
                                "4294967296",
                                "-4294967295",
                                "-4294967296",
                                "9223372036854775807",
                                "-9223372036854775808"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        sn_jbuf b = {0};
        sn_jb_int(&b, v[i]);
        assert_int_equal(b.n, strlen(want[i]));
        assert_memory_equal(b.p, want[i], b.n);
        sn_jb_free(&b);
    }
    /* around every power of ten, both signs, as printf writes them */
    for (int64_t p = 1; p <= INT64_MAX / 10; p *= 10)
        for (int64_t d = -1; d <= 1; d++)
            for (int sign = -1; sign <= 1; sign += 2) {
                int64_t x = sign * (p + d);
                char ref[32];
                snprintf(ref, sizeof ref, "%lld", (long long)x);
                sn_jbuf b = {0};
                sn_jb_int(&b, x);
                assert_int_equal(b.n, strlen(ref));
                assert_memory_equal(b.p, ref, b.n);
                sn_jb_free(&b);
            }
}

typedef struct seen {
    char line[1024];
    char text[256], user[64];
    int64_t session;
    int has_session, echo, typed_null;
} seen;

static void grab(void *ctx, sn_ev *ev) {
    seen *s = ctx;
    size_t n;
    const char *l = sn_ev_line(ev, &n);
    assert_true(n < sizeof s->line);
    memcpy(s->line, l, n);
    s->line[n] = '\0';
    assert_string_equal(sn_ev_type(ev), "message");
    const char *t = sn_ev_get_str(ev, "text");
    const char *t2 = sn_ev_get_str(ev, "text"); /* read twice: same storage */
    assert_ptr_equal(t, t2);
    snprintf(s->text, sizeof s->text, "%s", t ? t : "(null)");
    const char *u = sn_ev_get_str(ev, "sender");
    snprintf(s->user, sizeof s->user, "%s", u ? u : "(null)");
    s->has_session = sn_ev_get_int(ev, "session", &s->session);
    s->echo = sn_ev_get_true(ev, "echo");
    s->typed_null = sn_ev_get_str(ev, "conversation") == NULL && !sn_ev_get_int(ev, "conversation", &(int64_t){0});
    assert_null(sn_ev_get_str(ev, "recipients")); /* nested: not a string */
    assert_null(sn_ev_get_str(ev, "color"));      /* fields of nested objects are not top-level */
    assert_null(sn_ev_get_str(ev, "missing"));
}

static void test_event_line_and_fields(void **st) {
    (void)st;
    sn_events e;
    sn_events_init(&e);
    seen s;
    memset(&s, 0, sizeof s);
    assert_int_equal(sn_events_add_sink(&e, grab, &s), 0);
    for (int round = 0; round < 3; round++) { /* the recycled event starts clean */
        sn_ev *ev = sn_ev_new(&e, "message", 1016955577123456ull);
        assert_non_null(ev);
        sn_ev_set_int(ev, "session", 7);
        sn_ev_set_null(ev, "conversation");
        sn_ev_set_bool(ev, "echo", round == 1);
        sn_ev_set_str(ev, "sender", "alice@example.com");
        sn_ev_open_array(ev, "recipients");
        sn_ev_array_str(ev, "bob@example.com");
        sn_ev_array_str(ev, "\"q\"\xFF");
        sn_ev_close(ev);
        static const char text[] = "hi\r\n\"there\"\t\\ \xC3\xA9\x80";
        sn_ev_set_strn(ev, "text", text, sizeof text - 1);
        sn_ev_open_object(ev, "format");
        sn_ev_set_str(ev, "color", "#ff0000");
        sn_ev_close(ev);
        sn_ev_open_array(ev, "empty");
        sn_ev_close(ev);
        sn_ev_set_int(ev, "size", -3);
        sn_ev_emit(&e, ev);
        const char *tail = round == 1 ? "true" : "false";
        char want[512];
        snprintf(want, sizeof want,
                 "{\"event\":\"message\",\"ts\":\"2002-03-24T07:39:37.123456Z\",\"session\":7,\"conversation\":null,"
                 "\"echo\":%s,\"sender\":\"alice@example.com\",\"recipients\":[\"bob@example.com\",\"\\\"q\\\"" FFFD
                 "\"],\"text\":\"hi\\r\\n\\\"there\\\"\\t\\\\ \xC3\xA9" FFFD "\",\"format\":{\"color\":\"#ff0000\"},"
                 "\"empty\":[],\"size\":-3}\n",
                 tail);
        assert_string_equal(s.line, want);
        assert_string_equal(s.text, "hi\r\n\"there\"\t\\ \xC3\xA9" FFFD);
        assert_string_equal(s.user, "alice@example.com");
        assert_true(s.has_session);
        assert_int_equal(s.session, 7);
        assert_int_equal(s.echo, round == 1);
        assert_true(s.typed_null);
    }
    assert_int_equal(e.emitted, 3);
    sn_events_release(&e);
}

/* Two events under construction at once (one emitted while the other is
 * still being built) keep their own lines. */
static void test_interleaved_events(void **st) {
    (void)st;
    sn_events e;
    sn_events_init(&e);
    seen s;
    memset(&s, 0, sizeof s);
    sn_events_add_sink(&e, grab, &s);
    sn_ev *a = sn_ev_new(&e, "message", 0);
    sn_ev_set_str(a, "sender", "a");
    sn_ev *b = sn_ev_new(&e, "message", 1000000);
    sn_ev_set_str(b, "sender", "b");
    sn_ev_emit(&e, b);
    assert_string_equal(s.user, "b");
    sn_ev_set_str(a, "text", "still a");
    sn_ev_emit(&e, a);
    assert_string_equal(
        s.line,
        "{\"event\":\"message\",\"ts\":\"1970-01-01T00:00:00.000000Z\",\"sender\":\"a\",\"text\":\"still a\"}\n");
    sn_ev_emit(&e, NULL); /* ignored */
    sn_ev_set_str(NULL, "x", "y");
    sn_events_release(&e);
}

static void grab_line(void *ctx, sn_ev *ev) {
    size_t n;
    const char *l = sn_ev_line(ev, &n);
    assert_true(n < 1024);
    memcpy(ctx, l, n);
    ((char *)ctx)[n] = '\0';
}

/* With only line sinks the events keep no field index: the lines are the
 * same as with a sink that reads fields. */
static void test_line_sink_same_line(void **st) {
    (void)st;
    char lines[2][1024];
    for (int with_index = 0; with_index < 2; with_index++) {
        sn_events e;
        sn_events_init(&e);
        seen s;
        memset(&s, 0, sizeof s);
        assert_int_equal(sn_events_add_line_sink(&e, grab_line, lines[with_index]), 0);
        if (with_index) assert_int_equal(sn_events_add_sink(&e, grab, &s), 0);
        sn_ev *ev = sn_ev_new(&e, "message", 1016955577000001ull);
        sn_ev_set_int(ev, "session", -12345678901234ll);
        sn_ev_set_str(ev, "sender", "a-32-byte-long-address@host.test");
        sn_ev_set_str(ev, "text", "x\"y");
        sn_ev_set_bool(ev, "echo", 0);
        sn_ev_emit(&e, ev);
        sn_events_release(&e);
    }
    assert_string_equal(lines[0], lines[1]);
    assert_string_equal(lines[0],
                        "{\"event\":\"message\",\"ts\":\"2002-03-24T07:39:37.000001Z\",\"session\":-12345678901234,"
                        "\"sender\":\"a-32-byte-long-address@host.test\",\"text\":\"x\\\"y\",\"echo\":false}\n");
}

/* A long value with every byte escaped fits: the buffer grows once. */
/* Every time stamp is written as 27 characters with a four-digit year:
 * from 2038 and 2106 (32-bit seconds) up to any 64-bit value. */
static void test_timestamps(void **st) {
    (void)st;
    static const struct {
        uint64_t ts;
        const char *want;
    } cases[] = {
        {0, "1970-01-01T00:00:00.000000Z"},
        {2147483648ull * 1000000u + 1, "2038-01-19T03:14:08.000001Z"},
        {4294967295ull * 1000000u + 999999u, "2106-02-07T06:28:15.999999Z"},
        {SN_TS_MAX_US, "9999-12-31T23:59:59.999999Z"},
        {SN_TS_MAX_US + 1, "9999-12-31T23:59:59.999999Z"},
        {UINT64_MAX, "9999-12-31T23:59:59.999999Z"},
        {1017000000ull * 1000000u + 123456u, "2002-03-24T20:00:00.123456Z"},
        /* the dates kept from the seconds before: their ends, the next
         * second, the microsecond before a kept second, one evicted */
        {1017000000ull * 1000000u + 999999u, "2002-03-24T20:00:00.999999Z"},
        {1017000001ull * 1000000u, "2002-03-24T20:00:01.000000Z"},
        {1017000000ull * 1000000u, "2002-03-24T20:00:00.000000Z"},
        {1017000000ull * 1000000u - 1, "2002-03-24T19:59:59.999999Z"},
        {1017000001ull * 1000000u + 5, "2002-03-24T20:00:01.000005Z"},
        {1017000000ull * 1000000u + 10203u, "2002-03-24T20:00:00.010203Z"},
        {86400ull * 1000000u, "1970-01-02T00:00:00.000000Z"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[32];
        memset(out, 'x', sizeof out);
        sn_format_ts(cases[i].ts, out);
        assert_string_equal(out, cases[i].want);
        for (size_t k = 28; k < sizeof out; k++) assert_int_equal(out[k], 'x'); /* nothing past the NUL */
    }
}

static void test_long_string(void **st) {
    (void)st;
    size_t n = 100000;
    char *in = malloc(n);
    memset(in, 0x01, n);
    sn_jbuf b = {0};
    sn_jb_string(&b, in, n);
    assert_false(b.failed);
    assert_int_equal(b.n, n * 6 + 2);
    sn_jb_free(&b);
    free(in);
}

/* A buffer that failed to grow has no room left and ignores every later
 * write, whichever way it failed: a size that cannot be allocated, or a
 * string too long to escape. */
static void test_failed_buffer_takes_nothing(void **state) {
    (void)state;
    for (int how = 0; how < 2; how++) {
        sn_jbuf b = {0};
        sn_jb_put(&b, "ab", 2);
        assert_int_equal(b.n, 2);
        if (how == 0) assert_false(sn_jb_reserve(&b, SIZE_MAX - 8));
        else sn_jb_string(&b, "x", SIZE_MAX / 2);
        assert_true(b.failed);
        assert_int_equal(b.n, 2);
        assert_false(sn_jb_has_room(&b, 1));
        assert_false(sn_jb_reserve(&b, 1));
        sn_jb_put(&b, "cd", 2);
        sn_jb_putc(&b, 'e');
        sn_jb_int(&b, 12345);
        sn_jb_string(&b, "fg", 2);
        assert_int_equal(b.n, 2);
        assert_memory_equal(b.p, "ab", 2);
        assert_true(b.failed);
        sn_jb_free(&b);
        /* freed, it is a new, empty buffer */
        sn_jb_put(&b, "h", 1);
        assert_false(b.failed);
        assert_int_equal(b.n, 1);
        sn_jb_free(&b);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_escapes),
        cmocka_unit_test(test_every_control_byte),
        cmocka_unit_test(test_valid_utf8_passes),
        cmocka_unit_test(test_invalid_utf8_replaced),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_special_byte_at_every_position),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_event_line_and_fields),
        cmocka_unit_test(test_interleaved_events),
        cmocka_unit_test(test_long_string),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_line_sink_same_line),
        cmocka_unit_test(test_failed_buffer_takes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
