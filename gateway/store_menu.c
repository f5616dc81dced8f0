/* GetStoreMenu: validation and the plan of backend calls (gateway/fanout.c runs it on
 * completion callbacks): the page of categories first, then, at once, availability of the
 * page's product codes in chunks of 500 and their ghost swaps in chunks of 100, then
 * availability of swap targets not asked yet. What is composed from the answers is
 * gateway/menu_compose.c's. */
#include "gateway/store_menu.h"
#include "common/mono_clock.h"

#include <grpc/support/time.h>
#include <stdio.h>
#include <string.h>

#include "common/field_check.h"
#include "common/rpc_client.h"
#include "common/validate.h"
#include "gateway/backends.h"
#include "gateway/fanout.h"
#include "gateway/menu_cache.h"
#include "gateway/menu_compose.h"
#include "gateway/menu_etag.h"
#include "menu/v1/catalog_revision.pb-c.h"

/* ---- validation ---------------------------------------------------------------------------- */

menu_status store_menu_validate(const Menu__V1__GetStoreMenuRequest *req) {
  menu_status st = field_check_code(req->store_code, "store_code");
  if (!menu_status_is_ok(&st)) return st;
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

typedef enum {
  PART_CATEGORIES,
  PART_PRODUCTS,
  PART_SWAPS,
  PART_CATALOG_REVISION,      /* only when the poller has not learnt the channel's yet */
  PART_AVAILABILITY_REVISION, /* only for if_none_match */
  PART_COUNT
} part_kind;

/* A cache key in the ctx arena, handed to fanout_call_with so that the answer can be stored. */
typedef struct {
  menu_cache_part part;
  const char *bytes;
  size_t len;
} cache_key;

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
  /* The cache (NULL when disabled) and what its entries are checked against. */
  menu_cache *cache;
  bool lookups; /* cache and not fresh_read */
  menu_cache_view view;
  const char *shape; /* the request's shape, for the etag and the keys */
  size_t shape_len;
  const char *scope; /* "n" for "now" requests, "e" for an explicit at_time */
  /* The revisions this answer is labelled with: each read before the data it labels. */
  bool catalog_known;
  uint64_t catalog;
  bool avail_known, avail_mixed; /* mixed: chunks read at different rule revisions */
  uint64_t avail;
  int64_t valid_until_ms; /* the earliest valid_until of the availability answers; 0 none */
  /* if_none_match: the revision reads outstanding, and what they said. */
  int cond_pending;
  bool cond_avail_ok;
  uint64_t cond_avail;
  int64_t cond_valid_until_ms;
  bool not_modified;
} menu_plan;

static int64_t ts_ms(const Google__Protobuf__Timestamp *t) {
  return t ? t->seconds * 1000 + t->nanos / 1000000 : 0;
}

static Google__Protobuf__Timestamp *ts_make(arena *a, int64_t ms) {
  Google__Protobuf__Timestamp *t = arena_alloc(a, sizeof *t);
  google__protobuf__timestamp__init(t);
  t->seconds = ms / 1000;
  t->nanos = (int32_t)(ms % 1000) * 1000000;
  return t;
}

static void etag_of(const menu_plan *p, uint64_t catalog, uint64_t avail, int64_t valid_until_ms,
                    char out[MENU_ETAG_LEN + 1]) {
  menu_etag_input in = {p->shape, p->shape_len, catalog, avail, valid_until_ms};
  menu_etag_make(&in, out);
}

/* ---- the cache: keys, lookups, stores ---------------------------------------------------------
 */

/* "<prefix>|code,code,...": a chunk of codes under a scope. */
static cache_key *codes_key(arena *a, menu_cache_part part, const char *prefix, char **codes,
                            size_t n) {
  size_t len = strlen(prefix) + 1;
  for (size_t i = 0; i < n; i++) len += strlen(codes[i]) + 1;
  char *b = arena_alloc(a, len + 1);
  size_t o = (size_t)sprintf(b, "%s|", prefix);
  for (size_t i = 0; i < n; i++) o += (size_t)sprintf(b + o, "%s,", codes[i]);
  cache_key *k = arena_alloc(a, sizeof *k);
  *k = (cache_key){part, b, o};
  return k;
}

