/* checkpoint_meta.h — checkpoint metadata written by `horizon train` and read by `horizon
 * eval / forecast` and horizond to undo the scaling and name the variables; and the SHA-256
 * that identifies a checkpoint file (the model id in the `models` table). */
#ifndef HZ_CHECKPOINT_META_H
#define HZ_CHECKPOINT_META_H

#include <stddef.h>

#include "models/safetensors.h"
#include "training/dataset.h"

/* Checkpoint metadata (all JSON text): "variables", "scaler" {"mean","std"} (each mean finite,
 * each std finite and positive, else HZ_EFORMAT), "period_ms",
 * "n_marks".  Parsing fills names (caller frees with hz_names_free) and the scaler. */
int hz_meta_scaler_parse(const hz_st_file *f, hz_scaler *s, char ***names, int *n_names, char *err,
                         size_t errlen);
char *hz_meta_variables_json(char *const *names, int n);
char *hz_meta_scaler_json(const hz_scaler *s);
void hz_names_free(char **names, int n);

/* A pooled checkpoint's per-series scaling (training/pool.h): metadata "series_scaler",
 * {"series": [ids], "mean": [[C per series]], "std": [[...]], "unseen": "first_window"}; the
 * statistics are in the model's space (after log1p where the "scaler" flags say). */
typedef struct hz_series_stats {
    int n, cols;
    char **ids;         /* [n], ascending (strcmp), owned */
    double *mean, *std; /* [n, cols], owned */
} hz_series_stats;

/* JSON of n series' scalers sc[] (ids[i] is sc[i]'s); caller frees.  ids need not be
 * sorted. */
char *hz_meta_series_json(char *const *ids, const hz_scaler *sc, int n);
/* Reads f's "series_scaler" into s (sorted by id; free with hz_series_stats_free).  A
 * checkpoint without one (not pooled) gives s->n = 0 and returns 0.  HZ_EFORMAT when it is
 * malformed (a std not finite and positive included) or its variable count is not cols. */
int hz_meta_series_parse(const hz_st_file *f, int cols, hz_series_stats *s, char *err,
                         size_t errlen);
/* The index of series id in s, or -1 (binary search). */
int hz_series_stats_find(const hz_series_stats *s, const char *id);
/* sc's mean and std become series i's (its log1p flags and cols stay). */
void hz_series_stats_apply(const hz_series_stats *s, int i, hz_scaler *sc);
void hz_series_stats_free(hz_series_stats *s);

/* SHA-256 of a file as 64 hex digits (libcrypto). */
int hz_file_sha256(const char *path, char hex[65], char *err, size_t errlen);

#endif
