/* nilm_eval.c — disaggregation scores (nilm_eval.h). */
#include "training/nilm_eval.h"

#include <math.h>
#include <string.h>

void hz_nilm_acc_init(hz_nilm_acc *a, double threshold)
{
    memset(a, 0, sizeof *a);
    a->threshold = threshold;
}

void hz_nilm_acc_add(hz_nilm_acc *a, const float *pred, const float *truth, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double y = truth[i], p = pred[i] < a->threshold ? 0.0 : pred[i], d = p - y;
        a->abs_err += fabs(d);
        a->sq_err += d * d;
        a->sum_p += p;
        a->sum_y += y;
        a->sum_abs_y += fabs(y);
        a->sum_sq_y += y * y;
        a->sum_min += p < y ? p : y;
        a->sum_max += p > y ? p : y;
        int on_p = p > a->threshold, on_y = y > a->threshold;
        a->tp += on_p && on_y;
        a->fp += on_p && !on_y;
        a->fn += !on_p && on_y;
        a->tn += !on_p && !on_y;
    }
    a->n += (int64_t)n;
}

/* num / den, NaN when den is 0 */
static double ratio(double num, double den)
{
    return den != 0 ? num / den : NAN;
}

/* num / den, 0 when den is 0 */
static double ratio0(double num, double den)
{
    return den != 0 ? num / den : 0.0;
}

void hz_nilm_acc_scores(const hz_nilm_acc *a, hz_nilm_scores *s)
{
    double n = (double)a->n;
    s->n = a->n;
    s->mae = ratio(a->abs_err, n);
    s->mse = ratio(a->sq_err, n);
    s->rmse = sqrt(s->mse);
    s->nde = ratio(a->sq_err, a->sum_sq_y);
    s->sae = ratio(fabs(a->sum_p - a->sum_y), a->sum_y);
    s->teca = 1.0 - ratio(a->abs_err, 2.0 * a->sum_abs_y);
    s->mr = ratio(a->sum_min, a->sum_max);
    double tp = (double)a->tp, fp = (double)a->fp, tn = (double)a->tn, fn = (double)a->fn;
    s->accuracy = ratio(tp + tn, n);
    /* the mean recall of the classes present (one class only: its recall) */
    double r_on = ratio(tp, tp + fn), r_off = ratio(tn, tn + fp);
    s->balanced_accuracy = isnan(r_on) ? r_off : isnan(r_off) ? r_on : (r_on + r_off) / 2;
    s->precision = ratio0(tp, tp + fp);
    s->recall = ratio0(tp, tp + fn);
    s->f1 = ratio0(2 * s->precision * s->recall, s->precision + s->recall);
}
