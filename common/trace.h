/* Distributed tracing in OpenTelemetry's model and wire format: W3C trace context read from a
 * call's metadata and passed on to every outgoing call (with the caller's W3C baggage, as
 * OTEL_PROPAGATORS says), spans for server calls, client calls
 * and datastore operations, sampled by the standard OTEL_TRACES_SAMPLER samplers and exported
 * as OTLP over HTTP/protobuf by one background thread (trace_export.c).
 *
 * Off by default: trace_config_load enables it only when an OTLP endpoint variable is set.
 * Off, no tracer exists and every span function receives NULL and returns at once, so the
 * cost per call is a branch. A span of a call that was not sampled exists (it carries the
 * context on to the backends, with the sampled flag clear) but records nothing.
 *
 * Thread-safety: a tracer is thread-safe. A span belongs to one thread at a time (the thread
 * that runs its call, like the call's rpc_ctx); its ids never change after start and may be
 * read from any thread. The current span (trace_current) is per thread. */
#ifndef MENU_TRACE_H
#define MENU_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/metrics.h"

/* ---- W3C trace context (trace_context.c) -------------------------------------------------- */

#define TRACE_PARENT_LEN 55     /* "00-<32 hex>-<16 hex>-<2 hex>" */
#define TRACE_STATE_MAX 512     /* longer tracestate headers are dropped whole */
#define TRACE_FLAG_SAMPLED 0x01 /* the only flag of version 00 */

typedef struct {
  uint8_t trace_id[16];
  uint8_t span_id[8]; /* the caller's span: the parent of ours */
  uint8_t flags;
  char state[TRACE_STATE_MAX + 1]; /* tracestate as received (validated), "" when none */
} trace_context;

/* Parses a `traceparent` value (n bytes, not NUL-terminated) and an optional `tracestate`
 * (NULL or sn bytes). False when traceparent is invalid by the W3C rules (then a new trace
 * starts); an invalid or oversized tracestate is only dropped. */
bool trace_context_parse(const char *traceparent, size_t n, const char *tracestate, size_t sn,
                         trace_context *out);
/* Writes "00-<trace id>-<span id>-<flags>" and a NUL into out. */
void trace_context_format(const uint8_t trace_id[16], const uint8_t span_id[8], uint8_t flags,
                          char out[TRACE_PARENT_LEN + 1]);
/* Lower-case hex of n bytes and a NUL into out (2n+1 bytes). */
void trace_hex(const uint8_t *bytes, size_t n, char *out);

/* ---- configuration and the tracer (trace_config.c, trace_span.c) -------------------------- */

typedef enum {
  TRACE_SAMPLER_ALWAYS_ON,
  TRACE_SAMPLER_ALWAYS_OFF,
  TRACE_SAMPLER_RATIO,
  TRACE_SAMPLER_PARENT_ALWAYS_ON,
  TRACE_SAMPLER_PARENT_ALWAYS_OFF,
  TRACE_SAMPLER_PARENT_RATIO,
} trace_sampler;

#define TRACE_MAX_HEADERS 16
#define TRACE_MAX_RESOURCE_ATTRS 32

/* OTEL_PROPAGATORS: what crosses process boundaries with each call (a bit set). */
#define TRACE_PROPAGATE_TRACECONTEXT 0x1u /* W3C traceparent and tracestate, in and out */
#define TRACE_PROPAGATE_BAGGAGE 0x2u      /* W3C baggage, passed on unchanged */

typedef struct {
  bool enabled;              /* an endpoint is set, OTEL_SDK_DISABLED is not true and
                                OTEL_TRACES_EXPORTER is not none */
  char endpoint[1024];       /* the full URL spans are POSTed to */
  unsigned propagators;      /* OTEL_PROPAGATORS: TRACE_PROPAGATE_* bits */
  trace_sampler sampler;     /* OTEL_TRACES_SAMPLER */
  double ratio;              /* OTEL_TRACES_SAMPLER_ARG, for the ratio samplers */
  int max_queue;             /* OTEL_BSP_MAX_QUEUE_SIZE */
  int max_batch;             /* OTEL_BSP_MAX_EXPORT_BATCH_SIZE */
  int64_t schedule_delay_ms; /* OTEL_BSP_SCHEDULE_DELAY */
  int64_t export_timeout_ms; /* OTEL_BSP_EXPORT_TIMEOUT, capped by OTEL_EXPORTER_OTLP_TIMEOUT */
  char service_name[128];    /* OTEL_SERVICE_NAME, else the binary's name */
  char *headers[TRACE_MAX_HEADERS]; /* "Name: value" lines; owned, freed by trace_config_free */
  int n_headers;
  char *resource[TRACE_MAX_RESOURCE_ATTRS][2]; /* OTEL_RESOURCE_ATTRIBUTES key, value; owned */
  int n_resource;
} trace_config;

