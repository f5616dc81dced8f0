/* Metric families with labelled series, kept in insertion order so output is stable. */
#include "common/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"

enum kind { COUNTER, GAUGE, HISTOGRAM };

typedef struct series {
  struct series *next;
  char **values;
  double value;    /* counter, gauge */
  double sum;      /* histogram */
  double *buckets; /* histogram: non-cumulative counts per bucket, +Inf last */
  double count;
} series;

struct metrics_family {
  struct metrics_family *next;
  enum kind kind;
  char *name, *help;
  char **labels;
  size_t n_labels;
  double *bounds;
  size_t n_bounds;
  pthread_mutex_t mu;
  series *head, **tail;
};

typedef struct collector {
  struct collector *next;
  metrics_collect_fn fn;
  void *arg;
} collector;

struct metrics_registry {
  pthread_mutex_t mu;
  metrics_family *head, **tail;
  collector *collectors;
};

const double metrics_default_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
const size_t metrics_default_buckets_len = sizeof metrics_default_buckets / sizeof(double);

metrics_registry *metrics_registry_create(void) {
  metrics_registry *r = calloc(1, sizeof *r);
  pthread_mutex_init(&r->mu, NULL);
  r->tail = &r->head;
  return r;
}

static void free_strv(char **v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

void metrics_registry_destroy(metrics_registry *r) {
  if (!r) return;
  for (metrics_family *f = r->head, *fn; f; f = fn) {
    fn = f->next;
    for (series *s = f->head, *sn; s; s = sn) {
      sn = s->next;
      free_strv(s->values, f->n_labels);
      free(s->buckets);
      free(s);
    }
    free_strv(f->labels, f->n_labels);
    free(f->name);
    free(f->help);
    free(f->bounds);
    pthread_mutex_destroy(&f->mu);
    free(f);
  }
  for (collector *c = r->collectors, *cn; c; c = cn) {
    cn = c->next;
    free(c);
  }
  pthread_mutex_destroy(&r->mu);
  free(r);
}

static metrics_family *family(metrics_registry *r, enum kind kind, const char *name,
                              const char *help, const char *const *labels, const double *bounds,
                              size_t n_bounds) {
  pthread_mutex_lock(&r->mu);
  for (metrics_family *f = r->head; f; f = f->next)
    if (!strcmp(f->name, name)) {
      pthread_mutex_unlock(&r->mu);
      return f;
    }
  metrics_family *f = calloc(1, sizeof *f);
  f->kind = kind;
  f->name = strdup(name);
  f->help = strdup(help);
  while (labels[f->n_labels]) f->n_labels++;
  f->labels = calloc(f->n_labels + 1, sizeof(char *));
  for (size_t i = 0; i < f->n_labels; i++) f->labels[i] = strdup(labels[i]);
  if (n_bounds) {
    f->bounds = malloc(n_bounds * sizeof(double));
    memcpy(f->bounds, bounds, n_bounds * sizeof(double));
    f->n_bounds = n_bounds;
  }
  pthread_mutex_init(&f->mu, NULL);
  f->tail = &f->head;
  *r->tail = f;
  r->tail = &f->next;
  pthread_mutex_unlock(&r->mu);
  return f;
}

metrics_family *metrics_counter(metrics_registry *r, const char *name, const char *help,
                                const char *const *label_names) {
  return family(r, COUNTER, name, help, label_names, NULL, 0);
}
metrics_family *metrics_gauge(metrics_registry *r, const char *name, const char *help,
                              const char *const *label_names) {
  return family(r, GAUGE, name, help, label_names, NULL, 0);
}
metrics_family *metrics_histogram(metrics_registry *r, const char *name, const char *help,
                                  const char *const *label_names, const double *buckets,
                                  size_t n_buckets) {
  return family(r, HISTOGRAM, name, help, label_names, buckets, n_buckets);
}

/* Caller holds f->mu. */
static series *find_series(metrics_family *f, const char *const *values) {
  for (series *s = f->head; s; s = s->next) {
    size_t i = 0;
    while (i < f->n_labels && !strcmp(s->values[i], values[i] ? values[i] : "")) i++;
    if (i == f->n_labels) return s;
  }
  series *s = calloc(1, sizeof *s);
  s->values = calloc(f->n_labels + 1, sizeof(char *));
  for (size_t i = 0; i < f->n_labels; i++) s->values[i] = strdup(values[i] ? values[i] : "");
  if (f->kind == HISTOGRAM) s->buckets = calloc(f->n_bounds + 1, sizeof(double));
  *f->tail = s;
  f->tail = &s->next;
  return s;
}

void metrics_add(metrics_family *f, const char *const *label_values, double v) {
  if (!f) return;
  pthread_mutex_lock(&f->mu);
  find_series(f, label_values)->value += v;
  pthread_mutex_unlock(&f->mu);
}

void metrics_set(metrics_family *f, const char *const *label_values, double v) {
  if (!f) return;
  pthread_mutex_lock(&f->mu);
  find_series(f, label_values)->value = v;
  pthread_mutex_unlock(&f->mu);
}

void metrics_observe(metrics_family *f, const char *const *label_values, double v) {
  if (!f) return;
  size_t b = 0;
  while (b < f->n_bounds && v > f->bounds[b]) b++;
  pthread_mutex_lock(&f->mu);
  series *s = find_series(f, label_values);
  s->buckets[b] += 1;
  s->sum += v;
  s->count += 1;
  pthread_mutex_unlock(&f->mu);
}

void metrics_touch(metrics_family *f, const char *const *label_values) {
  if (!f) return;
  pthread_mutex_lock(&f->mu);
  find_series(f, label_values);
  pthread_mutex_unlock(&f->mu);
}

void metrics_on_collect(metrics_registry *r, metrics_collect_fn fn, void *arg) {
  collector *c = calloc(1, sizeof *c);
  c->fn = fn;
  c->arg = arg;
  pthread_mutex_lock(&r->mu);
  c->next = r->collectors;
  r->collectors = c;
  pthread_mutex_unlock(&r->mu);
}

static void put_number(strbuf *b, double v) {
  if (isinf(v))
    strbuf_puts(b, v > 0 ? "+Inf" : "-Inf");
  else if (isnan(v))
    strbuf_puts(b, "NaN");
  else if (v == (double)(long long)v && fabs(v) < 1e15)
    strbuf_printf(b, "%lld", (long long)v);
  else
    strbuf_printf(b, "%.17g", v);
}

static void put_escaped(strbuf *b, const char *s) {
  for (; *s; s++) {
    if (*s == '\\')
      strbuf_puts(b, "\\\\");
    else if (*s == '"')
      strbuf_puts(b, "\\\"");
    else if (*s == '\n')
      strbuf_puts(b, "\\n");
    else
      strbuf_putc(b, *s);
  }
}

/* {a="x",b="y"[,le="0.5"]}; nothing when there are no labels at all. */
static void put_labels(strbuf *b, const metrics_family *f, const series *s, const char *le) {
  if (!f->n_labels && !le) return;
  strbuf_putc(b, '{');
  for (size_t i = 0; i < f->n_labels; i++) {
    if (i) strbuf_putc(b, ',');
    strbuf_printf(b, "%s=\"", f->labels[i]);
    put_escaped(b, s->values[i]);
    strbuf_putc(b, '"');
  }
  if (le) strbuf_printf(b, "%sle=\"%s\"", f->n_labels ? "," : "", le);
  strbuf_putc(b, '}');
}

char *metrics_render(metrics_registry *r) {
  static const char *const type_names[] = {"counter", "gauge", "histogram"};
  pthread_mutex_lock(&r->mu);
  for (collector *c = r->collectors; c; c = c->next) c->fn(c->arg);
  strbuf b;
  strbuf_init(&b);
  for (metrics_family *f = r->head; f; f = f->next) {
    strbuf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                  type_names[f->kind]);
    pthread_mutex_lock(&f->mu);
    for (series *s = f->head; s; s = s->next) {
      if (f->kind != HISTOGRAM) {
        strbuf_puts(&b, f->name);
        put_labels(&b, f, s, NULL);
        strbuf_putc(&b, ' ');
        put_number(&b, s->value);
        strbuf_putc(&b, '\n');
        continue;
      }
      double cumulative = 0;
      for (size_t i = 0; i <= f->n_bounds; i++) {
        char le[32];
        if (i < f->n_bounds)
          snprintf(le, sizeof le, "%g", f->bounds[i]);
        else
          snprintf(le, sizeof le, "+Inf");
        cumulative += s->buckets[i];
        strbuf_printf(&b, "%s_bucket", f->name);
        put_labels(&b, f, s, le);
        strbuf_putc(&b, ' ');
        put_number(&b, cumulative);
        strbuf_putc(&b, '\n');
      }
      strbuf_printf(&b, "%s_sum", f->name);
      put_labels(&b, f, s, NULL);
      strbuf_putc(&b, ' ');
      put_number(&b, s->sum);
      strbuf_printf(&b, "\n%s_count", f->name);
      put_labels(&b, f, s, NULL);
      strbuf_putc(&b, ' ');
      put_number(&b, s->count);
      strbuf_putc(&b, '\n');
    }
    pthread_mutex_unlock(&f->mu);
  }
  pthread_mutex_unlock(&r->mu);
  return strbuf_take(&b);
}
