/* The gRPC server runtime on the C core: a few completion-queue threads that never block, a
 * bounded pool of handler threads that may block (DynamoDB over HTTP, MySQL), registered
 * methods with many outstanding requests, and a handler table built from protobuf-c service
 * descriptors. The runtime admits or rejects each call before reading its message, decodes
 * the request (undecodable: INVALID_ARGUMENT), calls the typed handler, encodes the response,
 * sets the status, enforces the deadline, carries the request id, and records per-method
 * metrics (grpc_server_started_total, grpc_server_handled_total, grpc_server_handling_seconds,
 * grpc_server_msg_received_total, grpc_server_msg_sent_total; zero-valued series at start)
 * and one JSON log line per call. Built-in services (health, reflection) plug in through the
 * method and state-listener API at the end of this header.
 * Thread-safety: configuration and registration happen on one thread before
 * rpc_server_start; the rpc_ctx functions may be called from the thread running the handler
 * (rpc_ctx_cancelled and rpc_ctx_reply from any thread). */
#ifndef MENU_RPC_SERVER_H
#define MENU_RPC_SERVER_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/authz.h"
#include "common/config.h"
#include "common/metrics.h"
#include "common/status.h"
#include "common/trace.h"

typedef struct rpc_server rpc_server;
typedef struct rpc_ctx rpc_ctx;

/* ---- per-call context, valid until the call's reply is sent ------------------------------- */

/* Memory freed when the call ends: use it for everything in the response. Arena-owned. */
arena *rpc_ctx_arena(rpc_ctx *ctx);
#define RPC_NEW(ctx, Type, init_fn)                           \
  ({                                                          \
    Type *p_ = arena_alloc(rpc_ctx_arena(ctx), sizeof(Type)); \
    init_fn(p_);                                              \
    p_;                                                       \
  })
#define RPC_NEW_ARRAY(ctx, Type, n) ((Type *)arena_alloc(rpc_ctx_arena(ctx), sizeof(Type) * (n)))
char *rpc_ctx_strdup(rpc_ctx *ctx, const char *s); /* arena-owned */

/* Effective deadline: the caller's, capped by RPC_DEFAULT_DEADLINE_MS when it set none. */
gpr_timespec rpc_ctx_deadline(const rpc_ctx *ctx);
int64_t rpc_ctx_remaining_ms(const rpc_ctx *ctx); /* 0 when passed */
/* When a handler's own work (datastore or backend calls) should be over, so that its answer
 * still reaches the caller before the caller's timer fires and it learns why (a datastore or
 * backend slow or failing, a pool exhausted): the deadline less a tenth of what is left, at
 * most max_margin_ms. */
gpr_timespec rpc_ctx_work_deadline(const rpc_ctx *ctx, int64_t max_margin_ms);
/* The same with a 100 ms margin at most, as a mono_now_ms() instant (datastore clients). */
int64_t rpc_ctx_work_deadline_ms(const rpc_ctx *ctx);
bool rpc_ctx_expired(const rpc_ctx *ctx);
/* True once the caller cancelled, the deadline passed or the server is stopping (its grace
 * period is over). Any thread; cheap enough to poll from a transfer's progress callback. */
bool rpc_ctx_cancelled(const rpc_ctx *ctx);
/* The call whose synchronous handler runs on this thread, NULL on any other thread: lets a
 * datastore client deep below a handler poll rpc_ctx_cancelled (e.g. from libcurl's progress
 * callback) without a ctx parameter. Borrowed. */
const rpc_ctx *rpc_ctx_current(void);
/* rpc_ctx_cancelled(rpc_ctx_current()); false outside a handler. */
bool rpc_current_cancelled(void);

/* x-request-id from the caller, or one generated for this call. Never NULL; arena-owned. */
const char *rpc_ctx_request_id(const rpc_ctx *ctx);
/* First value of an inbound metadata key (lower case), NUL-terminated arena copy; NULL if
 * absent. */
