/* The DynamoDB answer reader against jansson's own json_loadb: for every document, valid or
 * not, both give the same tree or both refuse it (a wrong accept would hand a damaged answer
 * to the item mapping; a wrong refusal would retry a good one). */
// LIBS: dynamo
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "services/dynamo-svc/ddb/json_parse.h"

/* A Query answer as DynamoDB and dynalite send it. */
static const char query_answer[] =
    "{\"Count\":2,\"Items\":[{\"update_time\":{\"S\":\"2026-11-29T23:01:02.123456Z\"},"
    "\"version\":{\"N\":\"3\"},\"display_order\":{\"N\":\"-7\"},\"order_key\":{\"S\":"
    "\"2147483641#burgers\"},\"channel\":{\"S\":\"KIOSK\"},\"sk\":{\"S\":\"burgers\"},\"name\":"
    "{\"S\":\"Burgers \\u00e9\\u4e2d\\ud83d\\ude00 \\\"quoted\\\" \\\\ \\/ \\b\\f\\n\\r\\t\"},"
    "\"pk\":{\"S\":\"CHANNEL#KIOSK\"},\"codes\":{\"L\":[{\"S\":\"P1000\"},{\"S\":\"P1001\"}]},"
    "\"flag\":{\"BOOL\":true},\"none\":{\"NULL\":true}},{\"sk\":{\"S\":\"caf\xc3\xa9 \xe4\xb8\xad "
    "\xf0\x9f\x98\x80\"},\"m\":{\"M\":{\"a\":{\"N\":\"1\"},\"b\":{\"L\":[]}}}}],"
    "\"ScannedCount\":2,\"LastEvaluatedKey\":{\"pk\":{\"S\":\"CHANNEL#KIOSK\"},\"sk\":{\"S\":"
    "\"caf\xc3\xa9\"}},\"ConsumedCapacity\":{\"CapacityUnits\":0.5,\"TableName\":\"t\"}}";

static const char *const documents[] = {
    query_answer, "{}", "[]", " \t\r\n{ \"a\" : [ 1 , 2 ] , \"b\" : { } }\n ",
    "[0,-0,12345678901234,-9223372036854775808,9223372036854775807]",
    "[1.5,-1.5e10,1E-5,2e+3,0.0,1e-400,-0.0]", "[true,false,null,\"\"]", "{\"a\":1,\"a\":2}",
    "{\"\\u0041\\n\":\"key with escapes\"}", "[\"\\ud834\\udd1e\"]",
    /* refused by both */
    "", "   ", "1", "\"s\"", "true", "{", "[", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "01",
    "[01]", "[-]", "[1.]", "[.5]", "[1e]", "[+1]", "[9223372036854775808]",
    "[-9223372036854775809]", "[1e999]", "[-1e999]", "[\"\\u0000\"]", "[\"\\ud800\"]",
    "[\"\\ud800x\"]", "[\"\\udc00\"]", "[\"\\ud800\\u0041\"]", "[\"\\x\"]", "[\"\\u12\"]",
    "[\"a\nb\"]", "[\"\xff\"]", "[\"\xc0\xaf\"]", "[\"\xed\xa0\x80\"]", "{\"\xff\":1}", "[1] x",
    "[1]]", "[tru]", "[nul]", "[NaN]", "[Infinity]", "[\"unterminated]", "{\"a\":}", "{,}", "[,1]",
    "{\"a\":1 \"b\":2}"};

static void same_as_jansson(const char *doc, size_t len) {
  json_t *want = json_loadb(doc, len, 0, NULL);
  json_t *got = ddb_json_parse(doc, len);
  if (!want != !got)
    fail_msg("%s: jansson %s, ddb_json_parse %s", doc, want ? "accepts" : "refuses",
             got ? "accepts" : "refuses");
  if (want && !json_equal(want, got)) fail_msg("%s: different trees", doc);
  if (want) { /* same key order too: what json_dumps writes back */
    char *a = json_dumps(want, JSON_COMPACT), *b = json_dumps(got, JSON_COMPACT);
    assert_string_equal(a, b);
    free(a);
    free(b);
  }
  json_decref(want);
  json_decref(got);
}

static void test_documents_as_jansson(void **state) {
  for (size_t i = 0; i < sizeof documents / sizeof *documents; i++)
    same_as_jansson(documents[i], strlen(documents[i]));
  json_t *q = ddb_json_parse(query_answer, strlen(query_answer));
  assert_non_null(q);
  assert_int_equal(json_array_size(json_object_get(q, "Items")), 2);
  json_decref(q);
}

/* Every truncation and every single-byte damage of a real answer: refused or read exactly as
 * jansson reads it. */
static void test_damaged_answers_as_jansson(void **state) {
  size_t n = strlen(query_answer);
  char *doc = malloc(n + 1);
  const char replacements[] = {'"', '\\', '{', '}', '[',  ']',   ',',
                               ':', '0',  'e', ' ', '\0', '\x80'};
  for (size_t i = 0; i <= n; i++) same_as_jansson(query_answer, i);
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < sizeof replacements; k++) {
      memcpy(doc, query_answer, n + 1);
      doc[i] = replacements[k];
      same_as_jansson(doc, n);
    }
  }
  free(doc);
}

/* Nesting: as deep as DynamoDB can go is read; deeper than DDB_JSON_MAX_DEPTH is refused
 * rather than recursing without bound. */
static void test_depth_bounded(void **state) {
  static char doc[2 * (DDB_JSON_MAX_DEPTH + 1) + 1];
  const int depths[] = {64, DDB_JSON_MAX_DEPTH, DDB_JSON_MAX_DEPTH + 1};
  for (size_t i = 0; i < sizeof depths / sizeof *depths; i++) {
    int d = depths[i];
    memset(doc, '[', (size_t)d);
    memset(doc + d, ']', (size_t)d);
    json_t *v = ddb_json_parse(doc, (size_t)(2 * d));
    if (d <= DDB_JSON_MAX_DEPTH)
      assert_non_null(v);
    else
      assert_null(v);
    json_decref(v);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_documents_as_jansson),
      cmocka_unit_test(test_damaged_answers_as_jansson),
      cmocka_unit_test(test_depth_bounded),
  };
  return cmocka_run_group_tests_name("ddb_json", tests, NULL, NULL);
}
