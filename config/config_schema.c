/* config_schema.c — every configuration key of horizon: name, type, default, bounds and
 * meaning, in one table that drives parsing, defaults, validation, the SIGHUP comparison and
 * docs/CONFIG.md (redis's config-table habit; docs/ARCHITECTURE.md).
 * Model defaults are the papers' (Informer, iTransformer, NILMFormer) and the data protocol
 * is theirs too, both in docs/MODELS.md.  Cross-field rules that one row
 * cannot say (label_len <= lookback, names unique, ...) are the check functions below. */
#include "config/config_schema.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hz.h"

#define O(st, f) .off = offsetof(st, f)
#define N(st, f) .noff = offsetof(st, f)
#define KI       (1u << HZ_CFG_MODEL_INFORMER)
#define KT       (1u << HZ_CFG_MODEL_ITRANSFORMER)
#define KN       (1u << HZ_CFG_MODEL_NILMFORMER)
#define BIG      1e300
#define DAY_MS   86400000.0
#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

static const char *const log_levels[] = {"err", "warning", "notice", "info", "debug", NULL};
static const int log_level_vals[] = {HZ_LOG_ERR, HZ_LOG_WARN, HZ_LOG_NOTICE, HZ_LOG_INFO,
                                     HZ_LOG_DEBUG};
static const char *const time_formats[] = {"auto", "iso8601", "epoch_s", "epoch_ms", NULL};
static const char *const fills[] = {"previous", "linear", "none", NULL};
static const char *const kinds[] = {"informer", "itransformer", "nilmformer", NULL};
static const char *const tasks[] = {"forecast", "disaggregate", NULL};
static const char *const attns[] = {"prob", "full", NULL};
static const char *const embeds[] = {"timeF", "fixed", "learned", NULL};
static const char *const optimizers[] = {"adam", "adamw", NULL};
static const char *const lradjs[] = {"type1", "cosine", "none", "plateau", NULL};
static const char *const splits[] = {"ett_hour", "ett_minute", "ratio", NULL};
static const char *const features[] = {"M", "S", "MS", NULL};
static const char *const norm_centres[] = {"mean", "last", NULL};
static const char *const transforms[] = {"none", "log1p", NULL};      /* HZ_CFG_TF_* */
static const char *const date_orders[] = {"ymd", "mdy", "dmy", NULL}; /* HZ_CSV_*, csv.h */

/* ---- helpers for the checks ---- */

/* The deepest node found along map.a.b.c, so errors point at the offending key when it was
 * written and at its section otherwise. */
static yaml_node_t *loc(hz_loader *L, yaml_node_t *map, const char *a, const char *b, const char *c)
{
    const char *keys[] = {a, b, c};
    yaml_node_t *n = map;
    for (int i = 0; i < 3 && keys[i]; i++) {
        yaml_node_t *next = hz_loader_find(L, n, keys[i]);
        if (!next)
            break;
        n = next;
    }
    return n;
}

static int set_derived(char **dst, const char *fmt, const char *a, const char *b)
{
    if (*dst)
        return 0;
    size_t len = strlen(fmt) + strlen(a) + (b ? strlen(b) : 0) + 1;
    *dst = malloc(len);
    if (!*dst)
        return HZ_ENOMEM;
    snprintf(*dst, len, fmt, a, b ? b : "");
    return 0;
}

static int has_prop(const hz_conf_map *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->items[i].key, key))
            return 1;
    return 0;
}

/* ---- checks ----
 * A check gets the struct of its own section; checks of the anonymous sub-structs (source
 * fields/csv, sink kafka) step back to the enclosing struct with offsetof, container_of style. */

static int check_fields(hz_loader *L, void *base, yaml_node_t *map, const char *path)
{
    const hz_cfg_source *s =
        (const hz_cfg_source *)((char *)base - offsetof(hz_cfg_source, fields));
    for (size_t i = 0; i < s->fields.n_values; i++) {
        if (!*s->fields.values[i])
            return hz_loader_err(L, loc(L, map, "values", NULL, NULL), path, "values",
                                 "expected variable names, got an empty one (item %zu)", i);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(s->fields.values[i], s->fields.values[j]))
                return hz_loader_err(L, loc(L, map, "values", NULL, NULL), path, "values",
                                     "expected unique names, got \"%s\" twice",
                                     s->fields.values[i]);
    }
    return 0;
}

static int check_window(hz_loader *L, void *base, yaml_node_t *map, const char *path)
{
    hz_cfg_window *w = base;
    if (!hz_loader_find(L, map, "label_len"))
        w->label_len = w->lookback / 2;
    if (w->label_len > w->lookback)
        return hz_loader_err(L, loc(L, map, "label_len", NULL, NULL), path, "label_len",
                             "expected at most lookback (%d), got %d", w->lookback, w->label_len);
    if (w->offset_ms >= w->period_ms)
        return hz_loader_err(L, loc(L, map, "offset", NULL, NULL), path, "offset",
                             "expected less than period (%lld ms), got %lld ms",
                             (long long)w->period_ms, (long long)w->offset_ms);
    return 0;
}

static int check_params(hz_loader *L, void *base, yaml_node_t *map, const char *path)
{
    const hz_cfg_model_params *p = base;
    if (p->d_model % p->n_heads)
        return hz_loader_err(L, loc(L, map, "n_heads", NULL, NULL), path, "n_heads",
                             "expected a divisor of d_model (%d), got %d", p->d_model, p->n_heads);
    /* the official fixed/learned TemporalEmbedding tables need integer calendar marks
     * (timeenc 0); the models here take timeF features only */
    if (p->embed != HZ_CFG_EMBED_TIMEF)
        return hz_loader_err(L, loc(L, map, "embed", NULL, NULL), path, "embed",
                             "only timeF is implemented, got %s",
                             p->embed == HZ_CFG_EMBED_FIXED ? "fixed" : "learned");
    /* NILMFormer splits d_model into 3/4 convolution features and 1/4 time encoding. */
    if (hz_loader_kind(L) == HZ_CFG_MODEL_NILMFORMER && p->d_model % 4)
        return hz_loader_err(L, loc(L, map, "d_model", NULL, NULL), path, "d_model",
                             "expected a multiple of 4 for nilmformer, got %d", p->d_model);
    return 0;
}

static int check_data(hz_loader *L, void *base, yaml_node_t *map, const char *path)
{
    const hz_cfg_data *d = base;
    double sum = d->ratios[0] + d->ratios[1] + d->ratios[2];
    if (d->ratios[0] <= 0 || d->ratios[2] <= 0 || sum > 1 + 1e-9)
        return hz_loader_err(L, loc(L, map, "ratios", NULL, NULL), path, "ratios",
                             "expected [train, val, test] with train > 0, test > 0 and a sum "
                             "of at most 1, got [%g, %g, %g]",
                             d->ratios[0], d->ratios[1], d->ratios[2]);
    return 0;
}

static int check_model(hz_loader *L, void *base, yaml_node_t *map, const char *path)
{
    const hz_cfg_model *m = base;
    if (m->task == HZ_CFG_TASK_DISAGGREGATE && m->kind != HZ_CFG_MODEL_NILMFORMER)
        return hz_loader_err(L, loc(L, map, "task", NULL, NULL), path, "task",
                             "expected forecast for %s models (disaggregate needs nilmformer), "
                             "got \"disaggregate\"",
                             hz_config_model_kind_name(m->kind));
    if (m->params.plain && m->task != HZ_CFG_TASK_DISAGGREGATE)
        return hz_loader_err(L, loc(L, map, "params", "plain", NULL), path, "params.plain",
                             "expected false with task forecast (the plain transformer "
                             "disaggregates only), got true");
    return 0;
}

static int check_anomaly(hz_loader *L, void *base, yaml_node_t *map, const char *path)
{
    const hz_cfg_anomaly *a = base;
    for (size_t i = 1; i < a->n_levels; i++)
        if (a->levels[i] <= a->levels[i - 1])
            return hz_loader_err(L, loc(L, map, "levels", NULL, NULL), path, "levels",
                                 "expected ascending levels, got %g after %g", a->levels[i],
                                 a->levels[i - 1]);
    return 0;
}

/* anomaly.rules and variables[].rules: a range the right way round, no flatline of 1. */
static int check_rules(hz_loader *L, void *base, yaml_node_t *map, const char *path)
{
    const hz_cfg_rules *r = base;
    if (r->n_range == 2 && !isnan(r->range[0]) && !isnan(r->range[1]) &&
        !(r->range[0] < r->range[1]))
        return hz_loader_err(L, loc(L, map, "range", NULL, NULL), path, "range",
                             "expected [min, max] with min < max, got [%g, %g]", r->range[0],
                             r->range[1]);
    if (r->flatline == 1)
        return hz_loader_err(L, loc(L, map, "flatline", NULL, NULL), path, "flatline",
                             "expected 0 (off) or at least 2 repeated points, got 1");
    return 0;
}

static int check_variable(hz_loader *L, void *base, yaml_node_t *map, const char *path)
{
    const hz_cfg_variable *v = base;
    if (v->n_bounds == 2 && !isnan(v->bounds[0]) && !isnan(v->bounds[1]) &&
        !(v->bounds[0] < v->bounds[1]))
        return hz_loader_err(L, loc(L, map, "bounds", NULL, NULL), path, "bounds",
                             "expected [min, max] with min < max, got [%g, %g]", v->bounds[0],
                             v->bounds[1]);
    return 0;
}

