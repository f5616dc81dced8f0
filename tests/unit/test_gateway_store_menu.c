/* GetStoreMenu's pure parts: input validation (what a caller gets back for a bad store code or
 * channel), the failure policy of allow_partial, and the composition of backend answers into
 * the menu (order, missing parts, the ghost swaps of the page only). */
// LIBS: gateway
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/store_menu.h"

static Menu__V1__GetStoreMenuRequest request(const char *store, Menu__V1__Channel ch) {
  Menu__V1__GetStoreMenuRequest r = MENU__V1__GET_STORE_MENU_REQUEST__INIT;
  r.store_code = (char *)store;
  r.channel = ch;
  return r;
}

static void assert_invalid(const char *store, int channel, const char *field) {
  Menu__V1__GetStoreMenuRequest r = request(store, (Menu__V1__Channel)channel);
  menu_status s = store_menu_validate(&r);
  assert_int_equal(s.code, GRPC_STATUS_INVALID_ARGUMENT);
  /* The message starts with the field name so that a client can point at it. */
  assert_true(strncmp(s.message, field, strlen(field)) == 0);
}

static void test_validate_accepts_codes(void **state) {
  (void)state;
  const char *ok[] = {"S1",        "a",
                      "store-001", "R_12.b-c",
                      "0",         "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghij" /* 50 */};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    Menu__V1__GetStoreMenuRequest r = request(ok[i], MENU__V1__CHANNEL__CHANNEL_KIOSK);
    menu_status s = store_menu_validate(&r);
    assert_int_equal(s.code, GRPC_STATUS_OK);
  }
}

static void test_validate_rejects_store_code(void **state) {
  (void)state;
  assert_invalid("", MENU__V1__CHANNEL__CHANNEL_KIOSK, "store_code");
  assert_invalid("-S1", MENU__V1__CHANNEL__CHANNEL_KIOSK, "store_code");
  assert_invalid("_S1", MENU__V1__CHANNEL__CHANNEL_KIOSK, "store_code");
  assert_invalid("S 1", MENU__V1__CHANNEL__CHANNEL_KIOSK, "store_code");
  assert_invalid("S1/x", MENU__V1__CHANNEL__CHANNEL_KIOSK, "store_code");
  assert_invalid("Sé", MENU__V1__CHANNEL__CHANNEL_KIOSK, "store_code");
  assert_invalid("abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijX" /* 51 */,
                 MENU__V1__CHANNEL__CHANNEL_KIOSK, "store_code");
}

static void test_validate_rejects_channel(void **state) {
  (void)state;
  assert_invalid("S1", MENU__V1__CHANNEL__CHANNEL_UNSPECIFIED, "channel");
  assert_invalid("S1", 99, "channel");
  assert_invalid("S1", -1, "channel");
}

static void test_failure_policy(void **state) {
  (void)state;
  /* Default: any backend failure fails the menu. */
  assert_true(store_menu_failure_is_fatal(GRPC_STATUS_UNAVAILABLE, false));
  assert_true(store_menu_failure_is_fatal(GRPC_STATUS_DEADLINE_EXCEEDED, false));
  /* allow_partial: outages and slowness become missing parts ... */
  assert_false(store_menu_failure_is_fatal(GRPC_STATUS_UNAVAILABLE, true));
  assert_false(store_menu_failure_is_fatal(GRPC_STATUS_DEADLINE_EXCEEDED, true));
  assert_false(store_menu_failure_is_fatal(GRPC_STATUS_INTERNAL, true));
  assert_false(store_menu_failure_is_fatal(GRPC_STATUS_UNIMPLEMENTED, true));
  /* ... but the caller's own mistakes still fail it. */
  assert_true(store_menu_failure_is_fatal(GRPC_STATUS_INVALID_ARGUMENT, true));
  assert_true(store_menu_failure_is_fatal(GRPC_STATUS_NOT_FOUND, true));
}

/* ---- composition ------------------------------------------------------------------------- */

typedef struct {
  arena a;
  Menu__V1__ListCategoriesResponse cats;
  Menu__V1__ListProductAvailabilitiesResponse prods;
  Menu__V1__PageInfo page_info;
} fixture;

static void cats_fill(fixture *fx, int n) {
  menu__v1__list_categories_response__init(&fx->cats);
  fx->cats.n_edges = (size_t)n;
  fx->cats.edges = arena_alloc(&fx->a, (size_t)(n + 1) * sizeof *fx->cats.edges);
  for (int i = 0; i < n; i++) {
    Menu__V1__CategoryEdge *e = arena_alloc(&fx->a, sizeof *e);
    menu__v1__category_edge__init(e);
    e->node = arena_alloc(&fx->a, sizeof *e->node);
    menu__v1__category__init(e->node);
    e->node->id = arena_sprintf(&fx->a, "cat-%d", i);
    e->cursor = arena_sprintf(&fx->a, "c%d", i);
    fx->cats.edges[i] = e;
  }
}

