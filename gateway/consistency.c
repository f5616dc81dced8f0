/* CheckMenuConsistency: the state machine of one check (four lists paged one after another,
 * one call in flight at a time, each callback starting the next call) and the RPC handler.
 * With a single call in flight the callbacks never overlap, so the check needs no lock: each
 * one happens after the previous one through the completion queue. */
#include "gateway/consistency.h"

#include <stdlib.h>
#include <string.h>

#include "common/rpc_client.h"
#include "gateway/consistency_report.h"
#include "gateway/store_menu.h"
#include "menu/v1/category.pb-c.h"
#include "menu/v1/ghost_swap.pb-c.h"
#include "menu/v1/product_collection.pb-c.h"
#include "menu/v1/reference_data.pb-c.h"

/* The lists, in the order they are read. */
typedef enum { STAGE_CATEGORIES, STAGE_COLLECTIONS, STAGE_SWAPS, STAGE_PRODUCTS, STAGE_DONE } stage;

typedef struct {
  consistency_check_config cfg;
  consistency_report report;
  stage stage;
  char *after; /* cursor of the next page of the current list; NULL for its first page */
  int32_t pages;
} check;

menu_status consistency_validate_channel(Menu__V1__Channel channel) {
  if (channel == MENU__V1__CHANNEL__CHANNEL_UNSPECIFIED)
    return MENU_INVALID("channel: required (CHANNEL_UNSPECIFIED is not a channel)");
  /* proto3 enums are open: an unknown number decodes fine and would reach the backends. */
  if (!protobuf_c_enum_descriptor_get_value(&menu__v1__channel__descriptor, (int)channel))
    return MENU_INVALID("channel: unknown value %d", (int)channel);
  return MENU_OK;
}

gpr_timespec consistency_deadline(const rpc_ctx *parent, int64_t timeout_ms, int64_t margin_ms) {
  gpr_timespec d =
      gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
  if (!parent) return d;
  /* As GetStoreMenu's fan-out: the calls end a little before the caller's deadline (at most a
   * tenth of what is left), so that the caller hears DEADLINE_EXCEEDED from us, with what we
   * were reading, rather than a bare one from its own stack. */
  gpr_timespec p =
      gpr_convert_clock_type(rpc_ctx_work_deadline(parent, margin_ms), GPR_CLOCK_MONOTONIC);
  return gpr_time_cmp(p, d) < 0 ? p : d;
}

static const gateway_method *stage_method(const check *c) {
  switch (c->stage) {
    case STAGE_CATEGORIES:
      return &c->cfg.be->list_categories;
    case STAGE_COLLECTIONS:
      return &c->cfg.be->list_product_collections;
    case STAGE_SWAPS:
      return &c->cfg.be->list_ghost_swaps;
    default:
      return &c->cfg.be->list_products;
  }
}

static void check_finish(check *c, menu_status st) {
  if (menu_status_is_ok(&st)) {
    consistency_report_build(&c->report, c->cfg.out);
    c->cfg.out->pages_read = c->pages;
  }
  c->cfg.done(st, menu_status_is_ok(&st) ? c->cfg.out : NULL, c->cfg.user);
  free(c);
}

static void on_page(rpc_client_call *call, void *user);

/* Starts the next page of the current list. The request is encoded before the call starts,
 * so it lives on this stack. */
static void page_start(check *c) {
  Menu__V1__PageRequest page = MENU__V1__PAGE_REQUEST__INIT;
  page.first = CONSISTENCY_PAGE_SIZE;
  page.after = c->after;
  Menu__V1__ListCategoriesRequest cats = MENU__V1__LIST_CATEGORIES_REQUEST__INIT;
  Menu__V1__ListProductCollectionsRequest cols = MENU__V1__LIST_PRODUCT_COLLECTIONS_REQUEST__INIT;
  Menu__V1__ListGhostSwapsRequest swaps = MENU__V1__LIST_GHOST_SWAPS_REQUEST__INIT;
  Menu__V1__ListProductsRequest products = MENU__V1__LIST_PRODUCTS_REQUEST__INIT;
  const ProtobufCMessage *req;
  switch (c->stage) {
    case STAGE_CATEGORIES:
      cats.channel = c->cfg.channel;
      cats.page = &page;
      req = &cats.base;
      break;
    case STAGE_COLLECTIONS:
      cols.channel = c->cfg.channel;
      cols.page = &page;
      req = &cols.base;
      break;
    case STAGE_SWAPS:
      swaps.channel = c->cfg.channel;
      swaps.page = &page;
      req = &swaps.base;
      break;
    default:
      products.page = &page;
      req = &products.base;
      break;
  }
  const gateway_method *m = stage_method(c);
  rpc_client_call_opts o = {.parent = c->cfg.parent, .cq = c->cfg.cq, .deadline = c->cfg.deadline};
  c->pages++;
  if (!rpc_client_call_start(m->channel, m->method, req, &o, on_page, c))
    check_finish(c, menu_status_make(GRPC_STATUS_INTERNAL, "%s (%s): the call could not be started",
                                     m->backend, m->name));
}

