/* GetStoreMenu: validation, the plan of backend calls (categories and availability at once,
 * ghost swaps as soon as the product codes are known; gateway/fanout.c runs it on completion
 * callbacks) and the in-memory composition. */
#include "gateway/store_menu.h"

#include <grpc/support/time.h>
#include <stdio.h>
#include <string.h>

#include "common/rpc_client.h"
#include "common/validate.h"
#include "gateway/backends.h"
#include "gateway/fanout.h"

/* ---- validation and composition ------------------------------------------------------------ */

menu_status store_menu_validate(const Menu__V1__GetStoreMenuRequest *req) {
  if (!req->store_code || !req->store_code[0]) return MENU_INVALID("store_code: required");
  if (!validate_code(req->store_code))
    return MENU_INVALID("store_code: must match " VALIDATE_CODE_PATTERN);
  if (req->channel == MENU__V1__CHANNEL__CHANNEL_UNSPECIFIED)
    return MENU_INVALID("channel: required (CHANNEL_UNSPECIFIED is not a channel)");
  /* proto3 enums are open: an unknown number decodes fine and would reach the backends. */
  if (!protobuf_c_enum_descriptor_get_value(&menu__v1__channel__descriptor, (int)req->channel))
    return MENU_INVALID("channel: unknown value %d", (int)req->channel);
  return MENU_OK;
}

bool store_menu_failure_is_fatal(grpc_status_code code, bool allow_partial) {
  if (!allow_partial) return true;
  return code == GRPC_STATUS_INVALID_ARGUMENT || code == GRPC_STATUS_NOT_FOUND;
}

void store_menu_compose(arena *a, const store_menu_parts *parts,
                        Menu__V1__GetStoreMenuResponse *out) {
  const Menu__V1__ListCategoriesResponse *cats = parts->categories;
  const Menu__V1__ListProductAvailabilitiesResponse *prods = parts->products;
  bool swaps_missing = parts->swaps_missing || !prods;

  if (cats && cats->n_edges) {
    out->categories = arena_alloc(a, cats->n_edges * sizeof *out->categories);
    for (size_t i = 0; i < cats->n_edges; i++)
      if (cats->edges[i]->node) out->categories[out->n_categories++] = cats->edges[i]->node;
  }

  if (prods) {
    Menu__V1__ProductAvailabilityConnection *conn = arena_alloc(a, sizeof *conn);
    menu__v1__product_availability_connection__init(conn);
    conn->n_edges = prods->n_edges;
    conn->edges = prods->edges;
    conn->page_info = prods->page_info;
    out->products = conn;
    out->at_time = prods->at_time; /* the instant sql-svc evaluated the rules at */
  }

  /* Page order, not the backend's: DynamoDB's BatchGetItem answers in no particular order,
   * and a client diffing two menus should not see the swaps shuffle. A page holds at most
   * 128 products, so the quadratic match costs nothing worth an index. */
  if (prods && !swaps_missing) {
    size_t total = 0;
    for (size_t k = 0; k < parts->n_swaps; k++) total += parts->swaps[k]->n_ghost_swaps;
    if (total) out->ghost_swaps = arena_alloc(a, total * sizeof *out->ghost_swaps);
    for (size_t i = 0; i < prods->n_edges && out->n_ghost_swaps < total; i++) {
      const Menu__V1__ProductAvailability *node = prods->edges[i]->node;
      if (!node || !node->product_code) continue;
      Menu__V1__GhostSwap *found = NULL;
      for (size_t k = 0; k < parts->n_swaps && !found; k++)
        for (size_t j = 0; j < parts->swaps[k]->n_ghost_swaps && !found; j++) {
          Menu__V1__GhostSwap *g = parts->swaps[k]->ghost_swaps[j];
          if (g && g->product_code && !strcmp(g->product_code, node->product_code)) found = g;
        }
      if (found) out->ghost_swaps[out->n_ghost_swaps++] = found;
    }
  }

  out->missing_parts = arena_alloc(a, 3 * sizeof *out->missing_parts);
  if (!cats) out->missing_parts[out->n_missing_parts++] = MENU__V1__MENU_PART__MENU_PART_CATEGORIES;
  if (!prods) out->missing_parts[out->n_missing_parts++] = MENU__V1__MENU_PART__MENU_PART_PRODUCTS;
  if (swaps_missing)
    out->missing_parts[out->n_missing_parts++] = MENU__V1__MENU_PART__MENU_PART_GHOST_SWAPS;
  if (!out->n_missing_parts) out->missing_parts = NULL;
}

/* ---- the plan of backend calls (run by gateway/fanout.c) ----------------------------------- */

typedef enum { PART_CATEGORIES, PART_PRODUCTS, PART_SWAPS, PART_COUNT } part_kind;

/* What one GetStoreMenu has asked for and received so far; lives in the ctx arena and is
 * only touched under the fanout's lock (or after its last call). */
typedef struct {
  rpc_ctx *ctx;
  const Menu__V1__GetStoreMenuRequest *req;
  Menu__V1__GetStoreMenuResponse *resp;
  arena *a;
  const Menu__V1__ListCategoriesResponse *categories;
  const Menu__V1__ListProductAvailabilitiesResponse *products;
  const Menu__V1__BatchGetGhostSwapsResponse **swaps;
  size_t n_swaps;
} menu_plan;

