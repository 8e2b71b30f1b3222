/* test_optim.c — Adam/AdamW against torch.optim (values computed once with PyTorch 1.13:
 * w = [1, -2, 0.5], loss sum(w^2), lr 0.1, three steps), clipping, schedules, early stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "engine/optim.h"

static void run_adam(double wd, int decoupled, float out[3])
{
    hz_params p;
    hz_params_init(&p);
    int shape[1] = {3};
    hz_tensor *w = hz_params_add(&p, "w", 1, 1, shape);
    assert_int_equal(hz_params_finalize(&p), 0);
    w->data[0] = 1.0f;
    w->data[1] = -2.0f;
    w->data[2] = 0.5f;
    hz_adam o;
    assert_int_equal(hz_adam_init(&o, &p, 0.1, wd, decoupled), 0);
    for (int s = 0; s < 3; s++) {
        hz_params_zero_grad(&p);
        for (int j = 0; j < 3; j++)
            w->grad[j] = 2 * w->data[j];
        hz_adam_step(&o, &p);
    }
    for (int j = 0; j < 3; j++)
        out[j] = w->data[j];
    hz_adam_free(&o);
    hz_params_free(&p);
}

static void test_adam_matches_torch(void **state)
{
    float w[3];
    run_adam(0, 0, w);
    assert_float_equal(w[0], 0.701586306, 1e-6);
    assert_float_equal(w[1], -1.70062339, 1e-6);
    assert_float_equal(w[2], 0.204871252, 1e-6);
    run_adam(0.01, 0, w); /* torch.optim.Adam(weight_decay=0.01): L2 on the gradient */
    assert_float_equal(w[0], 0.701586246, 1e-6);
    assert_float_equal(w[2], 0.204871267, 1e-6);
    run_adam(0.01, 1, w); /* torch.optim.AdamW(weight_decay=0.01): decoupled */
    assert_float_equal(w[0], 0.69891125, 1e-6);
    assert_float_equal(w[1], -1.69494462, 1e-6);
    assert_float_equal(w[2], 0.203712404, 1e-6);
}

static void test_buffers_are_not_updated(void **state)
{
    hz_params p;
    hz_params_init(&p);
    int shape[1] = {2};
    hz_tensor *w = hz_params_add(&p, "w", 1, 1, shape);
    hz_tensor *rm = hz_params_add(&p, "bn.running_mean", 0, 1, shape);
    hz_params_finalize(&p);
    hz_init_const(rm, 5.0);
    w->grad[0] = w->grad[1] = 1;
    hz_adam o;
    hz_adam_init(&o, &p, 0.1, 0.0, 0);
    hz_adam_step(&o, &p);
    assert_float_equal(rm->data[0], 5.0, 0);
    assert_float_equal(w->data[0], -0.1, 1e-6);
    hz_adam_free(&o);
    hz_params_free(&p);
}

static void test_clip_grad_norm(void **state)
{
    hz_params p;
    hz_params_init(&p);
    int shape[1] = {2};
    hz_tensor *w = hz_params_add(&p, "w", 1, 1, shape);
    hz_params_finalize(&p);
    w->grad[0] = 6; /* d(sum w^2) at w = [3, 4] */
    w->grad[1] = 8;
    double n = hz_clip_grad_norm(&p, 1.0);
    assert_float_equal(n, 10.0, 1e-9);
    assert_float_equal(w->grad[0], 0.6, 1e-6); /* torch: 0.59999996 */
    assert_float_equal(w->grad[1], 0.8, 1e-6);
    n = hz_clip_grad_norm(&p, 5.0); /* under the bound: untouched */
    assert_float_equal(n, 1.0, 1e-5);
    assert_float_equal(w->grad[1], 0.8, 1e-6);
    hz_params_free(&p);
}

static void test_schedules(void **state)
{
    /* lradj type1 (docs/MODELS.md §4.3): epochs 1-2 at 1e-4, epoch 3 at 5e-5, 4 at 2.5e-5 */
    assert_float_equal(hz_lr_type1(1e-4, 1), 1e-4, 1e-12);
    assert_float_equal(hz_lr_type1(1e-4, 2), 1e-4, 1e-12);
    assert_float_equal(hz_lr_type1(1e-4, 3), 5e-5, 1e-12);
    assert_float_equal(hz_lr_type1(1e-4, 4), 2.5e-5, 1e-12);
    assert_float_equal(hz_lr_type1(1e-4, 6), 6.25e-6, 1e-12);
    assert_float_equal(hz_lr_cosine(1.0, 1, 10), 1.0, 1e-12);
    assert_float_equal(hz_lr_cosine(1.0, 6, 10), 0.5, 1e-12);
}

static void test_early_stop(void **state)
{
    hz_early_stop s;
    hz_early_stop_init(&s, 2);
    int stop;
    assert_int_equal(hz_early_stop_update(&s, 1, 1.0, &stop), 1);
    assert_int_equal(hz_early_stop_update(&s, 2, 0.5, &stop), 1);
    assert_int_equal(hz_early_stop_update(&s, 3, 0.6, &stop), 0);
    assert_int_equal(stop, 0);
    assert_int_equal(hz_early_stop_update(&s, 4, 0.5, &stop), 0); /* equal is not better */
    assert_int_equal(stop, 1);
    assert_int_equal(s.best_epoch, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adam_matches_torch), cmocka_unit_test(test_buffers_are_not_updated),
        cmocka_unit_test(test_clip_grad_norm),     cmocka_unit_test(test_schedules),
        cmocka_unit_test(test_early_stop),
    };
    return cmocka_run_group_tests_name("optim", tests, NULL, NULL);
}
