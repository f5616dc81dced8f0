/* The server object: creation, its metrics, the registry of methods and services, and the
 * state listeners built-in services plug into. */
#include "common/rpc_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/rpc_server_impl.h"
#include "common/mem.h"

/* Gauges read at scrape time, so the hot path updates nothing but atomics. */
static void collect(void *arg) {
  rpc_server *s = arg;
  metrics_set(s->m_in_flight, METRICS_NO_LABELS, atomic_load(&s->in_flight));
  if (s->queue) metrics_set(s->m_queue_depth, METRICS_NO_LABELS, rpc_workqueue_depth(s->queue));
  pthread_mutex_lock(&s->calls_mu);
  double bytes = (double)s->bytes_charged;
  pthread_mutex_unlock(&s->calls_mu);
  metrics_set(s->m_bytes, METRICS_NO_LABELS, bytes);
  metrics_set(s->m_feeds, METRICS_NO_LABELS, atomic_load(&s->n_feeds));
}

static const double queued_buckets[] = {0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5};

rpc_server *rpc_server_create(const rpc_server_config *cfg, metrics_registry *metrics) {
  rpc_server *s = calloc(1, sizeof *s);
  if (!s) abort();
  s->cfg = *cfg;
  s->authz = cfg->authz; /* taken: the server destroys it */
  s->cfg.authz = NULL;
  if (s->cfg.max_in_flight <= 0) s->cfg.max_in_flight = 4 * s->cfg.handler_threads;
  if (s->cfg.max_queued_bytes <= 0) s->cfg.max_queued_bytes = 8 << 20;
  if (s->cfg.max_concurrent_streams <= 0) s->cfg.max_concurrent_streams = 100;
  s->metrics = metrics;
  static const char *const labels[] = {"grpc_type", "grpc_service", "grpc_method", NULL};
  static const char *const labels_code[] = {"grpc_type", "grpc_service", "grpc_method", "grpc_code",
                                            NULL};
  s->m_started = metrics_counter(metrics, "grpc_server_started_total",
                                 "Total number of RPCs started on the server.", labels);
  s->m_handled = metrics_counter(metrics, "grpc_server_handled_total",
                                 "Total number of RPCs completed on the server, regardless of "
                                 "success or failure.",
                                 labels_code);
  s->m_seconds = metrics_histogram(metrics, "grpc_server_handling_seconds",
                                   "Histogram of response latency (seconds) of gRPC that had "
                                   "been application-level handled by the server.",
                                   labels, metrics_default_buckets, metrics_default_buckets_len);
  s->m_msg_received =
      metrics_counter(metrics, "grpc_server_msg_received_total",
                      "Total number of RPC stream messages received on the server.", labels);
  s->m_msg_sent =
      metrics_counter(metrics, "grpc_server_msg_sent_total",
                      "Total number of gRPC stream messages sent by the server.", labels);
  s->m_rejected = metrics_counter(metrics, "menu_rpc_server_rejected_total",
                                  "Calls answered without running their handler, by reason "
                                  "(overload, draining, cancelled, deadline).",
                                  METRICS_LABELS("reason"));
  s->m_queued_seconds = metrics_histogram(
      metrics, "menu_rpc_server_queued_seconds",
      "Time a call waited in the handler queue before a handler thread took it.", METRICS_NO_LABELS,
      queued_buckets, sizeof queued_buckets / sizeof *queued_buckets);
  s->m_queue_depth = metrics_gauge(metrics, "menu_rpc_server_queue_depth",
                                   "Calls waiting for a handler thread.", METRICS_NO_LABELS);
  s->m_in_flight = metrics_gauge(metrics, "menu_rpc_server_in_flight",
                                 "Admitted unary calls not finished yet.", METRICS_NO_LABELS);
  s->m_bytes =
      metrics_gauge(metrics, "menu_rpc_server_request_bytes",
                    "Request bytes held (being read, queued or handled).", METRICS_NO_LABELS);
  s->m_feeds =
      metrics_gauge(metrics, "menu_rpc_server_streams",
                    "Long-lived server streams open (watches); not in menu_rpc_server_in_flight.",
                    METRICS_NO_LABELS);
  metrics_on_collect(metrics, collect, s);
  pthread_mutex_init(&s->calls_mu, NULL);
  pthread_mutex_init(&s->feeds_mu, NULL);
  return s;
}

metrics_registry *rpc_server_metrics(rpc_server *s) { return s->metrics; }
int rpc_server_port(const rpc_server *s) { return s->port; }
void rpc_server_set_tracer(rpc_server *s, tracer *t) { s->tracer = t; }

static void add_service_name(rpc_server *s, const char *service) {
  for (size_t i = 0; i < s->n_services; i++)
    if (!strcmp(s->services[i], service)) return;
  char **grown = realloc(s->services, (s->n_services + 1) * sizeof(char *));
  if (!grown) abort();
  s->services = grown;
  s->services[s->n_services++] = mem_strdup(service);
}

