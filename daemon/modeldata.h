/* modeldata.h — from a pipeline's configuration to what models/ consumes: the series table
 * (CSV or SQLite `readings`), the model configuration, split windows, scaling and calendar
 * marks; and the checkpoint metadata that lets `forecast` and the daemon undo the scaling.
 * Shared by `horizon train / eval / forecast` and horizond. */
#ifndef HZ_MODELDATA_H
#define HZ_MODELDATA_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dataset.h"
#include "model.h"
#include "safetensors.h"

/* A pipeline's data prepared for training or evaluation. */
typedef struct hz_prepared {
    hz_table table; /* raw values of the selected variables */
    char **names;   /* table.cols variable names */
    float *scaled;  /* [rows, cols] */
    float *marks;   /* [rows, n_marks] or NULL */
    int n_marks;
    hz_scaler scaler;
    int begin[3], end[3]; /* train / val / test rows */
    hz_windows win[3];
} hz_prepared;

/* Reads the pipeline's source (csv: the file; sqlite: the readings of one series — `series`
 * or, when NULL, the only one present) and keeps the configured variables (features S:
 * only the target).  Returns 0 or HZ_E* with a message naming the file / table. */
int hz_prepared_load(const hz_config *cfg, const hz_pipeline_conf *p, const char *series,
                     hz_prepared *d, char *err, size_t errlen);
/* Splits, fits the scaler on the train rows (or uses *scaler when not NULL: evaluation of a
 * checkpoint), scales, computes marks and windows for seq/label/pred lengths of mc. */
int hz_prepared_split(const hz_pipeline_conf *p, const hz_model_conf *mc, const hz_scaler *scaler,
                      hz_prepared *d, char *err, size_t errlen);
void hz_prepared_free(hz_prepared *d);

/* The model configuration of a pipeline for n_vars variables. */
int hz_pipeline_model_conf(const hz_pipeline_conf *p, int n_vars, hz_model_conf *mc, char *err,
                           size_t errlen);

/* Checkpoint metadata (all JSON text): "variables", "scaler" {"mean","std"}, "period_ms",
 * "n_marks".  Parsing fills names (caller frees with hz_names_free) and the scaler. */
int hz_meta_scaler_parse(const hz_st_file *f, hz_scaler *s, char ***names, int *n_names, char *err,
                         size_t errlen);
char *hz_meta_variables_json(char *const *names, int n);
char *hz_meta_scaler_json(const hz_scaler *s);
void hz_names_free(char **names, int n);

/* SHA-256 of a file as 64 hex digits (libcrypto). */
int hz_file_sha256(const char *path, char hex[65], char *err, size_t errlen);

#endif
