/* SigV4 signer against every case of the official AWS test suite, vendored in
 * tests/data/aws-sig-v4-test-suite (with its LICENSE and NOTICE) and read at test time from
 * there: found from the working directory (the checkout root) or from this binary's location,
 * so a clone anywhere passes; SIGV4_TEST_SUITE_DIR overrides it. Each case checks
 * the canonical request (.creq), string to sign (.sts), Authorization (.authz) and that the
 * headers the signer asks to add appear in the signed request (.sreq). No case is skipped:
 * the normalize-path cases run as is (DynamoDB, like every non-S3 service, normalises paths), and
 * the post-sts-token cases run with the token given as a credential (signed before, unsigned
 * after). */
// LIBS: dynamo
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "services/dynamo-svc/ddb/sigv4.h"

#define SUITE_REL "tests/data/aws-sig-v4-test-suite"
#define MAX_HEADERS 32

static char suite_dir[PATH_MAX];

/* snprintf that fails the test instead of truncating a path. */
#define FMT(buf, ...)                                   \
  do {                                                  \
    int n_ = snprintf((buf), sizeof(buf), __VA_ARGS__); \
    if (n_ < 0 || (size_t)n_ >= sizeof(buf)) {          \
      fprintf(stderr, "path too long\n");               \
      abort();                                          \
    }                                                   \
  } while (0)

static bool is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The env var, else tests/data/... from the cwd (the checkout root), else from the binary
 * (build/tests/test_sigv4 -> checkout root is two levels up). */
static bool find_suite(void) {
  const char *env = getenv("SIGV4_TEST_SUITE_DIR");
  if (env && *env) {
    FMT(suite_dir, "%s", env);
    return is_dir(suite_dir);
  }
  FMT(suite_dir, SUITE_REL);
  if (is_dir(suite_dir)) return true;
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    for (int up = 0; up < 4; up++) {
      char *slash = strrchr(exe, '/');
      if (!slash) break;
      *slash = '\0';
      FMT(suite_dir, "%s/" SUITE_REL, exe);
      if (is_dir(suite_dir)) return true;
    }
  }
  return false;
}

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  size_t got = fread(buf, 1, (size_t)n, f);
  buf[got] = '\0';
  fclose(f);
  return buf;
}

/* A parsed .req: request line, headers (folded lines kept with their '\n'), body. */
typedef struct {
  char *text; /* the file, cut up in place */
  char *method, *path, *query;
  sigv4_header headers[MAX_HEADERS];
  char *folded[MAX_HEADERS]; /* heap copies for folded values */
  size_t n_headers;
  char *body;
} parsed_req;

static void parse_req(const char *file, parsed_req *r) {
  memset(r, 0, sizeof *r);
  r->text = read_text(file);
  assert_non_null(r->text);
  char *line_end = strchr(r->text, '\n');
  char *rest = line_end ? line_end + 1 : r->text + strlen(r->text);
  if (line_end) *line_end = '\0';
  /* "METHOD target HTTP/1.1": the target may contain spaces (normalize-path/get-space). */
  char *sp = strchr(r->text, ' ');
  assert_non_null(sp);
  *sp = '\0';
  r->method = r->text;
  char *target = sp + 1;
  char *ver = strstr(target, " HTTP/");
  assert_non_null(ver);
  *ver = '\0';
  char *q = strchr(target, '?');
  if (q) {
    *q = '\0';
    r->query = q + 1;
  }
  r->path = target;
  while (*rest) {
    char *eol = strchr(rest, '\n');
    char *next = eol ? eol + 1 : rest + strlen(rest);
    if (eol) *eol = '\0';
    if (*rest == '\0') { /* blank line: the body follows */
      r->body = next;
      break;
    }
    if ((*rest == ' ' || *rest == '\t') && r->n_headers) {
      size_t i = r->n_headers - 1;
      const char *old = r->headers[i].value;
      char *joined = malloc(strlen(old) + strlen(rest) + 2);
      sprintf(joined, "%s\n%s", old, rest);
      free(r->folded[i]);
      r->folded[i] = joined;
      r->headers[i].value = joined;
    } else {
      char *colon = strchr(rest, ':');
      assert_non_null(colon);
      assert_true(r->n_headers < MAX_HEADERS);
      *colon = '\0';
      r->headers[r->n_headers].name = rest;
      r->headers[r->n_headers].value = colon + 1;
      r->n_headers++;
    }
    rest = next;
  }
}

