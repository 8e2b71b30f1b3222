/* pool.h — a fleet's data for pooled training (docs/MODELS.md, "Pooled training"): every
 * series of a pipeline's SQLite readings, each loaded alone, split by the pipeline's split
 * settings on its own rows and scaled by its own train-split statistics (after log1p where a
 * variable sets `transform: log1p`); their scaled rows are then laid end to end so that one
 * model trains on the windows of every series (hz_windows.starts), drawing the same number
 * from each series every epoch (hz_train_conf.series_windows), and validates on all of
 * theirs.  No window crosses from one series into the next. */
#ifndef HZ_POOL_H
#define HZ_POOL_H

#include <stddef.h>

#include "common/hz.h"
#include "config/config.h"
#include "models/model.h"
#include "training/prepare.h"

typedef struct hz_pool {
    int n;          /* series kept */
    char **ids;     /* [n] series ids, ascending */
    hz_prepared *d; /* [n] each series' table, names, scaler and split windows; after
                       hz_pool_split their data and marks point into the pool's arrays */
    float *data;    /* [rows, cols] every series' scaled rows, end to end */
    float *marks;   /* [rows, n_marks] or NULL */
    int rows, cols;
    int *starts[2], *group_end[2]; /* train and validation windows (hz_windows) */
    hz_windows win[2];             /* train and validation windows of every series */
} hz_pool;

/* The series of table in the SQLite file path, ascending, into *ids (n of them; free with
 * hz_names_free).  Returns 0 or HZ_E* naming the file; no series is HZ_ENOTFOUND. */
int hz_pool_list(const char *path, const char *table, char ***ids, int *n, char *err,
                 size_t errlen);

/* Loads every series of p's SQLite source (hz_prepared_load, one by one) into pool, which
 * must be zeroed.  Returns 0 or HZ_E* (a message naming the file and series). */
int hz_pool_load(const hz_config *cfg, const hz_pipeline_conf *p, hz_pool *pool, char *err,
                 size_t errlen);

/* Splits and scales every series (hz_prepared_split with its own fitted scaler) for the
 * windows of mc and lays them end to end.  A series too short for the split or without a
 * training window is left out with a line to log (NULL: stderr).  Returns 0, HZ_EINVAL when
 * no series is left, or HZ_ENOMEM. */
int hz_pool_split(const hz_pipeline_conf *p, const hz_model_conf *mc, const hz_logger *log,
                  hz_pool *pool, char *err, size_t errlen);

void hz_pool_free(hz_pool *pool);

#endif
