/* test_config.c — YAML configuration: examples, defaults, value syntax, refused inputs with
 * their exact line:column, SIGHUP comparison, and docs/CONFIG.md matching the key table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "common/hz.h"

/* A pipeline with only the required keys; tests append or substitute. */
#define MINIMAL                                                                                    \
    "pipelines:\n"                                                                                 \
    "  - name: p1\n"                                                                               \
    "    source:\n"                                                                                \
    "      sqlite: {}\n"                                                                           \
    "      fields: {values: [x]}\n"                                                                \
    "    window: {period: 1h}\n"                                                                   \
    "    model: {kind: informer}\n"

typedef struct tmp {
    char dir[64];
    char path[128];
} tmp;

static int tmp_setup(void **state)
{
    tmp *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    snprintf(t->dir, sizeof t->dir, "/tmp/hz_config_XXXXXX");
    if (!mkdtemp(t->dir)) {
        free(t);
        return -1;
    }
    snprintf(t->path, sizeof t->path, "%s/c.yaml", t->dir);
    *state = t;
    return 0;
}

static int tmp_teardown(void **state)
{
    tmp *t = *state;
    unlink(t->path);
    rmdir(t->dir);
    free(t);
    return 0;
}

/* Writes text to the temp file and loads it. */
static int load_str(tmp *t, const char *text, hz_config **cfg, char *err)
{
    FILE *f = fopen(t->path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    err[0] = 0;
    return hz_config_load(t->path, cfg, err, HZ_ERRLEN);
}

static void test_examples_load(void **state)
{
    glob_t g;
    assert_int_equal(glob("config/examples/*.yaml", 0, NULL, &g), 0);
    assert_true(g.gl_pathc >= 3);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        char err[HZ_ERRLEN] = "";
        hz_config *cfg = NULL;
        int rc = hz_config_load(g.gl_pathv[i], &cfg, err, sizeof err);
        if (rc)
            fail_msg("%s: %s", g.gl_pathv[i], err);
        assert_non_null(cfg);
        assert_true(cfg->n_pipelines >= 1);
        hz_config_free(cfg);
    }
    globfree(&g);
}

static void test_example_values(void **state)
{
    char err[HZ_ERRLEN];
    hz_config *cfg = NULL;
    assert_int_equal(hz_config_load("config/examples/smart_meter.yaml", &cfg, err, sizeof err), 0);
    const hz_pipeline_conf *p = hz_config_pipeline(cfg, "feeder-load");
    assert_non_null(p);
    assert_null(hz_config_pipeline(cfg, "nope"));
    assert_int_equal(p->source.kind, HZ_CFG_SOURCE_KAFKA);
    assert_string_equal(p->source.kafka.topic, "meter-readings");
    assert_string_equal(p->source.kafka.group_id, "horizon-feeder");
    assert_int_equal(p->window.period_ms, 15 * 60 * 1000);
    assert_int_equal(p->window.lookback, 672);
    assert_int_equal(p->window.label_len, 96);
    assert_int_equal(p->model.kind, HZ_CFG_MODEL_INFORMER);
    assert_int_equal(p->model.train.retrain_every_ms, 7LL * 86400 * 1000);
    assert_int_equal(p->n_sinks, 2);
    assert_int_equal(p->sinks[0].kind, HZ_CFG_SINK_SQLITE);
    assert_string_equal(p->sinks[0].sqlite.path, "/var/lib/horizon/horizon.sqlite");
    assert_int_equal(p->sinks[1].kind, HZ_CFG_SINK_KAFKA);
    assert_string_equal(p->sinks[1].kafka.anomalies, "meter-anomalies");
    assert_int_equal(p->anomaly.rules.n_range, 2);
    assert_true(p->anomaly.rules.range[1] == 500.0);
    assert_true(p->anomaly.rules.spike == 0.0);
    hz_config_free(cfg);

    /* demo.yaml's relative database resolves against config/examples/. */
    assert_int_equal(hz_config_load("config/examples/demo.yaml", &cfg, err, sizeof err), 0);
    assert_string_equal(cfg->database, "config/examples/../../build/demo.sqlite");
    assert_string_equal(cfg->pipelines[0].source.sqlite.path, cfg->database);
    assert_string_equal(cfg->metrics.listen, "");
    /* variables: log1p and an open upper bound (null) */
    const hz_pipeline_conf *d = &cfg->pipelines[0];
    assert_int_equal(d->n_variables, 1);
    assert_string_equal(d->variables[0].name, "Qdaily");
    assert_int_equal(d->variables[0].transform, HZ_CFG_TF_LOG1P);
    assert_int_equal(d->variables[0].n_bounds, 2);
    assert_true(d->variables[0].bounds[0] == 0 && isnan(d->variables[0].bounds[1]));
    hz_config_free(cfg);
}

