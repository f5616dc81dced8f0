/* Plumbing shared by the server runtime and the client: completion-queue tags and message
 * buffers. Not for services: they use rpc_server.h and rpc_client.h. */
#ifndef MENU_RPC_INTERNAL_H
#define MENU_RPC_INTERNAL_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>

#include "common/arena.h"
#include "common/rpc_server.h"
#include "common/trace.h"

/* Every completion-queue event's tag points at one of these; fn runs on the CQ thread. */
typedef struct rpc_tag {
  void (*fn)(struct rpc_tag *tag, bool ok);
} rpc_tag;

/* The completion queue a server call is bound to, for the client calls made on its behalf:
 * their callbacks run on the same CQ threads as the call's own events. */
grpc_completion_queue *rpc_ctx_cq(const rpc_ctx *ctx);
/* The metadata the call arrived with (borrowed, read-only, valid during the call). */
const grpc_metadata_array *rpc_ctx_incoming(const rpc_ctx *ctx);

/* rpc_trace.c: the spans of gRPC calls (OpenTelemetry RPC conventions). All return NULL when
 * tracing is off (t or parent NULL). The server span's parent comes from the traceparent and
 * tracestate in md (unless OTEL_PROPAGATORS leaves tracecontext out: then every call starts a
 * trace); path is "/pkg.Service/Method"; peer and target are gRPC addresses
 * ("ipv4:127.0.0.1:5000", "dns:///host:port"). Caller ends the span with rpc_trace_end. */
trace_span *rpc_trace_server_start(tracer *t, const char *path, const char *service,
                                   const char *method, const grpc_metadata_array *md,
                                   const char *listen_addr, int port, const char *peer);
trace_span *rpc_trace_client_start(trace_span *parent, const char *path, const char *service,
                                   const char *method, const char *target);
/* Records the status (rpc.grpc.status_code; ERROR as the conventions say) and ends the span. */
void rpc_trace_end(trace_span *span, bool server, grpc_status_code code, const char *message);
/* A "message" event of a streaming call (RPC conventions: message.type SENT or RECEIVED,
 * message.id counting from 1 per direction, message.uncompressed_size unless bytes is -1:
 * unknown). Nothing when the span is not recording; past the span's event limit only a
 * counter moves. */
void rpc_trace_message(trace_span *span, bool sent, uint64_t id, int64_t bytes);
/* Writes what OTEL_PROPAGATORS sends on with a call made under span into md (room for
 * RPC_TRACE_MAX_MD): traceparent and tracestate (tracecontext), the `baggage` of `incoming`
 * (the metadata of the call it is made for, may be NULL) unchanged (baggage). Returns how many
 * entries (0 for a NULL span: tracing off). The values are new slices: caller unrefs. */
#define RPC_TRACE_MAX_MD 3
size_t rpc_trace_inject(const trace_span *span, const grpc_metadata_array *incoming,
                        grpc_metadata *md);

/* Runs a completion queue until it is shut down, dispatching each event to its tag. */
void rpc_cq_run(grpc_completion_queue *cq);

/* The packed message as a new slice; caller unrefs. */
grpc_slice rpc_slice_from_message(const ProtobufCMessage *m);
/* Copies a received byte buffer's bytes into dst, which holds grpc_byte_buffer_length(bb)
 * bytes; false when it cannot be read. bb stays the caller's. */
bool rpc_byte_buffer_copy(grpc_byte_buffer *bb, unsigned char *dst);
/* Reads a whole byte buffer into arena memory; returns its length. */
size_t rpc_read_byte_buffer(grpc_byte_buffer *bb, arena *a, unsigned char **out);

#endif