/* A fresh cached message for k, unpacked into the call's arena; NULL on a miss. */
static ProtobufCMessage *cache_lookup(menu_plan *p, const cache_key *k,
                                      const ProtobufCMessageDescriptor *d, menu_cache_meta *meta) {
  if (!p->lookups) return NULL;
  const unsigned char *v;
  size_t n;
  menu_cache_meta m;
  if (!menu_cache_get(p->cache, k->part, k->bytes, k->len, &p->view, p->a, &v, &n, &m)) return NULL;
  if (meta) *meta = m;
  return protobuf_c_message_unpack(d, &p->a->pb, n, v);
}

static void cache_store(menu_plan *p, const cache_key *k, const menu_cache_meta *meta,
                        const ProtobufCMessage *msg) {
  if (!p->cache || !k) return;
  size_t n = protobuf_c_message_get_packed_size(msg);
  unsigned char *buf = arena_alloc(p->a, n ? n : 1);
  protobuf_c_message_pack(msg, buf);
  menu_cache_put(p->cache, k->part, k->bytes, k->len, meta, buf, n);
}

static menu_cache_meta catalog_meta(const menu_plan *p) {
  return (menu_cache_meta){
      .has_catalog = true, .catalog = p->catalog, .created_ms = p->view.now_ms};
}

/* An availability answer, fetched or cached: its verdicts and its revision label. */
static void availability_take(menu_plan *p,
                              const Menu__V1__BatchGetProductAvailabilitiesResponse *r) {
  menu_availability_add_results(p->a, &p->availability, r);
  if (!p->avail_known) {
    p->avail_known = true;
    p->avail = r->revision;
  } else if (p->avail != r->revision) {
    p->avail_mixed = true;
  }
  int64_t vu = ts_ms(r->valid_until);
  if (vu && (!p->valid_until_ms || vu < p->valid_until_ms)) p->valid_until_ms = vu;
}

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
    char *prefix = arena_sprintf(p->a, "%zu:%s|%d|%s", strlen(p->req->store_code),
                                 p->req->store_code, (int)p->req->channel, p->scope);
    cache_key *k =
        codes_key(p->a, MENU_CACHE_AVAILABILITY, prefix, r.product_codes, r.n_product_codes);
    ProtobufCMessage *hit =
        cache_lookup(p, k, &menu__v1__batch_get_product_availabilities_response__descriptor, NULL);
    if (hit)
      availability_take(p, (const Menu__V1__BatchGetProductAvailabilitiesResponse *)hit);
    else if (!fanout_call_with(f, PART_PRODUCTS, &r.base, k))
      return false;
    if (n == 0) break;
  }
  return true;
}

static void on_swaps(fanout *f, menu_plan *p, const Menu__V1__BatchGetGhostSwapsResponse *r);

static bool swaps_start(fanout *f, menu_plan *p, char **codes, size_t n) {
  for (size_t off = 0; off < n; off += MENU_COMPOSE_SWAPS_CHUNK) {
    Menu__V1__BatchGetGhostSwapsRequest r = MENU__V1__BATCH_GET_GHOST_SWAPS_REQUEST__INIT;
    r.channel = p->req->channel;
    r.product_codes = codes + off;
    r.n_product_codes = n - off < MENU_COMPOSE_SWAPS_CHUNK ? n - off : MENU_COMPOSE_SWAPS_CHUNK;
    cache_key *k = NULL;
    if (p->catalog_known) {
      k = codes_key(p->a, MENU_CACHE_SWAPS, arena_sprintf(p->a, "%d", (int)p->req->channel),
                    r.product_codes, r.n_product_codes);
      ProtobufCMessage *hit =
          cache_lookup(p, k, &menu__v1__batch_get_ghost_swaps_response__descriptor, NULL);
      if (hit) {
        on_swaps(f, p, (const Menu__V1__BatchGetGhostSwapsResponse *)hit);
        continue;
      }
    }
    if (!fanout_call_with(f, PART_SWAPS, &r.base, k)) return false;
  }
  return true;
}

