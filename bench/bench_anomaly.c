/* bench_anomaly.c — the injected-anomaly benchmark's tool (bench/anomaly.sh runs it):
 *
 *   bench_anomaly nilm OUT.csv MINUTES FILE...   UK-DALE-style 1-minute CSVs (Time,Aggregate)
 *                                                 to MINUTES means (0 = missing, left out)
 *   bench_anomaly inject IN.csv OUT.csv LABELS.csv SEED D [MDY]
 *                                                 labelled anomalies into a univariate series
 *   bench_anomaly baseline zscore|snaive IN.csv OUT.csv D
 *                                                 a baseline's scores, in `horizon score`'s
 *                                                 output format
 *   bench_anomaly evaluate SCORED.csv LABELS.csv KINDS D
 *                                                 precision, recall, event F1, delay
 *
 * Injection (seeded, xorshift64): after the first 20% of the rows (horizon score trains on
 * 15%), 14 events, 2 of each type, at random non-overlapping places with D rows of calm
 * between them, D a season's length in rows (96 a day at 15 minutes, 24 hourly, 14 for
 * daily flow).  With s the series' standard deviation:
 *   spike (1 row, +4s), dip (1 row, -3s, not below 0 for a series that never is),
 *   level (D/2 rows x 2 of the level, or +2s), flatline (D/2 rows repeating the first),
 *   drift (D rows ramping to +3s), noise (D/4 rows + N(0, 1.5 s)),
 *   missing (D/4 rows removed: a gap).
 * LABELS.csv: type,first_row,last_row,first_ts,last_ts (rows of OUT.csv; for `missing` the
 * row after the hole), then the real series' own faults found before injection as type
 * `native` (holes of more than 2 periods, runs of at least max(3, D/2) identical values).
 *
 * Evaluation (every detector through the same code): a flagged row counts for an event when
 * it falls in [first_ts, last_ts + 3 periods]; an event is found when one does; flagged rows
 * outside every event window, grouped when less than D rows apart, are false events; flags in
 * a native fault's window are neither (they are real; counted apart).
 * precision = found / (found + false), recall = found / events, F1 their harmonic mean;
 * delay = mean periods from an event's first row to its first flag; false events per day.
 * KINDS: which of `horizon score`'s kinds count ("all", or e.g. "residual+shift"). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/hz.h"
#include "connectors/csv.h"

typedef struct series {
    size_t n;
    int64_t *ts;
    double *v;
} series;

static uint64_t rng_state;

static double uniform(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(void)
{
    return sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform());
}

static int load(const char *path, int date_order, series *s)
{
    char err[HZ_ERRLEN];
    hz_csv_opts o = {.date_order = date_order, .allow_empty = 1};
    hz_csv_table *t;
    if (hz_csv_load(path, &o, &t, err, sizeof err)) {
        fprintf(stderr, "bench_anomaly: %s\n", err);
        return -1;
    }
    s->n = t->rows;
    s->ts = malloc(t->rows * sizeof *s->ts);
    s->v = malloc(t->rows * sizeof *s->v);
    for (size_t i = 0; i < t->rows; i++) {
        s->ts[i] = t->ts_ms[i];
        s->v[i] = t->values[i * t->cols];
    }
    hz_csv_table_free(t);
    return 0;
}

static void iso(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

/* ---- nilm: 1-minute aggregate to MINUTES means */