static void free_req(parsed_req *r) {
  for (size_t i = 0; i < MAX_HEADERS; i++) free(r->folded[i]);
  free(r->text);
}

static void remove_header(parsed_req *r, const char *name) {
  for (size_t i = 0; i < r->n_headers; i++) {
    if (strcasecmp(r->headers[i].name, name)) continue;
    free(r->folded[i]);
    memmove(&r->headers[i], &r->headers[i + 1], (r->n_headers - i - 1) * sizeof r->headers[0]);
    memmove(&r->folded[i], &r->folded[i + 1], (r->n_headers - i - 1) * sizeof r->folded[0]);
    r->folded[r->n_headers - 1] = NULL;
    r->n_headers--;
    i--;
  }
}

static const char *header_value(const parsed_req *r, const char *name) {
  for (size_t i = 0; i < r->n_headers; i++)
    if (!strcasecmp(r->headers[i].name, name)) return r->headers[i].value;
  return NULL;
}

typedef struct {
  char name[128];
  char dir[PATH_MAX];
  bool sts_token; /* under post-sts-token: the token comes from the credentials */
} suite_case;

static char *case_file(const suite_case *c, const char *ext) {
  char path[PATH_MAX + 200];
  FMT(path, "%s/%s.%s", c->dir, c->name, ext);
  char *t = read_text(path);
  if (!t) fail_msg("cannot read %s: %s", path, strerror(errno));
  return t;
}

/* Signs r with the suite's credentials and checks .creq, .sts, .authz and .sreq. */
static void check_signature(const suite_case *c, parsed_req *r, const char *token,
                            bool token_unsigned, const char *amz_date) {
  sigv4_request req = {
      .method = r->method,
      .path = r->path,
      .query = r->query,
      .headers = r->headers,
      .n_headers = r->n_headers,
      .payload = r->body,
      .payload_len = r->body ? strlen(r->body) : 0,
  };
  sigv4_params p = {
      .access_key = "AKIDEXAMPLE",
      .secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
      .session_token = token,
      .region = "us-east-1",
      .service = "service",
      .amz_date = amz_date,
      .token_unsigned = token_unsigned,
  };
  sigv4_result res;
  assert_int_equal(sigv4_sign(&req, &p, &res), 0);
  char *creq = case_file(c, "creq"), *sts = case_file(c, "sts"), *authz = case_file(c, "authz");
  char *sreq = case_file(c, "sreq");
  assert_string_equal(res.canonical_request, creq);
  assert_string_equal(res.string_to_sign, sts);
  assert_string_equal(res.authorization, authz);
  /* Every header the signer adds must be in the signed request as the suite shows it. */
  for (size_t i = 0; i < res.n_add; i++) {
    char line[4096];
    FMT(line, "%s:%s", res.add[i].name, res.add[i].value);
    char spaced[4096];
    FMT(spaced, "%s: %s", res.add[i].name, res.add[i].value);
    if (!strstr(sreq, line) && !strstr(sreq, spaced))
      fail_msg("%s: added header not in .sreq: %s", c->name, line);
  }
  sigv4_result_free(&res);
  /* Through a key cache: the same signature when the key is derived and when it is reused. */
  sigv4_key_cache *cache = sigv4_key_cache_create();
  for (int i = 0; i < 2; i++) {
    assert_int_equal(sigv4_sign_cached(cache, &req, &p, &res), 0);
    assert_string_equal(res.authorization, authz);
    sigv4_result_free(&res);
  }
  sigv4_key_cache_destroy(cache);
  free(creq);
  free(sts);
  free(authz);
  free(sreq);
}

