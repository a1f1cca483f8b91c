/* changemarks: what an account reads only grows, marks of one account do
 * not move another's, and a full table resets to a floor above every mark
 * it drops (a cache labelled before never matches again). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "changemarks.h"

static void test_marks_and_floor(void **state) {
    (void)state;
    changemarks m = {0};
    assert_true(changemarks_of(&m, 7) == 0);
    changemarks_mark(&m, 7, 3);
    changemarks_mark(&m, 9, 4);
    assert_true(changemarks_of(&m, 7) == 3);
    assert_true(changemarks_of(&m, 9) == 4);
    assert_true(changemarks_of(&m, 8) == 0);
    changemarks_mark(&m, 7, 2); /* never lowered */
    assert_true(changemarks_of(&m, 7) == 3);
    changemarks_reset(&m, 5);
    assert_true(changemarks_of(&m, 7) == 5 && changemarks_of(&m, 8) == 5);
    changemarks_mark(&m, 8, 6);
    assert_true(changemarks_of(&m, 8) == 6 && changemarks_of(&m, 7) == 5);
    changemarks_mark(&m, 0, 7); /* no account: every account */
    assert_true(changemarks_of(&m, 8) == 7 && changemarks_of(&m, 1) == 7);
    changemarks_free(&m);
}

static void test_full_table_resets_upwards(void **state) {
    (void)state;
    changemarks m = {0};
    uint64_t gen = 0;
    for (int64_t uid = 1; uid <= (int64_t)CHANGEMARKS_MAX; uid++) changemarks_mark(&m, uid, ++gen);
    for (int64_t uid = 1; uid <= (int64_t)CHANGEMARKS_MAX; uid += 997)
        assert_true(changemarks_of(&m, uid) == (uint64_t)uid);
    assert_true(changemarks_of(&m, (int64_t)CHANGEMARKS_MAX + 1) == 0);
    uint64_t before = changemarks_of(&m, 1000);
    changemarks_mark(&m, (int64_t)CHANGEMARKS_MAX + 1, ++gen); /* one more: reset */
    assert_true(changemarks_of(&m, 1000) > before);
    assert_true(changemarks_of(&m, 1) == gen);
    assert_true(changemarks_of(&m, (int64_t)CHANGEMARKS_MAX + 1) == gen);
    changemarks_mark(&m, 5, ++gen);
    assert_true(changemarks_of(&m, 5) == gen && changemarks_of(&m, 6) == gen - 1);
    changemarks_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_marks_and_floor),
        cmocka_unit_test(test_full_table_resets_upwards),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
