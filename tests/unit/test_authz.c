/* Authorization policies: parsing (invalid policies refused with the field named) and the
 * decision for peers with and without TLS and client certificates, and the file reload. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/authz.h"

static const char *POLICY =
    "{\"name\":\"menu\","
    " \"deny_rules\":[{\"name\":\"no-secret\",\"request\":{\"paths\":[\"*/Secret\"]}}],"
    " \"allow_rules\":["
    "  {\"name\":\"health\",\"request\":{\"paths\":[\"/grpc.health.v1.Health/*\"]}},"
    "  {\"name\":\"gateway-reads\",\"source\":{\"principals\":[\"spiffe://menu/gateway\"]},"
    "   \"request\":{\"paths\":[\"/menu.v1.CategoryService/Get*\","
    "                           \"/menu.v1.CategoryService/List*\"]}},"
    "  {\"name\":\"admins\",\"source\":{\"principals\":[\"spiffe://menu/admin/*\"]}},"
    "  {\"name\":\"no-cert\",\"source\":{\"principals\":[\"\"]},"
    "   \"request\":{\"paths\":[\"/menu.v1.Open/Call\"]}},"
    "  {\"name\":\"tool\",\"source\":{\"principals\":[\"*.tools.example\"]},"
    "   \"request\":{\"paths\":[\"/menu.v1.Tool/*\"],"
    "     \"headers\":[{\"key\":\"X-Tool\",\"values\":[\"v2*\"]}]}}"
    " ]}";

static authz_peer peer_uri(const char *uri) {
  static const char *uris[1];
  uris[0] = uri;
  authz_peer p = {.tls = true, .has_cert = true, .uris = uris, .n_uris = 1, .principal = uri};
  return p;
}

static void test_decisions(void **state) {
  char *err = NULL;
  authz_policy *p = authz_policy_parse(POLICY, &err);
  assert_non_null(p);
  assert_null(err);
  assert_string_equal(authz_policy_name(p), "menu");
  const char *rule;

  authz_peer plain = {0};
  assert_true(authz_policy_check(p, &plain, "/grpc.health.v1.Health/Check", NULL, &rule));
  assert_string_equal(rule, "health");
  /* Without TLS no principal matches, not even the empty one. */
  assert_false(authz_policy_check(p, &plain, "/menu.v1.CategoryService/GetCategory", NULL, &rule));
  assert_string_equal(rule, "");
  assert_false(authz_policy_check(p, &plain, "/menu.v1.Open/Call", NULL, NULL));

  authz_peer gw = peer_uri("spiffe://menu/gateway");
  assert_true(authz_policy_check(p, &gw, "/menu.v1.CategoryService/GetCategory", NULL, &rule));
  assert_string_equal(rule, "gateway-reads");
  assert_true(authz_policy_check(p, &gw, "/menu.v1.CategoryService/ListCategories", NULL, NULL));
  assert_false(authz_policy_check(p, &gw, "/menu.v1.CategoryService/CreateCategory", NULL, NULL));
  assert_false(authz_policy_check(p, &gw, "/menu.v1.Open/Call", NULL, NULL));

  authz_peer admin = peer_uri("spiffe://menu/admin/alice");
  assert_true(
      authz_policy_check(p, &admin, "/menu.v1.CategoryService/CreateCategory", NULL, &rule));
  assert_string_equal(rule, "admins");
  /* Deny rules win over allow rules. */
  assert_false(authz_policy_check(p, &admin, "/menu.v1.CategoryService/Secret", NULL, &rule));
  assert_string_equal(rule, "no-secret");
  /* A prefix is a prefix: "spiffe://menu/admin" alone is not under "spiffe://menu/admin/". */
  authz_peer almost = peer_uri("spiffe://menu/admin");
  assert_false(
      authz_policy_check(p, &almost, "/menu.v1.CategoryService/CreateCategory", NULL, NULL));

  /* TLS without a client certificate: only the empty principal matches. */
  authz_peer anon = {.tls = true};
  assert_true(authz_policy_check(p, &anon, "/menu.v1.Open/Call", NULL, &rule));
  assert_string_equal(rule, "no-cert");
  assert_false(authz_policy_check(p, &anon, "/menu.v1.CategoryService/GetCategory", NULL, NULL));

  /* DNS SANs are matched when no URI SAN matches; suffix match; headers ANDed. */
  const char *dns[] = {"build.tools.example"};
  authz_peer tool = {.tls = true, .has_cert = true, .dns = dns, .n_dns = 1};
  grpc_metadata md_v2 = {.key = grpc_slice_from_static_string("x-tool"),
                         .value = grpc_slice_from_static_string("v2.1")};
  grpc_metadata_array with = {.count = 1, .capacity = 1, .metadata = &md_v2};
  grpc_metadata md_v1 = {.key = grpc_slice_from_static_string("x-tool"),
                         .value = grpc_slice_from_static_string("v1")};
  grpc_metadata_array old = {.count = 1, .capacity = 1, .metadata = &md_v1};
  assert_true(authz_policy_check(p, &tool, "/menu.v1.Tool/Run", &with, &rule));
  assert_string_equal(rule, "tool");
  assert_false(authz_policy_check(p, &tool, "/menu.v1.Tool/Run", &old, NULL));
  assert_false(authz_policy_check(p, &tool, "/menu.v1.Tool/Run", NULL, NULL));
  /* A long value is matched whole, never cut to fit a buffer. */
  char long_value[3000];
  memset(long_value, 'a', sizeof long_value);
  memcpy(long_value, "v2", 2);
  grpc_metadata md_long = {.key = grpc_slice_from_static_string("x-tool"),
                           .value = grpc_slice_from_static_buffer(long_value, sizeof long_value)};
  grpc_metadata_array longer = {.count = 1, .capacity = 1, .metadata = &md_long};
  assert_true(authz_policy_check(p, &tool, "/menu.v1.Tool/Run", &longer, NULL));

  /* The subject is the last resort. */
  authz_peer subj = {.tls = true, .has_cert = true, .subject = "CN=tools.example,O=x"};
  assert_false(authz_policy_check(p, &subj, "/menu.v1.Tool/Run", &with, NULL));
  authz_peer subj2 = {.tls = true, .has_cert = true, .subject = "ops.tools.example"};
  assert_true(authz_policy_check(p, &subj2, "/menu.v1.Tool/Run", &with, NULL));
  authz_policy_free(p);
}

