/* The revision poller: one thread drains a completion queue of its own and, every poll
 * interval, starts a round (GetCatalogRevision + GetAvailabilityRevision) for each channel in
 * use whose previous round has ended. Calls are the asynchronous client's; their callbacks run
 * on this thread, which is also where subscribers are told about changes. */
#include "gateway/revisions.h"
#include "common/mono_clock.h"

#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "common/log.h"
#include "common/rpc_client.h"
#include "common/rpc_internal.h"
#include "menu/v1/catalog_revision.pb-c.h"
#include "menu/v1/product_availability.pb-c.h"

/* Channel enum values are small and dense (common.proto); one slot per value. */
#define N_CHANNELS 8

typedef enum { POLL_CATALOG, POLL_AVAILABILITY, POLL_KINDS } poll_kind;

typedef struct gateway_revisions gateway_revisions;

/* One poll call in flight. */
typedef struct {
  gateway_revisions *r;
  int channel;
  poll_kind kind;
  rpc_client_call *call;
} poll_call;

typedef struct {
  _Atomic int64_t used_until_ms; /* monotonic; polled while now is before it, or holds > 0 */
  int holds;
  gateway_revision_state st;
  /* The round in flight. */
  int pending;
  int64_t round_start_ms;
  bool round_failed;
  poll_call *calls[POLL_KINDS];
} channel_slot;

typedef struct {
  gateway_revision_fn fn;
  void *arg;
} subscriber;

struct gateway_revisions {
  const gateway_backends *be;
  int poll_ms;
  grpc_completion_queue *cq;
  pthread_t thread;
  pthread_mutex_t mu; /* slots, stopping */
  channel_slot slots[N_CHANNELS];
  bool stopping;
  /* Held while subscribers run, so that unsubscribe can wait for a running one. */
  pthread_mutex_t notify_mu;
  subscriber subs[GATEWAY_REVISIONS_MAX_SUBSCRIBERS];
  size_t n_subs;
  metrics_family *polls;
};

int gateway_revisions_config_poll_ms(config *c) {
  return (int)config_int(c, "MENU_REVISION_POLL_MS", GATEWAY_REVISIONS_POLL_MS_DEFAULT, 10, 60000);
}

static bool channel_ok(Menu__V1__Channel channel) {
  return (int)channel > 0 && (int)channel < N_CHANNELS;
}

/* ---- subscribers ----------------------------------------------------------------------------- */

int gateway_revisions_subscribe(gateway_revisions *r, gateway_revision_fn fn, void *arg) {
  int rc = -1;
  pthread_mutex_lock(&r->notify_mu);
  if (r->n_subs < GATEWAY_REVISIONS_MAX_SUBSCRIBERS) {
    r->subs[r->n_subs++] = (subscriber){fn, arg};
    rc = 0;
  }
  pthread_mutex_unlock(&r->notify_mu);
  return rc;
}

void gateway_revisions_unsubscribe(gateway_revisions *r, gateway_revision_fn fn, void *arg) {
  pthread_mutex_lock(&r->notify_mu);
  for (size_t i = 0; i < r->n_subs; i++) {
    if (r->subs[i].fn != fn || r->subs[i].arg != arg) continue;
    r->subs[i] = r->subs[--r->n_subs];
    break;
  }
  pthread_mutex_unlock(&r->notify_mu);
}

static void subscribers_notify(gateway_revisions *r, int channel) {
  pthread_mutex_lock(&r->notify_mu);
  for (size_t i = 0; i < r->n_subs; i++) r->subs[i].fn(r->subs[i].arg, (Menu__V1__Channel)channel);
  pthread_mutex_unlock(&r->notify_mu);
}

/* ---- use ------------------------------------------------------------------------------------- */

void gateway_revisions_use(gateway_revisions *r, Menu__V1__Channel channel) {
  if (!channel_ok(channel)) return;
  int64_t until = mono_now_ms() + GATEWAY_REVISIONS_IDLE_MS;
  channel_slot *s = &r->slots[channel];
  /* Requests arrive thousands of times a second: store only when it moves by a second. */
  if (atomic_load_explicit(&s->used_until_ms, memory_order_relaxed) + 1000 < until)
    atomic_store_explicit(&s->used_until_ms, until, memory_order_relaxed);
}