static void on_categories(fanout *f, menu_plan *p, const Menu__V1__ListCategoriesResponse *cats);

static void categories_start(fanout *f, menu_plan *p) {
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
  cache_key *k = NULL;
  if (p->catalog_known) {
    k = arena_alloc(p->a, sizeof *k);
    const char *after = page.after ? page.after : "", *before = page.before ? page.before : "";
    k->part = MENU_CACHE_CATEGORIES;
    k->bytes = arena_sprintf(p->a, "%d|%d|%d|%zu:%s|%zu:%s", (int)r.channel, (int)page.first,
                             (int)page.last, strlen(after), after, strlen(before), before);
    k->len = strlen(k->bytes);
    ProtobufCMessage *hit =
        cache_lookup(p, k, &menu__v1__list_categories_response__descriptor, NULL);
    if (hit) {
      on_categories(f, p, (const Menu__V1__ListCategoriesResponse *)hit);
      return;
    }
  }
  fanout_call_with(f, PART_CATEGORIES, &r.base, k);
}

/* if_none_match: both revisions known, compare; the same etag ends the call without a body,
 * another one reads the menu. */
static void conditional_decide(fanout *f, menu_plan *p) {
  if (p->catalog_known && p->cond_avail_ok) {
    char etag[MENU_ETAG_LEN + 1];
    etag_of(p, p->catalog, p->cond_avail, p->cond_valid_until_ms, etag);
    if (strcmp(etag, p->req->if_none_match) == 0) {
      p->not_modified = true;
      p->resp->etag = arena_strdup(p->a, etag);
      if (p->cond_valid_until_ms) p->resp->valid_until = ts_make(p->a, p->cond_valid_until_ms);
      return;
    }
  }
  categories_start(f, p);
}

static void plan_start(fanout *f, void *user) {
  menu_plan *p = user;
  if (!(p->req->if_none_match && p->req->if_none_match[0])) {
    categories_start(f, p);
    return;
  }
  /* if_none_match: the store's rule revision and validity (one indexed query), and the
   * catalog's revision only when the poller's is not confirmed within the bound (or the
   * caller asked for a fresh read). Never per request otherwise: without the poller's
   * revision an answer has no etag and its catalog parts are not cached. */
  const gateway_revision_state *rs = &p->view.revs;
  bool catalog_fresh = rs->catalog_known && rs->confirmed_ms &&
                       p->view.now_ms - rs->confirmed_ms < p->view.staleness_ms &&
                       rs->unsettled_until_ms <= p->view.now_real_ms;
  if (!catalog_fresh || !p->lookups) {
    Menu__V1__GetCatalogRevisionRequest cr = MENU__V1__GET_CATALOG_REVISION_REQUEST__INIT;
    cr.channel = p->req->channel;
    p->catalog_known = false;
    if (fanout_call(f, PART_CATALOG_REVISION, &cr.base)) p->cond_pending++;
  }
  Menu__V1__GetAvailabilityRevisionRequest ar = MENU__V1__GET_AVAILABILITY_REVISION_REQUEST__INIT;
  ar.channel = p->req->channel;
  ar.store_code = p->req->store_code;
  ar.at_time = p->at_time;
  if (fanout_call(f, PART_AVAILABILITY_REVISION, &ar.base)) p->cond_pending++;
  if (p->cond_pending == 0) conditional_decide(f, p);
}

