/* Listen-address parsing and the redaction of credentials in URLs before they are logged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "common/netaddr.h"

static void test_redact(void **state) {
  char b[128];
  assert_string_equal(netaddr_url_redact("http://user:secret@host:8000/", b, sizeof b),
                      "http://***@host:8000/");
  assert_string_equal(netaddr_url_redact("https://tok@dynamodb.example", b, sizeof b),
                      "https://***@dynamodb.example");
  /* An '@' in the path or query is not userinfo. */
  assert_string_equal(netaddr_url_redact("http://host/a@b?c=@", b, sizeof b),
                      "http://host/a@b?c=@");
  /* A password containing '@' is removed whole. */
  assert_string_equal(netaddr_url_redact("http://u:p@ss@host", b, sizeof b), "http://***@host");
  assert_string_equal(netaddr_url_redact("http://127.0.0.1:8000", b, sizeof b),
                      "http://127.0.0.1:8000");
  assert_string_equal(netaddr_url_redact("no scheme", b, sizeof b), "no scheme");
  assert_string_equal(netaddr_url_redact(NULL, b, sizeof b), "");
  char tiny[8];
  netaddr_url_redact("http://user:secret@host", tiny, sizeof tiny);
  assert_null(strstr(tiny, "secret"));
  assert_int_equal(strlen(tiny), 7);
}

static void test_parse(void **state) {
  struct sockaddr_storage ss;
  socklen_t len;
  assert_int_equal(netaddr_parse("127.0.0.1:9451", &ss, &len), 0);
  assert_int_equal(netaddr_parse("[::1]:9451", &ss, &len), 0);
  assert_int_not_equal(netaddr_parse("127.0.0.1", &ss, &len), 0);
  assert_int_not_equal(netaddr_parse("127.0.0.1:70000", &ss, &len), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_redact),
      cmocka_unit_test(test_parse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
