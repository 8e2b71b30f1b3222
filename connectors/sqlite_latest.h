/* sqlite_latest.h — the latest-forecast table of the SQLite sink (connectors/sqlite_sink.c):
 * one row per (pipeline, series, variable), overwritten in place by each forecast, its steps
 * as JSON arrays, so a fleet's file holds one row per series whatever its age.  A view gives
 * a row per step.  docs/ARCHITECTURE.md shows the queries operators run on it.
 *
 *   latest_<forecasts>(pipeline, series, variable, issued_ts, period_ms, steps, model_id,
 *                      value, lowerNN, upperNN...)   (PRIMARY KEY the first 3)
 *   latest_<forecasts>_steps: pipeline, series, variable, issued_ts, step, target_ts, value,
 *                      lower, upper, lowerNN, upperNN..., model_id
 *
 * value and each level's lowerNN / upperNN are JSON arrays of `steps` numbers (7 significant
 * digits, null where none is known); the view's lower / upper are the highest level's, as
 * in `forecasts`. */
#ifndef HZ_SQLITE_LATEST_H
#define HZ_SQLITE_LATEST_H

#include <sqlite3.h>
#include <stddef.h>

#include "connectors/connector.h"

typedef struct hz_sqlite_latest hz_sqlite_latest;

/* Creates the table and its view when absent (inside the caller's transaction or none) and
 * prepares the upsert.  *out is owned by the caller (hz_sqlite_latest_free before db).
 * Returns 0, HZ_ENOMEM or HZ_EDB. */
int hz_sqlite_latest_open(sqlite3 *db, const char *forecasts_table, hz_sqlite_latest **out,
                          char *err, size_t errlen);
void hz_sqlite_latest_free(hz_sqlite_latest *l);

/* Upserts the forecasts of f[n] (per-step records as the forecaster emits them: a window's
 * records contiguous) as one row per (series, variable, issue), inside the caller's open
 * transaction.  Returns 0, HZ_ENOMEM or HZ_EDB (message in err); *rows counts rows written. */
int hz_sqlite_latest_write(hz_sqlite_latest *l, const hz_forecast *f, size_t n, uint64_t *rows,
                           char *err, size_t errlen);

#endif