/* Disaggregation: one aggregate variable in the source, at least one appliance, each named
 * once and not as the aggregate. */
static int check_appliances(hz_loader *L, const hz_pipeline_conf *p, yaml_node_t *map,
                            const char *path)
{
    const hz_cfg_data *d = &p->model.data;
    const hz_cfg_source *s = &p->source;
    if (s->fields.n_values != 1)
        return hz_loader_err(L, loc(L, map, "source", "fields", "values"), path,
                             "source.fields.values",
                             "expected one aggregate-power variable for disaggregation, got %zu",
                             s->fields.n_values);
    if (d->n_appliances == 0)
        return hz_loader_err(L, loc(L, map, "model", "data", NULL), path, "model.data.appliances",
                             "expected at least one appliance for task disaggregate, got none");
    /* a meter's live stream has no appliance columns to train on: `horizon train` makes the
       models from a file that has them (docs/MODELS.md section 8.9) */
    if (p->model.train.train_on_start || p->model.train.retrain_every_ms)
        return hz_loader_err(
            L,
            loc(L, map, "model", "train",
                p->model.train.train_on_start ? "train_on_start" : "retrain_every"),
            path, "model.train",
            "expected no train_on_start or retrain_every for task disaggregate (its models are "
            "trained by `horizon train` on data with the appliances' own readings)");
    yaml_node_t *list = hz_loader_find(L, loc(L, map, "model", "data", NULL), "appliances");
    for (size_t i = 0; i < d->n_appliances; i++) {
        const char *name = d->appliances[i].name;
        int dup = !strcmp(name, s->fields.values[0]);
        for (size_t j = 0; j < i; j++)
            dup |= !strcmp(d->appliances[j].name, name);
        if (!dup)
            continue;
        char sp[64];
        snprintf(sp, sizeof sp, "model.data.appliances[%zu]", i);
        yaml_node_t *item = hz_loader_item(L, list, i);
        return hz_loader_err(L, loc(L, item ? item : map, "name", NULL, NULL), path, sp,
                             "expected each appliance once and none named as the aggregate, "
                             "got \"%s\"",
                             name);
    }
    return 0;
}

/* Every variables[] item names a value field, once. */
static int check_variables(hz_loader *L, const hz_pipeline_conf *p, yaml_node_t *map,
                           const char *path)
{
    yaml_node_t *list = hz_loader_find(L, map, "variables");
    for (size_t i = 0; i < p->n_variables; i++) {
        const char *name = p->variables[i].name;
        int found = 0, dup = 0;
        for (size_t j = 0; j < p->source.fields.n_values; j++)
            found |= !strcmp(p->source.fields.values[j], name);
        for (size_t j = 0; j < i; j++)
            dup |= !strcmp(p->variables[j].name, name) &&
                   !strcmp(p->variables[j].series, p->variables[i].series);
        if (found && !dup)
            continue;
        char sp[64];
        snprintf(sp, sizeof sp, "variables[%zu]", i);
        yaml_node_t *item = hz_loader_item(L, list, i);
        return hz_loader_err(
            L, loc(L, item ? item : list, "name", NULL, NULL), path, sp,
            dup ? "expected each variable once per series pattern, got \"%s\" again"
                : "expected one of source.fields.values, got \"%s\"",
            name);
    }
    return 0;
}

static int check_kafka_sink(hz_loader *L, void *base, yaml_node_t *map, const char *path)
{
    const hz_cfg_sink *s = (const hz_cfg_sink *)((char *)base - offsetof(hz_cfg_sink, kafka));
    if (!*s->kafka.forecasts && !*s->kafka.anomalies && !*s->kafka.dead_letters &&
        !*s->kafka.readings && !*s->kafka.appliances)
        return hz_loader_err(L, map, path, NULL,
                             "expected at least one of forecasts, anomalies, appliances, "
                             "dead_letters, readings topics, got none");
    return 0;
}

static int check_csv(hz_loader *L, void *base, yaml_node_t *map, const char *path)
{
    const hz_cfg_source *s = (const hz_cfg_source *)((char *)base - offsetof(hz_cfg_source, csv));
    if (strlen(s->csv.delimiter) != 1)
        return hz_loader_err(L, loc(L, map, "delimiter", NULL, NULL), path, "delimiter",
                             "expected one character, got \"%s\"", s->csv.delimiter);
    return 0;
}

/* Defaults that depend on the pipeline's name, the database or the fields, and rules that
 * span sections. */
/* A readings retention must keep a lookback: a restart rebuilds the windows from it. */
static int check_retention(hz_loader *L, const hz_pipeline_conf *p, yaml_node_t *sinks,
                           const char *path)
{
    int64_t need = (int64_t)p->window.lookback * p->window.period_ms;
    for (size_t i = 0; i < p->n_sinks; i++) {
        if (p->sinks[i].kind == HZ_CFG_SINK_SQLITE && !p->sinks[i].sqlite.readings &&
            p->source.kind != HZ_CFG_SOURCE_KAFKA) {
            char sp[64];
            snprintf(sp, sizeof sp, "sinks[%zu].sqlite.readings", i);
            yaml_node_t *item = hz_loader_item(L, sinks, i);
            return hz_loader_err(L, item ? loc(L, item, "sqlite", "readings", NULL) : sinks, path,
                                 sp,
                                 "expected true: only a Kafka source can rebuild the windows "
                                 "without the stored readings, got false");
        }
        int64_t keep = p->sinks[i].sqlite.retention.readings_ms;
        if (p->sinks[i].kind != HZ_CFG_SINK_SQLITE || keep == 0 || keep >= need)
            continue;
        char sp[80];
        snprintf(sp, sizeof sp, "sinks[%zu].sqlite.retention.readings", i);
        yaml_node_t *item = hz_loader_item(L, sinks, i);
        return hz_loader_err(L, item ? loc(L, item, "sqlite", "retention", "readings") : sinks,
                             path, sp,
                             "expected at least window.lookback x window.period = %lld ms (a "
                             "restart rebuilds the windows from the readings kept), got %lld ms",
                             (long long)need, (long long)keep);
    }
    return 0;
}

/* A CSV source's series, said outright: each row's from the column source.fields.series
 * when that key is written or csv.series is "", else the one id csv.series (default: the
 * pipeline's name).  Refused: an empty column name, and both a column and an id — either
 * would put every row into one series without a word.  Column mode leaves csv.series "". */
static int check_csv_series(hz_loader *L, hz_pipeline_conf *p, yaml_node_t *map, const char *path)
{
    hz_cfg_source *s = &p->source;
    yaml_node_t *src = hz_loader_find(L, map, "source");
    yaml_node_t *fld = src ? hz_loader_find(L, src, "fields") : NULL;
    yaml_node_t *csv = src ? hz_loader_find(L, src, "csv") : NULL;
    yaml_node_t *fs = fld ? hz_loader_find(L, fld, "series") : NULL;
    int column = fs || (s->csv.series && !*s->csv.series);
    char sp[160];
    snprintf(sp, sizeof sp, "%s.source.fields", path);
    if (column && !*s->fields.series)
        return hz_loader_err(L, fs ? fs : loc(L, csv, "series", NULL, NULL), sp, "series",
                             "expected the column holding each row's series id, got \"\" (every "
                             "row would be one series; source.csv.series gives them all one id)");
    snprintf(sp, sizeof sp, "%s.source.csv", path);
    if (fs && s->csv.series && *s->csv.series)
        return hz_loader_err(L, loc(L, csv, "series", NULL, NULL), sp, "series",
                             "expected no id (or \"\") when source.fields.series names the "
                             "series column (\"%s\"), got \"%s\"",
                             s->fields.series, s->csv.series);
    return column && set_derived(&s->csv.series, "%s%s", "", NULL) ? HZ_ENOMEM : 0;
}

