/* prepare.c — pipeline configuration -> tables, model config, windows (prepare.h).
 * The split, scaling and marks follow the papers' protocol (docs/MODELS.md). */
#include "training/prepare.h"

#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/csv.h"
#include "connectors/reading_check.h"
#include "common/hz.h"
#include "models/layers.h"
#include "training/disagg.h"

void hz_prepared_free(hz_prepared *d)
{
    if (!d)
        return;
    free(d->table.ts_ms);
    free(d->table.values);
    hz_names_free(d->names, d->table.cols);
    free(d->scaled);
    free(d->marks);
    free(d->stretch);
    for (int s = 0; s < 3; s++)
        free(d->starts[s]);
    memset(d, 0, sizeof *d);
}

/* Index of the target among the configured variables (default: the last). */
static int target_index(const hz_pipeline_conf *p)
{
    const char *t = p->model.data.target;
    if (t && *t)
        for (size_t i = 0; i < p->source.fields.n_values; i++)
            if (!strcmp(p->source.fields.values[i], t))
                return (int)i;
    return (int)p->source.fields.n_values - 1;
}

static int load_csv(const hz_pipeline_conf *p, hz_prepared *d, char *err, size_t errlen)
{
    if (p->source.csv.series && !*p->source.csv.series) /* config/config_schema.c */
        return hz_err(err, errlen, HZ_EINVAL,
                      "pipeline %s: %s holds several series (column \"%s\"); training reads "
                      "one series from a CSV file: import it (horizon import --series-column) "
                      "and train from SQLite",
                      p->name, p->source.csv.path, p->source.fields.series);
    hz_csv_opts o = {0};
    o.time_column = p->source.fields.time;
    o.columns = (const char *const *)p->source.fields.values;
    o.ncolumns = (int)p->source.fields.n_values;
    if (p->source.csv.delimiter && *p->source.csv.delimiter)
        o.delimiter = p->source.csv.delimiter[0];
    o.date_order = p->source.csv.date_order;
    o.glob = 1; /* source.csv.path may name several files (config/config_schema.c) */
    hz_csv_table *t;
    int rc = hz_csv_load(p->source.csv.path, &o, &t, err, errlen);
    if (rc)
        return rc;
    d->table.rows = (int)t->rows;
    d->table.cols = t->cols;
    d->table.ts_ms = malloc(t->rows * sizeof(int64_t));
    d->table.values = malloc(t->rows * (size_t)t->cols * sizeof(float));
    d->names = calloc((size_t)t->cols, sizeof(char *));
    if (!d->table.ts_ms || !d->table.values || !d->names) {
        hz_csv_table_free(t);
        return hz_err(err, errlen, HZ_ENOMEM, "out of memory loading %s", p->source.csv.path);
    }
    memcpy(d->table.ts_ms, t->ts_ms, t->rows * sizeof(int64_t));
    for (size_t i = 0; i < t->rows * (size_t)t->cols; i++)
        d->table.values[i] = (float)t->values[i];
    for (int c = 0; c < t->cols; c++)
        d->names[c] = strdup(t->names[c]);
    hz_csv_table_free(t);
    return 0;
}

/* The one series of table, into out; HZ_EINVAL asking for --series when the table holds
 * several or none. */
static int only_series(sqlite3 *db, const char *path, const char *table, char *out, size_t outlen,
                       char *err, size_t errlen)
{
    char sql[512];
    sqlite3_stmt *st = NULL;
    snprintf(sql, sizeof sql, "SELECT DISTINCT series FROM %s LIMIT 2", table);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return hz_err(err, errlen, HZ_EDB, "%s: %s", path, sqlite3_errmsg(db));
    int n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n++ == 0)
            snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    if (n != 1)
        return hz_err(err, errlen, HZ_EINVAL,
                      "%s: table %s holds %s series; name one with --series", path, table,
                      n ? "several" : "no");
    return 0;
}

