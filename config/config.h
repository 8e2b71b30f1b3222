/* config.h — horizon's YAML configuration as typed structs (docs/ARCHITECTURE.md).
 *
 * One file is read by both programs. hz_config_load() parses it with libyaml, fills every
 * default, resolves relative paths against the file's directory and validates everything;
 * a bad file is refused with `file.yaml:LINE:COL: key.path: what was expected, got ...`.
 * Every key, its type, default and meaning lives in one table (config_schema.c), which also
 * produces docs/CONFIG.md (hz_config_write_doc, `horizond --dump-schema`).
 *
 * Ownership: hz_config_load() returns a tree owned by the hz_config; every string and array
 * in it is freed by hz_config_free(). Callers read fields and never free them. */
#ifndef HZ_CONFIG_H
#define HZ_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A free-form map handed to librdkafka as-is, in file order; line/col (1-based) locate the
 * key in the YAML so that a property librdkafka refuses can be reported against the file. */
typedef struct hz_conf_kv {
    char *key;
    char *value;
    int line, col;
} hz_conf_kv;

typedef struct hz_conf_map {
    hz_conf_kv *items;
    size_t n;
} hz_conf_map;

enum { HZ_CFG_SOURCE_KAFKA, HZ_CFG_SOURCE_SQLITE, HZ_CFG_SOURCE_CSV };
enum { HZ_CFG_SINK_SQLITE, HZ_CFG_SINK_KAFKA };
enum { HZ_CFG_TIME_AUTO, HZ_CFG_TIME_ISO8601, HZ_CFG_TIME_EPOCH_S, HZ_CFG_TIME_EPOCH_MS };
enum { HZ_CFG_FILL_PREVIOUS, HZ_CFG_FILL_LINEAR, HZ_CFG_FILL_NONE };
enum {
    HZ_CFG_MODEL_INFORMER,
    HZ_CFG_MODEL_ITRANSFORMER,
    HZ_CFG_MODEL_NILMFORMER,
    HZ_CFG_MODEL_NKINDS
};
enum { HZ_CFG_TASK_FORECAST, HZ_CFG_TASK_DISAGGREGATE };
enum { HZ_CFG_ATTN_PROB, HZ_CFG_ATTN_FULL };
enum { HZ_CFG_EMBED_TIMEF, HZ_CFG_EMBED_FIXED, HZ_CFG_EMBED_LEARNED };
enum { HZ_CFG_OPT_ADAM, HZ_CFG_OPT_ADAMW };
enum { HZ_CFG_LRADJ_TYPE1, HZ_CFG_LRADJ_COSINE, HZ_CFG_LRADJ_NONE, HZ_CFG_LRADJ_PLATEAU };
enum { HZ_CFG_SPLIT_ETT_HOUR, HZ_CFG_SPLIT_ETT_MINUTE, HZ_CFG_SPLIT_RATIO };
enum { HZ_CFG_FEATURES_M, HZ_CFG_FEATURES_S, HZ_CFG_FEATURES_MS };

typedef struct hz_cfg_source {
    int kind; /* HZ_SOURCE_*: which of kafka / sqlite / csv was given */
    struct {
        char *topic;
        char *group_id;         /* "group.id" */
        hz_conf_map properties; /* overrides the top-level kafka map */
    } kafka;
    struct {
        char *path; /* default: the top-level database */
        char *table;
        int64_t poll_ms;
    } sqlite;
    struct {
        char *path;
        char *series; /* fixed series id; "" = read fields.series column */
        char *delimiter;
        int date_order; /* slashed dates: HZ_CSV_YMD, _MDY, _DMY (connectors/csv.h) */
    } csv;
    struct {
        char *series;
        char *time;
        int time_format; /* HZ_TIME_* */
        char **values;
        size_t n_values; /* 1..32 */
    } fields;
    int64_t max_future_ms; /* readings further ahead of the wall clock are refused; 0: none */
} hz_cfg_source;

typedef struct hz_cfg_window {
    int64_t period_ms;
    int lookback, horizon, stride, label_len;
    int fill;          /* HZ_FILL_* */
    int max_gap;       /* training: the longest hole filled; a longer one ends a stretch */
    int wait;          /* slots a variable absent from a reading is awaited before it is filled */
    int64_t offset_ms; /* where slots start within a period (window_store.h) */
} hz_cfg_window;

typedef struct hz_cfg_batch {
    int max;
    int64_t max_wait_ms;
    int64_t commit_after_ms; /* group commit: the oldest uncommitted result's age; 0: a cycle */
} hz_cfg_batch;

