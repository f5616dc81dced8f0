/* Channels and asynchronous unary calls that end in a callback on a completion-queue thread. */
#include "common/rpc_client.h"

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/file.h"
#include "common/log.h"
#include "common/rpc_internal.h"
#include "common/status_details.h"

#define DEFAULT_SERVICE_CONFIG "{\"loadBalancingConfig\":[{\"round_robin\":{}}]}"

struct rpc_client_method {
  char *path, *service, *name;
  const ProtobufCMessageDescriptor *out;
  void *handle;
};

struct rpc_channel {
  grpc_channel *channel;
  char *target;
  rpc_client_method *methods;
  size_t n_methods;
  metrics_family *m_started, *m_handled, *m_seconds, *m_msg_sent, *m_msg_received;
};

/* One call. The tag comes first: the completion queue hands back &call->tag. */
struct rpc_client_call {
  rpc_tag tag;
  rpc_channel *ch;
  const rpc_client_method *m;
  grpc_call *call;
  rpc_client_call_done_fn done;
  void *user;
  gpr_timespec start, end;
  grpc_metadata send_md[1 + RPC_TRACE_MAX_MD]; /* x-request-id, rpc_trace_inject's */
  size_t n_md;
  trace_span *span; /* CLIENT span, a child of the parent call's; NULL when not traced */
  grpc_byte_buffer *send, *recv;
  grpc_metadata_array recv_initial, recv_trailing;
  grpc_status_code code;
  grpc_slice details;
  const char *error_string;
  menu_status status;
  ProtobufCMessage *response;
  arena arena; /* the decoded response */
};

static grpc_channel_credentials *channel_credentials(const rpc_channel_config *cfg) {
  if (!cfg->tls_ca_file) return grpc_insecure_credentials_create();
  char *ca = file_read_all(cfg->tls_ca_file, FILE_CONFIG_MAX, NULL);
  char *cert = cfg->tls_cert_file ? file_read_all(cfg->tls_cert_file, FILE_CONFIG_MAX, NULL) : NULL;
  char *key = cfg->tls_key_file ? file_read_all(cfg->tls_key_file, FILE_CONFIG_MAX, NULL) : NULL;
  grpc_channel_credentials *creds = NULL;
  if (!ca || (cfg->tls_cert_file && !cert) || (cfg->tls_key_file && !key)) {
    log_error("cannot read backend TLS files", "ca", cfg->tls_ca_file, "cert", cfg->tls_cert_file,
              "key", cfg->tls_key_file, NULL);
  } else {
    grpc_ssl_pem_key_cert_pair pair = {key, cert};
    creds = grpc_ssl_credentials_create(ca, cert && key ? &pair : NULL, NULL, NULL);
  }
  free(ca);
  free(cert);
  free(key);
  return creds;
}

