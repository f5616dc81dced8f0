/* The load generator's bookkeeping and request mixes: nearest-rank percentiles per status,
 * every call counted once under its code, bodies that vary and decode as the method's request,
 * and list calls that continue a list from the cursor an answer returned. */
// LIBS: loadgen
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "menu/v1/ghost_swap.pb-c.h"
#include "menu/v1/product_availability.pb-c.h"
#include "menu/v1/menu.pb-c.h"
#include "menu/v1/reference_data.pb-c.h"
#include "tools/loadgen/delivery.h"
#include "tools/loadgen/mix.h"
#include "tools/loadgen/stats.h"
#include "tools/loadgen/watch.h"

static double field(json_t *o, const char *path1, const char *path2) {
  json_t *v = json_object_get(o, path1);
  if (path2) v = json_object_get(v, path2);
  assert_non_null(v);
  return json_number_value(v);
}

static void test_percentiles_nearest_rank(void **state) {
  lg_stats *s = lg_stats_create(2000);
  /* 1..1000 us OK, in reverse order: the summary must not depend on arrival order */
  for (int i = 1000; i >= 1; i--) lg_stats_add(s, 0, (int64_t)i * 1000);
  json_t *j = lg_stats_to_json(s, 2.0);
  assert_int_equal((int)field(j, "calls", NULL), 1000);
  assert_int_equal((int)field(j, "errors", NULL), 0);
  assert_true(field(j, "latency_us", "p50") == 500.0);
  assert_true(field(j, "latency_us", "p90") == 900.0);
  assert_true(field(j, "latency_us", "p99") == 990.0);
  assert_true(field(j, "latency_us", "p999") == 999.0);
  assert_true(field(j, "latency_us", "max") == 1000.0);
  assert_true(field(j, "latency_us", "mean") == 500.5);
  assert_true(field(j, "throughput_rps", NULL) == 500.0);
  json_decref(j);
  lg_stats_destroy(s);
}

static void test_errors_counted_apart(void **state) {
  lg_stats *s = lg_stats_create(10);
  lg_stats_add(s, 0, 2000000);                   /* OK, 2 ms */
  lg_stats_add(s, 8, 100000);                    /* RESOURCE_EXHAUSTED, 0.1 ms */
  lg_stats_add(s, 8, 300000);                    /* RESOURCE_EXHAUSTED, 0.3 ms */
  lg_stats_add(s, LG_CODE_BAD_RESPONSE, 500000); /* OK without a message */
  json_t *j = lg_stats_to_json(s, 1.0);
  assert_int_equal((int)field(j, "calls", NULL), 4);
  assert_int_equal((int)field(j, "ok", NULL), 1);
  assert_int_equal((int)field(j, "errors", NULL), 3);
  assert_int_equal((int)field(j, "codes", "RESOURCE_EXHAUSTED"), 2);
  assert_int_equal((int)field(j, "codes", "OK_WITHOUT_MESSAGE"), 1);
  /* the fast errors do not make the OK calls look fast */
  assert_true(field(j, "ok_latency_us", "p50") == 2000.0);
  json_t *re = json_object_get(json_object_get(j, "error_latency_us"), "RESOURCE_EXHAUSTED");
  assert_true(json_number_value(json_object_get(re, "max")) == 300.0);
  json_decref(j);
  lg_stats_destroy(s);
}

static void test_samples_past_capacity_still_counted(void **state) {
  lg_stats *s = lg_stats_create(3);
  for (int i = 0; i < 5; i++) lg_stats_add(s, 14, 1000);
  assert_int_equal(lg_stats_calls(s), 5);
  assert_int_equal(lg_stats_count(s, 14), 5);
  json_t *j = lg_stats_to_json(s, 1.0);
  assert_int_equal((int)field(j, "samples_dropped", NULL), 2);
  assert_int_equal((int)field(j, "codes", "UNAVAILABLE"), 5);
  json_decref(j);
  lg_stats_destroy(s);
}

