/* libfuzzer.c — a libFuzzer target around one entry point of fuzz/fuzz.h, chosen at compile
 * time with -DHZ_FUZZ_ENTRY=hz_fuzz_<name> (the Makefile's fuzz rules). */
#include "fuzz/fuzz.h"

#ifndef HZ_FUZZ_ENTRY
#error "compile with -DHZ_FUZZ_ENTRY=hz_fuzz_<target>"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return HZ_FUZZ_ENTRY(data, size);
}