static void prods_fill(fixture *fx, const char *const *codes) {
  menu__v1__list_product_availabilities_response__init(&fx->prods);
  menu__v1__page_info__init(&fx->page_info);
  fx->page_info.has_next_page = 1;
  fx->page_info.end_cursor = "end";
  fx->prods.page_info = &fx->page_info;
  size_t n = 0;
  while (codes[n]) n++;
  fx->prods.n_edges = n;
  fx->prods.edges = arena_alloc(&fx->a, (n + 1) * sizeof *fx->prods.edges);
  for (size_t i = 0; i < n; i++) {
    Menu__V1__ProductAvailabilityEdge *e = arena_alloc(&fx->a, sizeof *e);
    menu__v1__product_availability_edge__init(e);
    e->node = arena_alloc(&fx->a, sizeof *e->node);
    menu__v1__product_availability__init(e->node);
    e->node->product_code = (char *)codes[i];
    e->cursor = arena_sprintf(&fx->a, "p-%s", codes[i]);
    fx->prods.edges[i] = e;
  }
}

static Menu__V1__BatchGetGhostSwapsResponse *swaps_make(fixture *fx, const char *const *codes) {
  Menu__V1__BatchGetGhostSwapsResponse *r = arena_alloc(&fx->a, sizeof *r);
  menu__v1__batch_get_ghost_swaps_response__init(r);
  size_t n = 0;
  while (codes[n]) n++;
  r->n_ghost_swaps = n;
  r->ghost_swaps = arena_alloc(&fx->a, (n + 1) * sizeof *r->ghost_swaps);
  for (size_t i = 0; i < n; i++) {
    Menu__V1__GhostSwap *g = arena_alloc(&fx->a, sizeof *g);
    menu__v1__ghost_swap__init(g);
    g->product_code = (char *)codes[i];
    g->swap_product_code = arena_sprintf(&fx->a, "%s-swap", codes[i]);
    r->ghost_swaps[i] = g;
  }
  return r;
}

static int setup(void **state) {
  fixture *fx = test_calloc(1, sizeof *fx);
  arena_init(&fx->a);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture *fx = *state;
  arena_free(&fx->a);
  test_free(fx);
  return 0;
}

static Menu__V1__GetStoreMenuResponse compose(fixture *fx, const store_menu_parts *parts) {
  Menu__V1__GetStoreMenuResponse out = MENU__V1__GET_STORE_MENU_RESPONSE__INIT;
  store_menu_compose(&fx->a, parts, &out);
  return out;
}

static void test_compose_full_menu(void **state) {
  fixture *fx = *state;
  cats_fill(fx, 3);
  static const char *const codes[] = {"A1", "B2", "C3", "D4", NULL};
  prods_fill(fx, codes);
  /* The backend answers in its own order, with a swap for a product not on the page. */
  static const char *const swap_codes[] = {"D4", "ZZ", "B2", NULL};
  const Menu__V1__BatchGetGhostSwapsResponse *swaps[] = {swaps_make(fx, swap_codes)};
  store_menu_parts parts = {
      .categories = &fx->cats, .products = &fx->prods, .swaps = swaps, .n_swaps = 1};
  Menu__V1__GetStoreMenuResponse out = compose(fx, &parts);

  assert_int_equal(out.n_categories, 3);
  for (int i = 0; i < 3; i++) assert_ptr_equal(out.categories[i], fx->cats.edges[i]->node);
  assert_non_null(out.products);
  assert_int_equal(out.products->n_edges, 4);
  assert_string_equal(out.products->edges[2]->cursor, "p-C3");
  assert_ptr_equal(out.products->page_info, &fx->page_info);
  /* Page order, only products of the page. */
  assert_int_equal(out.n_ghost_swaps, 2);
  assert_string_equal(out.ghost_swaps[0]->product_code, "B2");
  assert_string_equal(out.ghost_swaps[1]->product_code, "D4");
  assert_int_equal(out.n_missing_parts, 0);

  /* The composed message encodes: every pointer is valid. */
  size_t n = protobuf_c_message_get_packed_size(&out.base);
  assert_true(n > 0);
  uint8_t *buf = arena_alloc(&fx->a, n);
  assert_int_equal(protobuf_c_message_pack(&out.base, buf), n);
}

