/* trainer.h — train a pipeline's model and write its checkpoint (docs/MODELS.md): the body
 * of `horizon train`, shared with horizond's `train_on_start` and scheduled retraining.
 * The data is the pipeline's source when it is a CSV or SQLite table; a Kafka pipeline
 * trains on the readings its SQLite sink (or the top-level database) has stored.  The
 * checkpoint holds the config, scaler, variables, period, metrics and the forecast
 * intervals' calibration on the validation split (training/calibrate.h), and is
 * registered in the database's `models` table (unless hz_train_opts.no_register). */
#ifndef HZ_TRAINER_H
#define HZ_TRAINER_H

#include <stdatomic.h>
#include <stddef.h>

#include "config/config.h"
#include "common/hz.h"
#include "training/train.h" /* HZ_RESUME, HZ_RESUME_IF_USABLE */

typedef struct hz_train_opts {
    const char *series;     /* SQLite: one series; NULL = the series with the most readings */
    const char *checkpoint; /* NULL: the pipeline's model.checkpoint */
    int epochs;             /* < 0: model.train.epochs */
    int max_batches;        /* > 0: stop each epoch after this many batches (smoke tests) */
    const hz_logger *log;   /* NULL: plain lines on stderr, with a progress bar on a tty */
    /* NULL, or a flag another thread may set to stop the run (HZ_EAGAIN, nothing published
     * or registered).  Not owned. */
    const atomic_int *cancel;
    /* NULL, or the path the checkpoint is published at: it is written to `checkpoint` first
     * and then renamed over `publish` (atomic on one file system), which is the path
     * registered.  horizond's scheduled retraining writes `<checkpoint>.next` this way. */
    const char *publish;
    /* NULL, or with model.train.repeats > 1 the one repeat to train (0-based); the served
     * checkpoint is chosen when every repeat's checkpoint exists */
    const int *repeat;
    /* NULL, or a flag a signal handler may set: training ends after the running epoch as an
     * early stop does (best weights kept, calibrated, written and registered; with repeats,
     * the repeats not started yet are left for --repeat).  Not owned. */
    const atomic_int *stop;
    /* NULL, or called from the training thread after every batch (train and validation):
     * horizond keeps systemd's start-up timeout from expiring during a train_on_start */
    void (*alive)(void *arg);
    void *alive_arg;
    /* 1: keep the run's state in hz_train_state_path(checkpoint) after every epoch (see
     * hz_train_conf.state_path); it is removed once the checkpoint is written, unless `stop`
     * ended the run early */
    int keep_state;
    /* With keep_state: HZ_RESUME continues the run that state holds (an error when there is
     * none or another run made it; with repeats, a repeat whose checkpoint exists and that
     * has no state is kept as it is); HZ_RESUME_IF_USABLE continues it when it is there and
     * this run made it, else trains from the first epoch (horizond's train_on_start). */
    int resume;
    /* 1: the checkpoint is written (and published) but not registered in the database's
     * `models` table, nor is the database's directory created: a probe run such as
     * `horizon train --max-batches N`.  0 (the default of a zeroed struct): registered. */
    int no_register;
    /* NULL, or the path whose `.state` file (keep_state) and `.r<K>` repeat checkpoints the
     * run uses instead of checkpoint's: `horizon train` writes a versioned checkpoint beside
     * the served one and keeps the served one's names, so --resume and --repeat find them */
    const char *base;
} hz_train_opts;

/* What a pipeline that may train at start (train_on_start, no checkpoint) is given: cancel
 * (the daemon's stop flag) ends that training as hz_train_opts.cancel does (HZ_EAGAIN,
 * nothing written); alive as in hz_train_opts.  Borrowed for the call only. */
typedef struct hz_train_hooks {
    const atomic_int *cancel;
    void (*alive)(void *arg);
    void *alive_arg;
} hz_train_hooks;

typedef struct hz_train_summary {
    double val_mse, val_mae, test_mse, test_mae;
    int test_windows;
    int epochs_run, stopped; /* stopped: ended by o->stop before the protocol's end */
    char model_id[96];       /* "pipeline-<sha256 prefix>" of the published checkpoint */
} hz_train_summary;

/* Trains, writes the checkpoint (parent directories created) and registers it unless
 * o->no_register.  out may be NULL (out->model_id is set also when not registered).
 * Returns 0 or HZ_E* with a message naming the pipeline, file or table; HZ_EAGAIN when
 * o->cancel stopped it.  Thread-safe for distinct checkpoints: it opens its own
 * database connections (read-only for the data) and shares no model state. */
int hz_trainer_run(const hz_config *cfg, const hz_pipeline_conf *p, const hz_train_opts *o,
                   hz_train_summary *out, char *err, size_t errlen);

/* Where the training state of a run writing checkpoint is kept: "<checkpoint>.state". */
void hz_train_state_path(const char *checkpoint, char *out, size_t n);

/* model.train.repeats > 1 (the scripts' `itr`): run r trains with seed + r into
 * hz_repeat_path(checkpoint, r) ("x.safetensors" -> "x.r<r>.safetensors"), unregistered;
 * once all exist, the one with the lowest validation MSE is copied to the checkpoint path
 * and registered, and the summary's test figures are the mean over the runs. */
void hz_repeat_path(const char *checkpoint, int r, char *out, size_t n);

/* src copied over dst through dst.tmp and a rename (atomic on one file system, so a reader
 * such as horizond never sees half a file): `horizon train --promote`.  Returns 0 or HZ_EIO. */
int hz_checkpoint_copy(const char *src, const char *dst, char *err, size_t errlen);

/* The val_mse, test_mse and test_mae a checkpoint's "metrics" metadata records. */
int hz_repeat_metrics(const char *path, double *val_mse, double *test_mse, double *test_mae,
                      char *err, size_t errlen);

#endif
