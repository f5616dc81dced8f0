/* config: defaults, parsing, range checks, secrets from files, error collection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/config.h"

static void test_defaults_when_unset_or_empty(void **state) {
  config c = {0};
  unsetenv("T_STR");
  setenv("T_EMPTY", "", 1);
  assert_string_equal(config_str(&c, "T_STR", "dflt"), "dflt");
  assert_string_equal(config_str(&c, "T_EMPTY", "dflt"), "dflt");
  assert_int_equal(config_int(&c, "T_STR", 42, 0, 100), 42);
  assert_true(config_bool(&c, "T_STR", true));
  assert_int_equal(c.n_errors, 0);
}

static void test_int_parsing_and_ranges(void **state) {
  config c = {0};
  setenv("T_INT", "17", 1);
  assert_int_equal(config_int(&c, "T_INT", 1, 0, 100), 17);
  setenv("T_INT", "17x", 1);
  assert_int_equal(config_int(&c, "T_INT", 1, 0, 100), 1);
  setenv("T_INT", "1000", 1);
  assert_int_equal(config_int(&c, "T_INT", 1, 0, 100), 1);
  assert_int_equal(c.n_errors, 2);
  assert_non_null(strstr(c.errors, "T_INT=17x: not an integer"));
  assert_non_null(strstr(c.errors, "T_INT=1000: must be between 0 and 100"));
  assert_false(config_ok(&c, "test"));
}

static void test_bool_words(void **state) {
  config c = {0};
  const char *yes[] = {"1", "true", "YES", "on"}, *no[] = {"0", "False", "no", "off"};
  for (int i = 0; i < 4; i++) {
    setenv("T_B", yes[i], 1);
    assert_true(config_bool(&c, "T_B", false));
    setenv("T_B", no[i], 1);
    assert_false(config_bool(&c, "T_B", true));
  }
  setenv("T_B", "maybe", 1);
  assert_true(config_bool(&c, "T_B", true));
  assert_int_equal(c.n_errors, 1);
}

static void test_secret_file_wins_and_is_trimmed(void **state) {
  config c = {0};
  char path[] = "/tmp/test_config_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "s3cret\n", 7), 7);
  close(fd);
  setenv("T_PW", "from-env", 1);
  setenv("T_PW_FILE", path, 1);
  char *v = config_secret(&c, "T_PW", NULL);
  assert_string_equal(v, "s3cret");
  free(v);
  unsetenv("T_PW_FILE");
  v = config_secret(&c, "T_PW", NULL);
  assert_string_equal(v, "from-env");
  free(v);
  unlink(path);
  setenv("T_PW_FILE", path, 1); /* now missing: an error, not a crash */
  v = config_secret(&c, "T_PW", "d");
  assert_string_equal(v, "d");
  free(v);
  assert_int_equal(c.n_errors, 1);
  assert_non_null(strstr(c.errors, "T_PW_FILE="));
  unsetenv("T_PW_FILE");
  unsetenv("T_PW");
  assert_null(config_secret(&c, "T_PW", NULL));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults_when_unset_or_empty),
      cmocka_unit_test(test_int_parsing_and_ranges),
      cmocka_unit_test(test_bool_words),
      cmocka_unit_test(test_secret_file_wins_and_is_trimmed),
  };
  return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
