/* GetStoreMenu's composition (see menu_compose.h): lookups are sorted arrays and binary
 * search, so a page of 2,000 codes composes in O(n log n) without a hash table. */
#include "gateway/menu_compose.h"

#include <stdlib.h>
#include <string.h>

/* ---- which categories, which codes ------------------------------------------------------- */

static size_t category_codes(const Menu__V1__ListCategoriesResponse *cats, size_t i) {
  const Menu__V1__CategoryEdge *e = cats->edges[i];
  return e && e->node ? e->node->n_product_codes : 0;
}

menu_page_range menu_compose_page_range(const Menu__V1__ListCategoriesResponse *cats, bool backward,
                                        size_t budget) {
  menu_page_range r = {0, 0, false};
  if (!cats || !cats->n_edges) return r;
  size_t n = cats->n_edges, total = 0, kept = 0;
  for (; kept < n; kept++) {
    size_t i = backward ? n - 1 - kept : kept;
    size_t c = category_codes(cats, i);
    if (kept > 0 && total + c > budget) break;
    total += c;
  }
  r.cut = kept < n;
  r.from = backward ? n - kept : 0;
  r.to = backward ? n : kept;
  return r;
}

static int cmp_str(const void *x, const void *y) {
  return strcmp(*(char *const *)x, *(char *const *)y);
}

bool menu_codes_contains(const menu_codes *set, const char *code) {
  return set->n && bsearch(&code, set->sorted, set->n, sizeof *set->sorted, cmp_str);
}

/* Appends the codes of `src` not in `set` yet (nor twice among themselves) to both `set`
 * and, when given, `added`. Re-sorts once at the end. */
static void codes_merge(arena *a, menu_codes *set, char *const *src, size_t n_src,
                        menu_codes *added) {
  if (!n_src) return;
  char **codes = arena_alloc(a, (set->n + n_src) * sizeof *codes);
  char **sorted = arena_alloc(a, (set->n + n_src) * sizeof *sorted);
  if (set->n) {
    memcpy(codes, set->codes, set->n * sizeof *codes);
    memcpy(sorted, set->sorted, set->n * sizeof *sorted);
  }
  size_t n = set->n, n_sorted_before = set->n;
  if (added) {
    added->codes = arena_alloc(a, n_src * sizeof *added->codes);
    added->n = 0;
  }
  for (size_t i = 0; i < n_src; i++) {
    const char *c = src[i];
    if (!c || !c[0]) continue;
    if (n_sorted_before &&
        bsearch(&c, sorted, n_sorted_before, sizeof *sorted, cmp_str)) /* known before */
      continue;
    bool dup = false; /* among those added by this call: few, scan them */
    for (size_t j = n_sorted_before; j < n && !dup; j++) dup = !strcmp(codes[j], c);
    if (dup) continue;
    codes[n] = (char *)c;
    sorted[n] = (char *)c;
    n++;
    if (added) added->codes[added->n++] = (char *)c;
  }
  set->codes = codes;
  set->sorted = sorted;
  set->n = n;
  qsort(set->sorted, set->n, sizeof *set->sorted, cmp_str);
  if (added) {
    added->sorted = arena_alloc(a, (added->n + 1) * sizeof *added->sorted);
    if (added->n) memcpy(added->sorted, added->codes, added->n * sizeof *added->codes);
    qsort(added->sorted, added->n, sizeof *added->sorted, cmp_str);
  }
}