typedef struct hz_cfg_model_params {
    int d_model, n_heads, e_layers, d_layers, d_ff, factor;
    double dropout;
    int attn;        /* HZ_ATTN_* (informer) */
    int distil, mix; /* informer */
    int embed;       /* HZ_EMBED_* */
    int use_norm, use_marks;
    int norm_centre; /* 0: the window's mean, 1: its last value */
    int c_embedding; /* nilmformer */
    int stats_mu;    /* nilmformer: the stats token reads the window mean (hz_model_conf) */
    int *dilations;  /* nilmformer */
    size_t n_dilations;
    int plain; /* nilmformer, task disaggregate: the plain-transformer baseline (MODELS.md 8.10) */
    int seed;
} hz_cfg_model_params;

typedef struct hz_cfg_train {
    int epochs, batch;
    double lr;
    int optimizer; /* HZ_OPT_* */
    double weight_decay, clip;
    int lradj; /* HZ_LRADJ_* */
    int patience, seed, threads;
    int repeats; /* training runs with seeds seed..seed+repeats-1 (the scripts' itr) */
    int train_on_start;
    int64_t retrain_every_ms; /* 0 = never */
} hz_cfg_train;

/* One appliance a disaggregation pipeline estimates (model.data.appliances[]): one model
 * each (training/disagg.h). */
typedef struct hz_cfg_appliance {
    char *name;          /* its column in the training data, and its name in the results */
    double on_threshold; /* watts: below it the appliance is off and its estimate 0 */
} hz_cfg_appliance;

typedef struct hz_cfg_data {
    int split;      /* HZ_SPLIT_* */
    double *ratios; /* train, val, test */
    size_t n_ratios;
    int features; /* HZ_FEATURES_* */
    char *target; /* default: the last of source.fields.values */
    char **known; /* variables known over the horizon (forecast drivers), MS only */
    size_t n_known;
    int scale;
    int pool;           /* 1: one model on every series of the table (training/pool.h) */
    int series_windows; /* pool: training windows drawn per series per epoch; 0 = the mean */
    /* task disaggregate: the appliances, and the power both series are divided by (0: the
     * training split's largest aggregate reading) */
    hz_cfg_appliance *appliances;
    size_t n_appliances;
    double max_power;
    int zero_is_gap; /* task disaggregate: an aggregate of exactly 0 is a missing reading */
} hz_cfg_data;

typedef struct hz_cfg_model {
    int kind;         /* HZ_MODEL_* */
    int task;         /* HZ_TASK_* */
    char *checkpoint; /* default: <database dir>/<pipeline>.safetensors */
    hz_cfg_model_params params;
    hz_cfg_train train;
    hz_cfg_data data;
} hz_cfg_model;

/* Data-quality rules (pipeline/anomaly.h).  In anomaly.rules 0 / no range is off; in a
 * variables[] item -1 / no range means "as anomaly.rules", and a range of [null, null] or 0
 * turns the rule off for that variable. */
typedef struct hz_cfg_rules {
    double *range; /* n_range == 0: off (inherit in variables[]); else {min, max}, NaN open */
    size_t n_range;
    int flatline; /* 0 = off */
    double spike; /* 0 = off */
    int gap;      /* 0 = off */
    double shift; /* CUSUM threshold on the residuals; 0 = off */
    int season;   /* > 0: the shift CUSUM runs on the change from this many periods before */
    int zero;     /* 1: a reading of exactly 0 is a range fault; 0 = off (-1: inherit) */
} hz_cfg_rules;

typedef struct hz_cfg_anomaly {
    double *levels; /* ascending, each in (0,1) */
    size_t n_levels;
    hz_cfg_rules rules;
    int record_scores; /* 1: every residual check is written (flag 0 when inside) */
    int adapt_steps;   /* 1: offsets per forecast step, learnt from issued intervals */
} hz_cfg_anomaly;

/* One variable's physics (pipelines[].variables): how its forecast intervals are computed
 * and where its values must lie (training/interval.h). */
enum { HZ_CFG_TF_NONE = 0, HZ_CFG_TF_LOG1P = 1 }; /* = HZ_TF_* of training/interval.h */
typedef struct hz_cfg_variable {
    char *name;     /* one of source.fields.values */
    char *series;   /* "" = every series; else a glob (fnmatch) of the series it is for */
    int transform;  /* HZ_CFG_TF_* */
    double *bounds; /* n_bounds 0: none; else {min, max}, NaN = open on that side */
    size_t n_bounds;
    hz_cfg_rules rules; /* overrides of anomaly.rules (-1, no range: inherit) */
    int exclude_faults; /* 1: range and spike readings are replaced in the model's window */
} hz_cfg_variable;

/* How long rows stay in an SQLite sink's tables, in data time (ms behind the newest row
 * written); 0 = forever. */