/* One revision read of plan_start ended (answered or not). */
static void revision_read_done(fanout *f, menu_plan *p) {
  if (--p->cond_pending == 0) conditional_decide(f, p);
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
  const cache_key *k = fanout_call_arg(f);
  switch ((part_kind)part) {
    case PART_CATEGORIES: {
      menu_cache_meta m = catalog_meta(p);
      cache_store(p, k, &m, resp);
      on_categories(f, p, (const Menu__V1__ListCategoriesResponse *)resp);
      break;
    }
    case PART_PRODUCTS: {
      const Menu__V1__BatchGetProductAvailabilitiesResponse *r = (const void *)resp;
      menu_cache_meta m = {.has_availability = true,
                           .availability = r->revision,
                           .from_ms = ts_ms(p->at_time),
                           .until_ms = ts_ms(r->valid_until),
                           .created_ms = p->view.now_ms};
      cache_store(p, k, &m, resp);
      availability_take(p, r);
      break;
    }
    case PART_SWAPS: {
      menu_cache_meta m = catalog_meta(p);
      cache_store(p, k, &m, resp);
      on_swaps(f, p, (const Menu__V1__BatchGetGhostSwapsResponse *)resp);
      break;
    }
    case PART_CATALOG_REVISION: {
      const Menu__V1__GetCatalogRevisionResponse *r = (const void *)resp;
      p->catalog_known = true;
      p->catalog = r->revision;
      revision_read_done(f, p);
      break;
    }
    case PART_AVAILABILITY_REVISION: {
      const Menu__V1__GetAvailabilityRevisionResponse *r = (const void *)resp;
      p->cond_avail_ok = true;
      p->cond_avail = r->revision;
      p->cond_valid_until_ms = ts_ms(r->valid_until);
      /* The store's window, for the next if_none_match without any round trip. */
      cache_key k2 = {MENU_CACHE_VALIDITY,
                      arena_sprintf(p->a, "%zu:%s|%d|%s", strlen(p->req->store_code),
                                    p->req->store_code, (int)p->req->channel, p->scope),
                      0};
      k2.len = strlen(k2.bytes);
      menu_cache_meta m = {.has_availability = true,
                           .availability = r->revision,
                           .from_ms = ts_ms(p->at_time),
                           .until_ms = p->cond_valid_until_ms,
                           .created_ms = p->view.now_ms};
      cache_store(p, &k2, &m, resp);
      revision_read_done(f, p);
      break;
    }
    default:
      break;
  }
}

/* A revision read failed: go on without it (the answer gets no etag, nothing is cached under
 * an unknown revision). */
static void plan_failed(fanout *f, size_t part, void *user) {
  menu_plan *p = user;
  if (part == PART_CATALOG_REVISION) {
    /* The poller's revision, however old, was read before anything read now: a safe label. */
    p->catalog_known = p->view.revs.catalog_known;
    p->catalog = p->view.revs.catalog;
  }
  if (part == PART_CATALOG_REVISION || part == PART_AVAILABILITY_REVISION) revision_read_done(f, p);
}

static bool plan_is_fatal(grpc_status_code code, void *user) {
  const menu_plan *p = user;
  return store_menu_failure_is_fatal(code, p->req->allow_partial);
}

/* The etag of a whole answer read at known revisions (none for a partial one, or one whose
 * availability chunks disagree); a match with if_none_match drops the body. A whole answer
 * is also cached as it is sent. */
