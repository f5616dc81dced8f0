/* The gRPC server runtime: registered methods with many outstanding requests per completion
 * queue, CQ threads that only dispatch, a handler pool that may block, typed unary handlers
 * from protobuf-c descriptors, per-method metrics and logs, and graceful shutdown. */
#include "common/rpc_server.h"

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <openssl/rand.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/rpc_internal.h"
#include "common/status_details.h"
#include "common/strict_strings.h"

typedef struct rpc_method {
  char *path;       /* "/menu.v1.CategoryService/ListCategories" */
  char *service;    /* "menu.v1.CategoryService" (metrics label grpc_service) */
  char *name;       /* "ListCategories" (metrics label grpc_method) */
  const char *type; /* grpc_type label: unary, server_stream, bidi_stream */
  rpc_kind kind;
  const ProtobufCMessageDescriptor *in, *out;
  rpc_unary_fn fn; /* NULL: UNIMPLEMENTED */
  rpc_stream_start_fn start;
  void *arg;
  bool payload;     /* GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER */
  grpc_server *srv; /* the server it is registered on (main or health-only) */
  void *handle;     /* from grpc_server_register_method */
} rpc_method;

/* One outstanding grpc_server_request_registered_call. */
typedef struct rpc_request {
  rpc_tag tag;
  rpc_server *server;
  rpc_method *method;
  int cq;
  grpc_call *call;
  gpr_timespec deadline;
  grpc_metadata_array md;
  grpc_byte_buffer *payload;
} rpc_request;

struct log_field {
  struct log_field *next;
  const char *key, *str;
  int64_t num;
};

struct rpc_ctx {
  rpc_tag done_tag;        /* the reply batch */
  rpc_tag close_tag;       /* RECV_CLOSE_ON_SERVER, posted on arrival so that a client's cancel
                            * reaches the call (and its children) while the handler still runs */
  atomic_int pending_tags; /* the ctx is finished when both tags have fired */
  bool reply_ok;
  rpc_server *server;
  rpc_method *method;
  grpc_call *call;
  grpc_metadata_array md;
  grpc_byte_buffer *payload;
  gpr_timespec deadline; /* effective, monotonic */
  gpr_timespec started;  /* monotonic */
  arena arena;
  const char *request_id;
  char *peer;
  menu_status status;
  int cancelled;
  grpc_byte_buffer *reply;
  grpc_metadata initial_md[1];
  grpc_slice status_details;
  grpc_metadata trailer[1]; /* grpc-status-details-bin of a non-OK status */
  struct log_field *fields; /* added by the handler, logged when the call ends */
  struct rpc_ctx *next_job;
};

struct rpc_server {
  rpc_server_config cfg;
  metrics_registry *metrics;
  metrics_family *m_started, *m_handled, *m_seconds;
  grpc_server *server;
  grpc_server *health_server; /* HEALTH_ADDR: plaintext, only grpc.health.v1.Health */
  grpc_completion_queue **cqs;
  pthread_t *cq_threads;
  rpc_method *methods;
  size_t n_methods, cap_methods;
  char **services;
  size_t n_services;
  health *health;
  reflection *reflection;
  metrics_http *http;
  bool started;
  int port;
  atomic_bool shutting_down;
  /* handler pool */
  pthread_t *workers;
  pthread_mutex_t mu;
  pthread_cond_t cond;
  rpc_ctx *job_head, *job_tail;
  bool closing;
};

/* ---- small helpers ------------------------------------------------------------------------ */

static gpr_timespec now_mono(void) { return gpr_now(GPR_CLOCK_MONOTONIC); }

static double seconds_between(gpr_timespec a, gpr_timespec b) {
  gpr_timespec d = gpr_time_sub(b, a);
  return (double)d.tv_sec + d.tv_nsec / 1e9;
}

grpc_slice rpc_slice_from_message(const ProtobufCMessage *m) {
  size_t n = protobuf_c_message_get_packed_size(m);
  grpc_slice s = grpc_slice_malloc(n);
  protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
  return s;
}

size_t rpc_read_byte_buffer(grpc_byte_buffer *bb, arena *a, unsigned char **out) {
  grpc_byte_buffer_reader r;
  if (!grpc_byte_buffer_reader_init(&r, bb)) {
    *out = NULL;
    return 0;
  }
  grpc_slice s = grpc_byte_buffer_reader_readall(&r);
  grpc_byte_buffer_reader_destroy(&r);
  size_t n = GRPC_SLICE_LENGTH(s);
  *out = arena_alloc(a, n ? n : 1);
  memcpy(*out, GRPC_SLICE_START_PTR(s), n);
  grpc_slice_unref(s);
  return n;
}

