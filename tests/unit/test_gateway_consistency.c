/* The consistency report (gateway/consistency_report.c) and the command's pure parts
 * (gateway/consistency_command.c): which references dangle when sql-svc's catalogue lacks
 * their code, in what order they are reported, what is counted as scanned, how a channel
 * name is read from the command line and what the command prints. */
// LIBS: gateway
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/consistency_command.h"
#include "gateway/consistency_report.h"

#define KIND(x) MENU__V1__REFERENCE_KIND__REFERENCE_KIND_##x

static Menu__V1__Category category(char *id, char **codes, size_t n) {
  Menu__V1__Category c = MENU__V1__CATEGORY__INIT;
  c.id = id;
  c.product_codes = codes;
  c.n_product_codes = n;
  return c;
}

static Menu__V1__ProductCollection collection(char *id, char **codes, size_t n) {
  Menu__V1__ProductCollection c = MENU__V1__PRODUCT_COLLECTION__INIT;
  c.id = id;
  c.product_codes = codes;
  c.n_product_codes = n;
  return c;
}

static Menu__V1__GhostSwap swap(char *from, char *to) {
  Menu__V1__GhostSwap g = MENU__V1__GHOST_SWAP__INIT;
  g.product_code = from;
  g.swap_product_code = to;
  return g;
}

static void assert_ref(const Menu__V1__DanglingReference *d, Menu__V1__ReferenceKind kind,
                       const char *entity, const char *code) {
  assert_int_equal(d->kind, kind);
  assert_string_equal(d->entity_id, entity);
  assert_string_equal(d->product_code, code);
}

/* A category, a collection and two swaps each naming one unknown code: exactly those four are
 * reported, by kind, and a swap with an unknown target is reported as a target. */
static void test_unknown_codes_reported_by_kind(void **state) {
  (void)state;
  arena a;
  arena_init(&a);
  consistency_report r;
  consistency_report_init(&r, &a);
  char *burgers_codes[] = {"P1", "X9", "P2"};
  char *combo_codes[] = {"P3", "X8"};
  Menu__V1__Category c = category("burgers", burgers_codes, 3);
  Menu__V1__ProductCollection pc = collection("combo", combo_codes, 2);
  Menu__V1__GhostSwap s1 = swap("P1", "X7");
  Menu__V1__GhostSwap s2 = swap("X6", "P2");
  Menu__V1__GhostSwap s3 = swap("P2", "P3");
  consistency_report_add_swap(&r, &s1); /* added before the others: the report sorts */
  consistency_report_add_category(&r, &c);
  consistency_report_add_collection(&r, &pc);
  consistency_report_add_swap(&r, &s2);
  consistency_report_add_swap(&r, &s3);
  const char *known[] = {"P3", "P1", "P2", "P4"}; /* not in order: the report sorts */
  for (size_t i = 0; i < 4; i++) consistency_report_add_product(&r, known[i]);
  Menu__V1__CheckMenuConsistencyResponse out = MENU__V1__CHECK_MENU_CONSISTENCY_RESPONSE__INIT;
  consistency_report_build(&r, &out);
  assert_int_equal(out.n_dangling_references, 4);
  assert_ref(out.dangling_references[0], KIND(CATEGORY), "burgers", "X9");
  assert_ref(out.dangling_references[1], KIND(PRODUCT_COLLECTION), "combo", "X8");
  assert_ref(out.dangling_references[2], KIND(GHOST_SWAP), "X6", "X6");
  assert_ref(out.dangling_references[3], KIND(GHOST_SWAP_TARGET), "P1", "X7");
  assert_int_equal(out.categories_scanned, 1);
  assert_int_equal(out.product_collections_scanned, 1);
  assert_int_equal(out.ghost_swaps_scanned, 3);
  /* P1 P2 P3 X6 X7 X8 X9 */
  assert_int_equal(out.product_codes_referenced, 7);
  assert_int_equal(out.products_scanned, 4);
  arena_free(&a);
}

