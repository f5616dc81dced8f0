/* Request mixes over the generated data set (see mix.h). */
#include "tools/loadgen/mix.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "menu/v1/category.pb-c.h"
#include "menu/v1/ghost_swap.pb-c.h"
#include "menu/v1/menu.pb-c.h"
#include "menu/v1/product_availability.pb-c.h"
#include "menu/v1/reference_data.pb-c.h"

#define CHANNELS 5 /* CHANNEL_KIOSK (1) .. CHANNEL_DELIVERY (5) */
#define RING 1024  /* next-page cursors kept for later requests */
#define MAX_CODES 128

typedef struct {
  lg_req_key key;
  char *cursor; /* owned; NULL when the entry is free */
} kept_cursor;

typedef struct {
  int channel;
  char *id; /* owned */
} category_id;

struct lg_mix {
  lg_mix_config cfg;
  uint64_t rng;
  kept_cursor ring[RING];
  size_t ring_next, ring_used;
  category_id *ids;
  size_t n_ids, cap_ids;
  uint64_t first_pages, followed_pages;
  double *zipf_cdf; /* cfg.zipf > 0: cumulative weights of the stores, last = 1 */
  char **etags;     /* cfg.if_none_match: the last etag per (store, channel); owned */
  uint64_t not_modified;
  /* lg_mix_discover_stores: per channel, the indices of the stores that sell on it, in store
   * order (popularity rank by Zipf is the position in this list); owned. */
  int *selling[CHANNELS + 1];
  int n_selling[CHANNELS + 1];
  bool stores_known;
};

static const struct {
  const char *name, *path;
} methods[LG_M_COUNT] = {
    [LG_M_HEALTH] = {"health", "/grpc.health.v1.Health/Check"},
    [LG_M_GET_CATEGORY] = {"get-category", "/menu.v1.CategoryService/GetCategory"},
    [LG_M_LIST_CATEGORIES] = {"list-categories", "/menu.v1.CategoryService/ListCategories"},
    [LG_M_BATCH_GHOST_SWAPS] = {"batch-ghost-swaps",
                                "/menu.v1.GhostSwapService/BatchGetGhostSwaps"},
    [LG_M_LIST_AVAILABILITIES] = {"list-availabilities",
                                  "/menu.v1.ProductAvailabilityService/ListProductAvailabilities"},
    [LG_M_STORE_MENU] = {"store-menu", "/menu.v1.MenuService/GetStoreMenu"},
};

bool lg_method_parse(const char *name, lg_method *out) {
  for (int i = 0; i < LG_M_COUNT; i++)
    if (strcmp(name, methods[i].name) == 0) {
      *out = (lg_method)i;
      return true;
    }
  return false;
}

const char *lg_method_path(lg_method m) { return methods[m].path; }

const char *lg_mix_path(const lg_mix *m) { return methods[m->cfg.method].path; }

lg_mix *lg_mix_create(const lg_mix_config *cfg) {
  lg_mix *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->cfg = *cfg;
  m->rng = cfg->seed ? cfg->seed : 0x9e3779b97f4a7c15ull;
  int n = cfg->stores > 0 ? cfg->stores : 1;
  if (cfg->zipf > 0) {
    m->zipf_cdf = malloc((size_t)n * sizeof *m->zipf_cdf);
    if (!m->zipf_cdf) goto Error;
    double sum = 0;
    for (int k = 0; k < n; k++) m->zipf_cdf[k] = sum += pow(k + 1, -cfg->zipf);
    for (int k = 0; k < n; k++) m->zipf_cdf[k] /= sum;
  }
  if (cfg->if_none_match) {
    m->etags = calloc((size_t)n * (CHANNELS + 1), sizeof *m->etags);
    if (!m->etags) goto Error;
  }
  return m;
Error:
  lg_mix_destroy(m);
  return NULL;
}