void menu_compose_category_codes(arena *a, const Menu__V1__ListCategoriesResponse *cats,
                                 menu_page_range r, menu_codes *out) {
  memset(out, 0, sizeof *out);
  size_t total = 0;
  for (size_t i = r.from; i < r.to; i++) total += category_codes(cats, i);
  if (!total) return;
  /* One flat list, then one merge: the in-call duplicate scan stays linear per category. */
  char **flat = arena_alloc(a, total * sizeof *flat);
  size_t n = 0;
  for (size_t i = r.from; i < r.to; i++) {
    const Menu__V1__Category *c = cats->edges[i] ? cats->edges[i]->node : NULL;
    for (size_t j = 0; c && j < c->n_product_codes; j++) flat[n++] = c->product_codes[j];
  }
  /* Sort a copy to drop duplicates in O(n log n), keeping first-seen order. */
  char **sorted = arena_alloc(a, n * sizeof *sorted);
  memcpy(sorted, flat, n * sizeof *sorted);
  qsort(sorted, n, sizeof *sorted, cmp_str);
  size_t u = 0;
  for (size_t i = 0; i < n; i++)
    if (!u || strcmp(sorted[u - 1], sorted[i])) sorted[u++] = sorted[i];
  /* seen[k]: whether sorted[k] was emitted already */
  bool *seen = arena_alloc(a, u ? u : 1);
  out->codes = arena_alloc(a, u * sizeof *out->codes);
  for (size_t i = 0; i < n; i++) {
    char **hit = bsearch(&flat[i], sorted, u, sizeof *sorted, cmp_str);
    size_t k = (size_t)(hit - sorted);
    if (seen[k]) continue;
    seen[k] = true;
    out->codes[out->n++] = flat[i];
  }
  out->sorted = sorted;
}

void menu_compose_swap_targets(arena *a, const Menu__V1__BatchGetGhostSwapsResponse *swaps,
                               menu_codes *asked, menu_codes *out) {
  memset(out, 0, sizeof *out);
  if (!swaps || !swaps->n_ghost_swaps) return;
  char **targets = arena_alloc(a, swaps->n_ghost_swaps * sizeof *targets);
  for (size_t i = 0; i < swaps->n_ghost_swaps; i++)
    targets[i] = swaps->ghost_swaps[i] ? swaps->ghost_swaps[i]->swap_product_code : NULL;
  codes_merge(a, asked, targets, swaps->n_ghost_swaps, out);
}

/* ---- what the backends said --------------------------------------------------------------- */

void menu_availability_add(arena *a, menu_availability_index *idx, const menu_availability *v) {
  if (!v->product_code) return;
  if (idx->n == idx->cap) {
    size_t cap = idx->cap ? idx->cap * 2 : 64;
    menu_availability *items = arena_alloc(a, cap * sizeof *items);
    if (idx->n) memcpy(items, idx->items, idx->n * sizeof *items);
    idx->items = items;
    idx->cap = cap;
  }
  idx->items[idx->n++] = *v;
  idx->sealed = false;
}

void menu_availability_add_results(arena *a, menu_availability_index *idx,
                                   const Menu__V1__BatchGetProductAvailabilitiesResponse *r) {
  for (size_t i = 0; r && i < r->n_results; i++) {
    const Menu__V1__ProductAvailabilityResult *res = r->results[i];
    if (!res || !res->product_code) continue;
    const Menu__V1__ProductAvailability *w = res->winner;
    menu_availability v = {
        .product_code = res->product_code,
        .available = res->available,
        .display_name = res->display_name,
        .is_hidden = w ? w->is_hidden : false,
        .rule_id = w ? w->rule_id : 0,
        .rule_type = w ? w->rule_type : MENU__V1__RULE_TYPE__RULE_TYPE_UNSPECIFIED,
        .reason = res->reason,
    };
    menu_availability_add(a, idx, &v);
  }
}

bool menu_availability_store_off_channel(const menu_availability_index *idx) {
  for (size_t i = 0; i < idx->n; i++)
    if (idx->items[i].reason ==
        MENU__V1__AVAILABILITY_REASON__AVAILABILITY_REASON_STORE_NOT_ON_CHANNEL)
      return true;
  return false;
}

static int cmp_availability(const void *x, const void *y) {
  return strcmp(((const menu_availability *)x)->product_code,
                ((const menu_availability *)y)->product_code);
}