static void test_empty_rule_matches_everything(void **state) {
  char *err = NULL;
  authz_policy *p = authz_policy_parse(
      "{\"name\":\"x\",\"allow_rules\":[{\"name\":\"all\"}],"
      "\"deny_rules\":[{\"name\":\"no-deletes\",\"request\":{\"paths\":[\"*/Delete\"]}},"
      "{\"name\":\"no-debug\",\"request\":{\"headers\":"
      "[{\"key\":\"x-mode\",\"values\":[\"*debug\"]}]}}]}",
      &err);
  assert_non_null(p);
  authz_peer plain = {0};
  const char *rule;
  assert_true(authz_policy_check(p, &plain, "/a.B/Get", NULL, &rule));
  assert_string_equal(rule, "all");
  assert_false(authz_policy_check(p, &plain, "/a.B/Delete", NULL, &rule));
  assert_string_equal(rule, "no-deletes");
  /* Padding a header past any buffer does not slip it past a suffix deny rule. */
  char padded[5000];
  memset(padded, 'x', sizeof padded);
  memcpy(padded + sizeof padded - 5, "debug", 5);
  grpc_metadata md = {.key = grpc_slice_from_static_string("x-mode"),
                      .value = grpc_slice_from_static_buffer(padded, sizeof padded)};
  grpc_metadata_array arr = {.count = 1, .capacity = 1, .metadata = &md};
  assert_false(authz_policy_check(p, &plain, "/a.B/Get", &arr, &rule));
  assert_string_equal(rule, "no-debug");
  authz_policy_free(p);
}

static void expect_invalid(const char *json, const char *needle) {
  char *err = NULL;
  authz_policy *p = authz_policy_parse(json, &err);
  assert_null(p);
  assert_non_null(err);
  if (!strstr(err, needle)) fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
  free(err);
}

static void test_invalid_policies(void **state) {
  expect_invalid("not json", "not JSON");
  expect_invalid("[]", "object");
  expect_invalid("{\"allow_rules\":[]}", "name");
  expect_invalid("{\"name\":\"x\"}", "allow_rules");
  expect_invalid("{\"name\":\"x\",\"allow_rules\":[{}]}", "allow_rules[0].name");
  expect_invalid("{\"name\":\"x\",\"allow_rules\":[],\"audit\":1}", "\"audit\"");
  expect_invalid("{\"name\":\"x\",\"allow_rules\":[{\"name\":\"a\",\"source\":{\"ips\":[]}}]}",
                 "allow_rules[0].source: unknown field \"ips\"");
  expect_invalid("{\"name\":\"x\",\"allow_rules\":[{\"name\":\"a\",\"request\":{\"paths\":[1]}}]}",
                 "allow_rules[0].request.paths[0]");
  expect_invalid("{\"name\":\"x\",\"allow_rules\":[{\"name\":\"a\"},{\"name\":\"a\"}]}",
                 "used twice");
  expect_invalid(
      "{\"name\":\"x\",\"allow_rules\":[{\"name\":\"a\",\"request\":{\"headers\":"
      "[{\"key\":\":path\",\"values\":[\"x\"]}]}}]}",
      "cannot be matched");
  expect_invalid("{\"name\":\"x\",\"allow_rules\":[],\"deny_rules\":{}}", "deny_rules");
}