void lg_mix_destroy(lg_mix *m) {
  if (!m) return;
  for (size_t i = 0; i < RING; i++) free(m->ring[i].cursor);
  for (size_t i = 0; i < m->n_ids; i++) free(m->ids[i].id);
  free(m->ids);
  if (m->etags)
    for (int i = 0; i < (m->cfg.stores > 0 ? m->cfg.stores : 1) * (CHANNELS + 1); i++)
      free(m->etags[i]);
  free(m->etags);
  free(m->zipf_cdf);
  for (int ch = 0; ch <= CHANNELS; ch++) free(m->selling[ch]);
  free(m);
}

/* xorshift64*: fast, deterministic for a given seed. */
static uint64_t rnd(lg_mix *m) {
  m->rng ^= m->rng >> 12;
  m->rng ^= m->rng << 25;
  m->rng ^= m->rng >> 27;
  return m->rng * 0x2545f4914f6cdd1dull;
}
static int rnd_below(lg_mix *m, int n) { return n > 0 ? (int)(rnd(m) % (uint64_t)n) : 0; }
static double rnd_unit(lg_mix *m) { return (double)(rnd(m) >> 11) / 9007199254740992.0; }

/* A rank in 0..n-1: uniform, or by Zipf-like popularity (rank 0 the most asked; the weights
 * of the first n stores, renormalised). */
static int pick_rank(lg_mix *m, int n) {
  if (!m->zipf_cdf) return rnd_below(m, n);
  double u = rnd_unit(m) * m->zipf_cdf[n - 1];
  int lo = 0, hi = n - 1;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (m->zipf_cdf[mid] < u)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* A store number, 0-based, among the stores that sell on `channel` once they are known. */
static int pick_store(lg_mix *m, int channel) {
  if (!m->stores_known) return pick_rank(m, m->cfg.stores);
  return m->selling[channel][pick_rank(m, m->n_selling[channel])];
}

static char **etag_slot(lg_mix *m, const lg_req_key *key) {
  if (!m->etags || key->store_index < 0 || key->channel < 0 || key->channel > CHANNELS) return NULL;
  return &m->etags[key->store_index * (CHANNELS + 1) + key->channel];
}

static int pick_channel(lg_mix *m) {
  return m->cfg.channel ? m->cfg.channel : 1 + rnd_below(m, CHANNELS);
}

static grpc_slice pack(const ProtobufCMessage *msg) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  grpc_slice s = grpc_slice_malloc(n);
  protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
  return s;
}

/* A first page of a random list, or (with probability `follow`) the next page of a list an
 * earlier answer left open. *cursor is owned by the caller when set. */
static void pick_page(lg_mix *m, lg_req_key *key, bool with_store, char **cursor) {
  *cursor = NULL;
  if (m->ring_used && rnd_unit(m) < m->cfg.follow) {
    /* A random kept cursor, so that concurrent callers do not walk the same list. */
    size_t start = (size_t)rnd_below(m, RING);
    for (size_t i = 0; i < RING; i++) {
      kept_cursor *k = &m->ring[(start + i) % RING];
      if (!k->cursor) continue;
      *key = k->key;
      *cursor = k->cursor;
      k->cursor = NULL;
      m->ring_used--;
      m->followed_pages++;
      return;
    }
  }
  m->first_pages++;
  key->channel = pick_channel(m);
  key->store[0] = '\0';
  key->store_index = -1;
  if (with_store) {
    key->store_index = pick_store(m, key->channel);
    snprintf(key->store, sizeof key->store, "%.8s%0*d", m->cfg.store_prefix, m->cfg.store_digits,
             1 + key->store_index);
  }
}

