/* fuzz_config.c — fuzz target "config": arbitrary bytes as horizon's YAML configuration
 * (config/config.c hz_config_load_mem), then the lookups the programs make on a loaded one. */
#include <string.h>

#include "common/hz.h"
#include "config/config.h"
#include "fuzz/fuzz.h"

int hz_fuzz_config(const uint8_t *data, size_t size)
{
    hz_config *cfg = NULL;
    char err[HZ_ERRLEN];
    int rc = hz_config_load_mem(data, size, "/fuzz/horizon.yaml", &cfg, err, sizeof err);
    HZ_FUZZ_CHECK(rc ? cfg == NULL && err[0] : cfg != NULL);
    if (rc)
        return 0;
    for (size_t i = 0; i < cfg->n_pipelines; i++) {
        const hz_pipeline_conf *pc = &cfg->pipelines[i];
        HZ_FUZZ_CHECK(hz_config_pipeline(cfg, pc->name) == pc);
        HZ_FUZZ_CHECK(hz_config_pipeline_equal(pc, pc));
        (void)hz_config_has_series_rules(pc);
        for (size_t v = 0; v < pc->source.fields.n_values; v++) {
            hz_cfg_rules r;
            int tf, ex;
            hz_config_rules_for(pc, pc->source.fields.values[v], NULL, &r, &tf, &ex);
            hz_config_rules_for(pc, pc->source.fields.values[v], "fuzz-series", &r, &tf, &ex);
        }
        (void)hz_conf_map_get(&pc->source.kafka.properties, "bootstrap.servers");
    }
    (void)hz_conf_map_get(&cfg->kafka, "bootstrap.servers");
    hz_config_free(cfg);
    return 0;
}
