/* gRPC client on the C core: channels to `dns:///host:port` with round_robin (and any retry
 * policy) from a service config, a bounded reconnect backoff, registered methods, and
 * asynchronous unary calls driven by completion callbacks: nothing waits while a call is in
 * flight. A call made from a server call (rpc_ctx) is its child: the core propagates the
 * deadline and cancellation (GRPC_PROPAGATE_DEFAULTS), x-request-id is passed on, and the call
 * completes on the server call's completion queue.
 * Channels are thread-safe and meant to live as long as the process. A call may be cancelled
 * from any thread; its other functions belong to whoever holds it. Records
 * go-grpc-prometheus' client metrics: grpc_client_started_total, grpc_client_handled_total,
 * grpc_client_handling_seconds, grpc_client_msg_sent_total and grpc_client_msg_received_total
 * (zero-valued series for every registered method). */
#ifndef MENU_RPC_CLIENT_H
#define MENU_RPC_CLIENT_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

#include "common/metrics.h"
#include "common/rpc_server.h"
#include "common/status.h"

typedef struct rpc_channel rpc_channel;
typedef struct rpc_client_method rpc_client_method;

typedef struct {
  const char *target;              /* "dns:///127.0.0.1:50052", "ipv4:127.0.0.1:1,127.0.0.1:2" */
  const char *service_config_json; /* NULL: {"loadBalancingConfig":[{"round_robin":{}}]} */
  const char *tls_ca_file;         /* optional: TLS to the backend, verified against this CA */
  const char *tls_cert_file;       /* optional with tls_ca_file: client certificate (mutual TLS) */
  const char *tls_key_file;
  int keepalive_time_ms; /* 0: gRPC's default (off) */
  /* Reconnect backoff of each subchannel after a lost or failed connection: the first wait
   * and the cap of the exponential growth (0: gRPC's defaults, 1 s and 120 s). */
  int reconnect_initial_backoff_ms;
  int reconnect_max_backoff_ms;
  int connect_timeout_ms;    /* shortest time one connection attempt gets (0: gRPC's, 20 s) */
  metrics_registry *metrics; /* may be NULL */
} rpc_channel_config;

/* NULL (logged) when the TLS files cannot be read. Caller destroys after every call is gone. */
rpc_channel *rpc_channel_create(const rpc_channel_config *cfg);
void rpc_channel_destroy(rpc_channel *ch);

/* Registers every method of a service on the channel at once (call before first use). */
void rpc_channel_add_service(rpc_channel *ch, const ProtobufCServiceDescriptor *desc);
/* A method added by rpc_channel_add_service; NULL when unknown. Borrowed from the channel. */
const rpc_client_method *rpc_channel_method(const rpc_channel *ch, const char *service,
                                            const char *method);

typedef struct rpc_client_call rpc_client_call;

/* Runs exactly once per started call, on a completion-queue thread, when the call has ended
 * (answered, failed, cancelled or past its deadline). Must not block. The call's status and
 * response stay readable until rpc_client_call_destroy. */
typedef void (*rpc_client_call_done_fn)(rpc_client_call *call, void *user);

typedef struct {
  /* The server call this call is made for (may be NULL): the new call is its child and
   * completes on its completion queue. */
  rpc_ctx *parent;
  /* Without a parent: the queue the call completes on; its events are rpc_tags
   * (common/rpc_internal.h), so whoever drains it runs their fn. Ignored with a parent. */
  grpc_completion_queue *cq;
  gpr_timespec deadline; /* any clock; a parent's earlier deadline wins */
} rpc_client_call_opts;

/* Starts a unary call and returns at once; `done(call, user)` follows on a completion-queue
 * thread (never from inside this function). `req` is encoded before this returns. NULL only
 * when the core refuses the call (logged); `done` is then never called. Caller frees with
 * rpc_client_call_destroy once done has run. */
rpc_client_call *rpc_client_call_start(rpc_channel *ch, const rpc_client_method *m,
                                       const ProtobufCMessage *req,
                                       const rpc_client_call_opts *opts,
                                       rpc_client_call_done_fn done, void *user);

/* Asks the call to end with CANCELLED if it has not ended yet; done still runs. Any thread,
 * until rpc_client_call_destroy. */
void rpc_client_call_cancel(rpc_client_call *call);

/* Valid in and after done. The response is decoded into memory owned by the call: NULL
 * unless the status is OK; borrowed until rpc_client_call_destroy. */
menu_status rpc_client_call_status(const rpc_client_call *call);
const ProtobufCMessage *rpc_client_call_response(const rpc_client_call *call);
/* When the call ended, in ms of gpr's monotonic clock (for timings in logs). */
int64_t rpc_client_call_end_ms(const rpc_client_call *call);

/* Frees the call and its response. Only after done has run (done itself may call it). */
void rpc_client_call_destroy(rpc_client_call *call);

#endif
