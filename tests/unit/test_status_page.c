/* status code names and Relay paging validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "common/page.h"
#include "common/status.h"

static void test_code_names(void **state) {
  assert_string_equal(menu_status_code_name(GRPC_STATUS_OK), "OK");
  assert_string_equal(menu_status_code_name(GRPC_STATUS_INVALID_ARGUMENT), "INVALID_ARGUMENT");
  assert_string_equal(menu_status_code_name(GRPC_STATUS_UNAUTHENTICATED), "UNAUTHENTICATED");
  assert_string_equal(menu_status_code_name((grpc_status_code)99), "UNKNOWN");
  menu_status s = MENU_INVALID("page.first: %d is bad", -1);
  assert_int_equal(s.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_string_equal(s.message, "page.first: -1 is bad");
  char big[400];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = 0;
  s = MENU_INTERNAL("%s", big); /* truncated, never overflows */
  assert_int_equal(strlen(s.message), sizeof s.message - 1);
}

static void test_page_defaults_and_coercion(void **state) {
  page_params p;
  assert_int_equal(page_params_parse(0, "", 0, "", 16, 128, &p).code, GRPC_STATUS_OK);
  assert_true(p.forward);
  assert_int_equal(p.limit, 16);
  assert_null(p.cursor);
  assert_int_equal(page_params_parse(500, NULL, 0, NULL, 16, 128, &p).code, GRPC_STATUS_OK);
  assert_int_equal(p.limit, 128);
  assert_int_equal(page_params_parse(0, NULL, 5, "cur", 16, 128, &p).code, GRPC_STATUS_OK);
  assert_false(p.forward);
  assert_int_equal(p.limit, 5);
  assert_string_equal(p.cursor, "cur");
  assert_string_equal(p.cursor_field, "page.before");
  assert_int_equal(page_params_parse(0, NULL, 0, "cur", 16, 128, &p).code, GRPC_STATUS_OK);
  assert_false(p.forward); /* before alone pages backward */
  assert_int_equal(p.limit, 16);
}

static void test_page_rejections_name_the_field(void **state) {
  page_params p;
  menu_status s = page_params_parse(-1, NULL, 0, NULL, 16, 128, &p);
  assert_int_equal(s.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(s.message, "page.first"));
  s = page_params_parse(0, NULL, -3, NULL, 16, 128, &p);
  assert_non_null(strstr(s.message, "page.last"));
  s = page_params_parse(2, NULL, 2, NULL, 16, 128, &p);
  assert_int_equal(s.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(s.message, "page.first and page.last"));
  s = page_params_parse(0, "a", 0, "b", 16, 128, &p);
  assert_non_null(strstr(s.message, "page.after and page.before"));
  s = page_params_parse(3, NULL, 0, "b", 16, 128, &p);
  assert_int_equal(s.code, GRPC_STATUS_INVALID_ARGUMENT);
  s = page_params_parse(0, "a", 3, NULL, 16, 128, &p);
  assert_int_equal(s.code, GRPC_STATUS_INVALID_ARGUMENT);
}

static void test_page_flags(void **state) {
  page_params p;
  bool next, prev;
  page_params_parse(2, NULL, 0, NULL, 16, 128, &p);
  page_flags(&p, 3, &next, &prev); /* limit+1 rows: more follow */
  assert_true(next);
  assert_false(prev);
  page_params_parse(2, "c", 0, NULL, 16, 128, &p);
  page_flags(&p, 2, &next, &prev);
  assert_false(next);
  assert_true(prev);
  page_params_parse(0, NULL, 2, "c", 16, 128, &p);
  page_flags(&p, 3, &next, &prev);
  assert_true(prev);
  assert_true(next);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_code_names),
      cmocka_unit_test(test_page_defaults_and_coercion),
      cmocka_unit_test(test_page_rejections_name_the_field),
      cmocka_unit_test(test_page_flags),
  };
  return cmocka_run_group_tests_name("status_page", tests, NULL, NULL);
}
