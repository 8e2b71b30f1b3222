/* gradcheck.h — finite-difference gradient checks for the dtest_* suites (built with
 * -DHZ_DOUBLE, so hz_real is double).
 *
 * For an op f and inputs x, with fixed random weights w: L(x) = sum(w * f(x)).  The analytic
 * gradient comes from hz_backward_from(out, w); the numerical one from central differences
 * (L(x + h e_i) - L(x - h e_i)) / 2h, h = 1e-6.  Per input tensor the error is
 *     max_i |analytic_i - numeric_i| / max(max_i |numeric_i|, 1e-6)
 * and a check passes when it is at most GC_TOL = 1e-6 (truncation ~h^2, rounding ~1e-10). */
#ifndef HZ_GRADCHECK_H
#define HZ_GRADCHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ops.h"
#include "engine/tensor.h"

#define GC_TOL   1e-6
#define GC_H     1e-6
#define GC_MAXIN 4

typedef hz_tensor *(*gc_fn)(hz_ctx *c, hz_tensor **in, const void *arg);

typedef struct gc_case {
    int nin;
    int ndim[GC_MAXIN];
    int shape[GC_MAXIN][HZ_MAXDIM];
    int needs_grad[GC_MAXIN]; /* 0: input without gradient (targets, running stats) */
    double lo, hi;            /* inputs uniform in [lo, hi) (default [-1, 1)) */
    int training;             /* c->training during the check */
} gc_case;

static double gc_loss(hz_ctx *c, gc_fn f, hz_tensor **in, const void *arg, const double *w,
                      int64_t *nout)
{
    hz_ctx_reset(c);
    hz_rng_seed(&c->rng, 1234); /* same dropout mask on every evaluation */
    hz_tensor *out = f(c, in, arg);
    double L = 0;
    for (int64_t i = 0; i < out->n; i++)
        L += w[i] * out->data[i];
    if (nout)
        *nout = out->n;
    return L;
}

/* Runs the check; returns the worst error over inputs and prints one line per input. */
static double gc_run(const char *label, gc_fn f, const gc_case *k, const void *arg, unsigned seed)
{
    hz_params p;
    hz_params_init(&p);
    hz_tensor *in[GC_MAXIN] = {0};
    char name[16];
    for (int i = 0; i < k->nin; i++) {
        snprintf(name, sizeof name, "in%d", i);
        in[i] = hz_params_add(&p, name, k->needs_grad[i], k->ndim[i], k->shape[i]);
    }
    hz_params_finalize(&p);
    hz_rng r;
    hz_rng_seed(&r, seed);
    double lo = k->lo, hi = k->hi;
    if (lo == 0 && hi == 0) {
        lo = -1;
        hi = 1;
    }
    for (int i = 0; i < k->nin; i++)
        for (int64_t j = 0; j < in[i]->n; j++)
            in[i]->data[j] = lo + (hi - lo) * hz_rng_uniform(&r);

    hz_ctx c;
    hz_ctx_init(&c, 1 << 20, 1);
    c.training = k->training;
    /* analytic */
    hz_ctx_reset(&c);
    c.grad_on = 1;
    hz_rng_seed(&c.rng, 1234);
    hz_tensor *out = f(&c, in, arg);
    int64_t nout = out->n;
    double *w = malloc((size_t)nout * sizeof *w);
    for (int64_t j = 0; j < nout; j++)
        w[j] = 2 * hz_rng_uniform(&r) - 1;
    hz_params_zero_grad(&p);
    hz_backward_from(&c, out, w);
    c.grad_on = 0;

    double worst = 0;
    for (int i = 0; i < k->nin; i++) {
        if (!k->needs_grad[i])
            continue;
        double maxdiff = 0, maxnum = 0;
        double *ana = malloc((size_t)in[i]->n * sizeof *ana);
        memcpy(ana, in[i]->grad, (size_t)in[i]->n * sizeof *ana);
        for (int64_t j = 0; j < in[i]->n; j++) {
            double x0 = in[i]->data[j];
            in[i]->data[j] = x0 + GC_H;
            double lp = gc_loss(&c, f, in, arg, w, NULL);
            in[i]->data[j] = x0 - GC_H;
            double lm = gc_loss(&c, f, in, arg, w, NULL);
            in[i]->data[j] = x0;
            double num = (lp - lm) / (2 * GC_H);
            double d = fabs(num - ana[j]);
            if (d > maxdiff)
                maxdiff = d;
            if (fabs(num) > maxnum)
                maxnum = fabs(num);
        }
        double err = maxdiff / (maxnum > 1e-6 ? maxnum : 1e-6);
        printf("  gradcheck %-28s input %d: rel err %.2e (max |grad| %.3g, bound %.0e)\n", label, i,
               err, maxnum, GC_TOL);
        if (err > worst)
            worst = err;
        free(ana);
    }
    free(w);
    hz_ctx_free(&c);
    hz_params_free(&p);
    return worst;
}

#endif