static int cmd_nilm(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    int64_t step = atoll(argv[2]) * 60000;
    FILE *out = fopen(argv[1], "w");
    if (!out || step <= 0)
        return 1;
    fprintf(out, "time,power\n");
    for (int f = 3; f < argc; f++) {
        char err[HZ_ERRLEN];
        const char *cols[] = {"Aggregate"};
        hz_csv_opts o = {.columns = cols, .ncolumns = 1, .allow_empty = 1};
        hz_csv_table *t;
        if (hz_csv_load(argv[f], &o, &t, err, sizeof err)) {
            fprintf(stderr, "bench_anomaly: %s\n", err);
            return 1;
        }
        int64_t bucket = INT64_MIN;
        double sum = 0;
        int cnt = 0;
        for (size_t i = 0; i <= t->rows; i++) {
            int64_t b = i < t->rows ? t->ts_ms[i] / step : INT64_MAX;
            if (b != bucket && bucket != INT64_MIN && cnt > step / 60000 / 2) {
                char tb[32];
                iso(bucket * step, tb, sizeof tb);
                fprintf(out, "%s,%.2f\n", tb, sum / cnt);
            }
            if (b != bucket) {
                bucket = b;
                sum = 0;
                cnt = 0;
            }
            if (i < t->rows && t->values[i] > 0) {
                sum += t->values[i];
                cnt++;
            }
        }
        hz_csv_table_free(t);
    }
    return fclose(out) ? 1 : 0;
}

/* ---- inject */

enum { SPIKE, DIP, LEVEL, FLATLINE, DRIFT, NOISE, MISSING, NTYPES };
static const char *const TYPES[NTYPES] = {"spike", "dip",   "level",  "flatline",
                                          "drift", "noise", "missing"};

static int length_of(int type, int D)
{
    int l[NTYPES] = {1, 1, D / 2, D / 2, D, D / 4, D / 4};
    return l[type] < 1 ? 1 : l[type];
}

/* The real series' own faults, before injection, as "native" labels: holes of more than 2
 * periods and runs of at least max(3, D/2) identical values.  Flags on them are real and
 * unlabelled: evaluate counts them neither found nor false. */
static void native_events(const series *s, int D, FILE *lab)
{
    int64_t period = 0;
    for (size_t i = 1; i < s->n; i++)
        if (s->ts[i] > s->ts[i - 1] && (!period || s->ts[i] - s->ts[i - 1] < period))
            period = s->ts[i] - s->ts[i - 1];
    size_t run = D / 2 > 3 ? (size_t)D / 2 : 3;
    for (size_t i = 1; i < s->n; i++)
        if (period && s->ts[i] - s->ts[i - 1] > 2 * period)
            fprintf(lab, "native,0,0,%lld,%lld\n", (long long)s->ts[i - 1], (long long)s->ts[i]);
    for (size_t i = 0, j; i < s->n; i = j) {
        for (j = i + 1; j < s->n && isfinite(s->v[i]) && s->v[j] == s->v[i]; j++)
            ;
        if (j - i >= run)
            fprintf(lab, "native,0,0,%lld,%lld\n", (long long)s->ts[i], (long long)s->ts[j - 1]);
    }
}

