/* GetStoreMenu's composition (gateway/menu_compose.c): what a kiosk renders from the backends'
 * answers. Each test builds the answers dynamo-svc and sql-svc would give and checks what the
 * menu shows: products in the category's order, unavailable ones left out (or listed with
 * their reason), swaps only to available targets, hidden items flagged, empty categories,
 * paging at the code budget, missing parts, and the codes the gateway asks about. */
// LIBS: gateway
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/menu_compose.h"

#define REASON(x) MENU__V1__AVAILABILITY_REASON__AVAILABILITY_REASON_##x

typedef struct {
  arena a;
  Menu__V1__ListCategoriesResponse cats;
  Menu__V1__PageInfo page_info;
  menu_availability_index avail;
  const Menu__V1__GhostSwap *swaps[16];
  size_t n_swaps;
} fixture;

static int setup(void **state) {
  fixture *fx = test_calloc(1, sizeof *fx);
  arena_init(&fx->a);
  menu__v1__list_categories_response__init(&fx->cats);
  menu__v1__page_info__init(&fx->page_info);
  fx->cats.page_info = &fx->page_info;
  fx->cats.edges = arena_alloc(&fx->a, 256 * sizeof *fx->cats.edges);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture *fx = *state;
  arena_free(&fx->a);
  test_free(fx);
  return 0;
}

/* A category with its product codes (NULL-terminated), appended to the page. */
static void category(fixture *fx, const char *id, const char *const *codes) {
  Menu__V1__CategoryEdge *e = arena_alloc(&fx->a, sizeof *e);
  menu__v1__category_edge__init(e);
  e->node = arena_alloc(&fx->a, sizeof *e->node);
  menu__v1__category__init(e->node);
  e->node->id = (char *)id;
  e->node->name = arena_sprintf(&fx->a, "Name of %s", id);
  e->node->display_order = (int32_t)(fx->cats.n_edges + 1) * 10;
  e->cursor = arena_sprintf(&fx->a, "cursor-%s", id);
  size_t n = 0;
  while (codes && codes[n]) n++;
  e->node->n_product_codes = n;
  e->node->product_codes = (char **)codes;
  fx->cats.edges[fx->cats.n_edges++] = e;
}

/* A category with n generated codes "<prefix>-<i>". */
static void category_n(fixture *fx, const char *id, size_t n) {
  char **codes = arena_alloc(&fx->a, (n + 1) * sizeof *codes);
  for (size_t i = 0; i < n; i++) codes[i] = arena_sprintf(&fx->a, "%s-%zu", id, i);
  category(fx, id, (const char *const *)codes);
}

static void available(fixture *fx, const char *code, bool hidden) {
  menu_availability v = {.product_code = code,
                         .available = true,
                         .reason = REASON(ALLOWED),
                         .display_name = arena_sprintf(&fx->a, "Product %s", code),
                         .is_hidden = hidden,
                         .rule_id = 7,
                         .rule_type = MENU__V1__RULE_TYPE__RULE_TYPE_GLOBAL_EXPERIENCE};
  menu_availability_add(&fx->a, &fx->avail, &v);
}

static void unavailable(fixture *fx, const char *code, Menu__V1__AvailabilityReason why) {
  menu_availability v = {.product_code = code,
                         .display_name = arena_sprintf(&fx->a, "Product %s", code),
                         .rule_id = why == REASON(DENIED_BY_RULE) ? 99 : 0,
                         .reason = why};
  menu_availability_add(&fx->a, &fx->avail, &v);
}

static void swap(fixture *fx, const char *from, const char *to) {
  Menu__V1__GhostSwap *g = arena_alloc(&fx->a, sizeof *g);
  menu__v1__ghost_swap__init(g);
  g->product_code = (char *)from;
  g->swap_product_code = (char *)to;
  fx->swaps[fx->n_swaps++] = g;
}

static menu_compose_input input(fixture *fx) {
  menu_availability_seal(&fx->avail);
  menu_compose_input in = {
      .categories = &fx->cats,
      .range = menu_compose_page_range(&fx->cats, false, MENU_COMPOSE_CODES_BUDGET),
      .availability = &fx->avail,
      .swaps = fx->swaps,
      .n_swaps = fx->n_swaps,
  };
  return in;
}