static lg_mix_config mix_config(lg_method m) {
  lg_mix_config c = {.method = m,
                     .stores = 2000,
                     .store_prefix = "S",
                     .store_digits = 5,
                     .products = 5000,
                     .product_base = 1000,
                     .page_size = 16,
                     .follow = 1.0,
                     .swap_codes = 20,
                     .seed = 7};
  return c;
}

static void test_bodies_vary_and_decode(void **state) {
  lg_method m;
  assert_true(lg_method_parse("batch-ghost-swaps", &m));
  assert_false(lg_method_parse("no-such-method", &m));
  lg_mix_config c = mix_config(m);
  lg_mix *mix = lg_mix_create(&c);
  assert_string_equal(lg_mix_path(mix), "/menu.v1.GhostSwapService/BatchGetGhostSwaps");
  char first[16] = "";
  int differ = 0;
  for (int i = 0; i < 20; i++) {
    lg_req_key key;
    grpc_slice b = lg_mix_next(mix, &key);
    Menu__V1__BatchGetGhostSwapsRequest *r = menu__v1__batch_get_ghost_swaps_request__unpack(
        NULL, GRPC_SLICE_LENGTH(b), GRPC_SLICE_START_PTR(b));
    assert_non_null(r);
    assert_int_equal(r->n_product_codes, 20);
    assert_true(r->channel >= 1 && r->channel <= 5);
    int n = 0;
    assert_int_equal(sscanf(r->product_codes[0], "P%d", &n), 1);
    assert_true(n >= 1000 && n < 6000);
    if (i == 0) snprintf(first, sizeof first, "%s", r->product_codes[0]);
    if (strcmp(first, r->product_codes[0]) != 0) differ++;
    menu__v1__batch_get_ghost_swaps_request__free_unpacked(r, NULL);
    grpc_slice_unref(b);
  }
  assert_true(differ > 10);
  lg_mix_destroy(mix);
}

/* A fake sql-svc ListRestaurants: on channel 1, S00002, S00005 and S00009 (and a demo store R001
 * and S99999, which are not the mix's), two to a page; no store on any other channel. */
static int fake_list_restaurants(void *ctx, const char *path, grpc_slice body, grpc_slice *resp) {
  int *calls = ctx;
  (*calls)++;
  assert_string_equal(path, "/menu.v1.ReferenceDataService/ListRestaurants");
  Menu__V1__ListRestaurantsRequest *r = menu__v1__list_restaurants_request__unpack(
      NULL, GRPC_SLICE_LENGTH(body), GRPC_SLICE_START_PTR(body));
  assert_non_null(r);
  static const char *codes[] = {"R001", "S00002", "S00005", "S99999", "S00009"};
  int from = r->page && r->page->after[0] ? atoi(r->page->after) : 0;
  int n = r->channel == 1 ? 5 : 0;
  Menu__V1__Restaurant nodes[2];
  Menu__V1__RestaurantEdge edges[2], *ep[2];
  Menu__V1__ListRestaurantsResponse out = MENU__V1__LIST_RESTAURANTS_RESPONSE__INIT;
  Menu__V1__PageInfo pi = MENU__V1__PAGE_INFO__INIT;
  char next[16];
  for (int i = from; i < n && i < from + 2; i++) {
    menu__v1__restaurant__init(&nodes[i - from]);
    nodes[i - from].restaurant_code = (char *)codes[i];
    menu__v1__restaurant_edge__init(&edges[i - from]);
    edges[i - from].node = &nodes[i - from];
    ep[i - from] = &edges[i - from];
    out.n_edges++;
  }
  out.edges = ep;
  snprintf(next, sizeof next, "%d", from + 2);
  pi.has_next_page = from + 2 < n;
  pi.end_cursor = next;
  out.page_info = &pi;
  menu__v1__list_restaurants_request__free_unpacked(r, NULL);
  *resp = grpc_slice_malloc(menu__v1__list_restaurants_response__get_packed_size(&out));
  menu__v1__list_restaurants_response__pack(&out, GRPC_SLICE_START_PTR(*resp));
  return 0;
}

/* With the stores known, store-menu names only stores that sell on the channel, by popularity
 * among them; a channel with none of them is a failed discovery. */
