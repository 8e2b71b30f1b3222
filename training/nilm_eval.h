/* nilm_eval.h — the scores of a disaggregation (NILM) backtest, as the NILMFormer protocol
 * computes them (docs/MODELS.md section 8.8): in watts, after every prediction below the
 * appliance's ON threshold is set to 0.
 *   MAE, MSE, RMSE
 *   NDE  = sum (p - y)^2 / sum y^2          (normalised disaggregation error)
 *   SAE  = |sum p - sum y| / sum y          (signal aggregate error)
 *   TECA = 1 - sum |p - y| / (2 sum |y|)    (total energy correctly assigned)
 *   MR   = sum min(p, y) / sum max(p, y)    (matching ratio)
 * and the ON/OFF states p > threshold against y > threshold: accuracy, balanced accuracy,
 * precision, recall, F1; balanced accuracy is the mean recall of the states present.  A
 * ratio whose denominator is 0 is NaN, except precision, recall and F1, which are 0 then (no
 * ON step predicted or present).
 *
 * Usage: hz_nilm_acc_init once, hz_nilm_acc_add for every stretch of steps (any order;
 * sums in double), hz_nilm_acc_scores at the end.  No allocation. */
#ifndef HZ_NILM_EVAL_H
#define HZ_NILM_EVAL_H

#include <stddef.h>
#include <stdint.h>

typedef struct hz_nilm_acc {
    double threshold;
    int64_t n;
    double abs_err, sq_err, sum_p, sum_y, sum_abs_y, sum_sq_y, sum_min, sum_max;
    int64_t tp, fp, tn, fn;
} hz_nilm_acc;

typedef struct hz_nilm_scores {
    int64_t n;
    double mae, mse, rmse, nde, sae, teca, mr;
    double accuracy, balanced_accuracy, precision, recall, f1;
} hz_nilm_scores;

/* threshold: the appliance's ON power, in the units of the values added (watts). */
void hz_nilm_acc_init(hz_nilm_acc *a, double threshold);
/* n predicted and true values of one stretch (borrowed); a prediction below the threshold
 * counts as 0. */
void hz_nilm_acc_add(hz_nilm_acc *a, const float *pred, const float *truth, size_t n);
void hz_nilm_acc_scores(const hz_nilm_acc *a, hz_nilm_scores *s);

#endif
