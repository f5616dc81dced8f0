/* The gateway's backend configuration: the gRPC service config it hands to the C core
 * (round_robin, the retry policy on UNAVAILABLE for exactly the reads it makes, throttling)
 * and the environment variables with their defaults and contradictions. That the core accepts
 * and applies the config (retries happen, round robin spreads calls) is shown by the
 * integration tests against running backends. */
// LIBS: gateway
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <grpc/grpc.h>
#include <jansson.h>

#include "gateway/backends.h"

static const char *const methods[] = {"menu.v1.CategoryService/ListCategories",
                                      "menu.v1.GhostSwapService/BatchGetGhostSwaps", NULL};

static json_t *parse(char *s) {
  json_error_t err;
  json_t *j = json_loads(s, 0, &err);
  free(s);
  assert_non_null(j);
  return j;
}

static void test_service_config_retry_policy(void **state) {
  (void)state;
  json_t *j = parse(gateway_service_config_json(methods, 3));
  json_t *lb = json_object_get(j, "loadBalancingConfig");
  assert_int_equal(json_array_size(lb), 1);
  assert_non_null(json_object_get(json_array_get(lb, 0), "round_robin"));

  json_t *mc = json_array_get(json_object_get(j, "methodConfig"), 0);
  json_t *names = json_object_get(mc, "name");
  assert_int_equal(json_array_size(names), 2);
  assert_string_equal(json_string_value(json_object_get(json_array_get(names, 1), "service")),
                      "menu.v1.GhostSwapService");
  assert_string_equal(json_string_value(json_object_get(json_array_get(names, 1), "method")),
                      "BatchGetGhostSwaps");
  json_t *rp = json_object_get(mc, "retryPolicy");
  assert_int_equal(json_integer_value(json_object_get(rp, "maxAttempts")), 3);
  assert_string_equal(json_string_value(json_object_get(rp, "initialBackoff")), "0.05s");
  assert_string_equal(json_string_value(json_object_get(rp, "maxBackoff")), "0.5s");
  assert_true(json_number_value(json_object_get(rp, "backoffMultiplier")) == 2.0);
  json_t *codes = json_object_get(rp, "retryableStatusCodes");
  assert_int_equal(json_array_size(codes), 2);
  assert_string_equal(json_string_value(json_array_get(codes, 0)), "UNAVAILABLE");
  /* what a backend that is going away may answer; the gateway's own cancels are never retried */
  assert_string_equal(json_string_value(json_array_get(codes, 1)), "CANCELLED");
  assert_non_null(json_object_get(j, "retryThrottling"));
  json_decref(j);
}

static void test_service_config_without_retries(void **state) {
  (void)state;
  json_t *j = parse(gateway_service_config_json(methods, 1));
  assert_non_null(json_object_get(j, "loadBalancingConfig"));
  assert_null(json_object_get(j, "methodConfig"));
  json_decref(j);
}

static void set(const char *k, const char *v) {
  if (v)
    setenv(k, v, 1);
  else
    unsetenv(k);
}

static void clear_env(void) {
  const char *vars[] = {"DYNAMO_SVC_TARGET",
                        "SQL_SVC_TARGET",
                        "BACKEND_KEEPALIVE_MS",
                        "BACKEND_RETRY_MAX_ATTEMPTS",
                        "BACKEND_DEADLINE_MARGIN_MS",
                        "BACKEND_TLS_CA_FILE",
                        "BACKEND_TLS_CERT_FILE",
                        "BACKEND_TLS_KEY_FILE",
                        "BACKEND_RECONNECT_INITIAL_BACKOFF_MS",
                        "BACKEND_RECONNECT_MAX_BACKOFF_MS",
                        "BACKEND_CONNECT_TIMEOUT_MS"};
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) unsetenv(vars[i]);
}

static void test_config_defaults(void **state) {
  (void)state;
  clear_env();
  config c = {0};
  gateway_backends_config bc;
  gateway_backends_config_load(&c, &bc);
  assert_int_equal(c.n_errors, 0);
  assert_string_equal(bc.dynamo_target, "dns:///127.0.0.1:50052");
  assert_string_equal(bc.sql_target, "dns:///127.0.0.1:50053");
  assert_int_equal(bc.keepalive_ms, 30000);
  assert_int_equal(bc.max_attempts, 3);
  /* a backend back after an outage is used again within about a second, not gRPC's 120 s */
  assert_int_equal(bc.reconnect_initial_ms, 100);
  assert_int_equal(bc.reconnect_max_ms, 1000);
  assert_int_equal(bc.connect_timeout_ms, 2000);
  assert_null(bc.tls_ca_file);
}

static void test_config_rejects_contradictions(void **state) {
  (void)state;
  clear_env();
  set("BACKEND_TLS_CERT_FILE", "/x/cert.pem"); /* no key, no CA */
  set("BACKEND_RETRY_MAX_ATTEMPTS", "9");      /* gRPC allows at most 5 */
  set("BACKEND_RECONNECT_INITIAL_BACKOFF_MS", "5000");
  set("BACKEND_RECONNECT_MAX_BACKOFF_MS", "2000"); /* below the initial backoff */
  config c = {0};
  gateway_backends_config bc;
  gateway_backends_config_load(&c, &bc);
  assert_int_equal(c.n_errors, 4);
  assert_non_null(strstr(c.errors, "BACKEND_RECONNECT_INITIAL_BACKOFF_MS"));
  assert_non_null(strstr(c.errors, "BACKEND_TLS_KEY_FILE"));
  assert_non_null(strstr(c.errors, "BACKEND_TLS_CA_FILE"));
  assert_non_null(strstr(c.errors, "BACKEND_RETRY_MAX_ATTEMPTS"));
  clear_env();
}

static void test_channels_created(void **state) {
  (void)state;
  clear_env();
  set("DYNAMO_SVC_TARGET", "ipv4:127.0.0.1:1,127.0.0.1:2");
  config c = {0};
  gateway_backends_config bc;
  gateway_backends_config_load(&c, &bc);
  grpc_init();
  metrics_registry *m = metrics_registry_create();
  gateway_backends *b = gateway_backends_create(&bc, m);
  assert_non_null(b);
  assert_non_null(b->list_categories.method);
  assert_ptr_equal(b->list_categories.channel, b->dynamo);
  assert_ptr_equal(b->batch_get_ghost_swaps.channel, b->dynamo);
  assert_ptr_equal(b->batch_get_product_availabilities.channel, b->sql);
  assert_string_equal(b->batch_get_product_availabilities.backend, "sql-svc");
  gateway_backends_destroy(b);

  /* An unreadable CA file is a start-up failure, not a silent plaintext fallback. */
  bc.tls_ca_file = "/nonexistent/ca.pem";
  assert_null(gateway_backends_create(&bc, m));
  metrics_registry_destroy(m);
  grpc_shutdown();
  clear_env();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_service_config_retry_policy),
      cmocka_unit_test(test_service_config_without_retries),
      cmocka_unit_test(test_config_defaults),
      cmocka_unit_test(test_config_rejects_contradictions),
      cmocka_unit_test(test_channels_created),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
