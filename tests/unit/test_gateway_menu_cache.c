/* The gateway's cache and etag: what is served and what is not (revisions, validity window,
 * confirmation age, unsettled catalog), LRU order and the byte budget with its metrics, and
 * an etag that moves with each of its inputs and nothing else. */
// LIBS: gateway
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/arena.h"
#include "common/metrics.h"
#include "gateway/menu_cache.h"
#include "gateway/menu_etag.h"

/* A view in which the channel is at revisions (7, 9), confirmed 100 ms ago, at instant 5000. */
static menu_cache_view view_now(void) {
  menu_cache_view v = {0};
  v.revs.catalog_known = v.revs.availability_known = true;
  v.revs.catalog = 7;
  v.revs.availability = 9;
  v.revs.confirmed_ms = 10000;
  v.now_ms = 10100;
  v.now_real_ms = 1700000000000;
  v.at_ms = 5000;
  v.staleness_ms = 1000;
  return v;
}

static menu_cache_meta meta_both(void) {
  return (menu_cache_meta){.has_catalog = true,
                           .catalog = 7,
                           .has_availability = true,
                           .availability = 9,
                           .from_ms = 4000,
                           .until_ms = 6000,
                           .created_ms = 10050};
}

static void fresh_needs_same_revisions(void **state) {
  menu_cache_view v = view_now();
  menu_cache_meta m = meta_both();
  assert_true(menu_cache_entry_fresh(&m, &v));
  v.revs.catalog = 8;
  assert_false(menu_cache_entry_fresh(&m, &v));
  v = view_now();
  v.revs.availability = 10;
  assert_false(menu_cache_entry_fresh(&m, &v));
  v = view_now();
  v.revs.availability_known = false;
  assert_false(menu_cache_entry_fresh(&m, &v));
  /* A catalog-only part does not care about the rules' revision. */
  m.has_availability = false;
  assert_true(menu_cache_entry_fresh(&m, &v));
}

static void fresh_needs_instant_in_window(void **state) {
  menu_cache_view v = view_now();
  menu_cache_meta m = meta_both();
  v.at_ms = 3999;
  assert_false(menu_cache_entry_fresh(&m, &v));
  v.at_ms = 4000;
  assert_true(menu_cache_entry_fresh(&m, &v));
  v.at_ms = 5999;
  assert_true(menu_cache_entry_fresh(&m, &v));
  v.at_ms = 6000; /* the rule boundary itself: the old answer no longer holds */
  assert_false(menu_cache_entry_fresh(&m, &v));
  m.until_ms = 0; /* no boundary ahead */
  v.at_ms = 1000000;
  assert_true(menu_cache_entry_fresh(&m, &v));
}

static void fresh_needs_recent_confirmation(void **state) {
  menu_cache_view v = view_now();
  menu_cache_meta m = meta_both();
  v.now_ms = v.revs.confirmed_ms + 999;
  assert_true(menu_cache_entry_fresh(&m, &v));
  v.now_ms = v.revs.confirmed_ms + 1000;
  assert_false(menu_cache_entry_fresh(&m, &v));
  v = view_now();
  v.revs.confirmed_ms = 0;
  assert_false(menu_cache_entry_fresh(&m, &v));
}

static void unsettled_catalog_limits_entry_age(void **state) {
  menu_cache_view v = view_now();
  menu_cache_meta m = meta_both();
  v.revs.unsettled_until_ms = v.now_real_ms + 5000;
  m.created_ms = v.now_ms - 999;
  assert_true(menu_cache_entry_fresh(&m, &v));
  m.created_ms = v.now_ms - 1000;
  assert_false(menu_cache_entry_fresh(&m, &v));
  /* Settled again: the age does not matter. */
  v.revs.unsettled_until_ms = v.now_real_ms - 1;
  assert_true(menu_cache_entry_fresh(&m, &v));
}