const char *rpc_ctx_metadata(rpc_ctx *ctx, const char *key);
const char *rpc_ctx_peer(rpc_ctx *ctx);         /* borrowed, valid during the call */
const char *rpc_ctx_method(const rpc_ctx *ctx); /* "/menu.v1.X/Y", borrowed */
/* The caller's authenticated principal: its verified client certificate's first URI SAN, else
 * DNS SAN, else subject; NULL without one. The identity the authorization policy matched, derived
 * once per call. Arena-owned. */
const char *rpc_ctx_principal(rpc_ctx *ctx);
/* The server call, as the parent of outbound calls (deadline and cancellation propagation). */
grpc_call *rpc_ctx_call(const rpc_ctx *ctx);
/* The call's SERVER span, NULL when tracing is off: add attributes, or start children. Borrowed,
 * valid during the call. */
trace_span *rpc_ctx_span(const rpc_ctx *ctx);
/* Adds a field to this call's log line (e.g. backend timings); key and value are copied. */
void rpc_ctx_log_str(rpc_ctx *ctx, const char *key, const char *value);
void rpc_ctx_log_int(rpc_ctx *ctx, const char *key, int64_t value);

/* ---- handlers ----------------------------------------------------------------------------- */

/* One unary method. `req` is the decoded request; `resp` is a message of the method's output
 * type, already initialised: fill it with memory from the ctx arena. Return MENU_OK to send
 * it, or an error status (resp is then discarded). Runs on a handler thread; may block, but
 * should respect rpc_ctx_remaining_ms and rpc_ctx_cancelled. `svc` is the pointer given at
 * registration. */
typedef menu_status (*rpc_unary_fn)(rpc_ctx *ctx, const ProtobufCMessage *req,
                                    ProtobufCMessage *resp, void *svc);

/* Asynchronous unary handler: runs on a completion-queue thread right after the request is
 * admitted and decoded; must not block. It starts work and returns; the call ends when
 * rpc_ctx_reply is called, exactly once, from any thread (a CQ callback typically). */
typedef void (*rpc_async_fn)(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp,
                             void *svc);

/* ---- long-lived server streams (feeds) ----------------------------------------------------- */

/* A server stream that lives as long as its caller wants (a watch): messages are offered to
 * it from any thread and sent one at a time, never blocking anyone; it ends with a status
 * from its owner, when its caller leaves (cancel, connection lost, keepalive timeout), or when
 * the server stops (UNAVAILABLE, so that the caller reconnects to another replica). Feeds do
 * not count against GRPC_MAX_IN_FLIGHT (they are not unary work); they are counted in
 * grpc_server_started_total/handled_total/handling_seconds (grpc_type server_stream).
 * Thread-safety: every rpc_feed function may be called from any thread. */
typedef struct rpc_feed rpc_feed;

/* What a feed sends as one unit: a sequence of serialized messages sent back to back (e.g.
 * the pages of one version of a menu). Immutable and reference-counted, so one item built
 * once is sent to any number of feeds without a copy. */
typedef struct rpc_feed_item rpc_feed_item;
/* Takes a reference to each slice; caller unrefs the item. n >= 1. */
rpc_feed_item *rpc_feed_item_create(const grpc_slice *msgs, size_t n);
rpc_feed_item *rpc_feed_item_ref(rpc_feed_item *it);
void rpc_feed_item_unref(rpc_feed_item *it);
/* Bytes held by the item's messages (for memory accounting). */
size_t rpc_feed_item_bytes(const rpc_feed_item *it);

/* The stream of a feed method has been admitted and its request decoded (borrowed: valid
 * during the call only). Runs on a completion-queue thread: must not block. The handler either
 * ends the feed at once (rpc_feed_end, e.g. INVALID_ARGUMENT) or keeps it, and in both cases
 * owns one reference it gives back with rpc_feed_release. */
typedef void (*rpc_feed_fn)(rpc_feed *f, const ProtobufCMessage *req, void *svc);

/* Called once when the stream is over for any reason (the owner's rpc_feed_end included),
 * from any thread and with no lock of the feed held: the owner stops offering and calls
 * rpc_feed_release. `code` is what the caller saw (CANCELLED when it left). */