static int check_pipeline(hz_loader *L, void *base, yaml_node_t *map, const char *path)
{
    hz_pipeline_conf *p = base;
    const hz_config *cfg = hz_loader_config(L);
    int rc = 0;
    hz_cfg_source *s = &p->source;
    if (s->kind == HZ_CFG_SOURCE_SQLITE)
        rc |= set_derived(&s->sqlite.path, "%s%s", cfg->database, NULL);
    if (s->kind == HZ_CFG_SOURCE_CSV) {
        int crc = check_csv_series(L, p, map, path);
        if (crc && crc != HZ_ENOMEM)
            return crc;
        rc |= crc | set_derived(&s->csv.series, "%s%s", p->name, NULL);
    }
    if (s->kind == HZ_CFG_SOURCE_KAFKA)
        rc |= set_derived(&s->kafka.group_id, "horizon-%s%s", p->name, NULL);
    for (size_t i = 0; i < p->n_sinks; i++)
        if (p->sinks[i].kind == HZ_CFG_SINK_SQLITE)
            rc |= set_derived(&p->sinks[i].sqlite.path, "%s%s", cfg->database, NULL);
    if (!p->model.checkpoint) {
        const char *slash = strrchr(cfg->database, '/');
        char dir[1024];
        snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - cfg->database + 1) : 0,
                 cfg->database);
        rc |= set_derived(&p->model.checkpoint, "%s%s.safetensors", dir, p->name);
    }
    hz_cfg_data *d = &p->model.data;
    rc |= set_derived(&d->target, "%s%s", s->fields.values[s->fields.n_values - 1], NULL);
    if (rc)
        return hz_loader_err(L, map, path, NULL, "out of memory");

    int found = 0;
    for (size_t i = 0; i < s->fields.n_values; i++)
        found |= !strcmp(s->fields.values[i], d->target);
    if (!found)
        return hz_loader_err(L, loc(L, map, "model", "data", "target"), path, "model.data.target",
                             "expected one of source.fields.values, got \"%s\"", d->target);
    for (size_t k = 0; k < d->n_known; k++) {
        int in = 0;
        for (size_t i = 0; i < s->fields.n_values; i++)
            in |= !strcmp(s->fields.values[i], d->known[k]);
        if (!in || !strcmp(d->known[k], d->target) || d->features != HZ_CFG_FEATURES_MS)
            return hz_loader_err(L, loc(L, map, "model", "data", "known"), path, "model.data.known",
                                 "expected variables of source.fields.values other than the "
                                 "target, with features MS; got \"%s\"",
                                 d->known[k]);
    }
    if (p->model.task == HZ_CFG_TASK_DISAGGREGATE && (rc = check_appliances(L, p, map, path)))
        return rc;
    if (s->kind == HZ_CFG_SOURCE_KAFKA && !has_prop(&cfg->kafka, "bootstrap.servers") &&
        !has_prop(&s->kafka.properties, "bootstrap.servers"))
        return hz_loader_err(L, loc(L, map, "source", "kafka", NULL), path, "source.kafka",
                             "expected bootstrap.servers in the top-level kafka map or in "
                             "properties, got neither");
    if ((rc = check_variables(L, p, map, path)))
        return rc;
    yaml_node_t *sinks = hz_loader_find(L, map, "sinks");
    if ((rc = check_retention(L, p, sinks, path)))
        return rc;
    for (size_t i = 0; i < p->n_sinks; i++) {
        if (p->sinks[i].kind != HZ_CFG_SINK_KAFKA || has_prop(&cfg->kafka, "bootstrap.servers") ||
            has_prop(&p->sinks[i].kafka.properties, "bootstrap.servers"))
            continue;
        char sp[64];
        snprintf(sp, sizeof sp, "sinks[%zu].kafka", i);
        yaml_node_t *item = hz_loader_item(L, sinks, i);
        return hz_loader_err(L, item ? loc(L, item, "kafka", NULL, NULL) : map, path, sp,
                             "expected bootstrap.servers in the top-level kafka map or in "
                             "properties, got neither");
    }
    return 0;
}

static int check_root(hz_loader *L, void *base, yaml_node_t *map, const char *path)
{
    const hz_config *c = base;
    yaml_node_t *list = hz_loader_find(L, map, "pipelines");
    for (size_t i = 0; i < c->n_pipelines; i++)
        for (size_t j = 0; j < i; j++)
            if (!strcmp(c->pipelines[i].name, c->pipelines[j].name)) {
                char p[64];
                snprintf(p, sizeof p, "pipelines[%zu]", i);
                yaml_node_t *item = hz_loader_item(L, list, i);
                return hz_loader_err(L, loc(L, item ? item : list, "name", NULL, NULL), p, "name",
                                     "expected a unique pipeline name, got \"%s\" again "
                                     "(also pipelines[%zu])",
                                     c->pipelines[i].name, j);
            }
    return 0;
}

/* ---- the table ---- */

static const hz_ckey metrics_keys[] = {
    {.name = "listen",
     .type = HZ_CT_HOSTPORT,
     O(hz_config, metrics.listen) - offsetof(hz_config, metrics),
     .def = "127.0.0.1:9464",
     .doc = "Prometheus text-format endpoint (HTTP `GET /metrics`); `\"\"` disables it."},
    {.name = "allow_public",
     .type = HZ_CT_BOOL,
     O(hz_config, metrics.allow_public) - offsetof(hz_config, metrics),
     .def = "false",
     .doc = "Allow `listen` on an address other than loopback (127.0.0.0/8, ::1).  The "
            "endpoint has no authentication: `--check`, start and SIGHUP refuse a public "
            "address unless this is true."},
};
static const hz_csec metrics_sec = {"metrics", metrics_keys, NKEYS(metrics_keys),
                                    0,         NULL,         "Metrics endpoint."};

#define SRC_KAFKA(f) O(hz_cfg_source, kafka.f) - offsetof(hz_cfg_source, kafka)
static const hz_ckey src_kafka_keys[] = {
    {.name = "topic",
     .type = HZ_CT_STR,
     SRC_KAFKA(topic),
     .flags = HZ_CF_REQUIRED,
     .doc = "Topic of readings (JSON values, key = series id)."},
    {.name = "group.id",
     .type = HZ_CT_STR,
     SRC_KAFKA(group_id),
     .flags = HZ_CF_DERIVED,
     .def_doc = "`horizon-<pipeline name>`",
     .doc = "Consumer group; processes sharing it split the partitions."},
    {.name = "properties",
     .type = HZ_CT_MAP,
     SRC_KAFKA(properties),
     .doc = "librdkafka properties for this consumer; override the top-level `kafka` map."},
};
static const hz_csec src_kafka_sec = {"kafka", src_kafka_keys, NKEYS(src_kafka_keys),
                                      0,       NULL,           "Read readings from a Kafka topic."};

#define SRC_SQL(f) O(hz_cfg_source, sqlite.f) - offsetof(hz_cfg_source, sqlite)
static const hz_ckey src_sqlite_keys[] = {
    {.name = "path",
     .type = HZ_CT_PATH,
     SRC_SQL(path),
     .flags = HZ_CF_DERIVED,
     .def_doc = "the top-level `database`",
     .doc = "SQLite database to read from."},
    {.name = "table",
     .type = HZ_CT_IDENT,
     SRC_SQL(table),
     .def = "readings",
     .doc = "Table of readings in long form: one row per (series, variable, time, value)."},
    {.name = "poll",
     .type = HZ_CT_DURATION,
     SRC_SQL(poll_ms),
     .def = "1s",
     .min = 10,
     .max = DAY_MS,
     .doc = "How often new rows are looked for."},
};
static const hz_csec src_sqlite_sec = {"sqlite",
                                       src_sqlite_keys,
                                       NKEYS(src_sqlite_keys),
                                       0,
                                       NULL,
                                       "Read readings from an SQLite table."};

#define SRC_CSV(f) O(hz_cfg_source, csv.f) - offsetof(hz_cfg_source, csv)
static const hz_ckey src_csv_keys[] = {
    {.name = "path",
     .type = HZ_CT_PATH,
     SRC_CSV(path),
     .flags = HZ_CF_REQUIRED,
     .doc = "CSV file with a header row; columns are named by `source.fields`. May be a "
            "glob(3) pattern (`data/House2_2014-*.csv`): the files it matches are read in "
            "byte order of their names as one stream, each with a header that must be the "
            "first file's; a pattern matching no file is refused, and line numbers (the "
            "readings' positions) run on across the files. A path naming a file is read as it "
            "is."},
    {.name = "series",
     .type = HZ_CT_STR,
     SRC_CSV(series),
     .flags = HZ_CF_DERIVED,
     .def_doc = "the pipeline name",
     .doc = "Series id given to every row. For a file of several series, write "
            "`source.fields.series` (the column holding each row's id) instead, or set this "
            "to `\"\"` to read the `fields.series` column (default `series`). An empty "
            "column name, or both a column and an id, is refused: either would put every row "
            "into one series."},
    {.name = "delimiter",
     .type = HZ_CT_STR,
     SRC_CSV(delimiter),
     .def = "\",\"",
     .doc = "Field separator (one character)."},
    {.name = "date_order",
     .type = HZ_CT_ENUM,
     SRC_CSV(date_order),
     .def = "ymd",
     .enums = date_orders,
     .doc = "Order of slashed dates: `ymd`, `mdy` (10/1/1999) or `dmy` (16/12/2006)."},
};
static const hz_csec src_csv_sec = {
    "csv", src_csv_keys, NKEYS(src_csv_keys),
    0,     check_csv,    "Read readings from a CSV file (replayed once)."};