/* Reads the OTEL_* variables (problems recorded in c; an unknown OTEL_PROPAGATORS entry is
 * only logged, as the specification says). */
void trace_config_load(config *c, trace_config *out, const char *default_service);
void trace_config_free(trace_config *cfg);

typedef struct tracer tracer;

/* NULL when cfg->enabled is false (tracing off). Starts the exporter thread; the metrics
 * otel_spans_exported_total, otel_spans_dropped_total, otel_export_failures_total and
 * otel_export_retries_total go to m (borrowed, may be NULL). cfg is copied. Caller destroys. */
tracer *tracer_create(const trace_config *cfg, metrics_registry *m);
/* Exports what is queued, waiting at most timeout_ms, and stops the exporter thread. Spans
 * ended afterwards are dropped. NULL is fine. */
void tracer_shutdown(tracer *t, int64_t timeout_ms);
void tracer_destroy(tracer *t); /* shuts down first if needed; NULL is fine */
/* OTEL_PROPAGATORS of the tracer (TRACE_PROPAGATE_* bits); 0 for NULL. */
unsigned tracer_propagators(const tracer *t);

/* ---- spans (trace_span.c) ----------------------------------------------------------------- */

typedef enum { /* OTLP's SpanKind values */
               TRACE_SPAN_INTERNAL = 1,
               TRACE_SPAN_SERVER = 2,
               TRACE_SPAN_CLIENT = 3,
} trace_span_kind;

typedef struct trace_span trace_span;

/* A span whose parent is a remote caller (remote may be NULL: a new trace), sampled by the
 * tracer's sampler. NULL when t is NULL. Caller ends it with trace_span_end. `name` is copied. */
trace_span *trace_span_start_remote(tracer *t, const char *name, trace_span_kind kind,
                                    const trace_context *remote);
/* A child of parent in the same process; NULL when parent is NULL. */
trace_span *trace_span_start_child(trace_span *parent, const char *name, trace_span_kind kind);

/* True when the span is sampled: only then do attributes and events cost anything. NULL:
 * false. Callers use it to skip building values nobody will see. */
bool trace_span_recording(const trace_span *s);

/* Attributes (OpenTelemetry semantic-convention names); keys and values are copied. A key set
 * twice appears twice. All accept NULL spans and NULL string values (ignored). */
void trace_span_set_str(trace_span *s, const char *key, const char *value);
void trace_span_set_int(trace_span *s, const char *key, int64_t value);
void trace_span_set_strs(trace_span *s, const char *key, const char *const *values, size_t n);
/* An event at the current time; trace_span_event_str/int add attributes to the last event. */
void trace_span_event(trace_span *s, const char *name);
void trace_span_event_str(trace_span *s, const char *key, const char *value);
void trace_span_event_int(trace_span *s, const char *key, int64_t value);
/* Status ERROR with a message (copied; may be NULL). */
void trace_span_set_error(trace_span *s, const char *message);
/* Ends the span: a sampled one is queued for export (dropped and counted when the queue is
 * full; never blocks), any other is freed. The span is invalid afterwards. NULL is fine. */
void trace_span_end(trace_span *s);

/* The context to send to a callee: this span as the parent. traceparent gets
 * TRACE_PARENT_LEN + 1 bytes; the tracestate returned is borrowed from the span ("" when
 * none). */
const char *trace_span_traceparent(const trace_span *s, char traceparent[TRACE_PARENT_LEN + 1]);
/* The tracer's OTEL_PROPAGATORS bits (0 for NULL): what a call made under s sends on. */
unsigned trace_span_propagators(const trace_span *s);
/* Hex ids for log lines: trace_id 33 bytes, span_id 17 bytes. */
void trace_span_ids(const trace_span *s, char trace_id[33], char span_id[17]);

/* The span of the work this thread is doing (a handler's server span), NULL when none:
 * datastore clients deep below a handler start their spans as its children without a
 * parameter. trace_current_set returns the previous one, to be restored. */
trace_span *trace_current(void);
trace_span *trace_current_set(trace_span *s);

#endif