static void test_defaults(void **state)
{
    tmp *t = *state;
    char err[HZ_ERRLEN];
    hz_config *cfg = NULL;
    int rc = load_str(t, MINIMAL, &cfg, err);
    if (rc)
        fail_msg("%s", err);
    char db[160];
    snprintf(db, sizeof db, "%s/horizon.sqlite", t->dir);
    assert_string_equal(cfg->database, db);
    assert_string_equal(cfg->metrics.listen, "127.0.0.1:9464");
    assert_int_equal(cfg->log_level, HZ_LOG_INFO);
    assert_int_equal(cfg->shutdown_timeout_ms, 30000);
    assert_int_equal(cfg->kafka.n, 0);
    const hz_pipeline_conf *p = &cfg->pipelines[0];
    assert_string_equal(p->source.sqlite.path, db);
    assert_string_equal(p->source.sqlite.table, "readings");
    assert_int_equal(p->source.sqlite.poll_ms, 1000);
    assert_string_equal(p->source.fields.series, "series");
    assert_string_equal(p->source.fields.time, "ts");
    assert_int_equal(p->source.fields.time_format, HZ_CFG_TIME_AUTO);
    assert_int_equal(p->window.lookback, 96);
    assert_int_equal(p->window.horizon, 24);
    assert_int_equal(p->window.label_len, 48);
    assert_int_equal(p->window.stride, 1);
    assert_int_equal(p->window.fill, HZ_CFG_FILL_PREVIOUS);
    assert_int_equal(p->batch.max, 64);
    assert_int_equal(p->batch.max_wait_ms, 200);
    /* Informer's paper defaults (docs/MODELS.md §2.3). */
    const hz_cfg_model_params *mp = &p->model.params;
    assert_int_equal(mp->d_model, 512);
    assert_int_equal(mp->n_heads, 8);
    assert_int_equal(mp->e_layers, 2);
    assert_int_equal(mp->d_layers, 1);
    assert_int_equal(mp->d_ff, 2048);
    assert_int_equal(mp->factor, 5);
    assert_true(mp->dropout == 0.05);
    assert_int_equal(mp->attn, HZ_CFG_ATTN_PROB);
    assert_int_equal(mp->distil, 1);
    assert_int_equal(mp->embed, HZ_CFG_EMBED_TIMEF);
    assert_int_equal(p->model.train.epochs, 6);
    assert_int_equal(p->model.train.seed, 2021);
    assert_true(p->model.train.lr == 1e-4);
    assert_int_equal(p->model.data.split, HZ_CFG_SPLIT_RATIO);
    assert_int_equal(p->model.data.n_ratios, 3);
    assert_true(p->model.data.ratios[0] == 0.7);
    assert_string_equal(p->model.data.target, "x");
    char ck[160];
    snprintf(ck, sizeof ck, "%s/p1.safetensors", t->dir);
    assert_string_equal(p->model.checkpoint, ck);
    assert_int_equal(p->anomaly.n_levels, 2);
    assert_true(p->anomaly.levels[0] == 0.90 && p->anomaly.levels[1] == 0.99);
    assert_int_equal(p->anomaly.rules.n_range, 0);
    assert_int_equal(p->anomaly.rules.flatline, 0);
    assert_int_equal(p->n_sinks, 1);
    assert_int_equal(p->sinks[0].kind, HZ_CFG_SINK_SQLITE);
    assert_string_equal(p->sinks[0].sqlite.path, db);
    assert_string_equal(p->sinks[0].sqlite.forecasts_table, "forecasts");
    hz_config_free(cfg);
}

static void test_per_kind_defaults(void **state)
{
    tmp *t = *state;
    char err[HZ_ERRLEN];
    hz_config *cfg = NULL;
    const char *text =
        "database: /x/db.sqlite\n"
        "pipelines:\n"
        "  - name: it\n"
        "    source: {sqlite: {}, fields: {values: [a, b]}}\n"
        "    window: {period: 15m}\n"
        "    model: {kind: itransformer}\n"
        "  - name: nilm\n"
        "    source: {csv: {path: agg.csv}, fields: {time: date, values: [aggregate]}}\n"
        "    window: {period: 1m, lookback: 256, horizon: 256}\n"
        "    model: {kind: nilmformer, task: disaggregate, checkpoint: m/nilm.safetensors,\n"
        "            train: {lradj: plateau},\n"
        "            data: {max_power: 6000, appliances: [{name: kettle, on_threshold: 500},\n"
        "                                                 {name: washer, on_threshold: 20}]}}\n";
    int rc = load_str(t, text, &cfg, err);
    if (rc)
        fail_msg("%s", err);
    const hz_pipeline_conf *it = hz_config_pipeline(cfg, "it");
    const hz_pipeline_conf *nl = hz_config_pipeline(cfg, "nilm");
    assert_true(it->model.params.dropout == 0.1);
    assert_int_equal(it->model.params.use_norm, 1);
    assert_int_equal(it->model.train.epochs, 10);
    assert_int_equal(it->model.train.seed, 2023);
    assert_string_equal(it->model.data.target, "b");
    assert_string_equal(it->model.checkpoint, "/x/it.safetensors");
    assert_int_equal(nl->model.params.d_model, 96);
    assert_int_equal(nl->model.params.e_layers, 3);
    assert_int_equal(nl->model.params.d_ff, 384);
    assert_int_equal(nl->model.params.c_embedding, 8);
    assert_int_equal(nl->model.params.n_dilations, 4);
    assert_int_equal(nl->model.params.dilations[3], 8);
    assert_int_equal(nl->model.params.plain, 0);
    assert_int_equal(nl->model.train.optimizer, HZ_CFG_OPT_ADAMW);
    assert_int_equal(nl->model.train.batch, 64);
    assert_int_equal(nl->model.task, HZ_CFG_TASK_DISAGGREGATE);
    assert_int_equal(nl->model.train.lradj, HZ_CFG_LRADJ_PLATEAU);
    assert_int_equal(nl->model.data.n_appliances, 2);
    assert_string_equal(nl->model.data.appliances[1].name, "washer");
    assert_true(nl->model.data.appliances[0].on_threshold == 500);
    assert_true(nl->model.data.max_power == 6000);
    assert_int_equal(nl->source.kind, HZ_CFG_SOURCE_CSV);
    assert_string_equal(nl->source.csv.series, "nilm");
    assert_string_equal(nl->source.csv.delimiter, ",");
    char want[200];
    snprintf(want, sizeof want, "%s/agg.csv", t->dir);
    assert_string_equal(nl->source.csv.path, want);
    snprintf(want, sizeof want, "%s/m/nilm.safetensors", t->dir);
    assert_string_equal(nl->model.checkpoint, want);
    hz_config_free(cfg);
}

