/* The DynamoDB client against a fault-injecting HTTP peer on 127.0.0.1: retries of
 * throttling, 5xx, dropped connections and bad checksums; no retry of ConditionalCheckFailed
 * or ValidationException; backoff that never passes the deadline; the retry quota;
 * BatchGetItem's UnprocessedKeys and chunking; signatures the peer can verify; metrics. */
// LIBS: dynamo
#pragma GCC diagnostic ignored "-Wmissing-field-initializers" /* short reply scripts */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <zlib.h>

#include "common/log.h"
#include "common/mono_clock.h"
#include "common/metrics.h"
#include "services/dynamo-svc/ddb/ddb.h"
#include "services/dynamo-svc/ddb/retry.h"
#include "services/dynamo-svc/ddb/sigv4.h"
#include "test_ddb_peer.h"

#define ERR(code) "{\"__type\":\"com.amazonaws.dynamodb.v20120810#" code "\",\"message\":\"m\"}"
#define ITEM "{\"Item\":{\"pk\":{\"S\":\"a\"},\"v\":{\"N\":\"1\"}}}"

static ddb_client *client_for(test_peer *p, int max_attempts, int64_t base_ms, int quota,
                              const char *token, metrics_registry *m) {
  ddb_config cfg = {0};
  snprintf(cfg.endpoint, sizeof cfg.endpoint, "http://127.0.0.1:%d", p ? p->port : 1);
  cfg.region = "us-east-1";
  cfg.local = true;
  cfg.max_attempts = max_attempts;
  cfg.retry_base_ms = base_ms;
  cfg.retry_max_backoff_ms = 2000;
  cfg.retry_quota = quota;
  cfg.connect_timeout_ms = 500;
  cfg.max_idle_connections = 4;
  return ddb_client_create(&cfg, http_pool_create(4),
                           creds_static_create("static", "AKID", "SECRET", token), m);
}

static menu_status get_item(ddb_client *c, int64_t timeout_ms, json_t **item, ddb_error *err) {
  json_t *key = json_pack("{s:{s:s}}", "pk", "S", "a");
  ddb_item_op op = {.table = "t", .key = key};
  menu_status st = ddb_get_item(c, &op, ddb_deadline_in(timeout_ms), item, err);
  json_decref(key);
  return st;
}

static void test_retries_throttling_and_500_then_succeeds(void **state) {
  peer_reply script[] = {{400, ERR("ProvisionedThroughputExceededException")},
                         {500, ERR("InternalServerError")},
                         {200, ITEM}};
  test_peer *p = peer_start(script, 3, NULL);
  ddb_client *c = client_for(p, 3, 5, 500, NULL, NULL);
  json_t *item = NULL;
  ddb_error err;
  menu_status st = get_item(c, 5000, &item, &err);
  assert_int_equal(st.code, GRPC_STATUS_OK);
  assert_non_null(item);
  assert_string_equal(ddb_item_s(item, "pk"), "a");
  assert_int_equal(err.attempts, 3);
  assert_int_equal(peer_count(p), 3);
  char v[256];
  for (int i = 0; i < 3; i++) {
    assert_string_equal(peer_header(p, i, "X-Amz-Target", v, sizeof v),
                        "DynamoDB_20120810.GetItem");
    assert_string_equal(peer_header(p, i, "Content-Type", v, sizeof v),
                        "application/x-amz-json-1.0");
  }
  json_decref(item);
  ddb_client_destroy(c);
  peer_stop(p);
}

static void test_conditional_check_failed_is_not_retried(void **state) {
  peer_reply script[] = {{400, ERR("ConditionalCheckFailedException")}, {200, "{}"}};
  test_peer *p = peer_start(script, 2, NULL);
  ddb_client *c = client_for(p, 5, 1, 500, NULL, NULL);
  json_t *item = json_pack("{s:{s:s}}", "pk", "S", "a");
  ddb_item_op op = {.table = "t", .item = item, .condition = "attribute_not_exists(pk)"};
  ddb_error err;
  menu_status st = ddb_put_item(c, &op, ddb_deadline_in(5000), NULL, &err);
  assert_int_equal(st.code, GRPC_STATUS_ABORTED);
  assert_int_equal(err.kind, DDB_ERR_CONDITION);
  assert_string_equal(err.type, "ConditionalCheckFailedException");
  assert_int_equal(err.attempts, 1);
  assert_int_equal(peer_count(p), 1);
  assert_non_null(strstr(p->reqs[0].body, "\"ConditionExpression\":\"attribute_not_exists(pk)\""));
  json_decref(item);
  ddb_client_destroy(c);
  peer_stop(p);
}

