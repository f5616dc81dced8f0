/* MenuService.GetStoreMenu: validates the request, fans out to dynamo-svc (a page of
 * categories, then the ghost swaps of their products) and sql-svc (availability of those
 * products, then of swap targets) in concurrent calls that inherit the caller's deadline and
 * cancellation, and composes the menu in memory (gateway/menu_compose.h). No datastore, and
 * no thread waits for the backends. */
#ifndef GATEWAY_STORE_MENU_H
#define GATEWAY_STORE_MENU_H

#include <stdbool.h>
#include <stddef.h>

#include "common/arena.h"
#include "common/rpc_server.h"
#include "common/status.h"
#include "gateway/backends.h"
#include "gateway/menu_cache.h"
#include "gateway/revisions.h"
#include "menu/v1/category.pb-c.h"
#include "menu/v1/ghost_swap.pb-c.h"
#include "menu/v1/menu.pb-c.h"
#include "menu/v1/product_availability.pb-c.h"

/* What the MenuService handlers work with, built by main.c and read-only afterwards (each
 * member is thread-safe on its own). */
typedef struct {
  const gateway_backends *be;
  gateway_revisions *revisions; /* the channels' revisions, polled */
  menu_cache *cache;            /* NULL when MENU_CACHE_BYTES is 0 */
  int64_t staleness_ms;         /* MENU_CACHE_STALENESS_MS */
} store_menu_env;

/* The rpc_async_fn for GetStoreMenu; `svc` is a store_menu_env. Starts the backend calls and
 * returns; the reply follows from the last call's callback. */
void store_menu_get(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp, void *svc);

/* ---- pure parts, exposed for unit tests ------------------------------------------------- */

/* INVALID_ARGUMENT naming the field (store_code, channel); paging is left to the backend. */
menu_status store_menu_validate(const Menu__V1__GetStoreMenuRequest *req);

/* Whether a backend failure with this code ends the whole RPC. Without allow_partial every
 * failure does. With it, only the caller's own mistakes do (INVALID_ARGUMENT, e.g. a bad page
 * cursor, and NOT_FOUND, an unknown store): answering "products missing" for those would
 * hide the caller's error behind what looks like an outage. */
bool store_menu_failure_is_fatal(grpc_status_code code, bool allow_partial);

#endif
