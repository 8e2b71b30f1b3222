/* kafka_conf.h — librdkafka configuration from key/value pairs, shared by kafka_source and
 * kafka_sink.  Every librdkafka property passes through unchanged (SASL, TLS, timeouts);
 * horizon only adds defaults and a few properties it must own. */
#ifndef HZ_KAFKA_CONF_H
#define HZ_KAFKA_CONF_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "common/hz.h"

/* One librdkafka property.  Strings are borrowed. */
typedef struct hz_kv {
    const char *key, *value;
} hz_kv;

/* Builds a configuration: first `defaults` (user pairs may override them), then the user's
 * pairs, then `forced` (a user pair naming a forced key with another value is refused, since
 * horizon's delivery guarantees depend on it).  An unknown property or bad value fails with
 * librdkafka's own message, naming the property.  On success *out owns a new conf (hand it
 * to rd_kafka_new or rd_kafka_conf_destroy it).  Returns 0 or HZ_EINVAL. */
int hz_kafka_conf_new(const hz_kv *defaults, size_t ndefaults, const hz_kv *user, size_t nuser,
                      const hz_kv *forced, size_t nforced, rd_kafka_conf_t **out, char *err,
                      size_t errlen);

/* Whether librdkafka would start a client of type with conf (consumed: destroyed in every
 * case): rd_kafka_new on it with no broker to contact, then destroyed at once.  Catches
 * what rd_kafka_conf_set lets through (an unknown SASL mechanism, a TLS file that cannot be
 * read).  Returns 0 or HZ_EINVAL with librdkafka's message after "what: ". */
int hz_kafka_conf_try(rd_kafka_conf_t *conf, rd_kafka_type_t type, const char *what, char *err,
                      size_t errlen);

/* Value of key among the user's pairs, or NULL. */
const char *hz_kafka_conf_get(const hz_kv *user, size_t nuser, const char *key);

/* Routes librdkafka's log lines and global errors to hz_log through *logp, a pointer stored
 * in the handle's opaque (set with rd_kafka_conf_set_opaque(conf, logp) where logp points to
 * a `const hz_logger *` field; *logp may be NULL for the default sink).  The logger's fn
 * must be thread-safe: librdkafka logs from its own threads. */
void hz_kafka_conf_route_logs(rd_kafka_conf_t *conf);

#endif
