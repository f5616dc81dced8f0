/* Unit tests of sql-svc's pure helpers: UTC conversions at the DATETIME(6) precision and
 * range, code and UTF-8 checks, channel codes, the statements' parameter counts (the C binders and
 * the SQL text must not drift apart), the statements' time limits per server dialect, and the
 * pool against a port where nothing listens. */
// LIBS: sql
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "services/sql-svc/availability.h"
#include "common/mono_clock.h"
#include "services/sql-svc/migrate.h"
#include "services/sql-svc/pool.h"
#include "services/sql-svc/sqlsvc.h"
#include "services/sql-svc/statements.h"
#include "services/sql-svc/stmt_limit.h"

static void test_usec_round_trip(void **state) {
  (void)state;
  const sql_usec cases[] = {0,
                            1,
                            999999,
                            1893456000LL * 1000000 + 123456,
                            -1, /* 1969-12-31 23:59:59.999999 */
                            SQL_USEC_MAX,
                            SQL_USEC_MIN};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    MYSQL_TIME t;
    sql_usec_to_mysql(cases[i], &t);
    assert_int_equal(sql_mysql_to_usec(&t), cases[i]);
  }
  MYSQL_TIME t;
  sql_usec_to_mysql(1893456000LL * 1000000 + 5, &t); /* 2030-01-01 00:00:00.000005 */
  assert_int_equal(t.year, 2030);
  assert_int_equal(t.month, 1);
  assert_int_equal(t.day, 1);
  assert_int_equal(t.hour, 0);
  assert_int_equal(t.second_part, 5);
  sql_usec_to_mysql(-1, &t);
  assert_int_equal(t.year, 1969);
  assert_int_equal(t.second, 59);
  assert_int_equal(t.second_part, 999999);
}