/* Keeps rows [a, b) of d->table (those from the first with every variable to the last). */
static void keep_rows(hz_prepared *d, int nv, size_t a, size_t b)
{
    memmove(d->table.ts_ms, d->table.ts_ms + a, (b - a) * sizeof *d->table.ts_ms);
    memmove(d->table.values, d->table.values + a * nv, (b - a) * nv * sizeof *d->table.values);
    d->table.rows = (int)(b - a);
}

/* The rows from the first timestamp holding every variable to the last one (d->edge_rows
 * counts the rest); a variable missing at a timestamp in between takes the previous row's
 * value (d->carried counts them). */
static void complete_rows(hz_prepared *d, int nv, const unsigned char *seen, size_t rows)
{
    size_t a = 0, b = rows;
    while (a < rows && memchr(seen + a * nv, 0, (size_t)nv))
        a++;
    while (b > a && memchr(seen + (b - 1) * nv, 0, (size_t)nv))
        b--;
    for (size_t r = a + 1; r < b; r++)
        for (int i = 0; i < nv; i++)
            if (!seen[r * nv + i]) {
                d->table.values[r * nv + i] = d->table.values[(r - 1) * nv + i];
                d->carried++;
            }
    d->edge_rows = (int)(rows - (b - a));
    keep_rows(d, nv, a, b);
}

/* Whether the row (ts, variable, value) breaks the rules every source applies
 * (connectors/reading_check.h, source.max_future included) or has a NULL value: counted in
 * d->refused (the first reason kept), and left out, as the daemon refuses it and a NULL would read
 * as 0. */
static int refused_row(sqlite3_stmt *st, int64_t ts, int64_t max_future_ms, hz_prepared *d)
{
    char why[200];
    int bad = sqlite3_column_type(st, 2) == SQLITE_NULL;
    if (bad)
        snprintf(why, sizeof why, "value is NULL");
    else
        bad = hz_check_ts(ts, max_future_ms, hz_now_ms(), why, sizeof why) ||
              hz_check_value(sqlite3_column_double(st, 2), why, sizeof why);
    if (bad && d->refused++ == 0)
        snprintf(d->refused_why, sizeof d->refused_why, "ts %lld: %s", (long long)ts, why);
    return bad;
}

/* Steps st (rows of ts, variable, value ordered by ts) into d->table, one row per
 * timestamp, then complete_rows.  Returns SQLITE_DONE, or the failing step's code. */
static int pivot_rows(sqlite3_stmt *st, const hz_pipeline_conf *p, hz_prepared *d)
{
    int nv = (int)p->source.fields.n_values, rc;
    size_t cap = 1024, rows = 0;
    d->table.ts_ms = malloc(cap * sizeof(int64_t));
    d->table.values = malloc(cap * (size_t)nv * sizeof(float));
    unsigned char *seen = malloc(cap * (size_t)nv);
    int64_t cur = INT64_MIN;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t ts = sqlite3_column_int64(st, 0);
        const char *var = (const char *)sqlite3_column_text(st, 1);
        int k = -1;
        for (int i = 0; i < nv && var; i++)
            if (!strcmp(var, p->source.fields.values[i]))
                k = i;
        if (k < 0 || refused_row(st, ts, p->source.max_future_ms, d))
            continue;
        if (ts != cur) {
            if (rows == cap) {
                cap *= 2;
                d->table.ts_ms = realloc(d->table.ts_ms, cap * sizeof(int64_t));
                d->table.values = realloc(d->table.values, cap * (size_t)nv * sizeof(float));
                seen = realloc(seen, cap * (size_t)nv);
            }
            memset(seen + rows * nv, 0, (size_t)nv);
            for (int i = 0; i < nv; i++)
                d->table.values[rows * nv + i] = NAN;
            d->table.ts_ms[rows++] = ts;
            cur = ts;
        }
        d->table.values[(rows - 1) * nv + k] = (float)sqlite3_column_double(st, 2);
        seen[(rows - 1) * nv + k] = 1;
    }
    complete_rows(d, nv, seen, rows);
    free(seen);
    return rc;
}