grpc_slice lg_mix_next(lg_mix *m, lg_req_key *key) {
  memset(key, 0, sizeof *key);
  Menu__V1__PageRequest page = MENU__V1__PAGE_REQUEST__INIT;
  page.first = m->cfg.page_size;
  char *cursor = NULL;
  grpc_slice out;
  switch (m->cfg.method) {
    case LG_M_HEALTH: {
      Grpc__Health__V1__HealthCheckRequest r = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
      r.service = (char *)(m->cfg.health_service ? m->cfg.health_service : "");
      return pack(&r.base);
    }
    case LG_M_GET_CATEGORY: {
      Menu__V1__GetCategoryRequest r = MENU__V1__GET_CATEGORY_REQUEST__INIT;
      if (m->n_ids) {
        const category_id *c = &m->ids[rnd_below(m, (int)m->n_ids)];
        r.channel = (Menu__V1__Channel)c->channel;
        r.id = c->id;
      } else {
        r.channel = (Menu__V1__Channel)pick_channel(m);
        r.id = "no-such-category";
      }
      return pack(&r.base);
    }
    case LG_M_LIST_CATEGORIES: {
      Menu__V1__ListCategoriesRequest r = MENU__V1__LIST_CATEGORIES_REQUEST__INIT;
      pick_page(m, key, false, &cursor);
      r.channel = (Menu__V1__Channel)key->channel;
      page.after = cursor ? cursor : "";
      r.page = &page;
      out = pack(&r.base);
      break;
    }
    case LG_M_BATCH_GHOST_SWAPS: {
      Menu__V1__BatchGetGhostSwapsRequest r = MENU__V1__BATCH_GET_GHOST_SWAPS_REQUEST__INIT;
      char buf[MAX_CODES][16];
      char *codes[MAX_CODES];
      int n = m->cfg.swap_codes > MAX_CODES ? MAX_CODES : m->cfg.swap_codes;
      for (int i = 0; i < n; i++) {
        snprintf(buf[i], sizeof buf[i], "P%d", m->cfg.product_base + rnd_below(m, m->cfg.products));
        codes[i] = buf[i];
      }
      r.channel = (Menu__V1__Channel)pick_channel(m);
      r.n_product_codes = (size_t)n;
      r.product_codes = codes;
      return pack(&r.base);
    }
    case LG_M_LIST_AVAILABILITIES: {
      Menu__V1__ListProductAvailabilitiesRequest r =
          MENU__V1__LIST_PRODUCT_AVAILABILITIES_REQUEST__INIT;
      pick_page(m, key, true, &cursor);
      r.store_code = key->store;
      r.channel = (Menu__V1__Channel)key->channel;
      page.after = cursor ? cursor : "";
      r.page = &page;
      out = pack(&r.base);
      break;
    }
    case LG_M_STORE_MENU:
    default: {
      Menu__V1__GetStoreMenuRequest r = MENU__V1__GET_STORE_MENU_REQUEST__INIT;
      pick_page(m, key, true, &cursor);
      r.store_code = key->store;
      r.channel = (Menu__V1__Channel)key->channel;
      page.after = cursor ? cursor : "";
      r.page = &page;
      char **etag = etag_slot(m, key);
      if (etag && *etag && !cursor) r.if_none_match = *etag;
      out = pack(&r.base);
      break;
    }
  }
  free(cursor);
  return out;
}

bool lg_mix_wants_response(const lg_mix *m) {
  return m->cfg.method == LG_M_LIST_CATEGORIES || m->cfg.method == LG_M_LIST_AVAILABILITIES ||
         m->cfg.method == LG_M_STORE_MENU;
}

/* The next-page cursor of an answer's page_info (caller frees), or NULL on the last page (or
 * out of memory). */
static char *next_cursor(const Menu__V1__PageInfo *pi) {
  return pi && pi->has_next_page && pi->end_cursor && pi->end_cursor[0] ? strdup(pi->end_cursor)
                                                                        : NULL;
}

static void keep_cursor(lg_mix *m, const lg_req_key *key, const Menu__V1__PageInfo *pi) {
  char *next = next_cursor(pi);
  if (!next) return;
  kept_cursor *k = &m->ring[m->ring_next];
  m->ring_next = (m->ring_next + 1) % RING;
  if (k->cursor)
    free(k->cursor);
  else
    m->ring_used++;
  k->key = *key;
  k->cursor = next;
}