static void test_value_syntax(void **state)
{
    tmp *t = *state;
    char err[HZ_ERRLEN], text[1024];
    static const struct {
        const char *in;
        int64_t ms;
    } durs[] = {{"200ms", 200},    {"1s", 1000},  {"15m", 900000},  {"1h", 3600000},
                {"7d", 604800000}, {"45", 45000}, {"\"2s\"", 2000}, {"0", 0}};
    for (size_t i = 0; i < sizeof durs / sizeof durs[0]; i++) {
        hz_config *cfg = NULL;
        snprintf(text, sizeof text,
                 "pipelines:\n  - name: p1\n    source: {sqlite: {}, fields: {values: [x]}}\n"
                 "    window: {period: 1h}\n    model:\n      kind: informer\n"
                 "      train: {retrain_every: %s}\n",
                 durs[i].in);
        int rc = load_str(t, text, &cfg, err);
        if (rc)
            fail_msg("%s: %s", durs[i].in, err);
        assert_int_equal(cfg->pipelines[0].model.train.retrain_every_ms, durs[i].ms);
        hz_config_free(cfg);
    }
    static const char *const bad_durs[] = {"1.5h", "-1s", "1 h", "1w", "h", "2h", "ms", "1e3"};
    for (size_t i = 0; i < sizeof bad_durs / sizeof bad_durs[0]; i++) {
        hz_config *cfg = NULL;
        snprintf(text, sizeof text, "shutdown_timeout: %s\n" MINIMAL, bad_durs[i]);
        assert_int_equal(load_str(t, text, &cfg, err), HZ_EINVAL);
        assert_null(cfg);
        assert_non_null(strstr(err, "c.yaml:1:19: shutdown_timeout: expected a duration"));
    }
    /* Booleans and numbers. */
    static const char *const yes[] = {"true", "yes", "True"}, *const no[] = {"false", "no"};
    for (size_t i = 0; i < 5; i++) {
        hz_config *cfg = NULL;
        snprintf(text, sizeof text,
                 "pipelines:\n  - name: p1\n    source: {sqlite: {}, fields: {values: [x]}}\n"
                 "    window: {period: 1h}\n    model:\n      kind: informer\n"
                 "      train: {train_on_start: %s, lr: 3e-4, clip: 1}\n",
                 i < 3 ? yes[i] : no[i - 3]);
        int rc = load_str(t, text, &cfg, err);
        if (rc)
            fail_msg("%s", err);
        assert_int_equal(cfg->pipelines[0].model.train.train_on_start, i < 3);
        assert_true(cfg->pipelines[0].model.train.lr == 3e-4);
        assert_true(cfg->pipelines[0].model.train.clip == 1.0);
        hz_config_free(cfg);
    }
    static const char *const bad_nums[] = {"inf", ".inf", "nan", "0x10", "1e", "", "1..5", "0.1.2"};
    for (size_t i = 0; i < sizeof bad_nums / sizeof bad_nums[0]; i++) {
        hz_config *cfg = NULL;
        snprintf(text, sizeof text,
                 "pipelines:\n  - name: p1\n    source: {sqlite: {}, fields: {values: [x]}}\n"
                 "    window: {period: 1h}\n    model:\n      kind: informer\n"
                 "      train: {lr: %s}\n",
                 bad_nums[i]);
        assert_int_equal(load_str(t, text, &cfg, err), HZ_EINVAL);
        assert_non_null(strstr(err, "pipelines[0].model.train.lr: expected a number"));
    }
}

static void test_kafka_map_keeps_order_and_lines(void **state)
{
    tmp *t = *state;
    char err[HZ_ERRLEN];
    hz_config *cfg = NULL;
    const char *text = "kafka:\n"
                       "  security.protocol: SASL_SSL\n"
                       "  bootstrap.servers: b1:9092,b2:9092\n"
                       "  enable.idempotence: true\n"
                       "pipelines:\n"
                       "  - name: k\n"
                       "    source:\n"
                       "      kafka:\n"
                       "        topic: in\n"
                       "        properties: {fetch.wait.max.ms: 50}\n"
                       "      fields: {values: [v]}\n"
                       "    window: {period: 1m}\n"
                       "    model: {kind: informer}\n"
                       "    sinks: [{kafka: {forecasts: out}}]\n";
    int rc = load_str(t, text, &cfg, err);
    if (rc)
        fail_msg("%s", err);
    assert_int_equal(cfg->kafka.n, 3);
    assert_string_equal(cfg->kafka.items[0].key, "security.protocol");
    assert_string_equal(cfg->kafka.items[1].key, "bootstrap.servers");
    assert_string_equal(cfg->kafka.items[1].value, "b1:9092,b2:9092");
    assert_int_equal(cfg->kafka.items[1].line, 3);
    assert_int_equal(cfg->kafka.items[1].col, 3);
    assert_string_equal(cfg->kafka.items[2].value, "true");
    const hz_pipeline_conf *p = &cfg->pipelines[0];
    assert_int_equal(p->source.kafka.properties.n, 1);
    assert_string_equal(p->source.kafka.properties.items[0].value, "50");
    assert_int_equal(p->source.kafka.properties.items[0].line, 10);
    assert_int_equal(p->source.kafka.properties.items[0].col, 22);
    assert_string_equal(p->source.kafka.group_id, "horizon-k");
    assert_string_equal(hz_conf_map_get(&cfg->kafka, "enable.idempotence"), "true");
    assert_null(hz_conf_map_get(&cfg->kafka, "fetch.wait.max.ms"));
    assert_null(hz_conf_map_get(NULL, "x"));
    assert_string_equal(p->sinks[0].kafka.forecasts, "out");
    assert_string_equal(p->sinks[0].kafka.anomalies, "");
    hz_config_free(cfg);
}

