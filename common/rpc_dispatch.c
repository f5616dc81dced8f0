/* Matching calls to methods: every method keeps requests_per_method requested calls on each
 * completion queue; an arriving call is handed to the unary path (rpc_call.c) or to its
 * stream's state machine. Calls to unknown methods are answered UNIMPLEMENTED at once. */
#include <grpc/support/alloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/rpc_server_impl.h"
#include "common/status_details.h"

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

static void on_request(rpc_tag *tag, bool ok);

/* A stream refused before it starts: initial metadata and a status, then the call is freed. */
typedef struct {
  rpc_tag tag;
  grpc_call *call;
  grpc_slice message;
  int cancelled;
} rpc_refusal;

static void on_refused(rpc_tag *tag, bool ok) {
  rpc_refusal *f = (rpc_refusal *)tag;
  grpc_call_unref(f->call);
  grpc_slice_unref(f->message);
  free(f);
}

static void refuse(grpc_call *call, grpc_status_code code, const char *message) {
  rpc_refusal *f = calloc(1, sizeof *f);
  if (!f) abort();
  f->tag.fn = on_refused;
  f->call = call;
  f->message = grpc_slice_from_copied_string(message);
  grpc_op ops[3];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[1].data.send_status_from_server.status = code;
  ops[1].data.send_status_from_server.status_details = &f->message;
  ops[2].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  ops[2].data.recv_close_on_server.cancelled = &f->cancelled;
  if (grpc_call_start_batch(call, ops, 3, &f->tag, NULL) != GRPC_CALL_OK)
    on_refused(&f->tag, false);
}

/* Streams pass the same policy as unary calls; a refused one is counted and logged here. */
static bool stream_allowed(rpc_server *s, rpc_method *m, rpc_request *r) {
  if (!s->authz) return true;
  arena a;
  arena_init(&a);
  authz_peer peer;
  authz_peer_from_call(r->call, &a, &peer);
  char why[300];
  bool ok = rpc_authorize(s, m->path, &peer, &r->md, why, sizeof why);
  if (!ok) {
    log_line *l = log_begin(LOG_WARN, "rpc");
    log_str(l, "method", m->path);
    log_str(l, "status", "PERMISSION_DENIED");
    log_str(l, "error", why);
    log_str(l, "principal", peer.principal);
    char *peer = grpc_call_get_peer(r->call);
    log_str(l, "peer", peer);
    gpr_free(peer);
    log_end(l);
    metrics_add(s->m_handled, METRICS_LABELS(m->type, m->service, m->name, "PERMISSION_DENIED"), 1);
    if (r->payload) grpc_byte_buffer_destroy(r->payload);
    refuse(r->call, GRPC_STATUS_PERMISSION_DENIED, why);
  }
  arena_free(&a);
  return ok;
}

static bool reads_payload_first(const rpc_method *m) {
  return (m->kind == RPC_STREAM && !m->def.client_streaming) || m->kind == RPC_FEED;
}

static void request_post(rpc_server *s, rpc_method *m, int cq) {
  rpc_request *r = calloc(1, sizeof *r);
  if (!r) abort();
  r->tag.fn = on_request;
  r->server = s;
  r->method = m;
  r->cq = cq;
  grpc_metadata_array_init(&r->md);
  grpc_call_error err = grpc_server_request_registered_call(
      m->srv, m->handle, &r->call, &r->deadline, &r->md,
      reads_payload_first(m) ? &r->payload : NULL, s->cqs[cq], s->cqs[cq], &r->tag);
  if (err != GRPC_CALL_OK) {
    /* Only during shutdown: the server no longer takes requests. */
    grpc_metadata_array_destroy(&r->md);
    free(r);
  }
}