static char *xstrdup(const char *s) {
  char *d = strdup(s);
  if (!d) abort();
  return d;
}

/* ---- configuration ------------------------------------------------------------------------ */

void rpc_server_config_load(config *c, rpc_server_config *out, const char *service_name,
                            const char *default_listen, const char *default_metrics) {
  memset(out, 0, sizeof *out);
  out->service_name = service_name;
  out->listen_addr = config_str(c, "GRPC_ADDR", default_listen);
  out->metrics_addr = config_str(c, "METRICS_ADDR", default_metrics);
  out->cq_threads = (int)config_int(c, "GRPC_CQ_THREADS", 2, 1, 64);
  out->handler_threads = (int)config_int(c, "GRPC_HANDLER_THREADS", 16, 1, 1024);
  out->requests_per_method = (int)config_int(c, "GRPC_REQUESTS_PER_METHOD", 16, 1, 10000);
  out->default_deadline_ms = config_int(c, "RPC_DEFAULT_DEADLINE_MS", 10000, 1, 3600000);
  out->shutdown_grace_ms = config_int(c, "SHUTDOWN_GRACE_MS", 10000, 0, 3600000);
  out->max_connection_age_ms = config_int(c, "GRPC_MAX_CONNECTION_AGE_MS", 0, 0, INT32_MAX);
  out->max_recv_bytes = (int)config_int(c, "GRPC_MAX_RECV_BYTES", 4 << 20, 1024, 64 << 20);
  out->tls_cert_file = config_str(c, "TLS_CERT_FILE", NULL);
  out->tls_key_file = config_str(c, "TLS_KEY_FILE", NULL);
  out->tls_client_ca_file = config_str(c, "TLS_CLIENT_CA_FILE", NULL);
  out->health_addr = config_str(c, "HEALTH_ADDR", NULL);
  if (!out->tls_cert_file != !out->tls_key_file)
    config_error(c, "TLS_CERT_FILE and TLS_KEY_FILE: set both or neither");
  if (out->tls_client_ca_file && !out->tls_cert_file)
    config_error(c, "TLS_CLIENT_CA_FILE: mutual TLS needs TLS_CERT_FILE and TLS_KEY_FILE too");
}

/* ---- creation and registration ------------------------------------------------------------ */

rpc_server *rpc_server_create(const rpc_server_config *cfg, metrics_registry *metrics) {
  rpc_server *s = calloc(1, sizeof *s);
  s->cfg = *cfg;
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
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cond, NULL);
  s->health = health_create(s);
  return s;
}

metrics_registry *rpc_server_metrics(rpc_server *s) { return s->metrics; }
int rpc_server_port(const rpc_server *s) { return s->port; }

static void add_service_name(rpc_server *s, const char *service) {
  for (size_t i = 0; i < s->n_services; i++)
    if (!strcmp(s->services[i], service)) return;
  s->services = realloc(s->services, (s->n_services + 1) * sizeof(char *));
  s->services[s->n_services++] = xstrdup(service);
}

size_t rpc_server_service_count(const rpc_server *s) { return s->n_services; }
const char *rpc_server_service_name(const rpc_server *s, size_t i) { return s->services[i]; }

int rpc_server_add_raw_method(rpc_server *s, const char *service, const char *method, rpc_kind kind,
                              const ProtobufCMessageDescriptor *in,
                              const ProtobufCMessageDescriptor *out, rpc_unary_fn fn,
                              rpc_stream_start_fn start, void *arg, bool payload) {
  if (s->started) return -1;
  if (s->n_methods == s->cap_methods) {
    s->cap_methods = s->cap_methods ? s->cap_methods * 2 : 32;
    s->methods = realloc(s->methods, s->cap_methods * sizeof *s->methods);
  }
  rpc_method *m = &s->methods[s->n_methods++];
  memset(m, 0, sizeof *m);
  size_t n = strlen(service) + strlen(method) + 3;
  m->path = malloc(n);
  snprintf(m->path, n, "/%s/%s", service, method);
  m->service = xstrdup(service);
  m->name = xstrdup(method);
  m->kind = kind;
  m->type = kind == RPC_KIND_STREAM ? (payload ? "server_stream" : "bidi_stream") : "unary";
  m->in = in;
  m->out = out;
  m->fn = fn;
  m->start = start;
  m->arg = arg;
  m->payload = payload;
  add_service_name(s, service);
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
    rpc_unary_fn fn = NULL;
    for (const rpc_method_impl *i = impls; i && i->name; i++)
      if (!strcmp(i->name, md->name)) fn = i->fn;
    rpc_server_add_raw_method(s, desc->name, md->name, RPC_KIND_UNARY, md->input, md->output, fn,
                              NULL, svc, true);
  }
  return 0;
}

