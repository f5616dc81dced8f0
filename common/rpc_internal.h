/* Internals shared by the server runtime and the two built-in services (health, reflection).
 * Not for services: they use rpc_server.h. */
#ifndef MENU_RPC_INTERNAL_H
#define MENU_RPC_INTERNAL_H

#include <grpc/grpc.h>
#include <pthread.h>
#include <stdbool.h>

#include "common/rpc_server.h"

/* Every completion-queue event's tag points at one of these; fn runs on the CQ thread. */
typedef struct rpc_tag {
  void (*fn)(struct rpc_tag *tag, bool ok);
} rpc_tag;

/* How a registered method is served. */
typedef enum {
  RPC_KIND_UNARY,        /* typed handler on the handler pool */
  RPC_KIND_UNARY_INLINE, /* typed handler on the CQ thread (fast, never blocks) */
  RPC_KIND_STREAM,       /* a streaming state machine started on the CQ thread */
} rpc_kind;

/* Starts serving a streaming call that just arrived; owns `call` (and must unref it) and the
 * initial payload (may be NULL). Runs on the call's CQ thread. */
typedef void (*rpc_stream_start_fn)(rpc_server *s, grpc_call *call, grpc_byte_buffer *payload,
                                    void *arg);

/* Registers a method by full path with its kind. For streams, `start` is used and `fn` is NULL.
 * `service` is the full service name ("grpc.health.v1.Health") for health and reflection. */
int rpc_server_add_raw_method(rpc_server *s, const char *service, const char *method, rpc_kind kind,
                              const ProtobufCMessageDescriptor *in,
                              const ProtobufCMessageDescriptor *out, rpc_unary_fn fn,
                              rpc_stream_start_fn start, void *arg, bool payload);

/* Registered service names, in registration order; valid after start, read-only. */
size_t rpc_server_service_count(const rpc_server *s);
const char *rpc_server_service_name(const rpc_server *s, size_t i);

/* Health (health.c). */
typedef struct health health;
health *health_create(rpc_server *s);
void health_destroy(health *h);
int health_register(health *h);                   /* adds grpc.health.v1.Health */
void health_set_serving(health *h, bool serving); /* for "" and every registered service */
/* Ends every Watch stream (after a last NOT_SERVING message) so shutdown need not wait. */
void health_end_watches(health *h);

/* Reflection (reflection.c) over the descriptor set embedded in the binary. */
typedef struct reflection reflection;
reflection *reflection_create(rpc_server *s); /* NULL if the embedded set does not decode */
void reflection_destroy(reflection *r);
int reflection_register(reflection *r);

/* Sends a complete unary reply (or error) on a call without touching metrics; used by
 * streaming code for failures. */
grpc_slice rpc_slice_from_message(const ProtobufCMessage *m);
/* Reads a whole byte buffer into arena memory; returns its length. */
size_t rpc_read_byte_buffer(grpc_byte_buffer *bb, arena *a, unsigned char **out);

#endif
