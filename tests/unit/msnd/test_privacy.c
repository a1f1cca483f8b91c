/* Presence and privacy rules of MSNP2-7 (privacy.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "privacy.h"

static void test_bl_always_wins(void **state) {
    (void)state;
    assert_false(privacy_may_see(1, 0, 1));
    assert_false(privacy_may_see(0, 0, 1));
    /* on both lists cannot happen through ADD (219), but BL still wins */
    assert_false(privacy_may_see(1, 1, 1));
}

static void test_al_always_allowed(void **state) {
    (void)state;
    assert_true(privacy_may_see(1, 1, 0));
    assert_true(privacy_may_see(0, 1, 0));
}

static void test_blp_decides_for_others(void **state) {
    (void)state;
    assert_true(privacy_may_see(1, 0, 0));  /* BLP AL: everyone not blocked */
    assert_false(privacy_may_see(0, 0, 0)); /* BLP BL: only the allow list */
}

static void test_visibility(void **state) {
    (void)state;
    assert_false(privacy_status_visible(MSNP_STATUS_FLN));
    assert_false(privacy_status_visible(MSNP_STATUS_HDN));
    assert_false(privacy_status_visible(MSNP_STATUS_INVALID));
    for (int s = MSNP_STATUS_NLN; s <= MSNP_STATUS_LUN; s++) assert_true(privacy_status_visible((msnp_status)s));
}

static void test_status_for(void **state) {
    (void)state;
    assert_int_equal(privacy_status_for(MSNP_STATUS_AWY, 1), MSNP_STATUS_AWY);
    assert_int_equal(privacy_status_for(MSNP_STATUS_AWY, 0), MSNP_STATUS_FLN);
    assert_int_equal(privacy_status_for(MSNP_STATUS_HDN, 1), MSNP_STATUS_FLN);
}

static void test_settable(void **state) {
    (void)state;
    assert_false(privacy_status_settable(MSNP_STATUS_FLN));
    assert_false(privacy_status_settable(MSNP_STATUS_INVALID));
    assert_true(privacy_status_settable(MSNP_STATUS_HDN));
    assert_true(privacy_status_settable(MSNP_STATUS_NLN));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bl_always_wins),
        cmocka_unit_test(test_al_always_allowed),
        cmocka_unit_test(test_blp_decides_for_others),
        cmocka_unit_test(test_visibility),
        cmocka_unit_test(test_status_for),
        cmocka_unit_test(test_settable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