static Menu__V1__GetStoreMenuResponse compose(fixture *fx, const menu_compose_input *in) {
  Menu__V1__GetStoreMenuResponse out = MENU__V1__GET_STORE_MENU_RESPONSE__INIT;
  menu_compose_menu(&fx->a, in, &out);
  /* Whatever was composed must encode: every pointer is valid. */
  size_t n = protobuf_c_message_get_packed_size(&out.base);
  uint8_t *buf = arena_alloc(&fx->a, n + 1);
  assert_int_equal(protobuf_c_message_pack(&out.base, buf), n);
  return out;
}

static void assert_codes(Menu__V1__MenuCategory *c, const char *const *want) {
  size_t n = 0;
  while (want[n]) n++;
  assert_int_equal(c->n_items, n);
  for (size_t i = 0; i < n; i++) assert_string_equal(c->items[i]->product_code, want[i]);
}

/* ---- the menu ------------------------------------------------------------------------------ */

static void test_items_follow_category_order_and_skip_unavailable(void **state) {
  fixture *fx = *state;
  static const char *const burgers[] = {"P3", "P1", "P2", "P9", NULL};
  static const char *const drinks[] = {"P5", "P4", NULL};
  category(fx, "burgers", burgers);
  category(fx, "drinks", drinks);
  /* sql-svc answers in code order; the menu keeps the categories' order. */
  available(fx, "P1", false);
  unavailable(fx, "P2", REASON(DENIED_BY_RULE));
  available(fx, "P3", false);
  available(fx, "P4", false);
  available(fx, "P5", false);
  unavailable(fx, "P9", REASON(NO_RULE));
  menu_compose_input in = input(fx);
  Menu__V1__GetStoreMenuResponse out = compose(fx, &in);

  assert_int_equal(out.n_categories, 2);
  assert_string_equal(out.categories[0]->id, "burgers");
  assert_string_equal(out.categories[0]->name, "Name of burgers");
  assert_string_equal(out.categories[0]->cursor, "cursor-burgers");
  assert_codes(out.categories[0], (const char *const[]){"P3", "P1", NULL});
  assert_codes(out.categories[1], (const char *const[]){"P5", "P4", NULL});
  assert_string_equal(out.categories[0]->items[0]->display_name, "Product P3");
  assert_int_equal(out.categories[0]->items[0]->rule_id, 7);
  /* Not asked for: unavailable products are simply absent. */
  assert_int_equal(out.categories[0]->n_unavailable_items, 0);
  assert_int_equal(out.n_missing_parts, 0);
}

static void test_unavailable_listed_with_reason_when_asked(void **state) {
  fixture *fx = *state;
  static const char *const codes[] = {"P1", "P2", "P3", "PX", NULL};
  category(fx, "sides", codes);
  available(fx, "P1", false);
  unavailable(fx, "P2", REASON(DENIED_BY_RULE));
  unavailable(fx, "P3", REASON(NO_RULE));
  /* PX: sql-svc said nothing about it, it does not know the code. */
  menu_compose_input in = input(fx);
  in.include_unavailable = true;
  Menu__V1__GetStoreMenuResponse out = compose(fx, &in);
  Menu__V1__MenuCategory *c = out.categories[0];
  assert_codes(c, (const char *const[]){"P1", NULL});
  assert_int_equal(c->n_unavailable_items, 3);
  assert_string_equal(c->unavailable_items[0]->product_code, "P2");
  assert_int_equal(c->unavailable_items[0]->reason, REASON(DENIED_BY_RULE));
  assert_int_equal(c->unavailable_items[0]->rule_id, 99);
  assert_int_equal(c->unavailable_items[1]->reason, REASON(NO_RULE));
  assert_int_equal(c->unavailable_items[1]->rule_id, 0);
  assert_string_equal(c->unavailable_items[2]->product_code, "PX");
  assert_int_equal(c->unavailable_items[2]->reason, REASON(UNKNOWN_PRODUCT));
}

