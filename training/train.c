/* train.c — training loop and evaluation (train.h).  One hz_ctx for training (tape on) and
 * one for evaluation; batch buffers are allocated once, so epochs allocate nothing after
 * their first step. */
#include "training/train.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/checkpoint.h"
#include "common/hz.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "models/safetensors.h"

typedef struct batch_buf {
    hz_real *x, *x_mark, *x_dec, *x_mark_dec, *y;
    int *idx;
} batch_buf;

static int buf_alloc(batch_buf *b, const hz_windows *w, int n)
{
    size_t L = w->seq_len, D = w->label_len + w->pred_len, P = w->pred_len, C = w->cols,
           I = (size_t)hz_windows_in_cols(w), O = (size_t)hz_windows_out_cols(w),
           F = w->n_marks ? w->n_marks : 1;
    b->x = malloc(n * L * I * sizeof(hz_real));
    b->x_mark = malloc(n * L * F * sizeof(hz_real));
    b->x_dec = malloc(n * D * C * sizeof(hz_real));
    b->x_mark_dec = malloc(n * D * F * sizeof(hz_real));
    b->y = malloc(n * P * O * sizeof(hz_real));
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
    /* disaggregation scores every window, as NILMFormer's protocol (validation batch 1):
     * the mean over all of them; otherwise the mean of full batches' means (drop_last) */
    int all = w->same_rows, n_total = all ? w->count : w->count / batch * batch, nb = 0;
    double sum = 0, cnt = 0;
    for (int i = 0; i < n_total; i += batch, nb++) {
        int n = n_total - i < batch ? n_total - i : batch;
        for (int j = 0; j < n; j++)
            b.idx[j] = i + j;
        hz_model_input in;
        fill(w, &b, n, &in);
        hz_ctx_reset(c);
        hz_tensor *out = hz_model_forward(m, c, &in);
        double s = 0;
        for (int64_t k = 0; k < out->n; k++) {
            double d = out->data[k] - b.y[k];
            s += d * d;
        }
        sum += all ? s : s / out->n;
        cnt += all ? (double)out->n : 1;
    }
    buf_free(&b);
    return nb ? sum / cnt : NAN;
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

int hz_train_epoch_windows(const hz_windows *train, const hz_train_conf *tc)
{
    if (!train->group_end || train->n_groups < 1)
        return train->count;
    int k = tc->series_windows;
    if (k <= 0) /* the mean count: an epoch as long as one pass over every window */
        k = (train->count + train->n_groups - 1) / train->n_groups;
    return k * train->n_groups;
}

void hz_train_draw_epoch(const hz_windows *train, const hz_train_conf *tc, int ep, int *order,
                         int *perm)
{
    int total = hz_train_epoch_windows(train, tc), k = total / train->n_groups, pos = 0;
    hz_rng r; /* from (seed, epoch) alone: a resumed run draws what it would have */
    hz_rng_seed(&r, tc->seed * 0x9e3779b97f4a7c15ULL + (uint64_t)ep);
    for (int g = 0; g < train->n_groups; g++) {
        int a = g ? train->group_end[g - 1] : 0, m = train->group_end[g] - a;
        for (int j = 0; j < k && m > 0; j++) {
            if (j % m == 0) { /* a new pass over the series' windows */
                for (int i = 0; i < m; i++)
                    perm[i] = a + i;
                shuffle(perm, m, &r);
            }
            order[pos++] = perm[j % m];
        }
    }
    shuffle(order, pos, &r);
}

/* ---- the state of a run after a finished epoch (hz_train_conf.state_path) */

#define STATE_FORMAT "horizon-train-state-1"
#define N_RNG        4 /* shuffle, training context, evaluation context, the model's own */
#define ST_REAL      (sizeof(hz_real) == sizeof(float) ? HZ_ST_F32 : HZ_ST_F64)

typedef struct run_state {
    hz_model *m;
    hz_real *best;
    hz_adam *opt;
    int *order; /* the shuffled order: each epoch shuffles the previous one */
    int n_order, val_count;
    int n_windows;      /* training windows: what order's entries index */
    uint64_t data_hash; /* windows_hash of the training and validation rows */
    hz_rng *rng[N_RNG];
    hz_early_stop *es;
    hz_plateau *pl;  /* lradj plateau's counters (saved as optional metadata) */
    int epoch, done; /* done: patience ran out at epoch */
    double seconds, last_train;
} run_state;

/* The run's counters, in this order in the metadata. */
enum { N_NUM = 10 };
static const char *const nkey[N_NUM] = {"epoch",      "done",          "adam_t", "adam_lr",
                                        "es_best",    "es_best_epoch", "es_bad", "seconds",
                                        "last_train", "model_rng"};

/* What must be equal for a state to continue this run: (key, value) pairs. */
enum { N_FP = 10 };
static const char *const fkey[N_FP] = {
    "params", "train_windows", "val_windows",  "data",      "batch",
    "lr",     "lradj",         "weight_decay", "optimizer", "clip"};

/* FNV-1a over the rows of w (values and marks): the same counts of other data differ. */
static uint64_t windows_hash(const hz_windows *w, uint64_t h)
{
    const unsigned char *p = (const unsigned char *)(w->data + (size_t)w->begin * w->cols);
    size_t n = (size_t)(w->end - w->begin) * w->cols * sizeof *w->data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    p = w->marks ? (const unsigned char *)(w->marks + (size_t)w->begin * w->n_marks) : NULL;
    n = p ? (size_t)(w->end - w->begin) * w->n_marks * sizeof *w->marks : 0;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

/* The arrays of a state; the generators go through rng (their words, model's last). */
enum { N_ARR = 6 };
typedef struct state_array {
    const char *name;
    hz_st_dtype dtype;
    int ndim;
    int64_t shape[2];
    void *data;
} state_array;

static void state_arrays(const run_state *s, uint64_t rng[N_RNG][4], state_array a[N_ARR])
{
    int64_t n = s->m->params.numel;
    a[0] = (state_array){"params", ST_REAL, 1, {n}, s->m->params.data};
    a[1] = (state_array){"best", ST_REAL, 1, {n}, s->best};
    a[2] = (state_array){"adam.m", ST_REAL, 1, {n}, s->opt->m};
    a[3] = (state_array){"adam.v", ST_REAL, 1, {n}, s->opt->v};
    a[4] = (state_array){"order", HZ_ST_I32, 1, {s->n_order}, s->order};
    a[5] = (state_array){"rng", HZ_ST_I64, 2, {N_RNG, 4}, rng};
}

/* This run's fingerprint values, and its model configuration as JSON (NULL: no memory). */
static char *fingerprint(const hz_train_conf *tc, const run_state *s, char fp[N_FP][48])
{
    snprintf(fp[0], 48, "%" PRId64, s->m->params.numel);
    snprintf(fp[1], 48, "%d", s->n_order);
    snprintf(fp[2], 48, "%d", s->val_count);
    snprintf(fp[3], 48, "%016" PRIx64, s->data_hash);
    snprintf(fp[4], 48, "%d", tc->batch);
    snprintf(fp[5], 48, "%.17g", tc->lr);
    snprintf(fp[6], 48, "%d", tc->lradj);
    snprintf(fp[7], 48, "%.17g", tc->weight_decay);
    snprintf(fp[8], 48, "%s", tc->adamw ? "adamw" : "adam");
    snprintf(fp[9], 48, "%.17g", tc->clip);
    return hz_model_conf_to_json(&s->m->conf);
}

static int state_save(const char *path, const hz_train_conf *tc, const run_state *s, char *err,
                      size_t errlen)
{
    char fp[N_FP][48], num[N_NUM][48];
    char *conf = fingerprint(tc, s, fp);
    uint64_t rng[N_RNG][4] = {{0}};
    for (int i = 0; i < N_RNG; i++)
        if (s->rng[i])
            memcpy(rng[i], s->rng[i]->s, sizeof rng[i]);
    const hz_early_stop *es = s->es;
    snprintf(num[0], 48, "%d", s->epoch);
    snprintf(num[1], 48, "%d", s->done);
    snprintf(num[2], 48, "%" PRId64, s->opt->t);
    snprintf(num[3], 48, "%.17g", s->opt->lr);
    snprintf(num[4], 48, "%.17g", es->best);
    snprintf(num[5], 48, "%d", es->best_epoch);
    snprintf(num[6], 48, "%d", es->bad_epochs);
    snprintf(num[7], 48, "%.17g", s->seconds);
    snprintf(num[8], 48, "%.17g", s->last_train);
    snprintf(num[9], 48, "%d", s->rng[N_RNG - 1] != NULL);
    state_array a[N_ARR];
    state_arrays(s, rng, a);
    hz_st_writer *w = hz_st_writer_new();
    int rc = !w || !conf ? hz_err(err, errlen, HZ_ENOMEM, "%s: out of memory", path) : 0;
    if (!rc)
        rc = hz_st_writer_meta(w, "format", STATE_FORMAT, err, errlen);
    if (!rc)
        rc = hz_st_writer_meta(w, "config", conf, err, errlen);
    for (int i = 0; i < N_FP && !rc; i++)
        rc = hz_st_writer_meta(w, fkey[i], fp[i], err, errlen);
    for (int i = 0; i < N_NUM && !rc; i++)
        rc = hz_st_writer_meta(w, nkey[i], num[i], err, errlen);
    char pl[2][48];
    snprintf(pl[0], 48, "%.17g", s->pl->best);
    snprintf(pl[1], 48, "%d", s->pl->bad_epochs);
    if (!rc)
        rc = hz_st_writer_meta(w, "plateau_best", pl[0], err, errlen);
    if (!rc)
        rc = hz_st_writer_meta(w, "plateau_bad", pl[1], err, errlen);
    for (int i = 0; i < N_ARR && !rc; i++)
        rc = hz_st_writer_add(w, a[i].name, a[i].dtype, a[i].ndim, a[i].shape, a[i].data, err,
                              errlen);
    if (!rc)
        rc = hz_st_writer_save(w, path, err, errlen);
    hz_st_writer_free(w);
    free(conf);
    return rc;
}

/* A metadata number of f, or an error naming the file and key. */
static int meta_num(const hz_st_file *f, const char *key, double *out, char *err, size_t errlen)
{
    const char *v = hz_st_meta(f, key);
    char *end = NULL;
    *out = v ? strtod(v, &end) : 0;
    if (!v || end == v || *end)
        return hz_err(err, errlen, HZ_EFORMAT, "%s: no number \"%s\" in its metadata",
                      hz_st_path(f), key);
    return 0;
}

/* Checks that the state in f continues this run: its format, model and fingerprint. */
static int state_check(const hz_st_file *f, const hz_train_conf *tc, const run_state *s, char *err,
                       size_t errlen)
{
    const char *path = hz_st_path(f);
    char fp[N_FP][48];
    char *conf = fingerprint(tc, s, fp);
    const char *format = hz_st_meta(f, "format"), *fconf = hz_st_meta(f, "config");
    int rc = 0;
    if (!conf)
        rc = hz_err(err, errlen, HZ_ENOMEM, "%s: out of memory", path);
    else if (!format || strcmp(format, STATE_FORMAT))
        rc = hz_err(err, errlen, HZ_EFORMAT, "%s: not a training state (format %s, expected %s)",
                    path, format ? format : "missing", STATE_FORMAT);
    else if (!fconf || strcmp(fconf, conf))
        rc = hz_err(err, errlen, HZ_EINVAL,
                    "%s: made for another model (%s), this run's is %s; remove it or train "
                    "without --resume",
                    path, fconf ? fconf : "none", conf);
    for (int i = 0; i < N_FP && !rc; i++) {
        const char *v = hz_st_meta(f, fkey[i]);
        if (!v || strcmp(v, fp[i]))
            rc = hz_err(err, errlen, HZ_EINVAL,
                        "%s: made by another run (%s %s there, %s here); remove it or train "
                        "without --resume",
                        path, fkey[i], v ? v : "missing", fp[i]);
    }
    free(conf);
    return rc;
}

/* The plateau counters of a state, when it has them (strtod reads "inf"). */
static void plateau_load(const hz_st_file *f, hz_plateau *pl)
{
    const char *b = hz_st_meta(f, "plateau_best"), *n = hz_st_meta(f, "plateau_bad");
    if (b && n) {
        pl->best = strtod(b, NULL);
        pl->bad_epochs = atoi(n);
    }
}

/* Loads the state at path into s.  *touched is set once s's arrays start being
 * overwritten: a failure before that leaves the run as it was. */
static int state_load(const char *path, const hz_train_conf *tc, run_state *s, int *touched,
                      char *err, size_t errlen)
{
    hz_st_file *f = NULL;
    int rc = hz_st_open(path, &f, err, errlen);
    if (rc == HZ_ENOTFOUND)
        return hz_err(err, errlen, HZ_ENOTFOUND,
                      "%s: no training state to resume (a run removes it once its checkpoint "
                      "is written)",
                      path);
    if (rc)
        return rc;
    rc = state_check(f, tc, s, err, errlen);
    double num[N_NUM];
    for (int i = 0; i < N_NUM && !rc; i++)
        rc = meta_num(f, nkey[i], &num[i], err, errlen);
    if (!rc && (int)num[9] != (s->rng[N_RNG - 1] != NULL))
        rc = hz_err(err, errlen, HZ_EINVAL, "%s: made for a model %s its own generator", path,
                    num[9] ? "with" : "without");
    uint64_t rng[N_RNG][4];
    state_array a[N_ARR];
    state_arrays(s, rng, a);
    *touched = !rc;
    for (int i = 0; i < N_ARR && !rc; i++)
        rc = hz_st_read(f, a[i].name, a[i].dtype, a[i].ndim, a[i].shape, a[i].data, err, errlen);
    for (int i = 0; i < s->n_order && !rc; i++)
        if (s->order[i] < 0 || s->order[i] >= s->n_windows)
            rc = hz_err(err, errlen, HZ_EFORMAT, "%s: order[%d] = %d is not a window", path, i,
                        s->order[i]);
    if (!rc) {
        for (int i = 0; i < N_RNG; i++)
            if (s->rng[i])
                memcpy(s->rng[i]->s, rng[i], sizeof rng[i]);
        s->epoch = (int)num[0];
        s->done = (int)num[1];
        s->opt->t = (int64_t)num[2];
        s->opt->lr = num[3];
        s->es->best = num[4];
        s->es->best_epoch = (int)num[5];
        s->es->bad_epochs = (int)num[6];
        s->seconds = num[7];
        s->last_train = num[8];
        plateau_load(f, s->pl); /* absent in the states of earlier versions */
        hz_params_unpack(&s->m->params);
    }
    hz_st_close(f);
    return rc;
}

/* ---- the training loop */

/* What one hz_train call works with; st points into it, so it stays where it is. */
typedef struct loop {
    hz_model *m;
    const hz_windows *train, *val;
    const hz_train_conf *tc;
    hz_train_progress progress;
    void *opaque;
    int B, nb;  /* batch size; training batches an epoch */
    int64_t t0; /* start, moved back by a resumed run's time */
    hz_adam opt;
    batch_buf b;
    int *order;    /* the shuffled order of the training windows */
    int n_order;   /* hz_train_epoch_windows */
    int *perm;     /* grouped windows: hz_train_draw_epoch's scratch */
    hz_real *best; /* the weights of the best validation epoch */
    hz_ctx c, ce;  /* training (tape on) and evaluation */
    hz_rng r;      /* the shuffle's generator */
    hz_early_stop es;
    hz_plateau pl; /* lradj plateau */
    run_state st;
} loop;

/* Allocates the loop's buffers and seeds its generators; l must be zeroed.  loop_free
 * follows also when this fails. */
static int loop_init(loop *l, char *err, size_t errlen)
{
    const hz_train_conf *tc = l->tc;
    const hz_windows *train = l->train;
    hz_params *p = &l->m->params;
    l->t0 = hz_mono_ns();
    l->n_order = hz_train_epoch_windows(train, tc);
    l->order = malloc((size_t)l->n_order * sizeof *l->order + 1);
    l->perm = train->group_end ? malloc((size_t)train->count * sizeof *l->perm + 1) : NULL;
    l->best = malloc((size_t)p->numel * sizeof *l->best);
    hz_ctx_init(&l->c, (size_t)64 << 20, tc->seed ^ 0x5eed);
    hz_ctx_init(&l->ce, (size_t)16 << 20, tc->seed);
    int rc = hz_adam_init(&l->opt, p, tc->lr, tc->weight_decay, tc->adamw);
    if (!rc)
        rc = buf_alloc(&l->b, train, l->B);
    if (rc || !l->order || !l->best || (train->group_end && !l->perm))
        return hz_err(err, errlen, HZ_ENOMEM, "train: out of memory");
    hz_rng_seed(&l->r, tc->seed);
    for (int i = 0; i < l->n_order; i++)
        l->order[i] = i % train->count;
    memcpy(l->best, p->data, (size_t)p->numel * sizeof *l->best);
    hz_early_stop_init(&l->es, tc->patience > 0 ? tc->patience : tc->epochs);
    hz_plateau_init(&l->pl, 3, 0.1, 1e-7);
    l->st = (run_state){
        .m = l->m,
        .best = l->best,
        .opt = &l->opt,
        .order = l->order,
        .n_order = l->n_order,
        .n_windows = train->count,
        .val_count = l->val->count,
        .data_hash =
            tc->state_path ? windows_hash(l->val, windows_hash(train, 0xcbf29ce484222325ULL)) : 0,
        .rng = {&l->r, &l->c.rng, &l->ce.rng, l->m->rng},
        .es = &l->es,
        .pl = &l->pl};
    return 0;
}

/* Frees what loop_init allocated. */
static void loop_free(loop *l)
{
    hz_adam_free(&l->opt);
    buf_free(&l->b);
    free(l->order);
    free(l->perm);
    free(l->best);
    hz_ctx_free(&l->c);
    hz_ctx_free(&l->ce);
}

/* With tc->resume, the saved state replaces the fresh run's.  HZ_RESUME_IF_USABLE starts
 * from the first epoch instead (why, in res->resume_note) while nothing was overwritten. */
static int loop_resume(loop *l, hz_train_result *res, char *err, size_t errlen)
{
    const hz_train_conf *tc = l->tc;
    if (!tc->resume || !tc->state_path)
        return 0;
    int touched = 0;
    int rc = state_load(tc->state_path, tc, &l->st, &touched, err, errlen);
    if (rc) {
        if (tc->resume != HZ_RESUME_IF_USABLE || touched || rc == HZ_ENOMEM)
            return rc;
        if (rc != HZ_ENOTFOUND) /* no state is the usual first start */
            snprintf(res->resume_note, sizeof res->resume_note, "%s", err);
        return 0;
    }
    res->resumed_from = res->epochs_run = l->st.epoch;
    res->last_train = l->st.last_train;
    l->t0 -= (int64_t)(l->st.seconds * 1e9);
    return 0;
}

/* One optimiser step on the training batch at order[i * B ...]; returns its loss. */
static double train_batch(loop *l, int i)
{
    const hz_train_conf *tc = l->tc;
    hz_params *p = &l->m->params;
    memcpy(l->b.idx, l->order + (size_t)i * l->B, (size_t)l->B * sizeof(int));
    hz_model_input in;
    fill(l->train, &l->b, l->B, &in);
    hz_ctx_reset(&l->c);
    l->c.grad_on = 1;
    l->c.training = 1;
    hz_tensor *out = hz_model_forward(l->m, &l->c, &in);
    hz_tensor *y = hz_tensor_wrap(&l->c, l->b.y, out->ndim, out->shape);
    hz_tensor *loss = hz_mse_loss(&l->c, out, y);
    hz_params_zero_grad(p);
    hz_backward(&l->c, loss);
    if (tc->clip > 0)
        hz_clip_grad_norm(p, tc->clip);
    hz_adam_step(&l->opt, p);
    return loss->data[0];
}

/* Epoch ep's training batches in a new shuffled order; *tsum is the sum of their losses.
 * HZ_EAGAIN ("train: cancelled") when tc->cancel is set before a batch. */
static int train_epoch(loop *l, int ep, double *tsum, char *err, size_t errlen)
{
    if (l->perm)
        hz_train_draw_epoch(l->train, l->tc, ep, l->order, l->perm);
    else
        shuffle(l->order, l->train->count, &l->r);
    *tsum = 0;
    l->c.training = 1;
    for (int i = 0; i < l->nb; i++) {
        if (l->tc->cancel && atomic_load(l->tc->cancel))
            return hz_err(err, errlen, HZ_EAGAIN, "train: cancelled");
        *tsum += train_batch(l, i);
        if (l->progress)
            l->progress(l->opaque, ep, 0, i + 1, l->nb, *tsum / (i + 1), NAN);
    }
    return 0;
}

/* The run's state after epoch ep (done: patience ran out there) written to tc->state_path;
 * a failure stays in res->state_err and the run goes on. */
static void save_epoch_state(loop *l, int ep, int done, hz_train_result *res)
{
    l->st.epoch = ep;
    l->st.done = done;
    l->st.seconds = (hz_mono_ns() - l->t0) / 1e9;
    l->st.last_train = res->last_train;
    if (!state_save(l->tc->state_path, l->tc, &l->st, res->state_err, sizeof res->state_err))
        res->state_err[0] = 0;
}

/* The end of epoch ep: validation loss, early stopping (best weights kept), the next
 * epoch's learning rate, the state saved, progress.  Returns 1 when training ends here
 * (patience ran out, or tc->stop is set before the last epoch). */
static int end_epoch(loop *l, int ep, double tsum, hz_train_result *res)
{
    const hz_train_conf *tc = l->tc;
    hz_params *p = &l->m->params;
    double vl = hz_val_loss(l->m, &l->ce, l->val, l->B);
    res->epochs_run = ep;
    res->last_train = tsum / l->nb;
    int stop = 0;
    if (hz_early_stop_update(&l->es, ep, vl, &stop))
        memcpy(l->best, p->data, (size_t)p->numel * sizeof *l->best);
    if (tc->lradj == HZ_LRADJ_TYPE1) /* the next epoch's, saved with the state */
        l->opt.lr = hz_lr_type1(tc->lr, ep + 1);
    else if (tc->lradj == HZ_LRADJ_COSINE)
        l->opt.lr = hz_lr_cosine(tc->lr, ep + 1, tc->epochs);
    else if (tc->lradj == HZ_LRADJ_PLATEAU)
        l->opt.lr = hz_plateau_step(&l->pl, vl, l->opt.lr);
    if (tc->state_path)
        save_epoch_state(l, ep, stop, res);
    if (l->progress)
        l->progress(l->opaque, ep, 1, -1, l->nb, tsum / l->nb, vl);
    if (stop)
        return 1;
    if (ep < tc->epochs && tc->stop && atomic_load(tc->stop)) {
        res->stopped = 1;
        return 1;
    }
    return 0;
}

int hz_train(hz_model *m, const hz_windows *train, const hz_windows *val, const hz_train_conf *tc,
             hz_train_progress progress, void *opaque, hz_train_result *res, char *err,
             size_t errlen)
{
    memset(res, 0, sizeof *res);
    int B = tc->batch, nb = hz_train_epoch_windows(train, tc) / B;
    if (nb < 1 || train->count < 1)
        return hz_err(err, errlen, HZ_EINVAL,
                      "train: %d training windows an epoch, fewer than one batch "
                      "of %d",
                      hz_train_epoch_windows(train, tc), B);
    if (val->count < (val->same_rows ? 1 : B))
        return hz_err(err, errlen, HZ_EINVAL,
                      "train: %d validation windows, fewer than one batch of %d", val->count, B);
    if (tc->max_train_batches > 0 && nb > tc->max_train_batches)
        nb = tc->max_train_batches;
    loop l;
    memset(&l, 0, sizeof l);
    l.m = m;
    l.train = train;
    l.val = val;
    l.tc = tc;
    l.progress = progress;
    l.opaque = opaque;
    l.B = B;
    l.nb = nb;
    int rc;
    if ((rc = loop_init(&l, err, errlen)) || (rc = loop_resume(&l, res, err, errlen)))
        goto out;
    for (int ep = l.st.epoch + 1; ep <= tc->epochs && !l.st.done; ep++) {
        double tsum;
        if ((rc = train_epoch(&l, ep, &tsum, err, errlen)) || end_epoch(&l, ep, tsum, res))
            break;
    }
    hz_params *p = &m->params;
    memcpy(p->data, l.best, (size_t)p->numel * sizeof *l.best); /* also when cancelled */
    hz_params_unpack(p);
    res->best_epoch = l.es.best_epoch;
    res->best_val = l.es.best;
    res->seconds = (hz_mono_ns() - l.t0) / 1e9;
out:
    loop_free(&l);
    return rc;
}

int hz_evaluate(hz_model *m, const hz_windows *w, int batch, int drop_last, const hz_scaler *scaler,
                float *pred, hz_eval_result *res)
{
    memset(res, 0, sizeof *res);
    int P = w->pred_len, C = hz_windows_out_cols(w);
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
                    int kc = hz_windows_out_col(w, k);
                    double dorig = scaler ? hz_scaler_inv(scaler, kc, out->data[i]) -
                                                hz_scaler_inv(scaler, kc, b.y[i])
                                          : d;
                    seo += dorig * dorig;
                    aeo += fabs(dorig);
                    if (pred)
                        pred[(size_t)s * P * C + i] = (float)out->data[i];
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
