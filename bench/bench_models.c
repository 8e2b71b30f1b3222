/* bench_models.c — iTransformer and Informer at the ETTh1 paper configurations: inference
 * latency at batch 1, throughput at batch 32 (and 256 for iTransformer), one training step
 * (forward, backward, Adam) at batch 32; NILMFormer at its official disaggregation
 * configuration (window 256, d_model 96, 8 heads, 3 layers; models/model.c): inference at
 * batch 1 and 64, one AdamW step at batch 64 (its official batch).  ms, windows/s and
 * GFLOP/s from the forward FLOP counts per window (18.6, 1664 and 271 MFLOP, counted over
 * the shapes of docs/MODELS.md §3.2, §2.2 and §8.2; training step = 3x forward).  For Informer that
 * count is the whole model's; horizon skips the decoder positions it does not return, so its rate
 * is model-equivalent (the work done is ~18% less at label 48 / pred 24).  Prints lines
 * `model=M case=C ms=X` that bench/models.sh sets beside the PyTorch reference. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/blas_env.h"
#include "common/hz.h"
#include "models/model.h"
#include "engine/ops.h"
#include "engine/optim.h"

static double ms_since(int64_t t0)
{
    return (hz_mono_ns() - t0) / 1e6;
}

#define MAX_REPS 300

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static void fill(hz_real *p, size_t n, hz_rng *r, double scale)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (hz_real)(scale * (hz_rng_uniform(r) - 0.5));
}

static void run(hz_model_kind kind, const char *name, const int *batches, int nb, int reps_b1,
                int train)
{
    hz_model_conf mc;
    hz_model_conf_defaults(&mc, kind);
    if (kind == HZ_MODEL_INFORMER) {
        mc.seq_len = 96;
        mc.label_len = 48;
        mc.pred_len = 24;
    }
    hz_model *m;
    char err[HZ_ERRLEN];
    if (hz_model_create(&mc, &m, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    double mflop = kind == HZ_MODEL_INFORMER ? 1664.0 : 18.6; /* per window, forward */
    int B = 256, L = mc.seq_len, D = mc.label_len + mc.pred_len, C = mc.enc_in;
    hz_rng r;
    hz_rng_seed(&r, 1);
    hz_real *x = malloc((size_t)B * L * C * sizeof *x), *xm = malloc((size_t)B * L * 4 * 4);
    hz_real *xd = malloc((size_t)B * D * C * sizeof *xd), *xmd = malloc((size_t)B * D * 4 * 4);
    hz_real *y = malloc((size_t)B * mc.pred_len * C * sizeof *y);
    fill(x, (size_t)B * L * C, &r, 2);
    fill(xm, (size_t)B * L * 4, &r, 1);
    fill(xd, (size_t)B * D * C, &r, 2);
    fill(xmd, (size_t)B * D * 4, &r, 1);
    fill(y, (size_t)B * mc.pred_len * C, &r, 2);
    hz_ctx c;
    hz_ctx_init(&c, 64 << 20, 1);
    for (int i = 0; i < nb; i++) {
        int b = batches[i], reps = b == 1 || nb == 1 ? reps_b1 : b >= 256 ? 3 : 10;
        hz_model_input in = {b, x, xm, xd, xmd};
        double best = 1e30, times[MAX_REPS];
        for (int k = 0; k <= reps; k++) {
            hz_ctx_reset(&c);
            int64_t t0 = hz_mono_ns();
            hz_model_forward(m, &c, &in);
            double t = ms_since(t0);
            if (k > 0) /* the first forward sizes the arena */
                times[k - 1] = t;
            if (k > 0 && t < best)
                best = t;
        }
        /* best of reps (the machine's own speed), median beside it (what steal and noise
         * leave of it); ms= stays the last "ms=" on the line for bench/models.sh */
        double med = median(times, reps); /* sorts times */
        if (getenv("HZ_BENCH_DECILES")) {
            fprintf(stderr, "deciles ms:");
            for (int q = 0; q <= 10; q++)
                fprintf(stderr, " %.2f", times[q * (reps - 1) / 10]);
            fprintf(stderr, "\n");
        }
        printf("model=%s case=infer_b%d median_ms=%.3f ms=%.3f windows_per_s=%.1f gflops=%.1f\n",
               name, b, med, best, b / best * 1e3, mflop * b / best);
        fflush(stdout);
    }
    if (!train)
        goto out;
    /* one training step at batch 32 */
    hz_adam opt;
    hz_adam_init(&opt, &m->params, 1e-4, 0, 0);
    hz_model_input in = {32, x, xm, xd, xmd};
    double best = 1e30;
    int reps = kind == HZ_MODEL_INFORMER
                   ? (getenv("HZ_BENCH_TRAIN_REPS") ? atoi(getenv("HZ_BENCH_TRAIN_REPS")) : 2)
                   : 5;
    for (int k = 0; k <= reps; k++) {
        hz_ctx_reset(&c);
        c.grad_on = 1;
        c.training = 1;
        int64_t t0 = hz_mono_ns();
        hz_tensor *out = hz_model_forward(m, &c, &in);
        hz_tensor *loss = hz_mse_loss(&c, out, hz_tensor_wrap(&c, y, out->ndim, out->shape));
        hz_params_zero_grad(&m->params);
        hz_backward(&c, loss);
        hz_adam_step(&opt, &m->params);
        double t = ms_since(t0);
        if (k > 0 && t < best)
            best = t;
    }
    c.grad_on = c.training = 0;
    printf("model=%s case=train_b32 ms=%.3f windows_per_s=%.1f gflops=%.1f\n", name, best,
           32 / best * 1e3, 3 * mflop * 32 / best);
    hz_adam_free(&opt);