static void test_swap_applied_only_when_target_available(void **state) {
  fixture *fx = *state;
  static const char *const drinks[] = {"COLA", "TEA", "JUICE", NULL};
  category(fx, "drinks", drinks);
  available(fx, "COLA", false);
  available(fx, "TEA", false);
  available(fx, "JUICE", false);
  available(fx, "DIET", true); /* a target that is in no category, hidden */
  unavailable(fx, "LEMONADE", REASON(DENIED_BY_RULE));
  swap(fx, "COLA", "DIET");     /* applied */
  swap(fx, "TEA", "LEMONADE");  /* target denied: not applied */
  swap(fx, "JUICE", "NOWHERE"); /* target unknown to sql-svc: not applied */
  swap(fx, "WATER", "COLA");    /* a swap of a product on no category: ignored */
  menu_compose_input in = input(fx);
  Menu__V1__GetStoreMenuResponse out = compose(fx, &in);
  Menu__V1__MenuCategory *c = out.categories[0];
  assert_codes(c, (const char *const[]){"COLA", "TEA", "JUICE", NULL});
  assert_non_null(c->items[0]->swap);
  assert_string_equal(c->items[0]->swap->product_code, "DIET");
  assert_string_equal(c->items[0]->swap->display_name, "Product DIET");
  assert_true(c->items[0]->swap->is_hidden);
  assert_null(c->items[1]->swap);
  assert_null(c->items[2]->swap);
}

static void test_hidden_item_flagged(void **state) {
  fixture *fx = *state;
  static const char *const codes[] = {"P1", "P2", NULL};
  category(fx, "drinks", codes);
  available(fx, "P1", false);
  available(fx, "P2", true);
  menu_compose_input in = input(fx);
  Menu__V1__GetStoreMenuResponse out = compose(fx, &in);
  assert_false(out.categories[0]->items[0]->is_hidden);
  assert_true(out.categories[0]->items[1]->is_hidden);
}

static void test_empty_categories_left_out_or_marked(void **state) {
  fixture *fx = *state;
  static const char *const a[] = {"P1", NULL}, *const b[] = {"P2", NULL};
  category(fx, "breakfast", a);
  category(fx, "empty-list", NULL);
  category(fx, "lunch", b);
  unavailable(fx, "P1", REASON(NO_RULE)); /* breakfast is over */
  available(fx, "P2", false);
  menu_compose_input in = input(fx);
  Menu__V1__GetStoreMenuResponse out = compose(fx, &in);
  assert_int_equal(out.n_categories, 1);
  assert_string_equal(out.categories[0]->id, "lunch");
  assert_false(out.categories[0]->is_empty);

  in.include_empty_categories = true;
  out = compose(fx, &in);
  assert_int_equal(out.n_categories, 3);
  assert_true(out.categories[0]->is_empty);
  assert_int_equal(out.categories[0]->n_items, 0);
  assert_true(out.categories[1]->is_empty);
  assert_false(out.categories[2]->is_empty);
  /* The page still spans all three categories whichever are shown. */
  assert_string_equal(out.page_info->start_cursor, "cursor-breakfast");
  assert_string_equal(out.page_info->end_cursor, "cursor-lunch");
}

/* ---- missing parts ------------------------------------------------------------------------ */

static void test_products_missing_keeps_categories_without_items(void **state) {
  fixture *fx = *state;
  static const char *const a[] = {"P1", NULL};
  category(fx, "burgers", a);
  category(fx, "drinks", NULL);
  menu_compose_input in = input(fx);
  in.availability = NULL;
  Google__Protobuf__Timestamp t = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  in.at_time = &t;
  Menu__V1__GetStoreMenuResponse out = compose(fx, &in);
  /* Every category is there (none is known to be empty), none has items. */
  assert_int_equal(out.n_categories, 2);
  assert_int_equal(out.categories[0]->n_items, 0);
  assert_false(out.categories[0]->is_empty);
  assert_int_equal(out.n_missing_parts, 1);
  assert_int_equal(out.missing_parts[0], MENU__V1__MENU_PART__MENU_PART_PRODUCTS);
  assert_null(out.at_time); /* no verdicts: no instant to report */
}

