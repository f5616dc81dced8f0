/* One unary call, from arrival to accounting. On the CQ thread: admission (calls in flight,
 * request bytes), reading the message only once admitted, and the reply. On a handler thread
 * (synchronous methods): dropping the call if its caller left or its deadline passed while it
 * was queued, decoding, the handler. rpc_call_send is the one place a status is sent. */
#include <grpc/support/alloc.h>
#include <grpc/support/string_util.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mono_clock.h"
#include "common/prng.h"
#include "common/rpc_server_impl.h"
#include "common/status_details.h"
#include "common/strict_strings.h"

static gpr_timespec now_mono(void) { return gpr_now(GPR_CLOCK_MONOTONIC); }

static double seconds_between(gpr_timespec a, gpr_timespec b) {
  gpr_timespec d = gpr_time_sub(b, a);
  return (double)d.tv_sec + d.tv_nsec / 1e9;
}

/* Per-thread by nature: the call whose handler runs on this handler thread. */
static __thread const rpc_ctx *current_ctx;

static void on_recv(rpc_tag *tag, bool ok);
static void on_done(rpc_tag *tag, bool ok);
static void on_close(rpc_tag *tag, bool ok);
static void call_send(rpc_ctx *ctx);

/* ---- request ids -------------------------------------------------------------------------- */

/* A version-4 UUID in arena memory. */
const char *rpc_request_id_make(arena *a) {
  static const char hex[] = "0123456789abcdef";
  unsigned char b[16];
  uint64_t r0 = prng_u64(), r1 = prng_u64();
  memcpy(b, &r0, 8);
  memcpy(b + 8, &r1, 8);
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  char *out = arena_alloc(a, 37), *p = out;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
    *p++ = hex[b[i] >> 4];
    *p++ = hex[b[i] & 15];
  }
  *p = 0;
  return out;
}

/* Request ids are echoed into logs and other services' metadata: keep them printable. */
static bool request_id_ok(const grpc_slice *v) {
  size_t n = GRPC_SLICE_LENGTH(*v);
  const unsigned char *p = GRPC_SLICE_START_PTR(*v);
  if (n == 0 || n > 128) return false;
  for (size_t i = 0; i < n; i++)
    if (p[i] < 0x21 || p[i] > 0x7e) return false;
  return true;
}

static const grpc_slice *metadata_find(const grpc_metadata_array *md, const char *key) {
  size_t klen = strlen(key);
  for (size_t i = 0; i < md->count; i++) {
    const grpc_slice *k = &md->metadata[i].key;
    if (GRPC_SLICE_LENGTH(*k) == klen && !memcmp(GRPC_SLICE_START_PTR(*k), key, klen))
      return &md->metadata[i].value;
  }
  return NULL;
}

/* ---- request bytes ------------------------------------------------------------------------ */

/* Under calls_mu: a call may start reading when the bytes charged so far leave room for a
 * message of the largest size accepted (or nothing is charged, so that one call always can). */
static bool budget_fits(rpc_server *s) {
  return s->bytes_charged == 0 ||
         s->bytes_charged + s->cfg.max_recv_bytes <= s->cfg.max_queued_bytes;
}

/* Under calls_mu: takes the waiting calls that now fit; returns them as a list to start. */
static rpc_ctx *budget_take_waiters(rpc_server *s, bool all) {
  rpc_ctx *start = NULL, **tail = &start;
  while (s->wait_head && (all || budget_fits(s))) {
    rpc_ctx *c = s->wait_head;
    s->wait_head = c->next_wait;
    if (!s->wait_head) s->wait_tail = NULL;
    c->next_wait = NULL;
    if (!all) {
      c->charged = (size_t)s->cfg.max_recv_bytes;
      s->bytes_charged += (int64_t)c->charged;
    }
    *tail = c;
    tail = &c->next_wait;
  }
  return start;
}

static void recv_start(rpc_ctx *ctx) {
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &ctx->payload;
  ctx->recv_tag.fn = on_recv;
  if (grpc_call_start_batch(ctx->call, &op, 1, &ctx->recv_tag, NULL) != GRPC_CALL_OK)
    on_recv(&ctx->recv_tag, false);
}

static void recv_start_list(rpc_ctx *list) {
  while (list) {
    rpc_ctx *next = list->next_wait;
    list->next_wait = NULL;
    recv_start(list);
    list = next;
  }
}