static void test_compose_swaps_from_several_calls(void **state) {
  fixture *fx = *state;
  static const char *const codes[] = {"A1", "B2", "C3", NULL};
  prods_fill(fx, codes);
  static const char *const first[] = {"C3", NULL}, *const second[] = {"A1", NULL};
  const Menu__V1__BatchGetGhostSwapsResponse *swaps[] = {swaps_make(fx, first),
                                                         swaps_make(fx, second)};
  store_menu_parts parts = {
      .products = &fx->prods, .swaps = swaps, .n_swaps = 2, .categories = NULL};
  cats_fill(fx, 0);
  parts.categories = &fx->cats;
  Menu__V1__GetStoreMenuResponse out = compose(fx, &parts);
  assert_int_equal(out.n_categories, 0);
  assert_int_equal(out.n_ghost_swaps, 2);
  assert_string_equal(out.ghost_swaps[0]->product_code, "A1");
  assert_string_equal(out.ghost_swaps[1]->product_code, "C3");
  assert_int_equal(out.n_missing_parts, 0);
}

static void test_compose_categories_missing(void **state) {
  fixture *fx = *state;
  static const char *const codes[] = {"A1", NULL};
  prods_fill(fx, codes);
  static const char *const swap_codes[] = {"A1", NULL};
  const Menu__V1__BatchGetGhostSwapsResponse *swaps[] = {swaps_make(fx, swap_codes)};
  store_menu_parts parts = {.products = &fx->prods, .swaps = swaps, .n_swaps = 1};
  Menu__V1__GetStoreMenuResponse out = compose(fx, &parts);
  assert_int_equal(out.n_categories, 0);
  assert_int_equal(out.products->n_edges, 1);
  assert_int_equal(out.n_ghost_swaps, 1);
  assert_int_equal(out.n_missing_parts, 1);
  assert_int_equal(out.missing_parts[0], MENU__V1__MENU_PART__MENU_PART_CATEGORIES);
}

static void test_compose_products_missing_means_swaps_missing(void **state) {
  fixture *fx = *state;
  cats_fill(fx, 2);
  store_menu_parts parts = {.categories = &fx->cats};
  Menu__V1__GetStoreMenuResponse out = compose(fx, &parts);
  assert_int_equal(out.n_categories, 2);
  assert_null(out.products);
  assert_int_equal(out.n_ghost_swaps, 0);
  assert_int_equal(out.n_missing_parts, 2);
  assert_int_equal(out.missing_parts[0], MENU__V1__MENU_PART__MENU_PART_PRODUCTS);
  assert_int_equal(out.missing_parts[1], MENU__V1__MENU_PART__MENU_PART_GHOST_SWAPS);
}

static void test_compose_swaps_missing(void **state) {
  fixture *fx = *state;
  cats_fill(fx, 1);
  static const char *const codes[] = {"A1", NULL};
  prods_fill(fx, codes);
  store_menu_parts parts = {.categories = &fx->cats, .products = &fx->prods, .swaps_missing = true};
  Menu__V1__GetStoreMenuResponse out = compose(fx, &parts);
  assert_int_equal(out.products->n_edges, 1);
  assert_int_equal(out.n_ghost_swaps, 0);
  assert_int_equal(out.n_missing_parts, 1);
  assert_int_equal(out.missing_parts[0], MENU__V1__MENU_PART__MENU_PART_GHOST_SWAPS);
}

static void test_compose_empty_page_is_complete(void **state) {
  fixture *fx = *state;
  cats_fill(fx, 1);
  static const char *const none[] = {NULL};
  prods_fill(fx, none);
  /* No product codes, so no swaps call was made: nothing is missing. */
  store_menu_parts parts = {.categories = &fx->cats, .products = &fx->prods};
  Menu__V1__GetStoreMenuResponse out = compose(fx, &parts);
  assert_non_null(out.products);
  assert_int_equal(out.products->n_edges, 0);
  assert_true(out.products->page_info->has_next_page);
  assert_int_equal(out.n_missing_parts, 0);
  assert_null(out.missing_parts);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_validate_accepts_codes),
      cmocka_unit_test(test_validate_rejects_store_code),
      cmocka_unit_test(test_validate_rejects_channel),
      cmocka_unit_test(test_failure_policy),
      cmocka_unit_test_setup_teardown(test_compose_full_menu, setup, teardown),
      cmocka_unit_test_setup_teardown(test_compose_swaps_from_several_calls, setup, teardown),
      cmocka_unit_test_setup_teardown(test_compose_categories_missing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_compose_products_missing_means_swaps_missing, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_compose_swaps_missing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_compose_empty_page_is_complete, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
