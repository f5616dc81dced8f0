/* GetStoreMenu's pure parts: input validation (what a caller gets back for a bad store code or
 * channel) and the failure policy of allow_partial. The composition of the menu is tested in
 * test_gateway_menu_compose.c. */
// LIBS: gateway
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/store_menu.h"

static Menu__V1__GetStoreMenuRequest request(const char *store, Menu__V1__Channel ch) {
  Menu__V1__GetStoreMenuRequest r = MENU__V1__GET_STORE_MENU_REQUEST__INIT;
  r.store_code = (char *)store;
  r.channel = ch;
  return r;
}

static void assert_invalid(const char *store, int channel, const char *field) {
  Menu__V1__GetStoreMenuRequest r = request(store, (Menu__V1__Channel)channel);
  menu_status s = store_menu_validate(&r);
  assert_int_equal(s.code, GRPC_STATUS_INVALID_ARGUMENT);
  /* The message starts with the field name so that a client can point at it. */
  assert_true(strncmp(s.message, field, strlen(field)) == 0);
}

static void test_validate_accepts_codes(void **state) {
  (void)state;
  const char *ok[] = {"S1",        "a",
                      "store-001", "R_12.b-c",
                      "0",         "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghij" /* 50 */};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    Menu__V1__GetStoreMenuRequest r = request(ok[i], MENU__V1__CHANNEL__CHANNEL_KIOSK);
    menu_status s = store_menu_validate(&r);
    assert_int_equal(s.code, GRPC_STATUS_OK);
  }
}

static void test_validate_rejects_store_code(void **state) {
  (void)state;
  assert_invalid("", MENU__V1__CHANNEL__CHANNEL_KIOSK, "store_code");
  assert_invalid("-S1", MENU__V1__CHANNEL__CHANNEL_KIOSK, "store_code");
  assert_invalid("_S1", MENU__V1__CHANNEL__CHANNEL_KIOSK, "store_code");
  assert_invalid("S 1", MENU__V1__CHANNEL__CHANNEL_KIOSK, "store_code");
  assert_invalid("S1/x", MENU__V1__CHANNEL__CHANNEL_KIOSK, "store_code");
  assert_invalid("Sé", MENU__V1__CHANNEL__CHANNEL_KIOSK, "store_code");
  assert_invalid("abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijX" /* 51 */,
                 MENU__V1__CHANNEL__CHANNEL_KIOSK, "store_code");
}

static void test_validate_rejects_channel(void **state) {
  (void)state;
  assert_invalid("S1", MENU__V1__CHANNEL__CHANNEL_UNSPECIFIED, "channel");
  assert_invalid("S1", 99, "channel");
  assert_invalid("S1", -1, "channel");
}

static void test_failure_policy(void **state) {
  (void)state;
  /* Default: any backend failure fails the menu. */
  assert_true(store_menu_failure_is_fatal(GRPC_STATUS_UNAVAILABLE, false));
  assert_true(store_menu_failure_is_fatal(GRPC_STATUS_DEADLINE_EXCEEDED, false));
  /* allow_partial: outages and slowness become missing parts ... */
  assert_false(store_menu_failure_is_fatal(GRPC_STATUS_UNAVAILABLE, true));
  assert_false(store_menu_failure_is_fatal(GRPC_STATUS_DEADLINE_EXCEEDED, true));
  assert_false(store_menu_failure_is_fatal(GRPC_STATUS_INTERNAL, true));
  assert_false(store_menu_failure_is_fatal(GRPC_STATUS_UNIMPLEMENTED, true));
  /* ... but the caller's own mistakes still fail it. */
  assert_true(store_menu_failure_is_fatal(GRPC_STATUS_INVALID_ARGUMENT, true));
  assert_true(store_menu_failure_is_fatal(GRPC_STATUS_NOT_FOUND, true));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_validate_accepts_codes),
      cmocka_unit_test(test_validate_rejects_store_code),
      cmocka_unit_test(test_validate_rejects_channel),
      cmocka_unit_test(test_failure_policy),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
