/* Cursors: round trip, and every way a cursor can be wrong is INVALID_ARGUMENT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/cursor.h"

static cursor_key key(const char *s) {
  cursor_key k = {0};
  k.len = strlen(s);
  memcpy(k.bytes, s, k.len);
  return k;
}

static void test_round_trip_is_url_safe(void **state) {
  cursor_key k = key("0123456789abcdef0123456789abcdef");
  char *c = cursor_encode(&k, "categories:KIOSK", "{\"o\":5,\"id\":\"x?/+\"}");
  assert_null(strpbrk(c, "+/="));
  char *payload = NULL;
  menu_status s = cursor_decode(&k, "categories:KIOSK", c, "page.after", &payload);
  assert_int_equal(s.code, GRPC_STATUS_OK);
  assert_string_equal(payload, "{\"o\":5,\"id\":\"x?/+\"}");
  free(payload);
  free(c);
}

static void test_other_list_key_or_tamper_rejected(void **state) {
  cursor_key k = key("0123456789abcdef0123456789abcdef");
  cursor_key other = key("another-key-of-enough-length!!!!");
  char *c = cursor_encode(&k, "categories:KIOSK", "P1000");
  char *payload = NULL;
  menu_status s = cursor_decode(&k, "categories:WEB", c, "page.after", &payload);
  assert_int_equal(s.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(s.message, "page.after"));
  assert_null(payload);
  s = cursor_decode(&other, "categories:KIOSK", c, "page.after", &payload);
  assert_int_equal(s.code, GRPC_STATUS_INVALID_ARGUMENT);
  for (size_t i = 0; c[i]; i++) { /* flip every character in turn */
    char saved = c[i];
    c[i] = saved == 'A' ? 'B' : 'A';
    s = cursor_decode(&k, "categories:KIOSK", c, "page.before", &payload);
    assert_int_equal(s.code, GRPC_STATUS_INVALID_ARGUMENT);
    c[i] = saved;
  }
  c[strlen(c) - 3] = 0; /* truncated */
  s = cursor_decode(&k, "categories:KIOSK", c, "page.after", &payload);
  assert_int_equal(s.code, GRPC_STATUS_INVALID_ARGUMENT);
  free(c);
}

static void test_garbage_rejected(void **state) {
  cursor_key k = key("0123456789abcdef0123456789abcdef");
  const char *bad[] = {"", "!!!!", "a", "AAAA", "not base64 at all", "\xff\xfe"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char *payload = NULL;
    menu_status s = cursor_decode(&k, "x", bad[i], "page.after", &payload);
    assert_int_equal(s.code, GRPC_STATUS_INVALID_ARGUMENT);
    assert_null(payload);
  }
  char *longc = malloc(5000);
  memset(longc, 'A', 4999);
  longc[4999] = 0;
  char *payload = NULL;
  assert_int_equal(cursor_decode(&k, "x", longc, "page.after", &payload).code,
                   GRPC_STATUS_INVALID_ARGUMENT);
  free(longc);
}

/* The format is a contract with every cursor already handed out: a loaded key (keyed context
 * copied per tag) and a key built by hand (keyed per tag) both give HMAC-SHA256 as Python's
 * hmac module computes it, and accept each other's cursors. */
static void test_known_answer_with_and_without_keyed_context(void **state) {
  const char *want = "MTcwMDAwMDAwMDAwMDAwMDpQMTAwMCOi-GwIB8DCmqN2Y705FSQ";
  const char *scope = "availability:R001:KIOSK:after", *payload = "1700000000000000:P1000";
  cursor_key hand = key("0123456789abcdef0123456789abcdef"), set;
  assert_int_equal(cursor_key_set(&set, hand.bytes, hand.len), 0);
  assert_non_null(set.mac);
  for (int i = 0; i < 3; i++) { /* the shared context is copied, never consumed */
    char *a = cursor_encode(&set, scope, payload), *b = cursor_encode(&hand, scope, payload);
    assert_string_equal(a, want);
    assert_string_equal(b, want);
    char *out = NULL;
    assert_int_equal(cursor_decode(&set, scope, b, "page.after", &out).code, GRPC_STATUS_OK);
    assert_string_equal(out, payload);
    free(out);
    free(a);
    free(b);
  }
  cursor_key_free(&set);
  assert_null(set.mac);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip_is_url_safe),
      cmocka_unit_test(test_other_list_key_or_tamper_rejected),
      cmocka_unit_test(test_garbage_rejected),
      cmocka_unit_test(test_known_answer_with_and_without_keyed_context),
  };
  return cmocka_run_group_tests_name("cursor", tests, NULL, NULL);
}
