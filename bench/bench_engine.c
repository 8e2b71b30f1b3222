/* bench_engine.c — framework overhead made visible: GFLOP/s of cblas_sgemm alone, of the
 * engine's matmul op (arena output, tape off), and of a forward+backward of one transformer
 * encoder layer (d_model 512, 8 heads, d_ff 2048, GELU, post-LN), which is mostly GEMMs.
 * Prints a table; never fails.  Threads: OPENBLAS_NUM_THREADS (default: all cores). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/blas_env.h"
#include "common/hz.h"
#include "models/layers.h"
#include "engine/ops.h"

static double now(void)
{
    return hz_mono_ns() / 1e9;
}

static void bench_gemm(int n)
{
    float *a = malloc((size_t)n * n * 4), *b = malloc((size_t)n * n * 4),
          *c = malloc((size_t)n * n * 4);
    for (size_t i = 0; i < (size_t)n * n; i++) {
        a[i] = (float)(i % 7) * 0.1f;
        b[i] = (float)(i % 5) * 0.1f;
    }
    double flop = 2.0 * n * n * n;
    int reps = n <= 256 ? 200 : n <= 1024 ? 20 : 4;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    double t0 = now();
    for (int r = 0; r < reps; r++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    double t_blas = (now() - t0) / reps;

    hz_ctx ctx;
    hz_ctx_init(&ctx, (size_t)n * n * 4 * 4, 1);
    int s[2] = {n, n};
    hz_tensor *ta = hz_tensor_wrap(&ctx, a, 2, s), *tb = hz_tensor_wrap(&ctx, b, 2, s);
    hz_ctx_reset(&ctx);
    ta = hz_tensor_wrap(&ctx, a, 2, s);
    tb = hz_tensor_wrap(&ctx, b, 2, s);
    hz_matmul(&ctx, ta, tb, 0, 0);
    t0 = now();
    for (int r = 0; r < reps; r++) {
        hz_ctx_reset(&ctx);
        ta = hz_tensor_wrap(&ctx, a, 2, s);
        tb = hz_tensor_wrap(&ctx, b, 2, s);
        hz_matmul(&ctx, ta, tb, 0, 0);
    }
    double t_op = (now() - t0) / reps;
    printf("| sgemm %5d^3          | %9.3f | %8.1f | %9.3f | %8.1f | %5.2f |\n", n, t_blas * 1e3,
           flop / t_blas / 1e9, t_op * 1e3, flop / t_op / 1e9, t_op / t_blas);
    hz_ctx_free(&ctx);
    free(a);
    free(b);
    free(c);
}

static void bench_layer(int B, int L)
{
    const int d = 512, H = 8, dff = 2048;
    hz_params p;
    hz_params_init(&p);
    hz_enc_layer l;
    hz_enc_layer_add(&p, &l, "layer", d, H, dff, HZ_ACT_GELU, 0.0);
    hz_params_finalize(&p);
    hz_rng r;
    hz_rng_seed(&r, 1);
    hz_enc_layer_init(&l, &r);
    float *x = malloc((size_t)B * L * d * 4);
    for (size_t i = 0; i < (size_t)B * L * d; i++)
        x[i] = (float)(hz_rng_normal(&r));
    hz_ctx c;
    hz_ctx_init(&c, 64 << 20, 1);
    int xs[3] = {B, L, d};
    /* FLOPs of the GEMMs: QKVO 4*2*BL*d*d, scores+AV 2*2*B*L*L*d, FFN 2*2*BL*d*dff;
     * backward ~ 2x forward */
    double fwd = 8.0 * B * L * d * d + 4.0 * B * L * L * d + 4.0 * B * L * d * dff;
    double best_f = 1e9, best_fb = 1e9;
    for (int rep = 0; rep < 4; rep++) {
        hz_ctx_reset(&c);
        c.grad_on = 0;
        double t0 = now();
        hz_enc_layer_fwd(&c, &l, hz_tensor_wrap(&c, x, 3, xs));
        double tf = now() - t0;
        hz_ctx_reset(&c);
        c.grad_on = 1;
        c.training = 1;
        t0 = now();
        hz_tensor *y = hz_enc_layer_fwd(&c, &l, hz_tensor_wrap(&c, x, 3, xs));
        hz_tensor *loss = hz_mean(&c, hz_reshape(&c, y, 1, (int[]){-1}), 0, 0);
        hz_backward(&c, loss);
        double tfb = now() - t0;
        c.training = 0;
        if (rep > 0) {
            best_f = tf < best_f ? tf : best_f;
            best_fb = tfb < best_fb ? tfb : best_fb;
        }
    }
    printf("| encoder layer B=%-3d L=%-4d | fwd %8.2f ms %6.1f GFLOP/s | fwd+bwd %8.2f ms %6.1f "
           "GFLOP/s |\n",
           B, L, best_f * 1e3, fwd / best_f / 1e9, best_fb * 1e3, 3 * fwd / best_fb / 1e9);
    hz_ctx_free(&c);
    hz_params_free(&p);
    free(x);
}

int main(int argc, char **argv)
{
    hz_blas_select_kernels(argv);
    (void)argc;
    printf("engine overhead (OpenBLAS threads: %d)\n\n", openblas_get_num_threads());
    printf("| size                 | sgemm ms  | GFLOP/s  | op ms     | GFLOP/s  | ratio |\n");
    printf("|----------------------|-----------|----------|-----------|----------|-------|\n");
    int sizes[] = {128, 256, 512, 1024, 2048};
    for (int i = 0; i < 5; i++)
        bench_gemm(sizes[i]);
    printf("\none post-LN encoder layer (d_model 512, 8 heads, d_ff 2048), best of 3:\n");
    bench_layer(32, 96);
    bench_layer(8, 512);
    return 0;
}
