/* Plumbing shared by the server runtime and the client: completion-queue tags and message
 * buffers. Not for services: they use rpc_server.h and rpc_client.h. */
#ifndef MENU_RPC_INTERNAL_H
#define MENU_RPC_INTERNAL_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>

#include "common/arena.h"
#include "common/rpc_server.h"

/* Every completion-queue event's tag points at one of these; fn runs on the CQ thread. */
typedef struct rpc_tag {
  void (*fn)(struct rpc_tag *tag, bool ok);
} rpc_tag;

/* The completion queue a server call is bound to, for the client calls made on its behalf:
 * their callbacks run on the same CQ threads as the call's own events. */
grpc_completion_queue *rpc_ctx_cq(const rpc_ctx *ctx);

/* Runs a completion queue until it is shut down, dispatching each event to its tag. */
void rpc_cq_run(grpc_completion_queue *cq);

/* The packed message as a new slice; caller unrefs. */
grpc_slice rpc_slice_from_message(const ProtobufCMessage *m);
/* Reads a whole byte buffer into arena memory; returns its length. */
size_t rpc_read_byte_buffer(grpc_byte_buffer *bb, arena *a, unsigned char **out);

#endif
