/* bench_forward.c — the model alone: forwards of a checkpoint at one batch size on synthetic
 * windows, as horizond's forecaster calls it (pipeline/forecaster.c), for SECONDS of wall
 * time after one warm-up batch.  bench/bench_daemon.sh sets this beside the daemon's rate
 * in the same run.  Prints `model_windows_per_s=X forward_ms=Y batch=B`.
 *   bench_forward CHECKPOINT BATCH [SECONDS] */
#include <stdio.h>
#include <stdlib.h>

#include "common/hz.h"
#include "engine/tensor.h"
#include "models/checkpoint.h"
#include "models/model.h"

/* Synthetic inputs of B windows of m's shapes (values in [-1, 1], marks in [-0.5, 0.5]). */
static hz_real *fill(size_t n, double amp)
{
    hz_real *x = malloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; x && i < n; i++)
        x[i] = (hz_real)(amp * ((double)rand() / RAND_MAX * 2 - 1));
    return x;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_forward CHECKPOINT BATCH [SECONDS]\n");
        return 2;
    }
    int B = atoi(argv[2]);
    double secs = argc > 3 ? atof(argv[3]) : 3;
    hz_model *m = NULL;
    hz_st_file *f = NULL;
    char err[HZ_ERRLEN];
    if (B < 1 || hz_ckpt_load(argv[1], &m, &f, err, sizeof err)) {
        fprintf(stderr, "bench_forward: %s\n", B < 1 ? "BATCH must be at least 1" : err);
        return 1;
    }
    const hz_model_conf *c = &m->conf;
    size_t L = (size_t)c->seq_len, D = (size_t)(c->label_len + c->pred_len), F = (size_t)c->n_marks;
    hz_real *x = fill((size_t)B * L * (size_t)c->enc_in, 1), *xm = fill((size_t)B * L * F, 0.5);
    hz_real *xd = fill((size_t)B * D * (size_t)c->enc_in, 1), *xmd = fill((size_t)B * D * F, 0.5);
    hz_model_input in = {B, x, F ? xm : NULL, xd, F ? xmd : NULL};
    hz_ctx ctx;
    hz_ctx_init(&ctx, (size_t)16 << 20, 0);
    hz_ctx_reset(&ctx);
    hz_model_forward(m, &ctx, &in); /* warm-up: arena grown, BLAS threads started */
    int64_t t0 = hz_mono_ns();
    long n = 0;
    while ((hz_mono_ns() - t0) / 1e9 < secs) {
        hz_ctx_reset(&ctx);
        hz_model_forward(m, &ctx, &in);
        n++;
    }
    double s = (hz_mono_ns() - t0) / 1e9;
    printf("model_windows_per_s=%.0f forward_ms=%.2f batch=%d\n", n * B / s, 1000 * s / n, B);
    hz_ctx_free(&ctx);
    hz_model_free(m);
    hz_st_close(f);
    free(x);
    free(xm);
    free(xd);
    free(xmd);
    return 0;
}