static int cmd_inject(int argc, char **argv)
{
    if (argc < 6)
        return 2;
    series s;
    int mdy = argc > 6 && !strcmp(argv[6], "mdy");
    if (load(argv[1], mdy ? HZ_CSV_MDY : HZ_CSV_YMD, &s))
        return 1;
    rng_state = strtoull(argv[4], NULL, 10) * 2654435761u + 88172645463325252ULL;
    int D = atoi(argv[5]);
    series s0 = {s.n, malloc(s.n * sizeof *s.ts), malloc(s.n * sizeof *s.v)};
    memcpy(s0.ts, s.ts, s.n * sizeof *s.ts);
    memcpy(s0.v, s.v, s.n * sizeof *s.v);
    double mean = 0, sd = 0, mn = INFINITY;
    size_t cnt = 0;
    for (size_t i = 0; i < s.n; i++)
        if (isfinite(s.v[i])) {
            mean += s.v[i];
            mn = fmin(mn, s.v[i]);
            cnt++;
        }
    mean /= cnt;
    for (size_t i = 0; i < s.n; i++)
        if (isfinite(s.v[i]))
            sd += (s.v[i] - mean) * (s.v[i] - mean);
    sd = sqrt(sd / cnt);
    int nonneg = mn >= 0;
    /* 14 events in random order, each in its own slice of the rows after the first 20% */
    int order[2 * NTYPES];
    for (int i = 0; i < 2 * NTYPES; i++)
        order[i] = i % NTYPES;
    for (int i = 2 * NTYPES - 1; i > 0; i--) {
        int j = (int)(uniform() * (i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    size_t first = s.n / 5, slice = (s.n - first) / (2 * NTYPES);
    char *drop = calloc(s.n, 1);
    FILE *lab = fopen(argv[3], "w");
    fprintf(lab, "type,first_row,last_row,first_ts,last_ts\n");
    size_t *start = malloc(2 * NTYPES * sizeof *start), *len = malloc(2 * NTYPES * sizeof *len);
    for (int e = 0; e < 2 * NTYPES; e++) {
        int type = order[e], L = length_of(type, D);
        size_t room = slice > (size_t)(L + 2 * D) ? slice - (size_t)(L + 2 * D) : 1;
        size_t a = first + (size_t)e * slice + (size_t)D + (size_t)(uniform() * room);
        start[e] = a;
        len[e] = (size_t)L;
        double lv = s.v[a];
        for (size_t i = a; i < a + (size_t)L && i < s.n; i++) {
            double *x = &s.v[i], k = (double)(i - a + 1) / L;
            switch (type) {
            case SPIKE:
                *x += 4 * sd;
                break;
            case DIP:
                *x = nonneg ? fmax(0, *x - 3 * sd) : *x - 3 * sd;
                break;
            case LEVEL:
                *x = nonneg ? *x * 2 : *x + 2 * sd;
                break;
            case FLATLINE:
                *x = lv;
                break;
            case DRIFT:
                *x += 3 * sd * k;
                break;
            case NOISE:
                *x += 1.5 * sd * gauss();
                break;
            case MISSING:
                drop[i] = 1;
                break;
            }
            if (nonneg && *x < 0)
                *x = 0;
        }
    }
    native_events(&s0, D, lab);
    FILE *out = fopen(argv[2], "w");
    fprintf(out, "time,value\n");
    size_t *row_of = malloc(s.n * sizeof *row_of), r = 0;
    for (size_t i = 0; i < s.n; i++) {
        row_of[i] = r;
        if (drop[i])
            continue;
        char tb[32];
        iso(s.ts[i], tb, sizeof tb);
        if (isfinite(s.v[i]))
            fprintf(out, "%s,%.4f\n", tb, s.v[i]);
        else
            fprintf(out, "%s,\n", tb);
        r++;
    }
    for (int e = 0; e < 2 * NTYPES; e++) {
        size_t a = start[e], b = a + len[e] - 1;
        if (order[e] == MISSING)
            a = b = b + 1 < s.n ? b + 1 : b; /* the row after the hole */
        fprintf(lab, "%s,%zu,%zu,%lld,%lld\n", TYPES[order[e]], row_of[a], row_of[b],
                (long long)s.ts[a], (long long)s.ts[b]);
    }
    fclose(lab);
    fclose(out);
    free(drop);
    free(row_of);
    free(s0.ts);
    free(s0.v);
    free(start);
    free(len);
    return 0;
}

/* ---- baselines, in horizon score's format (record, anomaly_score, flag, kind, kinds) */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* rolling z-score: z of each value against the previous 2D values, flagged above 4;
 * seasonal naive: |x[t] - x[t-D]| against the 99.9% quantile of it over the first 15%. */
static int cmd_baseline(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    series s;
    if (load(argv[2], HZ_CSV_YMD, &s))
        return 1;
    int D = atoi(argv[4]), zs = !strcmp(argv[1], "zscore");
    size_t ntrain = s.n * 15 / 100, w = 2 * (size_t)D;
    double thr = 4;
    if (!zs) {
        double *r = malloc((ntrain + 1) * sizeof *r);
        size_t m = 0;
        for (size_t i = (size_t)D; i < ntrain; i++)
            if (isfinite(s.v[i]) && isfinite(s.v[i - D]))
                r[m++] = fabs(s.v[i] - s.v[i - D]);
        qsort(r, m, sizeof *r, cmp_double);
        thr = m ? r[(size_t)(0.999 * (m - 1))] : INFINITY;
        free(r);
    }
    FILE *out = fopen(argv[3], "w");
    fprintf(out, "time,value,anomaly_score,flag,kind,kinds\n");
    for (size_t i = 0; i < s.n; i++) {
        double z = 0;
        if (i >= ntrain && isfinite(s.v[i])) {
            if (zs) {
                double m = 0, q = 0;
                size_t c = 0;
                for (size_t j = i - w; j < i; j++)
                    if (isfinite(s.v[j])) {
                        m += s.v[j];
                        q += s.v[j] * s.v[j];
                        c++;
                    }
                double sdv = c > 1 ? sqrt(fmax(q / c - (m / c) * (m / c), 0)) : 0;
                z = c > 1 && sdv > 0 ? fabs(s.v[i] - m / c) / sdv / thr : 0;
            } else if (isfinite(s.v[i - D]) && thr > 0) {
                z = fabs(s.v[i] - s.v[i - D]) / thr;
            }
        }
        char tb[32];
        iso(s.ts[i], tb, sizeof tb);
        int flag = z > 1;
        fprintf(out, "%s,%.4f,%.4f,%d,%s,%s\n", tb, s.v[i], z / (1 + z), flag, flag ? argv[1] : "",
                flag ? argv[1] : "");
    }
    return fclose(out) ? 1 : 0;
}

/* ---- evaluate */

typedef struct event {
    int type;
    int64_t t0, t1;
    int found;
    int64_t first_flag;
} event;

/* the kinds horizon score writes, for the false events' breakdown */
enum { NKINDS = 7 };
static const char *const KINDS[NKINDS] = {"residual", "shift", "spike", "flatline",
                                          "gap",      "range", "season"};

/* Whether kinds (a '+' list) has one of want's ("all": any). */
static int kinds_match(const char *kinds, const char *want)
{
    if (!*kinds)
        return 0;
    if (!strcmp(want, "all"))
        return 1;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", want);
    for (char *k = strtok(buf, "+"); k; k = strtok(NULL, "+")) {
        const char *p = strstr(kinds, k);
        size_t n = strlen(k);
        if (p && (p == kinds || p[-1] == '+') && (p[n] == 0 || p[n] == '+'))
            return 1;
    }
    return 0;
}

static int cmd_evaluate(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    FILE *lf = fopen(argv[2], "r"), *sf = fopen(argv[1], "r");
    if (!lf || !sf)
        return 1;
    const char *want = argv[3];
    int D = atoi(argv[4]);
    event ev[64], nat[256];
    int ne = 0, nn = 0;
    char line[4096];
    if (!fgets(line, sizeof line, lf))
        return 1;
    while (ne < 64 && fgets(line, sizeof line, lf)) {
        char type[32];
        long long t0, t1;
        size_t r0, r1;
        if (sscanf(line, "%31[^,],%zu,%zu,%lld,%lld", type, &r0, &r1, &t0, &t1) != 5)
            continue;
        ev[ne].type = -1;
        for (int k = 0; k < NTYPES; k++)
            if (!strcmp(type, TYPES[k]))
                ev[ne].type = k;
        if (ev[ne].type < 0) { /* native: the real series' own fault */
            if (nn < 256) {
                nat[nn].t0 = t0;
                nat[nn].t1 = t1;
                nat[nn++].found = 0;
            }
            continue;
        }
        ev[ne].t0 = t0;
        ev[ne].t1 = t1;
        ev[ne].found = 0;
        ne++;
    }
    /* scored rows: time is the first field, then the last four are score, flag, kind, kinds */
    int64_t prev_ts = INT64_MIN, period = 0, last_false = INT64_MIN, t_first = 0, t_last = 0;
    int false_events = 0, false_by_kind[NKINDS] = {0};
    if (!fgets(line, sizeof line, sf))
        return 1;
    char delim = strchr(line, '\t') ? '\t' : ',';
    while (fgets(line, sizeof line, sf)) {
        line[strcspn(line, "\r\n")] = 0;
        char *f[64];
        int nf = 0;
        for (char *p = line; nf < 64;) {
            f[nf++] = p;
            char *d = strchr(p, delim);
            if (!d)
                break;
            *d = 0;
            p = d + 1;
        }
        int64_t ts;
        if (nf < 5 || hz_csv_parse_time(f[0], HZ_CSV_YMD, 0, &ts))
            continue;
        if (!t_first)
            t_first = ts;
        t_last = ts;
        if (prev_ts != INT64_MIN && ts > prev_ts && (!period || ts - prev_ts < period))
            period = ts - prev_ts;
        prev_ts = ts;
        if (atoi(f[nf - 3]) != 1 || !kinds_match(f[nf - 1], want))
            continue;
        int in_event = 0;
        for (int e = 0; e < ne; e++)
            if (ts >= ev[e].t0 && ts <= ev[e].t1 + 3 * period) {
                in_event = 1;
                if (!ev[e].found) {
                    ev[e].found = 1;
                    ev[e].first_flag = ts;
                }
            }
        for (int e = 0; e < nn && !in_event; e++)
            if (ts >= nat[e].t0 && ts <= nat[e].t1 + 3 * period)
                in_event = nat[e].found = 1;
        if (!in_event) {
            if (last_false == INT64_MIN || ts - last_false >= (int64_t)D * period) {
                false_events++;
                for (int k = 0; k < NKINDS; k++)
                    false_by_kind[k] += kinds_match(f[nf - 1], KINDS[k]);
            }
            last_false = ts;
        }
    }
    int found = 0;
    double delay = 0;
    int by_type[NTYPES] = {0};
    for (int e = 0; e < ne; e++)
        if (ev[e].found) {
            found++;
            by_type[ev[e].type]++;
            delay += (double)(ev[e].first_flag - ev[e].t0) / (double)(period ? period : 1);
        }
    double p = found + false_events ? (double)found / (found + false_events) : 0;
    double r = ne ? (double)found / ne : 0, f1 = p + r > 0 ? 2 * p * r / (p + r) : 0;
    double days = (double)(t_last - t_first) / 86400000.0;
    printf("%.3f %.3f %.3f %.1f %.2f %d/%d", p, r, f1, found ? delay / found : NAN,
           days > 0 ? false_events / days : NAN, found, ne);
    printf(" [");
    for (int k = 0; k < NTYPES; k++)
        printf("%s%s %d", k ? ", " : "", TYPES[k], by_type[k]);
    int nat_found = 0;
    for (int e = 0; e < nn; e++)
        nat_found += nat[e].found;
    printf("] native %d/%d false by kind [", nat_found, nn);
    for (int k = 0; k < NKINDS; k++)
        printf("%s%s %d", k ? ", " : "", KINDS[k], false_by_kind[k]);
    printf("]\n");
    fclose(lf);
    fclose(sf);
    return 0;
}

int main(int argc, char **argv)
{
    int rc = 2;
    if (argc >= 2 && !strcmp(argv[1], "nilm"))
        rc = cmd_nilm(argc - 1, argv + 1);
    else if (argc >= 2 && !strcmp(argv[1], "inject"))
        rc = cmd_inject(argc - 1, argv + 1);
    else if (argc >= 2 && !strcmp(argv[1], "baseline"))
        rc = cmd_baseline(argc - 1, argv + 1);
    else if (argc >= 2 && !strcmp(argv[1], "evaluate"))
        rc = cmd_evaluate(argc - 1, argv + 1);
    if (rc == 2)
        fprintf(stderr, "usage: bench_anomaly nilm|inject|baseline|evaluate ... (see the "
                        "comment at the top of bench/bench_anomaly.c)\n");
    return rc;
}