typedef struct hz_cfg_retention {
    int64_t readings_ms, forecasts_ms, anomalies_ms;
} hz_cfg_retention;

enum { HZ_CFG_FC_HISTORY = 0, HZ_CFG_FC_LATEST = 1, HZ_CFG_FC_BOTH = 2 };

typedef struct hz_cfg_sink {
    int kind; /* HZ_SINK_* */
    struct {
        char *path;
        char *forecasts_table, *anomalies_table, *dead_letters_table, *appliances_table;
        int forecasts;   /* HZ_CFG_FC_*: which forecast tables are written */
        int readings;    /* 0: readings are not stored (a Kafka source rebuilds from the topic) */
        int max_size_mb; /* 0: no limit; else the file's size limit (PRAGMA max_page_count) */
        int64_t stage_readings_ms; /* > 0: readings staged, moved this often */
        hz_cfg_retention retention;
    } sqlite;
    struct {
        char *forecasts, *anomalies, *dead_letters, *readings; /* "" = not published */
        char *appliances;                                      /* estimates; "" = not */
        hz_conf_map properties;
    } kafka;
} hz_cfg_sink;

typedef struct hz_pipeline_conf {
    char *name;
    hz_cfg_source source;
    hz_cfg_window window;
    hz_cfg_batch batch;
    hz_cfg_model model;
    hz_cfg_anomaly anomaly;
    hz_cfg_variable *variables;
    size_t n_variables;
    hz_cfg_sink *sinks;
    size_t n_sinks;
    char *canonical; /* effective settings as text, for hz_config_pipeline_equal */
    int line, col;   /* where the pipeline starts in the file */
} hz_pipeline_conf;

typedef struct hz_config {
    char *path; /* the file as given */
    char *dir;  /* its directory ("." when path has no '/'); relative paths in the file were
                 * resolved against it */
    char *database;
    struct {
        char *listen;     /* host:port; "" = disabled */
        int allow_public; /* 1: listen may be a non-loopback address */
    } metrics;
    int log_level; /* HZ_LOG_* (syslog numbering) */
    int64_t shutdown_timeout_ms;
    hz_conf_map kafka;
    hz_pipeline_conf *pipelines;
    size_t n_pipelines;
} hz_config;

/* Loads and validates path. Returns 0 and *out (free with hz_config_free), or a negative
 * HZ_E* code with *out = NULL and a message in err: HZ_EIO when the file cannot be read,
 * HZ_EFORMAT for a YAML syntax error, HZ_EINVAL for a schema violation, HZ_ENOMEM. */
int hz_config_load(const char *path, hz_config **out, char *err, size_t errlen);

/* The same for len bytes of YAML at buf, as if read from the file path (which names it in
 * messages and anchors relative paths; it is not opened). */
int hz_config_load_mem(const void *buf, size_t len, const char *path, hz_config **out, char *err,
                       size_t errlen);

/* Frees everything cfg owns. NULL is a no-op. */
void hz_config_free(hz_config *cfg);

/* The pipeline called name, or NULL. The pointer lives as long as cfg. */
const hz_pipeline_conf *hz_config_pipeline(const hz_config *cfg, const char *name);

/* The rules of variable `name` for series `series` in pc: anomaly.rules, then every
 * variables[] item of that name, in order, whose `series` is empty or matches (glob) the
 * series (series NULL: only the items without a pattern) overrides it (-1 and no range
 * inherit); also its transform (HZ_CFG_TF_*) and exclude_faults (without an item: none, 1). */
void hz_config_rules_for(const hz_pipeline_conf *pc, const char *name, const char *series,
                         hz_cfg_rules *out, int *transform, int *exclude_faults);
/* Whether any variables[] item of pc names a series pattern. */
int hz_config_has_series_rules(const hz_pipeline_conf *pc);

/* 1 when a and b have the same effective settings (after defaults, including the top-level
 * kafka properties and database they inherit), else 0. SIGHUP restarts the pipelines for
 * which this is 0. Comments, key order and spelling out a default do not count. */
int hz_config_pipeline_equal(const hz_pipeline_conf *a, const hz_pipeline_conf *b);

/* The value of key in m (the last one when a map were to repeat it; loading refuses that), or
 * NULL. For a pipeline's librdkafka settings, look in its properties first, then cfg->kafka. */
const char *hz_conf_map_get(const hz_conf_map *m, const char *key);

/* Writes the reference of every key (markdown: key path, type, default, meaning) to f;
 * docs/CONFIG.md is this output. Returns 0 or HZ_EIO. */
int hz_config_write_doc(FILE *f);

/* Names of the enum values, for messages and logs ("informer", ...). Never NULL. */
const char *hz_config_model_kind_name(int kind);

#endif