static void test_swaps_missing_keeps_items_without_swaps(void **state) {
  fixture *fx = *state;
  static const char *const a[] = {"P1", NULL};
  category(fx, "drinks", a);
  available(fx, "P1", false);
  available(fx, "P2", false);
  swap(fx, "P1", "P2");
  menu_compose_input in = input(fx);
  in.swaps_missing = true;
  Google__Protobuf__Timestamp t = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  t.seconds = 1700000000;
  in.at_time = &t;
  Menu__V1__GetStoreMenuResponse out = compose(fx, &in);
  assert_int_equal(out.categories[0]->n_items, 1);
  assert_null(out.categories[0]->items[0]->swap);
  assert_int_equal(out.n_missing_parts, 1);
  assert_int_equal(out.missing_parts[0], MENU__V1__MENU_PART__MENU_PART_GHOST_SWAPS);
  assert_non_null(out.at_time);
  assert_int_equal(out.at_time->seconds, 1700000000);
}

static void test_categories_missing_means_all_missing(void **state) {
  fixture *fx = *state;
  menu_compose_input in = {.categories = NULL};
  Menu__V1__GetStoreMenuResponse out = compose(fx, &in);
  assert_int_equal(out.n_categories, 0);
  assert_null(out.page_info);
  assert_int_equal(out.n_missing_parts, 3);
  assert_int_equal(out.missing_parts[0], MENU__V1__MENU_PART__MENU_PART_CATEGORIES);
  assert_int_equal(out.missing_parts[1], MENU__V1__MENU_PART__MENU_PART_PRODUCTS);
  assert_int_equal(out.missing_parts[2], MENU__V1__MENU_PART__MENU_PART_GHOST_SWAPS);
}

/* ---- paging at the budget ----------------------------------------------------------------- */

static void test_page_cut_at_budget_forward(void **state) {
  fixture *fx = *state;
  /* 12 categories of 200 codes: 2,400 codes, 10 fit the 2,000-code budget. */
  for (int i = 0; i < 12; i++) category_n(fx, arena_sprintf(&fx->a, "c%02d", i), 200);
  fx->page_info.has_next_page = false; /* dynamo-svc's page held the whole channel */
  fx->page_info.has_previous_page = false;
  menu_page_range r = menu_compose_page_range(&fx->cats, false, MENU_COMPOSE_CODES_BUDGET);
  assert_int_equal(r.from, 0);
  assert_int_equal(r.to, 10);
  assert_true(r.cut);
  menu_compose_input in = input(fx);
  in.include_empty_categories = true; /* nothing is available: keep them to count them */
  in.range = r;
  Menu__V1__GetStoreMenuResponse out = compose(fx, &in);
  assert_int_equal(out.n_categories, 10);
  /* Never silently truncated: the rest is one page away. */
  assert_true(out.page_info->has_next_page);
  assert_false(out.page_info->has_previous_page);
  assert_string_equal(out.page_info->end_cursor, "cursor-c09");
  assert_string_equal(out.page_info->start_cursor, "cursor-c00");
}

static void test_page_cut_at_budget_backward(void **state) {
  fixture *fx = *state;
  for (int i = 0; i < 12; i++) category_n(fx, arena_sprintf(&fx->a, "c%02d", i), 200);
  menu_page_range r = menu_compose_page_range(&fx->cats, true, MENU_COMPOSE_CODES_BUDGET);
  assert_int_equal(r.from, 2);
  assert_int_equal(r.to, 12);
  menu_compose_input in = input(fx);
  in.include_empty_categories = true;
  in.range = r;
  Menu__V1__GetStoreMenuResponse out = compose(fx, &in);
  assert_string_equal(out.categories[0]->id, "c02");
  assert_true(out.page_info->has_previous_page);
  assert_string_equal(out.page_info->start_cursor, "cursor-c02");
}

