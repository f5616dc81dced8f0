/* Feeds: long-lived server streams whose messages come from their owner (rpc_server.h). One
 * batch is in flight per stream at a time; the outbox holds the item being sent and at most one
 * queued item, which a newer one replaces. A stream is over when RECV_CLOSE_ON_SERVER has
 * completed and no batch is in flight; it is freed once its owner has released it too. With
 * tracing on, a stream is one SERVER span from arrival to its final status, with a "message"
 * event per message (added under the feed's lock, so one thread at a time touches the span). */
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/rpc_server_impl.h"
#include "common/status_details.h"
#include "common/strict_strings.h"

struct rpc_feed_item {
  atomic_int refs;
  size_t n, bytes;
  grpc_slice msgs[];
};

rpc_feed_item *rpc_feed_item_create(const grpc_slice *msgs, size_t n) {
  rpc_feed_item *it = malloc(sizeof *it + n * sizeof(grpc_slice));
  if (!it) abort();
  atomic_init(&it->refs, 1);
  it->n = n;
  it->bytes = 0;
  for (size_t i = 0; i < n; i++) {
    it->msgs[i] = grpc_slice_ref(msgs[i]);
    it->bytes += GRPC_SLICE_LENGTH(msgs[i]);
  }
  return it;
}

rpc_feed_item *rpc_feed_item_ref(rpc_feed_item *it) {
  atomic_fetch_add(&it->refs, 1);
  return it;
}

void rpc_feed_item_unref(rpc_feed_item *it) {
  if (!it || atomic_fetch_sub(&it->refs, 1) != 1) return;
  for (size_t i = 0; i < it->n; i++) grpc_slice_unref(it->msgs[i]);
  free(it);
}

size_t rpc_feed_item_bytes(const rpc_feed_item *it) { return it->bytes; }

struct rpc_feed {
  rpc_tag send_tag;  /* the one batch in flight: metadata, a message, or the status */
  rpc_tag close_tag; /* RECV_CLOSE_ON_SERVER */
  rpc_server *server;
  rpc_method *method;
  grpc_call *call;
  char *peer;
  grpc_metadata_array md;
  gpr_timespec started;
  trace_span *span;   /* SERVER span, NULL when tracing is off; ended when the stream is over */
  pthread_mutex_t mu; /* guards everything below */
  int refs;           /* the owner's and the stream's */
  bool md_sent, sending, closed, end_requested, status_sent, over;
  int cancelled;
  rpc_feed_item *current; /* being sent: msgs[next_msg] is the next one */
  size_t next_msg;
  rpc_feed_item *queued;
  grpc_byte_buffer *bb; /* of the batch in flight */
  menu_status end_status;
  grpc_slice end_details;
  grpc_metadata trailer[1];
  bool has_trailer;
  uint64_t sent;
  rpc_feed_ended_fn on_end;
  void *on_end_arg;
  struct rpc_feed *prev, *next; /* the server's list, under feeds_mu */
};

static void feed_free(rpc_feed *f) {
  rpc_feed_item_unref(f->current);
  rpc_feed_item_unref(f->queued);
  if (f->bb) grpc_byte_buffer_destroy(f->bb);
  grpc_slice_unref(f->end_details);
  if (f->has_trailer) grpc_slice_unref(f->trailer[0].value);
  grpc_metadata_array_destroy(&f->md);
  grpc_call_unref(f->call);
  gpr_free(f->peer);
  pthread_mutex_destroy(&f->mu);
  free(f);
}

/* Under f->mu; true when the last reference went. */
static bool unref_locked(rpc_feed *f) { return --f->refs == 0; }

