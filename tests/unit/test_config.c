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

/* DYNAMODB_ENDPOINT="" means the real service: set-but-empty must differ from unset. */
static void test_str_or_empty_tells_empty_from_unset(void **state) {
  config c = {0};
  unsetenv("T_STR");
  setenv("T_EMPTY", "", 1);
  assert_string_equal(config_str_or_empty(&c, "T_STR", "dflt"), "dflt");
  assert_string_equal(config_str_or_empty(&c, "T_EMPTY", "dflt"), "");
  config l = {.listing = true};
  assert_string_equal(config_str_or_empty(&l, "T_EMPTY", "dflt"), "dflt");
  assert_int_equal(l.n_vars, 1);
  assert_string_equal(l.vars[0].name, "T_EMPTY");
  unsetenv("T_EMPTY");
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

static void test_listen_addresses(void **state) {
  config c = {0};
  setenv("T_ADDR", ":50071", 1);
  assert_string_equal(config_listen_addr(&c, "T_ADDR", "127.0.0.1:1", false), "0.0.0.0:50071");
  setenv("T_ADDR", "[::1]:9", 1);
  assert_string_equal(config_listen_addr(&c, "T_ADDR", "127.0.0.1:1", false), "[::1]:9");
  setenv("T_ADDR", "off", 1);
  assert_string_equal(config_listen_addr(&c, "T_ADDR", "127.0.0.1:1", true), "off");
  assert_int_equal(c.n_errors, 0);
  const char *bad[] = {"off", "host.example:80", "127.0.0.1", ":", ":70000", "1.2.3.4:x"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    setenv("T_ADDR", bad[i], 1);
    assert_string_equal(config_listen_addr(&c, "T_ADDR", "127.0.0.1:1", false), "127.0.0.1:1");
  }
  assert_int_equal(c.n_errors, 6);
  assert_non_null(strstr(c.errors, "T_ADDR=host.example:80: not a listen address"));
  unsetenv("T_ADDR");
}

/* --help's list: every getter records its variable and default, the environment is not read,
 * secrets never show their default. */
static void test_listing_records_defaults_not_values(void **state) {
  config c = {.listing = true};
  setenv("T_STR", "from-env", 1);
  setenv("T_SECRET", "hunter2-secret", 1);
  assert_string_equal(config_str(&c, "T_STR", "dflt"), "dflt");
  assert_int_equal(config_int(&c, "T_INT", 42, 0, 100), 42);
  char *sec = config_secret(&c, "T_SECRET", "dev-default");
  assert_string_equal(sec, "dev-default");
  free(sec);
  config_str(&c, "T_STR", "dflt"); /* read twice, listed once */
  assert_int_equal(c.n_vars, 3);
  char buf[1024] = {0};
  FILE *f = fmemopen(buf, sizeof buf - 1, "w");
  config_vars_print(&c, f);
  fclose(f);
  assert_non_null(strstr(buf, "T_STR"));
  assert_non_null(strstr(buf, "42 (0..100)"));
  assert_non_null(strstr(buf, "T_SECRET or T_SECRET_FILE"));
  assert_null(strstr(buf, "from-env"));
  assert_null(strstr(buf, "dev-default"));
  assert_null(strstr(buf, "hunter2"));
  unsetenv("T_STR");
  unsetenv("T_SECRET");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults_when_unset_or_empty),
      cmocka_unit_test(test_str_or_empty_tells_empty_from_unset),
      cmocka_unit_test(test_int_parsing_and_ranges),
      cmocka_unit_test(test_bool_words),
      cmocka_unit_test(test_secret_file_wins_and_is_trimmed),
      cmocka_unit_test(test_listen_addresses),
      cmocka_unit_test(test_listing_records_defaults_not_values),
  };
  return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