static void plan_start(fanout *f, void *user) {
  menu_plan *p = user;
  Menu__V1__PageRequest cat_page = MENU__V1__PAGE_REQUEST__INIT;
  cat_page.first = STORE_MENU_CATEGORIES_MAX;
  Menu__V1__ListCategoriesRequest cat_req = MENU__V1__LIST_CATEGORIES_REQUEST__INIT;
  cat_req.channel = p->req->channel;
  cat_req.page = &cat_page;
  /* Paging and at_time pass through untouched: sql-svc validates them and binds its cursors
   * to them, so a cursor from a direct ListProductAvailabilities works here and back. */
  Menu__V1__ListProductAvailabilitiesRequest prod_req =
      MENU__V1__LIST_PRODUCT_AVAILABILITIES_REQUEST__INIT;
  prod_req.store_code = p->req->store_code;
  prod_req.channel = p->req->channel;
  prod_req.at_time = p->req->at_time;
  prod_req.page = p->req->page;
  if (fanout_call(f, PART_CATEGORIES, &cat_req.base)) fanout_call(f, PART_PRODUCTS, &prod_req.base);
}

/* One BatchGetGhostSwaps per STORE_MENU_SWAPS_PER_CALL codes of the page (one call for any
 * page of the default size), while categories may still be in flight. */
static void swaps_start(fanout *f, menu_plan *p) {
  const Menu__V1__ListProductAvailabilitiesResponse *prods = p->products;
  char **codes = arena_alloc(p->a, (prods->n_edges + 1) * sizeof *codes);
  size_t n = 0;
  for (size_t i = 0; i < prods->n_edges; i++) {
    const Menu__V1__ProductAvailability *node = prods->edges[i]->node;
    if (node && node->product_code && node->product_code[0]) codes[n++] = node->product_code;
  }
  p->swaps = arena_alloc(p->a, (n / STORE_MENU_SWAPS_PER_CALL + 1) * sizeof *p->swaps);
  for (size_t off = 0; off < n; off += STORE_MENU_SWAPS_PER_CALL) {
    Menu__V1__BatchGetGhostSwapsRequest req = MENU__V1__BATCH_GET_GHOST_SWAPS_REQUEST__INIT;
    req.channel = p->req->channel;
    req.product_codes = codes + off;
    req.n_product_codes = n - off < STORE_MENU_SWAPS_PER_CALL ? n - off : STORE_MENU_SWAPS_PER_CALL;
    if (!fanout_call(f, PART_SWAPS, &req.base)) return;
  }
}

static void plan_result(fanout *f, size_t part, const ProtobufCMessage *resp, void *user) {
  menu_plan *p = user;
  switch ((part_kind)part) {
    case PART_CATEGORIES:
      p->categories = (const Menu__V1__ListCategoriesResponse *)resp;
      break;
    case PART_PRODUCTS:
      p->products = (const Menu__V1__ListProductAvailabilitiesResponse *)resp;
      if (p->products->n_edges) swaps_start(f, p);
      break;
    case PART_SWAPS:
      p->swaps[p->n_swaps++] = (const Menu__V1__BatchGetGhostSwapsResponse *)resp;
      break;
    default:
      break;
  }
}

static bool plan_is_fatal(grpc_status_code code, void *user) {
  const menu_plan *p = user;
  return store_menu_failure_is_fatal(code, p->req->allow_partial);
}

static menu_status plan_finish(fanout *f, void *user) {
  menu_plan *p = user;
  store_menu_parts parts = {
      .categories = fanout_part_failed(f, PART_CATEGORIES) ? NULL : p->categories,
      .products = fanout_part_failed(f, PART_PRODUCTS) ? NULL : p->products,
      .swaps = p->swaps,
      .n_swaps = p->n_swaps,
      .swaps_missing = fanout_part_failed(f, PART_SWAPS),
  };
  store_menu_compose(p->a, &parts, p->resp);
  rpc_ctx_log_int(p->ctx, "missing_parts", (int64_t)p->resp->n_missing_parts);
  return MENU_OK;
}

static const fanout_plan_ops plan_ops = {plan_start, plan_result, plan_is_fatal, plan_finish};

void store_menu_get(rpc_ctx *ctx, const ProtobufCMessage *req_msg, ProtobufCMessage *resp_msg,
                    void *svc) {
  const gateway_backends *be = svc;
  const Menu__V1__GetStoreMenuRequest *req = (const Menu__V1__GetStoreMenuRequest *)req_msg;
  menu_status st = store_menu_validate(req);
  if (!menu_status_is_ok(&st)) {
    rpc_ctx_reply(ctx, st);
    return;
  }
  menu_plan *p = RPC_NEW_ARRAY(ctx, menu_plan, 1);
  p->req = req;
  p->resp = (Menu__V1__GetStoreMenuResponse *)resp_msg;
  p->a = rpc_ctx_arena(ctx);
  p->ctx = ctx;
  /* The part names are the prefixes of the per-backend timings on the call's log line. */
  fanout_part *parts = RPC_NEW_ARRAY(ctx, fanout_part, PART_COUNT);
  parts[PART_CATEGORIES] = (fanout_part){"categories", &be->list_categories};
  parts[PART_PRODUCTS] = (fanout_part){"products", &be->list_product_availabilities};
  parts[PART_SWAPS] = (fanout_part){"ghost_swaps", &be->batch_get_ghost_swaps};
  fanout_config cfg = {.parts = parts,
                       .n_parts = PART_COUNT,
                       .deadline_margin_ms = be->deadline_margin_ms,
                       .ops = &plan_ops,
                       .plan = p};
  fanout_run(ctx, &cfg);
}