void menu_availability_seal(menu_availability_index *idx) {
  if (idx->n) qsort(idx->items, idx->n, sizeof *idx->items, cmp_availability);
  idx->sealed = true;
}

const menu_availability *menu_availability_find(const menu_availability_index *idx,
                                                const char *code) {
  if (!idx || !idx->n || !code) return NULL;
  menu_availability key = {.product_code = code};
  return bsearch(&key, idx->items, idx->n, sizeof *idx->items, cmp_availability);
}

/* ---- the menu ------------------------------------------------------------------------------ */

static int cmp_swap(const void *x, const void *y) {
  const Menu__V1__GhostSwap *a = *(const Menu__V1__GhostSwap *const *)x;
  const Menu__V1__GhostSwap *b = *(const Menu__V1__GhostSwap *const *)y;
  return strcmp(a->product_code, b->product_code);
}

typedef struct {
  const Menu__V1__GhostSwap **by_code;
  size_t n;
} swap_index;

static swap_index swaps_index(arena *a, const menu_compose_input *in) {
  swap_index s = {NULL, 0};
  if (in->swaps_missing || !in->n_swaps) return s;
  s.by_code = arena_alloc(a, in->n_swaps * sizeof *s.by_code);
  for (size_t i = 0; i < in->n_swaps; i++) {
    const Menu__V1__GhostSwap *g = in->swaps[i];
    if (g && g->product_code && g->swap_product_code) s.by_code[s.n++] = g;
  }
  qsort(s.by_code, s.n, sizeof *s.by_code, cmp_swap);
  return s;
}

static const Menu__V1__GhostSwap *swap_find(const swap_index *s, const char *code) {
  if (!s->n) return NULL;
  Menu__V1__GhostSwap key = MENU__V1__GHOST_SWAP__INIT;
  key.product_code = (char *)code;
  const Menu__V1__GhostSwap *pk = &key;
  const Menu__V1__GhostSwap **hit = bsearch(&pk, s->by_code, s->n, sizeof *s->by_code, cmp_swap);
  return hit ? *hit : NULL;
}

static Menu__V1__MenuItem *item_of(arena *a, const menu_availability *v,
                                   const menu_availability_index *avail, const swap_index *swaps) {
  Menu__V1__MenuItem *it = arena_alloc(a, sizeof *it);
  menu__v1__menu_item__init(it);
  it->product_code = (char *)v->product_code;
  it->display_name = (char *)(v->display_name ? v->display_name : "");
  it->is_hidden = v->is_hidden;
  it->rule_id = v->rule_id;
  it->rule_type = v->rule_type;
  const Menu__V1__GhostSwap *g = swap_find(swaps, v->product_code);
  const menu_availability *t = g ? menu_availability_find(avail, g->swap_product_code) : NULL;
  if (t && t->available) {
    Menu__V1__MenuSwap *sw = arena_alloc(a, sizeof *sw);
    menu__v1__menu_swap__init(sw);
    sw->product_code = (char *)t->product_code;
    sw->display_name = (char *)(t->display_name ? t->display_name : "");
    sw->is_hidden = t->is_hidden;
    it->swap = sw;
  }
  return it;
}

static Menu__V1__UnavailableMenuItem *unavailable_of(arena *a, const char *code,
                                                     const menu_availability *v) {
  Menu__V1__UnavailableMenuItem *u = arena_alloc(a, sizeof *u);
  menu__v1__unavailable_menu_item__init(u);
  u->product_code = (char *)code;
  u->display_name = (char *)(v && v->display_name ? v->display_name : "");
  /* sql-svc said nothing about the code: it does not know it. */
  u->reason = v ? v->reason : MENU__V1__AVAILABILITY_REASON__AVAILABILITY_REASON_UNKNOWN_PRODUCT;
  if (v && v->reason == MENU__V1__AVAILABILITY_REASON__AVAILABILITY_REASON_DENIED_BY_RULE)
    u->rule_id = v->rule_id;
  return u;
}

