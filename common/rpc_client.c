/* Channels and batches of asynchronous unary calls on one completion queue per batch. */
#include "common/rpc_client.h"

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/status_details.h"
#include "common/rpc_internal.h"

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
  metrics_family *m_handled, *m_seconds;
};

struct rpc_pending {
  rpc_tag tag;
  rpc_pending *next;
  rpc_batch *batch;
  rpc_channel *ch;
  const rpc_client_method *m;
  grpc_call *call;
  void *user;
  bool done;
  gpr_timespec start, end;
  grpc_metadata send_md[1];
  bool has_md;
  grpc_byte_buffer *send, *recv;
  grpc_metadata_array recv_initial, recv_trailing;
  grpc_status_code code;
  grpc_slice details;
  const char *error_string;
  menu_status status;
  ProtobufCMessage *response;
};

struct rpc_batch {
  grpc_completion_queue *cq;
  grpc_call *parent;
  gpr_timespec deadline;
  arena *arena;
  const char *request_id;
  rpc_pending *calls;
  int outstanding;
};

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)(n > 0 ? n : 0) + 1);
  size_t got = fread(buf, 1, (size_t)(n > 0 ? n : 0), f);
  buf[got] = 0;
  fclose(f);
  return buf;
}

static grpc_channel_credentials *channel_credentials(const rpc_channel_config *cfg) {
  if (!cfg->tls_ca_file) return grpc_insecure_credentials_create();
  char *ca = slurp(cfg->tls_ca_file);
  char *cert = cfg->tls_cert_file ? slurp(cfg->tls_cert_file) : NULL;
  char *key = cfg->tls_key_file ? slurp(cfg->tls_key_file) : NULL;
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
  grpc_arg args[4];
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
  grpc_channel_args cargs = {n, args};
  rpc_channel *ch = calloc(1, sizeof *ch);
  ch->channel = grpc_channel_create(cfg->target, creds, &cargs);
  grpc_channel_credentials_release(creds);
  ch->target = strdup(cfg->target);
  if (cfg->metrics) {
    static const char *const labels[] = {"grpc_type", "grpc_service", "grpc_method", NULL};
    static const char *const labels_code[] = {"grpc_type", "grpc_service", "grpc_method",
                                              "grpc_code", NULL};
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
  }
}

const rpc_client_method *rpc_channel_method(const rpc_channel *ch, const char *service,
                                            const char *method) {
  for (size_t i = 0; i < ch->n_methods; i++)
    if (!strcmp(ch->methods[i].service, service) && !strcmp(ch->methods[i].name, method))
      return &ch->methods[i];
  return NULL;
}

rpc_batch *rpc_batch_create(rpc_ctx *parent, gpr_timespec deadline, arena *a) {
  rpc_batch *b = calloc(1, sizeof *b);
  b->cq = grpc_completion_queue_create_for_next(NULL);
  b->parent = parent ? rpc_ctx_call(parent) : NULL;
  b->request_id = parent ? rpc_ctx_request_id(parent) : NULL;
  b->deadline = gpr_convert_clock_type(deadline, GPR_CLOCK_REALTIME);
  b->arena = a;
  return b;
}

/* A failed call: the backend's google.rpc.Status when it sent one (its message is safe for
 * callers). Without one, UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, UNKNOWN... may be the
 * channel's own failure (connect refused, no answer in time), whose text names addresses: the
 * caller gets which backend failed, the call's log line gets the text. */
static menu_status client_error_status(const rpc_pending *p, const char *details) {
  menu_status st;
  for (size_t i = 0; i < p->recv_trailing.count; i++) {
    const grpc_metadata *md = &p->recv_trailing.metadata[i];
    if (grpc_slice_str_cmp(md->key, STATUS_DETAILS_KEY)) continue;
    if (status_details_decode(GRPC_SLICE_START_PTR(md->value), GRPC_SLICE_LENGTH(md->value), &st)) {
      st.code = p->code;
      snprintf(st.message, sizeof st.message, "%s", details);
      return st;
    }
  }
  /* These codes only a server application produces: a foreign backend's own words. */
  switch (p->code) {
    case GRPC_STATUS_INVALID_ARGUMENT:
    case GRPC_STATUS_NOT_FOUND:
    case GRPC_STATUS_ALREADY_EXISTS:
    case GRPC_STATUS_PERMISSION_DENIED:
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
    case GRPC_STATUS_FAILED_PRECONDITION:
    case GRPC_STATUS_ABORTED:
    case GRPC_STATUS_OUT_OF_RANGE:
    case GRPC_STATUS_UNAUTHENTICATED:
      return menu_status_make(p->code, "%s", details);
    default:
      break;
  }
  const char *reason = p->code == GRPC_STATUS_UNAVAILABLE         ? "BACKEND_UNAVAILABLE"
                       : p->code == GRPC_STATUS_DEADLINE_EXCEEDED ? "BACKEND_DEADLINE_EXCEEDED"
                                                                  : "BACKEND_ERROR";
  const char *msg = p->code == GRPC_STATUS_UNAVAILABLE         ? "unavailable"
                    : p->code == GRPC_STATUS_DEADLINE_EXCEEDED ? "no answer in time"
                                                               : "call failed";
  st = menu_status_backend(p->code, reason, p->m->service, msg, "%s: %s", p->m->path, details);
  snprintf(st.metadata[0].key, sizeof st.metadata[0].key, "backend");
  return st;
}

