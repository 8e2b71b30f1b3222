/* test_import.c — the duplicate check of `horizon import` (cli/import_seen.c): pairs of many
 * series and timestamps through the tables' growth, the first line of a pair reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "cli/import_seen.h"

static void test_first_line_reported(void **state)
{
    hz_import_seen *s = hz_import_seen_new();
    assert_non_null(s);
    assert_int_equal(hz_import_seen_add(s, "g1", 1000, 2), 0);
    assert_int_equal(hz_import_seen_add(s, "g2", 1000, 3), 0); /* another series, same time */
    assert_int_equal(hz_import_seen_add(s, "g1", 2000, 4), 0);
    assert_int_equal(hz_import_seen_add(s, "g1", 1000, 5), 2);
    assert_int_equal(hz_import_seen_add(s, "g2", 1000, 6), 3);
    assert_int_equal(hz_import_seen_add(s, "g1", -1000, 7), 0); /* before the epoch */
    assert_int_equal(hz_import_seen_add(s, "g1", -1000, 8), 7);
    assert_int_equal(hz_import_seen_series(s), 2);
    hz_import_seen_free(s);
}

/* 3000 series (the name table grows) of 40 times each (the pair table grows), interleaved so
 * the previous-series shortcut rarely applies; then every pair again. */
static void test_many_series_and_times(void **state)
{
    hz_import_seen *s = hz_import_seen_new();
    assert_non_null(s);
    char name[32];
    long line = 1;
    for (int t = 0; t < 40; t++)
        for (int g = 0; g < 3000; g++) {
            snprintf(name, sizeof name, "gauge-%05d", g);
            assert_int_equal(hz_import_seen_add(s, name, (int64_t)t * 86400000, line++), 0);
        }
    line = 1;
    for (int t = 0; t < 40; t++)
        for (int g = 0; g < 3000; g++) {
            snprintf(name, sizeof name, "gauge-%05d", g);
            assert_int_equal(hz_import_seen_add(s, name, (int64_t)t * 86400000, 999999), line++);
        }
    hz_import_seen_free(s);
    hz_import_seen_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_line_reported),
        cmocka_unit_test(test_many_series_and_times),
    };
    return cmocka_run_group_tests_name("import", tests, NULL, NULL);
}
