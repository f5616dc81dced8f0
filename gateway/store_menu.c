/* GetStoreMenu: the fan-out (one rpc_batch per call: categories and availability at once,
 * ghost swaps as soon as the product codes are known), failure policy (fail fast, or answer
 * with what arrived when allow_partial) and the in-memory composition. */
#include "gateway/store_menu.h"

#include <grpc/support/time.h>
#include <stdio.h>
#include <string.h>

#include "common/rpc_client.h"
#include "common/validate.h"
#include "gateway/backends.h"

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

/* ---- fan-out ------------------------------------------------------------------------------- */

typedef enum { PART_CATEGORIES, PART_PRODUCTS, PART_SWAPS, PART_COUNT } part_kind;

static const char *const part_names[PART_COUNT] = {"categories", "products", "ghost_swaps"};

/* One part of the menu and the backend call(s) that fetch it. */
typedef struct {
  part_kind kind;
  const gateway_method *m;
  int started, outstanding;
  int64_t start_ms, end_ms; /* offsets from the handler's start: first start, last end */
  bool failed;
  menu_status status; /* the first failure, prefixed with the backend's name */
} part;

typedef struct {
  rpc_ctx *ctx;
  rpc_batch *batch;
  arena *a;
  int64_t t0_ms;
  bool allow_partial;
  part parts[PART_COUNT];
  const Menu__V1__ListCategoriesResponse *categories;
  const Menu__V1__ListProductAvailabilitiesResponse *products;
  const Menu__V1__BatchGetGhostSwapsResponse **swaps;
  size_t n_swaps;
  menu_status fatal; /* set when a failure ends the RPC */
} fanout;