rpc_channel *rpc_channel_create(const rpc_channel_config *cfg) {
  grpc_channel_credentials *creds = channel_credentials(cfg);
  if (!creds) return NULL;
  grpc_arg args[6];
  size_t n = 0;
  args[n++] = (grpc_arg){GRPC_ARG_STRING,
                         GRPC_ARG_SERVICE_CONFIG,
                         {.string = (char *)(cfg->service_config_json ? cfg->service_config_json
                                                                      : DEFAULT_SERVICE_CONFIG)}};
  if (cfg->keepalive_time_ms > 0) {
    args[n++] = (grpc_arg){
        GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIME_MS, {.integer = cfg->keepalive_time_ms}};
    args[n++] = (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIMEOUT_MS, {.integer = 10000}};
  }
  if (cfg->reconnect_initial_backoff_ms > 0)
    args[n++] = (grpc_arg){GRPC_ARG_INTEGER,
                           GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
                           {.integer = cfg->reconnect_initial_backoff_ms}};
  if (cfg->reconnect_max_backoff_ms > 0)
    args[n++] = (grpc_arg){GRPC_ARG_INTEGER,
                           GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                           {.integer = cfg->reconnect_max_backoff_ms}};
  /* The core calls it the minimum reconnect backoff; it is the shortest connect attempt. */
  if (cfg->connect_timeout_ms > 0)
    args[n++] = (grpc_arg){
        GRPC_ARG_INTEGER, GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, {.integer = cfg->connect_timeout_ms}};
  grpc_channel_args cargs = {n, args};
  rpc_channel *ch = calloc(1, sizeof *ch);
  ch->channel = grpc_channel_create(cfg->target, creds, &cargs);
  grpc_channel_credentials_release(creds);
  ch->target = strdup(cfg->target);
  if (cfg->metrics) {
    static const char *const labels[] = {"grpc_type", "grpc_service", "grpc_method", NULL};
    static const char *const labels_code[] = {"grpc_type", "grpc_service", "grpc_method",
                                              "grpc_code", NULL};
    ch->m_started = metrics_counter(cfg->metrics, "grpc_client_started_total",
                                    "Total number of RPCs started on the client.", labels);
    ch->m_msg_sent =
        metrics_counter(cfg->metrics, "grpc_client_msg_sent_total",
                        "Total number of gRPC stream messages sent by the client.", labels);
    ch->m_msg_received = metrics_counter(cfg->metrics, "grpc_client_msg_received_total",
                                         "Total number of RPC stream messages received by the "
                                         "client.",
                                         labels);
    ch->m_handled = metrics_counter(cfg->metrics, "grpc_client_handled_total",
                                    "Total number of RPCs completed by the client, regardless "
                                    "of success or failure.",
                                    labels_code);
    ch->m_seconds = metrics_histogram(cfg->metrics, "grpc_client_handling_seconds",
                                      "Histogram of response latency (seconds) of the gRPC "
                                      "until it is finished by the application.",
                                      labels, metrics_default_buckets, metrics_default_buckets_len);
  }
  return ch;
}

void rpc_channel_destroy(rpc_channel *ch) {
  if (!ch) return;
  grpc_channel_destroy(ch->channel);
  for (size_t i = 0; i < ch->n_methods; i++) {
    free(ch->methods[i].path);
    free(ch->methods[i].service);
    free(ch->methods[i].name);
  }
  free(ch->methods);
  free(ch->target);
  free(ch);
}

void rpc_channel_add_service(rpc_channel *ch, const ProtobufCServiceDescriptor *desc) {
  ch->methods = realloc(ch->methods, (ch->n_methods + desc->n_methods) * sizeof *ch->methods);
  for (unsigned i = 0; i < desc->n_methods; i++) {
    rpc_client_method *m = &ch->methods[ch->n_methods++];
    size_t n = strlen(desc->name) + strlen(desc->methods[i].name) + 3;
    m->path = malloc(n);
    snprintf(m->path, n, "/%s/%s", desc->name, desc->methods[i].name);
    m->service = strdup(desc->name);
    m->name = strdup(desc->methods[i].name);
    m->out = desc->methods[i].output;
    m->handle = grpc_channel_register_call(ch->channel, m->path, NULL, NULL);
    if (ch->m_handled) { /* zero-valued series from the start */
      const char *const *labels = METRICS_LABELS("unary", m->service, m->name);
      metrics_touch(ch->m_started, labels);
      metrics_touch(ch->m_handled, METRICS_LABELS("unary", m->service, m->name, "OK"));
      metrics_touch(ch->m_seconds, labels);
      metrics_touch(ch->m_msg_sent, labels);
      metrics_touch(ch->m_msg_received, labels);
    }
  }
}

const rpc_client_method *rpc_channel_method(const rpc_channel *ch, const char *service,
                                            const char *method) {
  for (size_t i = 0; i < ch->n_methods; i++)
    if (!strcmp(ch->methods[i].service, service) && !strcmp(ch->methods[i].name, method))
      return &ch->methods[i];
  return NULL;
}

/* A failed call: the backend's google.rpc.Status when it sent one (its message is safe for
 * callers). Without one, UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, UNKNOWN... may be the
 * channel's own failure (connect refused, no answer in time), whose text names addresses: the
 * caller gets which backend failed, the call's log line gets the text. */