/* Every enum name maps to its header constant (the tables and the enums are kept in step). */
static void test_enum_values(void **state)
{
    tmp *t = *state;
    char err[HZ_ERRLEN];
    hz_config *cfg = NULL;
    const char *text = "log_level: debug\n"
                       "pipelines:\n"
                       "  - name: e\n"
                       "    source:\n"
                       "      csv: {path: /data/x.csv, series: \"\", delimiter: \";\"}\n"
                       "      fields: {time_format: epoch_ms, values: [a, b]}\n"
                       "    window: {period: 10m, fill: linear}\n"
                       "    model:\n"
                       "      kind: informer\n"
                       "      params: {attn: full, embed: timeF, distil: no}\n"
                       "      train: {lradj: cosine}\n"
                       "      data: {split: ett_minute, features: MS, target: a}\n"
                       "    sinks:\n"
                       "      - sqlite: {path: out.sqlite}\n"
                       "      - kafka: {dead_letters: dl, properties: {bootstrap.servers: "
                       "\"b:1\"}}\n";
    int rc = load_str(t, text, &cfg, err);
    if (rc)
        fail_msg("%s", err);
    const hz_pipeline_conf *p = &cfg->pipelines[0];
    assert_int_equal(cfg->log_level, HZ_LOG_DEBUG);
    assert_int_equal(p->source.kind, HZ_CFG_SOURCE_CSV);
    assert_string_equal(p->source.csv.path, "/data/x.csv");
    assert_string_equal(p->source.csv.series, "");
    assert_string_equal(p->source.csv.delimiter, ";");
    assert_int_equal(p->source.fields.time_format, HZ_CFG_TIME_EPOCH_MS);
    assert_int_equal(p->window.fill, HZ_CFG_FILL_LINEAR);
    assert_int_equal(p->model.params.attn, HZ_CFG_ATTN_FULL);
    assert_int_equal(p->model.params.embed, HZ_CFG_EMBED_TIMEF);
    assert_int_equal(p->model.params.distil, 0);
    assert_int_equal(p->model.train.lradj, HZ_CFG_LRADJ_COSINE);
    assert_int_equal(p->model.data.split, HZ_CFG_SPLIT_ETT_MINUTE);
    assert_int_equal(p->model.data.features, HZ_CFG_FEATURES_MS);
    assert_string_equal(p->model.data.target, "a");
    assert_int_equal(p->n_sinks, 2);
    assert_int_equal(p->sinks[0].kind, HZ_CFG_SINK_SQLITE);
    char want[200];
    snprintf(want, sizeof want, "%s/out.sqlite", t->dir);
    assert_string_equal(p->sinks[0].sqlite.path, want);
    assert_int_equal(p->sinks[1].kind, HZ_CFG_SINK_KAFKA);
    assert_string_equal(p->sinks[1].kafka.dead_letters, "dl");
    assert_string_equal(hz_conf_map_get(&p->sinks[1].kafka.properties, "bootstrap.servers"), "b:1");
    assert_string_equal(hz_config_model_kind_name(p->model.kind), "informer");
    hz_config_free(cfg);
}