/* Under f->mu: starts the next batch if none is in flight. */
static void feed_pump(rpc_feed *f) {
  if (f->sending || f->closed || f->status_sent) return;
  grpc_op ops[2];
  memset(ops, 0, sizeof ops);
  size_t n = 0;
  if (!f->md_sent) {
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    f->md_sent = true;
  }
  if (f->end_requested) {
    rpc_feed_item_unref(f->current);
    rpc_feed_item_unref(f->queued);
    f->current = f->queued = NULL;
    const menu_status *st = &f->end_status;
    f->end_details = grpc_slice_from_copied_string(st->message);
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = st->code;
    ops[n].data.send_status_from_server.status_details = &f->end_details;
    if (st->code != GRPC_STATUS_OK) {
      f->trailer[0].key = grpc_slice_from_static_string(STATUS_DETAILS_KEY);
      f->trailer[0].value = status_details_encode(st, st->message, NULL);
      f->has_trailer = true;
      ops[n].data.send_status_from_server.trailing_metadata_count = 1;
      ops[n].data.send_status_from_server.trailing_metadata = f->trailer;
    }
    n++;
    f->status_sent = true;
  } else {
    if (f->current && f->next_msg == f->current->n) {
      rpc_feed_item_unref(f->current);
      f->current = NULL;
    }
    if (!f->current && f->queued) {
      f->current = f->queued;
      f->queued = NULL;
      f->next_msg = 0;
    }
    if (f->current) {
      f->bb = grpc_raw_byte_buffer_create(&f->current->msgs[f->next_msg++], 1);
      ops[n].op = GRPC_OP_SEND_MESSAGE;
      ops[n++].data.send_message.send_message = f->bb;
      f->sent++;
      rpc_trace_message(f->span, true, f->sent,
                        (int64_t)GRPC_SLICE_LENGTH(f->current->msgs[f->next_msg - 1]));
      metrics_add(f->server->m_msg_sent,
                  METRICS_LABELS(f->method->type, f->method->service, f->method->name), 1);
    }
  }
  if (!n) return;
  f->sending = true;
  if (grpc_call_start_batch(f->call, ops, n, &f->send_tag, NULL) != GRPC_CALL_OK) {
    f->sending = false;
    grpc_call_cancel(f->call, NULL);
  }
}

static void feed_log(rpc_feed *f, grpc_status_code code, double secs) {
  log_line *l = log_begin(
      code == GRPC_STATUS_OK || code == GRPC_STATUS_CANCELLED || code == GRPC_STATUS_UNAVAILABLE
          ? LOG_INFO
          : LOG_WARN,
      "rpc");
  if (!l) return;
  log_str(l, "method", f->method->path);
  log_str(l, "status", menu_status_code_name(code));
  if (code != GRPC_STATUS_OK && f->status_sent) log_str(l, "error", f->end_status.message);
  log_double(l, "duration_ms", round(secs * 1e6) / 1e3);
  log_str(l, "peer", f->peer);
  log_int(l, "messages", (int64_t)f->sent);
  log_end(l);
}

/* The stream is over (under nothing): accounting, the owner's callback, the stream's ref. */
static void feed_over(rpc_feed *f) {
  rpc_server *s = f->server;
  rpc_method *m = f->method;
  pthread_mutex_lock(&s->feeds_mu);
  if (f->prev)
    f->prev->next = f->next;
  else if (s->feeds == f)
    s->feeds = f->next;
  if (f->next) f->next->prev = f->prev;
  f->prev = f->next = NULL;
  pthread_mutex_unlock(&s->feeds_mu);
  atomic_fetch_sub(&s->n_feeds, 1);
  grpc_status_code code =
      f->status_sent && !f->cancelled ? f->end_status.code : GRPC_STATUS_CANCELLED;
  gpr_timespec d = gpr_time_sub(gpr_now(GPR_CLOCK_MONOTONIC), f->started);
  double secs = (double)d.tv_sec + d.tv_nsec / 1e9;
  metrics_add(s->m_handled,
              METRICS_LABELS(m->type, m->service, m->name, menu_status_code_name(code)), 1);
  metrics_observe(s->m_seconds, METRICS_LABELS(m->type, m->service, m->name), secs);
  /* The stream's last log lines (its own and the owner's) name its trace. */
  trace_span *outer = trace_current_set(f->span);
  feed_log(f, code, secs);
  pthread_mutex_lock(&f->mu);
  rpc_feed_ended_fn fn = f->on_end;
  void *arg = f->on_end_arg;
  f->on_end = NULL;
  pthread_mutex_unlock(&f->mu);
  if (fn) fn(f, code, arg);
  trace_current_set(outer);
  rpc_trace_end(f->span, true, code,
                f->status_sent && !f->cancelled ? f->end_status.message
                                                : "ended by the caller or the server");
  f->span = NULL;
  pthread_mutex_lock(&f->mu);
  bool last = unref_locked(f);
  pthread_mutex_unlock(&f->mu);
  if (last) feed_free(f);
}

