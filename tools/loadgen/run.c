/* The load loop (see run.h). */
#include "tools/loadgen/run.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS 1000000000LL
#define MAX_CONNECTIONS 64

struct lg_client {
  grpc_channel *ch[MAX_CONNECTIONS];
  int n;
  grpc_completion_queue *cq;
  const char *target;
};

/* One call in flight. */
typedef struct {
  grpc_call *call;
  grpc_byte_buffer *send, *recv;
  grpc_metadata_array initial, trailing;
  grpc_status_code code;
  grpc_slice details;
  int64_t sched_ns;
  lg_req_key key;
} slot;

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * NS + t.tv_nsec;
}

static gpr_timespec in_ms(int64_t ms) {
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

lg_client *lg_client_create(const char *target, int connections) {
  if (connections < 1) connections = 1;
  if (connections > MAX_CONNECTIONS) connections = MAX_CONNECTIONS;
  lg_client *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->target = target;
  c->cq = grpc_completion_queue_create_for_next(NULL);
  /* A local subchannel pool per channel: each channel is its own connection. The client never
   * retries: every status the server gives is counted as given. */
  grpc_arg args[3] = {
      {GRPC_ARG_INTEGER, GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, {.integer = 1}},
      {GRPC_ARG_INTEGER, GRPC_ARG_ENABLE_RETRIES, {.integer = 0}},
      {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = 64 << 20}},
  };
  grpc_channel_args cargs = {3, args};
  grpc_channel_credentials *creds = grpc_insecure_credentials_create();
  for (int i = 0; i < connections; i++) {
    c->ch[i] = grpc_channel_create(target, creds, &cargs);
    c->n++;
  }
  grpc_channel_credentials_release(creds);
  /* Connect every channel before any timing starts. */
  int64_t give_up = now_ns() + 5 * NS;
  for (int i = 0; i < c->n; i++) {
    for (;;) {
      grpc_connectivity_state s = grpc_channel_check_connectivity_state(c->ch[i], 1);
      if (s == GRPC_CHANNEL_READY) break;
      if (now_ns() > give_up) {
        fprintf(stderr, "loadgen: %s: channel %d not ready after 5 s\n", target, i);
        lg_client_destroy(c);
        return NULL;
      }
      grpc_channel_watch_connectivity_state(c->ch[i], s, in_ms(200), c->cq, NULL);
      grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    }
  }
  return c;
}