bool lg_mix_on_response(lg_mix *m, const lg_req_key *key, const uint8_t *data, size_t len) {
  const ProtobufCMessageDescriptor *d;
  switch (m->cfg.method) {
    case LG_M_LIST_CATEGORIES:
      d = &menu__v1__list_categories_response__descriptor;
      break;
    case LG_M_LIST_AVAILABILITIES:
      d = &menu__v1__list_product_availabilities_response__descriptor;
      break;
    case LG_M_STORE_MENU:
      d = &menu__v1__get_store_menu_response__descriptor;
      break;
    default:
      return true;
  }
  ProtobufCMessage *msg = protobuf_c_message_unpack(d, NULL, len, data);
  if (!msg) return false;
  const Menu__V1__PageInfo *pi = NULL;
  if (m->cfg.method == LG_M_LIST_CATEGORIES)
    pi = ((Menu__V1__ListCategoriesResponse *)msg)->page_info;
  else if (m->cfg.method == LG_M_LIST_AVAILABILITIES)
    pi = ((Menu__V1__ListProductAvailabilitiesResponse *)msg)->page_info;
  else { /* the menu pages over categories */
    const Menu__V1__GetStoreMenuResponse *r = (const Menu__V1__GetStoreMenuResponse *)msg;
    pi = r->page_info;
    if (r->not_modified) m->not_modified++;
    char **etag = etag_slot(m, key);
    if (etag && r->etag && r->etag[0] && (!*etag || strcmp(*etag, r->etag) != 0)) {
      free(*etag);
      *etag = strdup(r->etag);
    }
  }
  keep_cursor(m, key, pi);
  protobuf_c_message_free_unpacked(msg, NULL);
  return true;
}

static bool add_id(lg_mix *m, int channel, const char *id) {
  if (m->n_ids == m->cap_ids) {
    size_t cap = m->cap_ids ? 2 * m->cap_ids : 256;
    category_id *n = realloc(m->ids, cap * sizeof *n);
    if (!n) return false;
    m->ids = n;
    m->cap_ids = cap;
  }
  char *copy = strdup(id);
  if (!copy) return false;
  m->ids[m->n_ids++] = (category_id){channel, copy};
  return true;
}

/* One page's request, packed (caller unrefs), for the list walked by list_pages. */
typedef grpc_slice (*page_request_fn)(void *arg, Menu__V1__PageRequest *page);
/* One page's answer: takes its items, sets *next to the next cursor (caller frees; NULL: stop).
 * False when it does not decode. */
typedef bool (*page_answer_fn)(void *arg, grpc_slice resp, char **next);

/* Walks a list through `call`, 128 items a page, following cursors for at most `max_pages`.
 * False when a call fails or an answer does not decode. */
static bool list_pages(lg_call_fn call, void *ctx, const char *path, int max_pages,
                       page_request_fn request, page_answer_fn answer, void *arg) {
  char *after = NULL;
  for (int pages = 0; pages < max_pages; pages++) {
    Menu__V1__PageRequest page = MENU__V1__PAGE_REQUEST__INIT;
    page.first = 128;
    page.after = after ? after : "";
    grpc_slice body = request(arg, &page), resp;
    int rc = call(ctx, path, body, &resp);
    grpc_slice_unref(body);
    free(after);
    after = NULL;
    if (rc != 0) return false;
    bool ok = answer(arg, resp, &after);
    grpc_slice_unref(resp);
    if (!ok) return false;
    if (!after) return true;
  }
  free(after);
  return true;
}

typedef struct {
  lg_mix *m;
  int channel;
  size_t max_ids;
} category_walk;

static grpc_slice category_request(void *arg, Menu__V1__PageRequest *page) {
  category_walk *w = arg;
  Menu__V1__ListCategoriesRequest r = MENU__V1__LIST_CATEGORIES_REQUEST__INIT;
  r.channel = (Menu__V1__Channel)w->channel;
  r.page = page;
  return pack(&r.base);
}

static bool category_answer(void *arg, grpc_slice resp, char **next) {
  category_walk *w = arg;
  Menu__V1__ListCategoriesResponse *lr = menu__v1__list_categories_response__unpack(
      NULL, GRPC_SLICE_LENGTH(resp), GRPC_SLICE_START_PTR(resp));
  if (!lr) return false;
  bool room = true;
  for (size_t i = 0; i < lr->n_edges && room; i++)
    room = !lr->edges[i]->node ||
           (add_id(w->m, w->channel, lr->edges[i]->node->id) && w->m->n_ids < w->max_ids);
  *next = room ? next_cursor(lr->page_info) : NULL;
  menu__v1__list_categories_response__free_unpacked(lr, NULL);
  return true;
}

