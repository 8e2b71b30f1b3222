/* targets.c — the table of fuzz targets (fuzz/fuzz.h). */
#include "fuzz/fuzz.h"

const hz_fuzz_target hz_fuzz_targets[] = {
    {"config", hz_fuzz_config},
    {"json", hz_fuzz_json},
    {"csv", hz_fuzz_csv},
    {"timestamp", hz_fuzz_timestamp},
    {"safetensors", hz_fuzz_safetensors},
    {"meta", hz_fuzz_meta},
    {"http", hz_fuzz_http},
    {NULL, NULL},
};
