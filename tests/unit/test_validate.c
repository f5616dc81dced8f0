/* The code pattern and strict UTF-8 checks every service applies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_codes),
      cmocka_unit_test(test_utf8),
      cmocka_unit_test(test_uuid),
  };
  return cmocka_run_group_tests_name("validate", tests, NULL, NULL);
}