size_t lg_mix_discover_categories(lg_mix *m, lg_call_fn call, void *ctx, size_t max_ids) {
  for (int ch = 1; ch <= CHANNELS && m->n_ids < max_ids; ch++) {
    category_walk w = {m, ch, max_ids};
    list_pages(call, ctx, lg_method_path(LG_M_LIST_CATEGORIES), 64, category_request,
               category_answer, &w);
  }
  return m->n_ids;
}

/* The 0-based index of a generated store code (<prefix><digits>) within cfg.stores; -1 when it
 * is another store. */
static int store_index_of(const lg_mix *m, const char *code) {
  size_t plen = strlen(m->cfg.store_prefix);
  if (strncmp(code, m->cfg.store_prefix, plen) != 0) return -1;
  const char *d = code + plen;
  if (strlen(d) != (size_t)m->cfg.store_digits) return -1;
  int n = 0;
  for (; *d; d++) {
    if (*d < '0' || *d > '9') return -1;
    n = n * 10 + (*d - '0');
  }
  return n >= 1 && n <= m->cfg.stores ? n - 1 : -1;
}

typedef struct {
  lg_mix *m;
  int channel;
  int *list, n; /* the stores found so far, at most cfg.stores */
} store_walk;

static grpc_slice store_request(void *arg, Menu__V1__PageRequest *page) {
  store_walk *w = arg;
  Menu__V1__ListRestaurantsRequest r = MENU__V1__LIST_RESTAURANTS_REQUEST__INIT;
  r.channel = (Menu__V1__Channel)w->channel;
  r.page = page;
  return pack(&r.base);
}

static bool store_answer(void *arg, grpc_slice resp, char **next) {
  store_walk *w = arg;
  Menu__V1__ListRestaurantsResponse *lr = menu__v1__list_restaurants_response__unpack(
      NULL, GRPC_SLICE_LENGTH(resp), GRPC_SLICE_START_PTR(resp));
  if (!lr) return false;
  for (size_t i = 0; i < lr->n_edges; i++) {
    int k = lr->edges[i]->node ? store_index_of(w->m, lr->edges[i]->node->restaurant_code) : -1;
    if (k >= 0 && w->n < w->m->cfg.stores) w->list[w->n++] = k;
  }
  *next = next_cursor(lr->page_info);
  menu__v1__list_restaurants_response__free_unpacked(lr, NULL);
  return true;
}

size_t lg_mix_discover_stores(lg_mix *m, lg_call_fn call, void *ctx) {
  int *found[CHANNELS + 1] = {0}, n_found[CHANNELS + 1] = {0};
  size_t pairs = 0;
  bool ok = true;
  for (int ch = 1; ch <= CHANNELS && ok; ch++) {
    if (m->cfg.channel && ch != m->cfg.channel) continue;
    store_walk w = {m, ch, malloc((size_t)m->cfg.stores * sizeof(int)), 0};
    ok = w.list &&
         list_pages(call, ctx, "/menu.v1.ReferenceDataService/ListRestaurants", 1000, store_request,
                    store_answer, &w) &&
         w.n > 0;
    found[ch] = w.list;
    n_found[ch] = w.n;
    pairs += (size_t)w.n;
  }
  for (int ch = 1; ch <= CHANNELS; ch++) {
    if (ok) {
      free(m->selling[ch]);
      m->selling[ch] = found[ch];
      m->n_selling[ch] = n_found[ch];
    } else {
      free(found[ch]);
    }
  }
  m->stores_known = m->stores_known || ok;
  return ok ? pairs : 0;
}

json_t *lg_mix_to_json(const lg_mix *m) {
  return json_pack("{s:I,s:I,s:I,s:I,s:I}", "first_pages", (json_int_t)m->first_pages,
                   "followed_pages", (json_int_t)m->followed_pages, "cursors_kept",
                   (json_int_t)m->ring_used, "category_ids", (json_int_t)m->n_ids, "not_modified",
                   (json_int_t)m->not_modified);
}