size_t rpc_server_service_count(const rpc_server *s) { return s->n_services; }
const char *rpc_server_service_name(const rpc_server *s, size_t i) { return s->services[i]; }

int rpc_server_add_method(rpc_server *s, const rpc_method_def *def) {
  if (s->started) return -1;
  if (s->n_methods == s->cap_methods) {
    s->cap_methods = s->cap_methods ? s->cap_methods * 2 : 32;
    rpc_method *grown = realloc(s->methods, s->cap_methods * sizeof *s->methods);
    if (!grown) abort();
    s->methods = grown;
  }
  rpc_method *m = &s->methods[s->n_methods++];
  memset(m, 0, sizeof *m);
  size_t n = strlen(def->service) + strlen(def->method) + 3;
  m->path = malloc(n);
  if (!m->path) abort();
  snprintf(m->path, n, "/%s/%s", def->service, def->method);
  m->service = mem_strdup(def->service);
  m->name = mem_strdup(def->method);
  m->def = *def;
  m->def.service = m->service;
  m->def.method = m->name;
  m->kind = def->stream     ? RPC_STREAM
            : def->feed_fn  ? RPC_FEED
            : def->async_fn ? RPC_ASYNC
            : def->fn       ? RPC_SYNC
                            : RPC_UNIMPLEMENTED;
  m->type = m->kind == RPC_FEED     ? "server_stream"
            : m->kind != RPC_STREAM ? "unary"
            : def->client_streaming ? "bidi_stream"
                                    : "server_stream";
  add_service_name(s, def->service);
  return 0;
}

int rpc_server_add_service(rpc_server *s, const ProtobufCServiceDescriptor *desc,
                           const rpc_method_impl *impls, void *svc) {
  for (const rpc_method_impl *i = impls; i && i->name; i++) {
    if (!protobuf_c_service_descriptor_get_method_by_name(desc, i->name)) {
      log_error("handler for a method the service does not declare", "service", desc->name,
                "method", i->name, NULL);
      return -1;
    }
  }
  for (unsigned k = 0; k < desc->n_methods; k++) {
    const ProtobufCMethodDescriptor *md = &desc->methods[k];
    rpc_method_def def = {
        .service = desc->name, .method = md->name, .in = md->input, .out = md->output, .arg = svc};
    for (const rpc_method_impl *i = impls; i && i->name; i++)
      if (!strcmp(i->name, md->name)) {
        def.fn = i->fn;
        def.async_fn = i->async_fn;
        def.feed_fn = i->feed_fn;
        if (i->svc) def.arg = i->svc;
      }
    if (rpc_server_add_method(s, &def)) return -1;
  }
  return 0;
}

void rpc_server_on_state(rpc_server *s, rpc_server_state_fn fn, void *arg) {
  if (s->n_listeners == RPC_MAX_LISTENERS) abort(); /* a programming error */
  s->listeners[s->n_listeners].fn = fn;
  s->listeners[s->n_listeners].arg = arg;
  s->n_listeners++;
}

void rpc_server_on_readiness(rpc_server *s, rpc_server_readiness_fn fn, void *arg) {
  s->readiness_fn = fn;
  s->readiness_arg = arg;
}

void rpc_server_set_service_ready(rpc_server *s, const char *service, bool ready) {
  if (s->readiness_fn) s->readiness_fn(s->readiness_arg, service, ready);
}

void rpc_server_metrics_init_series(rpc_server *s) {
  for (size_t i = 0; i < s->n_methods; i++) {
    const rpc_method *m = &s->methods[i];
    const char *const *labels = METRICS_LABELS(m->type, m->service, m->name);
    metrics_touch(s->m_started, labels);
    metrics_touch(s->m_handled, METRICS_LABELS(m->type, m->service, m->name, "OK"));
    metrics_touch(s->m_seconds, labels);
    metrics_touch(s->m_msg_received, labels);
    metrics_touch(s->m_msg_sent, labels);
  }
  static const char *const reasons[] = {"unauthorized", "draining", "overload",
                                        "stopping",     "deadline", "cancelled"};
  for (size_t i = 0; i < sizeof reasons / sizeof *reasons; i++)
    metrics_touch(s->m_rejected, METRICS_LABELS(reasons[i]));
}

void rpc_server_notify(rpc_server *s, rpc_server_state state) {
  for (int i = 0; i < s->n_listeners; i++) s->listeners[i].fn(s->listeners[i].arg, state);
}

void rpc_server_destroy(rpc_server *s) {
  if (!s) return;
  for (size_t i = 0; i < s->n_methods; i++) {
    free(s->methods[i].path);
    free(s->methods[i].service);
    free(s->methods[i].name);
  }
  free(s->methods);
  for (size_t i = 0; i < s->n_services; i++) free(s->services[i]);
  free(s->services);
  rpc_workqueue_destroy(s->queue);
  authz_destroy(s->authz);
  free(s->cqs);
  free(s->cq_threads);
  pthread_mutex_destroy(&s->calls_mu);
  pthread_mutex_destroy(&s->feeds_mu);
  free(s);
}