/* Refused inputs: file, "line:col: " expected in the message, and a phrase of it. */
static const struct {
    const char *file;
    const char *where;
    const char *phrase;
} bad[] = {
    {"bad_unknown_key.yaml",
     ":8:7: ", "unknown key \"lookbak\" in pipelines[0].window (did you mean \"lookback\"?)"},
    {"bad_wrong_type.yaml", ":8:17: ",
     "window.lookback: expected an integer in [1, 100000], "
     "got a sequence"},
    {"bad_missing_required.yaml", ":6:13: ", "pipelines[0].window.period: missing required key"},
    {"bad_out_of_range.yaml", ":6:36: ", "expected an integer in [1, 100000], got \"0\""},
    {"bad_enum.yaml", ":9:22: ", "params.attn: expected one of prob|full, got \"sparse\""},
    {"bad_duration.yaml", ":6:22: ", "window.period: expected a duration in [1s, 30d]"},
    {"bad_duplicate_key.yaml", ":9:1: ", "database: duplicate key (first at 1:1)"},
    {"bad_syntax.yaml", ":4:5: ", "invalid YAML: did not find expected ',' or '}'"},
    {"bad_empty.yaml", ":1:1: ", "got an empty document"},
    {"bad_two_sources.yaml", ":5:12: ", "expected exactly one of kafka, sqlite, csv"},
    {"bad_no_source.yaml", ":4:7: ", "source: expected one of kafka, sqlite, csv, got none"},
    {"bad_duplicate_pipeline.yaml", ":6:11: ", "expected a unique pipeline name, got \"p1\""},
    {"bad_kind_param.yaml", ":7:30: ", "params.distil: not a setting of itransformer models"},
    {"bad_levels.yaml", ":7:21: ", "anomaly.levels[1]: expected a number in (0, 1), got \"1.0\""},
    {"bad_levels_count.yaml", ":7:15: ", "anomaly.levels: expected 1 to 4 items, got 5"},
    {"bad_range_rule.yaml", ":7:22: ", "rules.range: expected [min, max] with min < max"},
    {"bad_identifier.yaml", ":3:30: ", "sqlite.table: expected an SQL identifier"},
    {"bad_nan.yaml", ":7:25: ", "params.dropout: expected a number in [0, 0.99], got \".nan\""},
    {"bad_label_len.yaml", ":4:51: ", "label_len: expected at most lookback (24), got 48"},
    {"bad_target.yaml", ":7:36: ", "data.target: expected one of source.fields.values"},
    {"bad_no_pipelines.yaml", ":2:12: ", "pipelines: expected 1 to 1024 items, got 0"},
    {"bad_kafka_no_brokers.yaml", ":5:14: ", "expected bootstrap.servers"},
    {"bad_pipeline_name.yaml", ":2:11: ", "name: expected a name of lower-case letters"},
    {"bad_kafka_nested.yaml", ":3:9: ", "kafka.sasl: expected a string, number or boolean"},
    {"bad_second_document.yaml", ":7:1: ", "expected one YAML document, got a second one"},
    {"bad_tab_indent.yaml", ":2:1: ", "invalid YAML: found character that cannot start"},
    {"bad_not_mapping.yaml", ":1:1: ", "expected a mapping of settings"},
};

static void test_bad_inputs(void **state)
{
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[256], err[HZ_ERRLEN] = "", want[300];
        snprintf(path, sizeof path, "tests/fixtures/config/%s", bad[i].file);
        hz_config *cfg = (hz_config *)1;
        int rc = hz_config_load(path, &cfg, err, sizeof err);
        if (rc != HZ_EINVAL && rc != HZ_EFORMAT)
            fail_msg("%s: rc %d (%s)", bad[i].file, rc, err);
        assert_null(cfg);
        snprintf(want, sizeof want, "%s%s", path, bad[i].where);
        if (strncmp(err, want, strlen(want)) || !strstr(err, bad[i].phrase))
            fail_msg("%s:\n  got  %s\n  want %s ... %s", bad[i].file, err, want, bad[i].phrase);
    }
    /* Syntax errors are HZ_EFORMAT, schema errors HZ_EINVAL. */
    char err[HZ_ERRLEN];
    hz_config *cfg;
    assert_int_equal(hz_config_load("tests/fixtures/config/bad_syntax.yaml", &cfg, err, sizeof err),
                     HZ_EFORMAT);
    assert_int_equal(hz_config_load("tests/fixtures/config/bad_enum.yaml", &cfg, err, sizeof err),
                     HZ_EINVAL);
}

static void test_missing_file(void **state)
{
    char err[HZ_ERRLEN];
    hz_config *cfg = (hz_config *)1;
    assert_int_equal(hz_config_load("tests/fixtures/config/no_such.yaml", &cfg, err, sizeof err),
                     HZ_EIO);
    assert_null(cfg);
    assert_string_equal(
        err, "tests/fixtures/config/no_such.yaml: cannot open: No such file or directory");
    hz_config_free(NULL);
}

/* The guards before the document is built (config/config_read.c): a NUL in a scalar, nesting
 * deeper than 64 (fast, however large the file), a file over 1 MiB; 64 levels still load. */
static void test_file_guards(void **state)
{
    tmp *t = *state;
    char err[HZ_ERRLEN];
    hz_config *cfg = NULL;
    assert_int_equal(load_str(t, "database: \"a\\0b.sqlite\"\n" MINIMAL, &cfg, err), HZ_EINVAL);
    assert_non_null(strstr(err, "c.yaml:1:11: a NUL character"));
    size_t n = 150000, len = n * 2 + 64;
    char *deep = malloc(len);
    assert_non_null(deep);
    int k = snprintf(deep, len, "database: x.sqlite\npipelines: ");
    memset(deep + k, '[', n);
    memset(deep + k + n, ']', n);
    deep[k + 2 * n] = '\0';
    int64_t t0 = hz_mono_ns();
    assert_int_equal(load_str(t, deep, &cfg, err), HZ_EINVAL);
    assert_true(hz_mono_ns() - t0 < 1000000000LL);
    assert_non_null(strstr(err, "c.yaml:2:75: mappings and sequences nested deeper than 64"));
    /* 63 levels under the root mapping: within the bound, refused by the schema instead */
    k = snprintf(deep, len, "database: x.sqlite\npipelines: ");
    memset(deep + k, '[', 63);
    memset(deep + k + 63, ']', 63);
    deep[k + 126] = '\0';
    assert_int_equal(load_str(t, deep, &cfg, err), HZ_EINVAL);
    assert_null(strstr(err, "nested deeper"));
    free(deep);
    char *big = malloc((1024 * 1024) + 2);
    assert_non_null(big);
    memset(big, '#', (1024 * 1024) + 1);
    big[(1024 * 1024) + 1] = '\0';
    assert_int_equal(load_str(t, big, &cfg, err), HZ_EINVAL);
    assert_non_null(strstr(err, "c.yaml:1:1: larger than 1048576 bytes"));
    free(big);
}

