/* test_common.c — result codes and error buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hz.h"

static void test_err_formats_and_returns_code(void **state)
{
    char buf[32];
    int rc = hz_err(buf, sizeof buf, HZ_EINVAL, "%s:%d:%d: bad", "f.yaml", 3, 7);
    assert_int_equal(rc, HZ_EINVAL);
    assert_string_equal(buf, "f.yaml:3:7: bad");
    /* truncates, never overruns */
    rc = hz_err(buf, 8, HZ_EIO, "0123456789");
    assert_string_equal(buf, "0123456");
    assert_int_equal(hz_err(NULL, 0, HZ_ENOMEM, "x"), HZ_ENOMEM);
}

static void test_strerror_names_every_code(void **state)
{
    for (int c = HZ_ESTATE; c <= 0; c++)
        assert_string_not_equal(hz_strerror(c), "unknown error");
    assert_string_equal(hz_strerror(-999), "unknown error");
}

static void test_clocks_move_forward(void **state)
{
    int64_t a = hz_mono_ns(), b = hz_mono_ns();
    assert_true(b >= a);
    assert_true(hz_now_ms() > 1700000000000LL);
}

/* hz_fmt7 agrees with "%.7g" to the last digit's rounding and reads back within 5e-7
 * relative, over random magnitudes from 1e-12 to 1e15 and the edges of each form. */
static void test_fmt7(void **state)
{
    (void)state;
    char a[HZ_FMT7_MAX], b[64];
    static const double fixed[] = {0,      1,         -1,           0.5,       9999999.5,
                                   1e9,    1e-5,      9.9999995e-6, 123456789, 0.000123,
                                   4e-300, -2.5e17,   1234.5,       100,       0.1,
                                   1e22,   1e-22,     1e23,         1e-23,     10,
                                   1e6,    999999.95, 0.99999995,   1e21,      9.9999999e21};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        int n = hz_fmt7(fixed[i], a);
        assert_int_equal((int)strlen(a), n);
        double back = strtod(a, NULL);
        assert_true(fabs(back - fixed[i]) <= 5.01e-7 * fabs(fixed[i]));
    }
    assert_string_equal((hz_fmt7(1234.5, a), a), "1234.5");
    assert_string_equal((hz_fmt7(-0.000123, a), a), "-0.000123");
    assert_string_equal((hz_fmt7(2.5e17, a), a), "2.5e+17");
    assert_string_equal((hz_fmt7(100, a), a), "100");
    assert_string_equal((hz_fmt7(1e-22, a), a), "1e-22");
    assert_string_equal((hz_fmt7(0.99999995, a), a), "1");
    srand(7);
    for (int i = 0; i < 200000; i++) {
        double x = (rand() / (double)RAND_MAX - 0.5) * pow(10, rand() % 28 - 12);
        float f = (float)x;
        hz_fmt7(f, a);
        snprintf(b, sizeof b, "%.7g", (double)f);
        double ya = strtod(a, NULL), yb = strtod(b, NULL);
        assert_true(fabs(ya - f) <= 5.01e-7 * fabs(f));
        assert_true(fabs(ya - yb) <= 1.01e-6 * fabs(yb)); /* at most one unit in the 7th digit */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fmt7),
        cmocka_unit_test(test_err_formats_and_returns_code),
        cmocka_unit_test(test_strerror_names_every_code),
        cmocka_unit_test(test_clocks_move_forward),
    };
    return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