#define FLD(f) O(hz_cfg_source, fields.f) - offsetof(hz_cfg_source, fields)
static const hz_ckey fields_keys[] = {
    {.name = "series",
     .type = HZ_CT_STR,
     FLD(series),
     .def = "series",
     .doc = "Field (JSON member or column) holding the series id. Kafka: when a message lacks "
            "it (or this is `\"\"`), the message key is the id. CSV: written, it names the "
            "column of each row's id (see `source.csv.series`); `\"\"` is refused there."},
    {.name = "time",
     .type = HZ_CT_STR,
     FLD(time),
     .def = "ts",
     .doc = "Field holding the timestamp."},
    {.name = "time_format",
     .type = HZ_CT_ENUM,
     FLD(time_format),
     .def = "auto",
     .enums = time_formats,
     .doc = "How timestamps are written; `auto` accepts ISO 8601 and epoch seconds or ms "
            "(told apart by magnitude)."},
    {.name = "values",
     .type = HZ_CT_STRLIST,
     FLD(values),
     .noff = offsetof(hz_cfg_source, fields.n_values) - offsetof(hz_cfg_source, fields),
     .flags = HZ_CF_REQUIRED,
     .nmin = 1,
     .nmax = 32,
     .doc = "Variables to forecast (JSON members, columns, or `variable` names in SQLite); "
            "the model's channels, in this order."},
};
static const hz_csec fields_sec = {
    "fields", fields_keys,  NKEYS(fields_keys),
    0,        check_fields, "Where series id, time and variables are found in a reading."};

static const hz_ckey source_keys[] = {
    {.name = "kafka",
     .type = HZ_CT_SECTION,
     O(hz_cfg_source, kafka),
     .sec = &src_kafka_sec,
     .flags = HZ_CF_ONEOF,
     .doc = "Kafka topic source."},
    {.name = "sqlite",
     .type = HZ_CT_SECTION,
     O(hz_cfg_source, sqlite),
     .sec = &src_sqlite_sec,
     .flags = HZ_CF_ONEOF,
     .doc = "SQLite table source."},
    {.name = "csv",
     .type = HZ_CT_SECTION,
     O(hz_cfg_source, csv),
     .sec = &src_csv_sec,
     .flags = HZ_CF_ONEOF,
     .doc = "CSV file source."},
    {.name = "max_future",
     .type = HZ_CT_DURATION,
     O(hz_cfg_source, max_future_ms),
     .def = "1d",
     .min = 0,
     .max = 3650 * DAY_MS,
     .doc = "A reading timestamped more than this ahead of the wall clock is refused into "
            "dead letters with the reason (`timestamp ... is ... h ahead of the clock`), so one "
            "wrong clock cannot make its series' next readings late. Only the future is "
            "checked: a replay of history is never ahead of the clock. `0` turns the check "
            "off. Every source also refuses times outside 1970-01-01..2200-12-31 and values "
            "that are not finite or do not fit float32 (docs/MESSAGES.md)."},
    {.name = "fields",
     .type = HZ_CT_SECTION,
     O(hz_cfg_source, fields),
     .sec = &fields_sec,
     .flags = HZ_CF_REQUIRED,
     .doc = "Field names in the readings."},
};
static const hz_csec source_sec = {"source",
                                   source_keys,
                                   NKEYS(source_keys),
                                   offsetof(hz_cfg_source, kind),
                                   NULL,
                                   "Where readings come from: exactly one of `kafka`, `sqlite`, "
                                   "`csv`, plus `fields`."};

static const hz_ckey window_keys[] = {
    {.name = "period",
     .type = HZ_CT_DURATION,
     O(hz_cfg_window, period_ms),
     .flags = HZ_CF_REQUIRED,
     .min = 1000,
     .max = 30 * DAY_MS,
     .doc = "Spacing of the regular grid readings are placed on."},
    {.name = "lookback",
     .type = HZ_CT_INT,
     O(hz_cfg_window, lookback),
     .def = "96",
     .min = 1,
     .max = 100000,
     .doc = "Points of history the model sees (`seq_len`)."},
    {.name = "horizon",
     .type = HZ_CT_INT,
     O(hz_cfg_window, horizon),
     .def = "24",
     .min = 1,
     .max = 100000,
     .doc = "Points forecast ahead (`pred_len`)."},
    {.name = "stride",
     .type = HZ_CT_INT,
     O(hz_cfg_window, stride),
     .def = "1",
     .min = 1,
     .max = 100000,
     .doc = "A forecast is issued every `stride` new points once the window is full."},
    {.name = "label_len",
     .type = HZ_CT_INT,
     O(hz_cfg_window, label_len),
     .min = 0,
     .max = 100000,
     .flags = HZ_CF_DERIVED,
     .def_doc = "`lookback / 2`",
     .doc = "Start-token length of Informer's generative decoder; at most `lookback`."},
    {.name = "fill",
     .type = HZ_CT_ENUM,
     O(hz_cfg_window, fill),
     .def = "previous",
     .enums = fills,
     .doc = "Gap filling: repeat the previous value, interpolate, or mark missing."},
    {.name = "max_gap",
     .type = HZ_CT_INT,
     O(hz_cfg_window, max_gap),
     .def = "4",
     .min = 0,
     .max = 1000000,
     .doc = "Training: a hole in the stored history of at most this many periods is filled "
            "by `fill` (none: not filled); a longer one ends a stretch, and no training "
            "window spans it.  Both are counted in the training log."},
    {.name = "offset",
     .type = HZ_CT_DURATION,
     O(hz_cfg_window, offset_ms),
     .def = "0s",
     .min = 0,
     .max = 30 * DAY_MS,
     .doc = "Where slots start within a period, from the epoch's: `5h` puts daily slots (and "
            "the forecasts' times) at 05:00 UTC, a gauge's local-standard-time day at UTC-5 "
            "(readings imported with `--utc-offset -05:00`, docs/IMPORT.md).  Less than "
            "`period`."},
    {.name = "wait",
     .type = HZ_CT_INT,
     O(hz_cfg_window, wait),
     .def = "3",
     .min = 0,
     .max = 10000,
     .doc = "Slots a variable absent from a reading is awaited (a series' variables may come in "
            "separate readings: files imported one by one, one Kafka message per variable) "
            "before `fill` fills it; the window a forecast sees ends at the newest slot whose "
            "variables are all present or filled (docs/ARCHITECTURE.md).  With one variable it "
            "has no effect."},
};
static const hz_csec window_sec = {"window", window_keys,  NKEYS(window_keys),
                                   0,        check_window, "The sliding window kept per series."};

static const hz_ckey batch_keys[] = {
    {.name = "max",
     .type = HZ_CT_INT,
     O(hz_cfg_batch, max),
     .def = "64",
     .min = 1,
     .max = 65536,
     .doc = "Most windows of different series run in one forward pass."},
    {.name = "max_wait",
     .type = HZ_CT_DURATION,
     O(hz_cfg_batch, max_wait_ms),
     .def = "200ms",
     .min = 0,
     .max = 3600000,
     .doc = "Longest a ready window waits for its batch to fill."},
    {.name = "commit_after",
     .type = HZ_CT_DURATION,
     O(hz_cfg_batch, commit_after_ms),
     .def = "0",
     .min = 0,
     .max = 60000,
     .doc = "Group commit: results are committed to the sinks, and the source acknowledged, "
            "at the end of the first cycle in which the oldest result not yet committed is "
            "this old (or the source is idle); 0 = at the end of every cycle. A fleet's "
            "SQLite file then writes each page once per commit instead of once per cycle; a "
            "reading's results wait up to max_wait + commit_after."},
};
static const hz_csec batch_sec = {
    "batch", batch_keys, NKEYS(batch_keys),
    0,       NULL,       "How the daemon batches ready windows for inference."};

