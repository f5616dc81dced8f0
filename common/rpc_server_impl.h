/* Internals of the server runtime, shared by its files only:
 *   rpc_server.c         creation, the method registry, state listeners
 *   rpc_server_config.c  the environment variables
 *   rpc_dispatch.c       requested calls, admission control, unknown methods, streams
 *   rpc_call.c           one unary call: read, decode, handler, the reply, accounting
 *   rpc_authorize.c      the peer identity of a call (derived once) and the policy decision
 *   rpc_workqueue.c      the handler pool
 *   rpc_feed.c           long-lived server streams fed by their owner (rpc_feed)
 *   rpc_local.c          in-process calls of asynchronous handlers
 *   rpc_lifecycle.c      start (listeners, TLS), signals, drain and shutdown */
#ifndef MENU_RPC_SERVER_IMPL_H
#define MENU_RPC_SERVER_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "common/authz.h"
#include "common/rpc_internal.h"
#include "common/rpc_server.h"
#include "common/rpc_workqueue.h"

typedef enum { RPC_SYNC, RPC_ASYNC, RPC_STREAM, RPC_FEED, RPC_UNIMPLEMENTED } rpc_kind;

typedef struct rpc_method {
  char *path;       /* "/menu.v1.CategoryService/ListCategories" */
  char *service;    /* "menu.v1.CategoryService" (metrics label grpc_service) */
  char *name;       /* "ListCategories" (metrics label grpc_method) */
  const char *type; /* grpc_type label: unary, server_stream, bidi_stream */
  rpc_kind kind;
  rpc_method_def def; /* service and method point at the copies above */
  grpc_server *srv;   /* the server it is registered on (main or health-only) */
  void *handle;       /* from grpc_server_register_method */
} rpc_method;

struct log_field {
  struct log_field *next;
  const char *key, *str;
  int64_t num;
};

struct rpc_ctx {
  rpc_job job;             /* first: the handler pool's link */
  rpc_tag recv_tag;        /* RECV_MESSAGE */
  rpc_tag done_tag;        /* the reply batch */
  rpc_tag close_tag;       /* RECV_CLOSE_ON_SERVER, posted on arrival so that a client's cancel
                            * reaches the call (and its children) while the handler still runs */
  atomic_int pending_tags; /* the ctx is finished when done and close have fired */
  atomic_bool replied;     /* rpc_ctx_reply ran */
  atomic_bool cancelled;   /* the caller cancelled (or the deadline fired in the core) */
  int close_cancelled;
  bool reply_ok;
  bool msg_received;  /* the request message was read (grpc_server_msg_received_total) */
  bool admitted;      /* counted in in_flight and on the calls list */
  bool quiet_dropped; /* dropped off the queue without running the handler */
  rpc_server *server;
  rpc_method *method;
  grpc_call *call;
  grpc_completion_queue *cq; /* the call's: its children complete there too (rpc_client) */
  grpc_metadata_array md;
  grpc_byte_buffer *payload;
  size_t charged;        /* request bytes charged to the server's budget */
  gpr_timespec deadline; /* effective, monotonic */
  gpr_timespec started;  /* monotonic */
  arena arena;
  const char *request_id;
  char *peer;
  authz_peer identity; /* the peer's authenticated identity, once identity_known (arena-owned) */
  bool identity_known; /* derived (rpc_ctx_peer_identity): at most once per call */
  ProtobufCMessage *resp;
  menu_status status;
  grpc_status_code forced_code; /* OK, or what the server cancelled the call with */
  grpc_byte_buffer *reply;
  grpc_slice encoded; /* rpc_ctx_reply_encoded's answer, sent instead of encoding resp */
  bool has_encoded;
  grpc_metadata initial_md[1];
  grpc_slice status_details;
  grpc_metadata trailer[2]; /* a non-OK status: grpc-status-details-bin, x-request-id */
  struct log_field *fields; /* added by the handler, logged when the call ends */
  trace_span *span;         /* SERVER span, NULL when tracing is off */
  rpc_ctx *prev, *next;     /* the server's list of admitted calls, under calls_mu */
  rpc_ctx *next_wait;       /* waiting for read budget, under calls_mu */
  /* A local call (rpc_server_call_local): no grpc_call; the reply goes to local_done. */
  rpc_local_done_fn local_done;
  void *local_arg;
};

struct rpc_stream {
  rpc_server *server;
  rpc_method *method;
  gpr_timespec started;
  trace_span *span;        /* SERVER span, NULL when tracing is off */
  uint64_t sent, received; /* message.id of the span's message events */
};

#define RPC_MAX_LISTENERS 4