static void test_validation_error_is_not_retried(void **state) {
  peer_reply script[] = {{400, ERR("ValidationException")}};
  test_peer *p = peer_start(script, 1, NULL);
  ddb_client *c = client_for(p, 5, 1, 500, NULL, NULL);
  ddb_error err;
  json_t *item = NULL;
  menu_status st = get_item(c, 5000, &item, &err);
  assert_int_equal(st.code, GRPC_STATUS_INTERNAL);
  assert_int_equal(err.kind, DDB_ERR_VALIDATION);
  assert_int_equal(peer_count(p), 1);
  assert_null(item);
  ddb_client_destroy(c);
  peer_stop(p);
}

static void test_still_throttled_after_attempts_is_resource_exhausted(void **state) {
  peer_reply script[] = {{400, ERR("ThrottlingException")}};
  test_peer *p = peer_start(script, 1, NULL);
  ddb_client *c = client_for(p, 3, 1, 500, NULL, NULL);
  ddb_error err;
  json_t *item = NULL;
  menu_status st = get_item(c, 5000, &item, &err);
  assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  assert_int_equal(err.attempts, 3);
  assert_int_equal(peer_count(p), 3);
  ddb_client_destroy(c);
  peer_stop(p);
}

/* With many attempts allowed and a long backoff, the deadline is what stops the retries:
 * the call returns before it, with the last error, not after sleeping past it. */
static void test_backoff_never_passes_the_deadline(void **state) {
  peer_reply script[] = {{503, "{}"}};
  test_peer *p = peer_start(script, 1, NULL);
  ddb_client *c = client_for(p, 20, 150, 500, NULL, NULL);
  for (int run = 0; run < 5; run++) {
    ddb_error err;
    json_t *item = NULL;
    int64_t t0 = mono_now_ms();
    menu_status st = get_item(c, 400, &item, &err);
    int64_t took = mono_now_ms() - t0;
    /* The last 503 normally; DEADLINE_EXCEEDED when the test peer (one thread) was slow to
     * take the last attempt's connection and curl's timer, the deadline, cut it. */
    if (st.code != GRPC_STATUS_UNAVAILABLE && st.code != GRPC_STATUS_DEADLINE_EXCEEDED)
      fail_msg("%d after %lld ms: %s", st.code, (long long)took, st.message);
    assert_true(took <= 405); /* never sleeps past the deadline (ms clocks round) */
    assert_true(err.attempts >= 1 && err.attempts < 20);
  }
  ddb_client_destroy(c);
  peer_stop(p);
}

static void test_slow_answer_is_cut_at_the_deadline(void **state) {
  peer_reply script[] = {{200, ITEM, NULL, 3000}};
  test_peer *p = peer_start(script, 1, NULL);
  ddb_client *c = client_for(p, 3, 1, 500, NULL, NULL);
  ddb_error err;
  json_t *item = NULL;
  int64_t t0 = mono_now_ms();
  menu_status st = get_item(c, 300, &item, &err);
  int64_t took = mono_now_ms() - t0;
  assert_int_equal(st.code, GRPC_STATUS_DEADLINE_EXCEEDED);
  assert_true(took >= 250 && took < 800);
  assert_int_equal(err.attempts, 1);
  ddb_client_destroy(c);
  peer_stop(p);
}

static void test_unreachable_is_unavailable_after_retries(void **state) {
  /* Bind a port, then close it: nothing listens there. */
  test_peer *p = peer_start(NULL, 0, NULL);
  int port = p->port;
  peer_stop(p);
  ddb_config cfg = {0};
  snprintf(cfg.endpoint, sizeof cfg.endpoint, "http://127.0.0.1:%d", port);
  cfg.region = "us-east-1";
  cfg.max_attempts = 3;
  cfg.retry_base_ms = 1;
  cfg.retry_max_backoff_ms = 10;
  cfg.retry_quota = 500;
  cfg.connect_timeout_ms = 500;
  cfg.max_idle_connections = 2;
  ddb_client *c = ddb_client_create(&cfg, http_pool_create(2),
                                    creds_static_create("static", "A", "S", NULL), NULL);
  ddb_error err;
  json_t *item = NULL;
  int64_t t0 = mono_now_ms();
  menu_status st = get_item(c, 2000, &item, &err);
  assert_int_equal(st.code, GRPC_STATUS_UNAVAILABLE);
  assert_int_equal(err.kind, DDB_ERR_UNAVAILABLE);
  assert_int_equal(err.attempts, 3);
  assert_true(mono_now_ms() - t0 < 1000);
  ddb_client_destroy(c);
}

