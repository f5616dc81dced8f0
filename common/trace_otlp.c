/* Spans as an OTLP ExportTraceServiceRequest (opentelemetry-proto, vendored, compiled by
 * protoc-c): one ResourceSpans (service.name, telemetry.sdk.*, OTEL_RESOURCE_ATTRIBUTES) with
 * one ScopeSpans. The message tree lives in an arena that is dropped once it is packed. */
#include <stdlib.h>
#include <string.h>

#include "common/trace_internal.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Common__V1__KeyValue otlp_kv;
typedef Opentelemetry__Proto__Common__V1__AnyValue otlp_any;
typedef Opentelemetry__Proto__Trace__V1__Span otlp_span;
typedef Opentelemetry__Proto__Trace__V1__Span__Event otlp_event;

#define SCOPE_NAME "menu/common/trace"
/* Span.flags: bits 8 and 9 say whether the parent is known to be remote. */
#define SPAN_FLAGS_HAS_IS_REMOTE 0x100u
#define SPAN_FLAGS_IS_REMOTE 0x200u

static otlp_any *any_str(arena *a, const char *s) {
  otlp_any *v = arena_alloc(a, sizeof *v);
  opentelemetry__proto__common__v1__any_value__init(v);
  v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
  v->string_value = (char *)s;
  return v;
}

static otlp_kv *kv_new(arena *a, const char *key, otlp_any *value) {
  otlp_kv *kv = arena_alloc(a, sizeof *kv);
  opentelemetry__proto__common__v1__key_value__init(kv);
  kv->key = (char *)key;
  kv->value = value;
  return kv;
}

static otlp_kv *kv_of(arena *a, const trace_attr *at) {
  otlp_any *v;
  switch (at->type) {
    case TRACE_ATTR_STR:
      v = any_str(a, at->str);
      break;
    case TRACE_ATTR_INT:
      v = arena_alloc(a, sizeof *v);
      opentelemetry__proto__common__v1__any_value__init(v);
      v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
      v->int_value = at->num;
      break;
    case TRACE_ATTR_STRS:
    default: {
      Opentelemetry__Proto__Common__V1__ArrayValue *arr = arena_alloc(a, sizeof *arr);
      opentelemetry__proto__common__v1__array_value__init(arr);
      arr->n_values = at->n_strs;
      arr->values = arena_alloc(a, (at->n_strs ? at->n_strs : 1) * sizeof *arr->values);
      for (size_t i = 0; i < at->n_strs; i++) arr->values[i] = any_str(a, at->strs[i]);
      v = arena_alloc(a, sizeof *v);
      opentelemetry__proto__common__v1__any_value__init(v);
      v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
      v->array_value = arr;
      break;
    }
  }
  return kv_new(a, at->key, v);
}

static otlp_kv **kvs_of(arena *a, const trace_attrs *attrs, size_t *n) {
  otlp_kv **out = arena_alloc(a, (attrs->count ? attrs->count : 1) * sizeof *out);
  size_t i = 0;
  for (const trace_attr *at = attrs->head; at; at = at->next) out[i++] = kv_of(a, at);
  *n = i;
  return out;
}

static otlp_span *span_of(arena *a, const trace_span *s) {
  otlp_span *o = arena_alloc(a, sizeof *o);
  opentelemetry__proto__trace__v1__span__init(o);
  o->trace_id = (ProtobufCBinaryData){16, (uint8_t *)s->trace_id};
  o->span_id = (ProtobufCBinaryData){8, (uint8_t *)s->span_id};
  if (s->has_parent) o->parent_span_id = (ProtobufCBinaryData){8, (uint8_t *)s->parent_id};
  o->trace_state = (char *)s->state;
  o->flags =
      TRACE_FLAG_SAMPLED | SPAN_FLAGS_HAS_IS_REMOTE | (s->remote_parent ? SPAN_FLAGS_IS_REMOTE : 0);
  o->name = (char *)s->name;
  o->kind = (Opentelemetry__Proto__Trace__V1__Span__SpanKind)s->kind;
  o->start_time_unix_nano = s->start_ns;
  o->end_time_unix_nano = s->end_ns;
  o->attributes = kvs_of(a, &s->attrs, &o->n_attributes);
  o->dropped_attributes_count = s->attrs.dropped;
  o->events = arena_alloc(a, (s->n_events ? s->n_events : 1) * sizeof *o->events);
  for (const trace_event *e = s->events; e; e = e->next) {
    otlp_event *oe = arena_alloc(a, sizeof *oe);
    opentelemetry__proto__trace__v1__span__event__init(oe);
    oe->time_unix_nano = e->time_ns;
    oe->name = (char *)e->name;
    oe->attributes = kvs_of(a, &e->attrs, &oe->n_attributes);
    oe->dropped_attributes_count = e->attrs.dropped;
    o->events[o->n_events++] = oe;
  }
  o->dropped_events_count = s->dropped_events;
  if (s->error) {
    Opentelemetry__Proto__Trace__V1__Status *st = arena_alloc(a, sizeof *st);
    opentelemetry__proto__trace__v1__status__init(st);
    st->code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
    if (s->status_message) st->message = (char *)s->status_message;
    o->status = st;
  }
  return o;
}

uint8_t *trace_otlp_encode(const trace_config *cfg, trace_span *const *spans, size_t n,
                           size_t *len) {
  arena a;
  arena_init(&a);
  Opentelemetry__Proto__Resource__V1__Resource res =
      OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
  size_t n_res = 3 + (size_t)cfg->n_resource;
  otlp_kv **rkv = arena_alloc(&a, n_res * sizeof *rkv);
  rkv[0] = kv_new(&a, "service.name", any_str(&a, cfg->service_name));
  rkv[1] = kv_new(&a, "telemetry.sdk.language", any_str(&a, "c"));
  rkv[2] = kv_new(&a, "telemetry.sdk.name", any_str(&a, SCOPE_NAME));
  for (int i = 0; i < cfg->n_resource; i++)
    rkv[3 + i] = kv_new(&a, cfg->resource[i][0], any_str(&a, cfg->resource[i][1]));
  res.n_attributes = n_res;
  res.attributes = rkv;

  Opentelemetry__Proto__Common__V1__InstrumentationScope scope =
      OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
  scope.name = SCOPE_NAME;
  Opentelemetry__Proto__Trace__V1__ScopeSpans ss =
      OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
  ss.scope = &scope;
  ss.n_spans = n;
  ss.spans = arena_alloc(&a, (n ? n : 1) * sizeof *ss.spans);
  for (size_t i = 0; i < n; i++) ss.spans[i] = span_of(&a, spans[i]);
  Opentelemetry__Proto__Trace__V1__ScopeSpans *ssp = &ss;

  Opentelemetry__Proto__Trace__V1__ResourceSpans rs =
      OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
  rs.resource = &res;
  rs.n_scope_spans = 1;
  rs.scope_spans = &ssp;
  Opentelemetry__Proto__Trace__V1__ResourceSpans *rsp = &rs;

  Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req =
      OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
  req.n_resource_spans = 1;
  req.resource_spans = &rsp;

  *len = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(
      &req);
  uint8_t *buf = malloc(*len ? *len : 1);
  if (buf)
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&req, buf);
  arena_free(&a);
  return buf;
}
