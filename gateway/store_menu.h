/* MenuService.GetStoreMenu: validates the request, fans out to dynamo-svc (categories, then
 * ghost swaps) and sql-svc (availability) in concurrent calls that inherit the caller's
 * deadline and cancellation, and composes the answers in memory. No datastore, and no thread
 * waits for the backends. */
#ifndef GATEWAY_STORE_MENU_H
#define GATEWAY_STORE_MENU_H

#include <stdbool.h>
#include <stddef.h>

#include "common/arena.h"
#include "common/rpc_server.h"
#include "common/status.h"
#include "menu/v1/category.pb-c.h"
#include "menu/v1/ghost_swap.pb-c.h"
#include "menu/v1/menu.pb-c.h"
#include "menu/v1/product_availability.pb-c.h"

/* All categories of a channel are asked for in one page of this size (the page maximum). */
#define STORE_MENU_CATEGORIES_MAX 128
/* BatchGetGhostSwaps takes at most this many product codes per call. */
#define STORE_MENU_SWAPS_PER_CALL 100

/* The rpc_async_fn for GetStoreMenu; `svc` is a gateway_backends (gateway/backends.h). Starts
 * the backend calls and returns; the reply follows from the last call's callback. */
void store_menu_get(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp, void *svc);

/* ---- pure parts, exposed for unit tests ------------------------------------------------- */

/* INVALID_ARGUMENT naming the field (store_code, channel); paging is left to the backend. */
menu_status store_menu_validate(const Menu__V1__GetStoreMenuRequest *req);

/* Whether a backend failure with this code ends the whole RPC. Without allow_partial every
 * failure does. With it, only the caller's own mistakes do (INVALID_ARGUMENT, e.g. a bad page
 * cursor, and NOT_FOUND, an unknown store): answering "products missing" for those would
 * hide the caller's error behind what looks like an outage. */
bool store_menu_failure_is_fatal(grpc_status_code code, bool allow_partial);

/* What the backends answered; NULL means that part is missing. Borrowed. */
typedef struct {
  const Menu__V1__ListCategoriesResponse *categories;
  const Menu__V1__ListProductAvailabilitiesResponse *products;
  /* One response per BatchGetGhostSwaps call; swaps_missing when any of them failed (or
   * none could be made because products are missing). */
  const Menu__V1__BatchGetGhostSwapsResponse *const *swaps;
  size_t n_swaps;
  bool swaps_missing;
} store_menu_parts;

/* Fills `out` (already initialised) with pointers into the parts' messages and arrays from
 * `a`: categories in the backend's order, the products page as is (edges with cursors,
 * page_info), ghost swaps in the order of their products on the page (only those of
 * products on the page, each once), missing_parts in enum order. */
void store_menu_compose(arena *a, const store_menu_parts *parts,
                        Menu__V1__GetStoreMenuResponse *out);

#endif