/* Under f->mu: true when the stream has just become over (the caller runs feed_over). */
static bool check_over(rpc_feed *f) {
  if (f->over || !f->closed || f->sending) return false;
  f->over = true;
  return true;
}

static void on_send(rpc_tag *tag, bool ok) {
  rpc_feed *f = (rpc_feed *)((char *)tag - offsetof(rpc_feed, send_tag));
  pthread_mutex_lock(&f->mu);
  f->sending = false;
  if (f->bb) grpc_byte_buffer_destroy(f->bb);
  f->bb = NULL;
  if (ok) feed_pump(f); /* else the caller is gone: RECV_CLOSE_ON_SERVER follows */
  bool over = check_over(f);
  pthread_mutex_unlock(&f->mu);
  if (over) feed_over(f);
}

static void on_close(rpc_tag *tag, bool ok) {
  (void)ok;
  rpc_feed *f = (rpc_feed *)((char *)tag - offsetof(rpc_feed, close_tag));
  pthread_mutex_lock(&f->mu);
  f->closed = true;
  bool over = check_over(f);
  pthread_mutex_unlock(&f->mu);
  if (over) feed_over(f);
}

void rpc_feed_on_end(rpc_feed *f, rpc_feed_ended_fn fn, void *arg) {
  pthread_mutex_lock(&f->mu);
  if (!f->over) {
    f->on_end = fn;
    f->on_end_arg = arg;
  }
  pthread_mutex_unlock(&f->mu);
}

bool rpc_feed_offer(rpc_feed *f, rpc_feed_item *it) {
  pthread_mutex_lock(&f->mu);
  bool open = !f->closed && !f->end_requested;
  if (open) {
    rpc_feed_item_unref(f->queued); /* coalescing: never sent, replaced by a newer item */
    f->queued = rpc_feed_item_ref(it);
    feed_pump(f);
  }
  pthread_mutex_unlock(&f->mu);
  return open;
}

void rpc_feed_end(rpc_feed *f, menu_status st) {
  pthread_mutex_lock(&f->mu);
  if (!f->end_requested && !f->closed) {
    f->end_requested = true;
    f->end_status = st;
    feed_pump(f);
  }
  pthread_mutex_unlock(&f->mu);
}

void rpc_feed_release(rpc_feed *f) {
  pthread_mutex_lock(&f->mu);
  f->on_end = NULL;
  bool last = unref_locked(f);
  pthread_mutex_unlock(&f->mu);
  if (last) feed_free(f);
}

const char *rpc_feed_peer(const rpc_feed *f) { return f->peer; }

const char *rpc_feed_metadata(const rpc_feed *f, const char *key, char *buf, size_t n) {
  size_t klen = strlen(key);
  for (size_t i = 0; i < f->md.count; i++) {
    const grpc_slice *k = &f->md.metadata[i].key;
    if (GRPC_SLICE_LENGTH(*k) != klen || memcmp(GRPC_SLICE_START_PTR(*k), key, klen)) continue;
    const grpc_slice *v = &f->md.metadata[i].value;
    size_t len = GRPC_SLICE_LENGTH(*v) < n - 1 ? GRPC_SLICE_LENGTH(*v) : n - 1;
    memcpy(buf, GRPC_SLICE_START_PTR(*v), len);
    buf[len] = 0;
    return buf;
  }
  return NULL;
}

