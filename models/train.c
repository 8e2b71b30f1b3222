/* train.c — training loop and evaluation (train.h).  One hz_ctx for training (tape on) and
 * one for evaluation; batch buffers are allocated once, so epochs allocate nothing after
 * their first step. */
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hz.h"
#include "ops.h"
#include "optim.h"

typedef struct batch_buf {
    hz_real *x, *x_mark, *x_dec, *x_mark_dec, *y;
    int *idx;
} batch_buf;

static int buf_alloc(batch_buf *b, const hz_windows *w, int n)
{
    size_t L = w->seq_len, D = w->label_len + w->pred_len, P = w->pred_len, C = w->cols,
           F = w->n_marks ? w->n_marks : 1;
    b->x = malloc(n * L * C * sizeof(hz_real));
    b->x_mark = malloc(n * L * F * sizeof(hz_real));
    b->x_dec = malloc(n * D * C * sizeof(hz_real));
    b->x_mark_dec = malloc(n * D * F * sizeof(hz_real));
    b->y = malloc(n * P * C * sizeof(hz_real));
    b->idx = malloc((size_t)n * sizeof(int));
    return b->x && b->x_mark && b->x_dec && b->x_mark_dec && b->y && b->idx ? 0 : HZ_ENOMEM;
}

static void buf_free(batch_buf *b)
{
    free(b->x);
    free(b->x_mark);
    free(b->x_dec);
    free(b->x_mark_dec);
    free(b->y);
    free(b->idx);
}

static void fill(const hz_windows *w, batch_buf *b, int n, hz_model_input *in)
{
    hz_windows_batch(w, b->idx, n, b->x, w->n_marks ? b->x_mark : NULL, b->x_dec,
                     w->n_marks ? b->x_mark_dec : NULL, b->y);
    in->batch = n;
    in->x = b->x;
    in->x_mark = w->n_marks ? b->x_mark : NULL;
    in->x_dec = b->x_dec;
    in->x_mark_dec = w->n_marks ? b->x_mark_dec : NULL;
}

double hz_val_loss(hz_model *m, hz_ctx *c, const hz_windows *w, int batch)
{
    batch_buf b;
    if (buf_alloc(&b, w, batch)) {
        buf_free(&b);
        return NAN;
    }
    c->grad_on = 0;
    c->training = 0;
    double sum = 0;
    int nb = w->count / batch;
    for (int i = 0; i < nb; i++) {
        for (int j = 0; j < batch; j++)
            b.idx[j] = i * batch + j;
        hz_model_input in;
        fill(w, &b, batch, &in);
        hz_ctx_reset(c);
        hz_tensor *out = hz_model_forward(m, c, &in);
        double s = 0;
        for (int64_t k = 0; k < out->n; k++) {
            double d = out->data[k] - b.y[k];
            s += d * d;
        }
        sum += s / out->n;
    }
    buf_free(&b);
    return nb ? sum / nb : NAN;
}

static void shuffle(int *a, int n, hz_rng *r)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)hz_rng_below(r, (uint32_t)(i + 1));
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