/* The value of one series (a line starting with `series`), -1 when absent. */
static double metric(metrics_registry *r, const char *series) {
  char *text = metrics_render(r);
  double v = -1;
  for (const char *line = text; line && *line;
       line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
    if (strncmp(line, series, strlen(series)) == 0) v = strtod(line + strlen(series), NULL);
  free(text);
  return v;
}

static void put_get_replace(void **state) {
  metrics_registry *reg = metrics_registry_create();
  menu_cache *c = menu_cache_create(1 << 20, 1000, reg);
  arena a;
  arena_init(&a);
  menu_cache_view v = view_now();
  menu_cache_meta m = meta_both(), got;
  const unsigned char *val;
  size_t n;
  assert_false(menu_cache_get(c, MENU_CACHE_MENU, "k", 1, &v, &a, &val, &n, &got));
  menu_cache_put(c, MENU_CACHE_MENU, "k", 1, &m, "hello", 5);
  assert_true(menu_cache_get(c, MENU_CACHE_MENU, "k", 1, &v, &a, &val, &n, &got));
  assert_int_equal(n, 5);
  assert_memory_equal(val, "hello", 5);
  assert_int_equal(got.availability, 9);
  /* Same key in another part is another entry. */
  assert_false(menu_cache_get(c, MENU_CACHE_SWAPS, "k", 1, &v, &a, &val, &n, &got));
  menu_cache_put(c, MENU_CACHE_MENU, "k", 1, &m, "bye", 3);
  assert_int_equal(menu_cache_entries(c), 1);
  assert_true(menu_cache_get(c, MENU_CACHE_MENU, "k", 1, &v, &a, &val, &n, &got));
  assert_memory_equal(val, "bye", 3);
  assert_true(metric(reg, "menu_cache_hits_total{part=\"menu\"} ") == 2);
  assert_true(metric(reg, "menu_cache_misses_total{part=\"menu\"} ") == 1);
  assert_true(metric(reg, "menu_cache_misses_total{part=\"swaps\"} ") == 1);
  assert_true(metric(reg, "menu_cache_entries ") == 1);
  /* A revision that moved on drops the entry for good. */
  v.revs.catalog = 8;
  assert_false(menu_cache_get(c, MENU_CACHE_MENU, "k", 1, &v, &a, &val, &n, &got));
  assert_int_equal(menu_cache_entries(c), 0);
  assert_int_equal(menu_cache_bytes(c), 0);
  arena_free(&a);
  menu_cache_destroy(c);
  metrics_registry_destroy(reg);
}

static void budget_evicts_least_recently_used(void **state) {
  metrics_registry *reg = metrics_registry_create();
  char value[1000] = {0};
  /* Room for about three entries of 1,000 bytes. */
  menu_cache *c = menu_cache_create(3500, 1000, reg);
  arena a;
  arena_init(&a);
  menu_cache_view v = view_now();
  menu_cache_meta m = meta_both(), got;
  const unsigned char *val;
  size_t n;
  menu_cache_put(c, MENU_CACHE_AVAILABILITY, "a", 1, &m, value, sizeof value);
  menu_cache_put(c, MENU_CACHE_AVAILABILITY, "b", 1, &m, value, sizeof value);
  menu_cache_put(c, MENU_CACHE_AVAILABILITY, "c", 1, &m, value, sizeof value);
  assert_int_equal(menu_cache_entries(c), 3);
  /* "a" used: "b" is now the least recently used and goes first. */
  assert_true(menu_cache_get(c, MENU_CACHE_AVAILABILITY, "a", 1, &v, &a, &val, &n, &got));
  menu_cache_put(c, MENU_CACHE_AVAILABILITY, "d", 1, &m, value, sizeof value);
  assert_int_equal(menu_cache_entries(c), 3);
  assert_true(menu_cache_bytes(c) <= 3500);
  assert_false(menu_cache_get(c, MENU_CACHE_AVAILABILITY, "b", 1, &v, &a, &val, &n, &got));
  assert_true(menu_cache_get(c, MENU_CACHE_AVAILABILITY, "a", 1, &v, &a, &val, &n, &got));
  assert_true(menu_cache_get(c, MENU_CACHE_AVAILABILITY, "d", 1, &v, &a, &val, &n, &got));
  assert_true(metric(reg, "menu_cache_evictions_total{part=\"availability\"} ") == 1);
  /* Larger than the whole budget: not stored, nothing evicted for it. */
  char big[4000] = {0};
  menu_cache_put(c, MENU_CACHE_MENU, "big", 3, &m, big, sizeof big);
  assert_int_equal(menu_cache_entries(c), 3);
  arena_free(&a);
  menu_cache_destroy(c);
  metrics_registry_destroy(reg);
}

static void etag_moves_with_each_input(void **state) {
  arena a;
  arena_init(&a);
  Menu__V1__GetStoreMenuRequest req = MENU__V1__GET_STORE_MENU_REQUEST__INIT;
  req.store_code = "R001";
  req.channel = MENU__V1__CHANNEL__CHANNEL_KIOSK;
  menu_etag_input in = {0};
  in.shape = menu_etag_shape(&a, &req, &in.shape_len);
  in.catalog = 3;
  in.availability = 4;
  in.valid_until_ms = 1700000000000;
  char base[MENU_ETAG_LEN + 1], again[MENU_ETAG_LEN + 1], other[MENU_ETAG_LEN + 1];
  menu_etag_make(&in, base);
  assert_int_equal(strlen(base), MENU_ETAG_LEN);
  assert_int_equal(strspn(base, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                   MENU_ETAG_LEN);
  menu_etag_make(&in, again);
  assert_string_equal(base, again);
  menu_etag_input x = in;
  x.catalog = 5;
  menu_etag_make(&x, other);
  assert_string_not_equal(base, other);
  x = in;
  x.availability = 5;
  menu_etag_make(&x, other);
  assert_string_not_equal(base, other);
  x = in;
  x.valid_until_ms += 1000;
  menu_etag_make(&x, other);
  assert_string_not_equal(base, other);
  /* The request's shape: another store, channel, page or flag is another etag. */
  Menu__V1__GetStoreMenuRequest r2 = req;
  r2.store_code = "R002";
  x = in;
  x.shape = menu_etag_shape(&a, &r2, &x.shape_len);
  menu_etag_make(&x, other);
  assert_string_not_equal(base, other);
  r2 = req;
  r2.include_unavailable = true;
  x.shape = menu_etag_shape(&a, &r2, &x.shape_len);
  menu_etag_make(&x, other);
  assert_string_not_equal(base, other);
  Menu__V1__PageRequest pg = MENU__V1__PAGE_REQUEST__INIT;
  pg.first = 20;
  r2 = req;
  r2.page = &pg;
  x.shape = menu_etag_shape(&a, &r2, &x.shape_len);
  menu_etag_make(&x, other);
  assert_string_not_equal(base, other);
  /* The instant itself is not part of it: the same menu at two instants is one etag. */
  Google__Protobuf__Timestamp t = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  t.seconds = 1;
  r2 = req;
  r2.at_time = &t;
  x.shape = menu_etag_shape(&a, &r2, &x.shape_len);
  menu_etag_make(&x, other);
  assert_string_equal(base, other);
  arena_free(&a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(fresh_needs_same_revisions),
      cmocka_unit_test(fresh_needs_instant_in_window),
      cmocka_unit_test(fresh_needs_recent_confirmation),
      cmocka_unit_test(unsettled_catalog_limits_entry_age),
      cmocka_unit_test(put_get_replace),
      cmocka_unit_test(budget_evicts_least_recently_used),
      cmocka_unit_test(etag_moves_with_each_input),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