static void test_dropped_connection_is_retried(void **state) {
  peer_reply script[] = {{0, NULL}, {200, ITEM}};
  test_peer *p = peer_start(script, 2, NULL);
  ddb_client *c = client_for(p, 3, 1, 500, NULL, NULL);
  ddb_error err;
  json_t *item = NULL;
  menu_status st = get_item(c, 5000, &item, &err);
  assert_int_equal(st.code, GRPC_STATUS_OK);
  assert_int_equal(err.attempts, 2);
  json_decref(item);
  ddb_client_destroy(c);
  peer_stop(p);
}

static void test_bad_crc32_is_retried_good_one_accepted(void **state) {
  static char good[64];
  snprintf(good, sizeof good, "x-amz-crc32: %lu\r\n",
           crc32(0L, (const Bytef *)ITEM, (uInt)strlen(ITEM)));
  peer_reply script[] = {{200, ITEM, "x-amz-crc32: 12345\r\n"}, {200, ITEM, good}};
  test_peer *p = peer_start(script, 2, NULL);
  ddb_client *c = client_for(p, 3, 1, 500, NULL, NULL);
  ddb_error err;
  json_t *item = NULL;
  menu_status st = get_item(c, 5000, &item, &err);
  assert_int_equal(st.code, GRPC_STATUS_OK);
  assert_int_equal(err.attempts, 2);
  json_decref(item);
  ddb_client_destroy(c);
  peer_stop(p);
}

/* 10 tokens pay for two retries (5 each): the third is refused although attempts remain. */
static void test_retry_quota_stops_retry_storms(void **state) {
  peer_reply script[] = {{500, "{}"}};
  test_peer *p = peer_start(script, 1, NULL);
  ddb_client *c = client_for(p, 10, 1, 10, NULL, NULL);
  ddb_error err;
  json_t *item = NULL;
  menu_status st = get_item(c, 5000, &item, &err);
  assert_int_equal(st.code, GRPC_STATUS_UNAVAILABLE);
  assert_int_equal(peer_count(p), 3);
  /* The bucket is empty now: the next failing call is not retried at all. */
  st = get_item(c, 5000, &item, &err);
  assert_int_equal(peer_count(p), 4);
  ddb_client_destroy(c);
  peer_stop(p);
}

/* The peer checks what the client signed against what it sent, like DynamoDB would. */
static void test_signature_matches_what_is_sent(void **state) {
  peer_reply script[] = {{200, ITEM}};
  test_peer *p = peer_start(script, 1, NULL);
  ddb_client *c = client_for(p, 1, 1, 500, "SESSION/TOKEN+=", NULL);
  json_t *item = NULL;
  ddb_error err;
  assert_int_equal(get_item(c, 5000, &item, &err).code, GRPC_STATUS_OK);
  json_decref(item);
  char host[128], ctype[128], target[128], date[32], token[128], authz[512];
  assert_non_null(peer_header(p, 0, "Host", host, sizeof host));
  assert_non_null(peer_header(p, 0, "Content-Type", ctype, sizeof ctype));
  assert_non_null(peer_header(p, 0, "X-Amz-Target", target, sizeof target));
  assert_non_null(peer_header(p, 0, "X-Amz-Date", date, sizeof date));
  assert_non_null(peer_header(p, 0, "X-Amz-Security-Token", token, sizeof token));
  assert_non_null(peer_header(p, 0, "Authorization", authz, sizeof authz));
  char want_host[64];
  snprintf(want_host, sizeof want_host, "127.0.0.1:%d", p->port);
  assert_string_equal(host, want_host);
  assert_string_equal(token, "SESSION/TOKEN+=");
  sigv4_header hs[] = {{"host", host},
                       {"content-type", ctype},
                       {"x-amz-date", date},
                       {"x-amz-security-token", token},
                       {"x-amz-target", target}};
  sigv4_request req = {"POST", "/", NULL, hs, 5, p->reqs[0].body, p->reqs[0].body_len};
  sigv4_params sp = {"AKID", "SECRET", NULL, "us-east-1", "dynamodb", date, false};
  sigv4_result r;
  assert_int_equal(sigv4_sign(&req, &sp, &r), 0);
  assert_string_equal(authz, r.authorization);
  assert_non_null(strstr(authz,
                         "SignedHeaders=content-type;host;x-amz-date;"
                         "x-amz-security-token;x-amz-target"));
  sigv4_result_free(&r);
  ddb_client_destroy(c);
  peer_stop(p);
}

