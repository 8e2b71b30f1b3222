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

#endif