struct rpc_server {
  rpc_server_config cfg;
  metrics_registry *metrics;
  metrics_family *m_started, *m_handled, *m_seconds, *m_msg_received, *m_msg_sent;
  metrics_family *m_rejected, *m_queued_seconds, *m_queue_depth, *m_in_flight, *m_bytes;
  grpc_server *server;
  grpc_server *health_server; /* HEALTH_ADDR: plaintext, only probe methods */
  grpc_completion_queue **cqs;
  pthread_t *cq_threads;
  rpc_method *methods;
  size_t n_methods, cap_methods;
  char **services;
  size_t n_services;
  struct {
    rpc_server_state_fn fn;
    void *arg;
  } listeners[RPC_MAX_LISTENERS];
  int n_listeners;
  rpc_server_readiness_fn readiness_fn; /* set before start, read-only afterwards */
  void *readiness_arg;
  metrics_http *http;
  authz *authz;   /* AUTHZ_POLICY_FILE, or NULL: every call allowed */
  tracer *tracer; /* borrowed; NULL: tracing off */
  bool started;
  int port;
  atomic_bool stopping;   /* no re-posted requests; new unary calls get UNAVAILABLE */
  atomic_bool cancel_all; /* grace is over: every call reports cancelled */
  atomic_int in_flight;   /* admitted unary calls not yet finished */
  rpc_workqueue *queue;
  /* request bytes and the admitted calls */
  pthread_mutex_t calls_mu;
  int64_t bytes_charged;          /* guarded by calls_mu */
  rpc_ctx *calls;                 /* guarded by calls_mu */
  rpc_ctx *wait_head, *wait_tail; /* guarded by calls_mu */
  atomic_int local_calls;         /* rpc_server_call_local calls not replied yet */
  atomic_uint local_next_cq;      /* round robin of local calls over the queues */
  /* feeds (rpc_feed.c) */
  pthread_mutex_t feeds_mu;
  struct rpc_feed *feeds; /* live streams, guarded by feeds_mu */
  bool feeds_ended;       /* STOPPING: every feed ended, new ones refused; under feeds_mu */
  atomic_int n_feeds;     /* feeds not over yet */
  metrics_family *m_feeds;
};

/* rpc_server.c */
void rpc_server_notify(rpc_server *s, rpc_server_state state);
/* Zero-valued series for every registered method (started, handled OK, latency, messages)
 * and every rejection reason, so that rate() and absent() work before the first call. */
void rpc_server_metrics_init_series(rpc_server *s);

/* rpc_dispatch.c: posts the outstanding requests of every method on every queue. */
void rpc_dispatch_post_all(rpc_server *s);

/* rpc_authorize.c: the authorization policy applied to a call that just arrived (CQ thread),
 * whose peer identity is `peer` (borrowed). True when allowed; otherwise `why` (of size n) says
 * who may not call what. */
bool rpc_authorize(rpc_server *s, const char *path, const authz_peer *peer,
                   const grpc_metadata_array *md, char *why, size_t n);
/* The call's peer identity from its auth context, derived on the first use and kept in the
 * ctx: authorization, the log line and audit fields (rpc_ctx_principal) all see this one.
 * Borrowed, arena-owned; a local call (no grpc_call) has an empty identity (no TLS). */
const authz_peer *rpc_ctx_peer_identity(rpc_ctx *ctx);

/* rpc_feed.c: a feed stream that just arrived with its request (CQ thread); takes the call
 * and the payload. */
void rpc_feed_arrived(rpc_server *s, rpc_method *m, grpc_call *call, grpc_metadata_array *md,
                      grpc_byte_buffer *payload);
/* Ends every feed with UNAVAILABLE and refuses new ones (the server is stopping). */
void rpc_feed_end_all(rpc_server *s);

/* rpc_local.c: the reply of a local call (from rpc_ctx_reply); frees the ctx. */
void rpc_local_reply(rpc_ctx *ctx);
/* Waits until no local call is in flight or `deadline` passes; false on timeout. */
bool rpc_local_wait_idle(rpc_server *s, gpr_timespec deadline);

/* rpc_call.c */
/* A new request id (a version-4 UUID) in arena memory. */
const char *rpc_request_id_make(arena *a);
/* A unary call that just arrived on `cq` (CQ thread); takes the call and the metadata array. */
void rpc_call_arrived(rpc_server *s, rpc_method *m, grpc_call *call, grpc_completion_queue *cq,
                      grpc_metadata_array *md, gpr_timespec deadline);
/* The handler pool's job function. */
void rpc_call_run(rpc_job *job, void *arg);
/* Grace is over: answers every admitted call UNAVAILABLE so that its caller may retry. */
void rpc_call_cancel_all(rpc_server *s);

#endif
