/* disagg.h — the disaggregation (NILM) data path of NILMFormer's protocol (docs/MODELS.md
 * section 8.9): a pipeline with `model.task: disaggregate` estimates each appliance of
 * model.data.appliances from the one aggregate variable of its source, one model each.
 *
 *   - hz_disagg_view turns the pipeline into what training sees for one appliance: the
 *     source's values become [aggregate, appliance] (the appliance is a column of the
 *     training data, absent from a live meter stream), the target is the appliance, the
 *     checkpoint `<checkpoint stem>.<appliance>.safetensors`.  training/trainer.c, `horizon
 *     train / eval` take the view as the pipeline.
 *   - hz_disagg_split (called by hz_prepared_split for such a view): both columns divided by
 *     one power (model.data.max_power, else the training split's largest aggregate), the
 *     splits' rows cut into non-overlapping windows of window.lookback steps from each
 *     split's first row, a window that spans a hole of the history or holds a value that is
 *     not finite skipped; TimeRPE marks.
 *   - hz_disagg_backtest scores a model and the constant training-mean estimate on a split
 *     with training/nilm_eval.h, in watts, after the ON threshold. */
#ifndef HZ_DISAGG_H
#define HZ_DISAGG_H

#include <stddef.h>

#include "config/config.h"
#include "models/model.h"
#include "training/nilm_eval.h"
#include "training/prepare.h"

/* One appliance's view of a disaggregation pipeline.  p borrows every string and array of
 * the pipeline but values and checkpoint, which live in the view; the view must outlive
 * its uses and the pipeline must outlive the view. */
typedef struct hz_disagg_view {
    hz_pipeline_conf p;
    char *values[2]; /* aggregate, appliance */
    char checkpoint[1100];
} hz_disagg_view;

/* The index of the appliance called name in p's model.data.appliances, or -1. */
int hz_disagg_find(const hz_pipeline_conf *p, const char *name);
/* Fills v for appliance i of p (a disaggregation pipeline).  Returns 0 or HZ_EINVAL when i
 * is out of range or the checkpoint path is too long (message in err). */
int hz_disagg_view_init(const hz_pipeline_conf *p, int i, hz_disagg_view *v, char *err,
                        size_t errlen);
/* "x.safetensors" -> "x.<appliance>.safetensors" (any other name: "<ckpt>.<appliance>"). */
void hz_disagg_checkpoint(const char *ckpt, const char *appliance, char *out, size_t n);
/* Where the plain-transformer baseline of a pipeline with checkpoint ckpt lives (docs/
 * MODELS.md section 8.10): "x.safetensors" -> "x.plain.safetensors" (any other name:
 * "<ckpt>.plain"), so that appliance A's is x.plain.A.safetensors.  `horizon train --plain`
 * writes there, `horizon eval` scores it beside the model when it exists. */
void hz_disagg_plain_checkpoint(const char *ckpt, char *out, size_t n);

/* Scaling, marks and windows of d (loaded from a view) for mc (seq_len = pred_len = W);
 * scaler NULL fits it (max-scaling), else it is the checkpoint's.  Sets d->scaler, scaled,
 * marks, begin/end (each split's own rows, not overlapping), win[3] and starts[3],
 * gap_windows[3] and train_mean.  With model.data.zero_is_gap an aggregate of 0 becomes NaN
 * first (d->zero_rows counts them), so its windows are gaps.  Returns 0 or HZ_E* (message in
 * err). */
int hz_disagg_split(const hz_pipeline_conf *p, const hz_model_conf *mc, const hz_scaler *scaler,
                    hz_prepared *d, char *err, size_t errlen);

/* The checkpoint's "disaggregate" metadata of a view trained on d: aggregate, appliance,
 * on_threshold, max_power, train_mean (watts).  JSON text the caller frees; NULL: no
 * memory. */
char *hz_disagg_meta_json(const hz_pipeline_conf *view, const hz_prepared *d);

/* Scores of one split: the model's estimates and the constant `base` watts, both after the
 * threshold. */
typedef struct hz_disagg_result {
    int windows;
    hz_nilm_scores model, base;
} hz_disagg_result;

/* Runs m (eval mode) over every window of w (batch windows at a time) and scores it in
 * watts against the target column (scaler sc, its column w->target) with threshold.
 * Returns 0 or HZ_ENOMEM. */
int hz_disagg_backtest(hz_model *m, const hz_windows *w, const hz_scaler *sc, int batch,
                       double threshold, double base, hz_disagg_result *res);

#endif