void gateway_revisions_hold(gateway_revisions *r, Menu__V1__Channel channel) {
  if (!channel_ok(channel)) return;
  pthread_mutex_lock(&r->mu);
  r->slots[channel].holds++;
  pthread_mutex_unlock(&r->mu);
}

void gateway_revisions_release(gateway_revisions *r, Menu__V1__Channel channel) {
  if (!channel_ok(channel)) return;
  pthread_mutex_lock(&r->mu);
  if (r->slots[channel].holds > 0) r->slots[channel].holds--;
  pthread_mutex_unlock(&r->mu);
}

bool gateway_revisions_get(gateway_revisions *r, Menu__V1__Channel channel,
                           gateway_revision_state *out) {
  if (!channel_ok(channel)) return false;
  pthread_mutex_lock(&r->mu);
  *out = r->slots[channel].st;
  pthread_mutex_unlock(&r->mu);
  return true;
}

/* ---- polls ----------------------------------------------------------------------------------- */

static int64_t timestamp_ms(const Google__Protobuf__Timestamp *t) {
  return t ? t->seconds * 1000 + t->nanos / 1000000 : 0;
}

/* One poll answered (or failed): record it; the round is confirmed when both succeeded. */
static void on_poll_done(rpc_client_call *call, void *user) {
  poll_call *pc = user;
  gateway_revisions *r = pc->r;
  menu_status st = rpc_client_call_status(call);
  const ProtobufCMessage *resp = rpc_client_call_response(call);
  bool ok = menu_status_is_ok(&st) && resp;
  metrics_add(
      r->polls,
      METRICS_LABELS(pc->kind == POLL_CATALOG ? "dynamo-svc" : "sql-svc", ok ? "ok" : "error"), 1);
  bool changed = false;
  pthread_mutex_lock(&r->mu);
  channel_slot *s = &r->slots[pc->channel];
  if (!ok) {
    s->round_failed = true;
  } else if (pc->kind == POLL_CATALOG) {
    const Menu__V1__GetCatalogRevisionResponse *m = (const void *)resp;
    changed = s->st.catalog_known && s->st.catalog != m->revision;
    s->st.catalog = m->revision;
    s->st.catalog_known = true;
    s->st.unsettled_until_ms = timestamp_ms(m->unsettled_until);
  } else {
    const Menu__V1__GetAvailabilityRevisionResponse *m = (const void *)resp;
    changed = s->st.availability_known && s->st.availability != m->revision;
    s->st.availability = m->revision;
    s->st.availability_known = true;
  }
  s->calls[pc->kind] = NULL;
  if (--s->pending == 0 && !s->round_failed) s->st.confirmed_ms = s->round_start_ms;
  if (!ok && log_enabled(LOG_DEBUG)) {
    log_line *l = log_begin(LOG_DEBUG, "revision poll failed");
    log_str(l, "backend", pc->kind == POLL_CATALOG ? "dynamo-svc" : "sql-svc");
    log_str(l, "error", menu_status_diagnosis(&st));
    log_end(l);
  }
  pthread_mutex_unlock(&r->mu);
  rpc_client_call_destroy(call);
  if (changed) subscribers_notify(r, pc->channel);
  free(pc);
}

/* Under r->mu. */
static void poll_start(gateway_revisions *r, int channel, poll_kind kind, gpr_timespec deadline) {
  channel_slot *s = &r->slots[channel];
  poll_call *pc = calloc(1, sizeof *pc);
  pc->r = r;
  pc->channel = channel;
  pc->kind = kind;
  rpc_client_call_opts o = {.cq = r->cq, .deadline = deadline};
  const gateway_method *m =
      kind == POLL_CATALOG ? &r->be->get_catalog_revision : &r->be->get_availability_revision;
  Menu__V1__GetCatalogRevisionRequest cr = MENU__V1__GET_CATALOG_REVISION_REQUEST__INIT;
  Menu__V1__GetAvailabilityRevisionRequest ar = MENU__V1__GET_AVAILABILITY_REVISION_REQUEST__INIT;
  cr.channel = ar.channel = (Menu__V1__Channel)channel;
  const ProtobufCMessage *req = kind == POLL_CATALOG ? &cr.base : &ar.base;
  pc->call = rpc_client_call_start(m->channel, m->method, req, &o, on_poll_done, pc);
  if (!pc->call) {
    free(pc);
    s->round_failed = true;
    metrics_add(r->polls, METRICS_LABELS(kind == POLL_CATALOG ? "dynamo-svc" : "sql-svc", "error"),
                1);
    return;
  }
  s->calls[kind] = pc;
  s->pending++;
}

