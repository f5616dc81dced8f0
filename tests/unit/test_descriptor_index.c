/* The reflection index over the descriptor set embedded in every binary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "common/descriptor_index.h"

static descriptor_index *idx;

static int setup(void **state) {
  size_t len;
  const unsigned char *data = descriptor_set_embedded(&len);
  idx = descriptor_index_create(data, len);
  return idx ? 0 : -1;
}
static int teardown(void **state) {
  descriptor_index_destroy(idx);
  return 0;
}

static const char *file_of(const char *symbol) {
  int f = descriptor_index_file_by_symbol(idx, symbol);
  return f < 0 ? NULL : descriptor_index_file_name(idx, f);
}

static void test_symbols_map_to_their_files(void **state) {
  assert_string_equal(file_of("menu.v1.CategoryService"), "menu/v1/category.proto");
  assert_string_equal(file_of("menu.v1.CategoryService.ListCategories"), "menu/v1/category.proto");
  assert_string_equal(file_of("menu.v1.Category"), "menu/v1/category.proto");
  assert_string_equal(file_of("menu.v1.Channel"), "menu/v1/common.proto");
  assert_string_equal(file_of("google.protobuf.Timestamp"), "google/protobuf/timestamp.proto");
  assert_string_equal(file_of("grpc.health.v1.HealthCheckResponse.ServingStatus"),
                      "grpc/health/v1/health.proto"); /* nested enum */
  assert_string_equal(file_of("grpc.reflection.v1alpha.ServerReflection"),
                      "grpc/reflection/v1alpha/reflection.proto");
  assert_null(file_of("menu.v1.Nope"));
  assert_null(file_of("menu.v1"));
  assert_true(descriptor_index_is_message(idx, "menu.v1.GetStoreMenuRequest"));
  assert_false(descriptor_index_is_message(idx, "menu.v1.MenuService"));
}

static void test_closure_lists_each_import_once(void **state) {
  int f = descriptor_index_file_by_name(idx, "menu/v1/menu.proto");
  assert_true(f >= 0);
  int out[32];
  size_t n = descriptor_index_closure(idx, f, out, 32);
  assert_int_equal(out[0], f);
  /* menu.proto's imports, and theirs (product_availability.proto imports the first two). */
  const char *want[] = {"google/protobuf/timestamp.proto", "menu/v1/common.proto",
                        "menu/v1/product_availability.proto"};
  assert_int_equal(n, 1 + sizeof want / sizeof *want);
  for (size_t w = 0; w < sizeof want / sizeof *want; w++) {
    int hits = 0;
    for (size_t i = 0; i < n; i++)
      hits += !strcmp(descriptor_index_file_name(idx, out[i]), want[w]);
    assert_int_equal(hits, 1);
  }
  size_t len;
  assert_non_null(descriptor_index_file_bytes(idx, f, &len));
  assert_true(len > 100);
  assert_int_equal(descriptor_index_file_by_name(idx, "no/such.proto"), -1);
}

static void test_garbage_is_refused(void **state) {
  static const unsigned char junk[] = {0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01};
  assert_null(descriptor_index_create(junk, sizeof junk));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_symbols_map_to_their_files),
      cmocka_unit_test(test_closure_lists_each_import_once),
      cmocka_unit_test(test_garbage_is_refused),
  };
  return cmocka_run_group_tests_name("descriptor_index", tests, setup, teardown);
}
