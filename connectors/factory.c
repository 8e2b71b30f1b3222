/* factory.c — connectors built from a pipeline's configuration (factory.h). */
#include "connectors/factory.h"

#include "connectors/async_sink.h"

#include <stdlib.h>
#include <string.h>

#include "connectors/csv.h"
#include "connectors/kafka_sink.h"
#include "connectors/kafka_source.h"
#include "connectors/sqlite_sink.h"
#include "connectors/sqlite_source.h"

/* Kafka properties: the top-level map, then the section's own (later wins), then extra.
 * The strings stay the configuration's; the array is the caller's to free. */
static hz_kv *kafka_props(const hz_conf_map *top, const hz_conf_map *own, const hz_kv *extra,
                          size_t n_extra, size_t *n)
{
    hz_kv *kv = calloc(top->n + own->n + n_extra + 1, sizeof *kv);
    if (!kv)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < top->n; i++)
        if (!hz_conf_map_get(own, top->items[i].key))
            kv[k++] = (hz_kv){top->items[i].key, top->items[i].value};
    for (size_t i = 0; i < own->n; i++)
        kv[k++] = (hz_kv){own->items[i].key, own->items[i].value};
    for (size_t i = 0; i < n_extra; i++)
        kv[k++] = extra[i];
    *n = k;
    return kv;
}

/* The Kafka source's options for pc (o->props: *props, the caller's to free). */
static int kafka_source_opts(const hz_config *cfg, const hz_pipeline_conf *pc,
                             const char *const *vars, int nvars, const hz_logger *log,
                             hz_kafka_source_opts *o, hz_kv **props, char *err, size_t errlen)
{
    const hz_cfg_source *s = &pc->source;
    hz_kv gid = {"group.id", s->kafka.group_id};
    size_t n;
    *props = kafka_props(&cfg->kafka, &s->kafka.properties, &gid, 1, &n);
    if (!*props)
        return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
    *o = (hz_kafka_source_opts){0};
    o->topic = s->kafka.topic;
    o->props = *props; /* copied into librdkafka's configuration by hz_kafka_source_new */
    o->nprops = n;
    o->map.series_field = s->fields.series && *s->fields.series ? s->fields.series : NULL;
    o->map.time_field = s->fields.time;
    o->map.time_format = (hz_time_format)s->fields.time_format;
    o->map.var_fields = vars;
    o->map.nvars = nvars;
    o->map.max_future_ms = s->max_future_ms;
    o->log = log;
    return 0;
}

static int kafka_source(const hz_config *cfg, const hz_pipeline_conf *pc, const char *const *vars,
                        int nvars, const hz_logger *log, hz_source **out, char *err, size_t errlen)
{
    hz_kafka_source_opts o;
    hz_kv *props;
    int rc = kafka_source_opts(cfg, pc, vars, nvars, log, &o, &props, err, errlen);
    if (!rc)
        rc = hz_kafka_source_new(&o, out, err, errlen);
    free(props);
    return rc;
}

static int sqlite_source(const hz_pipeline_conf *pc, const char *const *vars, int nvars,
                         hz_source **out, char *err, size_t errlen)
{
    const hz_cfg_source *s = &pc->source;
    hz_sqlite_source_opts o = {0};
    o.path = s->sqlite.path;
    o.table = s->sqlite.table;
    o.cursor = pc->name;
    o.variables = vars;
    o.nvars = nvars;
    o.poll_interval_ms = (int)(s->sqlite.poll_ms < 10 ? 10 : s->sqlite.poll_ms);
    o.max_future_ms = s->max_future_ms;
    return hz_sqlite_source_new(&o, out, err, errlen);
}

static int csv_source(const hz_pipeline_conf *pc, const char *const *vars, int nvars,
                      hz_source **out, char *err, size_t errlen)
{
    const hz_cfg_source *s = &pc->source;
    hz_csv_source_opts o = {0};
    o.path = s->csv.path;
    /* csv.series "": each row's id from the fields.series column (config/config_schema.c
     * refuses an empty column name); else the one id given, by default the pipeline's name */
    int column = s->csv.series && !*s->csv.series;
    o.series = column ? NULL : s->csv.series ? s->csv.series : pc->name;
    o.csv.series_column = column ? s->fields.series : NULL;
    o.max_future_ms = s->max_future_ms;
    o.csv.time_column = s->fields.time;
    o.csv.columns = vars;
    o.csv.ncolumns = nvars;
    if (s->csv.delimiter && *s->csv.delimiter)
        o.csv.delimiter = s->csv.delimiter[0];
    o.csv.date_order = s->csv.date_order;
    o.csv.allow_empty = 1;
    o.csv.glob = 1; /* source.csv.path may name several files (config/config_schema.c) */
    return hz_csv_source_new(&o, out, err, errlen);
}

