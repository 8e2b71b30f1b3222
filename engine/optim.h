/* optim.h — Adam / AdamW (bias-corrected, PyTorch semantics), gradient clipping by global
 * norm, learning-rate schedules and an early-stopping helper.  They work on an hz_params
 * store: trainable tensors only (buffers such as BatchNorm running stats are skipped). */
#ifndef HZ_OPTIM_H
#define HZ_OPTIM_H

#include "engine/tensor.h"

typedef struct hz_adam {
    double lr, beta1, beta2, eps, weight_decay;
    int decoupled;  /* 1: AdamW (decay applied to the weights), 0: Adam (L2 added to grad) */
    int64_t t;      /* steps taken */
    hz_real *m, *v; /* one block each, laid out like hz_params.data */
    int64_t numel;
} hz_adam;

/* Defaults: beta (0.9, 0.999), eps 1e-8 (torch.optim.Adam).  Returns 0 or HZ_ENOMEM.
 * p must be finalized. */
int hz_adam_init(hz_adam *o, const hz_params *p, double lr, double weight_decay, int decoupled);
/* One update of every trainable tensor of p from its .grad. */
void hz_adam_step(hz_adam *o, hz_params *p);
void hz_adam_free(hz_adam *o);

/* Scales all trainable gradients so their global L2 norm is at most max_norm
 * (torch.nn.utils.clip_grad_norm_).  Returns the norm before clipping. */
double hz_clip_grad_norm(hz_params *p, double max_norm);

/* Learning rate for 1-based epoch e, as the official Informer / iTransformer loops set it
 * (adjust_learning_rate(opt, e - 1) after epoch e - 1): "type1" = lr0 for epochs 1 and 2,
 * then halved every epoch, lr0 * 0.5^(e-2); cosine = lr0 * 0.5 (1 + cos(pi (e-1) / total)). */
double hz_lr_type1(double lr0, int epoch);
double hz_lr_cosine(double lr0, int epoch, int total_epochs);

/* Early stopping on a validation loss (lower is better). */
typedef struct hz_early_stop {
    int patience, bad_epochs;
    double best;
    int best_epoch;
} hz_early_stop;
void hz_early_stop_init(hz_early_stop *s, int patience);
/* Records epoch's loss.  Returns 1 when this is a new best (save a checkpoint), 0
 * otherwise; sets *stop when patience is exhausted. */
int hz_early_stop_update(hz_early_stop *s, int epoch, double val_loss, int *stop);

/* PyTorch's ReduceLROnPlateau in mode "min" with a relative threshold of 1e-4 and no
 * cooldown: an epoch improves when its loss is below best (1 - 1e-4); after more than
 * `patience` epochs in a row without improvement the rate is multiplied by `factor`
 * (a change smaller than eps is not made) and the count starts again. */
typedef struct hz_plateau {
    int patience, bad_epochs;
    double factor, eps, best;
} hz_plateau;
void hz_plateau_init(hz_plateau *s, int patience, double factor, double eps);
/* Records an epoch's loss; returns the learning rate for the next epoch given the current. */
double hz_plateau_step(hz_plateau *s, double val_loss, double lr);

#endif
