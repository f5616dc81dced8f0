/* Prometheus text exposition: counters, gauges, cumulative histogram buckets, label escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/metrics.h"

static void contains(const char *text, const char *line) {
  if (!strstr(text, line)) fail_msg("missing line:\n%s\nin:\n%s", line, text);
}

static void test_counter_and_gauge(void **state) {
  metrics_registry *r = metrics_registry_create();
  metrics_family *c =
      metrics_counter(r, "jobs_total", "Jobs done.", METRICS_LABELS("kind", "code"));
  metrics_add(c, METRICS_LABELS("a", "OK"), 1);
  metrics_add(c, METRICS_LABELS("a", "OK"), 2);
  metrics_add(c, METRICS_LABELS("b", "NOT_FOUND"), 1);
  assert_ptr_equal(metrics_counter(r, "jobs_total", "again", METRICS_LABELS("kind", "code")), c);
  metrics_family *g = metrics_gauge(r, "pool_in_use", "Connections in use.", METRICS_NO_LABELS);
  metrics_set(g, METRICS_NO_LABELS, 3);
  metrics_set(g, METRICS_NO_LABELS, 2.5);
  char *text = metrics_render(r);
  contains(text, "# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\n");
  contains(text, "jobs_total{kind=\"a\",code=\"OK\"} 3\n");
  contains(text, "jobs_total{kind=\"b\",code=\"NOT_FOUND\"} 1\n");
  contains(text, "# TYPE pool_in_use gauge\npool_in_use 2.5\n");
  free(text);
  metrics_registry_destroy(r);
}

static void test_histogram_buckets_are_cumulative(void **state) {
  metrics_registry *r = metrics_registry_create();
  static const double b[] = {0.1, 1};
  metrics_family *h = metrics_histogram(r, "lat_seconds", "Latency.", METRICS_LABELS("op"), b, 2);
  metrics_observe(h, METRICS_LABELS("get"), 0.05);
  metrics_observe(h, METRICS_LABELS("get"), 0.1); /* le is inclusive */
  metrics_observe(h, METRICS_LABELS("get"), 0.5);
  metrics_observe(h, METRICS_LABELS("get"), 3);
  char *text = metrics_render(r);
  contains(text, "# TYPE lat_seconds histogram\n");
  contains(text, "lat_seconds_bucket{op=\"get\",le=\"0.1\"} 2\n");
  contains(text, "lat_seconds_bucket{op=\"get\",le=\"1\"} 3\n");
  contains(text, "lat_seconds_bucket{op=\"get\",le=\"+Inf\"} 4\n");
  contains(text, "lat_seconds_sum{op=\"get\"} 3.6499999999999999\n");
  contains(text, "lat_seconds_count{op=\"get\"} 4\n");
  free(text);
  metrics_registry_destroy(r);
}

static void test_label_values_are_escaped(void **state) {
  metrics_registry *r = metrics_registry_create();
  metrics_family *c = metrics_counter(r, "errs_total", "Errors.", METRICS_LABELS("type"));
  metrics_add(c, METRICS_LABELS("a\"b\\c\nd"), 1);
  char *text = metrics_render(r);
  contains(text, "errs_total{type=\"a\\\"b\\\\c\\nd\"} 1\n");
  free(text);
  metrics_registry_destroy(r);
}

static int collected;
static void collect(void *arg) {
  collected++;
  metrics_set(arg, METRICS_NO_LABELS, 7);
}

static void test_touch_makes_zero_series_and_keeps_values(void **state) {
  (void)state;
  metrics_registry *r = metrics_registry_create();
  metrics_family *c = metrics_counter(r, "c_total", "help", METRICS_LABELS("op"));
  metrics_family *h = metrics_histogram(r, "h_seconds", "help", METRICS_LABELS("op"),
                                        (const double[]){0.0001, 1}, 2);
  metrics_touch(c, METRICS_LABELS("GetItem"));
  metrics_touch(h, METRICS_LABELS("GetItem"));
  metrics_add(c, METRICS_LABELS("Query"), 2);
  metrics_touch(c, METRICS_LABELS("Query")); /* an existing series keeps its value */
  char *text = metrics_render(r);
  assert_non_null(strstr(text, "c_total{op=\"GetItem\"} 0\n"));
  assert_non_null(strstr(text, "c_total{op=\"Query\"} 2\n"));
  assert_non_null(strstr(text, "h_seconds_bucket{op=\"GetItem\",le=\"0.0001\"} 0\n"));
  assert_non_null(strstr(text, "h_seconds_count{op=\"GetItem\"} 0\n"));
  free(text);
  metrics_registry_destroy(r);
}

static void test_collect_hook_runs_before_render(void **state) {
  metrics_registry *r = metrics_registry_create();
  metrics_family *g = metrics_gauge(r, "pool_size", "Size.", METRICS_NO_LABELS);
  metrics_on_collect(r, collect, g);
  char *text = metrics_render(r);
  assert_int_equal(collected, 1);
  contains(text, "pool_size 7\n");
  free(text);
  metrics_registry_destroy(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_counter_and_gauge),
      cmocka_unit_test(test_histogram_buckets_are_cumulative),
      cmocka_unit_test(test_label_values_are_escaped),
      cmocka_unit_test(test_touch_makes_zero_series_and_keeps_values),
      cmocka_unit_test(test_collect_hook_runs_before_render),
  };
  return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