/* BatchGetItem: the first answer leaves one key unprocessed; only that key is asked again. */
static void test_batch_get_retries_unprocessed_keys(void **state) {
  peer_reply script[] = {
      {200,
       "{\"Responses\":{\"t\":[{\"pk\":{\"S\":\"a\"}}]},\"UnprocessedKeys\":{\"t\":{\"Keys\":"
       "[{\"pk\":{\"S\":\"b\"}}]}}}"},
      {200, "{\"Responses\":{\"t\":[{\"pk\":{\"S\":\"b\"}}]},\"UnprocessedKeys\":{}}"},
  };
  test_peer *p = peer_start(script, 2, NULL);
  ddb_client *c = client_for(p, 3, 1, 500, NULL, NULL);
  json_t *keys = json_pack("[{s:{s:s}},{s:{s:s}}]", "pk", "S", "a", "pk", "S", "b");
  json_t *items = NULL;
  ddb_error err;
  menu_status st = ddb_batch_get_item(c, "t", keys, false, ddb_deadline_in(5000), &items, &err);
  assert_int_equal(st.code, GRPC_STATUS_OK);
  assert_int_equal(json_array_size(items), 2);
  assert_int_equal(peer_count(p), 2);
  assert_non_null(strstr(p->reqs[0].body, "\"a\""));
  assert_non_null(strstr(p->reqs[0].body, "\"b\""));
  assert_null(strstr(p->reqs[1].body, "\"a\""));
  assert_non_null(strstr(p->reqs[1].body, "\"b\""));
  json_decref(items);
  json_decref(keys);
  ddb_client_destroy(c);
  peer_stop(p);
}

static void test_batch_get_never_processed_is_resource_exhausted(void **state) {
  peer_reply script[] = {{200,
                          "{\"Responses\":{\"t\":[]},\"UnprocessedKeys\":{\"t\":{\"Keys\":"
                          "[{\"pk\":{\"S\":\"a\"}}]}}}"}};
  test_peer *p = peer_start(script, 1, NULL);
  ddb_client *c = client_for(p, 3, 1, 500, NULL, NULL);
  json_t *keys = json_pack("[{s:{s:s}}]", "pk", "S", "a");
  json_t *items = NULL;
  ddb_error err;
  menu_status st = ddb_batch_get_item(c, "t", keys, false, ddb_deadline_in(5000), &items, &err);
  assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  assert_null(items);
  assert_int_equal(peer_count(p), 3);
  json_decref(keys);
  ddb_client_destroy(c);
  peer_stop(p);
}

/* UnprocessedKeys rounds are retries: they take tokens from the retry quota like any other, so
 * an empty bucket ends them long before DYNAMODB_MAX_ATTEMPTS stalled rounds. */
