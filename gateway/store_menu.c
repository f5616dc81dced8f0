/* GetStoreMenu: validation and the plan of backend calls (gateway/fanout.c runs it on
 * completion callbacks): the page of categories first, then, at once, availability of the
 * page's product codes in chunks of 500 and their ghost swaps in chunks of 100, then
 * availability of swap targets not asked yet. What is composed from the answers is
 * gateway/menu_compose.c's. */
#include "gateway/store_menu.h"

#include <grpc/support/time.h>
#include <stdio.h>
#include <string.h>

#include "common/rpc_client.h"
#include "common/validate.h"
#include "gateway/backends.h"
#include "gateway/fanout.h"
#include "gateway/menu_compose.h"

/* ---- validation ---------------------------------------------------------------------------- */

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

/* ---- the plan of backend calls (run by gateway/fanout.c) ----------------------------------- */

typedef enum { PART_CATEGORIES, PART_PRODUCTS, PART_SWAPS, PART_COUNT } part_kind;

/* What one GetStoreMenu has asked for and received so far; lives in the ctx arena and is
 * only touched under the fanout's lock (or after its last call). */
typedef struct {
  rpc_ctx *ctx;
  const Menu__V1__GetStoreMenuRequest *req;
  Menu__V1__GetStoreMenuResponse *resp;
  arena *a;
  Google__Protobuf__Timestamp *at_time; /* the one instant every availability call uses */
  const Menu__V1__ListCategoriesResponse *categories;
  menu_page_range range;
  menu_codes asked; /* every code availability was asked for */
  menu_availability_index availability;
  const Menu__V1__GhostSwap **swaps;
  size_t n_swaps, cap_swaps;
} menu_plan;

/* BatchGetProductAvailabilities for codes, MENU_COMPOSE_AVAILABILITY_CHUNK at a time; one
 * call even for no code when `always` (it checks the store and channel). */
static bool availability_start(fanout *f, menu_plan *p, char **codes, size_t n, bool always) {
  for (size_t off = 0; off < n || (always && off == 0); off += MENU_COMPOSE_AVAILABILITY_CHUNK) {
    Menu__V1__BatchGetProductAvailabilitiesRequest r =
        MENU__V1__BATCH_GET_PRODUCT_AVAILABILITIES_REQUEST__INIT;
    r.store_code = p->req->store_code;
    r.channel = p->req->channel;
    r.at_time = p->at_time;
    r.product_codes = codes + off;
    r.n_product_codes =
        n - off < MENU_COMPOSE_AVAILABILITY_CHUNK ? n - off : MENU_COMPOSE_AVAILABILITY_CHUNK;
    if (!fanout_call(f, PART_PRODUCTS, &r.base)) return false;
    if (n == 0) break;
  }
  return true;
}

static bool swaps_start(fanout *f, menu_plan *p, char **codes, size_t n) {
  for (size_t off = 0; off < n; off += MENU_COMPOSE_SWAPS_CHUNK) {
    Menu__V1__BatchGetGhostSwapsRequest r = MENU__V1__BATCH_GET_GHOST_SWAPS_REQUEST__INIT;
    r.channel = p->req->channel;
    r.product_codes = codes + off;
    r.n_product_codes = n - off < MENU_COMPOSE_SWAPS_CHUNK ? n - off : MENU_COMPOSE_SWAPS_CHUNK;
    if (!fanout_call(f, PART_SWAPS, &r.base)) return false;
  }
  return true;
}

static void plan_start(fanout *f, void *user) {
  menu_plan *p = user;
  /* The menu's page is a page of categories: dynamo-svc validates it and its cursors. A menu
   * asks for all of a channel's categories at once unless the caller sizes the page. */
  Menu__V1__PageRequest page = MENU__V1__PAGE_REQUEST__INIT;
  if (p->req->page) page = *p->req->page;
  if (page.first == 0 && page.last == 0) {
    if (page.before && page.before[0])
      page.last = MENU_COMPOSE_CATEGORIES_MAX;
    else
      page.first = MENU_COMPOSE_CATEGORIES_MAX;
  }
  Menu__V1__ListCategoriesRequest r = MENU__V1__LIST_CATEGORIES_REQUEST__INIT;
  r.channel = p->req->channel;
  r.page = &page;
  fanout_call(f, PART_CATEGORIES, &r.base);
}

/* The page of categories is known: ask sql-svc and dynamo-svc about its codes at once. */
static void on_categories(fanout *f, menu_plan *p, const Menu__V1__ListCategoriesResponse *cats) {
  p->categories = cats;
  const Menu__V1__PageRequest *pg = p->req->page;
  bool backward = pg && (pg->last > 0 || (pg->before && pg->before[0]));
  p->range = menu_compose_page_range(cats, backward, MENU_COMPOSE_CODES_BUDGET);
  menu_compose_category_codes(p->a, cats, p->range, &p->asked);
  if (availability_start(f, p, p->asked.codes, p->asked.n, true))
    swaps_start(f, p, p->asked.codes, p->asked.n);
}

