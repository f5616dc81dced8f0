/* The calendar both services store instants in: every answer equals timegm's (leap years,
 * century rules, before 1970, carries past the end of a month or minute). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "common/civil_time.h"

static int64_t by_timegm(int year, int month, int day, int h, int mi, int s) {
  struct tm tm = {.tm_year = year - 1900,
                  .tm_mon = month - 1,
                  .tm_mday = day,
                  .tm_hour = h,
                  .tm_min = mi,
                  .tm_sec = s};
  return (int64_t)timegm(&tm);
}

static void test_every_day_of_four_centuries_as_timegm(void **state) {
  static const int days_in[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  for (int y = 1, step = 0; y <= 9999; y += 1 + (step++ % 7) * 13) {
    for (int m = 1; m <= 12; m++) {
      for (int d = 1; d <= days_in[m - 1]; d++) {
        int h = (y + d) % 24, mi = (m * 7 + d) % 60, s = (y * 3 + d) % 60;
        if (civil_to_unix_seconds(y, (unsigned)m, (unsigned)d, (unsigned)h, (unsigned)mi,
                                  (unsigned)s) != by_timegm(y, m, d, h, mi, s))
          fail_msg("%04d-%02d-%02dT%02d:%02d:%02d differs from timegm", y, m, d, h, mi, s);
      }
    }
  }
  for (int y = 1896; y <= 2104; y++) /* every year around the 1900/2000/2100 rules */
    for (int m = 1; m <= 12; m++)
      assert_int_equal(civil_to_unix_seconds(y, (unsigned)m, 1, 0, 0, 0),
                       by_timegm(y, m, 1, 0, 0, 0));
}

static void test_known_instants_and_carries(void **state) {
  assert_int_equal(civil_to_unix_seconds(1970, 1, 1, 0, 0, 0), 0);
  assert_int_equal(civil_to_unix_seconds(1969, 12, 31, 23, 59, 59), -1);
  assert_int_equal(civil_to_unix_seconds(2030, 1, 2, 3, 4, 5), 1893553445);
  assert_int_equal(civil_to_unix_seconds(2024, 2, 29, 23, 59, 59), 1709251199);
  /* past the range of a field: carried as timegm does */
  assert_int_equal(civil_to_unix_seconds(2023, 2, 31, 0, 0, 0), by_timegm(2023, 3, 3, 0, 0, 0));
  assert_int_equal(civil_to_unix_seconds(2016, 12, 31, 23, 59, 60), by_timegm(2017, 1, 1, 0, 0, 0));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_day_of_four_centuries_as_timegm),
      cmocka_unit_test(test_known_instants_and_carries),
  };
  return cmocka_run_group_tests_name("civil_time", tests, NULL, NULL);
}