/* Re-charges the call with `bytes` and lets waiting calls read. */
static void budget_set(rpc_ctx *ctx, size_t bytes) {
  rpc_server *s = ctx->server;
  if (ctx->charged == bytes) return;
  pthread_mutex_lock(&s->calls_mu);
  s->bytes_charged += (int64_t)bytes - (int64_t)ctx->charged;
  ctx->charged = bytes;
  rpc_ctx *start = budget_take_waiters(s, false);
  pthread_mutex_unlock(&s->calls_mu);
  recv_start_list(start);
}

/* ---- arrival and admission ---------------------------------------------------------------- */

static void reject(rpc_ctx *ctx, const char *reason, menu_status st) {
  metrics_add(ctx->server->m_rejected, METRICS_LABELS(reason), 1);
  rpc_ctx_log_str(ctx, "rejected", reason);
  rpc_ctx_reply(ctx, st);
}

void rpc_call_arrived(rpc_server *s, rpc_method *m, grpc_call *call, grpc_completion_queue *cq,
                      grpc_metadata_array *md, gpr_timespec deadline) {
  rpc_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) abort();
  ctx->server = s;
  ctx->method = m;
  ctx->call = call;
  /* Now, while the connection is up: once the caller has gone the core answers "unknown". */
  ctx->peer = grpc_call_get_peer(call);
  ctx->cq = cq;
  ctx->md = *md; /* moved */
  ctx->started = now_mono();
  arena_init(&ctx->arena);
  deadline = gpr_convert_clock_type(deadline, GPR_CLOCK_MONOTONIC);
  gpr_timespec cap =
      gpr_time_add(ctx->started, gpr_time_from_millis(s->cfg.default_deadline_ms, GPR_TIMESPAN));
  ctx->deadline = gpr_time_cmp(deadline, cap) < 0 ? deadline : cap;
  const grpc_slice *rid = metadata_find(&ctx->md, "x-request-id");
  ctx->request_id = rid && request_id_ok(rid)
                        ? arena_strndup(&ctx->arena, (const char *)GRPC_SLICE_START_PTR(*rid),
                                        GRPC_SLICE_LENGTH(*rid))
                        : rpc_request_id_make(&ctx->arena);
  if (s->tracer)
    ctx->span = rpc_trace_server_start(s->tracer, m->path, m->service, m->name, &ctx->md,
                                       s->cfg.listen_addr, s->port, rpc_ctx_peer(ctx));
  ctx->pending_tags = 2;
  ctx->close_tag.fn = on_close;
  ctx->done_tag.fn = on_done;
  grpc_op close_op;
  memset(&close_op, 0, sizeof close_op);
  close_op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  close_op.data.recv_close_on_server.cancelled = &ctx->close_cancelled;
  if (grpc_call_start_batch(ctx->call, &close_op, 1, &ctx->close_tag, NULL) != GRPC_CALL_OK)
    ctx->pending_tags = 1; /* cannot happen on a fresh call; finish without it */

  if (s->authz) {
    const authz_peer *peer = rpc_ctx_peer_identity(ctx);
    char why[300];
    bool ok = rpc_authorize(s, m->path, peer, &ctx->md, why, sizeof why);
    rpc_ctx_log_str(ctx, "principal", peer->principal);
    if (!ok) {
      reject(ctx, "unauthorized", menu_status_make(GRPC_STATUS_PERMISSION_DENIED, "%s", why));
      return;
    }
  }
  if (m->kind == RPC_UNIMPLEMENTED) {
    rpc_ctx_reply(
        ctx, menu_status_make(GRPC_STATUS_UNIMPLEMENTED, "%s is not implemented yet", m->path));
    return;
  }
  bool probe = m->def.flags & RPC_METHOD_PROBE;
  if (!probe) {
    /* Admission: decided here, before a byte of the message is read. */
    if (atomic_load(&s->stopping)) {
      reject(ctx, "draining", MENU_UNAVAILABLE("server shutting down: retry on another replica"));
      return;
    }
    if (atomic_fetch_add(&s->in_flight, 1) >= s->cfg.max_in_flight) {
      atomic_fetch_sub(&s->in_flight, 1);
      reject(ctx, "overload",
             menu_status_make(GRPC_STATUS_RESOURCE_EXHAUSTED,
                              "server overloaded: %d calls in flight", s->cfg.max_in_flight));
      return;
    }
  }
  ctx->admitted = !probe;
  bool read_now = true;
  if (ctx->admitted) {
    pthread_mutex_lock(&s->calls_mu);
    ctx->next = s->calls;
    if (s->calls) s->calls->prev = ctx;
    s->calls = ctx;
    if (budget_fits(s)) {
      ctx->charged = (size_t)s->cfg.max_recv_bytes;
      s->bytes_charged += (int64_t)ctx->charged;
    } else {
      read_now = false;
      if (s->wait_tail)
        s->wait_tail->next_wait = ctx;
      else
        s->wait_head = ctx;
      s->wait_tail = ctx;
    }
    pthread_mutex_unlock(&s->calls_mu);
  }
  if (read_now) recv_start(ctx);
}

