/* kafka_conf.c — builds librdkafka configurations from pass-through key/value pairs with
 * horizon's defaults and must-have properties (see kafka_conf.h). */
#include "connectors/kafka_conf.h"

#include <string.h>

const char *hz_kafka_conf_get(const hz_kv *user, size_t nuser, const char *key)
{
    for (size_t i = nuser; i-- > 0;)
        if (user[i].key && strcmp(user[i].key, key) == 0)
            return user[i].value;
    return NULL;
}

static int set(rd_kafka_conf_t *c, const char *k, const char *v, char *err, size_t errlen)
{
    char es[512];
    if (!k || !v)
        return hz_err(err, errlen, HZ_EINVAL, "kafka property %s has no %s", k ? k : "(null)",
                      k ? "value" : "name");
    if (rd_kafka_conf_set(c, k, v, es, sizeof es) != RD_KAFKA_CONF_OK)
        return hz_err(err, errlen, HZ_EINVAL, "kafka property \"%s\": %s", k, es);
    return 0;
}

int hz_kafka_conf_new(const hz_kv *defaults, size_t ndefaults, const hz_kv *user, size_t nuser,
                      const hz_kv *forced, size_t nforced, rd_kafka_conf_t **out, char *err,
                      size_t errlen)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    int rc = 0;
    for (size_t i = 0; i < nforced; i++) {
        const char *v = hz_kafka_conf_get(user, nuser, forced[i].key);
        if (v && strcmp(v, forced[i].value) != 0) {
            rc = hz_err(err, errlen, HZ_EINVAL,
                        "kafka property \"%s\" must be \"%s\" (horizon relies on it), got \"%s\"",
                        forced[i].key, forced[i].value, v);
            goto fail;
        }
    }
    for (size_t i = 0; i < ndefaults; i++)
        if ((rc = set(c, defaults[i].key, defaults[i].value, err, errlen)))
            goto fail;
    for (size_t i = 0; i < nuser; i++)
        if ((rc = set(c, user[i].key, user[i].value, err, errlen)))
            goto fail;
    for (size_t i = 0; i < nforced; i++)
        if ((rc = set(c, forced[i].key, forced[i].value, err, errlen)))
            goto fail;
    *out = c;
    return 0;
fail:
    rd_kafka_conf_destroy(c);
    return rc;
}

/* librdkafka's log lines of a throwaway handle: none. */
static void quiet_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    (void)level;
    (void)fac;
    (void)buf;
}

int hz_kafka_conf_try(rd_kafka_conf_t *conf, rd_kafka_type_t type, const char *what, char *err,
                      size_t errlen)
{
    char es[512];
    /* no broker to contact and no Kerberos ticket to renew: only the configuration is
     * exercised (a client's SASL mechanism, TLS files and settings that depend on each
     * other are checked by rd_kafka_new, not by rd_kafka_conf_set) */
    rd_kafka_conf_set(conf, "bootstrap.servers", "", es, sizeof es);
    rd_kafka_conf_set(conf, "sasl.kerberos.min.time.before.relogin", "0", es, sizeof es);
    rd_kafka_conf_set_log_cb(conf, quiet_log_cb);
    rd_kafka_t *rk = rd_kafka_new(type, conf, es, sizeof es);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return hz_err(err, errlen, HZ_EINVAL, "%s: librdkafka refuses the properties: %s", what,
                      es);
    }
    rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    return 0;
}

static const hz_logger *logger_of(const rd_kafka_t *rk)
{
    const hz_logger *const *lp = rd_kafka_opaque(rk);
    return lp ? *lp : NULL;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    /* librdkafka levels are syslog levels too; clamp the ones hz_log does not name */
    int lv = level < HZ_LOG_ERR ? HZ_LOG_ERR : level;
    hz_log(logger_of(rk), lv, "kafka %s: %s: %s", rd_kafka_name(rk), fac, buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    int fatal = err == RD_KAFKA_RESP_ERR__FATAL;
    hz_log(logger_of(rk), fatal ? HZ_LOG_ERR : HZ_LOG_WARN, "kafka %s: %s%s: %s", rd_kafka_name(rk),
           fatal ? "fatal: " : "", rd_kafka_err2name(err), reason);
}

void hz_kafka_conf_route_logs(rd_kafka_conf_t *conf)
{
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
}
