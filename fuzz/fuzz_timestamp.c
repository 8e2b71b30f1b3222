/* fuzz_timestamp.c — fuzz target "timestamp": one field of text through every timestamp
 * parser — connectors/csv.c hz_csv_parse_time_at (each date order and epoch unit, with and
 * without a UTC offset) and hz_csv_parse_offset, connectors/codec_json.c
 * hz_codec_json_parse_iso8601 — and a time either accepts, written back as ISO 8601 by
 * hz_codec_json_format_iso8601, must read back as the same instant. */
#include <string.h>

#include "common/hz.h"
#include "connectors/codec_json.h"
#include "connectors/csv.h"
#include "fuzz/fuzz.h"

/* 1970-01-01 .. 2201-01-01 (exclusive), the range of the JSON decoder (codec_json.h). */
#define MS_2201 7289654400000LL

/* ms written as ISO 8601 reads back as ms through both parsers. */
static void round_trip(int64_t ms)
{
    if (ms < 0 || ms >= MS_2201)
        return;
    char iso[32], reason[HZ_ERRLEN];
    hz_codec_json_format_iso8601(ms, iso);
    HZ_FUZZ_CHECK(strlen(iso) == 24);
    int64_t back = -1;
    HZ_FUZZ_CHECK(hz_codec_json_parse_iso8601(iso, strlen(iso), &back, reason, sizeof reason) == 0);
    HZ_FUZZ_CHECK(back == ms);
    back = -1;
    HZ_FUZZ_CHECK(hz_csv_parse_time(iso, HZ_CSV_YMD, HZ_CSV_EPOCH_AUTO, &back) == 0);
    HZ_FUZZ_CHECK(back == ms);
}

int hz_fuzz_timestamp(const uint8_t *data, size_t size)
{
    /* a field as the CSV reader hands it over: NUL-terminated, at most 127 bytes */
    char s[128];
    size_t n = size < sizeof s ? size : sizeof s - 1;
    memcpy(s, data, n);
    s[n] = 0;
    int64_t ms;
    for (int order = HZ_CSV_YMD; order <= HZ_CSV_DMY; order++)
        for (int unit = HZ_CSV_EPOCH_AUTO; unit <= HZ_CSV_EPOCH_MS; unit++) {
            if (hz_csv_parse_time_at(s, order, unit, 0, &ms) == 0)
                round_trip(ms);
            (void)hz_csv_parse_time_at(s, order, unit, -300, &ms);
            (void)hz_csv_parse_time_at(s, order, unit, 14 * 60, &ms);
        }
    int minutes;
    if (hz_csv_parse_offset(s, &minutes) == 0)
        HZ_FUZZ_CHECK(minutes > -24 * 60 && minutes < 24 * 60);
    /* the JSON decoder's parser takes the bytes as they are (a JSON string may hold NULs) */
    char reason[HZ_ERRLEN];
    reason[0] = 0;
    int rc = hz_codec_json_parse_iso8601((const char *)data, size, &ms, reason, sizeof reason);
    if (rc == 0) {
        HZ_FUZZ_CHECK(ms >= 0 && ms < MS_2201);
        round_trip(ms);
    } else {
        HZ_FUZZ_CHECK((rc == HZ_EFORMAT || rc == HZ_ERANGE) && reason[0]);
    }
    return 0;
}