static menu_status client_error_status(const rpc_client_call *c, const char *details) {
  menu_status st;
  for (size_t i = 0; i < c->recv_trailing.count; i++) {
    const grpc_metadata *md = &c->recv_trailing.metadata[i];
    if (grpc_slice_str_cmp(md->key, STATUS_DETAILS_KEY)) continue;
    if (status_details_decode(GRPC_SLICE_START_PTR(md->value), GRPC_SLICE_LENGTH(md->value), &st)) {
      st.code = c->code;
      snprintf(st.message, sizeof st.message, "%s", details);
      return st;
    }
  }
  /* These codes only a server application produces: a foreign backend's own words. */
  switch (c->code) {
    case GRPC_STATUS_INVALID_ARGUMENT:
    case GRPC_STATUS_NOT_FOUND:
    case GRPC_STATUS_ALREADY_EXISTS:
    case GRPC_STATUS_PERMISSION_DENIED:
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
    case GRPC_STATUS_FAILED_PRECONDITION:
    case GRPC_STATUS_ABORTED:
    case GRPC_STATUS_OUT_OF_RANGE:
    case GRPC_STATUS_UNAUTHENTICATED:
      return menu_status_make(c->code, "%s", details);
    default:
      break;
  }
  const char *reason = c->code == GRPC_STATUS_UNAVAILABLE         ? "BACKEND_UNAVAILABLE"
                       : c->code == GRPC_STATUS_DEADLINE_EXCEEDED ? "BACKEND_DEADLINE_EXCEEDED"
                                                                  : "BACKEND_ERROR";
  const char *msg = c->code == GRPC_STATUS_UNAVAILABLE         ? "unavailable"
                    : c->code == GRPC_STATUS_DEADLINE_EXCEEDED ? "no answer in time"
                                                               : "call failed";
  st = menu_status_backend(c->code, reason, c->m->service, msg, "%s: %s", c->m->path, details);
  snprintf(st.metadata[0].key, sizeof st.metadata[0].key, "backend");
  return st;
}

/* The call's one batch has completed: decode, account, hand over to the caller. */
static void on_done(rpc_tag *tag, bool ok) {
  rpc_client_call *c = (rpc_client_call *)tag;
  c->end = gpr_now(GPR_CLOCK_MONOTONIC);
  if (!ok) {
    c->status = MENU_INTERNAL("%s: call batch failed", c->m->path);
  } else if (c->code != GRPC_STATUS_OK) {
    char *details = grpc_slice_to_c_string(c->details);
    c->status = client_error_status(c, details);
    gpr_free(details);
  } else if (!c->recv) {
    c->status = MENU_INTERNAL("%s: OK without a response message", c->m->path);
  } else {
    unsigned char *data;
    size_t n = rpc_read_byte_buffer(c->recv, &c->arena, &data);
    c->response = protobuf_c_message_unpack(c->m->out, &c->arena.pb, n, data);
    c->status = c->response ? MENU_OK
                            : MENU_INTERNAL("%s: response does not decode as %s", c->m->path,
                                            c->m->out->name);
  }
  if (c->ch->m_handled) {
    const char *code = menu_status_code_name(c->status.code);
    metrics_add(c->ch->m_handled, METRICS_LABELS("unary", c->m->service, c->m->name, code), 1);
    gpr_timespec d = gpr_time_sub(c->end, c->start);
    metrics_observe(c->ch->m_seconds, METRICS_LABELS("unary", c->m->service, c->m->name),
                    (double)d.tv_sec + d.tv_nsec / 1e9);
    if (c->recv)
      metrics_add(c->ch->m_msg_received, METRICS_LABELS("unary", c->m->service, c->m->name), 1);
  }
  rpc_trace_end(c->span, false, c->status.code, c->status.message);
  c->span = NULL;
  c->done(c, c->user);
}