static void test_more_refusals(void **state)
{
    tmp *t = *state;
    char err[HZ_ERRLEN];
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"pipelines:\n  - name: p\n    source: {sqlite: {}, fields: {values: [x]}}\n"
         "    window: {period: 1h}\n    model: {kind: informer, task: disaggregate}\n",
         "c.yaml:5:35: pipelines[0].model.task: expected forecast for informer models"},
        {"pipelines:\n  - name: p\n    source: {sqlite: {}, fields: {values: [x]}}\n"
         "    window: {period: 1m}\n    model: {kind: nilmformer, task: disaggregate}\n",
         "c.yaml:5:12: pipelines[0].model.data.appliances: expected at least one appliance"},
        {"pipelines:\n  - name: p\n    source: {sqlite: {}, fields: {values: [x]}}\n"
         "    window: {period: 1m}\n    model: {kind: nilmformer, task: disaggregate,\n"
         "      data: {appliances: [{name: k, on_threshold: 1}, {name: x, on_threshold: 1}]}}\n",
         "c.yaml:6:62: pipelines[0].model.data.appliances[1]: expected each appliance once and "
         "none named as the aggregate, got \"x\""},
        {"pipelines:\n  - name: p\n    source: {sqlite: {}, fields: {values: [x, y]}}\n"
         "    window: {period: 1m}\n    model: {kind: nilmformer, task: disaggregate,\n"
         "      data: {appliances: [{name: k, on_threshold: 1}]}}\n",
         "c.yaml:3:43: pipelines[0].source.fields.values: expected one aggregate-power variable"},
        {"pipelines:\n  - name: p\n    source: {sqlite: {}, fields: {values: [x]}}\n"
         "    window: {period: 1m}\n    model: {kind: nilmformer, task: disaggregate,\n"
         "      data: {appliances: [{name: k}]}}\n",
         "c.yaml:6:27: pipelines[0].model.data.appliances[0].on_threshold: missing required key"},
        {"pipelines:\n  - name: p\n    source: {sqlite: {}, fields: {values: [x, x]}}\n"
         "    window: {period: 1h}\n    model: {kind: informer}\n",
         "c.yaml:3:43: pipelines[0].source.fields.values: expected unique names, got \"x\" twice"},
        {"pipelines:\n  - name: p\n    source: {sqlite: {}, fields: {values: [x]}}\n"
         "    window: {period: 1h}\n    model: {kind: informer}\n    sinks: [{kafka: {}}]\n",
         "c.yaml:6:21: pipelines[0].sinks[0].kafka: expected at least one of forecasts"},
        {"pipelines:\n  - name: p\n    source: {sqlite: {}, fields: {values: [x]}}\n"
         "    window: {period: 1h}\n    model: {kind: informer}\n    sinks: []\n",
         "c.yaml:6:12: pipelines[0].sinks: expected 1 to 16 items, got 0"},
        {"pipelines:\n  - name: p\n    source: {sqlite: {}, fields: {values: [x]}}\n"
         "    window: {period: 1h}\n    model: {kind: nilmformer, params: {d_model: 90, "
         "n_heads: 3}}\n",
         "c.yaml:5:49: pipelines[0].model.params.d_model: expected a multiple of 4"},
        {"pipelines:\n  - name: p\n    source: {sqlite: {}, fields: {values: [x]}}\n"
         "    window: {period: 1h}\n    model: {kind: nilmformer, params: {plain: true}}\n",
         "c.yaml:5:47: pipelines[0].model.params.plain: expected false with task forecast"},
        {"metrics: {listen: \"127.0.0.1:99999\"}\n" MINIMAL,
         "c.yaml:1:19: metrics.listen: expected host:port"},
        {"pipelines:\n  - name: p\n    window: {period: 1h}\n    model: {kind: informer}\n",
         "c.yaml:2:5: pipelines[0].source: missing required key"},
        {"pipelines:\n  - name: p\n    source: {sqlite: {}, fields: {values: [x]}}\n"
         "    window: {period: 1h}\n    model: {kind: informer}\n"
         "    anomaly: {rules: {flatline: 1}}\n",
         "c.yaml:6:33: pipelines[0].anomaly.rules.flatline: expected 0 (off) or at least 2"},
        {"pipelines:\n  - name: p\n    source: {sqlite: {}, fields: {values: [x]}}\n"
         "    window: {period: 1h}\n    model: {kind: informer, data: {ratios: [0.9, 0.1, "
         "0.2]}}\n",
         "c.yaml:5:44: pipelines[0].model.data.ratios: expected [train, val, test]"},
        {"pipelines:\n  - name: p\n    source: {sqlite: {}, fields: {values: [x]}}\n"
         "    window: {period: 1h}\n    model: {kind: informer, params: {embed: fixed}}\n",
         "c.yaml:5:45: pipelines[0].model.params.embed: only timeF is implemented, got fixed"},
        {"pipelines:\n  - name: p\n    source: {sqlite: {}, fields: {values: [x]}}\n"
         "    window: {period: 1h}\n    model: {kind: informer}\n"
         "    variables: [{name: y, transform: log1p}]\n",
         "c.yaml:6:24: pipelines[0].variables[0]: expected one of source.fields.values, got \"y\""},
        {"pipelines:\n  - name: p\n    source: {sqlite: {}, fields: {values: [x]}}\n"
         "    window: {period: 1h}\n    model: {kind: informer}\n"
         "    variables: [{name: x, bounds: [5, 1]}]\n",
         "c.yaml:6:35: pipelines[0].variables[0].bounds: expected [min, max] with min < max"},
        {"pipelines:\n  - name: p\n    source: {sqlite: {}, fields: {values: [x]}}\n"
         "    window: {period: 1h}\n    model: {kind: informer}\n"
         "    variables: [{name: x, transform: log}]\n",
         "c.yaml:6:38: pipelines[0].variables[0].transform: expected one of none|log1p"},
        /* a CSV source's series: an empty column, or a column and an id, would merge them */
        {"pipelines:\n  - name: p\n    source: {csv: {path: x.csv}, fields: {series: \"\", "
         "values: [x]}}\n    window: {period: 1h}\n    model: {kind: informer}\n",
         "c.yaml:3:51: pipelines[0].source.fields.series: expected the column holding each "
         "row's series id, got \"\""},
        {"pipelines:\n  - name: p\n    source: {csv: {path: x.csv, series: \"\"}, fields: "
         "{series: \"\", values: [x]}}\n    window: {period: 1h}\n    model: {kind: informer}\n",
         "c.yaml:3:63: pipelines[0].source.fields.series: expected the column"},
        {"pipelines:\n  - name: p\n    source: {csv: {path: x.csv, series: m1}, fields: "
         "{series: meter, values: [x]}}\n    window: {period: 1h}\n    model: {kind: informer}\n",
         "c.yaml:3:41: pipelines[0].source.csv.series: expected no id (or \"\") when "
         "source.fields.series names the series column (\"meter\"), got \"m1\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        hz_config *cfg = NULL;
        assert_int_equal(load_str(t, cases[i].text, &cfg, err), HZ_EINVAL);
        assert_null(cfg);
        const char *base = strrchr(err, '/');
        if (!base || strncmp(base + 1, cases[i].want, strlen(cases[i].want)))
            fail_msg("case %zu:\n  got  %s\n  want %s", i, err, cases[i].want);
    }
}

