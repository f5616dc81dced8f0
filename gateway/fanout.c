/* Fan-out of backend calls on completion callbacks: a reference count (one per call in flight
 * plus one for the plan's start) decides which thread ends the RPC; a lock serialises the
 * plan's callbacks and the ctx arena they allocate from. */
#include "gateway/fanout.h"
#include "common/mono_clock.h"

#include <grpc/support/time.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/rpc_client.h"

/* One backend call and the part it belongs to. */
typedef struct fanout_call_rec {
  struct fanout_call_rec *next;
  fanout *f;
  size_t part;
  rpc_client_call *call; /* NULL until rpc_client_call_start returned (set under the lock) */
  void *arg;             /* fanout_call_with's */
  bool done;
} fanout_call_rec;

typedef struct {
  int started, outstanding;
  int64_t start_ms, end_ms; /* offsets from the fan-out's start: first start, last end */
  bool failed;
  bool cut;           /* a call was cancelled because another part failed fatally */
  menu_status status; /* the first failure, prefixed with the backend's name */
} part_state;

struct fanout {
  pthread_mutex_t mu;
  rpc_ctx *ctx;
  fanout_config cfg;
  gpr_timespec deadline; /* of every backend call */
  int64_t t0_ms;
  int refs; /* calls in flight + 1 while start runs */
  fanout_call_rec *calls;
  part_state *parts;
  menu_status fatal; /* set when a failure ends the RPC */
  void *current_arg; /* of the call whose callback runs */
};

bool fanout_part_failed(const fanout *f, size_t part) { return f->parts[part].failed; }

void *fanout_call_arg(const fanout *f) { return f->current_arg; }

/* Records a failure of `part`; when it is fatal, every call still in flight is cancelled
 * (their callbacks follow at once) and nothing new starts. */
static void part_fail(fanout *f, size_t part, menu_status s) {
  part_state *ps = &f->parts[part];
  const gateway_method *m = f->cfg.parts[part].m;
  if (!ps->failed) {
    ps->failed = true;
    ps->status = s; /* keeps the backend's reason, field violations and internal detail */
    menu_status_prefix(&ps->status, "%s (%s): ", m->backend, m->name);
  }
  if (!menu_status_is_ok(&f->fatal) || f->cfg.parts[part].optional ||
      !f->cfg.ops->is_fatal(s.code, f->cfg.plan))
    return;
  f->fatal = ps->status;
  for (fanout_call_rec *r = f->calls; r; r = r->next)
    if (!r->done) rpc_client_call_cancel(r->call);
}

/* Per-part start/end offsets (ms from the fan-out's start) and outcome on the call's log
 * line, so that overlap and the slow backend can be read from logs. */
static void parts_log(fanout *f) {
  char key[64];
  for (size_t i = 0; i < f->cfg.n_parts; i++) {
    part_state *ps = &f->parts[i];
    const char *name = f->cfg.parts[i].name;
    if (!ps->started) continue;
    snprintf(key, sizeof key, "%s_start_ms", name);
    rpc_ctx_log_int(f->ctx, key, ps->start_ms);
    if (!ps->cut) {
      snprintf(key, sizeof key, "%s_end_ms", name);
      rpc_ctx_log_int(f->ctx, key, ps->end_ms);
    }
    snprintf(key, sizeof key, "%s_status", name);
    rpc_ctx_log_str(f->ctx, key,
                    ps->failed ? menu_status_code_name(ps->status.code)
                    : ps->cut  ? "CANCELLED" /* cut short by another part's fatal failure */
                               : "OK");
    if (ps->failed) {
      snprintf(key, sizeof key, "%s_error", name);
      rpc_ctx_log_str(f->ctx, key, menu_status_diagnosis(&ps->status));
    }
  }
}

/* The last reference is gone: no call is in flight and no plan callback runs. */
static void fanout_end(fanout *f) {
  menu_status st = f->fatal;
  if (menu_status_is_ok(&st)) st = f->cfg.ops->finish(f, f->cfg.plan);
  parts_log(f);
  /* The response points into the calls' decoded messages: they go after the reply. */
  rpc_ctx_reply(f->ctx, st);
  for (fanout_call_rec *r = f->calls, *next; r; r = next) {
    next = r->next;
    rpc_client_call_destroy(r->call);
    free(r);
  }
  pthread_mutex_destroy(&f->mu);
  free(f->parts);
  free(f);
}