static void test_suite_case(void **state) {
  const suite_case *c = *state;
  char path[PATH_MAX + 200];
  FMT(path, "%s/%s.req", c->dir, c->name);
  parsed_req r;
  parse_req(path, &r);
  char amz_date[17];
  const char *d = header_value(&r, "x-amz-date");
  assert_non_null(d);
  FMT(amz_date, "%s", d);

  if (!c->sts_token) {
    /* As the suite gives it, then with X-Amz-Date left for the signer to add. */
    check_signature(c, &r, NULL, false, amz_date);
    remove_header(&r, "x-amz-date");
    check_signature(c, &r, NULL, false, amz_date);
  } else {
    char *readme_path = NULL;
    if (asprintf(&readme_path, "%s/../readme.txt", c->dir) < 0) fail();
    const char *in_req = header_value(&r, "x-amz-security-token");
    char *token = NULL;
    if (in_req) {
      token = strdup(in_req);
    } else { /* header-after: the token is the last line of the folder's readme */
      char *readme = read_text(readme_path);
      assert_non_null(readme);
      char *end = readme + strlen(readme);
      while (end > readme && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ')) *--end = 0;
      char *last = strrchr(readme, '\n');
      token = strdup(last ? last + 1 : readme);
      free(readme);
    }
    free(readme_path);
    if (in_req) {
      /* header-before: signed as given, and signed the same when the token is a credential. */
      check_signature(c, &r, NULL, false, amz_date);
      remove_header(&r, "x-amz-security-token");
      check_signature(c, &r, token, false, amz_date);
    } else {
      check_signature(c, &r, token, true, amz_date);
    }
    free(token);
  }
  free_req(&r);
}

/* Collects every folder holding <name>.req, recursively. */
static void collect(const char *dir, suite_case **cases, size_t *n, size_t *cap) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char sub[PATH_MAX];
    FMT(sub, "%s/%s", dir, e->d_name);
    if (!is_dir(sub)) continue;
    char req[PATH_MAX + 300];
    FMT(req, "%s/%s.req", sub, e->d_name);
    if (access(req, R_OK) == 0) {
      if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 32;
        *cases = realloc(*cases, *cap * sizeof **cases);
      }
      suite_case *c = &(*cases)[(*n)++];
      memset(c, 0, sizeof *c);
      FMT(c->name, "%s", e->d_name);
      FMT(c->dir, "%s", sub);
      c->sts_token = strstr(sub, "/post-sts-token/") != NULL;
    }
    collect(sub, cases, n, cap);
  }
  closedir(d);
}

static int case_cmp(const void *a, const void *b) {
  return strcmp(((const suite_case *)a)->dir, ((const suite_case *)b)->dir);
}

/* The DynamoDB shape: POST / with a JSON body, host with a port, token signed. */
static void test_dynamodb_request_signs_token_and_host_port(void **state) {
  (void)state;
  const char *body = "{\"TableName\":\"t\"}";
  sigv4_header hs[] = {
      {"Host", "127.0.0.1:8000"},
      {"Content-Type", "application/x-amz-json-1.0"},
      {"X-Amz-Target", "DynamoDB_20120810.DescribeTable"},
  };
  sigv4_request req = {"POST", "/", NULL, hs, 3, body, strlen(body)};
  sigv4_params p = {"AK", "SK", "TOKEN", "eu-west-1", "dynamodb", "20240102T030405Z", false};
  sigv4_result r;
  assert_int_equal(sigv4_sign(&req, &p, &r), 0);
  char hash[65];
  sigv4_sha256_hex(body, strlen(body), hash);
  char expect[1024];
  snprintf(expect, sizeof expect,
           "POST\n/\n\ncontent-type:application/x-amz-json-1.0\nhost:127.0.0.1:8000\n"
           "x-amz-date:20240102T030405Z\nx-amz-security-token:TOKEN\n"
           "x-amz-target:DynamoDB_20120810.DescribeTable\n\n"
           "content-type;host;x-amz-date;x-amz-security-token;x-amz-target\n%s",
           hash);
  assert_string_equal(r.canonical_request, expect);
  assert_non_null(
      strstr(r.authorization, "Credential=AK/20240102/eu-west-1/dynamodb/aws4_request"));
  assert_int_equal(r.n_add, 3);
  assert_string_equal(r.add[0].name, "X-Amz-Date");
  assert_string_equal(r.add[1].name, "X-Amz-Security-Token");
  assert_string_equal(r.add[1].value, "TOKEN");
  assert_string_equal(r.add[2].name, "Authorization");
  sigv4_result_free(&r);
  /* Without a token nothing about it is signed or added. */
  p.session_token = NULL;
  assert_int_equal(sigv4_sign(&req, &p, &r), 0);
  assert_null(strstr(r.canonical_request, "security-token"));
  assert_int_equal(r.n_add, 2);
  sigv4_result_free(&r);
}

