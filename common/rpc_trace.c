/* The spans of gRPC calls, in OpenTelemetry's RPC semantic conventions: the SERVER span of a
 * call that arrived (its parent from the caller's traceparent) and the CLIENT span of an
 * outgoing call (a child of the server call it is made for), plus what OTEL_PROPAGATORS sends
 * with it (trace context, the caller's baggage). Span status follows the conventions: a client
 * span is ERROR for any code but OK; a server span only for the codes that mean the server
 * failed. */
#include <grpc/support/alloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rpc_internal.h"
#include "common/status.h"

/* "ipv4:127.0.0.1:5000", "ipv6:[::1]:5000", "dns:///host:5000", "host:5000": the host (without
 * brackets) into host, the port into *port (0 when none). */
static void host_port(const char *s, char *host, size_t n, int *port) {
  *port = 0;
  host[0] = '\0';
  if (!s) return;
  const char *p = strstr(s, ":///");
  if (p)
    s = p + 4;
  else if (!strncmp(s, "ipv4:", 5) || !strncmp(s, "ipv6:", 5))
    s += 5;
  const char *end = s + strcspn(s, ",/"); /* the first address of a list */
  const char *colon = NULL;
  if (*s == '[') {
    const char *rb = memchr(s, ']', (size_t)(end - s));
    if (!rb) return;
    snprintf(host, n, "%.*s", (int)(rb - s - 1), s + 1);
    if (rb[1] == ':') colon = rb + 1;
  } else {
    for (const char *q = s; q < end; q++)
      if (*q == ':') colon = q;
    snprintf(host, n, "%.*s", (int)((colon ? colon : end) - s), s);
  }
  if (colon) *port = atoi(colon + 1);
}

static void set_address(trace_span *span, const char *addr_key, const char *port_key,
                        const char *addr) {
  char host[256];
  int port;
  host_port(addr, host, sizeof host, &port);
  if (host[0]) trace_span_set_str(span, addr_key, host);
  if (port) trace_span_set_int(span, port_key, port);
}

/* First value of `key` in md as a pointer and length; NULL when absent. */
static const char *md_get(const grpc_metadata_array *md, const char *key, size_t *n) {
  size_t klen = strlen(key);
  for (size_t i = 0; i < md->count; i++) {
    const grpc_slice *k = &md->metadata[i].key;
    if (GRPC_SLICE_LENGTH(*k) == klen && !memcmp(GRPC_SLICE_START_PTR(*k), key, klen)) {
      *n = GRPC_SLICE_LENGTH(md->metadata[i].value);
      return (const char *)GRPC_SLICE_START_PTR(md->metadata[i].value);
    }
  }
  return NULL;
}

static void set_rpc(trace_span *span, const char *service, const char *method) {
  trace_span_set_str(span, "rpc.system", "grpc");
  trace_span_set_str(span, "rpc.service", service);
  trace_span_set_str(span, "rpc.method", method);
}

trace_span *rpc_trace_server_start(tracer *t, const char *path, const char *service,
                                   const char *method, const grpc_metadata_array *md,
                                   const char *listen_addr, int port, const char *peer) {
  size_t n = 0, sn = 0;
  const char *tp =
      tracer_propagators(t) & TRACE_PROPAGATE_TRACECONTEXT ? md_get(md, "traceparent", &n) : NULL;
  const char *ts = tp ? md_get(md, "tracestate", &sn) : NULL;
  trace_context remote;
  bool has_remote = tp && trace_context_parse(tp, n, ts, sn, &remote);
  /* The span name of the conventions: "menu.v1.CategoryService/ListCategories". */
  trace_span *span =
      trace_span_start_remote(t, path + 1, TRACE_SPAN_SERVER, has_remote ? &remote : NULL);
  if (!trace_span_recording(span)) return span;
  set_rpc(span, service, method);
  set_address(span, "server.address", "server.port", listen_addr);
  if (port) trace_span_set_int(span, "server.port", port);
  set_address(span, "network.peer.address", "network.peer.port", peer);
  return span;
}