static void on_request(rpc_tag *tag, bool ok) {
  rpc_request *r = (rpc_request *)tag;
  rpc_server *s = r->server;
  rpc_method *m = r->method;
  if (!ok) { /* shutting down: this request will never be matched */
    grpc_metadata_array_destroy(&r->md);
    free(r);
    return;
  }
  if (!atomic_load(&s->stopping)) request_post(s, m, r->cq);
  metrics_add(s->m_started, METRICS_LABELS(m->type, m->service, m->name), 1);
  if ((m->kind == RPC_STREAM || m->kind == RPC_FEED) && !stream_allowed(s, m, r)) {
    grpc_metadata_array_destroy(&r->md);
  } else if (m->kind == RPC_FEED) {
    if (r->payload) metrics_add(s->m_msg_received, METRICS_LABELS(m->type, m->service, m->name), 1);
    rpc_feed_arrived(s, m, r->call, &r->md, r->payload);
  } else if (m->kind == RPC_STREAM) {
    rpc_stream *st = malloc(sizeof *st);
    if (!st) abort();
    st->server = s;
    st->method = m;
    st->started = gpr_now(GPR_CLOCK_MONOTONIC);
    if (r->payload) metrics_add(s->m_msg_received, METRICS_LABELS(m->type, m->service, m->name), 1);
    st->span = NULL;
    st->sent = st->received = 0;
    if (s->tracer) {
      char *peer = grpc_call_get_peer(r->call);
      st->span = rpc_trace_server_start(s->tracer, m->path, m->service, m->name, &r->md,
                                        s->cfg.listen_addr, s->port, peer);
      gpr_free(peer);
      if (r->payload)
        rpc_trace_message(st->span, false, ++st->received,
                          (int64_t)grpc_byte_buffer_length(r->payload));
    }
    grpc_metadata_array_destroy(&r->md);
    m->def.stream(st, r->call, r->payload, m->def.arg);
  } else {
    rpc_call_arrived(s, m, r->call, s->cqs[r->cq], &r->md, r->deadline);
  }
  free(r);
}

void rpc_stream_msg_sent(rpc_stream *st) {
  rpc_method *m = st->method;
  rpc_trace_message(st->span, true, ++st->sent, -1);
  metrics_add(st->server->m_msg_sent, METRICS_LABELS(m->type, m->service, m->name), 1);
}

void rpc_stream_msg_received(rpc_stream *st) {
  rpc_method *m = st->method;
  rpc_trace_message(st->span, false, ++st->received, -1);
  metrics_add(st->server->m_msg_received, METRICS_LABELS(m->type, m->service, m->name), 1);
}

void rpc_stream_end(rpc_stream *st, grpc_status_code code) {
  rpc_server *s = st->server;
  rpc_method *m = st->method;
  gpr_timespec d = gpr_time_sub(gpr_now(GPR_CLOCK_MONOTONIC), st->started);
  metrics_add(s->m_handled,
              METRICS_LABELS(m->type, m->service, m->name, menu_status_code_name(code)), 1);
  metrics_observe(s->m_seconds, METRICS_LABELS(m->type, m->service, m->name),
                  (double)d.tv_sec + d.tv_nsec / 1e9);
  rpc_trace_end(st->span, true, code, NULL);
  free(st);
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
  if (!u) abort();
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
    if (!atomic_load(&s->stopping)) unknown_post(s, u->srv, u->cq);
    char *method = grpc_slice_to_c_string(u->details.method);
    log_line *l = log_begin(LOG_WARN, "rpc");
    log_str(l, "method", method);
    log_str(l, "status", "UNIMPLEMENTED");
    char *peer = grpc_call_get_peer(u->call);
    log_str(l, "peer", peer);
    gpr_free(peer);
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

void rpc_dispatch_post_all(rpc_server *s) {
  for (int cq = 0; cq < s->cfg.cq_threads; cq++) {
    for (size_t i = 0; i < s->n_methods; i++)
      for (int k = 0; k < s->cfg.requests_per_method; k++) request_post(s, &s->methods[i], cq);
    for (int k = 0; k < 2; k++) unknown_post(s, s->server, cq);
    if (s->health_server) unknown_post(s, s->health_server, cq);
  }
}