static void test_store_menu_names_only_stores_on_the_channel(void **state) {
  lg_mix_config c = mix_config(LG_M_STORE_MENU);
  c.stores = 10;
  c.channel = 1;
  c.zipf = 1.1;
  lg_mix *mix = lg_mix_create(&c);
  int calls = 0;
  assert_int_equal(lg_mix_discover_stores(mix, fake_list_restaurants, &calls), 3);
  assert_int_equal(calls, 3); /* followed the cursor over three pages */
  int seen[10] = {0};
  for (int i = 0; i < 300; i++) {
    lg_req_key key;
    grpc_slice b = lg_mix_next(mix, &key);
    Menu__V1__GetStoreMenuRequest *r = menu__v1__get_store_menu_request__unpack(
        NULL, GRPC_SLICE_LENGTH(b), GRPC_SLICE_START_PTR(b));
    assert_non_null(r);
    int n = 0;
    assert_int_equal(sscanf(r->store_code, "S%d", &n), 1);
    assert_true(n == 2 || n == 5 || n == 9);
    assert_int_equal(key.store_index, n - 1);
    seen[n]++;
    menu__v1__get_store_menu_request__free_unpacked(r, NULL);
    grpc_slice_unref(b);
  }
  assert_true(seen[2] > seen[5] && seen[5] > seen[9] && seen[9] > 0); /* Zipf over the three */
  lg_mix_destroy(mix);

  c.channel = 2;
  mix = lg_mix_create(&c);
  assert_int_equal(lg_mix_discover_stores(mix, fake_list_restaurants, &calls), 0);
  lg_mix_destroy(mix);
}

/* An answer with a next page: the next request asks for that page of the same list. */
static void test_list_follows_the_returned_cursor(void **state) {
  lg_mix_config c = mix_config(LG_M_LIST_AVAILABILITIES);
  lg_mix *mix = lg_mix_create(&c);
  lg_req_key key;
  grpc_slice b = lg_mix_next(mix, &key);
  Menu__V1__ListProductAvailabilitiesRequest *r =
      menu__v1__list_product_availabilities_request__unpack(NULL, GRPC_SLICE_LENGTH(b),
                                                            GRPC_SLICE_START_PTR(b));
  assert_non_null(r);
  assert_string_equal(r->page->after, ""); /* nothing to follow yet: a first page */
  assert_int_equal(r->page->first, 16);
  assert_string_equal(r->store_code, key.store);
  assert_int_equal(strlen(key.store), 6); /* S00042 */
  menu__v1__list_product_availabilities_request__free_unpacked(r, NULL);
  grpc_slice_unref(b);

  Menu__V1__PageInfo pi = MENU__V1__PAGE_INFO__INIT;
  pi.has_next_page = 1;
  pi.end_cursor = "cursor-from-the-server";
  Menu__V1__ListProductAvailabilitiesResponse resp =
      MENU__V1__LIST_PRODUCT_AVAILABILITIES_RESPONSE__INIT;
  resp.page_info = &pi;
  uint8_t buf[256];
  size_t n = menu__v1__list_product_availabilities_response__pack(&resp, buf);
  assert_true(lg_mix_wants_response(mix));
  assert_true(lg_mix_on_response(mix, &key, buf, n));
  assert_false(lg_mix_on_response(mix, &key, (const uint8_t *)"\xff\xff\xff", 3));

  lg_req_key key2;
  b = lg_mix_next(mix, &key2);
  r = menu__v1__list_product_availabilities_request__unpack(NULL, GRPC_SLICE_LENGTH(b),
                                                            GRPC_SLICE_START_PTR(b));
  assert_string_equal(r->page->after, "cursor-from-the-server");
  assert_string_equal(r->store_code, key.store);
  assert_int_equal(r->channel, key.channel);
  menu__v1__list_product_availabilities_request__free_unpacked(r, NULL);
  grpc_slice_unref(b);
  json_t *j = lg_mix_to_json(mix);
  assert_int_equal((int)field(j, "followed_pages", NULL), 1);
  assert_int_equal((int)field(j, "first_pages", NULL), 1);
  json_decref(j);
  lg_mix_destroy(mix);
}