/* Takes one page into the report; returns its page info (borrowed from resp). */
static const Menu__V1__PageInfo *page_take(check *c, const ProtobufCMessage *resp) {
  switch (c->stage) {
    case STAGE_CATEGORIES: {
      const Menu__V1__ListCategoriesResponse *r = (const void *)resp;
      for (size_t i = 0; i < r->n_edges; i++)
        if (r->edges[i]) consistency_report_add_category(&c->report, r->edges[i]->node);
      return r->page_info;
    }
    case STAGE_COLLECTIONS: {
      const Menu__V1__ListProductCollectionsResponse *r = (const void *)resp;
      for (size_t i = 0; i < r->n_edges; i++)
        if (r->edges[i]) consistency_report_add_collection(&c->report, r->edges[i]->node);
      return r->page_info;
    }
    case STAGE_SWAPS: {
      const Menu__V1__ListGhostSwapsResponse *r = (const void *)resp;
      for (size_t i = 0; i < r->n_edges; i++)
        if (r->edges[i]) consistency_report_add_swap(&c->report, r->edges[i]->node);
      return r->page_info;
    }
    default: {
      const Menu__V1__ListProductsResponse *r = (const void *)resp;
      for (size_t i = 0; i < r->n_edges; i++)
        if (r->edges[i] && r->edges[i]->node)
          consistency_report_add_product(&c->report, r->edges[i]->node->product_code);
      return r->page_info;
    }
  }
}

/* A failed page: the backend's status named after it, or, when time ran out, a
 * DEADLINE_EXCEEDED that says where the check was. */
static menu_status page_failure(const check *c, menu_status s) {
  const gateway_method *m = stage_method(c);
  /* The caller's deadline reaches the calls as a cancellation (parent propagation), which may
   * beat their own slightly earlier deadline: what happened is a deadline. */
  bool late = s.code == GRPC_STATUS_DEADLINE_EXCEEDED ||
              (s.code == GRPC_STATUS_CANCELLED && c->cfg.parent && rpc_ctx_expired(c->cfg.parent));
  if (!late) {
    menu_status_prefix(&s, "%s (%s): ", m->backend, m->name);
    return s;
  }
  menu_status d =
      menu_status_make(GRPC_STATUS_DEADLINE_EXCEEDED,
                       "consistency check not finished in time (the caller's deadline or "
                       "CONSISTENCY_CHECK_TIMEOUT_MS): %s (%s) was being read, page %d",
                       m->backend, m->name, (int)c->pages);
  menu_status_set_reason(&d, "CHECK_DEADLINE_EXCEEDED");
  menu_status_set_detail(&d, "%s", menu_status_diagnosis(&s));
  return d;
}

static void on_page(rpc_client_call *call, void *user) {
  check *c = user;
  menu_status s = rpc_client_call_status(call);
  if (!menu_status_is_ok(&s)) {
    rpc_client_call_destroy(call);
    check_finish(c, page_failure(c, s));
    return;
  }
  const Menu__V1__PageInfo *pi = page_take(c, rpc_client_call_response(call));
  bool more = pi && pi->has_next_page && pi->end_cursor && pi->end_cursor[0];
  c->after = more ? arena_strdup(c->cfg.a, pi->end_cursor) : NULL;
  rpc_client_call_destroy(call); /* the page has been copied */
  if (!more) {
    c->stage++;
    /* Nothing referenced: sql-svc's catalogue has nothing to answer. */
    if (c->stage == STAGE_PRODUCTS && c->report.n_refs == 0) c->stage = STAGE_DONE;
  }
  if (c->stage == STAGE_DONE)
    check_finish(c, MENU_OK);
  else
    page_start(c);
}

void consistency_check_start(const consistency_check_config *cfg) {
  check *c = calloc(1, sizeof *c);
  if (!c) abort();
  c->cfg = *cfg;
  consistency_report_init(&c->report, cfg->a);
  c->stage = STAGE_CATEGORIES;
  page_start(c);
}

/* ---- the RPC ----------------------------------------------------------------------------- */

static void rpc_done(menu_status st, const Menu__V1__CheckMenuConsistencyResponse *out,
                     void *user) {
  rpc_ctx *ctx = user;
  if (out) {
    rpc_ctx_log_int(ctx, "pages_read", out->pages_read);
    rpc_ctx_log_int(ctx, "product_codes_referenced", out->product_codes_referenced);
    rpc_ctx_log_int(ctx, "products_scanned", out->products_scanned);
    rpc_ctx_log_int(ctx, "dangling_references", (int64_t)out->n_dangling_references);
  }
  rpc_ctx_reply(ctx, st); /* the response lives in the ctx arena until it is sent */
}

void consistency_rpc(rpc_ctx *ctx, const ProtobufCMessage *req_msg, ProtobufCMessage *resp_msg,
                     void *svc) {
  const gateway_backends *be = ((const store_menu_env *)svc)->be; /* MenuService's one state */
  const Menu__V1__CheckMenuConsistencyRequest *req = (const void *)req_msg;
  menu_status st = consistency_validate_channel(req->channel);
  if (!menu_status_is_ok(&st)) {
    rpc_ctx_reply(ctx, st);
    return;
  }
  consistency_check_config cfg = {
      .be = be,
      .parent = ctx,
      .deadline = consistency_deadline(ctx, be->consistency_timeout_ms, be->deadline_margin_ms),
      .channel = req->channel,
      .a = rpc_ctx_arena(ctx),
      .out = (Menu__V1__CheckMenuConsistencyResponse *)resp_msg,
      .done = rpc_done,
      .user = ctx,
  };
  consistency_check_start(&cfg);
}
