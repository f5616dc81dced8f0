/* Internals of tracing, shared by its files only:
 *   trace_context.c  W3C traceparent / tracestate
 *   trace_config.c   the OTEL_* variables
 *   trace_span.c     the tracer, sampling, spans, the current span of a thread
 *   trace_otlp.c     spans -> an OTLP ExportTraceServiceRequest (protobuf-c)
 *   trace_export.c   the bounded queue and the exporter thread (libcurl)
 *   trace_retry.c    which failed exports are retried, and after how long */
#ifndef MENU_TRACE_INTERNAL_H
#define MENU_TRACE_INTERNAL_H

#include "common/arena.h"
#include "common/trace.h"

#define TRACE_MAX_ATTRS 64  /* per span or event; more are counted as dropped */
#define TRACE_MAX_EVENTS 64 /* per span */

typedef enum { TRACE_ATTR_STR, TRACE_ATTR_INT, TRACE_ATTR_STRS } trace_attr_type;

typedef struct trace_attr {
  struct trace_attr *next;
  const char *key;
  trace_attr_type type;
  const char *str;
  int64_t num;
  const char **strs;
  size_t n_strs;
} trace_attr;

typedef struct trace_attrs {
  trace_attr *head, **tail;
  unsigned count, dropped;
} trace_attrs;

typedef struct trace_event {
  struct trace_event *next;
  const char *name;
  uint64_t time_ns;
  trace_attrs attrs;
} trace_event;

struct trace_span {
  tracer *tracer;
  uint8_t trace_id[16], span_id[8], parent_id[8];
  bool has_parent;
  bool remote_parent; /* the parent came from another process (traceparent) */
  bool sampled;
  trace_span_kind kind;
  uint64_t start_ns, end_ns; /* CLOCK_REALTIME */
  const char *name;
  const char *state; /* tracestate, "" when none */
  trace_attrs attrs;
  trace_event *events, **events_tail, *last_event;
  unsigned n_events, dropped_events;
  bool error;
  const char *status_message;
  arena arena; /* everything above that is a pointer */
};

/* trace_span.c: frees a span (after export, or when it is dropped). */
void trace_span_free(trace_span *s);

/* trace_otlp.c: the spans as one ExportTraceServiceRequest with cfg's resource (service.name,
 * OTEL_RESOURCE_ATTRIBUTES). Caller frees the returned buffer; *len its size. */
uint8_t *trace_otlp_encode(const trace_config *cfg, trace_span *const *spans, size_t n,
                           size_t *len);

/* trace_export.c: the queue and the thread. */
typedef struct trace_exporter trace_exporter;
trace_exporter *trace_exporter_create(const trace_config *cfg, metrics_registry *m);
/* Takes ownership of s; drops (frees and counts) it when the queue is full or the exporter
 * stopped. Never blocks on I/O. */
void trace_exporter_push(trace_exporter *e, trace_span *s);
void trace_exporter_shutdown(trace_exporter *e, int64_t timeout_ms);
void trace_exporter_destroy(trace_exporter *e);

/* trace_retry.c: the retry policy of OTLP/HTTP exports (pure functions). */
typedef enum {
  TRACE_RETRY_NO = 0,     /* done: success, or refused for good (400, 401, 413, 500...) */
  TRACE_RETRY_THROTTLING, /* 429 */
  TRACE_RETRY_SERVER,     /* 502, 503, 504 */
  TRACE_RETRY_CONNECTION, /* the collector could not be reached, or dropped the connection */
} trace_retry_kind;

#define TRACE_RETRY_BASE_MS 1000 /* the first backoff's ceiling, doubled per attempt */
#define TRACE_RETRY_CAP_MS 5000

/* curl_rc: the transfer's CURLcode; status: the HTTP status (0 when no answer came). */
trace_retry_kind trace_retry_classify(int curl_rc, long status);
/* The reason label of otel_export_retries_total: "throttling", "server_error", ... */
const char *trace_retry_kind_name(trace_retry_kind k);
/* The wait before the next attempt when the collector gave no Retry-After: uniform in
 * [c/2, c] where c = min(TRACE_RETRY_CAP_MS, TRACE_RETRY_BASE_MS * 2^(attempt-1)) and attempt
 * is the number of attempts made so far (>= 1); rnd is any uniformly random 32-bit value. */
int64_t trace_retry_backoff_ms(int attempt, uint32_t rnd);

#endif