static void menu_finish_etag(menu_plan *p) {
  Menu__V1__GetStoreMenuResponse *r = p->resp;
  if (p->valid_until_ms) r->valid_until = ts_make(p->a, p->valid_until_ms);
  if (r->n_missing_parts || !p->catalog_known || !p->avail_known || p->avail_mixed) return;
  char etag[MENU_ETAG_LEN + 1];
  etag_of(p, p->catalog, p->avail, p->valid_until_ms, etag);
  r->etag = arena_strdup(p->a, etag);
  if (p->cache) {
    /* Kept encoded, as it is sent, without at_time (each answer has its own instant) and
     * after its etag: a hit is sent without decoding or encoding anything. */
    cache_key k = {MENU_CACHE_MENU, arena_sprintf(p->a, "%s|%s", p->scope, p->shape), 0};
    k.len = strlen(k.bytes);
    menu_cache_meta m = {.has_catalog = true,
                         .catalog = p->catalog,
                         .has_availability = true,
                         .availability = p->avail,
                         .from_ms = ts_ms(p->at_time),
                         .until_ms = p->valid_until_ms,
                         .created_ms = p->view.now_ms};
    Google__Protobuf__Timestamp *at = r->at_time;
    r->at_time = NULL;
    size_t n = protobuf_c_message_get_packed_size(&r->base);
    unsigned char *buf = arena_alloc(p->a, MENU_ETAG_LEN + n + 1);
    memcpy(buf, etag, MENU_ETAG_LEN);
    protobuf_c_message_pack(&r->base, buf + MENU_ETAG_LEN);
    r->at_time = at;
    menu_cache_put(p->cache, k.part, k.bytes, k.len, &m, buf, MENU_ETAG_LEN + n);
  }
  if (p->req->if_none_match && strcmp(p->req->if_none_match, etag) == 0) {
    Menu__V1__GetStoreMenuResponse empty = MENU__V1__GET_STORE_MENU_RESPONSE__INIT;
    empty.etag = r->etag;
    empty.valid_until = r->valid_until;
    empty.at_time = r->at_time;
    empty.not_modified = true;
    *r = empty;
  }
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
  if (p->not_modified) {
    p->resp->not_modified = true;
    p->resp->at_time = p->at_time;
    rpc_ctx_log_str(p->ctx, "cache", "not_modified");
    return MENU_OK;
  }
  menu_compose_menu(p->a, &in, p->resp);
  menu_finish_etag(p);
  rpc_ctx_log_int(p->ctx, "categories", (int64_t)p->resp->n_categories);
  rpc_ctx_log_int(p->ctx, "product_codes", (int64_t)p->asked.n);
  rpc_ctx_log_int(p->ctx, "missing_parts", (int64_t)p->resp->n_missing_parts);
  return MENU_OK;
}

static const fanout_plan_ops plan_ops = {plan_start, plan_result, plan_is_fatal, plan_finish,
                                         plan_failed};

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

/* From the cache without any backend call: the whole answer, or for if_none_match the
 * store's validity window at the confirmed revisions. True when the call was answered (the
 * reply is sent). */
static bool answer_from_cache(menu_plan *p) {
  if (!p->lookups) return false;
  const char *inm =
      p->req->if_none_match && p->req->if_none_match[0] ? p->req->if_none_match : NULL;
  cache_key k = {MENU_CACHE_MENU, arena_sprintf(p->a, "%s|%s", p->scope, p->shape), 0};
  k.len = strlen(k.bytes);
  const unsigned char *v;
  size_t n;
  menu_cache_meta meta;
  if (menu_cache_get(p->cache, k.part, k.bytes, k.len, &p->view, p->a, &v, &n, &meta) &&
      n >= MENU_ETAG_LEN) {
    if (inm && strlen(inm) == MENU_ETAG_LEN && memcmp(inm, v, MENU_ETAG_LEN) == 0) {
      p->resp->not_modified = true;
      p->resp->etag = arena_strndup(p->a, (const char *)v, MENU_ETAG_LEN);
      if (meta.until_ms) p->resp->valid_until = ts_make(p->a, meta.until_ms);
      p->resp->at_time = p->at_time;
      rpc_ctx_log_str(p->ctx, "cache", "not_modified");
      rpc_ctx_reply(p->ctx, MENU_OK);
      return true;
    }
    /* The kept answer, then its at_time (field 5, length-delimited): fields may come in any
     * order and the kept bytes have none. */
    size_t body = n - MENU_ETAG_LEN, tn = google__protobuf__timestamp__get_packed_size(p->at_time);
    unsigned char *out = arena_alloc(p->a, body + tn + 2);
    memcpy(out, v + MENU_ETAG_LEN, body);
    size_t o = body;
    out[o++] = (5 << 3) | 2;
    out[o++] = (unsigned char)tn; /* a Timestamp is at most 24 bytes: a one-byte length */
    o += google__protobuf__timestamp__pack(p->at_time, out + o);
    rpc_ctx_log_str(p->ctx, "cache", "hit");
    rpc_ctx_reply_encoded(p->ctx, out, o);
    return true;
  }
  if (!inm || !p->view.revs.catalog_known) return false;
  /* The catalog as confirmed by the poller (an unsettled one is not trusted for this). */
  if (p->view.revs.unsettled_until_ms > p->view.now_real_ms) return false;
  cache_key vk = {MENU_CACHE_VALIDITY,
                  arena_sprintf(p->a, "%zu:%s|%d|%s", strlen(p->req->store_code),
                                p->req->store_code, (int)p->req->channel, p->scope),
                  0};
  vk.len = strlen(vk.bytes);
  if (!cache_lookup(p, &vk, &menu__v1__get_availability_revision_response__descriptor, &meta))
    return false;
  char etag[MENU_ETAG_LEN + 1];
  etag_of(p, p->view.revs.catalog, meta.availability, meta.until_ms, etag);
  if (strcmp(etag, inm) != 0) return false;
  p->resp->not_modified = true;
  p->resp->etag = arena_strdup(p->a, etag);
  if (meta.until_ms) p->resp->valid_until = ts_make(p->a, meta.until_ms);
  p->resp->at_time = p->at_time;
  rpc_ctx_log_str(p->ctx, "cache", "not_modified");
  rpc_ctx_reply(p->ctx, MENU_OK);
  return true;
}

