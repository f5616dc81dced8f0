/* Audit identities from the authenticated peer, or from the caller's word without TLS. */
#include "common/audit.h"

#include <string.h>

#include "common/validate.h"

static bool set(const char *s) { return s && *s; }

menu_status audit_identity(rpc_ctx *ctx, const char *given, const char *field, size_t max_bytes,
                           const char **out) {
  const char *principal = rpc_ctx_principal(ctx);
  const char *user = rpc_ctx_metadata(ctx, "x-user");
  const char *id;
  if (principal) {
    id = set(user) ? arena_sprintf(rpc_ctx_arena(ctx), "%s (x-user: %s)", principal, user)
                   : principal;
  } else {
    id = set(given) ? given : user;
    if (!set(id)) return MENU_INVALID("%s: required (or send x-user metadata)", field);
  }
  if (!validate_utf8(id, max_bytes))
    return MENU_INVALID("%s: must be valid UTF-8 of at most %zu bytes%s", field, max_bytes,
                        principal ? " (principal and x-user together)" : "");
  *out = id;
  return MENU_OK;
}
