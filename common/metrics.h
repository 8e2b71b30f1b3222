/* metrics.h — a registry of labelled counters, gauges and histograms, rendered in the
 * Prometheus text exposition format (version 0.0.4).  The pipeline updates the counters; the
 * service serves them over HTTP (service/metrics_http.h).  Names in docs/METRICS.md.
 *
 * Shape: a *family* (name, type, help, label names, histogram buckets) is declared once;
 * hz_metrics_get() returns the *child* for one tuple of label values, creating it on first
 * use.  A child pointer stays valid until hz_metrics_free(), so the hot path looks a child
 * up once (per pipeline, per kind) and then only calls hz_metrics_inc/add/set/observe,
 * which are lock-free (C11 atomics) and safe from any thread.  Declaring, getting and
 * rendering take the registry's mutex and may be called from any thread too. */
#ifndef HZ_METRICS_H
#define HZ_METRICS_H

#include <stddef.h>

#include "common/hz.h"

typedef enum hz_metric_type {
    HZ_METRIC_COUNTER,
    HZ_METRIC_GAUGE,
    HZ_METRIC_HISTOGRAM,
} hz_metric_type;

/* Most labels one family can have, and most buckets of one histogram (+Inf not counted). */
#define HZ_METRICS_MAX_LABELS  4
#define HZ_METRICS_MAX_BUCKETS 32

typedef struct hz_metrics hz_metrics;
typedef struct hz_metric hz_metric; /* one child: a family at one tuple of label values */

/* Returns a new empty registry, or NULL when out of memory. */
hz_metrics *hz_metrics_new(void);
/* Frees the registry and every child (child pointers die with it).  NULL is a no-op.
 * Stop any server using it first. */
void hz_metrics_free(hz_metrics *m);

/* Declares a family.  name matches [a-zA-Z_:][a-zA-Z0-9_:]*; labels is NULL or a
 * NULL-terminated list of at most HZ_METRICS_MAX_LABELS names ([a-zA-Z_][a-zA-Z0-9_]*, not
 * "le" and not starting "__"); buckets (histograms only; NULL for the others) are strictly
 * increasing finite upper bounds, nbuckets in 1..HZ_METRICS_MAX_BUCKETS, +Inf is implicit.
 * Strings are copied.  Declaring the same name again with the same type and labels is a no-op
 * returning 0; with a different shape it is HZ_EINVAL. */
int hz_metrics_declare(hz_metrics *m, const char *name, hz_metric_type type, const char *help,
                       const char *const *labels, const double *buckets, int nbuckets, char *err,
                       size_t errlen);

/* Declares the families the daemon uses (see docs/METRICS.md), all labelled by `pipeline`
 * (horizon_anomalies_total also by `kind`, horizon_retrains_total by `result`).  Returns 0 or
 * HZ_E*. */
int hz_metrics_declare_std(hz_metrics *m, char *err, size_t errlen);

/* Returns the child of family `name` for the label values (in declaration order, exactly as
 * many as the family has labels; NULL when it has none), creating it at 0 on first use.
 * Values are copied and may be any UTF-8 (escaped when rendered).  The pointer is owned by
 * the registry.  Returns NULL and fills err when the family is unknown, the number of values
 * is wrong, or memory runs out. */
hz_metric *hz_metrics_get(hz_metrics *m, const char *name, const char *const *values, char *err,
                          size_t errlen);

/* Hot path: lock-free, never allocate, NULL child is a no-op (so a failed get degrades to
 * not counting).  inc/add: counters and gauges (a counter ignores negative or NaN v);
 * set: gauges only; observe: histograms only.  Wrong-type calls are programmer errors
 * (asserted). */
void hz_metrics_inc(hz_metric *c);
void hz_metrics_add(hz_metric *c, double v);
void hz_metrics_set(hz_metric *c, double v);
void hz_metrics_observe(hz_metric *c, double v);

/* Current value of a counter/gauge child, or the observation count of a histogram child. */
double hz_metrics_value(const hz_metric *c);

/* Renders every family in declaration order (children in creation order) into a new
 * NUL-terminated buffer the caller frees with free().  Families with no child yet are
 * rendered as HELP/TYPE only.  Returns 0 or HZ_ENOMEM. */
int hz_metrics_render(hz_metrics *m, char **out, size_t *len, char *err, size_t errlen);

#endif
