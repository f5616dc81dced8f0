/* Message buffers and the completion-queue loop shared by server and client. */
#include <grpc/byte_buffer_reader.h>
#include <string.h>

#include "common/rpc_internal.h"

void rpc_cq_run(grpc_completion_queue *cq) {
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN) break;
    if (ev.type == GRPC_OP_COMPLETE) {
      rpc_tag *tag = ev.tag;
      tag->fn(tag, ev.success != 0);
    }
  }
}

grpc_slice rpc_slice_from_message(const ProtobufCMessage *m) {
  size_t n = protobuf_c_message_get_packed_size(m);
  grpc_slice s = grpc_slice_malloc(n);
  protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
  return s;
}

bool rpc_byte_buffer_copy(grpc_byte_buffer *bb, unsigned char *dst) {
  grpc_byte_buffer_reader r;
  if (!grpc_byte_buffer_reader_init(&r, bb)) return false;
  grpc_slice s;
  while (grpc_byte_buffer_reader_next(&r, &s)) {
    size_t len = GRPC_SLICE_LENGTH(s);
    memcpy(dst, GRPC_SLICE_START_PTR(s), len);
    dst += len;
    grpc_slice_unref(s);
  }
  grpc_byte_buffer_reader_destroy(&r);
  return true;
}

size_t rpc_read_byte_buffer(grpc_byte_buffer *bb, arena *a, unsigned char **out) {
  size_t n = grpc_byte_buffer_length(bb);
  unsigned char *p = arena_alloc(a, n ? n : 1);
  if (!rpc_byte_buffer_copy(bb, p)) {
    *out = NULL;
    return 0;
  }
  *out = p;
  return n;
}