int hz_train(hz_model *m, const hz_windows *train, const hz_windows *val, const hz_train_conf *tc,
             hz_train_progress progress, void *opaque, hz_train_result *res, char *err,
             size_t errlen)
{
    memset(res, 0, sizeof *res);
    int B = tc->batch, nb = train->count / B;
    if (nb < 1)
        return hz_err(err, errlen, HZ_EINVAL,
                      "train: %d training windows, fewer than one batch "
                      "of %d",
                      train->count, B);
    if (val->count < B)
        return hz_err(err, errlen, HZ_EINVAL,
                      "train: %d validation windows, fewer than one batch of %d", val->count, B);
    if (tc->max_train_batches > 0 && nb > tc->max_train_batches)
        nb = tc->max_train_batches;
    int64_t t0 = hz_mono_ns();
    hz_params *p = &m->params;
    hz_adam opt;
    batch_buf b = {0};
    int *order = malloc((size_t)train->count * sizeof *order);
    hz_real *best = malloc((size_t)p->numel * sizeof *best);
    hz_ctx c, ce;
    hz_ctx_init(&c, (size_t)64 << 20, tc->seed ^ 0x5eed);
    hz_ctx_init(&ce, (size_t)16 << 20, tc->seed);
    int rc = hz_adam_init(&opt, p, tc->lr, tc->weight_decay, tc->adamw);
    if (!rc)
        rc = buf_alloc(&b, train, B);
    if (rc || !order || !best) {
        rc = hz_err(err, errlen, HZ_ENOMEM, "train: out of memory");
        goto out;
    }
    hz_rng r;
    hz_rng_seed(&r, tc->seed);
    for (int i = 0; i < train->count; i++)
        order[i] = i;
    memcpy(best, p->data, (size_t)p->numel * sizeof *best);
    hz_early_stop es;
    hz_early_stop_init(&es, tc->patience > 0 ? tc->patience : tc->epochs);
    for (int ep = 1; ep <= tc->epochs; ep++) {
        shuffle(order, train->count, &r);
        double tsum = 0;
        c.training = 1;
        for (int i = 0; i < nb; i++) {
            if (tc->cancel && atomic_load(tc->cancel)) {
                rc = hz_err(err, errlen, HZ_EAGAIN, "train: cancelled");
                break;
            }
            memcpy(b.idx, order + (size_t)i * B, (size_t)B * sizeof(int));
            hz_model_input in;
            fill(train, &b, B, &in);
            hz_ctx_reset(&c);
            c.grad_on = 1;
            c.training = 1;
            hz_tensor *out = hz_model_forward(m, &c, &in);
            hz_tensor *y = hz_tensor_wrap(&c, b.y, out->ndim, out->shape);
            hz_tensor *loss = hz_mse_loss(&c, out, y);
            hz_params_zero_grad(p);
            hz_backward(&c, loss);
            if (tc->clip > 0)
                hz_clip_grad_norm(p, tc->clip);
            hz_adam_step(&opt, p);
            tsum += loss->data[0];
            if (progress)
                progress(opaque, ep, 0, i + 1, nb, tsum / (i + 1), NAN);
        }
        if (rc)
            break;
        double vl = hz_val_loss(m, &ce, val, B);
        res->epochs_run = ep;
        res->last_train = tsum / nb;
        int stop = 0;
        if (hz_early_stop_update(&es, ep, vl, &stop))
            memcpy(best, p->data, (size_t)p->numel * sizeof *best);
        if (progress)
            progress(opaque, ep, 1, -1, nb, tsum / nb, vl);
        if (stop)
            break;
        if (ep < tc->epochs && tc->stop && atomic_load(tc->stop)) {
            res->stopped = 1;
            break;
        }
        if (tc->lradj == HZ_LRADJ_TYPE1)
            opt.lr = hz_lr_type1(tc->lr, ep + 1);
        else if (tc->lradj == HZ_LRADJ_COSINE)
            opt.lr = hz_lr_cosine(tc->lr, ep + 1, tc->epochs);
    }
    memcpy(p->data, best, (size_t)p->numel * sizeof *best); /* also when cancelled */
    hz_params_unpack(p);
    res->best_epoch = es.best_epoch;
    res->best_val = es.best;
    res->seconds = (hz_mono_ns() - t0) / 1e9;
out:
    hz_adam_free(&opt);
    buf_free(&b);
    free(order);
    free(best);
    hz_ctx_free(&c);
    hz_ctx_free(&ce);
    return rc;
}

int hz_evaluate(hz_model *m, const hz_windows *w, int batch, int drop_last, const hz_scaler *scaler,
                float *abs_err, hz_eval_result *res)
{
    memset(res, 0, sizeof *res);
    int P = w->pred_len, C = w->cols;
    batch_buf b;
    int rc = buf_alloc(&b, w, batch);
    res->mse_step = calloc((size_t)P, sizeof(double));
    res->mae_step = calloc((size_t)P, sizeof(double));
    if (rc || !res->mse_step || !res->mae_step) {
        buf_free(&b);
        hz_eval_free(res);
        return HZ_ENOMEM;
    }
    hz_ctx c;
    hz_ctx_init(&c, (size_t)16 << 20, 0);
    int n_total = drop_last ? (w->count / batch) * batch : w->count;
    double se = 0, ae = 0, seo = 0, aeo = 0;
    for (int s = 0; s < n_total; s += batch) {
        int n = n_total - s < batch ? n_total - s : batch;
        for (int j = 0; j < n; j++)
            b.idx[j] = s + j;
        hz_model_input in;
        fill(w, &b, n, &in);
        hz_ctx_reset(&c);
        hz_tensor *out = hz_model_forward(m, &c, &in);
        for (int j = 0; j < n; j++)
            for (int t = 0; t < P; t++)
                for (int k = 0; k < C; k++) {
                    size_t i = ((size_t)j * P + t) * C + k;
                    double d = out->data[i] - b.y[i];
                    se += d * d;
                    ae += fabs(d);
                    res->mse_step[t] += d * d;
                    res->mae_step[t] += fabs(d);
                    double dorig = scaler ? d * scaler->std[k] : d;
                    seo += dorig * dorig;
                    aeo += fabs(dorig);
                    if (abs_err)
                        abs_err[(size_t)s * P * C + i] = (float)fabs(dorig);
                }
    }
    double cnt = (double)n_total * P * C;
    res->windows = n_total;
    res->mse = se / cnt;
    res->mae = ae / cnt;
    res->mse_orig = scaler ? seo / cnt : NAN;
    res->mae_orig = scaler ? aeo / cnt : NAN;
    for (int t = 0; t < P; t++) {
        res->mse_step[t] /= (double)n_total * C;
        res->mae_step[t] /= (double)n_total * C;
    }
    hz_ctx_free(&c);
    buf_free(&b);
    return 0;
}

void hz_eval_free(hz_eval_result *res)
{
    free(res->mse_step);
    free(res->mae_step);
    res->mse_step = res->mae_step = NULL;
}
