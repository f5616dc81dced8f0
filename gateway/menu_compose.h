/* What GetStoreMenu composes, as pure functions over the backends' answers (no I/O, no
 * locks): which categories a response holds (the page, cut at the product-code budget),
 * which product codes to ask sql-svc and dynamo-svc about, and the menu itself (each
 * category's available products in the category's order, swaps whose target is available,
 * unavailable products with their reason, empty categories, missing parts, page info).
 * Everything allocated comes from the caller's arena; the answer borrows strings and
 * messages from the inputs, which must outlive it. Not thread-safe (one call's arena). */
#ifndef GATEWAY_MENU_COMPOSE_H
#define GATEWAY_MENU_COMPOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "menu/v1/category.pb-c.h"
#include "menu/v1/ghost_swap.pb-c.h"
#include "menu/v1/menu.pb-c.h"
#include "menu/v1/product_availability.pb-c.h"

/* Categories asked of dynamo-svc for one menu page (its page maximum), and the default. */
#define MENU_COMPOSE_CATEGORIES_MAX 128
/* A response holds categories until their product codes would pass this many (it always
 * holds at least one category, which has at most 200 codes). */
#define MENU_COMPOSE_CODES_BUDGET 2000
/* Product codes per BatchGetProductAvailabilities and per BatchGetGhostSwaps call. */
#define MENU_COMPOSE_AVAILABILITY_CHUNK 500
#define MENU_COMPOSE_SWAPS_CHUNK 100

/* ---- which categories, which codes ------------------------------------------------------- */

/* The categories of one ListCategories page that a menu page holds: edges [from, to). Going
 * forward the page keeps its first categories, going backward (page.last/before) its last
 * ones, as many as fit MENU_COMPOSE_CODES_BUDGET (at least one). `cut` tells that categories
 * of the backend's page were left for the next (or previous) page. */
typedef struct {
  size_t from, to;
  bool cut;
} menu_page_range;

menu_page_range menu_compose_page_range(const Menu__V1__ListCategoriesResponse *cats, bool backward,
                                        size_t budget);

/* A set of distinct product codes in first-seen order (arena-owned; codes borrowed). */
typedef struct {
  char **codes;
  size_t n;
  char **sorted; /* the same codes sorted, for menu_codes_contains */
} menu_codes;

/* The distinct product codes of categories [r.from, r.to), in category then list order. */
void menu_compose_category_codes(arena *a, const Menu__V1__ListCategoriesResponse *cats,
                                 menu_page_range r, menu_codes *out);
bool menu_codes_contains(const menu_codes *set, const char *code);

/* Targets of these swaps that are not in `asked` yet (distinct, in swap order): sql-svc must
 * say whether they are available before a swap to them can be applied. Adds them to `asked`. */
void menu_compose_swap_targets(arena *a, const Menu__V1__BatchGetGhostSwapsResponse *swaps,
                               menu_codes *asked, menu_codes *out);

/* ---- what the backends said --------------------------------------------------------------- */

/* sql-svc's verdict on one product code at the store and time. */
typedef struct {
  const char *product_code; /* borrowed */
  bool available;
  const char *display_name; /* borrowed; NULL or "" when unknown */
  bool is_hidden;
  int64_t rule_id; /* the winning rule (allowing or denying), 0 when none applies */
  Menu__V1__RuleType rule_type;
  Menu__V1__AvailabilityReason reason;
} menu_availability;

/* Verdicts looked up by code: add any number, then seal once, then find. */
typedef struct {
  menu_availability *items;
  size_t n, cap;
  bool sealed;
} menu_availability_index;

/* Copies *v (strings still borrowed). */
void menu_availability_add(arena *a, menu_availability_index *idx, const menu_availability *v);
/* Adds every result of one BatchGetProductAvailabilities answer (borrowed). */
void menu_availability_add_results(arena *a, menu_availability_index *idx,
                                   const Menu__V1__BatchGetProductAvailabilitiesResponse *r);
/* sql-svc said the store is not on the channel at all (no verdict can ever be "available"). */
bool menu_availability_store_off_channel(const menu_availability_index *idx);
void menu_availability_seal(menu_availability_index *idx);
/* NULL when sql-svc said nothing about code. Only after seal. */
const menu_availability *menu_availability_find(const menu_availability_index *idx,
                                                const char *code);

/* ---- the menu ------------------------------------------------------------------------------ */

typedef struct {
  /* dynamo-svc's page of categories and the range of it this response holds; NULL when the
   * categories part is missing (then nothing else could be asked for). */
  const Menu__V1__ListCategoriesResponse *categories;
  menu_page_range range;
  /* NULL when the products part is missing: categories come without items. */
  const menu_availability_index *availability;
  /* Every ghost swap answered (any order); swaps_missing when a BatchGetGhostSwaps failed:
   * items come without swaps. */
  const Menu__V1__GhostSwap *const *swaps;
  size_t n_swaps;
  bool swaps_missing;
  bool include_unavailable;
  bool include_empty_categories;
  Google__Protobuf__Timestamp *at_time; /* borrowed; the instant of the verdicts */
} menu_compose_input;

/* Fills `out` (already initialised): categories in the page's order with their items in
 * each category's order (only available products; a swap when the ghost swap's target is
 * available too; unavailable products with their reason when asked for), empty categories
 * marked or left out, page_info for the held range, missing_parts in enum order (products
 * and ghost swaps are missing too when categories are), at_time. */
void menu_compose_menu(arena *a, const menu_compose_input *in, Menu__V1__GetStoreMenuResponse *out);

#endif