/* One cache across a new day, rotated credentials and another region signs exactly as
 * signing without a cache does: the cached key is replaced, never reused for other inputs. */
static void test_key_cache_follows_day_secret_and_region(void **state) {
  (void)state;
  sigv4_header hs[] = {{"Host", "dynamodb.eu-west-1.amazonaws.com"}};
  sigv4_request req = {"POST", "/", NULL, hs, 1, "{}", 2};
  const sigv4_params steps[] = {
      {"AK", "SK1", NULL, "eu-west-1", "dynamodb", "20240102T235959Z", false},
      {"AK", "SK1", NULL, "eu-west-1", "dynamodb", "20240102T235959Z", false},
      {"AK", "SK1", NULL, "eu-west-1", "dynamodb", "20240103T000000Z", false},
      {"AK2", "SK2", "T", "eu-west-1", "dynamodb", "20240103T000001Z", false},
      {"AK2", "SK2", "T", "us-east-1", "dynamodb", "20240103T000002Z", false},
      {"AK", "SK1", NULL, "eu-west-1", "dynamodb", "20240102T235959Z", false},
  };
  sigv4_key_cache *cache = sigv4_key_cache_create();
  for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
    sigv4_result plain, cached;
    assert_int_equal(sigv4_sign(&req, &steps[i], &plain), 0);
    assert_int_equal(sigv4_sign_cached(cache, &req, &steps[i], &cached), 0);
    assert_string_equal(cached.authorization, plain.authorization);
    sigv4_result_free(&plain);
    sigv4_result_free(&cached);
  }
  sigv4_key_cache_destroy(cache);
}

static void test_rejects_missing_arguments(void **state) {
  (void)state;
  sigv4_request req = {"GET", "/", NULL, NULL, 0, NULL, 0};
  sigv4_params p = {"AK", "SK", NULL, "us-east-1", "dynamodb", "2024", false};
  sigv4_result r;
  assert_int_equal(sigv4_sign(&req, &p, &r), -1); /* malformed date */
  p.amz_date = "20240102T030405Z";
  p.secret_key = NULL;
  assert_int_equal(sigv4_sign(&req, &p, &r), -1);
}

int main(void) {
  if (!find_suite()) {
    fprintf(stderr, "SigV4 test suite not found (set SIGV4_TEST_SUITE_DIR; tried %s)\n", suite_dir);
    return 1;
  }
  suite_case *cases = NULL;
  size_t n = 0, cap = 0;
  collect(suite_dir, &cases, &n, &cap);
  qsort(cases, n, sizeof *cases, case_cmp);
  /* The 2015 suite has 31 cases; fewer means the folder is incomplete, not that we pass. */
  if (n < 31) {
    fprintf(stderr, "SigV4 suite in %s has only %zu cases, expected 31\n", suite_dir, n);
    return 1;
  }
  struct CMUnitTest *tests = calloc(n, sizeof *tests);
  for (size_t i = 0; i < n; i++) {
    tests[i].name = cases[i].name;
    tests[i].test_func = test_suite_case;
    tests[i].initial_state = &cases[i];
  }
  int failed = _cmocka_run_group_tests("sigv4_suite", tests, n, NULL, NULL);
  const struct CMUnitTest own[] = {
      cmocka_unit_test(test_dynamodb_request_signs_token_and_host_port),
      cmocka_unit_test(test_rejects_missing_arguments),
      cmocka_unit_test(test_key_cache_follows_day_secret_and_region),
  };
  failed += cmocka_run_group_tests_name("sigv4", own, NULL, NULL);
  free(tests);
  free(cases);
  return failed ? 1 : 0;
}