static void test_page_keeps_backend_paging_when_nothing_cut(void **state) {
  fixture *fx = *state;
  category_n(fx, "a", 3);
  category_n(fx, "b", 3);
  fx->page_info.has_next_page = true; /* more categories than dynamo-svc's page */
  menu_compose_input in = input(fx);
  assert_false(in.range.cut);
  in.include_empty_categories = true;
  Menu__V1__GetStoreMenuResponse out = compose(fx, &in);
  assert_true(out.page_info->has_next_page);
  assert_string_equal(out.page_info->end_cursor, "cursor-b");
}

static void test_page_holds_one_category_even_over_budget(void **state) {
  fixture *fx = *state;
  category_n(fx, "big", 300);
  category_n(fx, "next", 1);
  menu_page_range r = menu_compose_page_range(&fx->cats, false, 100);
  assert_int_equal(r.to, 1);
  assert_true(r.cut);
}

/* ---- which codes are asked -------------------------------------------------------------- */

static void test_category_codes_distinct_in_order(void **state) {
  fixture *fx = *state;
  static const char *const a[] = {"P3", "P1", NULL}, *const b[] = {"P1", "P2", "P3", NULL};
  category(fx, "a", a);
  category(fx, "b", b);
  menu_codes set;
  menu_compose_category_codes(&fx->a, &fx->cats, (menu_page_range){0, 2, false}, &set);
  assert_int_equal(set.n, 3);
  assert_string_equal(set.codes[0], "P3");
  assert_string_equal(set.codes[1], "P1");
  assert_string_equal(set.codes[2], "P2");
  assert_true(menu_codes_contains(&set, "P2"));
  assert_false(menu_codes_contains(&set, "P4"));
  /* Only the held range is asked about. */
  menu_compose_category_codes(&fx->a, &fx->cats, (menu_page_range){0, 1, true}, &set);
  assert_int_equal(set.n, 2);
  assert_false(menu_codes_contains(&set, "P2"));
}

static void test_swap_targets_not_asked_yet(void **state) {
  fixture *fx = *state;
  static const char *const a[] = {"P1", "P2", NULL};
  category(fx, "a", a);
  menu_codes asked;
  menu_compose_category_codes(&fx->a, &fx->cats, (menu_page_range){0, 1, false}, &asked);
  Menu__V1__BatchGetGhostSwapsResponse r = MENU__V1__BATCH_GET_GHOST_SWAPS_RESPONSE__INIT;
  swap(fx, "P1", "P2"); /* target already asked */
  swap(fx, "P2", "P7");
  swap(fx, "P3", "P7"); /* same new target twice */
  r.ghost_swaps = (Menu__V1__GhostSwap **)fx->swaps;
  r.n_ghost_swaps = fx->n_swaps;
  menu_codes targets;
  menu_compose_swap_targets(&fx->a, &r, &asked, &targets);
  assert_int_equal(targets.n, 1);
  assert_string_equal(targets.codes[0], "P7");
  assert_true(menu_codes_contains(&asked, "P7"));
  assert_int_equal(asked.n, 3);
  /* The same answer again (another chunk naming the same target) asks nothing new. */
  menu_compose_swap_targets(&fx->a, &r, &asked, &targets);
  assert_int_equal(targets.n, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_items_follow_category_order_and_skip_unavailable, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_unavailable_listed_with_reason_when_asked, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_swap_applied_only_when_target_available, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_hidden_item_flagged, setup, teardown),
      cmocka_unit_test_setup_teardown(test_empty_categories_left_out_or_marked, setup, teardown),
      cmocka_unit_test_setup_teardown(test_products_missing_keeps_categories_without_items, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_swaps_missing_keeps_items_without_swaps, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_categories_missing_means_all_missing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_page_cut_at_budget_forward, setup, teardown),
      cmocka_unit_test_setup_teardown(test_page_cut_at_budget_backward, setup, teardown),
      cmocka_unit_test_setup_teardown(test_page_keeps_backend_paging_when_nothing_cut, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_page_holds_one_category_even_over_budget, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_category_codes_distinct_in_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_swap_targets_not_asked_yet, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