static const hz_ckey params_keys[] = {
    {.name = "d_model",
     .type = HZ_CT_INT,
     O(hz_cfg_model_params, d_model),
     .kdef = {"512", "512", "96"},
     .min = 1,
     .max = 8192,
     .doc = "Model width."},
    {.name = "n_heads",
     .type = HZ_CT_INT,
     O(hz_cfg_model_params, n_heads),
     .kdef = {"8", "8", "8"},
     .min = 1,
     .max = 256,
     .doc = "Attention heads; must divide `d_model`."},
    {.name = "e_layers",
     .type = HZ_CT_INT,
     O(hz_cfg_model_params, e_layers),
     .kdef = {"2", "2", "3"},
     .min = 1,
     .max = 64,
     .doc = "Encoder layers."},
    {.name = "d_layers",
     .type = HZ_CT_INT,
     O(hz_cfg_model_params, d_layers),
     .def = "1",
     .min = 1,
     .max = 64,
     .kinds = KI,
     .doc = "Decoder layers."},
    {.name = "d_ff",
     .type = HZ_CT_INT,
     O(hz_cfg_model_params, d_ff),
     .kdef = {"2048", "2048", "384"},
     .min = 1,
     .max = 65536,
     .doc = "Feed-forward width."},
    {.name = "factor",
     .type = HZ_CT_INT,
     O(hz_cfg_model_params, factor),
     .def = "5",
     .min = 1,
     .max = 100,
     .kinds = KI,
     .doc = "ProbSparse sampling factor c (u = c·ln L queries)."},
    {.name = "dropout",
     .type = HZ_CT_DOUBLE,
     O(hz_cfg_model_params, dropout),
     .kdef = {"0.05", "0.1", "0.2"},
     .min = 0,
     .max = 0.99,
     .doc = "Dropout probability in training."},
    {.name = "attn",
     .type = HZ_CT_ENUM,
     O(hz_cfg_model_params, attn),
     .def = "prob",
     .enums = attns,
     .kinds = KI,
     .doc = "Self-attention of the encoder and the decoder: ProbSparse or full (Informer†)."},
    {.name = "distil",
     .type = HZ_CT_BOOL,
     O(hz_cfg_model_params, distil),
     .def = "true",
     .kinds = KI,
     .doc = "Self-attention distilling (conv + max-pool) between encoder layers."},
    {.name = "mix",
     .type = HZ_CT_BOOL,
     O(hz_cfg_model_params, mix),
     .def = "true",
     .kinds = KI,
     .doc = "Mix heads in the decoder's self-attention output (official `mix`)."},
    {.name = "embed",
     .type = HZ_CT_ENUM,
     O(hz_cfg_model_params, embed),
     .def = "timeF",
     .enums = embeds,
     .kinds = KI,
     .doc = "Time-feature embedding: continuous features through a Linear (`timeF`).  The "
            "official `fixed` (sinusoid tables) and `learned` variants are refused: not "
            "implemented."},
    {.name = "use_norm",
     .type = HZ_CT_BOOL,
     O(hz_cfg_model_params, use_norm),
     .def = "true",
     .kinds = KT,
     .doc = "Instance normalisation of each variate over the lookback."},
    {.name = "norm_centre",
     .type = HZ_CT_ENUM,
     O(hz_cfg_model_params, norm_centre),
     .def = "mean",
     .enums = norm_centres,
     .kinds = KT,
     .doc = "With `use_norm`: what each variate is centred on, and what a zero output "
            "forecasts: the window's `mean` (the paper), or its `last` value, so the model "
            "learns the change from persistence (slow rivers, snowmelt; docs/MODELS.md)."},
    {.name = "use_marks",
     .type = HZ_CT_BOOL,
     O(hz_cfg_model_params, use_marks),
     .def = "true",
     .doc = "Feed timestamp features (Informer temporal embedding, iTransformer mark tokens, "
            "NILMFormer TimeRPE)."},
    {.name = "c_embedding",
     .type = HZ_CT_INT,
     O(hz_cfg_model_params, c_embedding),
     .def = "8",
     .min = 1,
     .max = 64,
     .kinds = KN,
     .doc = "Timestamp channels of TimeRPE."},
    {.name = "stats_mu",
     .type = HZ_CT_BOOL,
     O(hz_cfg_model_params, stats_mu),
     .def = "true",
     .kinds = KN,
     .doc = "NILMFormer's stats token reads the window's mean as well as its deviation (the "
            "official model). `false`: its deviation alone, so a forecast (`task: forecast`) "
            "moves exactly with the level of its window, as a level shift needs "
            "(docs/MODELS.md section 8.7)."},
    {.name = "dilations",
     .type = HZ_CT_INTLIST,
     O(hz_cfg_model_params, dilations),
     N(hz_cfg_model_params, n_dilations),
     .def = "[1, 2, 4, 8]",
     .min = 1,
     .max = 1024,
     .nmin = 1,
     .nmax = 16,
     .kinds = KN,
     .doc = "Dilations of the residual convolution embedding block."},
    {.name = "plain",
     .type = HZ_CT_BOOL,
     O(hz_cfg_model_params, plain),
     .def = "false",
     .kinds = KN,
     .doc = "`task: disaggregate` only: train NILMFormer's baseline instead, a plain transformer "
            "of the same parameter count (the same encoder layers and head; a Linear embedding "
            "of the aggregate and sinusoid positions instead of the convolution block, TimeRPE "
            "and the window statistics; `d_ff` is replaced by the width that matches the "
            "NILMFormer of these params, docs/MODELS.md).  `horizon train --plain` sets it "
            "for one run."},
};
static const hz_csec params_sec = {
    "params",
    params_keys,
    NKEYS(params_keys),
    0,
    check_params,
    "Architecture, read by `horizon train` only: horizond, `horizon eval` and `horizon "
    "forecast` take it from the checkpoint, which carries its own "
    "(horizond refuses one whose lookback or horizon differs from "
    "`window`). Defaults are each paper's (docs/MODELS.md)."};

static const hz_ckey train_keys[] = {
    {.name = "epochs",
     .type = HZ_CT_INT,
     O(hz_cfg_train, epochs),
     .kdef = {"6", "10", "50"},
     .min = 1,
     .max = 100000,
     .doc = "Most training epochs."},
    {.name = "batch",
     .type = HZ_CT_INT,
     O(hz_cfg_train, batch),
     .kdef = {"32", "32", "64"},
     .min = 1,
     .max = 65536,
     .doc = "Training batch size."},
    {.name = "lr",
     .type = HZ_CT_DOUBLE,
     O(hz_cfg_train, lr),
     .def = "1e-4",
     .min = 1e-12,
     .max = 10,
     .doc = "Initial learning rate."},
    {.name = "optimizer",
     .type = HZ_CT_ENUM,
     O(hz_cfg_train, optimizer),
     .kdef = {"adam", "adam", "adamw"},
     .enums = optimizers,
     .doc = "Optimiser."},
    {.name = "weight_decay",
     .type = HZ_CT_DOUBLE,
     O(hz_cfg_train, weight_decay),
     .def = "0",
     .min = 0,
     .max = 10,
     .doc = "Weight decay (decoupled for `adamw`, L2 for `adam`)."},
    {.name = "clip",
     .type = HZ_CT_DOUBLE,
     O(hz_cfg_train, clip),
     .def = "0",
     .min = 0,
     .max = 1e6,
     .doc = "Gradient-norm clipping threshold; 0 = off."},
    {.name = "lradj",
     .type = HZ_CT_ENUM,
     O(hz_cfg_train, lradj),
     .kdef = {"type1", "type1", "none"},
     .enums = lradjs,
     .doc = "Learning-rate schedule: `type1` keeps it for epochs 1 and 2 and halves it after "
            "every later epoch (epoch e at lr 0.5^(e-2), as the official loops), `cosine` "
            "anneals to 0, `none` keeps it, `plateau` divides it by 10 after 4 epochs in a "
            "row without a better validation loss (PyTorch's ReduceLROnPlateau with "
            "patience 3, as NILMFormer's protocol; engine/optim.h)."},
    {.name = "patience",
     .type = HZ_CT_INT,
     O(hz_cfg_train, patience),
     .kdef = {"3", "3", "5"},
     .min = 0,
     .max = 10000,
     .doc = "Early stopping: epochs without a better validation loss; 0 = off."},
    {.name = "seed",
     .type = HZ_CT_INT,
     O(hz_cfg_train, seed),
     .kdef = {"2021", "2023", "0"},
     .min = 0,
     .max = 2147483647,
     .doc = "Seed of weight initialisation, dropout and shuffling."},
    {.name = "repeats",
     .type = HZ_CT_INT,
     O(hz_cfg_train, repeats),
     .def = "1",
     .min = 1,
     .max = 100,
     .doc = "Training runs with seeds seed, seed+1, ... (the papers' scripts' `itr`). Each "
            "run's checkpoint is `<checkpoint stem>.r<K>.safetensors`; the one with the "
            "lowest validation loss is copied to `checkpoint` for serving, and `horizon "
            "eval` reports the mean test error over the runs."},
    {.name = "threads",
     .type = HZ_CT_INT,
     O(hz_cfg_train, threads),
     .def = "0",
     .min = 0,
     .max = 1024,
     .doc = "Threads of OpenBLAS and the engine's loops when training starts; 0 = as the "
            "process started (OPENBLAS_NUM_THREADS, else every core).  Process-wide: in "
            "horizond it also holds for the forecasts beside a retrain."},
    {.name = "train_on_start",
     .type = HZ_CT_BOOL,
     O(hz_cfg_train, train_on_start),
     .def = "false",
     .doc = "Train when the daemon starts if no checkpoint exists; a start stopped or killed while "
            "training continues that run next time (state in CHECKPOINT.state)."},
    {.name = "retrain_every",
     .type = HZ_CT_DURATION,
     O(hz_cfg_train, retrain_every_ms),
     .def = "0",
     .min = 0,
     .max = 3650 * DAY_MS,
     .doc = "Retrain on recent data this often; 0 = never."},
};
static const hz_csec train_sec = {
    "train", train_keys, NKEYS(train_keys),
    0,       NULL,       "Training. Defaults are each paper's protocol."};

static const hz_ckey appliance_keys[] = {
    {.name = "name",
     .type = HZ_CT_STR,
     O(hz_cfg_appliance, name),
     .flags = HZ_CF_REQUIRED,
     .doc = "The appliance: its power column in the training data (CSV column or SQLite "
            "variable) and its name in the results."},
    {.name = "on_threshold",
     .type = HZ_CT_DOUBLE,
     O(hz_cfg_appliance, on_threshold),
     .flags = HZ_CF_REQUIRED,
     .min = 0,
     .max = 1e7,
     .doc = "Watts: an estimate below it is set to 0 and the appliance reported off; the "
            "ON/OFF scores compare estimate and truth against it."},
};
static const hz_csec appliance_sec = {"appliances",
                                      appliance_keys,
                                      NKEYS(appliance_keys),
                                      0,
                                      NULL,
                                      "One appliance of a disaggregation pipeline."};