/* ---- requests ------------------------------------------------------------------------------ */

static void on_request(rpc_tag *tag, bool ok);

static void request_post(rpc_server *s, rpc_method *m, int cq) {
  rpc_request *r = calloc(1, sizeof *r);
  r->tag.fn = on_request;
  r->server = s;
  r->method = m;
  r->cq = cq;
  grpc_metadata_array_init(&r->md);
  grpc_call_error err = grpc_server_request_registered_call(
      m->srv, m->handle, &r->call, &r->deadline, &r->md, m->payload ? &r->payload : NULL,
      s->cqs[cq], s->cqs[cq], &r->tag);
  if (err != GRPC_CALL_OK) {
    /* Only during shutdown: the server no longer takes requests. */
    grpc_metadata_array_destroy(&r->md);
    free(r);
  }
}

static const char *metadata_value(grpc_metadata_array *md, const char *key, arena *a) {
  for (size_t i = 0; i < md->count; i++)
    if (!grpc_slice_str_cmp(md->metadata[i].key, key))
      return arena_strndup(a, (const char *)GRPC_SLICE_START_PTR(md->metadata[i].value),
                           GRPC_SLICE_LENGTH(md->metadata[i].value));
  return NULL;
}

/* Request ids are echoed into logs and other services' metadata: keep them printable. */
static bool request_id_ok(const char *id) {
  size_t n = 0;
  for (; id[n]; n++)
    if (id[n] < 0x21 || id[n] > 0x7e || n >= 128) return false;
  return n > 0;
}

static void handle_unary(rpc_ctx *ctx);
static void enqueue(rpc_server *s, rpc_ctx *ctx);
static void on_close(rpc_tag *tag, bool ok);

