/* The server's authorization step: the peer's identity from the call's auth context (derived
 * once per call, shared with the audit fields), the decision from the current policy
 * (common/authz.h), and the words a refused caller reads. */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/rpc_server_impl.h"

const authz_peer *rpc_ctx_peer_identity(rpc_ctx *ctx) {
  if (!ctx->identity_known) {
    if (ctx->call)
      authz_peer_from_call(ctx->call, &ctx->arena, &ctx->identity);
    else
      memset(&ctx->identity, 0, sizeof ctx->identity);
    ctx->identity_known = true;
  }
  return &ctx->identity;
}

const char *rpc_ctx_principal(rpc_ctx *ctx) { return rpc_ctx_peer_identity(ctx)->principal; }

bool rpc_authorize(rpc_server *s, const char *path, const authz_peer *peer,
                   const grpc_metadata_array *md, char *why, size_t n) {
  char rule[128];
  if (authz_check(s->authz, peer, path, md, rule, sizeof rule)) return true;
  const char *who = peer->principal ? peer->principal
                    : peer->tls     ? "a caller without a client certificate"
                                    : "a caller without TLS";
  if (rule[0])
    snprintf(why, n, "permission denied: %s may not call %s (rule %s)", who, path, rule);
  else
    snprintf(why, n, "permission denied: %s may not call %s", who, path);
  return false;
}