typedef void (*rpc_feed_ended_fn)(rpc_feed *f, grpc_status_code code, void *arg);
void rpc_feed_on_end(rpc_feed *f, rpc_feed_ended_fn fn, void *arg);

/* Queues `it` (takes a reference): it is sent after the item being sent now; an item queued
 * earlier and not started yet is dropped for it (a newer version replaces an older one: the
 * outbox holds one item). False when the stream has ended (nothing queued). */
bool rpc_feed_offer(rpc_feed *f, rpc_feed_item *it);
/* Ends the stream with st once the message being written (if any) is out; queued items are
 * dropped. A second call, or a call after the stream ended, does nothing. */
void rpc_feed_end(rpc_feed *f, menu_status st);
/* The owner's reference is given back; the feed is freed once its stream is over too. */
void rpc_feed_release(rpc_feed *f);
/* The caller's address ("ipv4:10.0.0.7:51234": one per connection). Borrowed, valid until
 * rpc_feed_release. */
const char *rpc_feed_peer(const rpc_feed *f);
/* First value of an inbound metadata key, NULL if absent; copied into buf (size n). */
const char *rpc_feed_metadata(const rpc_feed *f, const char *key, char *buf, size_t n);

/* ---- local calls -------------------------------------------------------------------------- */

/* The answer to a local call: `resp` (of the method's output type) is borrowed for the
 * duration of the callback and NULL unless st is OK. Runs on whichever thread the handler
 * replied from (a completion-queue thread, or the caller's own thread): must not block. */
typedef void (*rpc_local_done_fn)(void *arg, menu_status st, const ProtobufCMessage *resp);

/* Runs the asynchronous handler of `path` ("/menu.v1.MenuService/GetStoreMenu") in-process,
 * as if a caller had sent `req` (copied before this returns) with `timeout_ms` left: the same
 * code path as a network call, without the network, the admission limit or the call metrics.
 * Outbound calls it makes complete on the server's completion queues. For work the server
 * does on its own (e.g. recomposing a watched menu). Returns -1 when the method is unknown or
 * not asynchronous, or the server is not running (done is then never called). Any thread. */
int rpc_server_call_local(rpc_server *s, const char *path, const ProtobufCMessage *req,
                          int64_t timeout_ms, rpc_local_done_fn done, void *arg);

/* One entry of a handler table; `{ "Name", fn }` and `{ "Name", NULL, async_fn }` both work;
 * a server-streaming method takes `.feed_fn`. */
typedef struct {
  const char *name; /* method name as in the .proto, e.g. "ListCategories" */
  rpc_unary_fn fn;
  rpc_async_fn async_fn;
  rpc_feed_fn feed_fn;
  void *svc; /* handed to this method's handler instead of rpc_server_add_service's svc */
} rpc_method_impl;

/* Ends an asynchronous call: sends `resp` (the one given to the handler) when st is OK,
 * else the error. The ctx and its arena are invalid afterwards. A second call is ignored. */
void rpc_ctx_reply(rpc_ctx *ctx, menu_status st);
/* rpc_ctx_reply(ctx, MENU_OK) with the response already encoded (e.g. kept by a cache):
 * `bytes` (copied) are sent as the response message and `resp` is not encoded. */
void rpc_ctx_reply_encoded(rpc_ctx *ctx, const void *bytes, size_t len);

/* ---- server ------------------------------------------------------------------------------- */