static const hz_ckey data_keys[] = {
    {.name = "split",
     .type = HZ_CT_ENUM,
     O(hz_cfg_data, split),
     .def = "ratio",
     .enums = splits,
     .doc = "Train/val/test split: ETT's 12/4/4 months of hourly or 15-min rows, or `ratios` "
            "(docs/MODELS.md)."},
    {.name = "ratios",
     .type = HZ_CT_DBLLIST,
     O(hz_cfg_data, ratios),
     N(hz_cfg_data, n_ratios),
     .def = "[0.7, 0.1, 0.2]",
     .min = 0,
     .max = 1,
     .nmin = 3,
     .nmax = 3,
     .doc = "Train, validation and test fractions for `split: ratio`; sum at most 1."},
    {.name = "features",
     .type = HZ_CT_ENUM,
     O(hz_cfg_data, features),
     .def = "M",
     .enums = features,
     .doc = "`M`: all variables in and out; `S`: target only; `MS`: all in, target out."},
    {.name = "target",
     .type = HZ_CT_STR,
     O(hz_cfg_data, target),
     .flags = HZ_CF_DERIVED,
     .def_doc = "the last of `source.fields.values`",
     .doc = "Target variable for `S`/`MS`; one of `source.fields.values`."},
    {.name = "known",
     .type = HZ_CT_STRLIST,
     O(hz_cfg_data, known),
     N(hz_cfg_data, n_known),
     .nmin = 0,
     .nmax = 32,
     .doc = "With `MS`: variables known over the horizon, such as a precipitation or "
            "temperature forecast arriving as its own variable; the model also sees their "
            "values for the forecast steps (Informer: decoder inputs; iTransformer: one more "
            "variate token each, docs/MODELS.md).  A window is forecast once they reach "
            "`horizon` periods past the target's last reading."},
    {.name = "scale",
     .type = HZ_CT_BOOL,
     O(hz_cfg_data, scale),
     .def = "true",
     .doc = "Z-score each variable with train-split statistics (docs/MODELS.md)."},
    {.name = "pool",
     .type = HZ_CT_BOOL,
     O(hz_cfg_data, pool),
     .def = "false",
     .doc = "`true`: train one model on every series of the SQLite readings (a fleet of "
            "meters or gauges), each series split by `split` on its own rows and scaled by "
            "its own train-split statistics, which the checkpoint keeps; a series it has "
            "not seen is scaled by its first full window (docs/MODELS.md, pooled training). "
            "`false`: one series, `--series` or the one with the most readings (a small "
            "fleet, or series unlike each other)."},
    {.name = "series_windows",
     .type = HZ_CT_INT,
     O(hz_cfg_data, series_windows),
     .def = "0",
     .min = 0,
     .max = 100000000,
     .doc = "With `pool`: training windows drawn from each series every epoch, so a short "
            "series counts as much as a long one (a series with fewer repeats its own); "
            "0 = the mean of the series' training window counts."},
    {.name = "appliances",
     .type = HZ_CT_SECLIST,
     O(hz_cfg_data, appliances),
     N(hz_cfg_data, n_appliances),
     .def = "[]",
     .sec = &appliance_sec,
     .elem_size = sizeof(hz_cfg_appliance),
     .nmin = 0,
     .nmax = 32,
     .doc = "With `task: disaggregate`: the appliances estimated from the aggregate (the one "
            "variable of `source.fields.values`), one model each, checkpoint "
            "`<checkpoint stem>.<name>.safetensors` (docs/MODELS.md section 8.9)."},
    {.name = "max_power",
     .type = HZ_CT_DOUBLE,
     O(hz_cfg_data, max_power),
     .def = "0",
     .min = 0,
     .max = 1e9,
     .doc = "With `task: disaggregate`: watts the aggregate and the appliance are divided by "
            "(NILMFormer's max-scaling; kept in the checkpoint); 0 = the largest aggregate "
            "reading of the training split."},
    {.name = "zero_is_gap",
     .type = HZ_CT_BOOL,
     O(hz_cfg_data, zero_is_gap),
     .def = "false",
     .doc = "With `task: disaggregate`: an aggregate reading of exactly 0 W is a gap, so the "
            "windows holding one are left out of every split (and of the largest aggregate). "
            "For data whose missing minutes were filled with 0, as DeviceScope's "
            "(data/nilm/SOURCE.md)."},
};
static const hz_csec data_sec = {
    "data", data_keys,  NKEYS(data_keys),
    0,      check_data, "Training and evaluation data protocol (docs/MODELS.md)."};

static const hz_ckey model_keys[] = {
    {.name = "kind",
     .type = HZ_CT_ENUM,
     O(hz_cfg_model, kind),
     .enums = kinds,
     .flags = HZ_CF_REQUIRED | HZ_CF_KIND,
     .doc = "Model: Informer, iTransformer or NILMFormer-style. Selects the defaults below."},
    {.name = "task",
     .type = HZ_CT_ENUM,
     O(hz_cfg_model, task),
     .def = "forecast",
     .enums = tasks,
     .doc = "`disaggregate` (NILM: aggregate power to one appliance) needs `nilmformer`."},
    {.name = "checkpoint",
     .type = HZ_CT_PATH,
     O(hz_cfg_model, checkpoint),
     .flags = HZ_CF_DERIVED,
     .def_doc = "`<pipeline name>.safetensors` beside `database`",
     .doc = "Safetensors file the model is loaded from and trained into."},
    {.name = "params",
     .type = HZ_CT_SECTION,
     O(hz_cfg_model, params),
     .sec = &params_sec,
     .doc = "Architecture."},
    {.name = "train",
     .type = HZ_CT_SECTION,
     O(hz_cfg_model, train),
     .sec = &train_sec,
     .doc = "Training."},
    {.name = "data",
     .type = HZ_CT_SECTION,
     O(hz_cfg_model, data),
     .sec = &data_sec,
     .doc = "Data protocol."},
};
static const hz_csec model_sec = {"model", model_keys,  NKEYS(model_keys),
                                  0,       check_model, "The forecasting model."};

static const hz_ckey rules_keys[] = {
    {.name = "range",
     .type = HZ_CT_DBLLIST,
     O(hz_cfg_rules, range),
     N(hz_cfg_rules, n_range),
     .min = -BIG,
     .max = BIG,
     .nmin = 2,
     .nmax = 2,
     .flags = HZ_CF_NULLS,
     .def_doc = "off",
     .doc = "`[min, max]`: flag values outside (kind `range`); `null` for an open side."},
    {.name = "zero",
     .type = HZ_CT_BOOL,
     O(hz_cfg_rules, zero),
     .def = "false",
     .doc = "Flag a reading of exactly 0 as out of range (kind `range`): what a meter or gauge "
            "that is off or cut off sends, on a variable that is never 0 when it works (a "
            "perennial river's flow, a house's mains)."},
    {.name = "flatline",
     .type = HZ_CT_INT,
     O(hz_cfg_rules, flatline),
     .def = "0",
     .min = 0,
     .max = 1000000,
     .doc =
         "Flag this many identical consecutive values, a stuck sensor (kind `flatline`); 0 = off."},
    {.name = "spike",
     .type = HZ_CT_DOUBLE,
     O(hz_cfg_rules, spike),
     .def = "0",
     .min = 0,
     .max = BIG,
     .doc = "Flag a reading that jumps more than this many robust standard deviations of the "
            "recent changes and comes back with the next reading (kind `spike`); 0 = off."},
    {.name = "gap",
     .type = HZ_CT_INT,
     O(hz_cfg_rules, gap),
     .def = "0",
     .min = 0,
     .max = 1000000,
     .doc = "Flag a reading that follows more than this many consecutive missing periods (kind "
            "`gap`); 0 = off."},
    {.name = "shift",
     .type = HZ_CT_DOUBLE,
     O(hz_cfg_rules, shift),
     .def = "0",
     .min = 0,
     .max = BIG,
     .doc = "Flag the start and the end of a level or ratio shift: a CUSUM of the residuals, in "
            "half-widths of the lowest level's interval, above this threshold (kind `shift`; "
            "4 is a start); 0 = off."},
    {.name = "season",
     .type = HZ_CT_INT,
     O(hz_cfg_rules, season),
     .def = "0",
     .min = 0,
     .max = 100000,
     .doc = "Periods in a season (96 for a day of 15-minute readings): flag the start and "
            "the end of a stretch whose readings all lie beyond the same time of day on the "
            "last 7 seasons (kind `shift`; the end of one that lasted 3.5 seasons or more is "
            "recorded with flag 0; docs/ANOMALIES.md), a level the model follows at once; "
            "and drop spike and residual flags that the same time of day went halfway to on "
            "one of them (routine). Keeps 7 seasons of values per series and variable (2.7 KB "
            "at 96); 0 = off."},
};
static const hz_csec rules_sec = {
    "rules", rules_keys,  NKEYS(rules_keys),
    0,       check_rules, "Data-quality rules; each is off unless given."};

