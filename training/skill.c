/* skill.c — errors, NSE and KGE of the model and of the naive forecasts (skill.h).  One-pass
 * sums (Welford's updates, stable when a variable's mean is large against its spread), so a
 * test split is scored window by window without keeping its targets. */
#include "training/skill.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/hz.h"

const char *const hz_fc_name[HZ_FC_N] = {"model", "persistence", "window mean"};

void hz_moments_add(hz_moments *m, double obs, double sim, double obs_z, double sim_z)
{
    m->n += 1;
    double d_o = obs - m->mean_o, d_s = sim - m->mean_s;
    m->mean_o += d_o / m->n;
    m->mean_s += d_s / m->n;
    m->m2_o += d_o * (obs - m->mean_o);
    m->m2_s += d_s * (sim - m->mean_s);
    m->c_os += d_o * (sim - m->mean_s);
    m->se += (sim - obs) * (sim - obs);
    m->ae += fabs(sim - obs);
    m->se_z += (sim_z - obs_z) * (sim_z - obs_z);
    m->ae_z += fabs(sim_z - obs_z);
}

double hz_moments_nse(const hz_moments *m)
{
    return m->n > 0 && m->m2_o > 0 ? 1 - m->se / m->m2_o : NAN;
}

double hz_moments_kge(const hz_moments *m)
{
    if (!(m->n > 0 && m->m2_o > 0 && m->m2_s > 0 && m->mean_o != 0))
        return NAN;
    double r = m->c_os / sqrt(m->m2_o * m->m2_s);
    double alpha = sqrt(m->m2_s / m->m2_o); /* the ratio of the standard deviations */
    double beta = m->mean_s / m->mean_o;
    return 1 - sqrt((r - 1) * (r - 1) + (alpha - 1) * (alpha - 1) + (beta - 1) * (beta - 1));
}

int hz_skill_init(hz_skill *s, int pred_len, int vars, char *err, size_t errlen)
{
    *s = (hz_skill){.pred_len = pred_len, .vars = vars};
    s->m = calloc((size_t)HZ_FC_N * vars * pred_len + 1, sizeof *s->m);
    return s->m ? 0 : hz_err(err, errlen, HZ_ENOMEM, "skill: out of memory");
}

void hz_skill_free(hz_skill *s)
{
    free(s->m);
    s->m = NULL;
}

/* The sums of forecast fc, variable k, step t. */
static hz_moments *at(const hz_skill *s, int fc, int k, int t)
{
    return &s->m[((size_t)fc * s->vars + k) * s->pred_len + t];
}

/* Row r, table column c of w in original units. */
static double orig(const hz_windows *w, const hz_scaler *sc, int r, int c)
{
    return hz_scaler_inv(sc, c, w->data[(size_t)r * w->cols + c]);
}

double hz_naive_persistence(const hz_windows *w, const hz_scaler *sc, int i, int c)
{
    return orig(w, sc, hz_windows_start(w, i) + w->seq_len - 1, c);
}

double hz_naive_mean(const hz_windows *w, const hz_scaler *sc, int i, int c)
{
    int r0 = hz_windows_start(w, i);
    double sum = 0;
    for (int r = r0; r < r0 + w->seq_len; r++)
        sum += orig(w, sc, r, c);
    return sum / w->seq_len;
}

/* Window i's targets of output column k against the three forecasts. */
static void add_window_var(hz_skill *s, const hz_windows *w, const hz_scaler *sc, const float *pred,
                           int i, int k)
{
    int P = s->pred_len, O = s->vars, c = hz_windows_out_col(w, k);
    int r0 = hz_windows_start(w, i) + w->seq_len;
    double naive[2] = {hz_naive_persistence(w, sc, i, c), hz_naive_mean(w, sc, i, c)};
    double naive_z[2] = {hz_scaler_fwd(sc, c, naive[0]), hz_scaler_fwd(sc, c, naive[1])};
    for (int t = 0; t < P; t++) {
        double oz = w->data[(size_t)(r0 + t) * w->cols + c], o = hz_scaler_inv(sc, c, oz);
        double mz = pred[((size_t)i * P + t) * O + k];
        hz_moments_add(at(s, HZ_FC_MODEL, k, t), o, hz_scaler_inv(sc, c, mz), oz, mz);
        hz_moments_add(at(s, HZ_FC_PERSIST, k, t), o, naive[0], oz, naive_z[0]);
        hz_moments_add(at(s, HZ_FC_MEAN, k, t), o, naive[1], oz, naive_z[1]);
    }
}

void hz_skill_add(hz_skill *s, const hz_windows *w, const hz_scaler *sc, const float *pred, int n)
{
    for (int i = 0; i < n; i++)
        for (int k = 0; k < s->vars; k++)
            add_window_var(s, w, sc, pred, i, k);
    s->windows += n;
}

void hz_skill_get(const hz_skill *s, int fc, int k, int t, hz_skill_scores *out)
{
    int t0 = t < 0 ? 0 : t, t1 = t < 0 ? s->pred_len : t + 1;
    hz_moments sum = {0};
    double nse = 0, kge = 0;
    for (int j = t0; j < t1; j++) {
        const hz_moments *m = at(s, fc, k, j);
        sum.n += m->n;
        sum.se += m->se;
        sum.ae += m->ae;
        sum.se_z += m->se_z;
        sum.ae_z += m->ae_z;
        nse += hz_moments_nse(m) / (t1 - t0);
        kge += hz_moments_kge(m) / (t1 - t0);
    }
    double n = sum.n > 0 ? sum.n : NAN;
    *out = (hz_skill_scores){.mse_z = sum.se_z / n,
                             .mae_z = sum.ae_z / n,
                             .mse = sum.se / n,
                             .mae = sum.ae / n,
                             .nse = nse,
                             .kge = kge};
}

double hz_skill_score(double mse, double mse_naive)
{
    return mse_naive > 0 ? 1 - mse / mse_naive : NAN;
}

const char *hz_skill_fmt(char *buf, size_t len, double v, int prec, int sign)
{
    if (fabs(v) < 0.5 * pow(10, -prec))
        v = 0; /* not "-0.000" */
    if (isnan(v))
        snprintf(buf, len, "nan");
    else
        snprintf(buf, len, sign ? "%+.*f" : "%.*f", prec, v);
    return buf;
}
