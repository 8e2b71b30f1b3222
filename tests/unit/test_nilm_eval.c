/* test_nilm_eval.c — disaggregation scores (training/nilm_eval.h) on a hand-worked
 * example, their edge cases, and that stretches add up to the whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "training/nilm_eval.h"

/* threshold 10 W; p = {0, 5 -> 0, 20, 30, -3 -> 0}, y = {0, 12, 0, 40, 0} */
static void test_hand_worked(void **state)
{
    (void)state;
    const float p[5] = {0, 5, 20, 30, -3}, y[5] = {0, 12, 0, 40, 0};
    hz_nilm_acc a;
    hz_nilm_acc_init(&a, 10);
    hz_nilm_acc_add(&a, p, y, 5);
    hz_nilm_scores s;
    hz_nilm_acc_scores(&a, &s);
    /* errors 0, -12, 20, -10, 0 */
    assert_int_equal(s.n, 5);
    assert_float_equal(s.mae, 42.0 / 5, 1e-12);
    assert_float_equal(s.mse, 644.0 / 5, 1e-12);
    assert_float_equal(s.rmse, sqrt(644.0 / 5), 1e-12);
    assert_float_equal(s.nde, 644.0 / 1744, 1e-12);         /* sum y^2 = 144 + 1600 */
    assert_float_equal(s.sae, fabs(50.0 - 52) / 52, 1e-12); /* sum p 50, sum y 52 */
    assert_float_equal(s.teca, 1 - 42.0 / 104, 1e-12);
    assert_float_equal(s.mr, 30.0 / (12 + 20 + 40), 1e-12); /* min 0+0+0+30+0, max 0+12+20+40+0 */
    /* states: p on {20, 30}, y on {12, 40}: tp 1 (step 3), fp 1, fn 1, tn 2 */
    assert_float_equal(s.accuracy, 3.0 / 5, 1e-12);
    assert_float_equal(s.precision, 0.5, 1e-12);
    assert_float_equal(s.recall, 0.5, 1e-12);
    assert_float_equal(s.f1, 0.5, 1e-12);
    assert_float_equal(s.balanced_accuracy, (0.5 + 2.0 / 3) / 2, 1e-12);
}

static void test_stretches_add_up(void **state)
{
    (void)state;
    float p[64], y[64];
    for (int i = 0; i < 64; i++) {
        p[i] = (float)(50 * sin(i * 0.3) + 20);
        y[i] = (float)(i % 7 < 3 ? 0 : 60 + i);
    }
    hz_nilm_acc whole, parts;
    hz_nilm_acc_init(&whole, 15);
    hz_nilm_acc_init(&parts, 15);
    hz_nilm_acc_add(&whole, p, y, 64);
    hz_nilm_acc_add(&parts, p, y, 10);
    hz_nilm_acc_add(&parts, p + 10, y + 10, 54);
    hz_nilm_scores a, b;
    hz_nilm_acc_scores(&whole, &a);
    hz_nilm_acc_scores(&parts, &b);
    assert_float_equal(a.mae, b.mae, 1e-9);
    assert_float_equal(a.nde, b.nde, 1e-12);
    assert_float_equal(a.f1, b.f1, 0);
    assert_float_equal(a.mr, b.mr, 1e-12);
}

/* an appliance never on: the ratios over its energy are undefined; F1 is 0; a perfect
 * prediction of it scores accuracy 1 */
static void test_never_on(void **state)
{
    (void)state;
    const float p[3] = {0, 2, 0}, y[3] = {0, 0, 0};
    hz_nilm_acc a;
    hz_nilm_acc_init(&a, 5);
    hz_nilm_acc_add(&a, p, y, 3);
    hz_nilm_scores s;
    hz_nilm_acc_scores(&a, &s);
    assert_float_equal(s.mae, 0, 0); /* 2 W is below the threshold: counted as 0 */
    assert_true(isnan(s.nde) && isnan(s.sae) && isnan(s.mr));
    assert_float_equal(s.f1, 0, 0);
    assert_float_equal(s.accuracy, 1, 0);
    assert_float_equal(s.balanced_accuracy, 1, 0);
    hz_nilm_acc_init(&a, 5);
    hz_nilm_acc_scores(&a, &s);
    assert_true(isnan(s.mae) && isnan(s.accuracy) && isnan(s.balanced_accuracy));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_worked),
        cmocka_unit_test(test_stretches_add_up),
        cmocka_unit_test(test_never_on),
    };
    return cmocka_run_group_tests_name("nilm_eval", tests, NULL, NULL);
}