static void on_request(rpc_tag *tag, bool ok) {
  rpc_request *r = (rpc_request *)tag;
  rpc_server *s = r->server;
  rpc_method *m = r->method;
  if (!ok) { /* shutting down: this request will never be matched */
    grpc_metadata_array_destroy(&r->md);
    free(r);
    return;
  }
  if (!atomic_load(&s->shutting_down)) request_post(s, m, r->cq);

  metrics_add(s->m_started, METRICS_LABELS(m->type, m->service, m->name), 1);
  if (m->kind == RPC_KIND_STREAM) {
    grpc_metadata_array_destroy(&r->md);
    m->start(s, r->call, r->payload, m->arg);
    free(r);
    return;
  }

  rpc_ctx *ctx = calloc(1, sizeof *ctx);
  ctx->server = s;
  ctx->method = m;
  ctx->call = r->call;
  ctx->md = r->md; /* moved */
  ctx->payload = r->payload;
  ctx->started = now_mono();
  arena_init(&ctx->arena);
  gpr_timespec deadline = gpr_convert_clock_type(r->deadline, GPR_CLOCK_MONOTONIC);
  gpr_timespec cap =
      gpr_time_add(ctx->started, gpr_time_from_millis(s->cfg.default_deadline_ms, GPR_TIMESPAN));
  ctx->deadline = gpr_time_cmp(deadline, cap) < 0 ? deadline : cap;
  const char *rid = metadata_value(&ctx->md, "x-request-id", &ctx->arena);
  if (!rid || !request_id_ok(rid)) {
    unsigned char b[16];
    RAND_bytes(b, sizeof b);
    rid = arena_sprintf(&ctx->arena,
                        "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                        b[0], b[1], b[2], b[3], b[4], b[5], (b[6] & 0x0f) | 0x40, b[7],
                        (b[8] & 0x3f) | 0x80, b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  }
  ctx->request_id = rid;
  free(r);
  ctx->pending_tags = 2;
  ctx->close_tag.fn = on_close;
  grpc_op close_op;
  memset(&close_op, 0, sizeof close_op);
  close_op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  close_op.data.recv_close_on_server.cancelled = &ctx->cancelled;
  if (grpc_call_start_batch(ctx->call, &close_op, 1, &ctx->close_tag, NULL) != GRPC_CALL_OK)
    ctx->pending_tags = 1; /* cannot happen on a fresh call; finish without it */
  if (m->kind == RPC_KIND_UNARY_INLINE || !m->fn)
    handle_unary(ctx); /* cheap: built-in or UNIMPLEMENTED */
  else
    enqueue(s, ctx);
}

/* ---- unknown methods ---------------------------------------------------------------------- */

/* A call to a method nobody registered would otherwise wait for a generic request_call until its
 * deadline; answer UNIMPLEMENTED at once instead. */
typedef struct {
  rpc_tag tag;
  rpc_server *server;
  grpc_server *srv;
  int cq;
  bool replied;
  grpc_call *call;
  grpc_call_details details;
  grpc_metadata_array md;
  grpc_slice message;
  grpc_metadata trailer[1];
  int cancelled;
} rpc_unknown;

static void on_unknown(rpc_tag *tag, bool ok);

static void unknown_post(rpc_server *s, grpc_server *srv, int cq) {
  rpc_unknown *u = calloc(1, sizeof *u);
  u->tag.fn = on_unknown;
  u->server = s;
  u->srv = srv;
  u->cq = cq;
  grpc_call_details_init(&u->details);
  grpc_metadata_array_init(&u->md);
  if (grpc_server_request_call(srv, &u->call, &u->details, &u->md, s->cqs[cq], s->cqs[cq],
                               &u->tag) != GRPC_CALL_OK) {
    grpc_call_details_destroy(&u->details);
    grpc_metadata_array_destroy(&u->md);
    free(u);
  }
}

static void on_unknown(rpc_tag *tag, bool ok) {
  rpc_unknown *u = (rpc_unknown *)tag;
  if (ok && !u->replied) {
    rpc_server *s = u->server;
    if (!atomic_load(&s->shutting_down)) unknown_post(s, u->srv, u->cq);
    char *method = grpc_slice_to_c_string(u->details.method);
    log_line *l = log_begin(LOG_WARN, "rpc");
    log_str(l, "method", method);
    log_str(l, "status", "UNIMPLEMENTED");
    log_end(l);
    metrics_add(s->m_handled, METRICS_LABELS("unary", "unknown", "unknown", "UNIMPLEMENTED"), 1);
    char msg[300];
    snprintf(msg, sizeof msg, "unknown method %s", method);
    gpr_free(method);
    u->message = grpc_slice_from_copied_string(msg);
    menu_status st = menu_status_make(GRPC_STATUS_UNIMPLEMENTED, "%s", msg);
    u->trailer[0].key = grpc_slice_from_static_string(STATUS_DETAILS_KEY);
    u->trailer[0].value = status_details_encode(&st, msg, NULL);
    grpc_op ops[3];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[1].data.send_status_from_server.status = GRPC_STATUS_UNIMPLEMENTED;
    ops[1].data.send_status_from_server.status_details = &u->message;
    ops[1].data.send_status_from_server.trailing_metadata_count = 1;
    ops[1].data.send_status_from_server.trailing_metadata = u->trailer;
    ops[2].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[2].data.recv_close_on_server.cancelled = &u->cancelled;
    u->replied = true;
    if (grpc_call_start_batch(u->call, ops, 3, &u->tag, NULL) == GRPC_CALL_OK) return;
  }
  if (u->call) grpc_call_unref(u->call);
  if (u->replied) {
    grpc_slice_unref(u->message);
    grpc_slice_unref(u->trailer[0].value);
  }
  grpc_call_details_destroy(&u->details);
  grpc_metadata_array_destroy(&u->md);
  free(u);
}

/* ---- unary calls -------------------------------------------------------------------------- */

static void on_reply_done(rpc_tag *tag, bool ok);

static menu_status run_handler(rpc_ctx *ctx, ProtobufCMessage **resp_out) {
  rpc_method *m = ctx->method;
  if (!ctx->payload) return MENU_INVALID("request message missing");
  unsigned char *data;
  size_t n = rpc_read_byte_buffer(ctx->payload, &ctx->arena, &data);
  ProtobufCMessage *req = protobuf_c_message_unpack(m->in, &ctx->arena.pb, n, data);
  if (!req) return MENU_INVALID("request does not decode as %s", m->in->name);
  /* NUL, control characters, bad UTF-8, version at its maximum: before any handler sees them. */
  menu_status strict = strict_strings_check(m->in, data, n);
  if (!menu_status_is_ok(&strict)) return strict;
  if (!m->fn)
    return menu_status_make(GRPC_STATUS_UNIMPLEMENTED, "%s is not implemented yet", m->path);
  if (rpc_ctx_expired(ctx))
    return menu_status_make(GRPC_STATUS_DEADLINE_EXCEEDED, "deadline passed before handling");
  ProtobufCMessage *resp = arena_alloc(&ctx->arena, m->out->sizeof_message);
  protobuf_c_message_init(m->out, resp);
  menu_status st = m->fn(ctx, req, resp, m->arg);
  if (menu_status_is_ok(&st)) *resp_out = resp;
  return st;
}

static void handle_unary(rpc_ctx *ctx) {
  ProtobufCMessage *resp = NULL;
  ctx->status = run_handler(ctx, &resp);
  if (ctx->status.code == GRPC_STATUS_OK && rpc_ctx_expired(ctx))
    ctx->status = menu_status_make(GRPC_STATUS_DEADLINE_EXCEEDED, "deadline exceeded");

  grpc_op ops[3];
  memset(ops, 0, sizeof ops);
  size_t n = 0;
  ctx->initial_md[0].key = grpc_slice_from_static_string("x-request-id");
  ctx->initial_md[0].value = grpc_slice_from_copied_string(ctx->request_id);
  ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[n].data.send_initial_metadata.count = 1;
  ops[n].data.send_initial_metadata.metadata = ctx->initial_md;
  n++;
  if (resp) {
    grpc_slice slice = rpc_slice_from_message(resp);
    ctx->reply = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = ctx->reply;
    n++;
  }
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[n].data.send_status_from_server.status = ctx->status.code;
  if (ctx->status.code != GRPC_STATUS_OK) {
    /* A datastore or backend failure names the request id, whose log line has the detail. */
    const char *msg = ctx->status.message;
    if (ctx->status.detail[0])
      msg = arena_sprintf(&ctx->arena, "%s (request id %s)", msg, ctx->request_id);
    ctx->status_details = grpc_slice_from_copied_string(msg);
    ctx->trailer[0].key = grpc_slice_from_static_string(STATUS_DETAILS_KEY);
    ctx->trailer[0].value = status_details_encode(&ctx->status, msg, ctx->request_id);
    ops[n].data.send_status_from_server.status_details = &ctx->status_details;
    ops[n].data.send_status_from_server.trailing_metadata_count = 1;
    ops[n].data.send_status_from_server.trailing_metadata = ctx->trailer;
  }
  n++;
  ctx->done_tag.fn = on_reply_done;
  grpc_call_error err = grpc_call_start_batch(ctx->call, ops, n, &ctx->done_tag, NULL);
  if (err != GRPC_CALL_OK) {
    log_error("start_batch failed", "method", ctx->method->path, NULL);
    on_reply_done(&ctx->done_tag, false);
  }
}

static void ctx_finish(rpc_ctx *ctx);

static void on_reply_done(rpc_tag *tag, bool ok) {
  rpc_ctx *ctx = (rpc_ctx *)((char *)tag - offsetof(rpc_ctx, done_tag));
  ctx->reply_ok = ok;
  if (atomic_fetch_sub(&ctx->pending_tags, 1) == 1) ctx_finish(ctx);
}

static void on_close(rpc_tag *tag, bool ok) {
  rpc_ctx *ctx = (rpc_ctx *)((char *)tag - offsetof(rpc_ctx, close_tag));
  if (atomic_fetch_sub(&ctx->pending_tags, 1) == 1) ctx_finish(ctx);
}

/* Both batches are done: account for the call and free it. */
static void ctx_finish(rpc_ctx *ctx) {
  rpc_server *s = ctx->server;
  rpc_method *m = ctx->method;
  gpr_timespec end = now_mono();
  grpc_status_code code = ctx->status.code;
  /* The client went away or the deadline passed while we worked: that is what it saw. */
  if (ctx->cancelled || !ctx->reply_ok)
    code = gpr_time_cmp(end, ctx->deadline) >= 0 ? GRPC_STATUS_DEADLINE_EXCEEDED
                                                 : GRPC_STATUS_CANCELLED;
  double secs = seconds_between(ctx->started, end);
  metrics_add(s->m_handled,
              METRICS_LABELS(m->type, m->service, m->name, menu_status_code_name(code)), 1);
  metrics_observe(s->m_seconds, METRICS_LABELS(m->type, m->service, m->name), secs);

  log_level lvl = code == GRPC_STATUS_OK ? LOG_INFO
                  : (code == GRPC_STATUS_INTERNAL || code == GRPC_STATUS_UNKNOWN ||
                     code == GRPC_STATUS_DATA_LOSS)
                      ? LOG_ERROR
                      : LOG_WARN;
  log_line *l = log_begin(lvl, "rpc");
  if (l) {
    log_str(l, "method", m->path);
    log_str(l, "status", menu_status_code_name(code));
    if (code != GRPC_STATUS_OK) log_str(l, "error", ctx->status.message);
    if (code != GRPC_STATUS_OK && ctx->status.detail[0])
      log_str(l, "error_detail", ctx->status.detail);
    log_double(l, "duration_ms", round(secs * 1e6) / 1e3);
    log_str(l, "peer", rpc_ctx_peer(ctx));
    log_str(l, "request_id", ctx->request_id);
    for (struct log_field *f = ctx->fields; f; f = f->next) {
      if (f->str)
        log_str(l, f->key, f->str);
      else
        log_int(l, f->key, f->num);
    }
    log_end(l);
  }

  if (ctx->reply) grpc_byte_buffer_destroy(ctx->reply);
  if (ctx->payload) grpc_byte_buffer_destroy(ctx->payload);
  grpc_slice_unref(ctx->initial_md[0].value);
  grpc_slice_unref(ctx->status_details);
  grpc_slice_unref(ctx->trailer[0].value);
  grpc_metadata_array_destroy(&ctx->md);
  if (ctx->peer) gpr_free(ctx->peer);
  grpc_call_unref(ctx->call);
  arena_free(&ctx->arena);
  free(ctx);
}

/* ---- handler pool ------------------------------------------------------------------------- */

static void enqueue(rpc_server *s, rpc_ctx *ctx) {
  pthread_mutex_lock(&s->mu);
  if (s->job_tail)
    s->job_tail->next_job = ctx;
  else
    s->job_head = ctx;
  s->job_tail = ctx;
  pthread_cond_signal(&s->cond);
  pthread_mutex_unlock(&s->mu);
}

static void *worker_main(void *arg) {
  rpc_server *s = arg;
  pthread_mutex_lock(&s->mu);
  for (;;) {
    while (!s->job_head && !s->closing) pthread_cond_wait(&s->cond, &s->mu);
    if (!s->job_head) break;
    rpc_ctx *ctx = s->job_head;
    s->job_head = ctx->next_job;
    if (!s->job_head) s->job_tail = NULL;
    pthread_mutex_unlock(&s->mu);
    handle_unary(ctx);
    pthread_mutex_lock(&s->mu);
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

static void *cq_main(void *arg) {
  grpc_completion_queue *cq = arg;
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
    if (ev.type == GRPC_OP_COMPLETE) {
      rpc_tag *tag = ev.tag;
      tag->fn(tag, ev.success != 0);
    }
  }
  return NULL;
}

/* ---- context accessors -------------------------------------------------------------------- */

arena *rpc_ctx_arena(rpc_ctx *ctx) { return &ctx->arena; }
char *rpc_ctx_strdup(rpc_ctx *ctx, const char *s) { return arena_strdup(&ctx->arena, s); }
gpr_timespec rpc_ctx_deadline(const rpc_ctx *ctx) { return ctx->deadline; }
int64_t rpc_ctx_remaining_ms(const rpc_ctx *ctx) {
  gpr_timespec left = gpr_time_sub(ctx->deadline, now_mono());
  int64_t ms = gpr_time_to_millis(left);
  return ms > 0 ? ms : 0;
}
bool rpc_ctx_expired(const rpc_ctx *ctx) { return gpr_time_cmp(now_mono(), ctx->deadline) >= 0; }
const char *rpc_ctx_request_id(const rpc_ctx *ctx) { return ctx->request_id; }
const char *rpc_ctx_metadata(rpc_ctx *ctx, const char *key) {
  return metadata_value(&ctx->md, key, &ctx->arena);
}
const char *rpc_ctx_peer(rpc_ctx *ctx) {
  if (!ctx->peer) ctx->peer = grpc_call_get_peer(ctx->call);
  return ctx->peer;
}
const char *rpc_ctx_method(const rpc_ctx *ctx) { return ctx->method->path; }
grpc_call *rpc_ctx_call(const rpc_ctx *ctx) { return ctx->call; }
static void add_field(rpc_ctx *ctx, const char *key, const char *str, int64_t num) {
  struct log_field *f = arena_alloc(&ctx->arena, sizeof *f);
  f->key = arena_strdup(&ctx->arena, key);
  f->str = str ? arena_strdup(&ctx->arena, str) : NULL;
  f->num = num;
  f->next = ctx->fields;
  ctx->fields = f;
}
void rpc_ctx_log_str(rpc_ctx *ctx, const char *key, const char *value) {
  if (value) add_field(ctx, key, value, 0);
}
void rpc_ctx_log_int(rpc_ctx *ctx, const char *key, int64_t value) {
  add_field(ctx, key, NULL, value);
}

/* ---- start and stop ----------------------------------------------------------------------- */

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len + 4096 + 1 > cap) {
      cap = cap ? cap * 2 : 8192;
      buf = realloc(buf, cap);
    }
    size_t n = fread(buf + len, 1, 4096, f);
    len += n;
    if (n < 4096) break;
  }
  fclose(f);
  buf[len] = 0;
  return buf;
}