static bool server_error(grpc_status_code code) {
  switch (code) {
    case GRPC_STATUS_UNKNOWN:
    case GRPC_STATUS_DEADLINE_EXCEEDED:
    case GRPC_STATUS_UNIMPLEMENTED:
    case GRPC_STATUS_INTERNAL:
    case GRPC_STATUS_UNAVAILABLE:
    case GRPC_STATUS_DATA_LOSS:
      return true;
    default:
      return false;
  }
}

void rpc_trace_end(trace_span *span, bool server, grpc_status_code code, const char *message) {
  if (!span) return;
  trace_span_set_int(span, "rpc.grpc.status_code", code);
  if (server ? server_error(code) : code != GRPC_STATUS_OK)
    trace_span_set_error(span, message && *message ? message : menu_status_code_name(code));
  trace_span_end(span);
}

void rpc_trace_message(trace_span *span, bool sent, uint64_t id, int64_t bytes) {
  if (!trace_span_recording(span)) return;
  trace_span_event(span, "message");
  trace_span_event_str(span, "message.type", sent ? "SENT" : "RECEIVED");
  trace_span_event_int(span, "message.id", (int64_t)id);
  if (bytes >= 0) trace_span_event_int(span, "message.uncompressed_size", bytes);
}

trace_span *rpc_trace_client_start(trace_span *parent, const char *path, const char *service,
                                   const char *method, const char *target) {
  trace_span *span = trace_span_start_child(parent, path + 1, TRACE_SPAN_CLIENT);
  if (!trace_span_recording(span)) return span;
  set_rpc(span, service, method);
  set_address(span, "server.address", "server.port", target);
  return span;
}

/* The W3C Baggage limit (https://www.w3.org/TR/baggage/#limits): a larger one is not sent. */
#define BAGGAGE_MAX 8192

/* A non-empty `baggage` entry of md. */
static bool is_baggage(const grpc_metadata *m) {
  return GRPC_SLICE_LENGTH(m->value) > 0 && grpc_slice_str_cmp(m->key, "baggage") == 0;
}

/* Every non-empty `baggage` entry of md joined by commas, as one header (W3C: several headers
 * are one list); false when there is none or it is over the limit. */
static bool baggage_of(const grpc_metadata_array *md, grpc_slice *out) {
  size_t total = 0, parts = 0;
  for (size_t i = 0; i < md->count; i++)
    if (is_baggage(&md->metadata[i]))
      total += GRPC_SLICE_LENGTH(md->metadata[i].value) + (parts++ ? 1 : 0);
  if (!parts || total > BAGGAGE_MAX) return false;
  *out = grpc_slice_malloc(total);
  char *w = (char *)GRPC_SLICE_START_PTR(*out);
  for (size_t i = 0, written = 0; i < md->count; i++) {
    if (!is_baggage(&md->metadata[i])) continue;
    if (written++) *w++ = ',';
    size_t len = GRPC_SLICE_LENGTH(md->metadata[i].value);
    memcpy(w, GRPC_SLICE_START_PTR(md->metadata[i].value), len);
    w += len;
  }
  return true;
}

size_t rpc_trace_inject(const trace_span *span, const grpc_metadata_array *incoming,
                        grpc_metadata *md) {
  unsigned propagators = trace_span_propagators(span);
  size_t n = 0;
  if (propagators & TRACE_PROPAGATE_TRACECONTEXT) {
    char tp[TRACE_PARENT_LEN + 1];
    const char *state = trace_span_traceparent(span, tp);
    md[n].key = grpc_slice_from_static_string("traceparent");
    md[n++].value = grpc_slice_from_copied_buffer(tp, TRACE_PARENT_LEN);
    if (*state) {
      md[n].key = grpc_slice_from_static_string("tracestate");
      md[n++].value = grpc_slice_from_copied_string(state);
    }
  }
  if (propagators & TRACE_PROPAGATE_BAGGAGE && incoming && baggage_of(incoming, &md[n].value))
    md[n++].key = grpc_slice_from_static_string("baggage");
  return n;
}