/* Three writes one second apart (acknowledged 20 ms after they were sent); watcher A gets each
 * write's new etag 100, 300 and 900 ms after its ack, B only the first (and a stray second change
 * in the same window, which must not count twice), C connected after the first write, D never. */
static void test_delivery_latency_and_misses(void **state) {
  const int64_t s = 1000000;
  lg_write writes[] = {
      {10 * s, 10 * s + 20000}, {11 * s, 11 * s + 20000}, {12 * s, 12 * s + 20000}};
  int64_t a[] = {10 * s + 120000, 11 * s + 320000, 12 * s + 920000};
  int64_t b[] = {10 * s + 520000, 10 * s + 600000};
  int64_t c[] = {11 * s + 15000}; /* before the ack reached the writer: latency 0 */
  lg_watcher_log logs[] = {{5 * s, a, 3}, {5 * s, b, 2}, {10 * s + 500000, c, 1}, {0, NULL, 0}};
  lg_stats *st = lg_stats_create(100);
  lg_delivery_counts dc;
  lg_delivery_compute(writes, 3, logs, 4, 20 * s, st, &dc);
  /* A: 3 writes, B: 3, C: writes 2 and 3, D: none */
  assert_int_equal((int)dc.expected, 8);
  assert_int_equal((int)dc.delivered, 5);
  assert_int_equal((int)dc.missed, 3);
  assert_int_equal((int)dc.before_ack, 1);
  json_t *j = lg_stats_to_json(st, 1.0);
  /* samples 0, 100, 300, 500, 900 ms */
  assert_true(field(j, "latency_us", "p50") == 300000.0);
  assert_true(field(j, "latency_us", "p99") == 900000.0);
  assert_true(field(j, "latency_us", "max") == 900000.0);
  json_decref(j);
  lg_stats_destroy(st);
}

/* No writes (the owners never answered): nothing expected, nothing delivered. */
static void test_delivery_without_writes(void **state) {
  int64_t a[] = {7};
  lg_watcher_log logs[] = {{1, a, 1}};
  lg_stats *st = lg_stats_create(10);
  lg_delivery_counts dc;
  lg_delivery_compute(NULL, 0, logs, 1, 100, st, &dc);
  assert_int_equal((int)(dc.expected + dc.delivered + dc.missed), 0);
  assert_int_equal((int)lg_stats_calls(st), 0);
  lg_stats_destroy(st);
}

/* The etag is read from the wire of a real GetStoreMenuResponse, past the categories. */
static void test_watch_etag_from_wire(void **state) {
  Menu__V1__MenuCategory cat = MENU__V1__MENU_CATEGORY__INIT;
  cat.id = "c1";
  cat.name = "Drinks";
  Menu__V1__MenuCategory *cats[] = {&cat};
  Menu__V1__GetStoreMenuResponse r = MENU__V1__GET_STORE_MENU_RESPONSE__INIT;
  r.n_categories = 1;
  r.categories = cats;
  r.etag = "W/\"abc123\"";
  r.not_modified = 1;
  uint8_t buf[256];
  size_t n = menu__v1__get_store_menu_response__pack(&r, buf);
  const uint8_t *e;
  size_t elen;
  assert_true(lg_watch_etag(buf, n, &e, &elen));
  assert_int_equal((int)elen, (int)strlen(r.etag));
  assert_memory_equal(e, r.etag, elen);
  /* truncated: not well-formed */
  assert_false(lg_watch_etag(buf, n - 1, &e, &elen));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_percentiles_nearest_rank),
      cmocka_unit_test(test_errors_counted_apart),
      cmocka_unit_test(test_samples_past_capacity_still_counted),
      cmocka_unit_test(test_bodies_vary_and_decode),
      cmocka_unit_test(test_store_menu_names_only_stores_on_the_channel),
      cmocka_unit_test(test_list_follows_the_returned_cursor),
      cmocka_unit_test(test_delivery_latency_and_misses),
      cmocka_unit_test(test_delivery_without_writes),
      cmocka_unit_test(test_watch_etag_from_wire),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