/* Decodes the request into `a`; a non-OK status says why it cannot be served. */
static menu_status feed_decode(rpc_method *m, grpc_byte_buffer *payload, arena *a,
                               ProtobufCMessage **req) {
  if (!payload) return MENU_INVALID("request message missing");
  unsigned char *data;
  size_t n = rpc_read_byte_buffer(payload, a, &data);
  *req = protobuf_c_message_unpack(m->def.in, &a->pb, n, data);
  if (!*req) return MENU_INVALID("request does not decode as %s", m->def.in->name);
  return strict_strings_check(m->def.in, data, n);
}

void rpc_feed_arrived(rpc_server *s, rpc_method *m, grpc_call *call, grpc_metadata_array *md,
                      grpc_byte_buffer *payload) {
  rpc_feed *f = calloc(1, sizeof *f);
  if (!f) abort();
  f->send_tag.fn = on_send;
  f->close_tag.fn = on_close;
  f->server = s;
  f->method = m;
  f->call = call;
  f->md = *md; /* moved */
  f->peer = grpc_call_get_peer(call);
  f->started = gpr_now(GPR_CLOCK_MONOTONIC);
  f->end_details = grpc_empty_slice();
  f->refs = 2;
  if (s->tracer) {
    f->span = rpc_trace_server_start(s->tracer, m->path, m->service, m->name, &f->md,
                                     s->cfg.listen_addr, s->port, f->peer);
    if (payload) rpc_trace_message(f->span, false, 1, (int64_t)grpc_byte_buffer_length(payload));
  }
  pthread_mutex_init(&f->mu, NULL);
  pthread_mutex_lock(&s->feeds_mu);
  bool refused = s->feeds_ended;
  if (!refused) {
    f->next = s->feeds;
    if (s->feeds) s->feeds->prev = f;
    s->feeds = f;
  }
  pthread_mutex_unlock(&s->feeds_mu);
  atomic_fetch_add(&s->n_feeds, 1);

  arena a;
  arena_init(&a);
  ProtobufCMessage *req = NULL;
  menu_status st = feed_decode(m, payload, &a, &req);
  if (payload) grpc_byte_buffer_destroy(payload);
  if (refused) {
    metrics_add(s->m_rejected, METRICS_LABELS("draining"), 1);
    rpc_feed_end(f, MENU_UNAVAILABLE("server shutting down: reconnect to another replica"));
    rpc_feed_release(f);
  } else if (!menu_status_is_ok(&st)) {
    rpc_feed_end(f, st);
    rpc_feed_release(f);
  } else {
    trace_span *outer = trace_current_set(f->span); /* the handler's log lines */
    m->def.feed_fn(f, req, m->def.arg);
    trace_current_set(outer);
  }
  arena_free(&a);
  /* Only now: the handler has had its chance to set on_end before the stream can be over. */
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  op.data.recv_close_on_server.cancelled = &f->cancelled;
  pthread_mutex_lock(&f->mu);
  feed_pump(f); /* initial metadata: the caller sees the stream accepted */
  grpc_call_error err = grpc_call_start_batch(call, &op, 1, &f->close_tag, NULL);
  pthread_mutex_unlock(&f->mu);
  if (err != GRPC_CALL_OK) on_close(&f->close_tag, false); /* cannot happen on a fresh call */
}

void rpc_feed_end_all(rpc_server *s) {
  pthread_mutex_lock(&s->feeds_mu);
  s->feeds_ended = true;
  for (rpc_feed *f = s->feeds; f; f = f->next)
    rpc_feed_end(f, MENU_UNAVAILABLE("server shutting down: reconnect to another replica"));
  pthread_mutex_unlock(&s->feeds_mu);
}
