/* file_read_all / file_read_trimmed: whole files, bounded, with errno on failure. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/file.h"

static char path[64];

static int make_file(void **state) {
  strcpy(path, "/tmp/test_file_XXXXXX");
  int fd = mkstemp(path);
  if (fd < 0) return -1;
  close(fd);
  return 0;
}
static int remove_file(void **state) { return unlink(path); }

static void write_file(const char *text, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, n, f), n);
  fclose(f);
}

static void test_reads_every_byte_including_nul(void **state) {
  write_file("a\0b\n", 4);
  size_t n = 0;
  char *s = file_read_all(path, 16, &n);
  assert_non_null(s);
  assert_int_equal(n, 4);
  assert_memory_equal(s, "a\0b\n", 5); /* and NUL-terminated */
  free(s);
}

static void test_longer_than_max_is_efbig_and_exact_max_is_fine(void **state) {
  char big[10000];
  memset(big, 'x', sizeof big);
  write_file(big, sizeof big);
  errno = 0;
  assert_null(file_read_all(path, sizeof big - 1, NULL));
  assert_int_equal(errno, EFBIG);
  size_t n = 0;
  char *s = file_read_all(path, sizeof big, &n);
  assert_non_null(s);
  assert_int_equal(n, sizeof big);
  free(s);
}

static void test_missing_file_is_enoent(void **state) {
  errno = 0;
  assert_null(file_read_all("/nonexistent/dir/file", 16, NULL));
  assert_int_equal(errno, ENOENT);
}

static void test_trimmed_drops_trailing_newlines_only(void **state) {
  write_file(" s3cret \r\n\n", 11);
  char *s = file_read_trimmed(path, 64);
  assert_string_equal(s, " s3cret");
  free(s);
  write_file("", 0);
  s = file_read_trimmed(path, 64);
  assert_string_equal(s, "");
  free(s);
}

/* A watcher sees a file replaced the way a ConfigMap update does it (a new file renamed over the
 * old one: another inode), and a missing file as all zero. */
static void test_stat_identity_changes_when_the_file_is_replaced(void **state) {
  write_file("a", 1);
  struct stat first, again, replaced, missing;
  file_stat_or_zero(path, &first);
  file_stat_or_zero(path, &again);
  assert_true(first.st_ino != 0);
  assert_true(file_stat_same(&first, &again));
  char tmp[80];
  snprintf(tmp, sizeof tmp, "%s.new", path);
  FILE *f = fopen(tmp, "wb");
  assert_non_null(f);
  fputs("a", f); /* same size, same content */
  fclose(f);
  assert_int_equal(rename(tmp, path), 0);
  file_stat_or_zero(path, &replaced);
  assert_false(file_stat_same(&first, &replaced));
  file_stat_or_zero("/nonexistent/dir/file", &missing);
  assert_int_equal(missing.st_ino, 0);
  assert_int_equal(missing.st_size, 0);
  assert_false(file_stat_same(&missing, &replaced));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_reads_every_byte_including_nul, make_file, remove_file),
      cmocka_unit_test_setup_teardown(test_longer_than_max_is_efbig_and_exact_max_is_fine,
                                      make_file, remove_file),
      cmocka_unit_test(test_missing_file_is_enoent),
      cmocka_unit_test_setup_teardown(test_trimmed_drops_trailing_newlines_only, make_file,
                                      remove_file),
      cmocka_unit_test_setup_teardown(test_stat_identity_changes_when_the_file_is_replaced,
                                      make_file, remove_file),
  };
  return cmocka_run_group_tests_name("file", tests, NULL, NULL);
}
