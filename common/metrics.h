/* Prometheus metrics: counters, gauges and histograms with labels, rendered in the text
 * exposition format (0.0.4) and served over HTTP by metrics_http. All calls are thread-safe. */
#ifndef MENU_METRICS_H
#define MENU_METRICS_H

#include <stddef.h>

typedef struct metrics_registry metrics_registry;
typedef struct metrics_family metrics_family;

/* Label values for one series, NULL-terminated: METRICS_LABELS("ListCategories", "OK"). */
#define METRICS_LABELS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define METRICS_NO_LABELS ((const char *const[]){NULL})

/* Buckets of go-grpc-prometheus' default histogram, in seconds. */
extern const double metrics_default_buckets[];
extern const size_t metrics_default_buckets_len;

metrics_registry *metrics_registry_create(void);
void metrics_registry_destroy(metrics_registry *r);

/* Families are owned by the registry; registering a name twice returns the first family.
 * label_names is NULL-terminated (METRICS_LABELS(...) or METRICS_NO_LABELS). */
metrics_family *metrics_counter(metrics_registry *r, const char *name, const char *help,
                                const char *const *label_names);
metrics_family *metrics_gauge(metrics_registry *r, const char *name, const char *help,
                              const char *const *label_names);
metrics_family *metrics_histogram(metrics_registry *r, const char *name, const char *help,
                                  const char *const *label_names, const double *buckets,
                                  size_t n_buckets);

/* label_values must match the family's label names in number and order. */
void metrics_add(metrics_family *f, const char *const *label_values, double v);     /* counter */
void metrics_set(metrics_family *f, const char *const *label_values, double v);     /* gauge */
void metrics_observe(metrics_family *f, const char *const *label_values, double v); /* histogram */
/* Creates the series at 0 if it does not exist yet (zero-valued series for known labels, so
 * that rate() and absent() work before the first event). Any kind. */
void metrics_touch(metrics_family *f, const char *const *label_values);

/* Called before every render, e.g. to set gauges read from a pool. */
typedef void (*metrics_collect_fn)(void *arg);
void metrics_on_collect(metrics_registry *r, metrics_collect_fn fn, void *arg);

/* The whole registry in text format. Caller frees. */
char *metrics_render(metrics_registry *r);

/* GET /metrics on addr ("host:port"); NULL on failure (logged). */
typedef struct metrics_http metrics_http;
metrics_http *metrics_http_start(metrics_registry *r, const char *addr);
void metrics_http_stop(metrics_http *h);

#endif