/* Messages up to this size are copied into the call's arena for decoding; larger ones into a
 * buffer freed as soon as they are decoded (above M_MMAP_THRESHOLD glibc maps and unmaps it), so
 * that a call holds a large request once, decoded, and not a second time until it ends. */
#define DECODE_ARENA_MAX (64 * 1024)

/* Checks the wire bytes of a request and decodes them into the arena. */
static menu_status decode_bytes(rpc_ctx *ctx, const unsigned char *data, size_t n,
                                ProtobufCMessage **req) {
  const ProtobufCMessageDescriptor *in = ctx->method->def.in;
  *req = protobuf_c_message_unpack(in, &ctx->arena.pb, n, data);
  if (!*req) return MENU_INVALID("request does not decode as %s", in->name);
  /* NUL, control characters, bad UTF-8, version at its maximum: before any handler sees them. */
  return strict_strings_check(in, data, n);
}

/* Decodes the request into the arena and prepares the response message. */
static menu_status call_decode(rpc_ctx *ctx, ProtobufCMessage **req) {
  rpc_method *m = ctx->method;
  size_t n = grpc_byte_buffer_length(ctx->payload);
  bool large = n > DECODE_ARENA_MAX;
  unsigned char *data = large ? malloc(n) : arena_alloc(&ctx->arena, n ? n : 1);
  if (!data) abort();
  bool readable = rpc_byte_buffer_copy(ctx->payload, data);
  grpc_byte_buffer_destroy(ctx->payload);
  ctx->payload = NULL;
  ctx->msg_received = true;
  menu_status st = readable ? decode_bytes(ctx, data, n, req)
                            : MENU_INVALID("request does not decode as %s", m->def.in->name);
  if (large) free(data);
  if (!menu_status_is_ok(&st)) return st;
  ctx->resp = arena_alloc(&ctx->arena, m->def.out->sizeof_message);
  protobuf_c_message_init(m->def.out, ctx->resp);
  return MENU_OK;
}

static void on_recv(rpc_tag *tag, bool ok) {
  rpc_ctx *ctx = (rpc_ctx *)((char *)tag - offsetof(rpc_ctx, recv_tag));
  rpc_server *s = ctx->server;
  if (ctx->admitted) budget_set(ctx, ctx->payload ? grpc_byte_buffer_length(ctx->payload) : 0);
  if (!ok || !ctx->payload) {
    rpc_ctx_reply(ctx, MENU_INVALID("request message missing"));
    return;
  }
  if (ctx->method->kind == RPC_ASYNC) {
    ProtobufCMessage *req;
    menu_status st = call_decode(ctx, &req);
    if (!menu_status_is_ok(&st)) {
      rpc_ctx_reply(ctx, st);
      return;
    }
    trace_span *outer = trace_current_set(ctx->span);
    ctx->method->def.async_fn(ctx, req, ctx->resp, ctx->method->def.arg);
    trace_current_set(outer);
    return;
  }
  rpc_workqueue_push(s->queue, &ctx->job);
}

/* ---- the handler thread ------------------------------------------------------------------- */

