/* The tracer (sampler and exporter) and the life of a span: ids, sampling decision, attributes
 * and events into the span's own arena, status, and the hand-over to the exporter. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/prng.h"
#include "common/trace_internal.h"

struct tracer {
  trace_sampler sampler;
  unsigned propagators; /* OTEL_PROPAGATORS */
  uint64_t ratio_bound; /* sample when the trace id's low 64 bits are below it */
  bool ratio_all;       /* ratio 1: every trace */
  trace_exporter *exp;
  atomic_bool stopped; /* tracer_shutdown ran: new spans are not started */
};

/* Spans hold a few attributes: small blocks keep a queued span small. */
#define SPAN_ARENA_CHUNK 1024

/* Per thread by nature: the span of the work this thread is doing. */
static __thread trace_span *current_span;

trace_span *trace_current(void) { return current_span; }
trace_span *trace_current_set(trace_span *s) {
  trace_span *prev = current_span;
  current_span = s;
  return prev;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the tracer --------------------------------------------------------------------------- */

tracer *tracer_create(const trace_config *cfg, metrics_registry *m) {
  if (!cfg->enabled) return NULL;
  tracer *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->sampler = cfg->sampler;
  t->propagators = cfg->propagators;
  t->ratio_all = cfg->ratio >= 1.0;
  t->ratio_bound = cfg->ratio <= 0 ? 0 : (uint64_t)(cfg->ratio * 18446744073709551616.0);
  t->exp = trace_exporter_create(cfg, m);
  if (!t->exp) {
    free(t);
    return NULL;
  }
  return t;
}

void tracer_shutdown(tracer *t, int64_t timeout_ms) {
  if (!t || atomic_exchange(&t->stopped, true)) return;
  trace_exporter_shutdown(t->exp, timeout_ms);
}

void tracer_destroy(tracer *t) {
  if (!t) return;
  tracer_shutdown(t, 0);
  trace_exporter_destroy(t->exp);
  free(t);
}

unsigned tracer_propagators(const tracer *t) { return t ? t->propagators : 0; }

static bool ratio_sampled(const tracer *t, const uint8_t trace_id[16]) {
  if (t->ratio_all) return true;
  uint64_t low = 0;
  for (int i = 8; i < 16; i++) low = low << 8 | trace_id[i];
  return low < t->ratio_bound;
}

/* OTEL_TRACES_SAMPLER for a span whose parent is remote (or absent). */
static bool sample(const tracer *t, const trace_context *remote, const uint8_t trace_id[16]) {
  switch (t->sampler) {
    case TRACE_SAMPLER_ALWAYS_ON:
      return true;
    case TRACE_SAMPLER_ALWAYS_OFF:
      return false;
    case TRACE_SAMPLER_RATIO:
      return ratio_sampled(t, trace_id);
    case TRACE_SAMPLER_PARENT_ALWAYS_ON:
      return remote ? (remote->flags & TRACE_FLAG_SAMPLED) != 0 : true;
    case TRACE_SAMPLER_PARENT_ALWAYS_OFF:
      return remote ? (remote->flags & TRACE_FLAG_SAMPLED) != 0 : false;
    case TRACE_SAMPLER_PARENT_RATIO:
      return remote ? (remote->flags & TRACE_FLAG_SAMPLED) != 0 : ratio_sampled(t, trace_id);
  }
  return false;
}

/* ---- spans -------------------------------------------------------------------------------- */

static void random_id(uint8_t *out, size_t n) {
  do {
    for (size_t i = 0; i < n; i += 8) {
      uint64_t r = prng_u64();
      memcpy(out + i, &r, n - i < 8 ? n - i : 8);
    }
  } while (!memcmp(out, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", n)); /* all zero is invalid */
}

static void attrs_init(trace_attrs *a) {
  a->head = NULL;
  a->tail = &a->head;
  a->count = a->dropped = 0;
}

static trace_span *span_new(tracer *t, const char *name, trace_span_kind kind, bool sampled) {
  trace_span *s = malloc(sizeof *s);
  if (!s) return NULL;
  s->tracer = t;
  s->has_parent = s->remote_parent = false;
  s->sampled = sampled;
  s->kind = kind;
  s->start_ns = sampled ? now_ns() : 0;
  s->end_ns = 0;
  s->state = "";
  attrs_init(&s->attrs);
  s->events = s->last_event = NULL;
  s->events_tail = &s->events;
  s->n_events = s->dropped_events = 0;
  s->error = false;
  s->status_message = NULL;
  arena_init_sized(&s->arena, SPAN_ARENA_CHUNK);
  s->name = sampled ? arena_strdup(&s->arena, name) : "";
  random_id(s->span_id, 8);
  return s;
}

trace_span *trace_span_start_remote(tracer *t, const char *name, trace_span_kind kind,
                                    const trace_context *remote) {
  if (!t || atomic_load_explicit(&t->stopped, memory_order_relaxed)) return NULL;
  uint8_t trace_id[16];
  if (remote)
    memcpy(trace_id, remote->trace_id, 16);
  else
    random_id(trace_id, 16);
  trace_span *s = span_new(t, name, kind, sample(t, remote, trace_id));
  if (!s) return NULL;
  memcpy(s->trace_id, trace_id, 16);
  if (remote) {
    s->has_parent = s->remote_parent = true;
    memcpy(s->parent_id, remote->span_id, 8);
    if (remote->state[0]) s->state = arena_strdup(&s->arena, remote->state);
  }
  return s;
}

trace_span *trace_span_start_child(trace_span *parent, const char *name, trace_span_kind kind) {
  if (!parent) return NULL;
  /* Every sampler decides the same for a span whose parent is in this process: the ratio
   * samplers look at the trace id, which the child shares. */
  trace_span *s = span_new(parent->tracer, name, kind, parent->sampled);
  if (!s) return NULL;
  memcpy(s->trace_id, parent->trace_id, 16);
  memcpy(s->parent_id, parent->span_id, 8);
  s->has_parent = true;
  s->state = parent->state[0] ? arena_strdup(&s->arena, parent->state) : "";
  return s;
}

bool trace_span_recording(const trace_span *s) { return s && s->sampled; }

static trace_attr *attr_add(trace_span *s, trace_attrs *a, const char *key, trace_attr_type type) {
  if (a->count >= TRACE_MAX_ATTRS) {
    a->dropped++;
    return NULL;
  }
  trace_attr *at = arena_alloc(&s->arena, sizeof *at);
  at->key = arena_strdup(&s->arena, key);
  at->type = type;
  *a->tail = at;
  a->tail = &at->next;
  a->count++;
  return at;
}

static void attrs_set_str(trace_span *s, trace_attrs *a, const char *key, const char *value) {
  trace_attr *at = attr_add(s, a, key, TRACE_ATTR_STR);
  if (at) at->str = arena_strdup(&s->arena, value);
}

static void attrs_set_int(trace_span *s, trace_attrs *a, const char *key, int64_t value) {
  trace_attr *at = attr_add(s, a, key, TRACE_ATTR_INT);
  if (at) at->num = value;
}

void trace_span_set_str(trace_span *s, const char *key, const char *value) {
  if (trace_span_recording(s) && value) attrs_set_str(s, &s->attrs, key, value);
}

void trace_span_set_int(trace_span *s, const char *key, int64_t value) {
  if (trace_span_recording(s)) attrs_set_int(s, &s->attrs, key, value);
}

void trace_span_set_strs(trace_span *s, const char *key, const char *const *values, size_t n) {
  if (!trace_span_recording(s)) return;
  trace_attr *at = attr_add(s, &s->attrs, key, TRACE_ATTR_STRS);
  if (!at) return;
  at->strs = arena_alloc(&s->arena, (n ? n : 1) * sizeof *at->strs);
  for (size_t i = 0; i < n; i++) at->strs[i] = arena_strdup(&s->arena, values[i]);
  at->n_strs = n;
}

void trace_span_event(trace_span *s, const char *name) {
  if (!trace_span_recording(s)) return;
  if (s->n_events >= TRACE_MAX_EVENTS) {
    s->dropped_events++;
    s->last_event = NULL;
    return;
  }
  trace_event *e = arena_alloc(&s->arena, sizeof *e);
  e->name = arena_strdup(&s->arena, name);
  e->time_ns = now_ns();
  attrs_init(&e->attrs);
  *s->events_tail = e;
  s->events_tail = &e->next;
  s->last_event = e;
  s->n_events++;
}

void trace_span_event_str(trace_span *s, const char *key, const char *value) {
  if (trace_span_recording(s) && s->last_event && value)
    attrs_set_str(s, &s->last_event->attrs, key, value);
}

void trace_span_event_int(trace_span *s, const char *key, int64_t value) {
  if (trace_span_recording(s) && s->last_event) attrs_set_int(s, &s->last_event->attrs, key, value);
}

void trace_span_set_error(trace_span *s, const char *message) {
  if (!trace_span_recording(s)) return;
  s->error = true;
  s->status_message = message ? arena_strdup(&s->arena, message) : NULL;
}

void trace_span_free(trace_span *s) {
  arena_free(&s->arena);
  free(s);
}

void trace_span_end(trace_span *s) {
  if (!s) return;
  if (!s->sampled) {
    trace_span_free(s);
    return;
  }
  s->end_ns = now_ns();
  trace_exporter_push(s->tracer->exp, s);
}

const char *trace_span_traceparent(const trace_span *s, char traceparent[TRACE_PARENT_LEN + 1]) {
  trace_context_format(s->trace_id, s->span_id, s->sampled ? TRACE_FLAG_SAMPLED : 0, traceparent);
  return s->state;
}

unsigned trace_span_propagators(const trace_span *s) { return s ? s->tracer->propagators : 0; }

void trace_span_ids(const trace_span *s, char trace_id[33], char span_id[17]) {
  trace_hex(s->trace_id, 16, trace_id);
  trace_hex(s->span_id, 8, span_id);
}
