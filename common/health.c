/* grpc.health.v1.Health: Check (answered on the CQ thread, never queued behind handlers) and
 * Watch (a server stream that gets a message whenever the serving status changes, ended when
 * the server stops). "" means the whole server (process-level: SERVING from start to drain);
 * every registered service name is known and is SERVING when the server is and its readiness
 * (rpc_server_set_service_ready, driven by common/dependency.c) says so; anything else is
 * NOT_FOUND (Watch: SERVICE_UNKNOWN). Follows the server's state and readiness listeners. */
#include "common/health.h"

#include <grpc/grpc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/rpc_internal.h"
#include "grpc/health/v1/health.pb-c.h"

typedef Grpc__Health__V1__HealthCheckResponse__ServingStatus serving_status;
#define SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
#define NOT_SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
#define SERVICE_UNKNOWN GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN

typedef struct watcher watcher;

/* A service name some dependency made not ready (names never leave the list). */
typedef struct not_ready {
  struct not_ready *next;
  char *service;
  bool ready;
} not_ready;

struct health {
  rpc_server *server;
  pthread_mutex_t mu; /* guards everything below and every watcher */
  bool serving;       /* the whole server: started and not draining */
  bool ended;
  not_ready *services;
  watcher *watchers;
};

/* One Watch stream. Its tags fire on its CQ thread; state changes come from any thread. */
struct watcher {
  rpc_tag send_tag, close_tag;
  health *h;
  rpc_stream *stream;
  watcher *next;
  grpc_call *call;
  char *service;  /* the name watched, "" for the server */
  bool known;     /* service name registered */
  bool sending;   /* a SEND_MESSAGE batch is in flight */
  bool dirty;     /* status changed while sending */
  bool closed;    /* RECV_CLOSE_ON_SERVER completed */
  bool finishing; /* status sent or being sent */
  int last_sent;  /* -1: nothing yet */
  int cancelled;
  grpc_byte_buffer *msg;
  grpc_slice details;
};

void health_destroy(health *h) {
  if (!h) return;
  for (not_ready *n = h->services, *next; n; n = next) {
    next = n->next;
    free(n->service);
    free(n);
  }
  pthread_mutex_destroy(&h->mu);
  free(h);
}

static bool known_service(health *h, const char *name) {
  if (!*name) return true;
  for (size_t i = 0; i < rpc_server_service_count(h->server); i++)
    if (!strcmp(rpc_server_service_name(h->server, i), name)) return true;
  return false;
}

/* Caller holds h->mu. The status of a known name. */
static serving_status status_of(const health *h, const char *service) {
  if (!h->serving) return NOT_SERVING;
  for (const not_ready *n = h->services; n && *service; n = n->next)
    if (!strcmp(n->service, service)) return n->ready ? SERVING : NOT_SERVING;
  return SERVING;
}

static void check(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp, void *arg) {
  health *h = arg;
  const Grpc__Health__V1__HealthCheckRequest *in = (const void *)req;
  Grpc__Health__V1__HealthCheckResponse *out = (void *)resp;
  if (!known_service(h, in->service)) {
    rpc_ctx_reply(ctx, MENU_NOT_FOUND("unknown service %s", in->service));
    return;
  }
  pthread_mutex_lock(&h->mu);
  out->status = status_of(h, in->service);
  pthread_mutex_unlock(&h->mu);
  rpc_ctx_reply(ctx, MENU_OK);
}

/* ---- Watch ---------------------------------------------------------------------------------- */

static void watcher_free(watcher *w) {
  health *h = w->h;
  for (watcher **p = &h->watchers; *p; p = &(*p)->next)
    if (*p == w) {
      *p = w->next;
      break;
    }
  if (w->msg) grpc_byte_buffer_destroy(w->msg);
  grpc_slice_unref(w->details);
  grpc_call_unref(w->call);
  free(w->service);
  rpc_stream_end(w->stream, w->cancelled   ? GRPC_STATUS_CANCELLED
                            : w->finishing ? GRPC_STATUS_UNAVAILABLE
                                           : GRPC_STATUS_OK);
  free(w);
}

/* Caller holds h->mu. Sends the current status if it differs from the last one sent; after
 * shutdown also ends the stream. */
static void watcher_pump(watcher *w) {
  health *h = w->h;
  if (w->sending || w->closed) return;
  int status = w->known ? (int)status_of(h, w->service) : SERVICE_UNKNOWN;
  grpc_op ops[3];
  memset(ops, 0, sizeof ops);
  size_t n = 0;
  if (w->last_sent < 0) {
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
  }
  if (status != w->last_sent) {
    Grpc__Health__V1__HealthCheckResponse r = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    r.status = (serving_status)status;
    grpc_slice slice = rpc_slice_from_message(&r.base);
    if (w->msg) grpc_byte_buffer_destroy(w->msg);
    w->msg = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = w->msg;
    w->last_sent = status;
    rpc_stream_msg_sent(w->stream);
  }
  if (h->ended && !w->finishing) {
    w->finishing = true;
    w->details = grpc_slice_from_static_string("server shutting down");
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = GRPC_STATUS_UNAVAILABLE;
    ops[n++].data.send_status_from_server.status_details = &w->details;
  }
  if (!n) return;
  w->sending = true;
  if (grpc_call_start_batch(w->call, ops, n, &w->send_tag, NULL) != GRPC_CALL_OK) {
    w->sending = false;
    grpc_call_cancel(w->call, NULL);
  }
}