static void on_done(rpc_tag *tag, bool ok) {
  rpc_pending *p = (rpc_pending *)tag;
  p->done = true;
  p->end = gpr_now(GPR_CLOCK_MONOTONIC);
  if (!ok) {
    p->status = MENU_INTERNAL("%s: call batch failed", p->m->path);
  } else if (p->code != GRPC_STATUS_OK) {
    char *details = grpc_slice_to_c_string(p->details);
    p->status = client_error_status(p, details);
    gpr_free(details);
  } else if (!p->recv) {
    p->status = MENU_INTERNAL("%s: OK without a response message", p->m->path);
  } else {
    unsigned char *data;
    size_t n = rpc_read_byte_buffer(p->recv, p->batch->arena, &data);
    p->response = protobuf_c_message_unpack(p->m->out, &p->batch->arena->pb, n, data);
    p->status = p->response ? MENU_OK
                            : MENU_INTERNAL("%s: response does not decode as %s", p->m->path,
                                            p->m->out->name);
  }
  if (p->ch->m_handled) {
    const char *code = menu_status_code_name(p->status.code);
    metrics_add(p->ch->m_handled, METRICS_LABELS("unary", p->m->service, p->m->name, code), 1);
    gpr_timespec d = gpr_time_sub(p->end, p->start);
    metrics_observe(p->ch->m_seconds, METRICS_LABELS("unary", p->m->service, p->m->name),
                    (double)d.tv_sec + d.tv_nsec / 1e9);
  }
}

rpc_pending *rpc_batch_start(rpc_batch *b, rpc_channel *ch, const rpc_client_method *m,
                             const ProtobufCMessage *req, void *user) {
  rpc_pending *p = arena_alloc(b->arena, sizeof *p);
  p->tag.fn = on_done;
  p->batch = b;
  p->ch = ch;
  p->m = m;
  p->user = user;
  p->start = gpr_now(GPR_CLOCK_MONOTONIC);
  p->call = grpc_channel_create_registered_call(ch->channel, b->parent, GRPC_PROPAGATE_DEFAULTS,
                                                b->cq, m->handle, b->deadline, NULL);
  grpc_metadata_array_init(&p->recv_initial);
  grpc_metadata_array_init(&p->recv_trailing);
  p->details = grpc_empty_slice();
  grpc_slice body = rpc_slice_from_message(req);
  p->send = grpc_raw_byte_buffer_create(&body, 1);
  grpc_slice_unref(body);

  grpc_op ops[6];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  if (b->request_id) {
    p->send_md[0].key = grpc_slice_from_static_string("x-request-id");
    p->send_md[0].value = grpc_slice_from_copied_string(b->request_id);
    ops[0].data.send_initial_metadata.count = 1;
    ops[0].data.send_initial_metadata.metadata = p->send_md;
    p->has_md = true;
  }
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = p->send;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &p->recv_initial;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &p->recv;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.trailing_metadata = &p->recv_trailing;
  ops[5].data.recv_status_on_client.status = &p->code;
  ops[5].data.recv_status_on_client.status_details = &p->details;
  ops[5].data.recv_status_on_client.error_string = &p->error_string;
  p->next = b->calls;
  b->calls = p;
  if (grpc_call_start_batch(p->call, ops, 6, &p->tag, NULL) != GRPC_CALL_OK) {
    log_error("client start_batch refused", "method", m->path, NULL);
    p->done = true;
    p->status = MENU_INTERNAL("%s: call could not start", m->path);
    return NULL;
  }
  b->outstanding++;
  return p;
}

rpc_pending *rpc_batch_next(rpc_batch *b) {
  while (b->outstanding > 0) {
    /* Every call ends by its deadline, so this wait is bounded; the margin is for the core. */
    grpc_event ev = grpc_completion_queue_next(
        b->cq, gpr_time_add(b->deadline, gpr_time_from_seconds(5, GPR_TIMESPAN)), NULL);
    if (ev.type != GRPC_OP_COMPLETE) {
      log_error("client completion queue timed out past the deadline", NULL);
      return NULL;
    }
    b->outstanding--;
    rpc_pending *p = ev.tag;
    p->tag.fn(&p->tag, ev.success != 0);
    return p;
  }
  return NULL;
}

void rpc_batch_destroy(rpc_batch *b) {
  if (!b) return;
  for (rpc_pending *p = b->calls; p; p = p->next)
    if (!p->done && p->call) grpc_call_cancel(p->call, NULL);
  while (b->outstanding > 0 && rpc_batch_next(b)) {
  }
  for (rpc_pending *p = b->calls; p; p = p->next) {
    if (p->send) grpc_byte_buffer_destroy(p->send);
    if (p->recv) grpc_byte_buffer_destroy(p->recv);
    if (p->has_md) grpc_slice_unref(p->send_md[0].value);
    grpc_metadata_array_destroy(&p->recv_initial);
    grpc_metadata_array_destroy(&p->recv_trailing);
    grpc_slice_unref(p->details);
    if (p->error_string) gpr_free((void *)p->error_string);
    if (p->call) grpc_call_unref(p->call);
  }
  grpc_completion_queue_shutdown(b->cq);
  while (grpc_completion_queue_next(b->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
         GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(b->cq);
  free(b);
}

menu_status rpc_pending_status(const rpc_pending *p) { return p->status; }
const ProtobufCMessage *rpc_pending_response(const rpc_pending *p) { return p->response; }
void *rpc_pending_user(const rpc_pending *p) { return p->user; }
static int64_t ms(gpr_timespec t) { return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000; }
int64_t rpc_pending_end_ms(const rpc_pending *p) { return ms(p->end); }
