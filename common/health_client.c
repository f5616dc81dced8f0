/* A blocking Health/Check on a private completion queue, drained by the calling thread. */
#include "common/health_client.h"

#include <grpc/grpc.h>

#include "common/rpc_internal.h"
#include "grpc/health/v1/health.pb-c.h"

void health_client_add(rpc_channel *ch) {
  rpc_channel_add_service(ch, &grpc__health__v1__health__descriptor);
}

static void on_done(rpc_client_call *call, void *user) {
  (void)call;
  *(bool *)user = true;
}

bool health_client_check(rpc_channel *ch, const char *service, int64_t timeout_ms) {
  const rpc_client_method *m = rpc_channel_method(ch, "grpc.health.v1.Health", "Check");
  if (!m) return false; /* health_client_add was not called: a programming error */
  Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
  req.service = (char *)service;
  grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
  rpc_client_call_opts opts = {
      .cq = cq,
      .deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                               gpr_time_from_millis(timeout_ms, GPR_TIMESPAN)),
  };
  bool done = false, serving = false;
  rpc_client_call *call = rpc_client_call_start(ch, m, &req.base, &opts, on_done, &done);
  /* The call carries a deadline, so its one event always arrives. */
  while (call && !done) {
    grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    if (ev.type != GRPC_OP_COMPLETE) break;
    rpc_tag *tag = ev.tag;
    tag->fn(tag, ev.success);
  }
  if (call && done) {
    menu_status st = rpc_client_call_status(call);
    const Grpc__Health__V1__HealthCheckResponse *resp =
        (const void *)rpc_client_call_response(call);
    serving = menu_status_is_ok(&st) && resp &&
              resp->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
  }
  if (call) rpc_client_call_destroy(call);
  grpc_completion_queue_shutdown(cq);
  while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
         GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(cq);
  return serving;
}