/* Every code known: nothing reported, everything counted. */
static void test_consistent_channel_reports_nothing(void **state) {
  (void)state;
  arena a;
  arena_init(&a);
  consistency_report r;
  consistency_report_init(&r, &a);
  char *codes[] = {"P1", "P2"};
  Menu__V1__Category c1 = category("a", codes, 2), c2 = category("b", codes, 1);
  consistency_report_add_category(&r, &c1);
  consistency_report_add_category(&r, &c2);
  consistency_report_add_product(&r, "P2");
  consistency_report_add_product(&r, "P1");
  Menu__V1__CheckMenuConsistencyResponse out = MENU__V1__CHECK_MENU_CONSISTENCY_RESPONSE__INIT;
  consistency_report_build(&r, &out);
  assert_int_equal(out.n_dangling_references, 0);
  assert_int_equal(out.categories_scanned, 2);
  assert_int_equal(out.product_codes_referenced, 2);
  arena_free(&a);
}

/* An empty catalogue: every reference dangles, each once per entity that holds it, ordered by
 * entity and code; the strings are copies (the pages they came from may be gone). */
static void test_empty_catalogue_every_reference_dangles(void **state) {
  (void)state;
  arena a;
  arena_init(&a);
  consistency_report r;
  consistency_report_init(&r, &a);
  char id_b[] = "b", id_a[] = "a", code_z[] = "Z", code_y[] = "Y";
  char *codes_b[] = {code_z, code_y};
  char *codes_a[] = {code_z};
  Menu__V1__Category cb = category(id_b, codes_b, 2), ca = category(id_a, codes_a, 1);
  consistency_report_add_category(&r, &cb);
  consistency_report_add_category(&r, &ca);
  memset(id_b, '#', 1); /* the page is reused: the report must not notice */
  memset(code_z, '#', 1);
  Menu__V1__CheckMenuConsistencyResponse out = MENU__V1__CHECK_MENU_CONSISTENCY_RESPONSE__INIT;
  consistency_report_build(&r, &out);
  assert_int_equal(out.n_dangling_references, 3);
  assert_ref(out.dangling_references[0], KIND(CATEGORY), "a", "Z");
  assert_ref(out.dangling_references[1], KIND(CATEGORY), "b", "Y");
  assert_ref(out.dangling_references[2], KIND(CATEGORY), "b", "Z");
  assert_int_equal(out.product_codes_referenced, 2);
  assert_int_equal(out.products_scanned, 0);
  arena_free(&a);
}

/* Many references and a large catalogue: growth of both arrays keeps every entry. */
static void test_large_lists(void **state) {
  (void)state;
  arena a;
  arena_init(&a);
  consistency_report r;
  consistency_report_init(&r, &a);
  char buf[32];
  for (int i = 0; i < 3000; i++) {
    snprintf(buf, sizeof buf, "P%05d", i);
    consistency_report_add_product(&r, buf);
  }
  static char codes[1000][16];
  static char *ptrs[1000];
  for (int i = 0; i < 1000; i++) {
    /* every 100th code is outside the catalogue */
    snprintf(codes[i], sizeof codes[i], "P%05d", i % 100 ? i * 3 : 90000 + i);
    ptrs[i] = codes[i];
  }
  for (int k = 0; k < 5; k++) {
    Menu__V1__Category c = category(k % 2 ? "odd" : "even", ptrs + k * 200, 200);
    consistency_report_add_category(&r, &c);
  }
  Menu__V1__CheckMenuConsistencyResponse out = MENU__V1__CHECK_MENU_CONSISTENCY_RESPONSE__INIT;
  consistency_report_build(&r, &out);
  assert_int_equal(out.n_dangling_references, 10);
  assert_int_equal(out.products_scanned, 3000);
  assert_int_equal(out.product_codes_referenced, 1000);
  for (size_t i = 0; i < out.n_dangling_references; i++)
    assert_true(strncmp(out.dangling_references[i]->product_code, "P9", 2) == 0);
  arena_free(&a);
}

