/* fuzz.h — the entry points of horizon's fuzz targets: one function per parser of outside
 * input, called with arbitrary bytes.  fuzz/libfuzzer.c wraps one of them as a libFuzzer
 * target (`make fuzz`, fuzz/run.sh); tests/unit/test_fuzz_regress.c feeds them the committed
 * corpora and crash reproducers with the normal compiler.  docs/RELIABILITY.md, "Fuzzing".
 *
 * Each returns 0 for any input the parser refuses or accepts; a broken invariant (an
 * accepted input whose parts do not add up) aborts through HZ_FUZZ_CHECK so that both
 * libFuzzer and the regression suite report it. */
#ifndef HZ_FUZZ_H
#define HZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define HZ_FUZZ_CHECK(cond)                                                                        \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* config/config.c hz_config_load_mem: a YAML configuration file. */
int hz_fuzz_config(const uint8_t *data, size_t size);
/* connectors/codec_json.c hz_codec_json_decode: a Kafka message value (the first byte picks
 * the field mapping and whether the key is the input up to a NUL), then the encoders on what
 * it decoded and on the raw bytes. */
int hz_fuzz_json(const uint8_t *data, size_t size);
/* connectors/csv.c hz_csv_open_mem + hz_csv_next: a CSV file (the first two bytes pick the
 * reader's options). */
int hz_fuzz_csv(const uint8_t *data, size_t size);
/* The timestamp parsers: connectors/csv.c hz_csv_parse_time_at, hz_csv_parse_offset and
 * connectors/codec_json.c hz_codec_json_parse_iso8601. */
int hz_fuzz_timestamp(const uint8_t *data, size_t size);
/* models/safetensors.c hz_st_open_mem: a checkpoint file, then every tensor and the metadata
 * parsers below on what it holds. */
int hz_fuzz_safetensors(const uint8_t *data, size_t size);
/* The checkpoint metadata parsers (training/checkpoint_meta.c hz_meta_scaler_parse,
 * hz_meta_series_parse; models/checkpoint.c hz_model_conf_from_json, then the model a small
 * configuration describes, built and run once): up to four lines of JSON text, "variables",
 * "scaler", "series_scaler" and "config", put in a checkpoint's __metadata__. */
int hz_fuzz_meta(const uint8_t *data, size_t size);
/* service/metrics_http.c hz_metrics_answer: "METHOD\nPATH" of a request to the metrics
 * endpoint. */
int hz_fuzz_http(const uint8_t *data, size_t size);

typedef struct hz_fuzz_target {
    const char *name; /* fuzz/corpus/<name>, fuzz/regress/<name> */
    int (*fn)(const uint8_t *data, size_t size);
} hz_fuzz_target;

/* Every target, in the order `make fuzz` runs them; NULL-terminated. */
extern const hz_fuzz_target hz_fuzz_targets[];

/* Shared by the safetensors and meta targets: the metadata parsers on an open file. */
struct hz_st_file;
void hz_fuzz_checkpoint_meta(const struct hz_st_file *f);

#endif
