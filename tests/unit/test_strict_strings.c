/* The runtime's strict-string walk over request wire bytes: NUL, control characters, bad UTF-8
 * and version at INT64_MAX are rejected with the field path, every bad field at once, and good
 * requests pass (nested messages and repeated strings included). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/strict_strings.h"
#include "menu/v1/category.pb-c.h"
#include "menu/v1/ghost_swap.pb-c.h"

static menu_status check(const ProtobufCMessage *m) {
  size_t n = protobuf_c_message_get_packed_size(m);
  uint8_t *buf = malloc(n ? n : 1);
  protobuf_c_message_pack(m, buf);
  menu_status st = strict_strings_check(m->descriptor, buf, n);
  free(buf);
  return st;
}

static void test_good_requests_pass(void **state) {
  Menu__V1__Category c = MENU__V1__CATEGORY__INIT;
  c.id = "burgers";
  c.name = "Burgers \xc3\xa9t\xc3\xa9 \xf0\x9f\x8d\x94"; /* UTF-8 is fine */
  c.version = 3;
  Menu__V1__UpdateCategoryRequest r = MENU__V1__UPDATE_CATEGORY_REQUEST__INIT;
  r.category = &c;
  assert_int_equal(check(&r.base).code, GRPC_STATUS_OK);
}

static void test_nul_and_controls_name_the_field(void **state) {
  Menu__V1__Category c = MENU__V1__CATEGORY__INIT;
  /* protobuf-c packs strings with strlen: build a NUL by packing, then patching a byte */
  c.id = "burgersXx";
  c.name = "A\x1b[31mred";
  c.version = INT64_MAX;
  Menu__V1__UpdateCategoryRequest r = MENU__V1__UPDATE_CATEGORY_REQUEST__INIT;
  r.category = &c;
  size_t n = protobuf_c_message_get_packed_size(&r.base);
  uint8_t *buf = malloc(n);
  protobuf_c_message_pack(&r.base, buf);
  uint8_t *x = memmem(buf, n, "burgersXx", 9);
  assert_non_null(x);
  x[7] = 0; /* "burgers\0x" */
  menu_status st = strict_strings_check(r.base.descriptor, buf, n);
  free(buf);
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(st.n_violations, 3);
  assert_string_equal(st.violations[0].field, "category.id");
  assert_string_equal(st.violations[0].description, "contains a NUL character");
  assert_string_equal(st.violations[1].field, "category.name");
  assert_string_equal(st.violations[1].description, "contains a control character");
  assert_string_equal(st.violations[2].field, "category.version");
}

static void test_repeated_strings_carry_their_index(void **state) {
  char *codes[] = {"P1", "P2",
                   "P\xc2\x9b"
                   "3",
                   "P\xff"}; /* C1 CSI, then bad UTF-8 */
  Menu__V1__BatchGetGhostSwapsRequest r = MENU__V1__BATCH_GET_GHOST_SWAPS_REQUEST__INIT;
  r.n_product_codes = 4;
  r.product_codes = codes;
  menu_status st = check(&r.base);
  assert_int_equal(st.n_violations, 2);
  assert_string_equal(st.violations[0].field, "product_codes[2]");
  assert_string_equal(st.violations[1].field, "product_codes[3]");
  assert_string_equal(st.violations[1].description, "not valid UTF-8");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_good_requests_pass),
      cmocka_unit_test(test_nul_and_controls_name_the_field),
      cmocka_unit_test(test_repeated_strings_carry_their_index),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
