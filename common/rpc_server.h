/* The gRPC server runtime on the C core: a few completion-queue threads that never block,
 * a pool of handler threads that may block (DynamoDB over HTTP, MySQL), registered methods
 * with many outstanding requests, and a handler table built from protobuf-c service
 * descriptors. The runtime decodes the request (undecodable: INVALID_ARGUMENT), calls the
 * typed handler, encodes the response, sets the status, enforces the deadline, carries the
 * request id, and records per-method metrics (grpc_server_handled_total,
 * grpc_server_handling_seconds) and one JSON log line per call.
 * Every binary also gets grpc.health.v1.Health and server reflection (v1 and v1alpha). */
#ifndef MENU_RPC_SERVER_H
#define MENU_RPC_SERVER_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/config.h"
#include "common/metrics.h"
#include "common/status.h"

typedef struct rpc_server rpc_server;
typedef struct rpc_ctx rpc_ctx;

/* ---- per-call context, valid only during the handler call ---------------------------- */

/* Memory freed when the call ends: use it for everything in the response. */
arena *rpc_ctx_arena(rpc_ctx *ctx);
#define RPC_NEW(ctx, Type, init_fn)                           \
  ({                                                          \
    Type *p_ = arena_alloc(rpc_ctx_arena(ctx), sizeof(Type)); \
    init_fn(p_);                                              \
    p_;                                                       \
  })
#define RPC_NEW_ARRAY(ctx, Type, n) ((Type *)arena_alloc(rpc_ctx_arena(ctx), sizeof(Type) * (n)))
char *rpc_ctx_strdup(rpc_ctx *ctx, const char *s);

/* Effective deadline: the caller's, capped by RPC_DEFAULT_DEADLINE_MS when it set none. */
gpr_timespec rpc_ctx_deadline(const rpc_ctx *ctx);
int64_t rpc_ctx_remaining_ms(const rpc_ctx *ctx); /* 0 when passed */
bool rpc_ctx_expired(const rpc_ctx *ctx);

/* x-request-id from the caller, or one generated for this call. Never NULL. */
const char *rpc_ctx_request_id(const rpc_ctx *ctx);
/* First value of an inbound metadata key (lower case), NUL-terminated copy; NULL if absent. */
const char *rpc_ctx_metadata(rpc_ctx *ctx, const char *key);
const char *rpc_ctx_peer(rpc_ctx *ctx);
const char *rpc_ctx_method(const rpc_ctx *ctx); /* "/menu.v1.X/Y" */
/* The server call, as the parent of outbound calls (deadline and cancellation propagation). */
grpc_call *rpc_ctx_call(const rpc_ctx *ctx);
/* Adds a field to this call's log line (e.g. backend timings). */
void rpc_ctx_log_str(rpc_ctx *ctx, const char *key, const char *value);
void rpc_ctx_log_int(rpc_ctx *ctx, const char *key, int64_t value);

/* ---- handlers ----------------------------------------------------------------------------- */

/* One unary method. `req` is the decoded request; `resp` is a message of the method's output
 * type, already initialised: fill it with memory from the ctx arena. Return MENU_OK to send
 * it, or an error status (resp is then discarded). Runs on a handler thread; may block, but
 * should respect rpc_ctx_remaining_ms. `svc` is the pointer given at registration. */
typedef menu_status (*rpc_unary_fn)(rpc_ctx *ctx, const ProtobufCMessage *req,
                                    ProtobufCMessage *resp, void *svc);

typedef struct {
  const char *name; /* method name as in the .proto, e.g. "ListCategories" */
  rpc_unary_fn fn;
} rpc_method_impl;

/* ---- server ------------------------------------------------------------------------------- */

typedef struct {
  const char *service_name;      /* for logs and metrics, e.g. "dynamo-svc" */
  const char *listen_addr;       /* GRPC_ADDR */
  const char *metrics_addr;      /* METRICS_ADDR */
  int cq_threads;                /* GRPC_CQ_THREADS */
  int handler_threads;           /* GRPC_HANDLER_THREADS */
  int requests_per_method;       /* outstanding requested calls per method and queue */
  int64_t default_deadline_ms;   /* RPC_DEFAULT_DEADLINE_MS: when the caller sets none */
  int64_t shutdown_grace_ms;     /* SHUTDOWN_GRACE_MS */
  int64_t max_connection_age_ms; /* GRPC_MAX_CONNECTION_AGE_MS, 0 = unlimited */
  int max_recv_bytes;            /* GRPC_MAX_RECV_BYTES */
  const char *tls_cert_file, *tls_key_file, *tls_client_ca_file; /* TLS_* (all optional) */
  const char *health_addr; /* HEALTH_ADDR: optional plaintext listener serving only health */
} rpc_server_config;

/* Reads the variables named above with per-binary defaults for the two addresses. */
void rpc_server_config_load(config *c, rpc_server_config *out, const char *service_name,
                            const char *default_listen, const char *default_metrics);

/* Creates the server (not yet listening). The registry is borrowed and must outlive it. */
rpc_server *rpc_server_create(const rpc_server_config *cfg, metrics_registry *metrics);

/* Registers every method of `desc`; those without an entry in `impls` (NULL-terminated by a
 * {NULL, NULL} entry) answer UNIMPLEMENTED. Returns -1 (logged) when impls names a method
 * the service does not have. Call before rpc_server_start. */
int rpc_server_add_service(rpc_server *s, const ProtobufCServiceDescriptor *desc,
                           const rpc_method_impl *impls, void *svc);

/* Binds, starts the threads and the metrics endpoint, sets health SERVING. -1 on failure. */
int rpc_server_start(rpc_server *s);
/* The bound gRPC port (useful with GRPC_ADDR=127.0.0.1:0); 0 before start. */
int rpc_server_port(const rpc_server *s);

/* Blocks until SIGTERM or SIGINT, then shuts down gracefully: health NOT_SERVING, no new
 * calls, in-flight calls get SHUTDOWN_GRACE_MS to finish, then the rest are cancelled.
 * Call rpc_server_block_signals() first thing in main, before any thread exists. */
void rpc_server_block_signals(void);
void rpc_server_wait_for_signal(rpc_server *s);
void rpc_server_shutdown(rpc_server *s);
void rpc_server_destroy(rpc_server *s);

/* The metrics registry, for datastore metrics of the service. */
metrics_registry *rpc_server_metrics(rpc_server *s);

#endif