/* One category of the page; NULL when it is left out (empty and not asked for). */
static Menu__V1__MenuCategory *category_of(arena *a, const menu_compose_input *in,
                                           const Menu__V1__CategoryEdge *e,
                                           const swap_index *swaps) {
  const Menu__V1__Category *c = e->node;
  Menu__V1__MenuCategory *mc = arena_alloc(a, sizeof *mc);
  menu__v1__menu_category__init(mc);
  mc->id = c->id;
  mc->name = c->name;
  mc->display_order = c->display_order;
  mc->cursor = e->cursor;
  if (!in->availability) return mc; /* products missing: nothing is known to be empty */
  size_t n = c->n_product_codes;
  if (n) {
    mc->items = arena_alloc(a, n * sizeof *mc->items);
    if (in->include_unavailable) mc->unavailable_items = arena_alloc(a, n * sizeof *mc->items);
  }
  for (size_t i = 0; i < n; i++) {
    const menu_availability *v = menu_availability_find(in->availability, c->product_codes[i]);
    if (v && v->available)
      mc->items[mc->n_items++] = item_of(a, v, in->availability, swaps);
    else if (in->include_unavailable)
      mc->unavailable_items[mc->n_unavailable_items++] = unavailable_of(a, c->product_codes[i], v);
  }
  if (!mc->n_items) {
    if (!in->include_empty_categories) return NULL;
    mc->is_empty = true;
  }
  return mc;
}

static Menu__V1__PageInfo *page_info_of(arena *a, const menu_compose_input *in) {
  const Menu__V1__ListCategoriesResponse *cats = in->categories;
  Menu__V1__PageInfo *pi = arena_alloc(a, sizeof *pi);
  menu__v1__page_info__init(pi);
  if (cats->page_info) *pi = *cats->page_info;
  menu_page_range r = in->range;
  if (r.to > r.from) {
    pi->start_cursor = cats->edges[r.from]->cursor;
    pi->end_cursor = cats->edges[r.to - 1]->cursor;
  }
  /* What the budget left out is reached by paging on from the held range. */
  if (r.cut && r.from > 0) pi->has_previous_page = true;
  if (r.cut && r.to < cats->n_edges) pi->has_next_page = true;
  return pi;
}

void menu_compose_menu(arena *a, const menu_compose_input *in,
                       Menu__V1__GetStoreMenuResponse *out) {
  const Menu__V1__ListCategoriesResponse *cats = in->categories;
  bool products_missing = !cats || !in->availability;
  bool swaps_missing = !cats || in->swaps_missing;

  if (cats) {
    swap_index swaps = swaps_index(a, in);
    size_t n = in->range.to > in->range.from ? in->range.to - in->range.from : 0;
    if (n) out->categories = arena_alloc(a, n * sizeof *out->categories);
    for (size_t i = in->range.from; i < in->range.to && i < cats->n_edges; i++) {
      const Menu__V1__CategoryEdge *e = cats->edges[i];
      if (!e || !e->node) continue;
      Menu__V1__MenuCategory *mc = category_of(a, in, e, &swaps);
      if (mc) out->categories[out->n_categories++] = mc;
    }
    out->page_info = page_info_of(a, in);
  }
  if (!products_missing) out->at_time = in->at_time;

  out->missing_parts = arena_alloc(a, 3 * sizeof *out->missing_parts);
  if (!cats) out->missing_parts[out->n_missing_parts++] = MENU__V1__MENU_PART__MENU_PART_CATEGORIES;
  if (products_missing)
    out->missing_parts[out->n_missing_parts++] = MENU__V1__MENU_PART__MENU_PART_PRODUCTS;
  if (swaps_missing)
    out->missing_parts[out->n_missing_parts++] = MENU__V1__MENU_PART__MENU_PART_GHOST_SWAPS;
  if (!out->n_missing_parts) out->missing_parts = NULL;
}
