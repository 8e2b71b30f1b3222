/* factory.h — the one place that turns a pipeline's configuration (config/config.h) into
 * connectors: its source (csv, sqlite or kafka) and each of its sinks (sqlite or kafka).
 * Kafka properties are merged here: the top-level `kafka:` map, then the section's own
 * `properties` (later wins), then what the connector kind needs (a source's group.id).
 * The caller owns what is returned; the configuration must outlive it. */
#ifndef HZ_FACTORY_H
#define HZ_FACTORY_H

#include <stddef.h>

#include "common/hz.h"
#include "config/config.h"
#include "connectors/connector.h"

/* Opens the source of pc reading the variables vars[0..nvars) in that order.  A csv source
 * without a series name takes the pipeline's name.  Returns 0 with *out owned by the caller
 * (s->ops->free(s)), or HZ_E* with a message naming the file, table or topic. */
int hz_source_from_config(const hz_config *cfg, const hz_pipeline_conf *pc, const char *const *vars,
                          int nvars, const hz_logger *log, hz_source **out, char *err,
                          size_t errlen);

/* Opens one sink of a pipeline.  Returns 0 with *out owned by the caller (free with
 * (*out)->ops->free), or HZ_E* with a message. */
int hz_sink_from_config(const hz_config *cfg, const hz_cfg_sink *k, const hz_logger *log,
                        hz_sink **out, char *err, size_t errlen);

/* Checks, without connecting, what opening pc's connectors would refuse later: the Kafka
 * source's and sinks' merged properties through librdkafka (an unknown property, a bad
 * value, an unsupported SASL mechanism, a TLS file it cannot read).  `horizond --check`,
 * start and SIGHUP run it (service/runtime.c).  Returns 0 or HZ_EINVAL. */
int hz_connectors_check(const hz_config *cfg, const hz_pipeline_conf *pc, char *err, size_t errlen);

#endif
