/* optim.c — Adam/AdamW, global-norm clipping, schedules, early stopping (optim.h).
 * Adam as in Kingma & Ba with PyTorch's bias correction:
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *   w -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps). */
#include "engine/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/hz.h"
#include "engine/par.h"

int hz_adam_init(hz_adam *o, const hz_params *p, double lr, double weight_decay, int decoupled)
{
    memset(o, 0, sizeof *o);
    o->lr = lr;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->eps = 1e-8;
    o->weight_decay = weight_decay;
    o->decoupled = decoupled;
    o->numel = p->numel;
    o->m = calloc((size_t)(p->numel ? p->numel : 1), sizeof(hz_real));
    o->v = calloc((size_t)(p->numel ? p->numel : 1), sizeof(hz_real));
    if (!o->m || !o->v) {
        hz_adam_free(o);
        return HZ_ENOMEM;
    }
    return 0;
}

typedef struct adam_job {
    hz_real *w, *m, *v;
    const hz_real *g;
    double b1, b2, step, sbc2, eps, lr, wd;
    int decoupled;
} adam_job;

/* Elements [lo, hi) of one tensor: each is updated on its own, so any split of the range
 * gives the same bits. */
HZ_SIMD_CLONES static void adam_range(void *arg, int64_t lo, int64_t hi)
{
    const adam_job *a = arg;
    hz_real *w = a->w, *m = a->m, *v = a->v;
    const hz_real *g = a->g;
    double b1 = a->b1, b2 = a->b2, step = a->step, sbc2 = a->sbc2, eps = a->eps;
    if (a->wd != 0 && a->decoupled)
        for (int64_t j = lo; j < hi; j++)
            w[j] = (hz_real)(w[j] * (1.0 - a->lr * a->wd));
    for (int64_t j = lo; j < hi; j++) {
        double gj = g[j];
        if (a->wd != 0 && !a->decoupled)
            gj += a->wd * w[j];
        m[j] = (hz_real)(b1 * m[j] + (1 - b1) * gj);
        v[j] = (hz_real)(b2 * v[j] + (1 - b2) * gj * gj);
        double denom = sqrt((double)v[j]) / sbc2 + eps;
        w[j] = (hz_real)(w[j] - step * m[j] / denom);
    }
}

void hz_adam_step(hz_adam *o, hz_params *p)
{
    hz_params_unpack(p);
    o->t++;
    double bc1 = 1.0 - pow(o->beta1, (double)o->t);
    double bc2 = 1.0 - pow(o->beta2, (double)o->t);
    adam_job a = {.b1 = o->beta1,
                  .b2 = o->beta2,
                  .step = o->lr / bc1,
                  .sbc2 = sqrt(bc2),
                  .eps = o->eps,
                  .lr = o->lr,
                  .wd = o->weight_decay,
                  .decoupled = o->decoupled};
    int64_t off = 0;
    for (size_t i = 0; i < p->len; i++) {
        hz_tensor *t = p->t[i];
        if (t->requires_grad) {
            a.w = t->data;
            a.g = t->grad;
            a.m = o->m + off;
            a.v = o->v + off;
            hz_par_for(t->n, 16, adam_range, &a);
        }
        off += t->n;
    }
}

void hz_adam_free(hz_adam *o)
{
    if (!o)
        return;
    free(o->m);
    free(o->v);
    o->m = o->v = NULL;
}

double hz_clip_grad_norm(hz_params *p, double max_norm)
{
    double ss = 0;
    for (size_t i = 0; i < p->len; i++) {
        hz_tensor *t = p->t[i];
        if (!t->requires_grad)
            continue;
        for (int64_t j = 0; j < t->n; j++)
            ss += (double)t->grad[j] * t->grad[j];
    }
    double norm = sqrt(ss);
    if (max_norm > 0 && norm > max_norm) {
        double s = max_norm / (norm + 1e-6); /* PyTorch's clip coefficient */
        for (size_t i = 0; i < p->len; i++) {
            hz_tensor *t = p->t[i];
            if (!t->requires_grad)
                continue;
            for (int64_t j = 0; j < t->n; j++)
                t->grad[j] = (hz_real)(t->grad[j] * s);
        }
    }
    return norm;
}

double hz_lr_type1(double lr0, int epoch)
{
    /* The official loops call adjust_learning_rate(opt, i + 1) after 0-based epoch i, which
     * sets lr0 * 0.5^i: after epoch 1 it is still lr0, so epoch e runs at 0.5^(e - 2). */
    return lr0 * pow(0.5, epoch > 2 ? epoch - 2 : 0);
}

double hz_lr_cosine(double lr0, int epoch, int total_epochs)
{
    if (total_epochs <= 0)
        return lr0;
    return lr0 * 0.5 * (1.0 + cos(M_PI * (double)(epoch - 1) / (double)total_epochs));
}

void hz_early_stop_init(hz_early_stop *s, int patience)
{
    s->patience = patience;
    s->bad_epochs = 0;
    s->best = INFINITY;
    s->best_epoch = 0;
}

int hz_early_stop_update(hz_early_stop *s, int epoch, double val_loss, int *stop)
{
    *stop = 0;
    if (val_loss < s->best) {
        s->best = val_loss;
        s->best_epoch = epoch;
        s->bad_epochs = 0;
        return 1;
    }
    if (++s->bad_epochs >= s->patience)
        *stop = 1;
    return 0;
}

void hz_plateau_init(hz_plateau *s, int patience, double factor, double eps)
{
    *s = (hz_plateau){.patience = patience, .factor = factor, .eps = eps, .best = INFINITY};
}

double hz_plateau_step(hz_plateau *s, double val_loss, double lr)
{
    if (val_loss < s->best * (1 - 1e-4)) {
        s->best = val_loss;
        s->bad_epochs = 0;
        return lr;
    }
    if (++s->bad_epochs <= s->patience)
        return lr;
    s->bad_epochs = 0;
    double next = lr * s->factor;
    return lr - next > s->eps ? next : lr;
}