void rpc_call_run(rpc_job *job, void *arg) {
  rpc_ctx *ctx = (rpc_ctx *)job;
  rpc_server *s = arg;
  metrics_observe(s->m_queued_seconds, METRICS_NO_LABELS, seconds_between(job->queued, now_mono()));
  /* Nobody is waiting for this one any more: no handler work. */
  if (atomic_load(&s->cancel_all)) {
    reject(ctx, "stopping", MENU_UNAVAILABLE("server shutting down: retry on another replica"));
    return;
  }
  if (rpc_ctx_expired(ctx)) {
    reject(ctx, "deadline",
           menu_status_make(GRPC_STATUS_DEADLINE_EXCEEDED, "deadline passed while queued"));
    return;
  }
  if (atomic_load(&ctx->cancelled)) {
    reject(ctx, "cancelled", menu_status_make(GRPC_STATUS_CANCELLED, "cancelled by the caller"));
    return;
  }
  ProtobufCMessage *req;
  menu_status st = call_decode(ctx, &req);
  if (menu_status_is_ok(&st)) {
    current_ctx = ctx;
    trace_span *outer = trace_current_set(ctx->span);
    st = ctx->method->def.fn(ctx, req, ctx->resp, ctx->method->def.arg);
    trace_current_set(outer);
    current_ctx = NULL;
  }
  rpc_ctx_reply(ctx, st);
}

/* ---- the reply ---------------------------------------------------------------------------- */

void rpc_ctx_reply(rpc_ctx *ctx, menu_status st) {
  if (atomic_exchange(&ctx->replied, true)) return;
  ctx->status = st;
  if (ctx->status.code == GRPC_STATUS_OK && rpc_ctx_expired(ctx))
    ctx->status = menu_status_make(GRPC_STATUS_DEADLINE_EXCEEDED, "deadline exceeded");
  if (!ctx->call) {
    rpc_local_reply(ctx);
    return;
  }
  call_send(ctx);
}

void rpc_ctx_reply_encoded(rpc_ctx *ctx, const void *bytes, size_t len) {
  if (atomic_load(&ctx->replied)) return;
  ctx->encoded = grpc_slice_from_copied_buffer(bytes, len);
  ctx->has_encoded = true;
  rpc_ctx_reply(ctx, MENU_OK);
}

/* Sends x-request-id, the response when OK, and the status. An error goes out as a
 * Trailers-Only response, x-request-id among the trailers: a client's retry policy may retry
 * only those (gRPC A6), and custom initial metadata would turn it into headers + trailers. */
static void call_send(rpc_ctx *ctx) {
  grpc_op ops[3];
  memset(ops, 0, sizeof ops);
  size_t n = 0;
  bool ok = ctx->status.code == GRPC_STATUS_OK;
  ctx->initial_md[0].key = grpc_slice_from_static_string("x-request-id");
  ctx->initial_md[0].value =
      grpc_slice_from_static_buffer(ctx->request_id, strlen(ctx->request_id));
  ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[n].data.send_initial_metadata.count = ok ? 1 : 0;
  ops[n].data.send_initial_metadata.metadata = ok ? ctx->initial_md : NULL;
  n++;
  if (ctx->has_encoded && !ok) grpc_slice_unref(ctx->encoded); /* e.g. the deadline passed */
  if (ctx->status.code == GRPC_STATUS_OK && (ctx->resp || ctx->has_encoded)) {
    grpc_slice slice = ctx->has_encoded ? ctx->encoded : rpc_slice_from_message(ctx->resp);
    ctx->reply = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = ctx->reply;
    n++;
  }
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[n].data.send_status_from_server.status = ctx->status.code;
  if (!ok) {
    /* A datastore or backend failure names the request id, whose log line has the detail. */
    const char *msg = ctx->status.message;
    if (ctx->status.detail[0])
      msg = arena_sprintf(&ctx->arena, "%s (request id %s)", msg, ctx->request_id);
    ctx->status_details = grpc_slice_from_static_buffer(msg, strlen(msg));
    ctx->trailer[0].key = grpc_slice_from_static_string(STATUS_DETAILS_KEY);
    ctx->trailer[0].value = status_details_encode(&ctx->status, msg, ctx->request_id);
    ops[n].data.send_status_from_server.status_details = &ctx->status_details;
    ctx->trailer[1] = ctx->initial_md[0]; /* x-request-id: static slices, nothing to unref */
    ops[n].data.send_status_from_server.trailing_metadata_count = 2;
    ops[n].data.send_status_from_server.trailing_metadata = ctx->trailer;
  }
  n++;
  if (grpc_call_start_batch(ctx->call, ops, n, &ctx->done_tag, NULL) != GRPC_CALL_OK) {
    log_error("start_batch failed", "method", ctx->method->path, NULL);
    on_done(&ctx->done_tag, false);
  }
}