int hz_source_from_config(const hz_config *cfg, const hz_pipeline_conf *pc, const char *const *vars,
                          int nvars, const hz_logger *log, hz_source **out, char *err,
                          size_t errlen)
{
    switch (pc->source.kind) {
    case HZ_CFG_SOURCE_KAFKA:
        return kafka_source(cfg, pc, vars, nvars, log, out, err, errlen);
    case HZ_CFG_SOURCE_SQLITE:
        return sqlite_source(pc, vars, nvars, out, err, errlen);
    default:
        return csv_source(pc, vars, nvars, out, err, errlen);
    }
}

int hz_sink_from_config(const hz_config *cfg, const hz_cfg_sink *k, const hz_logger *log,
                        hz_sink **out, char *err, size_t errlen)
{
    if (k->kind == HZ_CFG_SINK_SQLITE) {
        hz_sqlite_sink_opts o = {0};
        o.path = k->sqlite.path;
        o.tables.forecasts = k->sqlite.forecasts_table;
        o.tables.anomalies = k->sqlite.anomalies_table;
        o.tables.dead = k->sqlite.dead_letters_table;
        o.tables.appliances = k->sqlite.appliances_table;
        o.forecasts = k->sqlite.forecasts == HZ_CFG_FC_LATEST ? HZ_SQLITE_FC_LATEST
                      : k->sqlite.forecasts == HZ_CFG_FC_BOTH
                          ? HZ_SQLITE_FC_LATEST | HZ_SQLITE_FC_HISTORY
                          : HZ_SQLITE_FC_HISTORY;
        o.max_size_mb = k->sqlite.max_size_mb;
        o.keep_readings_ms = k->sqlite.retention.readings_ms;
        o.stage_readings_ms = k->sqlite.stage_readings_ms;
        o.keep_forecasts_ms = k->sqlite.retention.forecasts_ms;
        o.keep_anomalies_ms = k->sqlite.retention.anomalies_ms;
        hz_sink *inner = NULL;
        int rc = hz_sqlite_sink_new(&o, &inner, err, errlen);
        return rc ? rc : hz_async_sink_new(inner, out, err, errlen);
    }
    size_t n;
    hz_kv *props = kafka_props(&cfg->kafka, &k->kafka.properties, NULL, 0, &n);
    if (!props)
        return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
    hz_kafka_sink_opts o = {0};
    o.props = props; /* copied into librdkafka's configuration by hz_kafka_sink_new */
    o.nprops = n;
    o.forecasts_topic = *k->kafka.forecasts ? k->kafka.forecasts : NULL;
    o.anomalies_topic = *k->kafka.anomalies ? k->kafka.anomalies : NULL;
    o.dead_topic = *k->kafka.dead_letters ? k->kafka.dead_letters : NULL;
    o.readings_topic = *k->kafka.readings ? k->kafka.readings : NULL;
    o.appliances_topic = *k->kafka.appliances ? k->kafka.appliances : NULL;
    o.log = log;
    int rc = hz_kafka_sink_new(&o, out, err, errlen);
    free(props);
    return rc;
}

/* The Kafka properties of sink k through librdkafka (hz_kafka_sink_check). */
static int kafka_sink_check(const hz_config *cfg, const hz_cfg_sink *k, char *err, size_t errlen)
{
    size_t n;
    hz_kv *props = kafka_props(&cfg->kafka, &k->kafka.properties, NULL, 0, &n);
    if (!props)
        return hz_err(err, errlen, HZ_ENOMEM, "out of memory");
    hz_kafka_sink_opts o = {0};
    o.props = props;
    o.nprops = n;
    int rc = hz_kafka_sink_check(&o, err, errlen);
    free(props);
    return rc;
}

int hz_connectors_check(const hz_config *cfg, const hz_pipeline_conf *pc, char *err, size_t errlen)
{
    int rc = 0;
    if (pc->source.kind == HZ_CFG_SOURCE_KAFKA) {
        hz_kafka_source_opts o;
        hz_kv *props;
        rc = kafka_source_opts(cfg, pc, (const char *const *)pc->source.fields.values,
                               (int)pc->source.fields.n_values, NULL, &o, &props, err, errlen);
        if (!rc)
            rc = hz_kafka_source_check(&o, err, errlen);
        free(props);
    }
    for (size_t i = 0; !rc && i < pc->n_sinks; i++)
        if (pc->sinks[i].kind == HZ_CFG_SINK_KAFKA)
            rc = kafka_sink_check(cfg, &pc->sinks[i], err, errlen);
    return rc;
}
