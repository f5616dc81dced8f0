/* The code pattern and strict UTF-8 checks every service applies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "common/field_check.h"
#include "common/validate.h"

static void test_codes(void **state) {
  assert_true(validate_code("P1000"));
  assert_true(validate_code("a"));
  assert_true(validate_code("0a_b.c-d"));
  assert_true(validate_code("01234567890123456789012345678901234567890123456789"));   /* 50 */
  assert_false(validate_code("012345678901234567890123456789012345678901234567890")); /* 51 */
  assert_false(validate_code(""));
  assert_false(validate_code(NULL));
  assert_false(validate_code("_lead"));
  assert_false(validate_code("-P1"));
  assert_false(validate_code("a b"));
  assert_false(validate_code("a/b"));
  assert_false(validate_code("a#b")); /* would break the category order key */
  assert_false(validate_code("P1'"));
  assert_false(validate_code("\xc3\xa9t\xc3\xa9"));
}

static void test_utf8(void **state) {
  assert_true(validate_utf8("J\xc3\xbcrgen \xf0\x9f\x8d\x94", 100)); /* ü and a 4-byte emoji */
  assert_true(validate_utf8("", 0));
  assert_false(validate_utf8("\xc3", 100));             /* truncated sequence */
  assert_false(validate_utf8("\xc0\xaf", 100));         /* overlong */
  assert_false(validate_utf8("\xed\xa0\x80", 100));     /* surrogate */
  assert_false(validate_utf8("\xf4\x90\x80\x80", 100)); /* above U+10FFFF */
  assert_false(validate_utf8("\xff", 100));
  assert_false(validate_utf8("abcdef", 5));
  uint32_t cp;
  assert_int_equal(validate_utf8_next((const unsigned char *)"\xe2\x82\xac", &cp), 3);
  assert_int_equal(cp, 0x20AC);
}

static void test_uuid(void **state) {
  (void)state;
  char out[37];
  assert_true(validate_uuid("123E4567-e89b-12d3-A456-426614174000", out));
  assert_string_equal(out, "123e4567-e89b-12d3-a456-426614174000");
  assert_false(validate_uuid("123e4567e89b12d3a456426614174000", out));      /* no dashes */
  assert_false(validate_uuid("123e4567-e89b-12d3-a456-42661417400g", out));  /* not hex */
  assert_false(validate_uuid("123e4567-e89b-12d3-a456-4266141740001", out)); /* too long */
  assert_false(validate_uuid("", out));
  assert_false(validate_uuid(NULL, out));
}

/* Every bad code of a list is named by index; duplicates name their first occurrence. */
static void test_code_lists(void **state) {
  char *ok[] = {"P1", "P2"};
  assert_int_equal(field_check_code_list(ok, 2, 2, "c", true).code, GRPC_STATUS_OK);
  menu_status st = field_check_code_list(ok, 2, 1, "c", true);
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_string_equal(st.message, "c: at most 1 codes, got 2");
  char *bad[] = {"P1", "", "P1", "a b", "P1"};
  st = field_check_code_list(bad, 5, 10, "c", true);
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(st.n_violations, 2); /* shape first: duplicates only among valid codes */
  assert_string_equal(st.violations[0].field, "c[1]");
  assert_string_equal(st.violations[1].field, "c[3]");
  char *dups[] = {"P3", "P1", "P2", "P1", "P3", "P1"};
  st = field_check_code_list(dups, 6, 10, "c", true);
  assert_int_equal(st.n_violations, 3);
  assert_string_equal(st.violations[0].field, "c[3]");
  assert_non_null(strstr(st.violations[0].description, "P1 is also c[1]"));
  assert_string_equal(st.violations[1].field, "c[4]");
  assert_non_null(strstr(st.violations[1].description, "P3 is also c[0]"));
  assert_string_equal(st.violations[2].field, "c[5]");
  assert_non_null(strstr(st.violations[2].description, "P1 is also c[1]"));
  assert_int_equal(field_check_code_list(dups, 6, 10, "c", false).code, GRPC_STATUS_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_codes),
      cmocka_unit_test(test_utf8),
      cmocka_unit_test(test_uuid),
      cmocka_unit_test(test_code_lists),
  };
  return cmocka_run_group_tests_name("validate", tests, NULL, NULL);
}
