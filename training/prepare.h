/* prepare.h — from a pipeline's configuration to what the models and training/train.c
 * consume: the series table (CSV or SQLite `readings`), the model configuration, split
 * windows, scaling and calendar marks.  Shared by `horizon train / eval / forecast` and
 * horizond; the metadata that lets them undo the scaling is in checkpoint_meta.h. */
#ifndef HZ_PREPARE_H
#define HZ_PREPARE_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "training/dataset.h"
#include "models/model.h"
#include "models/safetensors.h"
#include "training/checkpoint_meta.h"

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
    /* the table on the window's grid (training/prepare.c regularise): slots filled, holes
     * that end a stretch and the slots they span; the row each later stretch starts at */
    int filled, holes;
    /* SQLite: timestamps before the first / after the last with every variable, left out;
     * values missing in between, carried from the timestamp before */
    int edge_rows, carried;
    /* SQLite: rows left out as every source refuses them (connectors/reading_check.h) or
     * with a NULL value, and the first one's reason */
    int refused;
    char refused_why[240];
    int64_t hole_slots;
    int *stretch, n_stretch;
    int *starts[3]; /* with stretches: each split's window starts, owned */
    /* disaggregation (training/disagg.h): windows skipped per split (a hole or a value not
     * finite in them), and the target's mean over the training rows in original units */
    int gap_windows[3];
    int zero_rows; /* rows whose aggregate of 0 was made a gap (model.data.zero_is_gap) */
    double train_mean;
} hz_prepared;

/* Reads the pipeline's source (csv: the file; sqlite: the readings of one series — `series`
 * or, when NULL, the only one present) and keeps the configured variables (features S:
 * only the target).  Returns 0 or HZ_E* with a message naming the file / table. */
int hz_prepared_load(const hz_config *cfg, const hz_pipeline_conf *p, const char *series,
                     hz_prepared *d, char *err, size_t errlen);
/* Splits, fits the scaler on the train rows (or uses *scaler when not NULL: evaluation of a
 * checkpoint), scales, computes marks and windows for seq/label/pred lengths of mc.  A
 * disaggregation view (training/disagg.h) is split by hz_disagg_split. */
int hz_prepared_split(const hz_pipeline_conf *p, const hz_model_conf *mc, const hz_scaler *scaler,
                      hz_prepared *d, char *err, size_t errlen);
void hz_prepared_free(hz_prepared *d);

/* Sets w's target and known columns from p's model.data (features MS; known_tokens for
 * iTransformer), the columns being source.fields.values in order. */
void hz_windows_roles(const hz_pipeline_conf *p, hz_windows *w);

/* The model configuration of a pipeline for n_vars variables: with features MS, c_out 1
 * and out_col the target; iTransformer's enc_in counts one token per known variable. */
int hz_pipeline_model_conf(const hz_pipeline_conf *p, int n_vars, hz_model_conf *mc, char *err,
                           size_t errlen);

#endif