/* Under r->mu: a round for every channel in use whose last round has ended. */
static void rounds_start(gateway_revisions *r) {
  int64_t now = mono_now_ms();
  /* A poll that does not answer within a few intervals leaves the channel unconfirmed (the
   * cache stops serving it after its staleness bound) until one does. */
  int64_t limit = r->poll_ms * 4 < 1000 ? 1000 : r->poll_ms * 4;
  gpr_timespec deadline =
      gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(limit, GPR_TIMESPAN));
  for (int c = 1; c < N_CHANNELS; c++) {
    channel_slot *s = &r->slots[c];
    if (s->pending) continue;
    if (s->holds == 0 && atomic_load_explicit(&s->used_until_ms, memory_order_relaxed) <= now)
      continue;
    s->round_start_ms = now;
    s->round_failed = false;
    poll_start(r, c, POLL_CATALOG, deadline);
    poll_start(r, c, POLL_AVAILABILITY, deadline);
  }
}

static void *poller_main(void *arg) {
  gateway_revisions *r = arg;
  int64_t next_tick = mono_now_ms();
  bool shut = false;
  for (;;) {
    gpr_timespec wait = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                     gpr_time_from_millis(next_tick - mono_now_ms(), GPR_TIMESPAN));
    grpc_event ev = grpc_completion_queue_next(r->cq, wait, NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
    if (ev.type == GRPC_OP_COMPLETE) {
      rpc_tag *tag = ev.tag;
      tag->fn(tag, ev.success != 0);
    }
    int64_t now = mono_now_ms();
    if (shut || now < next_tick) continue;
    next_tick = now + r->poll_ms;
    pthread_mutex_lock(&r->mu);
    if (r->stopping) {
      /* Only this thread starts calls, so the queue is shut down here, after the last one. */
      for (int c = 1; c < N_CHANNELS; c++)
        for (int k = 0; k < POLL_KINDS; k++)
          if (r->slots[c].calls[k]) rpc_client_call_cancel(r->slots[c].calls[k]->call);
      grpc_completion_queue_shutdown(r->cq);
      shut = true;
    } else {
      rounds_start(r);
    }
    pthread_mutex_unlock(&r->mu);
  }
  return NULL;
}

gateway_revisions *gateway_revisions_create(const gateway_backends *be, int poll_ms,
                                            metrics_registry *metrics) {
  gateway_revisions *r = calloc(1, sizeof *r);
  r->be = be;
  r->poll_ms = poll_ms > 0 ? poll_ms : GATEWAY_REVISIONS_POLL_MS_DEFAULT;
  pthread_mutex_init(&r->mu, NULL);
  pthread_mutex_init(&r->notify_mu, NULL);
  r->polls = metrics_counter(metrics, "menu_revision_polls_total",
                             "Revision polls of the owners by the gateway's poller, by outcome",
                             METRICS_LABELS("backend", "result"));
  /* Zero-valued series, so that a dashboard's rate() has a start. */
  static const char *const backends[] = {"dynamo-svc", "sql-svc"};
  for (int i = 0; i < 2; i++) {
    metrics_add(r->polls, METRICS_LABELS(backends[i], "ok"), 0);
    metrics_add(r->polls, METRICS_LABELS(backends[i], "error"), 0);
  }
  r->cq = grpc_completion_queue_create_for_next(NULL);
  if (pthread_create(&r->thread, NULL, poller_main, r) != 0) {
    log_error("revision poller thread could not start", NULL);
    grpc_completion_queue_shutdown(r->cq);
    grpc_completion_queue_destroy(r->cq);
    pthread_mutex_destroy(&r->mu);
    pthread_mutex_destroy(&r->notify_mu);
    free(r);
    return NULL;
  }
  return r;
}

void gateway_revisions_destroy(gateway_revisions *r) {
  if (!r) return;
  pthread_mutex_lock(&r->mu);
  r->stopping = true;
  pthread_mutex_unlock(&r->mu);
  pthread_join(r->thread, NULL);
  grpc_completion_queue_destroy(r->cq);
  pthread_mutex_destroy(&r->mu);
  pthread_mutex_destroy(&r->notify_mu);
  free(r);
}
