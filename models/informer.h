/* informer.h — Informer-specific entry points beyond the model interface (model.h):
 * encoder-only forward (benchmarks), replay of recorded ProbSparse key tables (parity
 * tests) and the queries the last forward selected. */
#ifndef HZ_INFORMER_H
#define HZ_INFORMER_H

#include <stddef.h>
#include <stdint.h>

#include "models/model.h"

/* Number of ProbSparse layers (0 with attn_full): encoder layers, then decoder layers. */
int hz_informer_n_prob_layers(const hz_model *m);
/* Shape of ProbSparse layer i's key table [L_Q, U_part] and its selection size u. */
void hz_informer_prob_shape(const hz_model *m, int i, int *L_Q, int *U_part, int *u);

/* Pins the key tables used by every later forward (instead of drawing them): tables[i] is
 * layer i's [L_Q, U_part] table (row-major, copied).  tables == NULL returns to drawing.
 * Returns 0 or HZ_EINVAL (wrong count, message in err) — values outside [0, L_K) are refused. */
int hz_informer_set_index_tables(hz_model *m, const int64_t *const *tables, int n, char *err,
                                 size_t errlen);

/* Queries selected by ProbSparse layer i in the last forward: [B, H, u] ascending, memory of
 * that forward's context (valid until its next reset); NULL before any forward. */
const int32_t *hz_informer_top_queries(const hz_model *m, int i);

/* Encoder only (embedding, layers, distilling, final LayerNorm): x [B, seq_len, enc_in],
 * x_mark [B, seq_len, n_marks] or NULL -> [B, L_enc, d_model] in the arena of c. */
hz_tensor *hz_informer_encode(hz_model *m, hz_ctx *c, int batch, const hz_real *x,
                              const hz_real *x_mark);

#endif