typedef struct {
  const char *service_name;      /* for logs and metrics, e.g. "dynamo-svc" */
  const char *listen_addr;       /* GRPC_ADDR */
  const char *metrics_addr;      /* METRICS_ADDR */
  int cq_threads;                /* GRPC_CQ_THREADS */
  int handler_threads;           /* GRPC_HANDLER_THREADS */
  int requests_per_method;       /* outstanding requested calls per method and queue */
  int max_in_flight;             /* GRPC_MAX_IN_FLIGHT: admitted unary calls; 0 = 4 x handlers */
  int64_t max_queued_bytes;      /* GRPC_MAX_QUEUED_BYTES: request bytes waiting for a handler */
  int max_concurrent_streams;    /* GRPC_MAX_CONCURRENT_STREAMS: per connection */
  int64_t default_deadline_ms;   /* RPC_DEFAULT_DEADLINE_MS: when the caller sets none */
  int64_t shutdown_drain_ms;     /* SHUTDOWN_DRAIN_MS: NOT_SERVING but accepting */
  int64_t shutdown_grace_ms;     /* SHUTDOWN_GRACE_MS */
  int64_t max_connection_age_ms; /* GRPC_MAX_CONNECTION_AGE_MS, 0 = unlimited */
  int max_recv_bytes;            /* GRPC_MAX_RECV_BYTES */
  const char *tls_cert_file, *tls_key_file, *tls_client_ca_file; /* TLS_* (all optional) */
  const char *health_addr;       /* HEALTH_ADDR: optional plaintext listener serving only probes */
  const char *authz_policy_file; /* AUTHZ_POLICY_FILE: gRPC authorization policy (common/authz.h) */
  int64_t authz_refresh_ms;      /* AUTHZ_POLICY_REFRESH_MS: how often the file is checked */
  int64_t min_ping_interval_ms;  /* GRPC_MIN_PING_INTERVAL_MS: pings closer than this are strikes */
  int max_ping_strikes;          /* GRPC_MAX_PING_STRIKES: strikes before GOAWAY too_many_pings */
  int64_t
      max_connection_idle_ms;   /* GRPC_MAX_CONNECTION_IDLE_MS: close idle connections, 0 = never */
  int64_t keepalive_time_ms;    /* GRPC_KEEPALIVE_TIME_MS: ping each connection this often */
  int64_t keepalive_timeout_ms; /* GRPC_KEEPALIVE_TIMEOUT_MS: no ack in time: connection dead */
  /* AUTHZ_POLICY_FILE as rpc_server_config_load read and parsed it (the only parse at start-up),
   * NULL when unset or invalid; owned by the config until rpc_server_create takes it. */
  authz *authz;
} rpc_server_config;

/* Reads the variables named above with per-binary defaults for the two addresses, and loads
 * AUTHZ_POLICY_FILE (a file that cannot be read or parsed is a configuration error). The
 * strings are borrowed from the environment; out->authz is owned by out (rpc_server_create
 * takes it; a config that never reaches a server must authz_destroy it). */
void rpc_server_config_load(config *c, rpc_server_config *out, const char *service_name,
                            const char *default_listen, const char *default_metrics);

/* Creates the server (not yet listening); caller destroys. The registry is borrowed and must
 * outlive it. Takes cfg->authz (the server destroys it); the rest of cfg is copied. */
rpc_server *rpc_server_create(const rpc_server_config *cfg, metrics_registry *metrics);

/* Registers every method of `desc`; those without an entry in `impls` (terminated by a
 * {NULL} entry) answer UNIMPLEMENTED. Returns -1 (logged) when impls names a method the
 * service does not have. Call before rpc_server_start. Both pointers are borrowed. */
int rpc_server_add_service(rpc_server *s, const ProtobufCServiceDescriptor *desc,
                           const rpc_method_impl *impls, void *svc);

/* Binds, starts the threads and the metrics endpoint, tells the state listeners SERVING.
 * -1 on failure (logged). */
int rpc_server_start(rpc_server *s);
/* The bound gRPC port (useful with GRPC_ADDR=127.0.0.1:0); 0 before start. */
int rpc_server_port(const rpc_server *s);

/* Call rpc_server_block_signals() first thing in main, before any thread exists; then
 * rpc_server_wait_for_signal blocks until SIGTERM or SIGINT. SIGHUP stays blocked too (the
 * LOG_LEVEL_FILE watcher takes it; without one it is ignored instead of killing the process). */
void rpc_server_block_signals(void);
void rpc_server_wait_for_signal(rpc_server *s);
/* Graceful stop: listeners told DRAINING (health NOT_SERVING) while calls are still accepted
 * for SHUTDOWN_DRAIN_MS; then STOPPING: no new connections or calls (late calls get
 * UNAVAILABLE), accepted calls finish; after SHUTDOWN_GRACE_MS the calls still running are
 * answered UNAVAILABLE and their handlers see rpc_ctx_cancelled. Returns 0, or -1 when
 * handlers were still stuck one second later: the server must then not be destroyed (the
 * process should just exit). */