static void test_channel_names(void **state) {
  (void)state;
  assert_int_equal(consistency_channel_parse("KIOSK"), MENU__V1__CHANNEL__CHANNEL_KIOSK);
  assert_int_equal(consistency_channel_parse("kiosk"), MENU__V1__CHANNEL__CHANNEL_KIOSK);
  assert_int_equal(consistency_channel_parse("CHANNEL_DRIVE_THRU"),
                   MENU__V1__CHANNEL__CHANNEL_DRIVE_THRU);
  assert_int_equal(consistency_channel_parse("drive_thru"), MENU__V1__CHANNEL__CHANNEL_DRIVE_THRU);
  assert_int_equal(consistency_channel_parse("UNSPECIFIED"),
                   MENU__V1__CHANNEL__CHANNEL_UNSPECIFIED);
  assert_int_equal(consistency_channel_parse("CHANNEL_"), MENU__V1__CHANNEL__CHANNEL_UNSPECIFIED);
  assert_int_equal(consistency_channel_parse("TELEPHONE"), MENU__V1__CHANNEL__CHANNEL_UNSPECIFIED);
  assert_int_equal(consistency_channel_parse(""), MENU__V1__CHANNEL__CHANNEL_UNSPECIFIED);
  char longname[200];
  memset(longname, 'K', sizeof longname - 1);
  longname[sizeof longname - 1] = 0;
  assert_int_equal(consistency_channel_parse(longname), MENU__V1__CHANNEL__CHANNEL_UNSPECIFIED);
}

/* What the command prints: the RPC's JSON names, the enum names, and whether it is consistent. */
static void test_json_report(void **state) {
  (void)state;
  Menu__V1__DanglingReference d = MENU__V1__DANGLING_REFERENCE__INIT;
  d.kind = KIND(GHOST_SWAP_TARGET);
  d.entity_id = "P1002";
  d.product_code = "NOPE";
  Menu__V1__DanglingReference *refs[] = {&d};
  Menu__V1__CheckMenuConsistencyResponse out = MENU__V1__CHECK_MENU_CONSISTENCY_RESPONSE__INIT;
  out.dangling_references = refs;
  out.n_dangling_references = 1;
  out.categories_scanned = 10;
  out.ghost_swaps_scanned = 4;
  out.products_scanned = 40;
  char *s = consistency_report_json(MENU__V1__CHANNEL__CHANNEL_KIOSK, &out);
  json_error_t err;
  json_t *j = json_loads(s, 0, &err);
  assert_non_null(j);
  assert_string_equal(json_string_value(json_object_get(j, "channel")), "CHANNEL_KIOSK");
  assert_true(json_is_false(json_object_get(j, "consistent")));
  json_t *r0 = json_array_get(json_object_get(j, "danglingReferences"), 0);
  assert_string_equal(json_string_value(json_object_get(r0, "kind")),
                      "REFERENCE_KIND_GHOST_SWAP_TARGET");
  assert_string_equal(json_string_value(json_object_get(r0, "entityId")), "P1002");
  assert_string_equal(json_string_value(json_object_get(r0, "productCode")), "NOPE");
  assert_int_equal(json_integer_value(json_object_get(j, "categoriesScanned")), 10);
  assert_int_equal(json_integer_value(json_object_get(j, "productsScanned")), 40);
  json_decref(j);
  free(s);
  out.n_dangling_references = 0;
  s = consistency_report_json(MENU__V1__CHANNEL__CHANNEL_WEB, &out);
  j = json_loads(s, 0, &err);
  assert_true(json_is_true(json_object_get(j, "consistent")));
  assert_int_equal(json_array_size(json_object_get(j, "danglingReferences")), 0);
  json_decref(j);
  free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_unknown_codes_reported_by_kind),
      cmocka_unit_test(test_consistent_channel_reports_nothing),
      cmocka_unit_test(test_empty_catalogue_every_reference_dangles),
      cmocka_unit_test(test_large_lists),
      cmocka_unit_test(test_channel_names),
      cmocka_unit_test(test_json_report),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
