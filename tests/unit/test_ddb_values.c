/* dynamo-svc's shared value rules: product codes and ids, names (UTF-8 validity, length in
 * characters, control characters), channels and their partition keys, stored timestamps,
 * UUIDs. These decide what a caller gets back as INVALID_ARGUMENT, so edge cases matter. */
// LIBS: dynamo
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "services/dynamo-svc/dynamo.h"

static void test_codes(void **state) {
  menu_status st = field_check_code("", "ghost_swap.product_code");
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_string_equal(st.message, "ghost_swap.product_code: required");
  st = field_check_code("a#b", "category.id"); /* '#' would break the category order key */
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(st.message, "category.id: must match"));
}

static void test_names(void **state) {
  assert_int_equal(dyn_check_name("Caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x8d\x94", "n", 200).code,
                   GRPC_STATUS_OK);
  const char *bad[] = {
      "\xff",             /* not UTF-8 at all */
      "\xc0\xaf",         /* overlong '/' */
      "\xe0\x80\xaf",     /* overlong, 3 bytes */
      "\xed\xa0\x80",     /* UTF-16 surrogate */
      "\xf4\x90\x80\x80", /* above U+10FFFF */
      "abc\xe2\x82",      /* truncated sequence */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    menu_status st = dyn_check_name(bad[i], "category.name", 200);
    assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    assert_string_equal(st.message, "category.name: not valid UTF-8");
  }
  assert_int_equal(dyn_check_name("a\nb", "n", 200).code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(dyn_check_name("   ", "n", 200).code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(dyn_check_name("", "n", 200).code, GRPC_STATUS_INVALID_ARGUMENT);
  /* Limits count characters: three 2-byte characters fit in 3, not in 2. */
  assert_int_equal(dyn_check_name("\xc3\xa9\xc3\xa9\xc3\xa9", "n", 3).code, GRPC_STATUS_OK);
  menu_status st = dyn_check_name("\xc3\xa9\xc3\xa9\xc3\xa9", "n", 2);
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_string_equal(st.message, "n: at most 2 characters");
}

static void test_channels(void **state) {
  assert_string_equal(dyn_channel_name(MENU__V1__CHANNEL__CHANNEL_DRIVE_THRU), "DRIVE_THRU");
  assert_null(dyn_channel_name(MENU__V1__CHANNEL__CHANNEL_UNSPECIFIED));
  assert_null(dyn_channel_name((Menu__V1__Channel)42));
  assert_int_equal(dyn_channel_from_name("WEB"), MENU__V1__CHANNEL__CHANNEL_WEB);
  assert_int_equal(dyn_channel_from_name("web"), MENU__V1__CHANNEL__CHANNEL_UNSPECIFIED);
  menu_status st = dyn_check_channel(MENU__V1__CHANNEL__CHANNEL_UNSPECIFIED, "category.channel");
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(st.message, "category.channel"));
  assert_int_equal(dyn_check_channel((Menu__V1__Channel)-3, "channel").code,
                   GRPC_STATUS_INVALID_ARGUMENT);
  arena a;
  arena_init(&a);
  assert_string_equal(dyn_channel_pk(&a, MENU__V1__CHANNEL__CHANNEL_KIOSK), "CHANNEL#KIOSK");
  arena_free(&a);
}

static void test_time_round_trip(void **state) {
  arena a;
  arena_init(&a);
  char now[32];
  dyn_time_now(now);
  assert_int_equal(strlen(now), 27); /* 2024-05-06T07:08:09.123456Z */
  Google__Protobuf__Timestamp *t = dyn_time_parse(&a, now);
  assert_non_null(t);
  assert_true(llabs((long long)t->seconds - (long long)time(NULL)) <= 2);
  t = dyn_time_parse(&a, "2030-01-02T03:04:05.123456Z");
  assert_int_equal(t->seconds, 1893553445);
  assert_int_equal(t->nanos, 123456000);
  t = dyn_time_parse(&a, "2030-01-02T03:04:05Z");
  assert_int_equal(t->nanos, 0);
  /* The calendar as timegm counts it: a leap day, the epoch, before it, a leap second. */
  const char *days[] = {"2024-02-29T23:59:59.5Z", "1970-01-01T00:00:00Z", "1969-12-31T23:59:59Z",
                        "2000-03-01T00:00:00Z",   "2100-12-31T12:00:00Z", "2016-12-31T23:59:60Z"};
  for (size_t i = 0; i < sizeof days / sizeof *days; i++) {
    struct tm tm = {0};
    assert_non_null(strptime(days[i], "%Y-%m-%dT%H:%M:%S", &tm));
    t = dyn_time_parse(&a, days[i]);
    assert_non_null(t);
    assert_int_equal(t->seconds, timegm(&tm));
  }
  assert_null(dyn_time_parse(&a, "2030-13-02T03:04:05Z"));
  assert_null(dyn_time_parse(&a, "2030-01-02T03:04"));
  assert_null(dyn_time_parse(&a, "2030-01-02 03:04:05"));
  assert_null(dyn_time_parse(&a, "2030-01-02T03:04:05+01:00"));
  assert_null(dyn_time_parse(&a, NULL));
  arena_free(&a);
}

static void test_uuids_are_v4_and_distinct(void **state) {
  char a[37], b[37];
  dyn_uuid(a);
  dyn_uuid(b);
  assert_int_equal(strlen(a), 36);
  assert_int_equal(a[14], '4');
  assert_non_null(strchr("89ab", a[19]));
  assert_int_equal(field_check_code(a, "id").code,
                   GRPC_STATUS_OK); /* generated ids obey the id rule */
  assert_string_not_equal(a, b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_codes),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_channels),
      cmocka_unit_test(test_time_round_trip),
      cmocka_unit_test(test_uuids_are_v4_and_distinct),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