static void on_send(rpc_tag *tag, bool ok) {
  watcher *w = (watcher *)((char *)tag - offsetof(watcher, send_tag));
  health *h = w->h;
  pthread_mutex_lock(&h->mu);
  w->sending = false;
  if (w->closed)
    watcher_free(w);
  else if (ok)
    watcher_pump(w);
  pthread_mutex_unlock(&h->mu);
}

static void on_close(rpc_tag *tag, bool ok) {
  watcher *w = (watcher *)((char *)tag - offsetof(watcher, close_tag));
  health *h = w->h;
  pthread_mutex_lock(&h->mu);
  w->closed = true;
  if (!w->sending) watcher_free(w);
  pthread_mutex_unlock(&h->mu);
}

static void watch_start(rpc_stream *st, grpc_call *call, grpc_byte_buffer *payload, void *arg) {
  health *h = arg;
  arena a;
  arena_init(&a);
  Grpc__Health__V1__HealthCheckRequest *req = NULL;
  if (payload) {
    unsigned char *data;
    size_t n = rpc_read_byte_buffer(payload, &a, &data);
    req = grpc__health__v1__health_check_request__unpack(&a.pb, n, data);
    grpc_byte_buffer_destroy(payload);
  }
  watcher *w = calloc(1, sizeof *w);
  w->send_tag.fn = on_send;
  w->close_tag.fn = on_close;
  w->h = h;
  w->stream = st;
  w->call = call;
  w->last_sent = -1;
  w->known = req && known_service(h, req->service);
  w->service = strdup(req ? req->service : "");
  if (!w->service) abort();
  w->details = grpc_empty_slice();
  arena_free(&a);

  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  op.data.recv_close_on_server.cancelled = &w->cancelled;
  pthread_mutex_lock(&h->mu);
  w->next = h->watchers;
  h->watchers = w;
  if (grpc_call_start_batch(call, &op, 1, &w->close_tag, NULL) != GRPC_CALL_OK) {
    /* cannot happen on a fresh call; drop it rather than leak */
    w->closed = true;
    watcher_free(w);
  } else {
    watcher_pump(w);
  }
  pthread_mutex_unlock(&h->mu);
}

static void set_serving(health *h, bool serving) {
  pthread_mutex_lock(&h->mu);
  h->serving = serving;
  for (watcher *w = h->watchers; w; w = w->next) watcher_pump(w);
  pthread_mutex_unlock(&h->mu);
}

/* Ends every Watch stream (after a last NOT_SERVING message) so shutdown need not wait. */
static void end_watches(health *h) {
  pthread_mutex_lock(&h->mu);
  h->ended = true;
  for (watcher *w = h->watchers; w; w = w->next) watcher_pump(w);
  pthread_mutex_unlock(&h->mu);
}

/* The readiness listener: any thread (the dependency monitor's). */
static void on_readiness(void *arg, const char *service, bool ready) {
  health *h = arg;
  if (!*service || !known_service(h, service)) return;
  pthread_mutex_lock(&h->mu);
  not_ready *n = h->services;
  while (n && strcmp(n->service, service)) n = n->next;
  if (!n) {
    n = calloc(1, sizeof *n);
    if (!n || !(n->service = strdup(service))) abort();
    n->ready = true;
    n->next = h->services;
    h->services = n;
  }
  if (n->ready != ready) {
    n->ready = ready;
    for (watcher *w = h->watchers; w; w = w->next) watcher_pump(w);
  }
  pthread_mutex_unlock(&h->mu);
}

static void on_state(void *arg, rpc_server_state state) {
  health *h = arg;
  switch (state) {
    case RPC_SERVER_SERVING:
      set_serving(h, true);
      break;
    case RPC_SERVER_DRAINING:
      set_serving(h, false);
      break;
    case RPC_SERVER_STOPPING:
      end_watches(h);
      break;
  }
}

health *health_attach(rpc_server *s) {
  health *h = calloc(1, sizeof *h);
  if (!h) abort();
  h->server = s;
  pthread_mutex_init(&h->mu, NULL);
  const ProtobufCServiceDescriptor *d = &grpc__health__v1__health__descriptor;
  const ProtobufCMethodDescriptor *c = protobuf_c_service_descriptor_get_method_by_name(d, "Check");
  const ProtobufCMethodDescriptor *w = protobuf_c_service_descriptor_get_method_by_name(d, "Watch");
  rpc_method_def check_def = {.service = d->name,
                              .method = "Check",
                              .in = c->input,
                              .out = c->output,
                              .async_fn = check,
                              .flags = RPC_METHOD_PROBE | RPC_METHOD_QUIET,
                              .arg = h};
  rpc_method_def watch_def = {.service = d->name,
                              .method = "Watch",
                              .in = w->input,
                              .out = w->output,
                              .stream = watch_start,
                              .flags = RPC_METHOD_PROBE,
                              .arg = h};
  if (rpc_server_add_method(s, &check_def) || rpc_server_add_method(s, &watch_def)) {
    health_destroy(h);
    return NULL;
  }
  rpc_server_on_state(s, on_state, h);
  rpc_server_on_readiness(s, on_readiness, h);
  return h;
}