/* Swaps answered: their targets must be available for a swap to apply; ask about the ones
 * not asked yet. */
static void on_swaps(fanout *f, menu_plan *p, const Menu__V1__BatchGetGhostSwapsResponse *r) {
  if (p->n_swaps + r->n_ghost_swaps > p->cap_swaps) {
    size_t cap = (p->cap_swaps + r->n_ghost_swaps) * 2;
    const Menu__V1__GhostSwap **grown = arena_alloc(p->a, cap * sizeof *grown);
    if (p->n_swaps) memcpy(grown, p->swaps, p->n_swaps * sizeof *grown);
    p->swaps = grown;
    p->cap_swaps = cap;
  }
  for (size_t i = 0; i < r->n_ghost_swaps; i++) p->swaps[p->n_swaps++] = r->ghost_swaps[i];
  menu_codes targets;
  menu_compose_swap_targets(p->a, r, &p->asked, &targets);
  availability_start(f, p, targets.codes, targets.n, false);
}

static void plan_result(fanout *f, size_t part, const ProtobufCMessage *resp, void *user) {
  menu_plan *p = user;
  switch ((part_kind)part) {
    case PART_CATEGORIES:
      on_categories(f, p, (const Menu__V1__ListCategoriesResponse *)resp);
      break;
    case PART_PRODUCTS:
      menu_availability_add_results(p->a, &p->availability,
                                    (const Menu__V1__BatchGetProductAvailabilitiesResponse *)resp);
      break;
    case PART_SWAPS:
      on_swaps(f, p, (const Menu__V1__BatchGetGhostSwapsResponse *)resp);
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
  bool categories_ok = p->categories && !fanout_part_failed(f, PART_CATEGORIES);
  bool products_ok = categories_ok && !fanout_part_failed(f, PART_PRODUCTS);
  menu_availability_seal(&p->availability);
  if (products_ok && menu_availability_store_off_channel(&p->availability))
    return menu_status_make(
        GRPC_STATUS_FAILED_PRECONDITION,
        "store_code: store %s does not sell on channel %s (no menu type associated with it "
        "there)",
        p->req->store_code,
        protobuf_c_enum_descriptor_get_value(&menu__v1__channel__descriptor, (int)p->req->channel)
            ->name);
  menu_compose_input in = {
      .categories = categories_ok ? p->categories : NULL,
      .range = p->range,
      .availability = products_ok ? &p->availability : NULL,
      .swaps = p->swaps,
      .n_swaps = p->n_swaps,
      .swaps_missing = fanout_part_failed(f, PART_SWAPS),
      .include_unavailable = p->req->include_unavailable,
      .include_empty_categories = p->req->include_empty_categories,
      .at_time = p->at_time,
  };
  menu_compose_menu(p->a, &in, p->resp);
  rpc_ctx_log_int(p->ctx, "categories", (int64_t)p->resp->n_categories);
  rpc_ctx_log_int(p->ctx, "product_codes", (int64_t)p->asked.n);
  rpc_ctx_log_int(p->ctx, "missing_parts", (int64_t)p->resp->n_missing_parts);
  return MENU_OK;
}

static const fanout_plan_ops plan_ops = {plan_start, plan_result, plan_is_fatal, plan_finish};

/* The request's at_time, or now: every chunk is evaluated at the same instant. */
static Google__Protobuf__Timestamp *instant_of(arena *a, const Menu__V1__GetStoreMenuRequest *req) {
  if (req->at_time) return req->at_time;
  Google__Protobuf__Timestamp *t = arena_alloc(a, sizeof *t);
  google__protobuf__timestamp__init(t);
  gpr_timespec now = gpr_now(GPR_CLOCK_REALTIME);
  t->seconds = now.tv_sec;
  t->nanos = now.tv_nsec / 1000 * 1000; /* sql-svc keeps microseconds */
  return t;
}

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
  p->at_time = instant_of(p->a, req);
  /* The part names are the prefixes of the per-backend timings on the call's log line. */
  fanout_part *parts = RPC_NEW_ARRAY(ctx, fanout_part, PART_COUNT);
  parts[PART_CATEGORIES] = (fanout_part){"categories", &be->list_categories};
  parts[PART_PRODUCTS] = (fanout_part){"products", &be->batch_get_product_availabilities};
  parts[PART_SWAPS] = (fanout_part){"ghost_swaps", &be->batch_get_ghost_swaps};
  fanout_config cfg = {.parts = parts,
                       .n_parts = PART_COUNT,
                       .deadline_margin_ms = be->deadline_margin_ms,
                       .ops = &plan_ops,
                       .plan = p};
  fanout_run(ctx, &cfg);
}