static grpc_server_credentials *server_credentials(const rpc_server_config *c) {
  if (!c->tls_cert_file) return grpc_insecure_server_credentials_create();
  char *cert = read_file(c->tls_cert_file), *key = read_file(c->tls_key_file);
  char *ca = c->tls_client_ca_file ? read_file(c->tls_client_ca_file) : NULL;
  grpc_server_credentials *creds = NULL;
  if (!cert || !key || (c->tls_client_ca_file && !ca)) {
    log_error("cannot read TLS files", "cert", c->tls_cert_file, "key", c->tls_key_file,
              "client_ca", c->tls_client_ca_file, NULL);
  } else {
    grpc_ssl_pem_key_cert_pair pair = {key, cert};
    creds = grpc_ssl_server_credentials_create_ex(
        ca, &pair, 1,
        ca ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
           : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
        NULL);
  }
  free(cert);
  free(key);
  free(ca);
  return creds;
}

int rpc_server_start(rpc_server *s) {
  s->reflection = reflection_create(s);
  if (!s->reflection || health_register(s->health) || reflection_register(s->reflection)) return -1;

  grpc_arg args[7];
  size_t nargs = 0;
  args[nargs++] = (grpc_arg){
      GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = s->cfg.max_recv_bytes}};
  /* Let clients keep idle connections alive with pings every 10 s or more (the gateway pings
   * every 30 s so that dead pods are noticed) without being told "too many pings". */
  args[nargs++] = (grpc_arg){
      GRPC_ARG_INTEGER, GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, {.integer = 10000}};
  args[nargs++] =
      (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, {.integer = 1}};
  /* A second process on the same port must fail to start, not silently share the traffic. */
  args[nargs++] = (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_ALLOW_REUSEPORT, {.integer = 0}};
  if (s->cfg.max_connection_age_ms > 0) {
    args[nargs++] = (grpc_arg){GRPC_ARG_INTEGER,
                               GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               {.integer = (int)s->cfg.max_connection_age_ms}};
    args[nargs++] = (grpc_arg){GRPC_ARG_INTEGER,
                               GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               {.integer = (int)s->cfg.shutdown_grace_ms}};
  }
  grpc_channel_args cargs = {nargs, args};
  s->server = grpc_server_create(&cargs, NULL);
  int n_cq = s->cfg.cq_threads;
  s->cqs = calloc((size_t)n_cq, sizeof *s->cqs);
  for (int i = 0; i < n_cq; i++) {
    s->cqs[i] = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(s->server, s->cqs[i], NULL);
  }
  if (s->cfg.health_addr) {
    /* Kubelet's gRPC probes speak plaintext only: with TLS on GRPC_ADDR they get a second,
     * plaintext server that serves nothing but the health service. */
    s->health_server = grpc_server_create(&cargs, NULL);
    for (int i = 0; i < n_cq; i++)
      grpc_server_register_completion_queue(s->health_server, s->cqs[i], NULL);
    size_t n_main = s->n_methods;
    for (size_t i = 0; i < n_main; i++) {
      if (strcmp(s->methods[i].service, "grpc.health.v1.Health")) continue;
      rpc_method *orig = &s->methods[i];
      rpc_server_add_raw_method(s, orig->service, orig->name, orig->kind, orig->in, orig->out,
                                orig->fn, orig->start, orig->arg, orig->payload);
      s->methods[s->n_methods - 1].srv = s->health_server;
    }
  }
  for (size_t i = 0; i < s->n_methods; i++) {
    rpc_method *m = &s->methods[i];
    if (!m->srv) m->srv = s->server;
    m->handle = grpc_server_register_method(
        m->srv, m->path, NULL,
        m->payload ? GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER : GRPC_SRM_PAYLOAD_NONE, 0);
  }
  grpc_server_credentials *creds = server_credentials(&s->cfg);
  int port = creds ? grpc_server_add_http2_port(s->server, s->cfg.listen_addr, creds) : 0;
  if (creds) grpc_server_credentials_release(creds);
  int health_port = 1;
  if (port && s->health_server) {
    grpc_server_credentials *plain = grpc_insecure_server_credentials_create();
    health_port = grpc_server_add_http2_port(s->health_server, s->cfg.health_addr, plain);
    grpc_server_credentials_release(plain);
    if (!health_port) log_error("cannot listen", "addr", s->cfg.health_addr, NULL);
  }
  if (!port || !health_port) {
    if (!port) log_error("cannot listen", "addr", s->cfg.listen_addr, NULL);
    grpc_server_destroy(s->server); /* never started: nothing in flight */
    s->server = NULL;
    if (s->health_server) grpc_server_destroy(s->health_server);
    s->health_server = NULL;
    for (int i = 0; i < n_cq; i++) {
      grpc_completion_queue_shutdown(s->cqs[i]);
      grpc_completion_queue_destroy(s->cqs[i]);
    }
    return -1;
  }
  grpc_server_start(s->server);
  if (s->health_server) grpc_server_start(s->health_server);
  s->started = true;
  s->port = port;

  s->workers = calloc((size_t)s->cfg.handler_threads, sizeof(pthread_t));
  for (int i = 0; i < s->cfg.handler_threads; i++)
    pthread_create(&s->workers[i], NULL, worker_main, s);
  s->cq_threads = calloc((size_t)n_cq, sizeof(pthread_t));
  for (int i = 0; i < n_cq; i++) pthread_create(&s->cq_threads[i], NULL, cq_main, s->cqs[i]);
  for (int cq = 0; cq < n_cq; cq++) {
    for (size_t i = 0; i < s->n_methods; i++)
      for (int k = 0; k < s->cfg.requests_per_method; k++) request_post(s, &s->methods[i], cq);
    for (int k = 0; k < 2; k++) unknown_post(s, s->server, cq);
    if (s->health_server) unknown_post(s, s->health_server, cq);
  }

  if (s->cfg.metrics_addr && strcmp(s->cfg.metrics_addr, "off")) {
    s->http = metrics_http_start(s->metrics, s->cfg.metrics_addr);
    if (!s->http) return -1;
  }
  health_set_serving(s->health, true);
  log_line *l = log_begin(LOG_INFO, "serving");
  log_str(l, "grpc_addr", s->cfg.listen_addr);
  log_str(l, "metrics_addr", s->cfg.metrics_addr);
  log_str(l, "tls",
          s->cfg.tls_cert_file ? (s->cfg.tls_client_ca_file ? "mutual" : "server") : "off");
  log_int(l, "handler_threads", s->cfg.handler_threads);
  log_end(l);
  return 0;
}

