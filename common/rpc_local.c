/* Local calls: an asynchronous handler run in-process with a ctx that has no grpc_call, so
 * that work the server does on its own (recomposing a watched menu) takes the very code path
 * a caller's call takes. The reply goes to a callback instead of the network. */
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdlib.h>
#include <string.h>

#include "common/rpc_server_impl.h"

static rpc_method *method_find(rpc_server *s, const char *path) {
  for (size_t i = 0; i < s->n_methods; i++)
    if (s->methods[i].srv == s->server && !strcmp(s->methods[i].path, path)) return &s->methods[i];
  return NULL;
}

int rpc_server_call_local(rpc_server *s, const char *path, const ProtobufCMessage *req,
                          int64_t timeout_ms, rpc_local_done_fn done, void *arg) {
  if (!s->started || atomic_load(&s->stopping)) return -1;
  rpc_method *m = method_find(s, path);
  if (!m || m->kind != RPC_ASYNC || req->descriptor != m->def.in) return -1;
  rpc_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) abort();
  ctx->server = s;
  ctx->method = m;
  unsigned cq = atomic_fetch_add(&s->local_next_cq, 1) % (unsigned)s->cfg.cq_threads;
  ctx->cq = s->cqs[cq];
  ctx->started = gpr_now(GPR_CLOCK_MONOTONIC);
  ctx->deadline = gpr_time_add(ctx->started, gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
  arena_init(&ctx->arena);
  grpc_metadata_array_init(&ctx->md);
  ctx->request_id = rpc_request_id_make(&ctx->arena);
  ctx->local_done = done;
  ctx->local_arg = arg;
  /* The handler may keep pointers into its request until it replies: give it its own copy. */
  size_t n = protobuf_c_message_get_packed_size(req);
  unsigned char *buf = arena_alloc(&ctx->arena, n ? n : 1);
  protobuf_c_message_pack(req, buf);
  ProtobufCMessage *copy = protobuf_c_message_unpack(m->def.in, &ctx->arena.pb, n, buf);
  if (!copy) abort(); /* what protobuf-c packed it unpacks */
  ctx->resp = arena_alloc(&ctx->arena, m->def.out->sizeof_message);
  protobuf_c_message_init(m->def.out, ctx->resp);
  atomic_fetch_add(&s->local_calls, 1);
  m->def.async_fn(ctx, copy, ctx->resp, m->def.arg);
  return 0;
}

void rpc_local_reply(rpc_ctx *ctx) {
  rpc_server *s = ctx->server;
  bool ok = ctx->status.code == GRPC_STATUS_OK;
  const ProtobufCMessage *resp = ctx->resp;
  if (ctx->has_encoded) {
    /* The handler answered with bytes it kept (rpc_ctx_reply_encoded): decode them. */
    if (ok) {
      resp = protobuf_c_message_unpack(ctx->method->def.out, &ctx->arena.pb,
                                       GRPC_SLICE_LENGTH(ctx->encoded),
                                       GRPC_SLICE_START_PTR(ctx->encoded));
      if (!resp) {
        ok = false;
        ctx->status = MENU_INTERNAL("%s: kept answer does not decode", ctx->method->path);
      }
    }
    grpc_slice_unref(ctx->encoded);
  }
  ctx->local_done(ctx->local_arg, ctx->status, ok ? resp : NULL);
  grpc_metadata_array_destroy(&ctx->md);
  if (ctx->peer) gpr_free(ctx->peer);
  arena_free(&ctx->arena);
  free(ctx);
  atomic_fetch_sub(&s->local_calls, 1);
}

bool rpc_local_wait_idle(rpc_server *s, gpr_timespec deadline) {
  while (atomic_load(&s->local_calls) > 0) {
    if (gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), deadline) >= 0) return false;
    gpr_sleep_until(
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(5, GPR_TIMESPAN)));
  }
  return true;
}
