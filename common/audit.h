/* The audit identity recorded in created_by / updated_by. With mutual TLS it is the caller's
 * authenticated principal (its certificate's SPIFFE URI, else DNS SAN, else subject); an admin
 * tool may add the end user it acts for with the `x-user` header, recorded as
 * "PRINCIPAL (x-user: NAME)", never instead of the principal. Without a client certificate
 * (the local development stack) it is the request's field, else `x-user`, as the caller says:
 * development only, since nothing authenticates it. */
#ifndef MENU_AUDIT_H
#define MENU_AUDIT_H

#include "common/rpc_server.h"
#include "common/status.h"

/* The identity to record, from the call's principal as authorization saw it
 * (rpc_ctx_principal). `given` is the request's field (may be NULL or empty), `field` its
 * name for errors, `max_bytes` the column size. INVALID_ARGUMENT naming the field when there is
 * no identity or it does not fit. *out is arena-owned. */
menu_status audit_identity(rpc_ctx *ctx, const char *given, const char *field, size_t max_bytes,
                           const char **out);

#endif
