/* For tests that act as a plain client: rpc_client calls that complete on a private completion
 * queue which the test's own thread drains, so a test can start calls and then wait for them. */
#ifndef TEST_RPC_CALLS_H
#define TEST_RPC_CALLS_H

#include <grpc/grpc.h>
#include <grpc/support/time.h>

#include "common/rpc_client.h"
#include "common/rpc_internal.h"

typedef struct {
  grpc_completion_queue *cq;
  int ended; /* calls whose done callback has run */
} test_calls;

static void test_calls_on_done(rpc_client_call *call, void *user) {
  (void)call;
  ((test_calls *)user)->ended++;
}

static inline void test_calls_init(test_calls *t) {
  t->cq = grpc_completion_queue_create_for_next(NULL);
  t->ended = 0;
}

/* A call ending `deadline_ms` from now; the test destroys it with rpc_client_call_destroy. */
static inline rpc_client_call *test_calls_start(test_calls *t, rpc_channel *ch,
                                                const rpc_client_method *m,
                                                const ProtobufCMessage *req, int deadline_ms) {
  rpc_client_call_opts o = {
      .cq = t->cq,
      .deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                               gpr_time_from_millis(deadline_ms, GPR_TIMESPAN))};
  return rpc_client_call_start(ch, m, req, &o, test_calls_on_done, t);
}

/* Runs completions until `n` calls in all have ended; false if that takes over 10 s. */
static inline bool test_calls_wait(test_calls *t, int n) {
  gpr_timespec limit =
      gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_seconds(10, GPR_TIMESPAN));
  while (t->ended < n) {
    grpc_event ev = grpc_completion_queue_next(t->cq, limit, NULL);
    if (ev.type != GRPC_OP_COMPLETE) return false;
    rpc_tag *tag = ev.tag;
    tag->fn(tag, ev.success != 0);
  }
  return true;
}

/* After every call has ended. */
static inline void test_calls_fini(test_calls *t) {
  grpc_completion_queue_shutdown(t->cq);
  while (grpc_completion_queue_next(t->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
         GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(t->cq);
}

#endif