/* ---- the end of a call -------------------------------------------------------------------- */

static void call_finish(rpc_ctx *ctx);

static void on_done(rpc_tag *tag, bool ok) {
  rpc_ctx *ctx = (rpc_ctx *)((char *)tag - offsetof(rpc_ctx, done_tag));
  ctx->reply_ok = ok;
  if (atomic_fetch_sub(&ctx->pending_tags, 1) == 1) call_finish(ctx);
}

static void on_close(rpc_tag *tag, bool ok) {
  rpc_ctx *ctx = (rpc_ctx *)((char *)tag - offsetof(rpc_ctx, close_tag));
  if (ctx->close_cancelled) atomic_store(&ctx->cancelled, true);
  if (atomic_fetch_sub(&ctx->pending_tags, 1) == 1) call_finish(ctx);
}

static void call_log(rpc_ctx *ctx, grpc_status_code code, double secs) {
  rpc_method *m = ctx->method;
  log_level lvl = code == GRPC_STATUS_OK
                      ? ((m->def.flags & RPC_METHOD_QUIET) ? LOG_DEBUG : LOG_INFO)
                  : (code == GRPC_STATUS_INTERNAL || code == GRPC_STATUS_UNKNOWN ||
                     code == GRPC_STATUS_DATA_LOSS)
                      ? LOG_ERROR
                      : LOG_WARN;
  log_line *l = log_begin(lvl, "rpc");
  if (!l) return;
  log_str(l, "method", m->path);
  log_str(l, "status", menu_status_code_name(code));
  if (code != GRPC_STATUS_OK)
    log_str(l, "error",
            ctx->status.code != GRPC_STATUS_OK ? ctx->status.message
                                               : "ended by the caller or the server");
  if (code != GRPC_STATUS_OK && ctx->status.detail[0])
    log_str(l, "error_detail", ctx->status.detail);
  log_double(l, "duration_ms", round(secs * 1e6) / 1e3);
  log_str(l, "peer", rpc_ctx_peer(ctx));
  log_str(l, "request_id", ctx->request_id);
  if (ctx->span) {
    char trace_id[33], span_id[17];
    trace_span_ids(ctx->span, trace_id, span_id);
    log_str(l, "trace_id", trace_id);
    log_str(l, "span_id", span_id);
  }
  for (struct log_field *f = ctx->fields; f; f = f->next) {
    if (f->str)
      log_str(l, f->key, f->str);
    else
      log_int(l, f->key, f->num);
  }
  log_end(l);
}

/* Both batches are done: account for the call and free it. */
static void call_finish(rpc_ctx *ctx) {
  rpc_server *s = ctx->server;
  rpc_method *m = ctx->method;
  gpr_timespec end = now_mono();
  grpc_status_code code = ctx->status.code;
  if (ctx->forced_code != GRPC_STATUS_OK) {
    code = ctx->forced_code;
  } else if (ctx->close_cancelled || !ctx->reply_ok) {
    /* The client went away or the deadline passed while we worked: that is what it saw. */
    code = gpr_time_cmp(end, ctx->deadline) >= 0 ? GRPC_STATUS_DEADLINE_EXCEEDED
                                                 : GRPC_STATUS_CANCELLED;
  }
  double secs = seconds_between(ctx->started, end);
  metrics_add(s->m_handled,
              METRICS_LABELS(m->type, m->service, m->name, menu_status_code_name(code)), 1);
  metrics_observe(s->m_seconds, METRICS_LABELS(m->type, m->service, m->name), secs);
  if (ctx->msg_received)
    metrics_add(s->m_msg_received, METRICS_LABELS(m->type, m->service, m->name), 1);
  if (ctx->reply && ctx->reply_ok)
    metrics_add(s->m_msg_sent, METRICS_LABELS(m->type, m->service, m->name), 1);
  call_log(ctx, code, secs);
  rpc_trace_end(ctx->span, true, code,
                ctx->status.code != GRPC_STATUS_OK ? ctx->status.message
                                                   : "ended by the caller or the server");

  if (ctx->reply) grpc_byte_buffer_destroy(ctx->reply);
  if (ctx->payload) grpc_byte_buffer_destroy(ctx->payload);
  grpc_slice_unref(ctx->trailer[0].value);
  grpc_metadata_array_destroy(&ctx->md);
  if (ctx->peer) gpr_free(ctx->peer);
  arena_free(&ctx->arena);
  /* Only now that its memory is back are the call's bytes and slot given to others; it leaves
   * the list rpc_call_cancel_all walks before its call is released. */
  rpc_ctx *start = NULL;
  if (ctx->admitted) {
    pthread_mutex_lock(&s->calls_mu);
    if (ctx->prev)
      ctx->prev->next = ctx->next;
    else
      s->calls = ctx->next;
    if (ctx->next) ctx->next->prev = ctx->prev;
    s->bytes_charged -= (int64_t)ctx->charged;
    start = budget_take_waiters(s, false);
    pthread_mutex_unlock(&s->calls_mu);
  }
  grpc_call_unref(ctx->call);
  if (ctx->admitted) {
    recv_start_list(start);
    atomic_fetch_sub(&s->in_flight, 1);
  }
  free(ctx);
}