/* The same keys in a variables[] item: -1 (the default) keeps the pipeline's setting. */
static const char *const zero_names[] = {"false", "true", "pipeline", NULL};
static const int zero_vals[] = {0, 1, -1};
static const hz_ckey var_rules_keys[] = {
    {.name = "range",
     .type = HZ_CT_DBLLIST,
     O(hz_cfg_rules, range),
     N(hz_cfg_rules, n_range),
     .min = -BIG,
     .max = BIG,
     .nmin = 2,
     .nmax = 2,
     .flags = HZ_CF_NULLS,
     .def_doc = "as `anomaly.rules`",
     .doc = "`[min, max]` for this variable; `[null, null]`: no range."},
    {.name = "zero",
     .type = HZ_CT_ENUM,
     O(hz_cfg_rules, zero),
     .def = "pipeline",
     .enums = zero_names,
     .enum_vals = zero_vals,
     .doc = "As `anomaly.rules.zero`: `true` or `false` for this variable, `pipeline` = as the "
            "pipeline's."},
    {.name = "flatline",
     .type = HZ_CT_INT,
     O(hz_cfg_rules, flatline),
     .def = "-1",
     .min = -1,
     .max = 1000000,
     .doc = "As `anomaly.rules.flatline`; 0 = off for this variable, -1 = as the pipeline's."},
    {.name = "spike",
     .type = HZ_CT_DOUBLE,
     O(hz_cfg_rules, spike),
     .def = "-1",
     .min = -1,
     .max = BIG,
     .doc = "As `anomaly.rules.spike`, judged in the variable's `transform` space; 0 = off "
            "(precipitation has no spikes to flag), -1 = as the pipeline's."},
    {.name = "gap",
     .type = HZ_CT_INT,
     O(hz_cfg_rules, gap),
     .def = "-1",
     .min = -1,
     .max = 1000000,
     .doc = "As `anomaly.rules.gap`; 0 = off, -1 = as the pipeline's."},
    {.name = "shift",
     .type = HZ_CT_DOUBLE,
     O(hz_cfg_rules, shift),
     .def = "-1",
     .min = -1,
     .max = BIG,
     .doc = "As `anomaly.rules.shift`; 0 = off, -1 = as the pipeline's."},
    {.name = "season",
     .type = HZ_CT_INT,
     O(hz_cfg_rules, season),
     .def = "-1",
     .min = -1,
     .max = 100000,
     .doc = "As `anomaly.rules.season`; -1 = as the pipeline's."},
};
static const hz_csec var_rules_sec = {
    "rules", var_rules_keys, NKEYS(var_rules_keys),
    0,       check_rules,    "This variable's data-quality rules, over `anomaly.rules`."};

static const hz_ckey anomaly_keys[] = {
    {.name = "levels",
     .type = HZ_CT_DBLLIST,
     O(hz_cfg_anomaly, levels),
     N(hz_cfg_anomaly, n_levels),
     .def = "[0.90, 0.99]",
     .min = 0,
     .max = 1,
     .flags = HZ_CF_OPEN,
     .nmin = 1,
     .nmax = 4, /* HZ_IV_MAX_LEVELS, training/interval.h */
     .doc = "Interval levels, ascending, 1 to 4. Forecast rows carry each level's interval "
            "(`lowerNN`/`upperNN`) and the highest as `lower`/`upper`; a reading outside the "
            "highest is flagged (kind `residual`, see docs/ANOMALIES.md)."},
    {.name = "rules",
     .type = HZ_CT_SECTION,
     O(hz_cfg_anomaly, rules),
     .sec = &rules_sec,
     .doc = "Data-quality rules, for every variable unless `variables[].rules` says otherwise."},
    {.name = "record_scores",
     .type = HZ_CT_BOOL,
     O(hz_cfg_anomaly, record_scores),
     .def = "false",
     .doc = "Write every reading's residual score to `anomalies` (`flag` 0 when inside the "
            "interval), not only the flagged ones: a score history, at a row per reading."},
    {.name = "adapt_steps",
     .type = HZ_CT_BOOL,
     O(hz_cfg_anomaly, adapt_steps),
     .def = "true",
     .doc = "Each forecast step's interval adapts to how often that step's issued intervals "
            "missed (docs/ANOMALIES.md), at a cost of horizon x horizon x variables x levels "
            "x 8 bytes per series (9.2 KB at a horizon of 24, one variable, two levels: 0.9 GB "
            "for 100k series). `false`: every step follows one offset, moved by the readings "
            "checked (a large fleet's memory)."},
};
static const hz_csec anomaly_sec = {"anomaly", anomaly_keys,  NKEYS(anomaly_keys),
                                    0,         check_anomaly, "Anomaly flags on arriving points."};

static const hz_ckey variable_keys[] = {
    {.name = "name",
     .type = HZ_CT_STR,
     O(hz_cfg_variable, name),
     .flags = HZ_CF_REQUIRED,
     .doc = "The variable: one of `source.fields.values`."},
    {.name = "series",
     .type = HZ_CT_STR,
     O(hz_cfg_variable, series),
     .def = "\"\"",
     .doc = "Only for series matching this glob (`01491*`, `meter-?7`); its `rules` override "
            "the earlier items' for them (transform, bounds and exclude_faults come from the "
            "items without a pattern). `\"\"` = every series."},
    {.name = "transform",
     .type = HZ_CT_ENUM,
     O(hz_cfg_variable, transform),
     .def = "none",
     .enums = transforms,
     .doc = "Space the variable is modelled and its intervals computed in: `log1p` for flows "
            "and loads, whose errors grow with the level: the model is trained on and forecasts "
            "log1p(max(x, 0)), scaled (docs/ANOMALIES.md). Changing it needs a retrain."},
    {.name = "bounds",
     .type = HZ_CT_DBLLIST,
     O(hz_cfg_variable, bounds),
     N(hz_cfg_variable, n_bounds),
     .min = -BIG,
     .max = BIG,
     .nmin = 2,
     .nmax = 2,
     .flags = HZ_CF_NULLS,
     .def_doc = "none",
     .doc = "`[min, max]` physical bounds, `null` for an open side (`[0, null]`: never "
            "negative); forecasts and intervals are clipped to them."},
    {.name = "rules",
     .type = HZ_CT_SECTION,
     O(hz_cfg_variable, rules),
     .sec = &var_rules_sec,
     .doc = "Rules for this variable, over `anomaly.rules`."},
    {.name = "exclude_faults",
     .type = HZ_CT_BOOL,
     O(hz_cfg_variable, exclude_faults),
     .def = "true",
     .doc = "Keep readings flagged `range` or `spike` out of the model's window (replaced by the "
            "last good value, or the rule's expected value), so one bad reading does not cause "
            "the next false flag; the reading itself is stored as sent."},
};
static const hz_csec variable_sec = {"variables",          variable_keys,
                                     NKEYS(variable_keys), 0,
                                     check_variable,       "One variable's transform and bounds."};

static const char *const fc_modes[] = {"history", "latest", "both", NULL};
static const hz_ckey retention_keys[] = {
    {.name = "readings",
     .type = HZ_CT_DURATION,
     O(hz_cfg_retention, readings_ms),
     .def = "0",
     .min = 0,
     .max = 36500 * DAY_MS, /* a century */
     .doc = "Readings older than this behind the newest reading written are deleted (the "
            "whole table: the file's readings have no pipeline column); at least "
            "`window.lookback` periods, which a restart rebuilds from; 0 = kept."},
    {.name = "forecasts",
     .type = HZ_CT_DURATION,
     O(hz_cfg_retention, forecasts_ms),
     .def = "0",
     .min = 0,
     .max = 36500 * DAY_MS, /* a century */
     .doc = "This pipeline's forecasts issued longer ago than this behind its newest are "
            "deleted, from the history and the latest table (a series gone quiet); 0 = kept."},
    {.name = "anomalies",
     .type = HZ_CT_DURATION,
     O(hz_cfg_retention, anomalies_ms),
     .def = "0",
     .min = 0,
     .max = 36500 * DAY_MS, /* a century */
     .doc = "This pipeline's anomaly records older than this behind its newest are deleted; "
            "0 = kept."},
};
static const hz_csec retention_sec = {"retention",
                                      retention_keys,
                                      NKEYS(retention_keys),
                                      0,
                                      NULL,
                                      "How long rows stay, in data time: rows older than the "
                                      "newest written minus this go at the next commit."};