/* A CSV source's series said outright (config/config_schema.c check_csv_series): the
 * pipeline's name by default, each row's from fields.series when that is written or
 * csv.series is ""; source.max_future defaults to a day. */
static void test_csv_series_and_max_future(void **state)
{
    tmp *t = *state;
    char err[HZ_ERRLEN];
    static const struct {
        const char *source, *want;
    } cases[] = {{"{csv: {path: x.csv}, fields: {values: [x]}}", "p"},
                 {"{csv: {path: x.csv, series: m1}, fields: {values: [x]}}", "m1"},
                 {"{csv: {path: x.csv}, fields: {series: meter, values: [x]}}", ""},
                 {"{csv: {path: x.csv, series: \"\"}, fields: {values: [x]}}", ""}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[400];
        snprintf(text, sizeof text,
                 "pipelines:\n  - name: p\n    source: %s\n    window: {period: 1h}\n"
                 "    model: {kind: informer}\n",
                 cases[i].source);
        hz_config *cfg = NULL;
        if (load_str(t, text, &cfg, err))
            fail_msg("case %zu: %s", i, err);
        assert_string_equal(cfg->pipelines[0].source.csv.series, cases[i].want);
        assert_int_equal(cfg->pipelines[0].source.max_future_ms, 86400000);
        hz_config_free(cfg);
    }
}

/* variables[] items: rules per variable and per series pattern, in order. */
static void test_rules_per_series(void **state)
{
    tmp *t = *state;
    char err[HZ_ERRLEN];
    hz_config *cfg = NULL;
    const char *text =
        "pipelines:\n  - name: p\n    source: {sqlite: {}, fields: {values: [q, rain]}}\n"
        "    window: {period: 1d}\n    model: {kind: itransformer}\n"
        "    anomaly: {rules: {range: [0, 1000], spike: 6, gap: 3, zero: true}}\n"
        "    variables:\n"
        "      - {name: q, transform: log1p, rules: {spike: 8}}\n"
        "      - {name: q, series: \"0149*\", rules: {range: [0, 300], gap: 0}}\n"
        "      - {name: rain, rules: {spike: 0, range: [null, null], zero: false}}\n";
    assert_int_equal(load_str(t, text, &cfg, err), 0);
    const hz_pipeline_conf *p = &cfg->pipelines[0];
    hz_cfg_rules r;
    int tf, ex;
    hz_config_rules_for(p, "q", "01491000", &r, &tf, &ex);
    assert_true(r.spike == 8 && r.gap == 0 && r.n_range == 2 && r.range[1] == 300 && r.zero == 1);
    assert_int_equal(tf, HZ_CFG_TF_LOG1P);
    assert_int_equal(ex, 1);
    hz_config_rules_for(p, "q", "02000000", &r, &tf, &ex);
    assert_true(r.spike == 8 && r.gap == 3 && r.range[1] == 1000);
    hz_config_rules_for(p, "q", NULL, &r, &tf, &ex); /* without the pattern items */
    assert_true(r.gap == 3 && r.range[1] == 1000);
    hz_config_rules_for(p, "rain", "01491000", &r, &tf, &ex);
    assert_true(r.spike == 0 && r.gap == 3 && isnan(r.range[0]) && isnan(r.range[1]) && !r.zero);
    assert_int_equal(tf, HZ_CFG_TF_NONE);
    assert_int_equal(hz_config_has_series_rules(p), 1);
    hz_config_free(cfg);
}