void rpc_call_cancel_all(rpc_server *s) {
  atomic_store(&s->cancel_all, true);
  pthread_mutex_lock(&s->calls_mu);
  for (rpc_ctx *c = s->calls; c; c = c->next) {
    if (atomic_load(&c->replied)) continue;
    c->forced_code = GRPC_STATUS_UNAVAILABLE;
    grpc_call_cancel_with_status(c->call, GRPC_STATUS_UNAVAILABLE,
                                 "server shutting down: retry on another replica", NULL);
  }
  rpc_ctx *start = budget_take_waiters(s, true); /* their reads fail at once now */
  pthread_mutex_unlock(&s->calls_mu);
  recv_start_list(start);
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
gpr_timespec rpc_ctx_work_deadline(const rpc_ctx *ctx, int64_t max_margin_ms) {
  int64_t left = rpc_ctx_remaining_ms(ctx);
  int64_t margin = left / 10 < max_margin_ms ? left / 10 : max_margin_ms;
  return gpr_time_sub(ctx->deadline, gpr_time_from_millis(margin, GPR_TIMESPAN));
}
int64_t rpc_ctx_work_deadline_ms(const rpc_ctx *ctx) {
  gpr_timespec left = gpr_time_sub(rpc_ctx_work_deadline(ctx, 100), now_mono());
  int64_t ms = gpr_time_to_millis(left);
  return mono_now_ms() + (ms > 0 ? ms : 0);
}
bool rpc_ctx_expired(const rpc_ctx *ctx) { return gpr_time_cmp(now_mono(), ctx->deadline) >= 0; }
bool rpc_ctx_cancelled(const rpc_ctx *ctx) {
  return atomic_load(&((rpc_ctx *)ctx)->cancelled) || atomic_load(&ctx->server->cancel_all) ||
         rpc_ctx_expired(ctx);
}
const rpc_ctx *rpc_ctx_current(void) { return current_ctx; }
bool rpc_current_cancelled(void) { return current_ctx && rpc_ctx_cancelled(current_ctx); }
const char *rpc_ctx_request_id(const rpc_ctx *ctx) { return ctx->request_id; }
const char *rpc_ctx_metadata(rpc_ctx *ctx, const char *key) {
  const grpc_slice *v = metadata_find(&ctx->md, key);
  return v ? arena_strndup(&ctx->arena, (const char *)GRPC_SLICE_START_PTR(*v),
                           GRPC_SLICE_LENGTH(*v))
           : NULL;
}
const char *rpc_ctx_peer(rpc_ctx *ctx) {
  if (!ctx->peer) ctx->peer = ctx->call ? grpc_call_get_peer(ctx->call) : gpr_strdup("local");
  return ctx->peer;
}
const char *rpc_ctx_method(const rpc_ctx *ctx) { return ctx->method->path; }
trace_span *rpc_ctx_span(const rpc_ctx *ctx) { return ctx->span; }
grpc_call *rpc_ctx_call(const rpc_ctx *ctx) { return ctx->call; }
grpc_completion_queue *rpc_ctx_cq(const rpc_ctx *ctx) { return ctx->cq; }
const grpc_metadata_array *rpc_ctx_incoming(const rpc_ctx *ctx) { return &ctx->md; }
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