rpc_client_call *rpc_client_call_start(rpc_channel *ch, const rpc_client_method *m,
                                       const ProtobufCMessage *req,
                                       const rpc_client_call_opts *opts,
                                       rpc_client_call_done_fn done, void *user) {
  rpc_client_call *c = calloc(1, sizeof *c);
  c->tag.fn = on_done;
  c->ch = ch;
  c->m = m;
  c->done = done;
  c->user = user;
  arena_init(&c->arena);
  grpc_metadata_array_init(&c->recv_initial);
  grpc_metadata_array_init(&c->recv_trailing);
  c->details = grpc_empty_slice();
  c->start = gpr_now(GPR_CLOCK_MONOTONIC);
  rpc_ctx *parent = opts->parent;
  grpc_completion_queue *cq = parent ? rpc_ctx_cq(parent) : opts->cq;
  c->call = grpc_channel_create_registered_call(
      ch->channel, parent ? rpc_ctx_call(parent) : NULL, GRPC_PROPAGATE_DEFAULTS, cq, m->handle,
      gpr_convert_clock_type(opts->deadline, GPR_CLOCK_REALTIME), NULL);
  grpc_slice body = rpc_slice_from_message(req);
  c->send = grpc_raw_byte_buffer_create(&body, 1);
  grpc_slice_unref(body);

  grpc_op ops[6];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  if (parent) {
    c->send_md[0].key = grpc_slice_from_static_string("x-request-id");
    c->send_md[0].value = grpc_slice_from_copied_string(rpc_ctx_request_id(parent));
    c->n_md = 1;
    if (rpc_ctx_span(parent)) {
      c->span =
          rpc_trace_client_start(rpc_ctx_span(parent), m->path, m->service, m->name, ch->target);
      c->n_md += rpc_trace_inject(c->span, rpc_ctx_incoming(parent), c->send_md + 1);
    }
    ops[0].data.send_initial_metadata.count = c->n_md;
    ops[0].data.send_initial_metadata.metadata = c->send_md;
  }
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = c->send;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->recv_initial;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &c->recv;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.trailing_metadata = &c->recv_trailing;
  ops[5].data.recv_status_on_client.status = &c->code;
  ops[5].data.recv_status_on_client.status_details = &c->details;
  ops[5].data.recv_status_on_client.error_string = &c->error_string;
  if (grpc_call_start_batch(c->call, ops, 6, &c->tag, NULL) != GRPC_CALL_OK) {
    log_error("client start_batch refused", "method", m->path, NULL);
    rpc_trace_end(c->span, false, GRPC_STATUS_INTERNAL, "start_batch refused");
    c->span = NULL;
    rpc_client_call_destroy(c);
    return NULL;
  }
  if (ch->m_started) { /* as go-grpc-prometheus: the request counts as sent once started */
    metrics_add(ch->m_started, METRICS_LABELS("unary", m->service, m->name), 1);
    metrics_add(ch->m_msg_sent, METRICS_LABELS("unary", m->service, m->name), 1);
  }
  return c;
}

void rpc_client_call_cancel(rpc_client_call *c) { grpc_call_cancel(c->call, NULL); }

menu_status rpc_client_call_status(const rpc_client_call *c) { return c->status; }
const ProtobufCMessage *rpc_client_call_response(const rpc_client_call *c) { return c->response; }
int64_t rpc_client_call_end_ms(const rpc_client_call *c) {
  return (int64_t)c->end.tv_sec * 1000 + c->end.tv_nsec / 1000000;
}

void rpc_client_call_destroy(rpc_client_call *c) {
  if (!c) return;
  if (c->send) grpc_byte_buffer_destroy(c->send);
  if (c->recv) grpc_byte_buffer_destroy(c->recv);
  for (size_t i = 0; i < c->n_md; i++) grpc_slice_unref(c->send_md[i].value);
  grpc_metadata_array_destroy(&c->recv_initial);
  grpc_metadata_array_destroy(&c->recv_trailing);
  grpc_slice_unref(c->details);
  if (c->error_string) gpr_free((void *)c->error_string);
  grpc_call_unref(c->call);
  arena_free(&c->arena);
  free(c);
}