static void test_pipeline_equal(void **state)
{
    tmp *t = *state;
    char err[HZ_ERRLEN];
    hz_config *a = NULL, *b = NULL;
    const char *one = "kafka: {bootstrap.servers: b:9092}\n"
                      "pipelines:\n"
                      "  - name: s\n"
                      "    source: {sqlite: {}, fields: {values: [x]}}\n"
                      "    window: {period: 1h}\n"
                      "    model: {kind: informer}\n"
                      "  - name: k\n"
                      "    source: {kafka: {topic: t}, fields: {values: [x]}}\n"
                      "    window: {period: 1h, lookback: 48}\n"
                      "    model: {kind: informer}\n";
    /* Same effective settings: comments, key order, flow vs block, spelled-out defaults and
     * 60m == 1h. */
    const char *same = "# reformatted\n"
                       "kafka: {bootstrap.servers: b:9092}\n"
                       "pipelines:\n"
                       "  - name: k\n"
                       "    model: {kind: informer, params: {d_model: 512}}\n"
                       "    window: {lookback: 48, period: 60m}\n"
                       "    source:\n"
                       "      fields: {values: [x]}\n"
                       "      kafka: {topic: t, group.id: horizon-k}\n"
                       "  - name: s\n"
                       "    source: {sqlite: {table: readings}, fields: {values: [x]}}\n"
                       "    window: {period: 3600}\n"
                       "    model: {kind: informer}\n"
                       "    sinks: [{sqlite: {}}]\n";
    assert_int_equal(load_str(t, one, &a, err), 0);
    assert_int_equal(load_str(t, same, &b, err), 0);
    assert_true(hz_config_pipeline_equal(hz_config_pipeline(a, "s"), hz_config_pipeline(b, "s")));
    assert_true(hz_config_pipeline_equal(hz_config_pipeline(a, "k"), hz_config_pipeline(b, "k")));
    assert_false(hz_config_pipeline_equal(hz_config_pipeline(a, "s"), hz_config_pipeline(b, "k")));
    hz_config_free(b);

    /* One pipeline's window changes; only it differs. */
    char text[2048];
    snprintf(text, sizeof text, "%s", one);
    char *lb = strstr(text, "lookback: 48");
    memcpy(lb, "lookback: 47", 12);
    assert_int_equal(load_str(t, text, &b, err), 0);
    assert_true(hz_config_pipeline_equal(hz_config_pipeline(a, "s"), hz_config_pipeline(b, "s")));
    assert_false(hz_config_pipeline_equal(hz_config_pipeline(a, "k"), hz_config_pipeline(b, "k")));
    hz_config_free(b);

    /* Top-level kafka changes: the Kafka pipeline restarts, the SQLite one does not. */
    snprintf(text, sizeof text, "%s", one);
    memcpy(strstr(text, "b:9092"), "c:9092", 6);
    assert_int_equal(load_str(t, text, &b, err), 0);
    assert_true(hz_config_pipeline_equal(hz_config_pipeline(a, "s"), hz_config_pipeline(b, "s")));
    assert_false(hz_config_pipeline_equal(hz_config_pipeline(a, "k"), hz_config_pipeline(b, "k")));
    hz_config_free(b);

    /* NULL never equals anything: a pipeline that is new or gone is a change. */
    assert_false(hz_config_pipeline_equal(NULL, hz_config_pipeline(a, "s")));
    hz_config_free(a);
}

static void test_doc_matches_table(void **state)
{
    char *gen = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&gen, &len);
    assert_non_null(f);
    assert_int_equal(hz_config_write_doc(f), 0);
    fclose(f);
    FILE *d = fopen("docs/CONFIG.md", "rb");
    assert_non_null(d);
    char *file = malloc(len + 2);
    assert_non_null(file);
    size_t got = fread(file, 1, len + 1, d);
    fclose(d);
    if (got != len || memcmp(file, gen, len))
        fail_msg("docs/CONFIG.md is out of date: run `build/horizond --dump-schema > "
                 "docs/CONFIG.md`");
    /* Every key of a loaded config appears in the reference. */
    static const char *const keys[] = {"`database`",
                                       "`pipelines[].window.lookback`",
                                       "`pipelines[].model.params.dilations`",
                                       "`pipelines[].source.kafka.group.id`",
                                       "`pipelines[].sinks[].sqlite.dead_letters_table`",
                                       "`pipelines[].anomaly.rules.spike`"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_non_null(strstr(gen, keys[i]));
    free(file);
    free(gen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples_load),
        cmocka_unit_test(test_example_values),
        cmocka_unit_test_setup_teardown(test_defaults, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_per_kind_defaults, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_value_syntax, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_kafka_map_keeps_order_and_lines, tmp_setup,
                                        tmp_teardown),
        cmocka_unit_test_setup_teardown(test_enum_values, tmp_setup, tmp_teardown),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test_setup_teardown(test_more_refusals, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_file_guards, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_rules_per_series, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_csv_series_and_max_future, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_equal, tmp_setup, tmp_teardown),
        cmocka_unit_test(test_doc_matches_table),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