static void test_timestamp_validation(void **state) {
  (void)state;
  Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  sql_usec us;
  ts.seconds = 1893456000;
  ts.nanos = 123456789; /* truncated to microseconds, never rounded up */
  assert_int_equal(sql_ts_to_usec(&ts, "at_time", &us).code, GRPC_STATUS_OK);
  assert_int_equal(us, 1893456000LL * 1000000 + 123456);
  ts.nanos = -1;
  menu_status st = sql_ts_to_usec(&ts, "at_time", &us);
  assert_int_equal(st.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_non_null(strstr(st.message, "at_time"));
  ts.nanos = 0;
  ts.seconds = 253402300800LL; /* 10000-01-01 */
  assert_int_equal(sql_ts_to_usec(&ts, "rule.effective_time", &us).code,
                   GRPC_STATUS_INVALID_ARGUMENT);
}

static void test_channels_and_rule_types(void **state) {
  (void)state;
  assert_string_equal(sql_channel_code(MENU__V1__CHANNEL__CHANNEL_DRIVE_THRU), "DRIVE_THRU");
  assert_null(sql_channel_code(MENU__V1__CHANNEL__CHANNEL_UNSPECIFIED));
  assert_null(sql_channel_code((Menu__V1__Channel)99));
  for (int c = 1; c <= 5; c++)
    assert_int_equal(sql_channel_from_code(sql_channel_code((Menu__V1__Channel)c)), c);
  for (int t = 1; t <= 4; t++)
    assert_int_equal(availability_rule_type_from_db(availability_rule_type_to_db(t)), t);
  assert_null(availability_rule_type_to_db(0));
}

static int markers(const char *sql) {
  int n = 0;
  bool quoted = false;
  for (const char *p = sql; *p; p++) {
    if (*p == '\'')
      quoted = !quoted;
    else if (*p == '?' && !quoted)
      n++;
  }
  return n;
}

static void test_statement_parameter_counts(void **state) {
  (void)state;
  const int expect[STMT_COUNT] = {
      [STMT_AVAIL_LIST_FORWARD] = 5,
      [STMT_AVAIL_LIST_BACKWARD] = 5,
      [STMT_AVAIL_GET_ONE] = 4,
      [STMT_AVAIL_BATCH] = 4,
      [STMT_AVAIL_BATCH_WIDE] = 4,
      [STMT_RULE_RESOLVE] = 7,
      [STMT_RULE_INSERT] = 13,
      [STMT_RULE_SELECT] = 1,
      [STMT_RULE_TERMINATE] = 6,
      [STMT_RULE_VERSION] = 1,
      [STMT_RULE_REQUEST_INSERT] = 3,
      [STMT_RULE_REQUEST_DELETE] = 1,
      [STMT_RULE_REQUEST_PURGE] = 0,
      [STMT_REVISION_CHANNEL] = 1,
      [STMT_REVISION_STORE] = 3,
      [STMT_REVISION_BUMP_GROUP] = 1,
      [STMT_REVISION_BUMP_RULE] = 1,
      /* Reference lists: filters, key, limit; gets: the key. */
      [STMT_REF_MARKETS_FWD] = 2,
      [STMT_REF_MARKETS_BWD] = 2,
      [STMT_REF_MARKET_GET] = 1,
      [STMT_REF_REGIONS_FWD] = 3,
      [STMT_REF_REGIONS_BWD] = 3,
      [STMT_REF_REGION_GET] = 1,
      [STMT_REF_RESTAURANTS_FWD] = 5,
      [STMT_REF_RESTAURANTS_BWD] = 5,
      [STMT_REF_RESTAURANT_GET] = 1,
      [STMT_REF_MENU_TYPES_FWD] = 2,
      [STMT_REF_MENU_TYPES_BWD] = 2,
      [STMT_REF_MENU_TYPE_GET] = 1,
      [STMT_REF_RULE_GROUPS_FWD] = 3,
      [STMT_REF_RULE_GROUPS_BWD] = 3,
      [STMT_REF_RULE_GROUP_GET] = 1,
      [STMT_REF_PRODUCTS_FWD] = 2,
      [STMT_REF_PRODUCTS_BWD] = 2,
      [STMT_REF_PRODUCT_GET] = 1,
  };
  for (int i = 0; i < STMT_COUNT; i++) {
    assert_non_null(sql_statements[i].name);
    assert_int_equal(markers(sql_statements[i].sql), expect[i]);
  }
}

static void test_statement_time_limits(void **state) {
  (void)state;
  /* Rounded down to a level, so the server stops a statement no later than the deadline. */
  assert_int_equal(sql_limit_level_ms(5), 0);
  assert_int_equal(sql_limit_level_ms(10), 10);
  assert_int_equal(sql_limit_level_ms(999), 750);
  assert_int_equal(sql_limit_level_ms(1400), 1000);
  assert_int_equal(sql_limit_level_ms(9900), 7500);
  assert_int_equal(sql_limit_level_ms(INT64_MAX), 600000);
  assert_int_equal(sql_dialect_of("10.11.19-MariaDB-0+deb12u1", 101119), SQL_DIALECT_MARIADB);
  assert_int_equal(sql_dialect_of("5.5.5-10.0.38-MariaDB", 100038), SQL_DIALECT_NONE);
  assert_int_equal(sql_dialect_of("8.0.36", 80036), SQL_DIALECT_MYSQL);
  assert_int_equal(sql_dialect_of("5.7.44", 50744), SQL_DIALECT_NONE);

  const char *sel = "WITH s AS (SELECT 1) SELECT " SQL_LIMIT_HINT " x FROM s";
  char *t = sql_limit_text(sel, SQL_DIALECT_MARIADB, 1500);
  assert_string_equal(t,
                      "SET STATEMENT max_statement_time=1.500, innodb_lock_wait_timeout=2,"
                      " lock_wait_timeout=2 FOR WITH s AS (SELECT 1) SELECT /*limit*/ x FROM s");
  free(t);
  t = sql_limit_text(sel, SQL_DIALECT_MYSQL, 750);
  assert_string_equal(
      t,
      "WITH s AS (SELECT 1) SELECT /*+ MAX_EXECUTION_TIME(750)"
      " SET_VAR(innodb_lock_wait_timeout=1) SET_VAR(lock_wait_timeout=1) */ x FROM s");
  free(t);
  t = sql_limit_text("UPDATE " SQL_LIMIT_HINT " t SET a = 1", SQL_DIALECT_MYSQL, 3000);
  assert_string_equal(t,
                      "UPDATE /*+ SET_VAR(innodb_lock_wait_timeout=3)"
                      " SET_VAR(lock_wait_timeout=3) */ t SET a = 1");
  free(t);
  t = sql_limit_text(sel, SQL_DIALECT_NONE, 1000);
  assert_string_equal(t, sel);
  free(t);
  /* Every run-time statement has exactly one marker, so MySQL gets its hint too. */
  for (int i = 0; i < STMT_COUNT; i++) {
    const char *m = strstr(sql_statements[i].sql, SQL_LIMIT_HINT);
    assert_non_null(m);
    assert_null(strstr(m + 1, SQL_LIMIT_HINT));
  }
}

static void test_migrations_dir_from_env(void **state) {
  (void)state;
  config c = {0};
  setenv("MIGRATIONS_DIR", "/somewhere/migrations", 1);
  char *d = migrate_default_dir(&c);
  assert_string_equal(d, "/somewhere/migrations");
  free(d);
  unsetenv("MIGRATIONS_DIR");
  d = migrate_default_dir(&c); /* build/tests/x -> ../../services/sql-svc/migrations exists */
  size_t n = strlen(d), k = strlen("/services/sql-svc/migrations");
  assert_true(n > k && !strcmp(d + n - k, "/services/sql-svc/migrations"));
  free(d);
}

/* Nothing listens on port 1: checkout fails fast with UNAVAILABLE and gives the slot back. */
static void test_pool_unreachable_server(void **state) {
  (void)state;
  pool_config cfg = {.host = "127.0.0.1",
                     .port = 1,
                     .user = "menu",
                     .password = (char *)"x",
                     .database = "menu",
                     .size = 2,
                     .connect_timeout_s = 1,
                     .io_timeout_s = 1};
  pool *p = pool_create(&cfg, NULL);
  for (int i = 0; i < 3; i++) {
    pool_conn *c = (pool_conn *)1;
    int64_t t0 = mono_now_ms();
    menu_status st = pool_acquire(p, t0 + 2000, &c);
    assert_int_equal(st.code, GRPC_STATUS_UNAVAILABLE);
    assert_null(c);
    assert_true(mono_now_ms() - t0 < 1500);
  }
  int size, in_use;
  pool_stats(p, &size, &in_use);
  assert_int_equal(size, 2);
  assert_int_equal(in_use, 0);
  pool_destroy(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_usec_round_trip),
      cmocka_unit_test(test_timestamp_validation),
      cmocka_unit_test(test_channels_and_rule_types),
      cmocka_unit_test(test_statement_parameter_counts),
      cmocka_unit_test(test_statement_time_limits),
      cmocka_unit_test(test_migrations_dir_from_env),
      cmocka_unit_test(test_pool_unreachable_server),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
