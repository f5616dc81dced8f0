/* Tracing: W3C traceparent/tracestate parsing and formatting edge cases, the OTEL_* variables,
 * the samplers, the OTLP encoding of a span read back with protobuf-c, and which failed exports
 * are retried after how long. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rpc_internal.h"
#include "common/trace_internal.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define SID "00f067aa0ba902b7"

static bool parse(const char *tp, const char *ts, trace_context *out) {
  return trace_context_parse(tp, strlen(tp), ts, ts ? strlen(ts) : 0, out);
}

static void test_traceparent_valid(void **state) {
  trace_context c;
  assert_true(parse("00-" TID "-" SID "-01", NULL, &c));
  char hex[33];
  trace_hex(c.trace_id, 16, hex);
  assert_string_equal(hex, TID);
  trace_hex(c.span_id, 8, hex);
  assert_string_equal(hex, SID);
  assert_int_equal(c.flags, TRACE_FLAG_SAMPLED);
  assert_string_equal(c.state, "");
  assert_true(parse("00-" TID "-" SID "-00", NULL, &c));
  assert_int_equal(c.flags, 0);
  /* A later version may add fields after a dash; only the sampled flag is kept. */
  assert_true(parse("01-" TID "-" SID "-03-extra", NULL, &c));
  assert_int_equal(c.flags, TRACE_FLAG_SAMPLED);
  assert_true(parse("cc-" TID "-" SID "-01", NULL, &c));
}

static void test_traceparent_invalid(void **state) {
  trace_context c;
  const char *bad[] = {
      "",
      "00-" TID "-" SID "-0",                           /* short */
      "00-" TID "-" SID "-01-",                         /* 00 has exactly 55 chars */
      "00-" TID "-" SID "-01x",                         /* 00 has exactly 55 chars */
      "01-" TID "-" SID "-01x",                         /* later version: '-' first */
      "ff-" TID "-" SID "-01",                          /* forbidden version */
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-" SID "-01", /* upper case */
      "00-00000000000000000000000000000000-" SID "-01", /* all-zero trace id */
      "00-" TID "-0000000000000000-01",                 /* all-zero span id */
      "00_" TID "-" SID "-01",                          /* separator */
      "00-" TID "_" SID "-01",                          /* separator */
      "00-4bf92f3577b34da6a3ce929d0e0e473g-" SID "-01", /* not hex */
      "00-" TID "-" SID "-0g",                          /* flags not hex */
      "0x-" TID "-" SID "-01",                          /* version not hex */
      " 00-" TID "-" SID "-0",                          /* leading space */
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    if (parse(bad[i], NULL, &c)) fail_msg("accepted %s", bad[i]);
  }
  assert_false(trace_context_parse(NULL, 0, NULL, 0, &c));
}