void store_menu_get(rpc_ctx *ctx, const ProtobufCMessage *req_msg, ProtobufCMessage *resp_msg,
                    void *svc) {
  const store_menu_env *env = svc;
  const gateway_backends *be = env->be;
  const Menu__V1__GetStoreMenuRequest *req = (const Menu__V1__GetStoreMenuRequest *)req_msg;
  menu_status st = store_menu_validate(req);
  if (!menu_status_is_ok(&st)) {
    rpc_ctx_reply(ctx, st);
    return;
  }
  gateway_revisions_use(env->revisions, req->channel);
  menu_plan *p = RPC_NEW_ARRAY(ctx, menu_plan, 1);
  p->req = req;
  p->resp = (Menu__V1__GetStoreMenuResponse *)resp_msg;
  p->a = rpc_ctx_arena(ctx);
  p->ctx = ctx;
  p->at_time = instant_of(p->a, req);
  p->cache = env->cache;
  p->lookups = env->cache && !req->fresh_read;
  p->scope = req->at_time ? "e" : "n";
  p->shape = menu_etag_shape(p->a, req, &p->shape_len);
  gateway_revisions_get(env->revisions, req->channel, &p->view.revs);
  p->view.at_ms = ts_ms(p->at_time);
  p->view.now_ms = mono_now_ms();
  gpr_timespec real = gpr_now(GPR_CLOCK_REALTIME);
  p->view.now_real_ms = (int64_t)real.tv_sec * 1000 + real.tv_nsec / 1000000;
  p->view.staleness_ms = env->staleness_ms;
  p->catalog_known = p->view.revs.catalog_known;
  p->catalog = p->view.revs.catalog;
  if (answer_from_cache(p)) return;
  /* The part names are the prefixes of the per-backend timings on the call's log line. */
  fanout_part *parts = RPC_NEW_ARRAY(ctx, fanout_part, PART_COUNT);
  parts[PART_CATEGORIES] = (fanout_part){"categories", &be->list_categories, false};
  parts[PART_PRODUCTS] = (fanout_part){"products", &be->batch_get_product_availabilities, false};
  parts[PART_SWAPS] = (fanout_part){"ghost_swaps", &be->batch_get_ghost_swaps, false};
  parts[PART_CATALOG_REVISION] = (fanout_part){"catalog_revision", &be->get_catalog_revision, true};
  parts[PART_AVAILABILITY_REVISION] =
      (fanout_part){"availability_revision", &be->get_availability_revision, true};
  fanout_config cfg = {.parts = parts,
                       .n_parts = PART_COUNT,
                       .deadline_margin_ms = be->deadline_margin_ms,
                       .ops = &plan_ops,
                       .plan = p};
  fanout_run(ctx, &cfg);
}
