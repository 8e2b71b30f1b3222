/* skill.h — forecast skill on a test split (docs/MODELS.md, "Skill against naive
 * forecasts"): for every output variable and horizon step, the errors (scaled and in
 * original units), Nash-Sutcliffe efficiency and Kling-Gupta efficiency of the model's
 * forecasts and of two naive forecasts built from the same windows: persistence (every step
 * = the input window's last value) and window mean (every step = the mean of the input
 * window), so a score can be read against what a forecast that learnt nothing achieves. */
#ifndef HZ_SKILL_H
#define HZ_SKILL_H

#include <stddef.h>

#include "training/dataset.h"

/* The forecasts scored side by side. */
enum { HZ_FC_MODEL = 0, HZ_FC_PERSIST = 1, HZ_FC_MEAN = 2, HZ_FC_N = 3 };
extern const char *const hz_fc_name[HZ_FC_N]; /* "model", "persistence", "window mean" */

/* Running sums over the test windows of one (forecast, variable, step): Welford's means,
 * sums of squared deviations and co-moment of observed o and simulated s (original units),
 * and the sums of squared and absolute errors in original units and scaled (_z). */
typedef struct hz_moments {
    double n, mean_o, mean_s, m2_o, m2_s, c_os;
    double se, ae, se_z, ae_z;
} hz_moments;

/* Adds one target: obs and sim in original units, obs_z and sim_z scaled. */
void hz_moments_add(hz_moments *m, double obs, double sim, double obs_z, double sim_z);
/* 1 - sum (s - o)^2 / sum (o - mean o)^2; NaN when there are no targets or o is constant. */
double hz_moments_nse(const hz_moments *m);
/* Gupta et al. 2009: 1 - sqrt((r - 1)^2 + (alpha - 1)^2 + (beta - 1)^2), r the correlation,
 * alpha = sd s / sd o, beta = mean s / mean o; NaN when o or s is constant or mean o is 0. */
double hz_moments_kge(const hz_moments *m);

/* One forecast's scores on one variable, at one step or over all of them. */
typedef struct hz_skill_scores {
    double mse_z, mae_z; /* scaled, as the papers report */
    double mse, mae;     /* original units */
    double nse, kge;     /* original units */
} hz_skill_scores;

/* The sums of every (forecast, variable, step) of one series' test windows. */
typedef struct hz_skill {
    int pred_len, vars; /* vars: the model's output columns (hz_windows_out_cols) */
    int windows;        /* windows added */
    hz_moments *m;      /* [HZ_FC_N][vars][pred_len], owned (hz_skill_free) */
} hz_skill;

/* Sizes s for pred_len steps of vars variables, every sum zero.  Returns 0 or HZ_ENOMEM. */
int hz_skill_init(hz_skill *s, int pred_len, int vars, char *err, size_t errlen);
void hz_skill_free(hz_skill *s);

/* The naive forecasts of window i of w for table column c, in original units (sc undoes
 * the scaling of w->data): the input window's last value, and its mean. */
double hz_naive_persistence(const hz_windows *w, const hz_scaler *sc, int i, int c);
double hz_naive_mean(const hz_windows *w, const hz_scaler *sc, int i, int c);

/* Adds windows 0..n-1 of w: pred holds the model's forecasts (scaled, as hz_evaluate writes
 * them) laid out [n, pred_len, out_cols]; the naive forecasts are computed here.  Allocates
 * nothing.  s must be sized for w (pred_len, hz_windows_out_cols). */
void hz_skill_add(hz_skill *s, const hz_windows *w, const hz_scaler *sc, const float *pred, int n);

/* Forecast fc's scores on variable k (output column) at step t (0-based), or, with t = -1,
 * over every step: errors averaged over every (window, step) target, NSE and KGE the mean of
 * the steps' values (a NaN step makes them NaN). */
void hz_skill_get(const hz_skill *s, int fc, int k, int t, hz_skill_scores *out);

/* 1 - mse / mse_naive: the share of the naive forecast's squared error the model removes
 * (1 perfect, 0 no better, negative worse); NaN when mse_naive is 0. */
double hz_skill_score(double mse, double mse_naive);

/* v printed with prec decimals into buf, "nan" for a NaN of either sign (printf writes
 * "-nan" for some), a value that rounds to 0 as 0 (not "-0.000"); with sign, positive
 * numbers and 0 get a "+".  Returns buf. */
const char *hz_skill_fmt(char *buf, size_t len, double v, int prec, int sign);

#endif
