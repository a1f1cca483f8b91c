/* Which stored names can be sent (server.h name_sendable): its one-pass
 * check of ASCII names must agree with the full URL decode and text check
 * on every input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "msnp/util.h"
#include "msnp/writer.h"
#include "server.h"

/* What name_sendable answered before it had a one-pass check. */
static int reference(msnp_str s, size_t max) {
    if (s.n == 0 || s.n > max || s.n > MSNP_MAX_NAME_ENCODED || !msnp_param_is_safe(s)) return 0;
    char dec[MSNP_MAX_NAME_ENCODED + 1];
    long n = msnp_url_decode(s, dec, sizeof dec);
    return n > 0 && msnp_text_valid(dec, (size_t)n);
}

static void test_examples(void **state) {
    (void)state;
    assert_true(name_sendable(msnp_str_c("Bench%20User%201"), 387));
    assert_true(name_sendable(msnp_str_c("100%"), 387));              /* a '%' without an escape stays */
    assert_true(name_sendable(msnp_str_c("a%2"), 387));               /* cut short: literal */
    assert_true(name_sendable(msnp_str_c("a%zz"), 387));              /* not hex: literal */
    assert_true(name_sendable(msnp_str_c("%C3%A9t%C3%A9"), 387));     /* UTF-8, escaped */
    assert_true(name_sendable(msnp_str_c("\xc3\xa9t\xc3\xa9"), 387)); /* UTF-8 as it is */
    assert_false(name_sendable(msnp_str_c("a%0Ab"), 387));            /* LF, escaped */
    assert_false(name_sendable(msnp_str_c("a%7f"), 387));             /* DEL */
    assert_false(name_sendable(msnp_str_c("a%00"), 387));             /* NUL */
    assert_false(name_sendable(msnp_str_c("%C3"), 387));              /* UTF-8 cut short */
    assert_false(name_sendable(msnp_str_c("\xc3"), 387));
    assert_false(name_sendable(msnp_str_c("%ED%A0%80"), 387)); /* a surrogate */
    assert_false(name_sendable(msnp_str_c("a b"), 387));
    assert_false(name_sendable(msnp_str_c(""), 387));
    assert_false(name_sendable(msnp_str_c("abcdef"), 5));
}

/* Every string of up to four bytes over an alphabet that makes escapes of
 * every kind (valid, cut short, not hex; control, DEL, ASCII, UTF-8 lead
 * and continuation bytes) and raw bytes of each class, then longer mixes. */
static void test_agrees_with_full_decode(void **state) {
    (void)state;
    static const char alpha[] = {'%', '0', '2',    '7',    'A',    'c',    'F',    'f',    'g',
                                 'x', ' ', '\x7f', '\x1f', '\x80', '\xc3', '\xa9', '\xe2', '\xff'};
    const size_t k = sizeof alpha;
    char buf[8];
    long checked = 0;
    for (size_t len = 1; len <= 4; len++) {
        size_t total = 1;
        for (size_t i = 0; i < len; i++) total *= k;
        for (size_t code = 0; code < total; code++) {
            size_t c = code;
            for (size_t i = 0; i < len; i++) {
                buf[i] = alpha[c % k];
                c /= k;
            }
            msnp_str s = msnp_str_make(buf, len);
            if (name_sendable(s, 387) != reference(s, 387)) fail_msg("disagree on %zu bytes, code %zu", len, code);
            checked++;
        }
    }
    /* escapes joined: e.g. "%E2%82%AC" and its broken variants */
    static const char *const parts[] = {"%E2", "%82", "%AC", "%C3", "%A9", "%7F", "%7E", "%20", "%1F", "%", "a", "%%"};
    const size_t np = sizeof parts / sizeof parts[0];
    char line[64];
    for (size_t a = 0; a < np; a++)
        for (size_t b = 0; b < np; b++)
            for (size_t c = 0; c < np; c++) {
                snprintf(line, sizeof line, "x%s%s%s", parts[a], parts[b], parts[c]);
                msnp_str s = msnp_str_c(line);
                assert_int_equal(name_sendable(s, 387), reference(s, 387));
                checked++;
            }
    assert_true(checked > 100000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples),
        cmocka_unit_test(test_agrees_with_full_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