static void test_tracestate(void **state) {
  trace_context c;
  const char *tp = "00-" TID "-" SID "-01";
  assert_true(parse(tp, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7", &c));
  assert_string_equal(c.state, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
  assert_true(parse(tp, "a=1 , ,tenant@vendor=x", &c)); /* OWS and empty members */
  assert_string_equal(c.state, "a=1 , ,tenant@vendor=x");
  /* Invalid members or too many of them: the tracestate is dropped, the parent kept. */
  const char *bad[] = {"Upper=1", "a", "=1", "a=", "a=b=c", "a@b@c=1", "a=1,\x01=2"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_true(parse(tp, bad[i], &c));
    if (c.state[0]) fail_msg("kept %s", bad[i]);
  }
  char many[400] = "";
  for (int i = 0; i < 33; i++)
    snprintf(many + strlen(many), sizeof many - strlen(many), "k%d=v,", i);
  assert_true(parse(tp, many, &c));
  assert_string_equal(c.state, "");
  char big[TRACE_STATE_MAX + 10];
  memset(big, 'v', sizeof big - 1);
  big[0] = 'k';
  big[1] = '=';
  big[sizeof big - 1] = '\0';
  assert_true(parse(tp, big, &c));
  assert_string_equal(c.state, "");
  /* An invalid traceparent takes its tracestate with it. */
  assert_false(parse("00-" TID "-" SID, "a=1", &c));
  assert_string_equal(c.state, "");
}

static void test_format_round_trip(void **state) {
  trace_context c;
  assert_true(parse("00-" TID "-" SID "-01", NULL, &c));
  char out[TRACE_PARENT_LEN + 1];
  trace_context_format(c.trace_id, c.span_id, 0, out);
  assert_string_equal(out, "00-" TID "-" SID "-00");
  trace_context_format(c.trace_id, c.span_id, TRACE_FLAG_SAMPLED, out);
  assert_string_equal(out, "00-" TID "-" SID "-01");
  trace_context back;
  assert_true(parse(out, NULL, &back));
  assert_memory_equal(back.trace_id, c.trace_id, 16);
}

/* ---- configuration ---------------------------------------------------------------------- */

static const char *const otel_vars[] = {"OTEL_EXPORTER_OTLP_ENDPOINT",
                                        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                                        "OTEL_SDK_DISABLED",
                                        "OTEL_TRACES_SAMPLER",
                                        "OTEL_TRACES_SAMPLER_ARG",
                                        "OTEL_EXPORTER_OTLP_HEADERS",
                                        "OTEL_RESOURCE_ATTRIBUTES",
                                        "OTEL_SERVICE_NAME",
                                        "OTEL_BSP_MAX_QUEUE_SIZE",
                                        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                                        "OTEL_EXPORTER_OTLP_PROTOCOL",
                                        "OTEL_TRACES_EXPORTER",
                                        "OTEL_EXPORTER_OTLP_TIMEOUT",
                                        "OTEL_BSP_EXPORT_TIMEOUT",
                                        "OTEL_PROPAGATORS"};

static int clear_env(void **state) {
  for (size_t i = 0; i < sizeof otel_vars / sizeof *otel_vars; i++) unsetenv(otel_vars[i]);
  return 0;
}

static void test_config_off_by_default(void **state) {
  config c = {0};
  trace_config t;
  trace_config_load(&c, &t, "gateway");
  assert_false(t.enabled);
  assert_int_equal(c.n_errors, 0);
  assert_int_equal(t.sampler, TRACE_SAMPLER_PARENT_ALWAYS_ON);
  assert_int_equal(t.max_queue, 2048);
  assert_int_equal(t.max_batch, 512);
  assert_int_equal(t.schedule_delay_ms, 5000);
  assert_int_equal(t.export_timeout_ms, 10000); /* OTLP's request timeout caps the BSP's 30 s */
  assert_string_equal(t.service_name, "gateway");
  assert_null(tracer_create(&t, NULL));
  setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318", 1);
  setenv("OTEL_SDK_DISABLED", "TRUE", 1);
  trace_config_load(&c, &t, "gateway");
  assert_false(t.enabled);
  setenv("OTEL_SDK_DISABLED", "false", 1);
  setenv("OTEL_TRACES_EXPORTER", "none", 1);
  trace_config_load(&c, &t, "gateway");
  assert_false(t.enabled);
  assert_int_equal(c.n_errors, 0);
}

static void test_config_endpoints(void **state) {
  config c = {0};
  trace_config t;
  setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318", 1);
  trace_config_load(&c, &t, "x");
  assert_true(t.enabled);
  assert_string_equal(t.endpoint, "http://collector:4318/v1/traces");
  setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318/base/", 1);
  trace_config_load(&c, &t, "x");
  assert_string_equal(t.endpoint, "https://collector:4318/base/v1/traces");
  /* The signal's own URL is used as it is. */
  setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://other:9999/custom", 1);
  trace_config_load(&c, &t, "x");
  assert_string_equal(t.endpoint, "http://other:9999/custom");
  assert_int_equal(c.n_errors, 0);
  setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "collector:4318", 1);
  trace_config_load(&c, &t, "x");
  assert_int_equal(c.n_errors, 1);
  assert_false(t.enabled);
}

static void test_config_propagators(void **state) {
  const struct {
    const char *value;
    unsigned bits;
  } cases[] = {
      {NULL, TRACE_PROPAGATE_TRACECONTEXT | TRACE_PROPAGATE_BAGGAGE}, /* the default */
      {"tracecontext", TRACE_PROPAGATE_TRACECONTEXT},
      {" baggage ", TRACE_PROPAGATE_BAGGAGE},
      {"baggage,tracecontext", TRACE_PROPAGATE_TRACECONTEXT | TRACE_PROPAGATE_BAGGAGE},
      {"none", 0},
      {"tracecontext,none", 0},
      /* Unknown ones are skipped (and logged), never a start-up error. */
      {"b3,tracecontext,xray", TRACE_PROPAGATE_TRACECONTEXT},
      {"b3multi", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    config c = {0};
    trace_config t;
    if (cases[i].value)
      setenv("OTEL_PROPAGATORS", cases[i].value, 1);
    else
      unsetenv("OTEL_PROPAGATORS");
    trace_config_load(&c, &t, "x");
    if (t.propagators != cases[i].bits)
      fail_msg("OTEL_PROPAGATORS=%s: %u", cases[i].value ? cases[i].value : "(unset)",
               t.propagators);
    assert_int_equal(c.n_errors, 0);
    trace_config_free(&t);
  }
}

static void test_config_values(void **state) {
  config c = {0};
  trace_config t;
  setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318", 1);
  setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio", 1);
  setenv("OTEL_TRACES_SAMPLER_ARG", "0.25", 1);
  setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%20b%3Dc, x-tenant = 7", 1);
  setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-res,deployment.environment=prod", 1);
  setenv("OTEL_BSP_MAX_QUEUE_SIZE", "10", 1);
  setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "100", 1);
  trace_config_load(&c, &t, "bin");
  assert_int_equal(c.n_errors, 0);
  assert_int_equal(t.sampler, TRACE_SAMPLER_PARENT_RATIO);
  assert_true(t.ratio == 0.25);
  assert_int_equal(t.n_headers, 2);
  assert_string_equal(t.headers[0], "api-key: a b=c");
  assert_string_equal(t.headers[1], "x-tenant: 7");
  assert_string_equal(t.service_name, "from-res");
  assert_int_equal(t.n_resource, 1);
  assert_string_equal(t.resource[0][0], "deployment.environment");
  assert_string_equal(t.resource[0][1], "prod");
  assert_int_equal(t.max_batch, 10); /* never more than the queue holds */
  trace_config_free(&t);
  setenv("OTEL_SERVICE_NAME", "wins", 1);
  trace_config_load(&c, &t, "bin");
  assert_string_equal(t.service_name, "wins");
  trace_config_free(&t);

  const char *bad[][2] = {{"OTEL_TRACES_SAMPLER", "sometimes"},
                          {"OTEL_TRACES_SAMPLER_ARG", "1.5"},
                          {"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"},
                          {"OTEL_EXPORTER_OTLP_HEADERS", "novalue"},
                          {"OTEL_BSP_MAX_QUEUE_SIZE", "0"}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char *old = getenv(bad[i][0]) ? strdup(getenv(bad[i][0])) : NULL;
    setenv(bad[i][0], bad[i][1], 1);
    config e = {0};
    trace_config_load(&e, &t, "bin");
    trace_config_free(&t);
    if (e.n_errors != 1) fail_msg("%s=%s: %d errors", bad[i][0], bad[i][1], e.n_errors);
    if (old)
      setenv(bad[i][0], old, 1);
    else
      unsetenv(bad[i][0]);
    free(old);
  }
}

/* ---- samplers ----------------------------------------------------------------------------- */

static tracer *make_tracer(const char *sampler, const char *arg) {
  setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9", 1);
  setenv("OTEL_TRACES_SAMPLER", sampler, 1);
  if (arg) setenv("OTEL_TRACES_SAMPLER_ARG", arg, 1);
  config c = {0};
  trace_config t;
  trace_config_load(&c, &t, "test");
  assert_int_equal(c.n_errors, 0);
  tracer *tr = tracer_create(&t, NULL);
  trace_config_free(&t);
  assert_non_null(tr);
  return tr;
}

static bool sampled(tracer *t, const char *traceparent) {
  trace_context remote;
  if (traceparent) assert_true(parse(traceparent, NULL, &remote));
  trace_span *s = trace_span_start_remote(t, "x", TRACE_SPAN_SERVER, traceparent ? &remote : NULL);
  assert_non_null(s);
  trace_span *child = trace_span_start_child(s, "y", TRACE_SPAN_CLIENT);
  bool rec = trace_span_recording(s);
  assert_int_equal(trace_span_recording(child), rec); /* children follow their parent */
  char tp[TRACE_PARENT_LEN + 1];
  trace_span_traceparent(child, tp);
  assert_int_equal(tp[54], rec ? '1' : '0'); /* and tell the next process */
  trace_span_free(child);
  trace_span_free(s);
  return rec;
}

static void test_samplers(void **state) {
  const char *on = "00-" TID "-" SID "-01", *off = "00-" TID "-" SID "-00";
  tracer *t = make_tracer("parentbased_always_on", NULL);
  assert_true(sampled(t, NULL));
  assert_true(sampled(t, on));
  assert_false(sampled(t, off));
  tracer_destroy(t);
  t = make_tracer("parentbased_always_off", NULL);
  assert_false(sampled(t, NULL));
  assert_true(sampled(t, on));
  tracer_destroy(t);
  t = make_tracer("always_on", NULL);
  assert_true(sampled(t, off)); /* not parent-based: the caller's flag is ignored */
  tracer_destroy(t);
  t = make_tracer("always_off", NULL);
  assert_false(sampled(t, on));
  tracer_destroy(t);
  t = make_tracer("traceidratio", "0");
  assert_false(sampled(t, NULL));
  tracer_destroy(t);
  t = make_tracer("traceidratio", "1");
  assert_true(sampled(t, NULL));
  tracer_destroy(t);
  /* Half of many new traces, give or take. */
  t = make_tracer("parentbased_traceidratio", "0.5");
  int n = 0;
  for (int i = 0; i < 2000; i++) n += sampled(t, NULL);
  assert_in_range(n, 850, 1150);
  assert_true(sampled(t, on));
  tracer_destroy(t);
  /* The same trace id always gets the same answer (every process agrees). */
  t = make_tracer("traceidratio", "0.5");
  trace_context remote;
  assert_true(parse(off, NULL, &remote));
  bool first = sampled(t, off);
  for (int i = 0; i < 10; i++) assert_int_equal(sampled(t, off), first);
  tracer_destroy(t);
  assert_null(trace_span_start_child(NULL, "x", TRACE_SPAN_CLIENT));
  trace_span_set_str(NULL, "k", "v"); /* tracing off: every call is a no-op */
  trace_span_end(NULL);
}

/* ---- OTLP encoding ------------------------------------------------------------------------ */

static void test_otlp_encode(void **state) {
  tracer *t = make_tracer("always_on", NULL);
  trace_context remote;
  assert_true(parse("00-" TID "-" SID "-01", "v=1", &remote));
  trace_span *s = trace_span_start_remote(t, "menu.v1.X/Y", TRACE_SPAN_SERVER, &remote);
  trace_span_set_str(s, "rpc.system", "grpc");
  trace_span_set_int(s, "rpc.grpc.status_code", 14);
  const char *tables[] = {"a", "b"};
  trace_span_set_strs(s, "aws.dynamodb.table_names", tables, 2);
  trace_span_event(s, "dynamodb.attempt");
  trace_span_event_int(s, "attempt", 1);
  trace_span_set_error(s, "unavailable");
  s->end_ns = s->start_ns + 1000;
  config c = {0};
  trace_config cfg;
  setenv("OTEL_RESOURCE_ATTRIBUTES", "team=menu", 1);
  trace_config_load(&c, &cfg, "svc");
  size_t len;
  uint8_t *buf = trace_otlp_encode(&cfg, &s, 1, &len);
  Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req =
      opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(NULL, len,
                                                                                       buf);
  assert_non_null(req);
  assert_int_equal(req->n_resource_spans, 1);
  Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = req->resource_spans[0];
  assert_string_equal(rs->resource->attributes[0]->key, "service.name");
  assert_string_equal(rs->resource->attributes[0]->value->string_value, "svc");
  assert_string_equal(rs->resource->attributes[3]->key, "team");
  Opentelemetry__Proto__Trace__V1__Span *o = rs->scope_spans[0]->spans[0];
  assert_string_equal(o->name, "menu.v1.X/Y");
  assert_int_equal(o->kind, 2);
  assert_memory_equal(o->trace_id.data, remote.trace_id, 16);
  assert_memory_equal(o->parent_span_id.data, remote.span_id, 8);
  assert_string_equal(o->trace_state, "v=1");
  assert_int_equal(o->flags, 0x301); /* sampled, parent known to be remote */
  assert_int_equal(o->end_time_unix_nano - o->start_time_unix_nano, 1000);
  assert_int_equal(o->n_attributes, 3);
  assert_int_equal(o->attributes[1]->value->int_value, 14);
  assert_int_equal(o->attributes[2]->value->array_value->n_values, 2);
  assert_string_equal(o->attributes[2]->value->array_value->values[1]->string_value, "b");
  assert_int_equal(o->n_events, 1);
  assert_string_equal(o->events[0]->name, "dynamodb.attempt");
  assert_int_equal(o->status->code, 2);
  assert_string_equal(o->status->message, "unavailable");
  opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req,
                                                                                          NULL);
  free(buf);
  trace_config_free(&cfg);
  trace_span_free(s);
  tracer_destroy(t);
}

/* ---- propagation to backend calls ------------------------------------------------------- */

/* md of a call made under a span of a tracer with OTEL_PROPAGATORS=props, the incoming
 * metadata being `in` (n key/value pairs); returns how many entries were written. */
static size_t inject(const char *props, const char *const (*in)[2], size_t n_in,
                     grpc_metadata out[RPC_TRACE_MAX_MD]) {
  setenv("OTEL_PROPAGATORS", props, 1);
  tracer *t = make_tracer("always_on", NULL);
  unsetenv("OTEL_PROPAGATORS");
  trace_context remote;
  assert_true(parse("00-" TID "-" SID "-01", "v=1", &remote));
  trace_span *s = trace_span_start_remote(t, "x", TRACE_SPAN_SERVER, &remote);
  grpc_metadata md_in[8];
  for (size_t i = 0; i < n_in; i++) {
    md_in[i].key = grpc_slice_from_static_string(in[i][0]);
    md_in[i].value = grpc_slice_from_static_string(in[i][1]);
  }
  grpc_metadata_array incoming = {.count = n_in, .capacity = 8, .metadata = md_in};
  size_t n = rpc_trace_inject(s, &incoming, out);
  trace_span_free(s);
  tracer_destroy(t);
  return n;
}

static bool md_is(const grpc_metadata *m, const char *key, const char *value) {
  return grpc_slice_str_cmp(m->key, key) == 0 && grpc_slice_str_cmp(m->value, value) == 0;
}

static void md_free(grpc_metadata *md, size_t n) {
  for (size_t i = 0; i < n; i++) grpc_slice_unref(md[i].value);
}

static void test_propagation(void **state) {
  static const char *const in[][2] = {{"baggage", "user.id=u1,tenant=a%20b;p=1"},
                                      {"x-request-id", "r"},
                                      {"baggage", ""},
                                      {"baggage", "k=v"}};
  grpc_metadata md[RPC_TRACE_MAX_MD];
  size_t n = inject("tracecontext,baggage", in, 4, md);
  assert_int_equal(n, 3);
  assert_int_equal(grpc_slice_str_cmp(md[0].key, "traceparent"), 0);
  assert_memory_equal(GRPC_SLICE_START_PTR(md[0].value), "00-" TID "-", 36); /* same trace */
  assert_true(md_is(&md[1], "tracestate", "v=1"));
  /* The caller's baggage headers as one list, unchanged; an empty one adds nothing. */
  assert_true(md_is(&md[2], "baggage", "user.id=u1,tenant=a%20b;p=1,k=v"));
  md_free(md, n);

  n = inject("baggage", in, 4, md);
  assert_int_equal(n, 1);
  assert_true(md_is(&md[0], "baggage", "user.id=u1,tenant=a%20b;p=1,k=v"));
  md_free(md, n);

  assert_int_equal(inject("tracecontext", in, 4, md), 2);
  md_free(md, 2);
  assert_int_equal(inject("none", in, 4, md), 0);
  assert_int_equal(inject("tracecontext,baggage", in + 1, 1, md), 2); /* no baggage came */
  md_free(md, 2);

  /* Over the W3C limit of 8192 bytes: not sent at all (never cut). */
  static char big[8200];
  memset(big, 'a', sizeof big - 1);
  memcpy(big, "k=", 2);
  const char *const huge[][2] = {{"baggage", big}};
  assert_int_equal(inject("baggage", huge, 1, md), 0);
  assert_int_equal(rpc_trace_inject(NULL, NULL, md), 0); /* tracing off */
}

/* ---- export retries ----------------------------------------------------------------------- */

static void test_retry_classify(void **state) {
  /* The OTLP specification's retryable answers, and nothing else. */
  assert_int_equal(trace_retry_classify(CURLE_OK, 429), TRACE_RETRY_THROTTLING);
  assert_int_equal(trace_retry_classify(CURLE_OK, 502), TRACE_RETRY_SERVER);
  assert_int_equal(trace_retry_classify(CURLE_OK, 503), TRACE_RETRY_SERVER);
  assert_int_equal(trace_retry_classify(CURLE_OK, 504), TRACE_RETRY_SERVER);
  const long final[] = {200, 204, 400, 401, 403, 404, 413, 415, 500, 501};
  for (size_t i = 0; i < sizeof final / sizeof *final; i++)
    if (trace_retry_classify(CURLE_OK, final[i]) != TRACE_RETRY_NO)
      fail_msg("HTTP %ld retried", final[i]);
  assert_int_equal(trace_retry_classify(CURLE_COULDNT_CONNECT, 0), TRACE_RETRY_CONNECTION);
  assert_int_equal(trace_retry_classify(CURLE_GOT_NOTHING, 0), TRACE_RETRY_CONNECTION);
  assert_int_equal(trace_retry_classify(CURLE_OPERATION_TIMEDOUT, 0), TRACE_RETRY_CONNECTION);
  /* The shutdown's abort and a bad certificate are not retried. */
  assert_int_equal(trace_retry_classify(CURLE_ABORTED_BY_CALLBACK, 0), TRACE_RETRY_NO);
  assert_int_equal(trace_retry_classify(CURLE_PEER_FAILED_VERIFICATION, 0), TRACE_RETRY_NO);
  assert_string_equal(trace_retry_kind_name(TRACE_RETRY_THROTTLING), "throttling");
  assert_string_equal(trace_retry_kind_name(TRACE_RETRY_CONNECTION), "connection_error");
}

static void test_retry_backoff_doubles_capped_with_jitter(void **state) {
  /* rnd 0 is the low end of the jitter (half the ceiling), UINT32_MAX the high end. */
  assert_int_equal(trace_retry_backoff_ms(1, 0), TRACE_RETRY_BASE_MS / 2);
  assert_int_equal(trace_retry_backoff_ms(1, UINT32_MAX), TRACE_RETRY_BASE_MS);
  assert_int_equal(trace_retry_backoff_ms(2, 0), TRACE_RETRY_BASE_MS);
  assert_int_equal(trace_retry_backoff_ms(2, UINT32_MAX), 2 * TRACE_RETRY_BASE_MS);
  assert_int_equal(trace_retry_backoff_ms(3, UINT32_MAX), 4 * TRACE_RETRY_BASE_MS);
  assert_int_equal(trace_retry_backoff_ms(30, UINT32_MAX), TRACE_RETRY_CAP_MS);
  assert_int_equal(trace_retry_backoff_ms(1000, 0), TRACE_RETRY_CAP_MS / 2);
  int64_t mid = trace_retry_backoff_ms(1, UINT32_MAX / 2);
  assert_true(mid > TRACE_RETRY_BASE_MS / 2 && mid < TRACE_RETRY_BASE_MS);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_traceparent_valid),
      cmocka_unit_test(test_traceparent_invalid),
      cmocka_unit_test(test_tracestate),
      cmocka_unit_test(test_format_round_trip),
      cmocka_unit_test_setup(test_config_off_by_default, clear_env),
      cmocka_unit_test_setup(test_config_endpoints, clear_env),
      cmocka_unit_test_setup(test_config_propagators, clear_env),
      cmocka_unit_test_setup(test_config_values, clear_env),
      cmocka_unit_test_setup(test_samplers, clear_env),
      cmocka_unit_test_setup(test_otlp_encode, clear_env),
      cmocka_unit_test_setup(test_propagation, clear_env),
      cmocka_unit_test(test_retry_classify),
      cmocka_unit_test(test_retry_backoff_doubles_capped_with_jitter),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