/* Readings of one series pivoted to one row per timestamp; a variable missing at a
 * timestamp takes its previous value. */
static int load_sqlite(const hz_pipeline_conf *p, const char *series, hz_prepared *d, char *err,
                       size_t errlen)
{
    const char *path = p->source.sqlite.path, *table = p->source.sqlite.table;
    int nv = (int)p->source.fields.n_values;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char sql[512];
    int rc = 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        rc = hz_err(err, errlen, HZ_EDB, "%s: %s", path, sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_busy_timeout(db, 5000);
    char one[256] = "";
    if (!series) {
        if ((rc = only_series(db, path, table, one, sizeof one, err, errlen)))
            goto out;
        series = one;
    }
    snprintf(sql, sizeof sql,
             "SELECT ts, variable, value FROM %s WHERE series = ?1 ORDER BY ts, variable", table);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = hz_err(err, errlen, HZ_EDB, "%s: %s", path, sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_bind_text(st, 1, series, -1, SQLITE_TRANSIENT);
    if (pivot_rows(st, p, d) != SQLITE_DONE) {
        rc = hz_err(err, errlen, HZ_EDB, "%s: %s", path, sqlite3_errmsg(db));
        goto out;
    }
    d->table.cols = nv;
    d->names = calloc((size_t)nv, sizeof(char *));
    for (int i = 0; i < nv; i++)
        d->names[i] = strdup(p->source.fields.values[i]);
    if (d->table.rows == 0)
        rc =
            hz_err(err, errlen, HZ_EINVAL,
                   "%s: series %s has no timestamp with a reading of every variable", path, series);
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

static int regularise(const hz_pipeline_conf *p, hz_prepared *d);

int hz_prepared_load(const hz_config *cfg, const hz_pipeline_conf *p, const char *series,
                     hz_prepared *d, char *err, size_t errlen)
{
    (void)cfg;
    memset(d, 0, sizeof *d);
    int rc;
    if (p->source.kind == HZ_CFG_SOURCE_CSV)
        rc = load_csv(p, d, err, errlen);
    else if (p->source.kind == HZ_CFG_SOURCE_SQLITE)
        rc = load_sqlite(p, series, d, err, errlen);
    else
        return hz_err(err, errlen, HZ_EINVAL,
                      "pipeline %s: training reads a csv or sqlite source; this one is kafka "
                      "(import its history into SQLite first)",
                      p->name);
    if (rc) {
        hz_prepared_free(d);
        return rc;
    }
    if (p->model.data.features == HZ_CFG_FEATURES_S && d->table.cols > 1) {
        int k = target_index(p);
        for (int r = 0; r < d->table.rows; r++)
            d->table.values[r] = d->table.values[(size_t)r * d->table.cols + k];
        char *keep = d->names[k];
        d->names[k] = NULL;
        hz_names_free(d->names, d->table.cols);
        d->names = malloc(sizeof(char *));
        d->names[0] = keep;
        d->table.cols = 1;
    }
    if (regularise(p, d)) {
        hz_prepared_free(d);
        return hz_err(err, errlen, HZ_ENOMEM, "pipeline %s: out of memory", p->name);
    }
    return 0;
}

void hz_windows_roles(const hz_pipeline_conf *p, hz_windows *w)
{
    const hz_cfg_data *dc = &p->model.data;
    w->target = dc->features == HZ_CFG_FEATURES_MS ? target_index(p) : -1;
    w->n_known = 0;
    w->known_tokens = p->model.kind == HZ_CFG_MODEL_ITRANSFORMER;
    for (size_t k = 0; k < dc->n_known && w->target >= 0; k++)
        for (size_t i = 0; i < p->source.fields.n_values && w->n_known < HZ_DS_MAXVARS; i++)
            if (!strcmp(p->source.fields.values[i], dc->known[k]))
                w->known[w->n_known++] = (int)i;
}

/* Slots missing between rows i - 1 and i of t on a grid of per ms. */
static int64_t missing_slots(const hz_table *t, int i, int64_t per)
{
    int64_t d = t->ts_ms[i] - t->ts_ms[i - 1];
    return d > per ? d / per - 1 : 0;
}

/* Row r of the regular table: the k-th of m filled slots after row a, towards row b. */
static void fill_row(float *dst, const float *a, const float *b, int cols, int k, int64_t m,
                     int linear)
{
    for (int c = 0; c < cols; c++)
        dst[c] = linear ? a[c] + (b[c] - a[c]) * (float)(k + 1) / (float)(m + 1) : a[c];
}

/* Puts d->table on the window's grid: a hole of at most window.max_gap periods is filled by
 * window.fill (none: not filled), a longer one starts a new stretch (d->stretch); counted in
 * d->filled, d->holes, d->hole_slots.  Returns 0 or HZ_ENOMEM. */
static int regularise(const hz_pipeline_conf *p, hz_prepared *d)
{
    hz_table *t = &d->table;
    int64_t per = p->window.period_ms, maxg = p->window.max_gap, rows = t->rows;
    int fill = p->window.fill != HZ_CFG_FILL_NONE, C = t->cols;
    if (per <= 0 || t->rows < 2)
        return 0;
    for (int i = 1; i < t->rows; i++) {
        int64_t m = missing_slots(t, i, per);
        rows += m && m <= maxg && fill ? m : 0;
    }
    int64_t *ts = malloc((size_t)rows * sizeof *ts);
    float *v = malloc((size_t)rows * C * sizeof *v);
    d->stretch = malloc((size_t)t->rows * sizeof *d->stretch);
    if (!ts || !v || !d->stretch) {
        free(ts);
        free(v);
        return HZ_ENOMEM;
    }
    int r = 0;
    for (int i = 0; i < t->rows; i++) {
        int64_t m = i ? missing_slots(t, i, per) : 0;
        if (m && m <= maxg && fill) {
            for (int k = 0; k < m; k++, r++) {
                ts[r] = t->ts_ms[i - 1] + (k + 1) * per;
                fill_row(v + (size_t)r * C, t->values + (size_t)(i - 1) * C,
                         t->values + (size_t)i * C, C, k, m, p->window.fill == HZ_CFG_FILL_LINEAR);
            }
            d->filled += (int)m;
        } else if (m) {
            d->stretch[d->n_stretch++] = r;
            d->holes++;
            d->hole_slots += m;
        }
        ts[r] = t->ts_ms[i];
        memcpy(v + (size_t)r * C, t->values + (size_t)i * C, (size_t)C * sizeof *v);
        r++;
    }
    free(t->ts_ms);
    free(t->values);
    t->ts_ms = ts;
    t->values = v;
    t->rows = r;
    return 0;
}

/* With stretches: split s's windows are those inside one stretch (d->starts[s]). */
static int stretch_windows(hz_prepared *d, int s)
{
    hz_windows *w = &d->win[s];
    if (!d->n_stretch || w->count < 1)
        return 0;
    int span = w->seq_len + w->pred_len, n = 0, j = 0;
    if (!(d->starts[s] = malloc((size_t)w->count * sizeof(int))))
        return HZ_ENOMEM;
    for (int i = 0; i < w->count; i++) {
        int a = w->begin + i;
        while (j < d->n_stretch && d->stretch[j] <= a)
            j++; /* the first stretch start after a */
        if (j == d->n_stretch || d->stretch[j] >= a + span)
            d->starts[s][n++] = a;
    }
    w->starts = d->starts[s];
    w->count = n;
    return 0;
}

/* Columns whose variable says `transform: log1p` are modelled in log1p space. */
static void set_log1p(const hz_pipeline_conf *p, hz_prepared *d)
{
    memset(d->scaler.log1p, 0, sizeof d->scaler.log1p);
    for (int c = 0; c < d->table.cols && c < HZ_DS_MAXVARS; c++) {
        hz_cfg_rules r;
        int tf, ex;
        hz_config_rules_for(p, d->names[c], NULL, &r, &tf, &ex);
        d->scaler.log1p[c] = tf == HZ_CFG_TF_LOG1P;
    }
}

int hz_prepared_split(const hz_pipeline_conf *p, const hz_model_conf *mc, const hz_scaler *scaler,
                      hz_prepared *d, char *err, size_t errlen)
{
    const hz_table *t = &d->table;
    if (p->model.task == HZ_CFG_TASK_DISAGGREGATE)
        return hz_disagg_split(p, mc, scaler, d, err, errlen);
    /* mc may be a checkpoint's (cli/cmd_eval.c): the decoder's known steps must lie inside the
     * window (hz_windows_batch copies them from before the forecast) */
    if (mc->label_len < 0 || mc->label_len > mc->seq_len || mc->n_marks < 0)
        return hz_err(err, errlen, HZ_EINVAL,
                      "model: label_len %d outside 0..seq_len %d, or %d calendar features",
                      mc->label_len, mc->seq_len, mc->n_marks);
    const double *ratios = p->model.data.n_ratios == 3 ? p->model.data.ratios : NULL;
    double def[3] = {0.7, 0.1, 0.2};
    hz_split_kind kind = p->model.data.split == HZ_CFG_SPLIT_ETT_HOUR     ? HZ_SPLIT_ETT_HOUR
                         : p->model.data.split == HZ_CFG_SPLIT_ETT_MINUTE ? HZ_SPLIT_ETT_MINUTE
                                                                          : HZ_SPLIT_RATIO;
    int rc = hz_split_borders(kind, ratios ? ratios : def, t->rows, mc->seq_len, d->begin, d->end,
                              err, errlen);
    if (rc)
        return rc;
    if (scaler) {
        d->scaler = *scaler;
    } else {
        set_log1p(p, d);
        if (p->model.data.scale)
            hz_scaler_fit(&d->scaler, t, d->begin[0], d->end[0]);
        else {
            d->scaler.cols = t->cols;
            for (int c = 0; c < t->cols; c++) {
                d->scaler.mean[c] = 0;
                d->scaler.std[c] = 1;
            }
        }
    }
    if (d->scaler.cols != t->cols)
        return hz_err(err, errlen, HZ_EINVAL, "scaler has %d variables, the data %d",
                      d->scaler.cols, t->cols);
    d->scaled = malloc((size_t)t->rows * t->cols * sizeof(float));
    if (!d->scaled)
        return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
    hz_scaler_apply(&d->scaler, t->values, d->scaled, (size_t)t->rows);
    d->n_marks = mc->n_marks;
    if (d->n_marks) {
        d->marks = malloc((size_t)t->rows * d->n_marks * sizeof(float));
        if (!d->marks)
            return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
        for (int r = 0; r < t->rows; r++)
            hz_timef(d->n_marks, t->ts_ms[r], d->marks + (size_t)r * d->n_marks);
    }
    for (int s = 0; s < 3; s++) {
        hz_windows_init(&d->win[s], d->scaled, d->marks, t->cols, d->n_marks, d->begin[s],
                        d->end[s], mc->seq_len, mc->label_len, mc->pred_len);
        hz_windows_roles(p, &d->win[s]);
        if (stretch_windows(d, s))
            return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
    }
    return 0;
}

/* NILMFormer's own fields: TimeRPE marks (hz_timef with 8 features), its dilations; the
 * official disaggregation model on one appliance's view (training/disagg.h: the aggregate
 * in, the appliance out over the same window.lookback steps), else the forecasting variant
 * (docs/MODELS.md section 8.7). */
static int nilmformer_conf(const hz_pipeline_conf *p, hz_model_conf *mc, char *err, size_t errlen)
{
    const hz_cfg_model_params *q = &p->model.params;
    int disagg = p->model.task == HZ_CFG_TASK_DISAGGREGATE;
    if (disagg && p->source.fields.n_values != 2)
        return hz_err(err, errlen, HZ_EINVAL,
                      "pipeline %s: disaggregation trains one appliance at a time "
                      "(training/disagg.h hz_disagg_view_init)",
                      p->name);
    if (!q->use_marks || q->c_embedding != HZ_TIMERPE_FEATURES)
        return hz_err(err, errlen, HZ_EINVAL,
                      "pipeline %s: nilmformer reads the %d TimeRPE channels of the timestamps: "
                      "model.params.use_marks must be true and c_embedding %d (got %s, %d)",
                      p->name, HZ_TIMERPE_FEATURES, HZ_TIMERPE_FEATURES,
                      q->use_marks ? "true" : "false", q->c_embedding);
    if (q->n_dilations < 1 || q->n_dilations > HZ_MAX_DILATIONS)
        return hz_err(err, errlen, HZ_EINVAL, "pipeline %s: model.params.dilations: 1..%d values",
                      p->name, HZ_MAX_DILATIONS);
    mc->forecast = !disagg;
    mc->stats_mu = q->stats_mu;
    if (disagg) {
        mc->pred_len = mc->seq_len;
        mc->label_len = 0;
        mc->enc_in = mc->c_out = 1;
        mc->out_col = 0;
    }
    mc->n_marks = HZ_TIMERPE_FEATURES;
    mc->n_dilations = (int)q->n_dilations;
    for (size_t i = 0; i < q->n_dilations; i++)
        mc->dilations[i] = q->dilations[i];
    if (q->plain) { /* the baseline as wide as NILMFormer of these params is large */
        if (!disagg)
            return hz_err(err, errlen, HZ_EINVAL,
                          "pipeline %s: model.params.plain goes with task disaggregate", p->name);
        mc->plain = 1;
        mc->d_ff = hz_nilmformer_plain_d_ff(mc);
    }
    return 0;
}

int hz_pipeline_model_conf(const hz_pipeline_conf *p, int n_vars, hz_model_conf *mc, char *err,
                           size_t errlen)
{
    hz_model_kind kind = p->model.kind == HZ_CFG_MODEL_INFORMER       ? HZ_MODEL_INFORMER
                         : p->model.kind == HZ_CFG_MODEL_ITRANSFORMER ? HZ_MODEL_ITRANSFORMER
                                                                      : HZ_MODEL_NILMFORMER;
    hz_model_conf_defaults(mc, kind);
    const hz_cfg_model_params *q = &p->model.params;
    mc->seq_len = p->window.lookback;
    mc->pred_len = p->window.horizon;
    mc->label_len = p->window.label_len;
    mc->enc_in = mc->c_out = n_vars;
    hz_windows roles;
    hz_windows_roles(p, &roles);
    if (roles.target >= 0) {
        mc->c_out = 1;
        mc->out_col = roles.target;
        if (roles.known_tokens)
            mc->enc_in += roles.n_known;
    }
    mc->n_marks = q->use_marks ? hz_timef_features(p->window.period_ms) : 0;
    mc->d_model = q->d_model;
    mc->n_heads = q->n_heads;
    mc->e_layers = q->e_layers;
    mc->d_layers = q->d_layers;
    mc->d_ff = q->d_ff;
    mc->factor = q->factor;
    mc->dropout = q->dropout;
    mc->attn_full = q->attn == HZ_CFG_ATTN_FULL;
    mc->distil = q->distil;
    mc->mix = q->mix;
    mc->use_norm = q->use_norm;
    mc->norm_last = q->norm_centre == 1;
    mc->activation = HZ_ACT_GELU;
    mc->seed = (uint64_t)p->model.train.seed;
    if (kind == HZ_MODEL_NILMFORMER) {
        int rc = nilmformer_conf(p, mc, err, errlen);
        if (rc)
            return rc;
    }
    if (mc->d_model % mc->n_heads)
        return hz_err(err, errlen, HZ_EINVAL,
                      "pipeline %s: model.params.d_model %d must be a multiple of n_heads %d",
                      p->name, mc->d_model, mc->n_heads);
    return 0;
}
