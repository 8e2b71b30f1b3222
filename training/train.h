/* train.h — the training loop of the papers' protocol (docs/MODELS.md): shuffled
 * mini-batches (drop_last), MSE on scaled data, Adam(W) with the type1 or cosine schedule,
 * optional gradient clipping, early stopping on validation MSE with the best weights kept;
 * and evaluation (MSE / MAE overall and per horizon step, scaled and in original units). */
#ifndef HZ_TRAIN_H
#define HZ_TRAIN_H

#include <stdatomic.h>

#include "training/dataset.h"
#include "models/model.h"

/* PLATEAU: ReduceLROnPlateau on the validation loss, patience 3, factor 0.1, eps 1e-7
 * (engine/optim.h hz_plateau; NILMFormer's protocol) */
enum { HZ_LRADJ_TYPE1 = 0, HZ_LRADJ_COSINE = 1, HZ_LRADJ_NONE = 2, HZ_LRADJ_PLATEAU = 3 };
enum { HZ_RESUME = 1, HZ_RESUME_IF_USABLE = 2 };

typedef struct hz_train_conf {
    int epochs, batch, patience;
    double lr, weight_decay, clip; /* clip 0: off */
    int adamw, lradj;
    uint64_t seed;
    int max_train_batches; /* 0: all (tests use a few) */
    /* Training windows of several series (hz_windows.group_end): each epoch draws this many
     * windows from every series (a series with fewer repeats its own, reshuffled), from a
     * generator seeded by seed and the epoch; 0: the mean of the series' window counts. */
    int series_windows;
    /* NULL, or a flag another thread may set: checked before every training batch; when
     * nonzero hz_train stops (see below).  Not owned. */
    const atomic_int *cancel;
    /* NULL, or a flag another thread (or a signal handler) may set: checked at the end of
     * every epoch; when nonzero training ends there as an early stop does (best weights
     * kept, returns 0, res->stopped set).  Not owned. */
    const atomic_int *stop;
    /* NULL, or a file for the run's state: after every epoch the weights, the best weights,
     * the optimiser's moments, the shuffled order, every random generator and the
     * early-stopping counters are written there (atomically), so a run that is killed can
     * go on from its last finished epoch and end as it would have without the kill. */
    const char *state_path;
    /* HZ_RESUME: continue the run saved in state_path (HZ_ENOTFOUND when there is none;
     * HZ_EINVAL when it was made with other data, model or optimiser settings; epochs may
     * differ).  HZ_RESUME_IF_USABLE: the same when a state is there and fits this run,
     * otherwise start from the first epoch (why, in res->resume_note).  0: start over. */
    int resume;
} hz_train_conf;

/* Progress: called after every batch (phase 0 train, 1 validation) and, with batch == -1,
 * at the end of each epoch with the epoch's train and validation losses. */
typedef void (*hz_train_progress)(void *opaque, int epoch, int phase, int batch, int n_batches,
                                  double loss, double val_loss);

typedef struct hz_train_result {
    int epochs_run, best_epoch;
    int stopped; /* 1: ended by tc->stop before the epochs or the patience ran out */
    double best_val, last_train;
    double seconds;        /* training time, the resumed run's included */
    int resumed_from;      /* epochs the resumed state had finished; 0 */
    char state_err[256];   /* the last failure to write state_path ("" none); training goes on */
    char resume_note[256]; /* HZ_RESUME_IF_USABLE: why the state there was not resumed */
} hz_train_result;

/* Windows an epoch of tc trains on: train->count, or with groups n_groups x the windows
 * drawn from each (tc->series_windows). */
int hz_train_epoch_windows(const hz_windows *train, const hz_train_conf *tc);

/* The windows of epoch ep (1-based) of a grouped train set: series_windows of each series
 * (see hz_train_conf), in a shuffled order, into order[hz_train_epoch_windows]; perm is
 * scratch of the largest series' window count. */
void hz_train_draw_epoch(const hz_windows *train, const hz_train_conf *tc, int ep, int *order,
                         int *perm);

/* Trains m in place; at the end m holds the weights of the best validation epoch.
 * With tc->resume, m must be the model the state was made from, freshly created (its
 * weights are replaced by the state's).
 * Returns 0 or HZ_E* (message in err).  When tc->cancel is set it returns HZ_EAGAIN
 * ("train: cancelled") within one batch; m then holds the best weights of the epochs that
 * finished (the initial weights when none did) and res the epochs run so far. */
int hz_train(hz_model *m, const hz_windows *train, const hz_windows *val, const hz_train_conf *tc,
             hz_train_progress progress, void *opaque, hz_train_result *res, char *err,
             size_t errlen);

typedef struct hz_eval_result {
    int windows;
    double mse, mae; /* scaled data (as the papers report) */
    /* original units (scaler undone), NaN without a scaler; pooled over the output columns,
     * so meaningful for one variable (per variable: training/skill.h) */
    double mse_orig, mae_orig;
    double *mse_step, *mae_step; /* [pred_len] scaled, owned by the result (hz_eval_free) */
} hz_eval_result;

/* Evaluates m on every window of w (batch size `batch`; the last partial batch is scored
 * too unless drop_last).  scaler may be NULL.  When pred is not NULL it receives the
 * forecasts (scaled, as the model outputs them), laid out [window, pred_len, cols], for at
 * most w->count windows.  Returns 0 or HZ_ENOMEM. */
int hz_evaluate(hz_model *m, const hz_windows *w, int batch, int drop_last, const hz_scaler *scaler,
                float *pred, hz_eval_result *res);
void hz_eval_free(hz_eval_result *res);

/* The MSE of m on w, as the validation loss of hz_train (drop_last, batch). */
double hz_val_loss(hz_model *m, hz_ctx *c, const hz_windows *w, int batch);

#endif
