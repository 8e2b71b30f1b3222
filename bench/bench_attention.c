/* bench_attention.c — time and peak memory of one Informer encoder forward (docs/MODELS.md
 * §2: d_model 512, 8 heads, d_ff 2048, 2 layers with distilling, 7 variables, 4 timeF marks)
 * with ProbSparse or canonical full self-attention, inference path (no tape, eval mode),
 * random weights and inputs from a fixed seed.  One warm-up forward, then the best of the
 * timed ones.
 *
 *   bench_attention --kind probsparse|full --len L [--batch B] [--reps N]
 *   -> len=L kind=K ms=... peak_rss_mb=...
 * Run each size in its own process (bench/attention.sh) so that peak RSS is per size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "common/blas_env.h"
#include "common/hz.h"
#include "models/informer.h"
#include "models/model.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: bench_attention --kind probsparse|full --len L [--batch B] [--reps N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    hz_blas_select_kernels(argv);
    const char *kind = NULL;
    int len = 0, batch = 1, reps = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--kind"))
            kind = argv[i + 1];
        else if (!strcmp(argv[i], "--len"))
            len = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch"))
            batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[i + 1]);
        else
            return usage();
    }
    if (!kind || (strcmp(kind, "probsparse") && strcmp(kind, "full")) || len < 4 || batch < 1 ||
        reps < 1 || argc % 2 == 0)
        return usage();

    hz_model_conf conf;
    hz_model_conf_defaults(&conf, HZ_MODEL_INFORMER);
    conf.seq_len = len;
    conf.attn_full = !strcmp(kind, "full");
    conf.seed = 7;
    hz_model *m;
    char err[HZ_ERRLEN];
    if (hz_model_create(&conf, &m, err, sizeof err)) {
        fprintf(stderr, "bench_attention: %s\n", err);
        return 1;
    }
    size_t nx = (size_t)batch * len * conf.enc_in, nm = (size_t)batch * len * conf.n_marks;
    hz_real *x = malloc(nx * sizeof *x), *xm = malloc(nm * sizeof *xm);
    if (!x || !xm) {
        fprintf(stderr, "bench_attention: out of memory\n");
        return 1;
    }
    hz_rng r;
    hz_rng_seed(&r, 11);
    for (size_t i = 0; i < nx; i++)
        x[i] = (hz_real)hz_rng_normal(&r);
    for (size_t i = 0; i < nm; i++)
        xm[i] = (hz_real)(hz_rng_uniform(&r) - 0.5);

    /* One arena block from the start (address space only; pages are touched as used), so
     * the encoder can recycle its memory already in the warm-up forward (informer.c). */
    size_t arena = ((size_t)256 << 20) + (size_t)batch * len * 64 * conf.d_model * sizeof(hz_real);
    if (conf.attn_full)
        arena += (size_t)2 * batch * conf.n_heads * len * len * sizeof(hz_real);
    hz_ctx c;
    hz_ctx_init(&c, arena, 1);
    c.training = 0;
    c.grad_on = 0;
    hz_informer_encode(m, &c, batch, x, xm); /* warm-up: sizes the arena */
    double best = 1e300;
    for (int i = 0; i < reps; i++) {
        hz_ctx_reset(&c);
        double t0 = now_ms();
        hz_tensor *h = hz_informer_encode(m, &c, batch, x, xm);
        double t = now_ms() - t0;
        if (h->n < 1)
            return 1;
        best = t < best ? t : best;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("len=%d kind=%s ms=%.1f peak_rss_mb=%.1f\n", len, kind, best, ru.ru_maxrss / 1024.0);
    hz_ctx_free(&c);
    hz_model_free(m);
    free(x);
    free(xm);
    return 0;
}
