/* test_detect.c - recognising MSNP and MSNFTP from a flow's first line
 * (detect.c), and refusing what is neither. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "detect.h"

static void test_detect(void **state) {
    (void)state;
    int side;
    assert_int_equal(sn_detect_line((const uint8_t *)"VER 0 MSNP7 CVR0\r\n", 18, &side), SN_DETECT_MSNP);
    assert_int_equal(sn_detect_line((const uint8_t *)"VER MSNFTP\r\n", 12, &side), SN_DETECT_MSNFTP);
    assert_int_equal(sn_detect_line((const uint8_t *)"MSG a@b.c Name 12\r\n", 19, &side), SN_DETECT_MSNP);
    assert_int_equal(side, 1);
    assert_int_equal(sn_detect_line((const uint8_t *)"MSG 4 N 12\r\n", 12, &side), SN_DETECT_MSNP);
    assert_int_equal(side, 0);
    assert_int_equal(sn_detect_line((const uint8_t *)"911 6\r\n", 7, &side), SN_DETECT_MSNP);
    assert_int_equal(sn_detect_line((const uint8_t *)"GET / HTTP/1.0\r\n", 16, &side), SN_DETECT_NO);
    assert_int_equal(sn_detect_line((const uint8_t *)"\x16\x03\x01", 3, &side), SN_DETECT_NO);
    assert_int_equal(sn_detect_line((const uint8_t *)"VER 0 MS", 8, &side), SN_DETECT_MORE);
    assert_int_equal(sn_detect_line((const uint8_t *)"VE", 2, &side), SN_DETECT_MORE);
    assert_int_equal(sn_detect_line((const uint8_t *)"VER abc\r\n", 9, &side), SN_DETECT_NO);
    assert_int_equal(sn_detect_line((const uint8_t *)"USR 1 a\x01\r\n", 10, &side), SN_DETECT_NO);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
