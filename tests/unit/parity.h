/* parity.h — helpers for the PyTorch parity suites (docs/MODELS.md §6): open a fixture
 * directory exported from the PyTorch reference implementation (outside the repository; its
 * folder is given by the environment variable HZ_TORCH_REF, and the fixtures were made with
 * `$HZ_TORCH_REF/export_fixture.py MODEL --seed 0 --out tests/fixtures/...`), read its
 * tensors, and compare with the fixture's tolerance rule (the reference's compare.py):
 * outputs max|c - e| <= 1e-4 max|e|; gradients max|c - e| <= 1e-3 max(max|e|, 1e-3 G), G the
 * largest max|e| over all gradients.  Running the suites needs neither Python nor
 * HZ_TORCH_REF: the fixtures are committed. */
#ifndef HZ_PARITY_H
#define HZ_PARITY_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/safetensors.h"

typedef struct fixture {
    hz_st_file *weights, *inputs, *expected;
    char *config; /* config.json text */
} fixture;

static int fixture_open(fixture *fx, const char *dir)
{
    char path[512], err[HZ_ERRLEN];
    memset(fx, 0, sizeof *fx);
    const char *names[3] = {"weights", "inputs", "expected"};
    hz_st_file **files[3] = {&fx->weights, &fx->inputs, &fx->expected};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s.safetensors", dir, names[i]);
        if (hz_st_open(path, files[i], err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            return -1;
        }
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    fx->config = malloc((size_t)n + 1);
    if (fread(fx->config, 1, (size_t)n, f) != (size_t)n)
        n = 0;
    fx->config[n] = 0;
    fclose(f);
    return 0;
}

static void fixture_close(fixture *fx)
{
    hz_st_close(fx->weights);
    hz_st_close(fx->inputs);
    hz_st_close(fx->expected);
    free(fx->config);
}

/* F32 tensor data of f by name (aligned in files from the reference writer), or NULL. */
static const float *fx_f32(const hz_st_file *f, const char *name, size_t *n)
{
    const hz_st_tensor *t = hz_st_find(f, name);
    if (!t || t->dtype != HZ_ST_F32)
        return NULL;
    if (n)
        *n = t->nbytes / 4;
    return (const float *)t->data;
}

/* max|c - e| / max|e| style check; returns the ratio to the bound (pass when <= 1). */
static double fx_compare(const char *label, const float *c, const float *e, size_t n, double rel,
                         double floor_abs)
{
    double maxd = 0, maxe = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)c[i] - e[i]);
        if (d > maxd)
            maxd = d;
        if (fabs(e[i]) > maxe)
            maxe = fabs(e[i]);
    }
    double bound = rel * (maxe > floor_abs ? maxe : floor_abs);
    double ratio = bound > 0 ? maxd / bound : (maxd > 0 ? INFINITY : 0);
    if (ratio > 1 || getenv("HZ_PARITY_VERBOSE"))
        printf("  %-60s max|c-e| %.3e  max|e| %.3e  %s\n", label, maxd, maxe,
               ratio <= 1 ? "ok" : "MISMATCH");
    return ratio;
}

#endif