static void test_batch_get_rounds_take_retry_quota(void **state) {
  peer_reply script[] = {{200,
                          "{\"Responses\":{\"t\":[]},\"UnprocessedKeys\":{\"t\":{\"Keys\":"
                          "[{\"pk\":{\"S\":\"a\"}}]}}}"}};
  test_peer *p = peer_start(script, 1, NULL);
  ddb_client *c = client_for(p, 10, 1, 2 * DDB_RETRY_COST, NULL, NULL);
  json_t *keys = json_pack("[{s:{s:s}}]", "pk", "S", "a");
  json_t *items = NULL;
  ddb_error err;
  menu_status st = ddb_batch_get_item(c, "t", keys, false, ddb_deadline_in(5000), &items, &err);
  assert_int_equal(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
  assert_int_equal(peer_count(p), 3); /* the first round and the two the quota paid for */
  json_decref(keys);
  ddb_client_destroy(c);
  peer_stop(p);
}

/* Echoes every requested key as found, so chunking is visible in the request count. */
static void echo_keys(test_peer *p, const peer_request *req, int index, peer_reply *out) {
  json_t *b = json_loads(req->body, 0, NULL);
  json_t *keys = json_object_get(json_object_get(json_object_get(b, "RequestItems"), "t"), "Keys");
  json_t *resp = json_pack("{s:{s:O}}", "Responses", "t", keys);
  char *s = json_dumps(resp, JSON_COMPACT);
  snprintf(p->scratch[index], sizeof p->scratch[index], "%s", s);
  free(s);
  out->status = 200;
  out->body = p->scratch[index];
  json_decref(resp);
  json_decref(b);
}

static void test_batch_get_sends_100_keys_at_most(void **state) {
  test_peer *p = peer_start(NULL, 0, echo_keys);
  ddb_client *c = client_for(p, 3, 1, 500, NULL, NULL);
  json_t *keys = json_array();
  for (int i = 0; i < 150; i++) {
    char k[16];
    snprintf(k, sizeof k, "k%03d", i);
    json_array_append_new(keys, json_pack("{s:{s:s}}", "pk", "S", k));
  }
  json_t *items = NULL;
  menu_status st = ddb_batch_get_item(c, "t", keys, false, ddb_deadline_in(5000), &items, NULL);
  assert_int_equal(st.code, GRPC_STATUS_OK);
  assert_int_equal(json_array_size(items), 150);
  assert_int_equal(peer_count(p), 2);
  json_decref(items);
  json_decref(keys);
  ddb_client_destroy(c);
  peer_stop(p);
}

static void test_describe_missing_table_is_null_not_error(void **state) {
  peer_reply script[] = {{400, ERR("ResourceNotFoundException")}};
  test_peer *p = peer_start(script, 1, NULL);
  ddb_client *c = client_for(p, 3, 1, 500, NULL, NULL);
  json_t *t = (json_t *)1;
  menu_status st = ddb_describe_table(c, "nope", ddb_deadline_in(5000), &t, NULL);
  assert_int_equal(st.code, GRPC_STATUS_OK);
  assert_null(t);
  assert_int_equal(peer_count(p), 1);
  ddb_client_destroy(c);
  peer_stop(p);
}

static void test_connections_are_reused(void **state) {
  peer_reply script[] = {{200, ITEM}};
  test_peer *p = peer_start(script, 1, NULL);
  ddb_client *c = client_for(p, 3, 1, 500, NULL, NULL);
  for (int i = 0; i < 10; i++) {
    json_t *item = NULL;
    assert_int_equal(get_item(c, 5000, &item, NULL).code, GRPC_STATUS_OK);
    json_decref(item);
  }
  assert_int_equal(peer_count(p), 10);
  assert_int_equal(p->n_conns, 1);
  ddb_client_destroy(c);
  peer_stop(p);
}

static void test_metrics_record_retries_errors_and_capacity(void **state) {
  peer_reply script[] = {
      {400, ERR("ThrottlingException")},
      {200, "{\"Item\":{},\"ConsumedCapacity\":{\"TableName\":\"t\",\"CapacityUnits\":0.5}}"}};
  test_peer *p = peer_start(script, 2, NULL);
  metrics_registry *m = metrics_registry_create();
  ddb_client *c = client_for(p, 3, 1, 500, NULL, m);
  json_t *item = NULL;
  assert_int_equal(get_item(c, 5000, &item, NULL).code, GRPC_STATUS_OK);
  json_decref(item);
  char *text = metrics_render(m);
  assert_non_null(
      strstr(text, "menu_dynamodb_retries_total{operation=\"GetItem\",reason=\"throttling\"} 1"));
  assert_non_null(strstr(
      text, "menu_dynamodb_errors_total{operation=\"GetItem\",type=\"ThrottlingException\"} 1"));
  assert_non_null(strstr(
      text, "menu_dynamodb_consumed_capacity_units_total{operation=\"GetItem\",table=\"t\"} 0.5"));
  assert_non_null(
      strstr(text, "menu_dynamodb_request_duration_seconds_count{operation=\"GetItem\"} 1"));
  assert_non_null(
      strstr(text, "menu_dynamodb_requests_total{operation=\"GetItem\",outcome=\"OK\"} 1"));
  free(text);
  ddb_client_destroy(c);
  metrics_registry_destroy(m);
  peer_stop(p);
}

static void test_backoff_is_capped_full_jitter(void **state) {
  assert_int_equal(ddb_backoff_ms(1, 25, 2000, 0), 0);
  assert_int_equal(ddb_backoff_ms(1, 25, 2000, UINT32_MAX), 25);
  assert_int_equal(ddb_backoff_ms(3, 25, 2000, UINT32_MAX), 100);
  assert_int_equal(ddb_backoff_ms(30, 25, 2000, UINT32_MAX), 2000);
  for (uint32_t r = 0; r < 1000; r++) assert_true(ddb_backoff_ms(4, 25, 2000, r * 4294967u) <= 200);
}

static void test_classification(void **state) {
  assert_int_equal(ddb_retry_classify(HTTP_OK, 400, "ProvisionedThroughputExceededException"),
                   DDB_RETRY_THROTTLE);
  assert_int_equal(ddb_retry_classify(HTTP_OK, 400, "RequestLimitExceeded"), DDB_RETRY_THROTTLE);
  assert_int_equal(ddb_retry_classify(HTTP_OK, 400, "TooManyRequestsException"),
                   DDB_RETRY_THROTTLE);
  assert_int_equal(ddb_retry_classify(HTTP_OK, 400, "LimitExceededException"), DDB_RETRY_THROTTLE);
  assert_int_equal(ddb_retry_classify(HTTP_OK, 400, "Throttling"), DDB_RETRY_THROTTLE);
  assert_int_equal(ddb_retry_classify(HTTP_OK, 400, "ConditionalCheckFailedException"),
                   DDB_RETRY_NO);
  assert_int_equal(ddb_retry_classify(HTTP_OK, 400, "ValidationException"), DDB_RETRY_NO);
  assert_int_equal(ddb_retry_classify(HTTP_OK, 502, ""), DDB_RETRY_SERVER);
  assert_int_equal(ddb_retry_classify(HTTP_OK, 501, ""), DDB_RETRY_NO);
  assert_int_equal(ddb_retry_classify(HTTP_ERR_CONNECT, 0, ""), DDB_RETRY_CONNECT);
  assert_int_equal(ddb_retry_classify(HTTP_ERR_TIMEOUT, 0, ""), DDB_RETRY_TIMEOUT);
}

static void test_endpoint_configuration(void **state) {
  config cfg = {0};
  ddb_config d;
  unsetenv("DYNAMODB_ENDPOINT");
  setenv("AWS_REGION", "eu-west-3", 1);
  ddb_config_load(&cfg, &d);
  assert_string_equal(d.endpoint, "http://127.0.0.1:8000");
  assert_true(d.local);
  setenv("DYNAMODB_ENDPOINT", "aws", 1);
  ddb_config_load(&cfg, &d);
  assert_string_equal(d.endpoint, "https://dynamodb.eu-west-3.amazonaws.com");
  assert_false(d.local);
  setenv("DYNAMODB_ENDPOINT", "", 1);
  ddb_config_load(&cfg, &d);
  assert_string_equal(d.endpoint, "https://dynamodb.eu-west-3.amazonaws.com");
  assert_int_equal(cfg.n_errors, 0);
  setenv("DYNAMODB_ENDPOINT", "ftp://x", 1);
  ddb_config_load(&cfg, &d);
  assert_true(cfg.n_errors > 0);
  unsetenv("DYNAMODB_ENDPOINT");
  unsetenv("AWS_REGION");
}

int main(void) {
  log_init("test", "error");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_retries_throttling_and_500_then_succeeds),
      cmocka_unit_test(test_conditional_check_failed_is_not_retried),
      cmocka_unit_test(test_validation_error_is_not_retried),
      cmocka_unit_test(test_still_throttled_after_attempts_is_resource_exhausted),
      cmocka_unit_test(test_backoff_never_passes_the_deadline),
      cmocka_unit_test(test_slow_answer_is_cut_at_the_deadline),
      cmocka_unit_test(test_unreachable_is_unavailable_after_retries),
      cmocka_unit_test(test_dropped_connection_is_retried),
      cmocka_unit_test(test_bad_crc32_is_retried_good_one_accepted),
      cmocka_unit_test(test_retry_quota_stops_retry_storms),
      cmocka_unit_test(test_signature_matches_what_is_sent),
      cmocka_unit_test(test_batch_get_retries_unprocessed_keys),
      cmocka_unit_test(test_batch_get_rounds_take_retry_quota),
      cmocka_unit_test(test_batch_get_never_processed_is_resource_exhausted),
      cmocka_unit_test(test_batch_get_sends_100_keys_at_most),
      cmocka_unit_test(test_describe_missing_table_is_null_not_error),
      cmocka_unit_test(test_connections_are_reused),
      cmocka_unit_test(test_metrics_record_retries_errors_and_capacity),
      cmocka_unit_test(test_backoff_is_capped_full_jitter),
      cmocka_unit_test(test_classification),
      cmocka_unit_test(test_endpoint_configuration),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