void lg_client_destroy(lg_client *c) {
  if (!c) return;
  for (int i = 0; i < c->n; i++) grpc_channel_destroy(c->ch[i]);
  grpc_completion_queue_shutdown(c->cq);
  while (grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
         GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(c->cq);
  free(c);
}

int lg_client_connections(const lg_client *c) { return c->n; }
grpc_channel *lg_client_channel(const lg_client *c, int i) { return c->ch[i % c->n]; }
grpc_completion_queue *lg_client_queue(const lg_client *c) { return c->cq; }

/* Starts the six-op unary batch of `call` (owned by s from here) on s (its key and sched_ns
 * already set). */
static bool slot_start(slot *s, grpc_call *call, grpc_slice body) {
  s->call = call;
  grpc_metadata_array_init(&s->initial);
  grpc_metadata_array_init(&s->trailing);
  s->details = grpc_empty_slice();
  s->send = grpc_raw_byte_buffer_create(&body, 1);
  s->recv = NULL;
  grpc_op ops[6];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = s->send;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->initial;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &s->recv;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.trailing_metadata = &s->trailing;
  ops[5].data.recv_status_on_client.status = &s->code;
  ops[5].data.recv_status_on_client.status_details = &s->details;
  return grpc_call_start_batch(s->call, ops, 6, s, NULL) == GRPC_CALL_OK;
}

static void slot_clear(slot *s) {
  if (s->send) grpc_byte_buffer_destroy(s->send);
  if (s->recv) grpc_byte_buffer_destroy(s->recv);
  grpc_metadata_array_destroy(&s->initial);
  grpc_metadata_array_destroy(&s->trailing);
  grpc_slice_unref(s->details);
  if (s->call) grpc_call_unref(s->call);
  memset(s, 0, sizeof *s);
}

grpc_slice lg_read_all(grpc_byte_buffer *b) {
  grpc_byte_buffer_reader r;
  if (!grpc_byte_buffer_reader_init(&r, b)) return grpc_empty_slice();
  grpc_slice s = grpc_byte_buffer_reader_readall(&r);
  grpc_byte_buffer_reader_destroy(&r);
  return s;
}

int lg_client_call(void *client, const char *path, grpc_slice body, grpc_slice *resp) {
  lg_client *c = client;
  slot s;
  memset(&s, 0, sizeof s);
  /* A one-off call: not registered (the run loop registers its one method per channel). */
  grpc_call *call =
      grpc_channel_create_call(c->ch[0], NULL, GRPC_PROPAGATE_DEFAULTS, c->cq,
                               grpc_slice_from_static_string(path), NULL, in_ms(10000), NULL);
  if (!slot_start(&s, call, body)) {
    slot_clear(&s);
    return GRPC_STATUS_INTERNAL;
  }
  grpc_event ev;
  do ev = grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
  while (ev.type != GRPC_OP_COMPLETE || ev.tag != &s);
  int code = s.code;
  if (code == GRPC_STATUS_OK && s.recv)
    *resp = lg_read_all(s.recv);
  else if (code == GRPC_STATUS_OK)
    code = LG_CODE_BAD_RESPONSE;
  slot_clear(&s);
  return code;
}

/* Finishes the call in slot s: its status and latency go into the stats. */
static void slot_finish(slot *s, lg_mix *mix, lg_stats *st, int64_t end_ns) {
  int code = (int)s->code;
  if (code == GRPC_STATUS_OK && !s->recv) code = LG_CODE_BAD_RESPONSE;
  if (code == GRPC_STATUS_OK && lg_mix_wants_response(mix)) {
    grpc_slice body = lg_read_all(s->recv);
    if (!lg_mix_on_response(mix, &s->key, GRPC_SLICE_START_PTR(body), GRPC_SLICE_LENGTH(body)))
      code = LG_CODE_BAD_RESPONSE;
    grpc_slice_unref(body);
  }
  lg_stats_add(st, code, end_ns - s->sched_ns);
  slot_clear(s);
}

int lg_client_run(lg_client *c, const lg_run_config *cfg, lg_mix *mix, lg_stats *st,
                  lg_run_result *res) {
  memset(res, 0, sizeof *res);
  const bool open = cfg->rate > 0;
  int nslots = open ? cfg->max_inflight : cfg->concurrency;
  if (nslots < 1) nslots = 1;
  slot *slots = calloc((size_t)nslots, sizeof *slots);
  int *free_idx = malloc((size_t)nslots * sizeof *free_idx);
  if (!slots || !free_idx) {
    free(slots);
    free(free_idx);
    return -1;
  }
  int nfree = 0;
  for (int i = nslots - 1; i >= 0; i--) free_idx[nfree++] = i;
  void *handles[MAX_CONNECTIONS];
  for (int i = 0; i < c->n; i++)
    handles[i] = grpc_channel_register_call(c->ch[i], lg_mix_path(mix), NULL, NULL);

  const int64_t t0 = now_ns();
  const int64_t stop = t0 + (int64_t)(cfg->duration_s * (double)NS);
  /* Past this, whatever still runs is cancelled: no call outlives its deadline by much. */
  const int64_t hard_stop = stop + (int64_t)cfg->deadline_ms * 1000000 + 2 * NS;
  const int64_t interval = open ? (int64_t)((double)NS / cfg->rate) : 0;
  int64_t next_sched = t0, last_end = t0;
  uint64_t issued = 0;
  int inflight = 0;
  bool cancelled = false;
  int rr = 0;

  for (;;) {
    int64_t now = now_ns();
    bool issuing = issued < cfg->count && now < stop;
    /* Start what is due: every free slot in closed loop, the schedule in open loop. */
    while (issuing && nfree > 0) {
      int64_t sched = now;
      if (open) {
        if (next_sched > now || next_sched >= stop) break;
        sched = next_sched;
        next_sched += interval;
        double lag_us = (double)(now - sched) / 1000.0;
        if (lag_us > 1000.0) res->late_starts++;
        if (lag_us > res->max_start_lag_us) res->max_start_lag_us = lag_us;
      }
      slot *s = &slots[free_idx[--nfree]];
      s->sched_ns = sched;
      grpc_slice body = lg_mix_next(mix, &s->key);
      int chan = rr++ % c->n;
      grpc_call *call =
          grpc_channel_create_registered_call(c->ch[chan], NULL, GRPC_PROPAGATE_DEFAULTS, c->cq,
                                              handles[chan], in_ms(cfg->deadline_ms), NULL);
      bool ok = slot_start(s, call, body);
      grpc_slice_unref(body);
      issued++;
      if (!ok) { /* the core refused the call: an error, never silently skipped */
        lg_stats_add(st, GRPC_STATUS_INTERNAL, 0);
        slot_clear(s);
        free_idx[nfree++] = (int)(s - slots);
        continue;
      }
      inflight++;
      issuing = issued < cfg->count;
    }
    if (!issuing && inflight == 0) break;
    if (!cancelled && now > hard_stop) {
      for (int i = 0; i < nslots; i++)
        if (slots[i].call) grpc_call_cancel(slots[i].call, NULL);
      res->cancelled_at_end = (uint64_t)inflight;
      cancelled = true;
    }
    /* Sleep until the next scheduled start or a completion. */
    int64_t wake = now + 100 * 1000000LL;
    if (open && issuing && nfree > 0 && next_sched < wake) wake = next_sched;
    gpr_timespec dl = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                   gpr_time_from_nanos(wake > now ? wake - now : 0, GPR_TIMESPAN));
    grpc_event ev = grpc_completion_queue_next(c->cq, dl, NULL);
    if (ev.type != GRPC_OP_COMPLETE || !ev.tag) continue;
    slot *s = ev.tag;
    last_end = now_ns();
    slot_finish(s, mix, st, last_end);
    free_idx[nfree++] = (int)(s - slots);
    inflight--;
  }
  res->elapsed_s = (double)(last_end - t0) / (double)NS;
  free(slots);
  free(free_idx);
  return 0;
}
