/* checkpoint_meta.h — checkpoint metadata written by `horizon train` and read by `horizon
 * eval / forecast` and horizond to undo the scaling and name the variables; and the SHA-256
 * that identifies a checkpoint file (the model id in the `models` table). */
#ifndef HZ_CHECKPOINT_META_H
#define HZ_CHECKPOINT_META_H

#include <stddef.h>

#include "models/safetensors.h"
#include "training/dataset.h"

/* Checkpoint metadata (all JSON text): "variables", "scaler" {"mean","std"}, "period_ms",
 * "n_marks".  Parsing fills names (caller frees with hz_names_free) and the scaler. */
int hz_meta_scaler_parse(const hz_st_file *f, hz_scaler *s, char ***names, int *n_names, char *err,
                         size_t errlen);
char *hz_meta_variables_json(char *const *names, int n);
char *hz_meta_scaler_json(const hz_scaler *s);
void hz_names_free(char **names, int n);

/* SHA-256 of a file as 64 hex digits (libcrypto). */
int hz_file_sha256(const char *path, char hex[65], char *err, size_t errlen);

/* The calibration of the anomaly intervals, written by `horizon train` (training/trainer.c):
 * tensor HZ_CALIB_TENSOR, F32 [pred_len, variables, HZ_CALIB_Q], entry q the quantile
 * (q + 1) / 100 of |forecast - actual| on the validation split, in original units.  Read by
 * pipeline/forecaster.c (the conformal sets' seed), cli/cmd_eval.c (test coverage) and
 * cli/cmd_forecast.c (the intervals it prints). */
#define HZ_CALIB_TENSOR "calib.abs_residual_quantiles"
#define HZ_CALIB_Q      99

/* f's calibration for pred_len steps and n_vars variables, or NULL when f has none of that
 * shape (a checkpoint written before calibration existed).  Owned by f. */
const hz_st_tensor *hz_calib_find(const hz_st_file *f, int pred_len, int n_vars);
/* The HZ_CALIB_Q quantiles of step `step` (0-based) and variable `var` into out (a copy: the
 * tensor's bytes need not be aligned). */
void hz_calib_row(const hz_st_tensor *cal, int n_vars, int step, int var, float out[HZ_CALIB_Q]);

#endif