static int64_t mono_ms(void) {
  gpr_timespec t = gpr_now(GPR_CLOCK_MONOTONIC);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Records a failed call of part `pt`; returns true when it ends the RPC (f->fatal set). */
static bool part_fail(fanout *f, part *pt, menu_status s) {
  if (!pt->failed) {
    pt->failed = true;
    pt->status = s; /* keeps the backend's reason, field violations and internal detail */
    menu_status_prefix(&pt->status, "%s (%s): ", pt->m->backend, pt->m->name);
  }
  if (!store_menu_failure_is_fatal(s.code, f->allow_partial)) return false;
  f->fatal = pt->status;
  return true;
}

static bool part_start(fanout *f, part *pt, const ProtobufCMessage *req) {
  int64_t now = mono_ms() - f->t0_ms;
  if (!pt->started) pt->start_ms = now;
  pt->started++;
  if (!rpc_batch_start(f->batch, pt->m->channel, pt->m->method, req, pt)) {
    pt->end_ms = now;
    return !part_fail(f, pt, MENU_INTERNAL("the call could not be started"));
  }
  pt->outstanding++;
  return true;
}

/* One BatchGetGhostSwaps per STORE_MENU_SWAPS_PER_CALL codes of the page (one call for any
 * page of the default size). Returns false when the RPC must end. */
static bool swaps_start(fanout *f, Menu__V1__Channel channel) {
  const Menu__V1__ListProductAvailabilitiesResponse *prods = f->products;
  char **codes = arena_alloc(f->a, (prods->n_edges + 1) * sizeof *codes);
  size_t n = 0;
  for (size_t i = 0; i < prods->n_edges; i++) {
    const Menu__V1__ProductAvailability *node = prods->edges[i]->node;
    if (node && node->product_code && node->product_code[0]) codes[n++] = node->product_code;
  }
  f->swaps = arena_alloc(f->a, (n / STORE_MENU_SWAPS_PER_CALL + 1) * sizeof *f->swaps);
  for (size_t off = 0; off < n; off += STORE_MENU_SWAPS_PER_CALL) {
    Menu__V1__BatchGetGhostSwapsRequest *req = arena_alloc(f->a, sizeof *req);
    menu__v1__batch_get_ghost_swaps_request__init(req);
    req->channel = channel;
    req->product_codes = codes + off;
    req->n_product_codes =
        n - off < STORE_MENU_SWAPS_PER_CALL ? n - off : STORE_MENU_SWAPS_PER_CALL;
    if (!part_start(f, &f->parts[PART_SWAPS], &req->base)) return false;
  }
  return true;
}

/* Takes one finished call. Returns false when the RPC must end now. */
static bool on_finished(fanout *f, rpc_pending *p, Menu__V1__Channel channel) {
  part *pt = rpc_pending_user(p);
  pt->outstanding--;
  pt->end_ms = rpc_pending_end_ms(p) - f->t0_ms;
  menu_status s = rpc_pending_status(p);
  if (!menu_status_is_ok(&s)) return !part_fail(f, pt, s);
  const ProtobufCMessage *resp = rpc_pending_response(p);
  switch (pt->kind) {
    case PART_CATEGORIES:
      f->categories = (const Menu__V1__ListCategoriesResponse *)resp;
      return true;
    case PART_PRODUCTS:
      f->products = (const Menu__V1__ListProductAvailabilitiesResponse *)resp;
      /* Categories may still be in flight: the swaps call overlaps them. */
      return f->products->n_edges == 0 || swaps_start(f, channel);
    case PART_SWAPS:
      f->swaps[f->n_swaps++] = (const Menu__V1__BatchGetGhostSwapsResponse *)resp;
      return true;
    default:
      return true;
  }
}

/* The backends get the caller's deadline minus a small margin (a tenth of what is left, at
 * most margin_ms) so that, with allow_partial, a slow backend turns into a missing part that
 * still reaches the caller in time instead of a DEADLINE_EXCEEDED for the whole menu. */
static gpr_timespec backend_deadline(const rpc_ctx *ctx, int64_t margin_ms) {
  int64_t left = rpc_ctx_remaining_ms(ctx);
  int64_t m = left / 10 < margin_ms ? left / 10 : margin_ms;
  return gpr_time_sub(rpc_ctx_deadline(ctx), gpr_time_from_millis(m, GPR_TIMESPAN));
}

/* Per-part start/end offsets (ms from the handler's start) and outcome on the call's log
 * line, so that overlap and the slow backend can be read from logs. */
static void log_parts(fanout *f) {
  for (int i = 0; i < PART_COUNT; i++) {
    part *pt = &f->parts[i];
    if (!pt->started) continue;
    char key[48];
    snprintf(key, sizeof key, "%s_start_ms", part_names[i]);
    rpc_ctx_log_int(f->ctx, key, pt->start_ms);
    const char *outcome = pt->failed        ? menu_status_code_name(pt->status.code)
                          : pt->outstanding ? "CANCELLED" /* cut short by a fatal failure */
                                            : "OK";
    if (!pt->outstanding) {
      snprintf(key, sizeof key, "%s_end_ms", part_names[i]);
      rpc_ctx_log_int(f->ctx, key, pt->end_ms);
    }
    snprintf(key, sizeof key, "%s_status", part_names[i]);
    rpc_ctx_log_str(f->ctx, key, outcome);
    if (pt->failed) {
      snprintf(key, sizeof key, "%s_error", part_names[i]);
      rpc_ctx_log_str(f->ctx, key, menu_status_diagnosis(&pt->status));
    }
  }
}

menu_status store_menu_get(rpc_ctx *ctx, const ProtobufCMessage *req_msg,
                           ProtobufCMessage *resp_msg, void *svc) {
  const gateway_backends *be = svc;
  const Menu__V1__GetStoreMenuRequest *req = (const Menu__V1__GetStoreMenuRequest *)req_msg;
  Menu__V1__GetStoreMenuResponse *resp = (Menu__V1__GetStoreMenuResponse *)resp_msg;
  menu_status st = store_menu_validate(req);
  if (!menu_status_is_ok(&st)) return st;

  fanout f = {.ctx = ctx,
              .a = rpc_ctx_arena(ctx),
              .allow_partial = req->allow_partial,
              .t0_ms = mono_ms(),
              .fatal = MENU_OK};
  f.parts[PART_CATEGORIES] = (part){.kind = PART_CATEGORIES, .m = &be->list_categories};
  f.parts[PART_PRODUCTS] = (part){.kind = PART_PRODUCTS, .m = &be->list_product_availabilities};
  f.parts[PART_SWAPS] = (part){.kind = PART_SWAPS, .m = &be->batch_get_ghost_swaps};
  /* Children of the server call: the core cancels them when the caller cancels or the
   * caller's deadline passes, and rpc_client forwards x-request-id. */
  f.batch = rpc_batch_create(ctx, backend_deadline(ctx, be->deadline_margin_ms), f.a);

  Menu__V1__PageRequest cat_page = MENU__V1__PAGE_REQUEST__INIT;
  cat_page.first = STORE_MENU_CATEGORIES_MAX;
  Menu__V1__ListCategoriesRequest cat_req = MENU__V1__LIST_CATEGORIES_REQUEST__INIT;
  cat_req.channel = req->channel;
  cat_req.page = &cat_page;
  /* Paging and at_time pass through untouched: sql-svc validates them and binds its cursors
   * to them, so a cursor from a direct ListProductAvailabilities works here and back. */
  Menu__V1__ListProductAvailabilitiesRequest prod_req =
      MENU__V1__LIST_PRODUCT_AVAILABILITIES_REQUEST__INIT;
  prod_req.store_code = req->store_code;
  prod_req.channel = req->channel;
  prod_req.at_time = req->at_time;
  prod_req.page = req->page;

  bool go = part_start(&f, &f.parts[PART_CATEGORIES], &cat_req.base) &&
            part_start(&f, &f.parts[PART_PRODUCTS], &prod_req.base);
  rpc_pending *p;
  while (go && (p = rpc_batch_next(f.batch))) go = on_finished(&f, p, req->channel);
  /* Whatever still runs (only after a fatal failure) is cancelled here, at once. */
  rpc_batch_destroy(f.batch);

  /* rpc_batch_next gives up only well past the deadline; an answer that never came counts
   * as the deadline it missed. */
  for (int i = 0; go && i < PART_COUNT; i++)
    if (f.parts[i].outstanding) {
      f.parts[i].outstanding = 0;
      f.parts[i].end_ms = mono_ms() - f.t0_ms;
      go = !part_fail(&f, &f.parts[i],
                      menu_status_make(GRPC_STATUS_DEADLINE_EXCEEDED, "no answer in time"));
    }
  log_parts(&f);
  if (!menu_status_is_ok(&f.fatal)) return f.fatal;

  store_menu_parts parts = {
      .categories = f.parts[PART_CATEGORIES].failed ? NULL : f.categories,
      .products = f.parts[PART_PRODUCTS].failed ? NULL : f.products,
      .swaps = f.swaps,
      .n_swaps = f.n_swaps,
      .swaps_missing = f.parts[PART_SWAPS].failed,
  };
  store_menu_compose(f.a, &parts, resp);
  rpc_ctx_log_int(ctx, "missing_parts", (int64_t)resp->n_missing_parts);
  return MENU_OK;
}
