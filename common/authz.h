/* Per-method authorization in gRPC's own policy format (gRFC A43: `name`, `deny_rules`,
 * `allow_rules`; each rule with `source.principals` and `request.paths` / `request.headers`,
 * exact, prefix `abc*`, suffix `*abc` and presence `*` matches). Deny rules win; a call that no
 * allow rule matches is denied. Principals come from the peer's verified client certificate:
 * URI SANs, then DNS SANs, then the subject; without TLS no principal matches, and over TLS
 * without a client certificate only the empty principal "" does.
 *
 * libgrpc 1.51 as Debian ships it exports no policy provider constructors, so the runtime
 * applies the format itself. The policy file is re-read when it changes (a watcher thread
 * polls its mtime/size/inode); a reload that does not parse is logged and the last good policy
 * stays. The file is read once at start-up (authz_load, by the configuration loader) and that
 * same policy is the one served first. Thread-safe: authz_check may run on any thread while a
 * reload swaps the policy. */
#ifndef MENU_AUTHZ_H
#define MENU_AUTHZ_H

#include <grpc/grpc.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"

typedef struct authz authz;
typedef struct authz_policy authz_policy;

/* The authenticated identity of a call's peer, as the policy sees it. Arena-owned strings. */
typedef struct {
  bool tls;      /* the connection is TLS */
  bool has_cert; /* the peer presented a verified client certificate */
  const char **uris, **dns;
  size_t n_uris, n_dns;
  const char *subject;   /* RFC 2253 subject, or NULL */
  const char *principal; /* what audit fields record: first URI SAN, else DNS SAN, else
                          * subject; NULL without a client certificate */
} authz_peer;

/* Reads the peer identity from the call's auth context into arena memory. */
void authz_peer_from_call(grpc_call *call, arena *a, authz_peer *out);

/* Parses a policy (JSON text). NULL on error with a message in err (caller frees *err).
 * Unknown fields make the policy invalid, as in gRPC: a field this version does not evaluate
 * must not silently allow calls. The result is owned by the caller (authz_policy_free). */
authz_policy *authz_policy_parse(const char *json, char **err);
void authz_policy_free(authz_policy *p);
/* The policy's name (borrowed). */
const char *authz_policy_name(const authz_policy *p);

/* The decision for one call: true when allowed. `rule` (may be NULL) receives the name of the
 * deny rule that matched, or of the allow rule that allowed it, or "" when no rule matched;
 * it points into the policy and is valid while the policy is. `md` may be NULL. */
bool authz_policy_check(const authz_policy *p, const authz_peer *peer, const char *path,
                        const grpc_metadata_array *md, const char **rule);

/* Reads and parses the policy file once, without a thread yet: NULL with a message in *err
 * (caller frees) when the file cannot be read or the policy is invalid. The file's identity
 * (inode, size, mtime) is taken with it, so a change made after this is seen by the watcher.
 * Caller destroys (authz_destroy), or hands it to whoever does (rpc_server_create). */
authz *authz_load(const char *path, int64_t refresh_ms, char **err);
/* Starts the watcher that re-reads the file refresh_ms after it changed. At most once per
 * authz, from the thread that loaded it, before authz_check runs on other threads. */
void authz_watch_start(authz *a);
/* Stops the watcher (if started) and frees the policy. */
void authz_destroy(authz *a);

/* Checks a call against the current policy. `rule_buf` receives the matched rule's name
 * (truncated to n), or "" when no rule matched. */
bool authz_check(authz *a, const authz_peer *peer, const char *path, const grpc_metadata_array *md,
                 char *rule_buf, size_t n);

/* Times the policy was (re)loaded successfully, and reloads that failed; for metrics/tests. */
uint64_t authz_reloads(const authz *a);
uint64_t authz_reload_failures(const authz *a);

#endif
