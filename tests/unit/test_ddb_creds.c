/* Credentials providers: the environment chain, STS answers (success and ErrorResponse), and
 * IRSA web identity against a fake STS on 127.0.0.1: the token file is re-read on each
 * refresh, keys are cached until shortly before Expiration, a failed refresh keeps keys
 * that still work, and DynamoDB requests carry the session token. */
// LIBS: dynamo
#pragma GCC diagnostic ignored "-Wmissing-field-initializers" /* short reply scripts */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/log.h"
#include "services/dynamo-svc/ddb/creds.h"
#include "services/dynamo-svc/ddb/ddb.h"
#include "test_ddb_peer.h"

static const char *sts_ok_fmt =
    "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
    "<AssumeRoleWithWebIdentityResult><Credentials>"
    "<SessionToken>TOKEN-%d&amp;x</SessionToken><SecretAccessKey>SECRET-%d</SecretAccessKey>"
    "<Expiration>%s</Expiration><AccessKeyId>ASIA%d</AccessKeyId>"
    "</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";

/* Seconds until the Expiration the fake STS hands out; the tests change it. */
static int expires_in = 3600;

static void iso(time_t t, char out[32]) {
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* STS for form posts, DynamoDB (an empty item) for everything else. */
static void fake_aws(test_peer *p, const peer_request *req, int index, peer_reply *out) {
  if (strstr(req->body, "Action=AssumeRoleWithWebIdentity")) {
    if (p->arg) { /* failing STS */
      out->status = 400;
      out->body =
          "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>"
          "<Message>bad &lt;token&gt;</Message></Error></ErrorResponse>";
      return;
    }
    char exp[32];
    iso(time(NULL) + expires_in, exp);
    snprintf(p->scratch[index], sizeof p->scratch[index], sts_ok_fmt, index, index, exp, index);
    out->status = 200;
    out->body = p->scratch[index];
  } else {
    out->status = 200;
    out->body = "{\"Item\":{}}";
  }
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

typedef struct {
  test_peer *peer;
  http_pool *pool;
  creds_provider *prov;
  char token_file[64];
  char sts_url[64];
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  f->peer = peer_start(NULL, 0, fake_aws);
  f->pool = http_pool_create(2);
  snprintf(f->token_file, sizeof f->token_file, "/tmp/ddb-creds-test-XXXXXX");
  int fd = mkstemp(f->token_file);
  close(fd);
  write_file(f->token_file, "jwt-one\n");
  snprintf(f->sts_url, sizeof f->sts_url, "http://127.0.0.1:%d/", f->peer->port);
  creds_web_identity_config wc = {
      "arn:aws:iam::123456789012:role/menu", f->token_file, "test-session", f->sts_url, 300, 0};
  f->prov = creds_web_identity_create(&wc, f->pool);
  expires_in = 3600;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  creds_destroy(f->prov);
  http_pool_destroy(f->pool);
  peer_stop(f->peer);
  unlink(f->token_file);
  free(f);
  return 0;
}

static void test_web_identity_fetches_and_caches(void **state) {
  fixture *f = *state;
  aws_credentials c;
  menu_status st = creds_get(f->prov, ddb_deadline_in(5000), &c);
  assert_int_equal(st.code, GRPC_STATUS_OK);
  assert_string_equal(c.access_key, "ASIA0");
  assert_string_equal(c.secret_key, "SECRET-0");
  assert_string_equal(c.session_token, "TOKEN-0&x");
  assert_true(c.expiration > time(NULL) + 3000);
  const char *body = f->peer->reqs[0].body;
  assert_non_null(strstr(body, "Action=AssumeRoleWithWebIdentity"));
  assert_non_null(strstr(body, "Version=2011-06-15"));
  assert_non_null(strstr(body, "RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fmenu"));
  assert_non_null(strstr(body, "RoleSessionName=test-session"));
  assert_non_null(strstr(body, "WebIdentityToken=jwt-one"));
  /* Cached: no second STS call. */
  assert_int_equal(creds_get(f->prov, ddb_deadline_in(5000), &c).code, GRPC_STATUS_OK);
  assert_int_equal(peer_count(f->peer), 1);
}

static void test_web_identity_refreshes_before_expiry_rereading_the_token(void **state) {
  fixture *f = *state;
  expires_in = 200; /* inside the 300 s refresh window: every get refreshes */
  aws_credentials c;
  assert_int_equal(creds_get(f->prov, ddb_deadline_in(5000), &c).code, GRPC_STATUS_OK);
  assert_string_equal(c.access_key, "ASIA0");
  write_file(f->token_file, "jwt-two\n"); /* kubelet rotated the projected token */
  assert_int_equal(creds_get(f->prov, ddb_deadline_in(5000), &c).code, GRPC_STATUS_OK);
  assert_string_equal(c.access_key, "ASIA1");
  assert_int_equal(peer_count(f->peer), 2);
  assert_non_null(strstr(f->peer->reqs[1].body, "WebIdentityToken=jwt-two"));
}

static void test_failed_refresh_keeps_working_keys(void **state) {
  fixture *f = *state;
  expires_in = 200;
  aws_credentials c;
  assert_int_equal(creds_get(f->prov, ddb_deadline_in(5000), &c).code, GRPC_STATUS_OK);
  f->peer->arg = (void *)1; /* STS starts refusing */
  assert_int_equal(creds_get(f->prov, ddb_deadline_in(5000), &c).code, GRPC_STATUS_OK);
  assert_string_equal(c.access_key, "ASIA0");
  assert_int_equal(peer_count(f->peer), 2);
  /* Once DynamoDB rejects them, they are gone and the STS error surfaces. */
  creds_invalidate(f->prov);
  menu_status st = creds_get(f->prov, ddb_deadline_in(5000), &c);
  assert_int_equal(st.code, GRPC_STATUS_UNAVAILABLE);
  assert_non_null(strstr(st.detail, "InvalidIdentityToken"));
}

static void test_missing_token_file_is_unavailable(void **state) {
  fixture *f = *state;
  unlink(f->token_file);
  aws_credentials c;
  menu_status st = creds_get(f->prov, ddb_deadline_in(5000), &c);
  assert_int_equal(st.code, GRPC_STATUS_UNAVAILABLE);
  assert_non_null(strstr(st.detail, "AWS_WEB_IDENTITY_TOKEN_FILE"));
  assert_int_equal(peer_count(f->peer), 0);
}

/* The whole path: DynamoDB requests are signed with the STS keys and carry the token. */
static void test_dynamodb_requests_use_sts_session(void **state) {
  fixture *f = *state;
  ddb_config cfg = {0};
  snprintf(cfg.endpoint, sizeof cfg.endpoint, "http://127.0.0.1:%d", f->peer->port);
  cfg.region = "eu-west-1";
  cfg.max_attempts = 1;
  cfg.retry_base_ms = 1;
  cfg.retry_max_backoff_ms = 1;
  cfg.connect_timeout_ms = 500;
  cfg.max_idle_connections = 2;
  ddb_client *c = ddb_client_create(&cfg, http_pool_create(2), f->prov, NULL);
  f->prov = NULL; /* the client owns it now */
  json_t *key = json_pack("{s:{s:s}}", "pk", "S", "a");
  ddb_item_op op = {.table = "t", .key = key};
  json_t *item = NULL;
  assert_int_equal(ddb_get_item(c, &op, ddb_deadline_in(5000), &item, NULL).code, GRPC_STATUS_OK);
  json_decref(item);
  json_decref(key);
  assert_int_equal(peer_count(f->peer), 2);
  char v[512];
  assert_string_equal(peer_header(f->peer, 1, "X-Amz-Security-Token", v, sizeof v), "TOKEN-0&x");
  assert_non_null(peer_header(f->peer, 1, "Authorization", v, sizeof v));
  assert_non_null(strstr(v, "Credential=ASIA0/"));
  assert_non_null(strstr(v, "/eu-west-1/dynamodb/aws4_request"));
  ddb_client_destroy(c);
}

static void test_parse_sts_error_and_garbage(void **state) {
  aws_credentials c;
  char err[256];
  assert_int_equal(creds_parse_sts_response("<ErrorResponse><Error><Code>AccessDenied</Code>"
                                            "<Message>no</Message></Error></ErrorResponse>",
                                            &c, err, sizeof err),
                   -1);
  assert_string_equal(err, "AccessDenied: no");
  assert_int_equal(creds_parse_sts_response("<x/>", &c, err, sizeof err), -1);
  assert_int_equal(
      creds_parse_sts_response("<Credentials><AccessKeyId>A</AccessKeyId><SecretAccessKey>S"
                               "</SecretAccessKey><SessionToken>T</SessionToken><Expiration>"
                               "2030-01-02T03:04:05.123Z</Expiration></Credentials>",
                               &c, err, sizeof err),
      0);
  assert_int_equal((long long)c.expiration, 1893553445LL);
}

static void clear_env(void) {
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  unsetenv("AWS_SECRET_ACCESS_KEY_FILE");
  unsetenv("AWS_SESSION_TOKEN");
  unsetenv("AWS_SESSION_TOKEN_FILE");
  unsetenv("AWS_ROLE_ARN");
  unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
}

static void test_chain_from_env(void **state) {
  http_pool *pool = http_pool_create(1);
  config c = {0};
  aws_credentials cr;
  clear_env();
  setenv("AWS_ACCESS_KEY_ID", "AK", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "SK", 1);
  setenv("AWS_SESSION_TOKEN", "ST", 1);
  creds_provider *p = creds_from_env(&c, pool, "us-east-1", false);
  assert_non_null(p);
  assert_string_equal(p->vt->name, "env");
  assert_int_equal(creds_get(p, ddb_deadline_in(100), &cr).code, GRPC_STATUS_OK);
  assert_string_equal(cr.access_key, "AK");
  assert_string_equal(cr.session_token, "ST");
  creds_destroy(p);

  clear_env();
  setenv("AWS_ROLE_ARN", "arn:aws:iam::1:role/r", 1);
  setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/secrets/token", 1);
  p = creds_from_env(&c, pool, "us-east-1", false);
  assert_non_null(p);
  assert_string_equal(p->vt->name, "web-identity");
  creds_destroy(p);

  clear_env();
  p = creds_from_env(&c, pool, "us-east-1", true);
  assert_non_null(p);
  assert_string_equal(p->vt->name, "local-dummy");
  creds_destroy(p);
  assert_int_equal(c.n_errors, 0);

  p = creds_from_env(&c, pool, "us-east-1", false); /* real AWS and nothing configured */
  assert_null(p);
  assert_true(c.n_errors > 0);

  config c2 = {0};
  setenv("AWS_ACCESS_KEY_ID", "AK", 1); /* half a pair */
  assert_null(creds_from_env(&c2, pool, "us-east-1", true));
  assert_true(c2.n_errors > 0);
  clear_env();
  http_pool_destroy(pool);
}

int main(void) {
  log_init("test", "error");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_web_identity_fetches_and_caches, setup, teardown),
      cmocka_unit_test_setup_teardown(test_web_identity_refreshes_before_expiry_rereading_the_token,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_failed_refresh_keeps_working_keys, setup, teardown),
      cmocka_unit_test_setup_teardown(test_missing_token_file_is_unavailable, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dynamodb_requests_use_sts_session, setup, teardown),
      cmocka_unit_test(test_parse_sts_error_and_garbage),
      cmocka_unit_test(test_chain_from_env),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