out:
    hz_ctx_free(&c);
    hz_model_free(m);
    free(x);
    free(xm);
    free(xd);
    free(xmd);
    free(y);
}

/* NILMFormer, disaggregation: aggregate [B, W, 1] and TimeRPE marks [B, W, 8] in, [B, W, 1]
 * out.  Prints the trainable parameter count first (the reference prints its own) so both
 * sides can be seen to build the same network. */
static void run_nilm(const int *batches, int nb, int reps_b1, int train_reps)
{
    hz_model_conf mc;
    hz_model_conf_defaults(&mc, HZ_MODEL_NILMFORMER);
    hz_model *m;
    char err[HZ_ERRLEN];
    if (hz_model_create(&mc, &m, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    /* per window, forward, W = 256: 3 layers x (QKVO 18.9 + scores and PV 25.4 + FFN 37.9)
     * = 246.6 MFLOP, the dilated convs 24.0, TimeRPE, stats and head 0.4 */
    const double mflop = 271.0;
    int B = 64, W = mc.seq_len, F = mc.n_marks;
    fprintf(stderr,
            "nilmformer: %lld trainable parameters, W %d, d_model %d, %d heads, %d layers\n",
            (long long)m->params.n_trainable, W, mc.d_model, mc.n_heads, mc.e_layers);
    hz_rng r;
    hz_rng_seed(&r, 1);
    hz_real *x = malloc((size_t)B * W * sizeof *x), *xm = malloc((size_t)B * W * F * sizeof *xm);
    hz_real *y = malloc((size_t)B * W * mc.c_out * sizeof *y);
    fill(x, (size_t)B * W, &r, 2);
    fill(xm, (size_t)B * W * F, &r, 2);
    fill(y, (size_t)B * W * mc.c_out, &r, 2);
    hz_ctx c;
    hz_ctx_init(&c, 64 << 20, 1);
    for (int i = 0; i < nb; i++) {
        int b = batches[i], reps = b == 1 ? reps_b1 : 10;
        if (reps > MAX_REPS)
            reps = MAX_REPS;
        hz_model_input in = {.batch = b, .x = x, .x_mark = xm};
        double best = 1e30, times[MAX_REPS];
        for (int k = 0; k <= reps; k++) {
            hz_ctx_reset(&c);
            int64_t t0 = hz_mono_ns();
            hz_model_forward(m, &c, &in);
            double t = ms_since(t0);
            if (k > 0)
                times[k - 1] = t;
            if (k > 0 && t < best)
                best = t;
        }
        double med = median(times, reps);
        printf("model=nilmformer case=infer_b%d median_ms=%.3f ms=%.3f windows_per_s=%.1f "
               "gflops=%.1f\n",
               b, med, best, b / best * 1e3, mflop * b / best);
        fflush(stdout);
    }
    if (train_reps > 0) {
        /* one training step at batch 64: AdamW lr 1e-4, weight decay 0 (the official) */
        hz_adam opt;
        hz_adam_init(&opt, &m->params, 1e-4, 0, 1);
        hz_model_input in = {.batch = B, .x = x, .x_mark = xm};
        double best = 1e30, times[MAX_REPS];
        int reps = train_reps > MAX_REPS ? MAX_REPS : train_reps;
        for (int k = 0; k <= reps; k++) {
            hz_ctx_reset(&c);
            c.grad_on = 1;
            c.training = 1;
            int64_t t0 = hz_mono_ns();
            hz_tensor *out = hz_model_forward(m, &c, &in);
            hz_tensor *loss = hz_mse_loss(&c, out, hz_tensor_wrap(&c, y, out->ndim, out->shape));
            hz_params_zero_grad(&m->params);
            hz_backward(&c, loss);
            hz_adam_step(&opt, &m->params);
            double t = ms_since(t0);
            if (k > 0)
                times[k - 1] = t;
            if (k > 0 && t < best)
                best = t;
        }
        c.grad_on = c.training = 0;
        double med = median(times, reps);
        printf("model=nilmformer case=train_b%d median_ms=%.3f ms=%.3f windows_per_s=%.1f "
               "gflops=%.1f\n",
               B, med, best, B / best * 1e3, 3 * mflop * B / best);
        fflush(stdout);
        hz_adam_free(&opt);
    }
    hz_ctx_free(&c);
    hz_model_free(m);
    free(x);
    free(xm);
    free(y);
}

int main(int argc, char **argv)
{
    hz_blas_select_kernels(argv);
    const char *which = argc > 1 ? argv[1] : "all";
    fprintf(stderr, "OpenBLAS kernels: %s\n", hz_blas_corename());
    if (!strcmp(which, "all") || !strcmp(which, "itransformer")) {
        int b[3] = {1, 32, 256};
        run(HZ_MODEL_ITRANSFORMER, "itransformer", b, 3, 50, 1);
    }
    if (!strcmp(which, "all") || !strcmp(which, "informer")) {
        int b[2] = {1, 32};
        run(HZ_MODEL_INFORMER, "informer", b, 2, 60, 1);
    }
    if (!strcmp(which, "informer-b1")) { /* batch 1 alone, 300 runs: for profiling */
        int b[1] = {1};
        run(HZ_MODEL_INFORMER, "informer", b, 1, 300, 0);
    }
    if (!strcmp(which, "informer-train")) { /* training steps alone: for profiling */
        run(HZ_MODEL_INFORMER, "informer", NULL, 0, 0, 1);
    }
    if (!strcmp(which, "informer-b32")) { /* batch 32 alone: for profiling */
        int b[1] = {32};
        run(HZ_MODEL_INFORMER, "informer", b, 1, 30, 0);
    }
    if (!strcmp(which, "all") || !strcmp(which, "nilmformer")) {
        int b[2] = {1, 64};
        run_nilm(b, 2, 100, 10);
    }
    if (!strcmp(which, "nilmformer-b64")) { /* batch 64 alone: for profiling */
        int b[1] = {64};
        run_nilm(b, 1, 0, 0);
    }
    if (!strcmp(which, "nilmformer-train")) { /* training steps alone: for profiling */
        run_nilm(NULL, 0, 0, 20);
    }
    return 0;
}
