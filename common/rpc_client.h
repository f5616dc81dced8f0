/* gRPC client on the C core: channels to `dns:///host:port` with round_robin (and any retry
 * policy) from a service config, registered methods, and batches of asynchronous unary calls
 * that are all in flight at once. A batch made from a server call (rpc_ctx) propagates its
 * deadline and cancellation (GRPC_PROPAGATE_DEFAULTS) and its x-request-id.
 * Channels are thread-safe and meant to live as long as the process; a batch belongs to one
 * thread. Records grpc_client_handled_total and grpc_client_handling_seconds. */
#ifndef MENU_RPC_CLIENT_H
#define MENU_RPC_CLIENT_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>

#include "common/arena.h"
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
  int keepalive_time_ms;     /* 0: gRPC's default (off) */
  metrics_registry *metrics; /* may be NULL */
} rpc_channel_config;

/* NULL (logged) when the TLS files cannot be read. Caller destroys after every batch is gone. */
rpc_channel *rpc_channel_create(const rpc_channel_config *cfg);
void rpc_channel_destroy(rpc_channel *ch);

/* Registers every method of a service on the channel at once (call before first use). */
void rpc_channel_add_service(rpc_channel *ch, const ProtobufCServiceDescriptor *desc);
/* A method added by rpc_channel_add_service; NULL when unknown. Borrowed from the channel. */
const rpc_client_method *rpc_channel_method(const rpc_channel *ch, const char *service,
                                            const char *method);

typedef struct rpc_batch rpc_batch;
typedef struct rpc_pending rpc_pending;

/* Calls made in a batch are children of `parent` (may be NULL) and end by `deadline`
 * (GPR_CLOCK_MONOTONIC or REALTIME). Responses are decoded into `a`, which must outlive
 * their use. */
rpc_batch *rpc_batch_create(rpc_ctx *parent, gpr_timespec deadline, arena *a);

/* Starts a call (non-blocking). `user` is handed back by rpc_pending_user. NULL only when the
 * core refuses the call, which is logged. */
rpc_pending *rpc_batch_start(rpc_batch *b, rpc_channel *ch, const rpc_client_method *m,
                             const ProtobufCMessage *req, void *user);

/* Waits for the next call of the batch to finish; NULL when none is outstanding. */
rpc_pending *rpc_batch_next(rpc_batch *b);

/* Cancels what is still running, waits for it, frees every pending. */
void rpc_batch_destroy(rpc_batch *b);

menu_status rpc_pending_status(const rpc_pending *p);
const ProtobufCMessage *rpc_pending_response(const rpc_pending *p); /* NULL unless OK */
void *rpc_pending_user(const rpc_pending *p);
/* Monotonic end, in ms since an arbitrary epoch (gpr's monotonic clock): for timings in logs. */
int64_t rpc_pending_end_ms(const rpc_pending *p);

#endif