static void write_file(const char *path, const char *text) {
  char tmp[300];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  assert_int_equal(rename(tmp, path), 0); /* as a ConfigMap update swaps the file */
}

static void test_reload(void **state) {
  char dir[] = "/tmp/authz-test-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[300];
  snprintf(path, sizeof path, "%s/policy.json", dir);
  char *err = NULL;
  assert_null(authz_load(path, 20, &err)); /* missing file: refuse to start */
  assert_non_null(strstr(err, "cannot read"));
  free(err);
  write_file(path,
             "{\"name\":\"v1\",\"allow_rules\":[{\"name\":\"gets\","
             "\"request\":{\"paths\":[\"*/Get\"]}}]}");
  authz *a = authz_load(path, 20, &err);
  assert_non_null(a);
  assert_null(err);
  authz_watch_start(a);
  authz_peer plain = {0};
  char rule[64];
  assert_true(authz_check(a, &plain, "/a.B/Get", NULL, rule, sizeof rule));
  assert_false(authz_check(a, &plain, "/a.B/Put", NULL, rule, sizeof rule));

  write_file(path,
             "{\"name\":\"v2\",\"allow_rules\":[{\"name\":\"puts\","
             "\"request\":{\"paths\":[\"*/Put\"]}}]}");
  for (int i = 0; i < 200 && authz_reloads(a) < 2; i++) usleep(10000);
  assert_int_equal(authz_reloads(a), 2);
  assert_true(authz_check(a, &plain, "/a.B/Put", NULL, rule, sizeof rule));
  assert_string_equal(rule, "puts");
  assert_false(authz_check(a, &plain, "/a.B/Get", NULL, rule, sizeof rule));

  /* A broken file keeps the last good policy. */
  write_file(path, "{\"name\":\"v3\"");
  for (int i = 0; i < 200 && authz_reload_failures(a) < 1; i++) usleep(10000);
  assert_int_equal(authz_reload_failures(a), 1);
  assert_true(authz_check(a, &plain, "/a.B/Put", NULL, rule, sizeof rule));
  authz_destroy(a);
  unlink(path);
  rmdir(dir);
}

/* The policy served first is the one read at load time; a change made between the load and the
 * watcher's start is still picked up, and a never-watched authz is destroyed cleanly. */
static void test_change_before_watch_start(void **state) {
  (void)state;
  char dir[] = "/tmp/authz-test-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[300];
  snprintf(path, sizeof path, "%s/policy.json", dir);
  write_file(path,
             "{\"name\":\"v1\",\"allow_rules\":[{\"name\":\"gets\","
             "\"request\":{\"paths\":[\"*/Get\"]}}]}");
  char *err = NULL;
  authz *unwatched = authz_load(path, 20, &err);
  assert_non_null(unwatched);
  authz_destroy(unwatched);
  authz *a = authz_load(path, 20, &err);
  assert_non_null(a);
  write_file(path,
             "{\"name\":\"v2\",\"allow_rules\":[{\"name\":\"puts\","
             "\"request\":{\"paths\":[\"*/Put\"]}}]}");
  authz_peer plain = {0};
  char rule[64];
  assert_true(authz_check(a, &plain, "/a.B/Get", NULL, rule, sizeof rule));
  assert_string_equal(rule, "gets");
  authz_watch_start(a);
  for (int i = 0; i < 200 && authz_reloads(a) < 2; i++) usleep(10000);
  assert_int_equal(authz_reloads(a), 2);
  assert_true(authz_check(a, &plain, "/a.B/Put", NULL, rule, sizeof rule));
  assert_false(authz_check(a, &plain, "/a.B/Get", NULL, rule, sizeof rule));
  authz_destroy(a);
  unlink(path);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decisions),
      cmocka_unit_test(test_empty_rule_matches_everything),
      cmocka_unit_test(test_invalid_policies),
      cmocka_unit_test(test_reload),
      cmocka_unit_test(test_change_before_watch_start),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