/* Drops one reference under the lock; true when it was the last. */
static bool unref_locked(fanout *f) { return --f->refs == 0; }

static void on_call_done(rpc_client_call *call, void *user) {
  fanout_call_rec *r = user;
  fanout *f = r->f;
  pthread_mutex_lock(&f->mu);
  r->done = true;
  part_state *ps = &f->parts[r->part];
  ps->outstanding--;
  menu_status s = rpc_client_call_status(call);
  /* The caller's deadline reaches the children as a cancellation (parent propagation), which
   * may beat their own slightly earlier deadline: what happened is a deadline. */
  if (s.code == GRPC_STATUS_CANCELLED && rpc_ctx_expired(f->ctx))
    s = menu_status_make(GRPC_STATUS_DEADLINE_EXCEEDED, "no answer in time");
  bool over = !menu_status_is_ok(&f->fatal);
  if (over && s.code == GRPC_STATUS_CANCELLED) {
    ps->cut = true; /* cancelled by us after another part's fatal failure */
  } else {
    ps->end_ms = rpc_client_call_end_ms(call) - f->t0_ms;
    f->current_arg = r->arg;
    if (!menu_status_is_ok(&s)) {
      part_fail(f, r->part, s);
      if (menu_status_is_ok(&f->fatal) && f->cfg.ops->failed)
        f->cfg.ops->failed(f, r->part, f->cfg.plan);
    } else if (!over) {
      f->cfg.ops->result(f, r->part, rpc_client_call_response(call), f->cfg.plan);
    }
    f->current_arg = NULL;
  }
  bool last = unref_locked(f);
  pthread_mutex_unlock(&f->mu);
  if (last) fanout_end(f);
}

bool fanout_call(fanout *f, size_t part, const ProtobufCMessage *req) {
  return fanout_call_with(f, part, req, NULL);
}

bool fanout_call_with(fanout *f, size_t part, const ProtobufCMessage *req, void *arg) {
  if (!menu_status_is_ok(&f->fatal)) return false;
  part_state *ps = &f->parts[part];
  const gateway_method *m = f->cfg.parts[part].m;
  int64_t now = mono_now_ms() - f->t0_ms;
  if (!ps->started) ps->start_ms = now;
  ps->started++;
  fanout_call_rec *r = calloc(1, sizeof *r);
  r->f = f;
  r->part = part;
  r->arg = arg;
  rpc_client_call_opts o = {.parent = f->ctx, .deadline = f->deadline};
  r->call = rpc_client_call_start(m->channel, m->method, req, &o, on_call_done, r);
  if (!r->call) {
    free(r);
    ps->end_ms = now;
    part_fail(f, part, MENU_INTERNAL("the call could not be started"));
    return false;
  }
  r->next = f->calls;
  f->calls = r;
  ps->outstanding++;
  f->refs++;
  return menu_status_is_ok(&f->fatal);
}

void fanout_run(rpc_ctx *ctx, const fanout_config *cfg) {
  fanout *f = calloc(1, sizeof *f);
  pthread_mutex_init(&f->mu, NULL);
  f->ctx = ctx;
  f->cfg = *cfg;
  f->parts = calloc(cfg->n_parts, sizeof *f->parts);
  f->t0_ms = mono_now_ms();
  /* Children of the server call: the core cancels them when the caller cancels or the
   * caller's deadline passes, and rpc_client forwards x-request-id. */
  f->deadline = rpc_ctx_work_deadline(ctx, cfg->deadline_margin_ms);
  f->fatal = MENU_OK;
  f->refs = 1;
  pthread_mutex_lock(&f->mu);
  cfg->ops->start(f, cfg->plan);
  bool last = unref_locked(f);
  pthread_mutex_unlock(&f->mu);
  if (last) fanout_end(f);
}
