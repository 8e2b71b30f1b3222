/* checkpoint.h — models to and from safetensors files (docs/ARCHITECTURE.md).
 * A checkpoint holds every parameter and buffer under its official state_dict name as F32,
 * and in __metadata__: "format" = "horizon-1", "model" = kind, "config" = the model
 * configuration as JSON, plus whatever the caller adds (scaler statistics, variable names,
 * period, metrics).  Files written by the PyTorch reference load too (hz_ckpt_load_weights). */
#ifndef HZ_CHECKPOINT_H
#define HZ_CHECKPOINT_H

#include <stddef.h>

#include "models/model.h"
#include "models/safetensors.h"

/* A tensor saved beside the weights (e.g. "calib.abs_residual_quantiles"); names must start
 * with "calib." so loaders know they are not parameters. */
typedef struct hz_ckpt_extra {
    const char *name;
    int ndim;
    int64_t shape[4];
    const float *data;
} hz_ckpt_extra;

/* Writes m to path atomically; refuses (HZ_EFORMAT, nothing written) a model with a NaN or
 * infinite weight.  meta: n_meta (key, value) string pairs; extra: n_extra
 * tensors; all borrowed. */
int hz_ckpt_save(const hz_model *m, const char *path, const char *const (*meta)[2], int n_meta,
                 const hz_ckpt_extra *extra, int n_extra, char *err, size_t errlen);

/* Opens path, rebuilds the model from its "config" metadata and loads its weights.
 * On success *out owns the model and, when file_out is not NULL, *file_out the open file
 * (for hz_st_meta; close it with hz_st_close).  Refuses a missing "config", an unknown kind,
 * a missing tensor, a dtype other than F32 and a shape that does not match the model; a
 * "config" whose sizes the file's tensors cannot hold (a window length beyond
 * HZ_CKPT_MAX_LEN, a width beyond the file's largest tensor dimension), before allocating;
 * and a weight that is NaN or infinite. */
#define HZ_CKPT_MAX_LEN 65536
int hz_ckpt_load(const char *path, hz_model **out, hz_st_file **file_out, char *err, size_t errlen);

/* Copies every parameter and buffer of m from f, by name.  Strict: a tensor m needs but f
 * lacks, or one in f that m does not know, is an error — except constant tables the
 * official models keep in their state_dict (position_embedding.pe, num_batches_tracked). */
int hz_ckpt_load_weights(hz_model *m, const hz_st_file *f, char *err, size_t errlen);

/* Length of path without its ".safetensors" ending (all of it when it has none): the stem
 * a file derived from a checkpoint puts its tag after ("x.safetensors" -> "x.TAG.safetensors";
 * training/trainer.c hz_repeat_path, training/disagg.c, cli/cmd_train.c). */
size_t hz_ckpt_stem(const char *path);

/* The model configuration as compact JSON (caller frees) and back. */
char *hz_model_conf_to_json(const hz_model_conf *c);
int hz_model_conf_from_json(const char *json, hz_model_conf *c, char *err, size_t errlen);

#endif