int rpc_server_shutdown(rpc_server *s);
void rpc_server_destroy(rpc_server *s);

/* Traces every call with t (borrowed, must outlive the server; NULL: tracing off). Call
 * before rpc_server_start. */
void rpc_server_set_tracer(rpc_server *s, tracer *t);

/* The metrics registry, for datastore metrics of the service. Borrowed. */
metrics_registry *rpc_server_metrics(rpc_server *s);

/* ---- plug-in API for built-in services (health, reflection) ------------------------------- */

/* A streaming call handed to its state machine. The machine owns `call` (unrefs it) and ends
 * the stream with rpc_stream_end exactly once, which records it in the metrics. */
typedef struct rpc_stream rpc_stream;
typedef void (*rpc_stream_start_fn)(rpc_stream *st, grpc_call *call, grpc_byte_buffer *payload,
                                    void *arg);
void rpc_stream_end(rpc_stream *st, grpc_status_code code); /* frees st */
/* Message counters of a stream (grpc_server_msg_sent_total / _received_total) and the message
 * events of its span: the machine calls them per message it sends, and per message it reads
 * after the first (the first message of a server stream, read by the runtime, is counted
 * already). Any thread, but calls for one stream never overlap (one batch of the stream is
 * in flight at a time). */
void rpc_stream_msg_sent(rpc_stream *st);
void rpc_stream_msg_received(rpc_stream *st);

enum {
  RPC_METHOD_PROBE = 1, /* never rejected by admission control; also served on HEALTH_ADDR */
  RPC_METHOD_QUIET = 2, /* successful calls logged at debug (kubelet probes) */
};

typedef struct {
  const char *service; /* full name, "grpc.health.v1.Health"; copied */
  const char *method;  /* "Check"; copied */
  const ProtobufCMessageDescriptor *in, *out;
  rpc_unary_fn fn;            /* one of these four; none: UNIMPLEMENTED */
  rpc_async_fn async_fn;      /*   unary on the CQ thread */
  rpc_stream_start_fn stream; /*   a stream (raw); */
  rpc_feed_fn feed_fn;        /*   a server stream fed by its owner (rpc_feed above) */
  bool client_streaming;      /*   false: the first message is read before `stream` */
  unsigned flags;             /* RPC_METHOD_* */
  void *arg;                  /* handed to the handler, borrowed */
} rpc_method_def;

/* Registers one method. Call before rpc_server_start. -1 after start. */
int rpc_server_add_method(rpc_server *s, const rpc_method_def *def);

/* Registered service names, in registration order; read-only after start. Borrowed. */
size_t rpc_server_service_count(const rpc_server *s);
const char *rpc_server_service_name(const rpc_server *s, size_t i);

/* Life-cycle notifications, on the thread that calls start/shutdown. */
typedef enum {
  RPC_SERVER_SERVING,  /* started */
  RPC_SERVER_DRAINING, /* SIGTERM: still accepting, about to stop */
  RPC_SERVER_STOPPING, /* no new calls; streams should end now */
} rpc_server_state;
typedef void (*rpc_server_state_fn)(void *arg, rpc_server_state state);
/* At most 4 listeners; `arg` is borrowed and must outlive the server's shutdown. */
void rpc_server_on_state(rpc_server *s, rpc_server_state_fn fn, void *arg);

/* Per-service readiness: whoever watches a service's dependencies (common/dependency.h) says
 * whether a registered service name can do its job; the health service follows it for that
 * name (the whole server, "", is not affected). Every name starts ready. One listener (the
 * health service; `arg` borrowed, must outlive the server). rpc_server_set_service_ready may
 * be called from any thread, also before start; unknown names are ignored by the listener. */
typedef void (*rpc_server_readiness_fn)(void *arg, const char *service, bool ready);
void rpc_server_on_readiness(rpc_server *s, rpc_server_readiness_fn fn, void *arg);
void rpc_server_set_service_ready(rpc_server *s, const char *service, bool ready);

#endif