#define SNK_SQL(f) O(hz_cfg_sink, sqlite.f) - offsetof(hz_cfg_sink, sqlite)
static const hz_ckey sink_sqlite_keys[] = {
    {.name = "path",
     .type = HZ_CT_PATH,
     SNK_SQL(path),
     .flags = HZ_CF_DERIVED,
     .def_doc = "the top-level `database`",
     .doc = "SQLite database written to (WAL mode)."},
    {.name = "forecasts_table",
     .type = HZ_CT_IDENT,
     SNK_SQL(forecasts_table),
     .def = "forecasts",
     .doc = "Table of forecasts."},
    {.name = "anomalies_table",
     .type = HZ_CT_IDENT,
     SNK_SQL(anomalies_table),
     .def = "anomalies",
     .doc = "Table of anomaly flags."},
    {.name = "appliances_table",
     .type = HZ_CT_IDENT,
     SNK_SQL(appliances_table),
     .def = "appliances",
     .doc = "Table of appliance estimates of a disaggregation pipeline (`model.task: "
            "disaggregate`): a row per appliance and minute (docs/ARCHITECTURE.md)."},
    {.name = "dead_letters_table",
     .type = HZ_CT_IDENT,
     SNK_SQL(dead_letters_table),
     .def = "dead_letters",
     .doc = "Table of inputs that could not be used."},
    {.name = "forecasts",
     .type = HZ_CT_ENUM,
     SNK_SQL(forecasts),
     .enums = fc_modes,
     .def = "history",
     .doc = "`history`: a row per step of every forecast in `forecasts_table`, kept for "
            "`retention.forecasts`; `latest`: one row per series and variable in "
            "`latest_<forecasts_table>`, overwritten by each forecast, its steps as JSON "
            "arrays (view `latest_<forecasts_table>_steps`: a row per step), for fleets; "
            "`both`. docs/ARCHITECTURE.md shows the queries."},
    {.name = "readings",
     .type = HZ_CT_BOOL,
     SNK_SQL(readings),
     .def = "true",
     .doc = "Store the readings in `readings`. `false` (a Kafka source only): the topic is "
            "the readings' record, and a start or a rebalance rebuilds the windows from it "
            "(docs/ARCHITECTURE.md §9), so its retention must hold a lookback; at 100k series "
            "the readings' inserts are most of the SQLite work (bench/RESULTS.md)."},
    {.name = "stage_readings",
     .type = HZ_CT_DURATION,
     SNK_SQL(stage_readings_ms),
     .def = "0s",
     .min = 0,
     .max = DAY_MS,
     .doc = "For large fleets (about 50k series and more): readings are appended to "
            "`readings_staged`, a table with no index, and moved into `readings` in key order "
            "this often, so a series' readings of the interval share a page of its index "
            "(bench/RESULTS.md, \"Daemon for fleets\"). They are as durable when staged; "
            "`readings` lags by up to this, view `readings_live` shows both, and a stop or "
            "the next start moves what is left. `0s`: written straight into `readings`."},
    {.name = "max_size_mb",
     .type = HZ_CT_INT,
     SNK_SQL(max_size_mb),
     .def = "0",
     .min = 0,
     .max = 16777216,
     .doc = "Largest size the database file may grow to, in MiB (0: no limit). At the limit "
            "a write fails as on a full disk: nothing of the cycle is acknowledged, and the "
            "pipeline starts again every 5 s until pages are free in the file (rows deleted, "
            "`retention`) or the limit is raised (docs/RELIABILITY.md, Faults)."},
    {.name = "retention",
     .type = HZ_CT_SECTION,
     SNK_SQL(retention),
     .sec = &retention_sec,
     .doc = "How long rows stay (data time); every entry 0 = kept forever."},
};
static const hz_csec sink_sqlite_sec = {
    "sqlite", sink_sqlite_keys, NKEYS(sink_sqlite_keys), 0, NULL, "Write results to SQLite."};

#define SNK_KAF(f) O(hz_cfg_sink, kafka.f) - offsetof(hz_cfg_sink, kafka)
static const hz_ckey sink_kafka_keys[] = {
    {.name = "forecasts",
     .type = HZ_CT_STR,
     SNK_KAF(forecasts),
     .def = "\"\"",
     .doc = "Topic for forecasts; `\"\"` = not published."},
    {.name = "anomalies",
     .type = HZ_CT_STR,
     SNK_KAF(anomalies),
     .def = "\"\"",
     .doc = "Topic for anomaly flags; `\"\"` = not published."},
    {.name = "appliances",
     .type = HZ_CT_STR,
     SNK_KAF(appliances),
     .def = "\"\"",
     .doc = "Topic for the appliance estimates of a disaggregation pipeline, a message per "
            "appliance and window (docs/MESSAGES.md); `\"\"` = not published."},
    {.name = "dead_letters",
     .type = HZ_CT_STR,
     SNK_KAF(dead_letters),
     .def = "\"\"",
     .doc = "Topic for inputs that could not be used; `\"\"` = not published."},
    {.name = "readings",
     .type = HZ_CT_STR,
     SNK_KAF(readings),
     .def = "\"\"",
     .doc = "Topic the accepted readings are republished to, as stored (docs/MESSAGES.md); "
            "`\"\"` = not published."},
    {.name = "properties",
     .type = HZ_CT_MAP,
     SNK_KAF(properties),
     .doc = "librdkafka properties for this producer; override the top-level `kafka` map."},
};
static const hz_csec sink_kafka_sec = {
    "kafka", sink_kafka_keys,  NKEYS(sink_kafka_keys),
    0,       check_kafka_sink, "Publish results to Kafka topics (JSON values)."};

static const hz_ckey sink_keys[] = {
    {.name = "sqlite",
     .type = HZ_CT_SECTION,
     O(hz_cfg_sink, sqlite),
     .sec = &sink_sqlite_sec,
     .flags = HZ_CF_ONEOF,
     .doc = "SQLite sink."},
    {.name = "kafka",
     .type = HZ_CT_SECTION,
     O(hz_cfg_sink, kafka),
     .sec = &sink_kafka_sec,
     .flags = HZ_CF_ONEOF,
     .doc = "Kafka sink."},
};
static const hz_csec sink_sec = {"sinks",
                                 sink_keys,
                                 NKEYS(sink_keys),
                                 offsetof(hz_cfg_sink, kind),
                                 NULL,
                                 "Each item is exactly one of `sqlite` or `kafka`."};

static const hz_ckey pipeline_keys[] = {
    {.name = "name",
     .type = HZ_CT_NAME,
     O(hz_pipeline_conf, name),
     .flags = HZ_CF_REQUIRED,
     .doc = "Unique name; appears in results, metrics and logs."},
    {.name = "source",
     .type = HZ_CT_SECTION,
     O(hz_pipeline_conf, source),
     .sec = &source_sec,
     .flags = HZ_CF_REQUIRED,
     .doc = "Where readings come from."},
    {.name = "window",
     .type = HZ_CT_SECTION,
     O(hz_pipeline_conf, window),
     .sec = &window_sec,
     .flags = HZ_CF_REQUIRED,
     .doc = "Sliding window per series."},
    {.name = "batch",
     .type = HZ_CT_SECTION,
     O(hz_pipeline_conf, batch),
     .sec = &batch_sec,
     .doc = "Inference batching."},
    {.name = "model",
     .type = HZ_CT_SECTION,
     O(hz_pipeline_conf, model),
     .sec = &model_sec,
     .flags = HZ_CF_REQUIRED,
     .doc = "Forecasting model."},
    {.name = "anomaly",
     .type = HZ_CT_SECTION,
     O(hz_pipeline_conf, anomaly),
     .sec = &anomaly_sec,
     .doc = "Anomaly flags."},
    {.name = "variables",
     .type = HZ_CT_SECLIST,
     O(hz_pipeline_conf, variables),
     N(hz_pipeline_conf, n_variables),
     .def = "[]",
     .sec = &variable_sec,
     .elem_size = sizeof(hz_cfg_variable),
     .nmin = 0,
     .nmax = 32,
     .doc = "Per-variable transform and physical bounds."},
    {.name = "sinks",
     .type = HZ_CT_SECLIST,
     O(hz_pipeline_conf, sinks),
     N(hz_pipeline_conf, n_sinks),
     .def = "[{sqlite: {}}]",
     .sec = &sink_sec,
     .elem_size = sizeof(hz_cfg_sink),
     .nmin = 1,
     .nmax = 16,
     .doc = "Where results go."},
};
static const hz_csec pipeline_sec = {
    "pipelines", pipeline_keys,  NKEYS(pipeline_keys),
    0,           check_pipeline, "One pipeline: source → window → model → anomalies → sinks."};

static const hz_ckey root_keys[] = {
    {.name = "database",
     .type = HZ_CT_PATH,
     O(hz_config, database),
     .def = "horizon.sqlite",
     .doc = "SQLite database: default sink and source, model registry; checkpoints go beside it."},
    {.name = "metrics",
     .type = HZ_CT_SECTION,
     O(hz_config, metrics),
     .sec = &metrics_sec,
     .doc = "Metrics endpoint."},
    {.name = "log_level",
     .type = HZ_CT_ENUM,
     O(hz_config, log_level),
     .def = "info",
     .enums = log_levels,
     .enum_vals = log_level_vals,
     .doc = "Most verbose level logged."},
    {.name = "shutdown_timeout",
     .type = HZ_CT_DURATION,
     O(hz_config, shutdown_timeout_ms),
     .def = "30s",
     .min = 0,
     .max = 3600000,
     .doc = "On SIGTERM, how long in-flight work may take to drain before exit."},
    {.name = "kafka",
     .type = HZ_CT_MAP,
     O(hz_config, kafka),
     .doc = "librdkafka properties for every consumer and producer (`bootstrap.servers`, "
            "`security.protocol`, `sasl.*`, `ssl.*`, ...), passed as-is."},
    {.name = "pipelines",
     .type = HZ_CT_SECLIST,
     O(hz_config, pipelines),
     N(hz_config, n_pipelines),
     .sec = &pipeline_sec,
     .elem_size = sizeof(hz_pipeline_conf),
     .flags = HZ_CF_REQUIRED,
     .nmin = 1,
     .nmax = 1024,
     .doc = "The pipelines to run."},
};
const hz_csec hz_conf_root = {"", root_keys,  NKEYS(root_keys),
                              0,  check_root, "Settings of the whole process."};
