/* The server's authorization step: the peer's identity from the call's auth context, the
 * decision from the current policy (common/authz.h), and the words a refused caller reads. */
#include <stdio.h>

#include "common/log.h"
#include "common/rpc_server_impl.h"

bool rpc_authorize(rpc_server *s, const char *path, grpc_call *call, grpc_metadata_array *md,
                   arena *a, const char **principal, char *why, size_t n) {
  authz_peer peer;
  authz_peer_from_call(call, a, &peer);
  *principal = peer.principal;
  char rule[128];
  if (authz_check(s->authz, &peer, path, md, rule, sizeof rule)) return true;
  const char *who = peer.principal ? peer.principal
                    : peer.tls     ? "a caller without a client certificate"
                                   : "a caller without TLS";
  if (rule[0])
    snprintf(why, n, "permission denied: %s may not call %s (rule %s)", who, path, rule);
  else
    snprintf(why, n, "permission denied: %s may not call %s", who, path);
  return false;
}