void rpc_server_block_signals(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
}

void rpc_server_wait_for_signal(rpc_server *s) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  sigwait(&set, &sig);
  log_info("shutting down", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
}

void rpc_server_shutdown(rpc_server *s) {
  if (!s->started) return;
  atomic_store(&s->shutting_down, true);
  health_set_serving(s->health, false);
  health_end_watches(s->health);

  grpc_completion_queue *scq = grpc_completion_queue_create_for_pluck(NULL);
  static int shutdown_tags[2];
  grpc_server *servers[2] = {s->server, s->health_server};
  int n_servers = s->health_server ? 2 : 1;
  for (int i = 0; i < n_servers; i++)
    grpc_server_shutdown_and_notify(servers[i], scq, &shutdown_tags[i]);
  gpr_timespec grace = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                    gpr_time_from_millis(s->cfg.shutdown_grace_ms, GPR_TIMESPAN));
  for (int i = 0; i < n_servers; i++) {
    grpc_event ev = grpc_completion_queue_pluck(scq, &shutdown_tags[i], grace, NULL);
    if (ev.type == GRPC_QUEUE_TIMEOUT) {
      log_warn("grace period over: cancelling the calls still running", NULL);
      grpc_server_cancel_all_calls(servers[i]);
      grpc_completion_queue_pluck(scq, &shutdown_tags[i], gpr_inf_future(GPR_CLOCK_MONOTONIC),
                                  NULL);
    }
  }
  /* The shutdown tags were the queue's only events and they have been plucked. */
  grpc_completion_queue_shutdown(scq);
  grpc_completion_queue_destroy(scq);

  /* Handlers still running reply into cancelled calls; wait for them before tearing down. */
  pthread_mutex_lock(&s->mu);
  s->closing = true;
  pthread_cond_broadcast(&s->cond);
  pthread_mutex_unlock(&s->mu);
  for (int i = 0; i < s->cfg.handler_threads; i++) pthread_join(s->workers[i], NULL);

  grpc_server_destroy(s->server);
  s->server = NULL;
  if (s->health_server) grpc_server_destroy(s->health_server);
  s->health_server = NULL;
  for (int i = 0; i < s->cfg.cq_threads; i++) grpc_completion_queue_shutdown(s->cqs[i]);
  for (int i = 0; i < s->cfg.cq_threads; i++) pthread_join(s->cq_threads[i], NULL);
  for (int i = 0; i < s->cfg.cq_threads; i++) grpc_completion_queue_destroy(s->cqs[i]);
  metrics_http_stop(s->http);
  s->http = NULL;
  s->started = false;
  log_info("stopped", NULL);
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
  health_destroy(s->health);
  reflection_destroy(s->reflection);
  free(s->cqs);
  free(s->cq_threads);
  free(s->workers);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cond);
  free(s);
}
