/* test_common.c — result codes and error buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_formats_and_returns_code),
        cmocka_unit_test(test_strerror_names_every_code),
        cmocka_unit_test(test_clocks_move_forward),
    };
    return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
