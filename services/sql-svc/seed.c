/* Demo and generated data. Everything is computed by the server (INSERT ... SELECT over a
 * number sequence), so that 300,000 rules load in seconds without shipping rows over the
 * wire; the only inputs are the sizes, bound as prepared-statement parameters. */
#include "services/sql-svc/seed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "demo/products.h"
#include "services/sql-svc/sqlsvc.h"

/* Group types (lower ranking wins: restaurant beats regional beats market beats global) and
 * one group per channel and type. Shared by both data sets. */
static const char *const common_sql[] = {
    "INSERT IGNORE INTO productAvailabilityRuleGroupType (code, groupRanking) VALUES"
    " ('restaurant', 100), ('regional', 200), ('market', 300), ('global-experience', 400)",
    "INSERT INTO productAvailabilityRuleGroup (productAvailabilityRuleGroupTypeId, channelId, name)"
    " SELECT t.productAvailabilityRuleGroupTypeId, c.channelId, CONCAT(c.channelCode, ' ', t.code)"
    " FROM productAvailabilityRuleGroupType t CROSS JOIN channel c"
    " WHERE t.code IN ('restaurant', 'regional', 'market', 'global-experience')"
    " AND NOT EXISTS (SELECT 1 FROM productAvailabilityRuleGroup g"
    "  WHERE g.productAvailabilityRuleGroupTypeId = t.productAvailabilityRuleGroupTypeId"
    "  AND g.channelId = c.channelId)",
    NULL};

/* The group of a channel and scope, as a scalar subquery over aliases ch (channelCode) and
 * the scope's group type code. */
#define GROUP_OF(channel_expr, type)                                                 \
  "(SELECT g.productAvailabilityRuleGroupId FROM productAvailabilityRuleGroup g"     \
  " JOIN productAvailabilityRuleGroupType t"                                         \
  "  ON t.productAvailabilityRuleGroupTypeId = g.productAvailabilityRuleGroupTypeId" \
  " JOIN channel c ON c.channelId = g.channelId"                                     \
  " WHERE c.channelCode = " channel_expr " AND t.code = '" type                      \
  "'"                                                                                \
  " ORDER BY g.productAvailabilityRuleGroupId LIMIT 1)"

#define RULE_COLS                                                                             \
  "INSERT INTO productAvailabilityRule (productId, productAvailabilityRuleGroupId, ruleType," \
  " ruleEffect, isHidden, isActive, restaurantId, marketId, regionalId, menuTypeId,"          \
  " effectiveDatetime, terminationDatetime, createdBy, createdAt, updatedBy, updatedAt) "

/* ---- demo: a small quick-service chain ---------------------------------------------------
 * Products, names and categories: demo/products.h (shared with dynamo-svc's seed). Three
 * markets, four regions, five stores; menu types BREAKFAST and LUNCH. What a person sees on
 * KIOSK (the rules below):
 *   R001 (US-WEST): breakfast and lunch, the Green Chile Burger (regional special), Bottled
 *        Water hidden (orderable, not shown);
 *   R002 (US-EAST): lunch only, the Buffalo Chicken Wrap (regional special), no Grilled
 *        Chicken Salad (regional deny), no Onion Rings (the store denies them);
 *   R003 (CA-ON): breakfast and lunch, Poutine (market CA);
 *   R004 (UK-LDN): no Iced Tea (market UK denies it);
 *   R005 (US-WEST): drive-thru only, lunch.
 * Everywhere: the Strawberry Shortcake Sundae promotion starts 7 days after seeding (midnight
 * UTC) for four weeks; the Vanilla Shake is on APP and DELIVERY only. */

#define ALL_CHANNELS "KIOSK,WEB,APP,DRIVE_THRU,DELIVERY"

static const char *const demo_sql[] = {
    "INSERT IGNORE INTO menuType (menuTypeCode) VALUES ('BREAKFAST'), ('LUNCH')",
    "INSERT IGNORE INTO market (marketCode) VALUES ('US'), ('CA'), ('UK')",
    "INSERT IGNORE INTO regional (regionalCode, marketId)"
    " SELECT x.code, m.marketId FROM (SELECT 'US-WEST' AS code, 'US' AS market"
    "  UNION ALL SELECT 'US-EAST', 'US' UNION ALL SELECT 'CA-ON', 'CA'"
    "  UNION ALL SELECT 'UK-LDN', 'UK') x JOIN market m ON m.marketCode = x.market",
    "INSERT IGNORE INTO restaurant (restaurantCode, marketId, regionalId)"
    " SELECT x.code, r.marketId, r.regionalId FROM (SELECT 'R001' AS code, 'US-WEST' AS reg"
    "  UNION ALL SELECT 'R002', 'US-EAST' UNION ALL SELECT 'R003', 'CA-ON'"
    "  UNION ALL SELECT 'R004', 'UK-LDN' UNION ALL SELECT 'R005', 'US-WEST') x"
    " JOIN regional r ON r.regionalCode = x.reg",
    /* Which channels each store is on, and the menu types it serves there. */
    "INSERT IGNORE INTO restaurantChannelMenuTypeAssociation (restaurantId, channelId, menuTypeId)"
    " SELECT r.restaurantId, c.channelId, mt.menuTypeId FROM ("
    "  SELECT 'R001' AS s, '" ALL_CHANNELS
    "' AS chs, 'BREAKFAST,LUNCH' AS mts"
    "  UNION ALL SELECT 'R002', 'KIOSK,WEB,APP,DELIVERY', 'LUNCH'"
    "  UNION ALL SELECT 'R003', 'KIOSK,WEB,APP,DRIVE_THRU', 'BREAKFAST,LUNCH'"
    "  UNION ALL SELECT 'R004', 'KIOSK,APP,DELIVERY', 'BREAKFAST,LUNCH'"
    "  UNION ALL SELECT 'R005', 'DRIVE_THRU', 'LUNCH') x"
    " JOIN restaurant r ON r.restaurantCode = x.s"
    " JOIN channel c ON FIND_IN_SET(c.channelCode, x.chs)"
    " JOIN menuType mt ON FIND_IN_SET(mt.menuTypeCode, x.mts)",
    NULL};

/* One demo rule per product of `products` and channel of `channels` (comma lists). scope:
 * the restaurantId, marketId, regionalId values; menu: a menuTypeId or NULL. */
#define DEMO_RULE(products, channels, type, effect, hidden, scope, menu, eff, term)          \
  RULE_COLS "SELECT p.productId, " GROUP_OF(                                                 \
      "ch.channelCode",                                                                      \
      type) ", '" type "', '" effect "', " hidden ", 1, " scope ", " menu ", " eff ", " term \
            ", 'seed-demo', UTC_TIMESTAMP(6), 'seed-demo', UTC_TIMESTAMP(6)"                 \
            " FROM product p JOIN channel ch ON FIND_IN_SET(ch.channelCode, '" channels      \
            "') WHERE FIND_IN_SET(p.productCode, '" products "')"
#define NO_SCOPE "NULL, NULL, NULL"
#define AT_STORE(code) \
  "(SELECT restaurantId FROM restaurant WHERE restaurantCode = '" code "'), NULL, NULL"
#define IN_MARKET(code) "NULL, (SELECT marketId FROM market WHERE marketCode = '" code "'), NULL"
#define IN_REGION(code) \
  "NULL, NULL, (SELECT regionalId FROM regional WHERE regionalCode = '" code "')"
#define MENU(code) "(SELECT menuTypeId FROM menuType WHERE menuTypeCode = '" code "')"
#define ANY_MENU "NULL"
#define ALWAYS "'2020-01-01 00:00:00'"
#define FOREVER "'9999-12-31 23:59:59'"
#define NEXT_WEEK "DATE(UTC_TIMESTAMP()) + INTERVAL 7 DAY"
#define FIVE_WEEKS "DATE(UTC_TIMESTAMP()) + INTERVAL 35 DAY"

#define LUNCH_ITEMS \
  "P1000,P1001,P1002,P1003,P1004,P1005,P1006,P1007,P1008,P1009,P1010,P1011,P1012,P1015,P1017"
#define ALL_DAY_ITEMS \
  "P1013,P1014,P1016,P1018,P1019,P1020,P1021,P1022,P1023,P1024,P1025,P1026,P1027,P1028,P1029"
#define BREAKFAST_ITEMS "P1030,P1031,P1032,P1033,P1034"

/* Every channel's rule revision +1 (migration 005), in the transaction that writes rules. */
#define BUMP_ALL_CHANNELS                                            \
  "INSERT INTO channelRuleRevision (channelId, revision, updatedAt)" \
  " SELECT channelId, 1, UTC_TIMESTAMP(6) FROM channel"              \
  " ON DUPLICATE KEY UPDATE revision = revision + 1, updatedAt = UTC_TIMESTAMP(6)"

/* Rules, only on the first run (guarded in seed_demo); the notes in demo/products.h say the
 * same in words. */
static const char *const demo_rules_sql[] = {
    /* The chain's menu: lunch items where LUNCH is served, breakfast items where BREAKFAST
     * is, the rest all day. */
    DEMO_RULE(LUNCH_ITEMS, ALL_CHANNELS, "global-experience", "allow", "0", NO_SCOPE, MENU("LUNCH"),
              ALWAYS, FOREVER),
    DEMO_RULE(ALL_DAY_ITEMS, ALL_CHANNELS, "global-experience", "allow", "0", NO_SCOPE, ANY_MENU,
              ALWAYS, FOREVER),
    DEMO_RULE(BREAKFAST_ITEMS, ALL_CHANNELS, "global-experience", "allow", "0", NO_SCOPE,
              MENU("BREAKFAST"), ALWAYS, FOREVER),
    DEMO_RULE("P1039", "APP,DELIVERY", "global-experience", "allow", "0", NO_SCOPE, ANY_MENU,
              ALWAYS, FOREVER),
    /* The promotion: from next week (midnight UTC, 7 days after seeding) for four weeks. */
    DEMO_RULE("P1037", ALL_CHANNELS, "global-experience", "allow", "0", NO_SCOPE, ANY_MENU,
              NEXT_WEEK, FIVE_WEEKS),
    /* Market, regional and restaurant differences. */
    DEMO_RULE("P1036", ALL_CHANNELS, "market", "allow", "0", IN_MARKET("CA"), MENU("LUNCH"), ALWAYS,
              FOREVER),
    DEMO_RULE("P1022", ALL_CHANNELS, "market", "deny", "0", IN_MARKET("UK"), ANY_MENU, ALWAYS,
              FOREVER),
    DEMO_RULE("P1035", ALL_CHANNELS, "regional", "allow", "0", IN_REGION("US-WEST"), MENU("LUNCH"),
              ALWAYS, FOREVER),
    DEMO_RULE("P1038", ALL_CHANNELS, "regional", "allow", "0", IN_REGION("US-EAST"), MENU("LUNCH"),
              ALWAYS, FOREVER),
    DEMO_RULE("P1012", ALL_CHANNELS, "regional", "deny", "0", IN_REGION("US-EAST"), ANY_MENU,
              ALWAYS, FOREVER),
    DEMO_RULE("P1015", ALL_CHANNELS, "restaurant", "deny", "0", AT_STORE("R002"), ANY_MENU, ALWAYS,
              FOREVER),
    DEMO_RULE("P1025", ALL_CHANNELS, "restaurant", "allow", "1", AT_STORE("R001"), ANY_MENU, ALWAYS,
              FOREVER),
    /* Windows that do not apply now: a deny that expired, and one that starts in 2099. */
    DEMO_RULE("P1006", ALL_CHANNELS, "restaurant", "deny", "0", AT_STORE("R001"), ANY_MENU, ALWAYS,
              "'2021-01-01 00:00:00'"),
    DEMO_RULE("P1007", ALL_CHANNELS, "restaurant", "deny", "0", AT_STORE("R001"), ANY_MENU,
              "'2099-01-01 00:00:00'", FOREVER),
    BUMP_ALL_CHANNELS, NULL};

/* The products of demo/products.h, inserted or renamed (a re-run fixes names). */
static const struct {
  const char *code, *name;
} demo_products[] = {
#define X(code, name, category, note) {code, name},
    DEMO_PRODUCTS(X)
#undef X
};

static menu_status run_text(MYSQL *m, const char *sql) {
  if (mysql_real_query(m, sql, strlen(sql)))
    return MENU_UNAVAILABLE("seed: %s (statement: %.80s...)", mysql_error(m), sql);
  MYSQL_RES *r = mysql_store_result(m);
  if (r) mysql_free_result(r);
  return MENU_OK;
}

static menu_status run_list(MYSQL *m, const char *const *list) {
  for (int i = 0; list[i]; i++) {
    menu_status st = run_text(m, list[i]);
    if (!menu_status_is_ok(&st)) return st;
  }
  return MENU_OK;
}

/* Scalar integer of a query without parameters; -1 on error. */
static long long scalar(MYSQL *m, const char *sql) {
  if (mysql_query(m, sql)) return -1;
  MYSQL_RES *r = mysql_store_result(m);
  MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
  long long v = row && row[0] ? atoll(row[0]) : -1;
  if (r) mysql_free_result(r);
  return v;
}

static menu_status seed_demo_products(MYSQL *m) {
  static const char sql[] =
      "INSERT INTO product (productCode, displayName, productTypeId) VALUES (?, ?, 1)"
      " ON DUPLICATE KEY UPDATE displayName = ?";
  MYSQL_STMT *s = mysql_stmt_init(m);
  menu_status st = MENU_OK;
  if (!s || mysql_stmt_prepare(s, sql, sizeof sql - 1)) {
    st = MENU_UNAVAILABLE("seed: %s", s ? mysql_stmt_error(s) : mysql_error(m));
    goto out;
  }
  for (size_t i = 0; i < sizeof demo_products / sizeof demo_products[0]; i++) {
    unsigned long l_code, l_name;
    MYSQL_BIND b[3];
    sql_bind_str(&b[0], demo_products[i].code, &l_code);
    sql_bind_str(&b[1], demo_products[i].name, &l_name);
    b[2] = b[1];
    if (mysql_stmt_bind_param(s, b) || mysql_stmt_execute(s)) {
      st = MENU_UNAVAILABLE("seed: product %s: %s", demo_products[i].code, mysql_stmt_error(s));
      goto out;
    }
  }
out:
  if (s) mysql_stmt_close(s);
  return st;
}

menu_status seed_demo(MYSQL *m) {
  menu_status st = run_list(m, common_sql);
  if (menu_status_is_ok(&st)) st = run_list(m, demo_sql);
  if (menu_status_is_ok(&st)) st = seed_demo_products(m);
  if (!menu_status_is_ok(&st)) return st;
  if (scalar(m, "SELECT COUNT(*) FROM productAvailabilityRule WHERE createdBy = 'seed-demo'") > 0) {
    log_info("seed-demo: rules already present, reference data refreshed only", NULL);
    return MENU_OK;
  }
  if (mysql_autocommit(m, 0)) return MENU_UNAVAILABLE("seed: %s", mysql_error(m));
  st = run_list(m, demo_rules_sql);
  if (menu_status_is_ok(&st) && mysql_commit(m)) st = MENU_UNAVAILABLE("seed: %s", mysql_error(m));
  if (!menu_status_is_ok(&st)) mysql_rollback(m);
  mysql_autocommit(m, 1);
  return st;
}

/* ---- large generated set --------------------------------------------------------------- */

void seed_sizes_default(seed_sizes *s) {
  s->markets = 30;
  s->regions = 120;
  s->restaurants = 2000;
  s->products = 5000;
  s->rules = 300000;
}

/* Executes a statement whose parameters are all integers. */
static menu_status run_ints(MYSQL *m, const char *sql, const long long *v, int n) {
  MYSQL_STMT *s = mysql_stmt_init(m);
  MYSQL_BIND b[8];
  memset(b, 0, sizeof b);
  for (int i = 0; i < n && i < 8; i++) {
    b[i].buffer_type = MYSQL_TYPE_LONGLONG;
    b[i].buffer = (void *)&v[i];
  }
  menu_status st = MENU_OK;
  if (!s || mysql_stmt_prepare(s, sql, strlen(sql)) || (n && mysql_stmt_bind_param(s, b)) ||
      mysql_stmt_execute(s))
    st = MENU_UNAVAILABLE("generate: %s (statement: %.100s...)",
                          s ? mysql_stmt_error(s) : mysql_error(m), sql);
  if (s) mysql_stmt_close(s);
  return st;
}

#define DIGITS                                                                                 \
  "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4" \
  " UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8"               \
  " UNION ALL SELECT 9)"

/* Rule n of the generated set: its scope by range of n, its product, channel and scope entity
 * by multiplicative hashing of n (deterministic, spread), some deny, hidden, expired, future
 * or menu-type bound. Params: rules, markets, regions, restaurants, products. */
#define GEN_RULES                                                                                  \
  RULE_COLS                                                                                        \
  "SELECT STRAIGHT_JOIN p.productId, g.productAvailabilityRuleGroupId, x.ruleType,"                \
  " IF(x.n % 7 = 0, 'deny', 'allow'), IF(x.n % 11 = 0, 1, 0), 1,"                                  \
  " IF(x.ruleType = 'restaurant', (SELECT restaurantId FROM restaurant"                            \
  "   WHERE restaurantCode = CONCAT('S', LPAD(1 + (x.n * 7907) % x.restaurants, 5, '0'))), NULL)," \
  " IF(x.ruleType = 'market', (SELECT marketId FROM market"                                        \
  "   WHERE marketCode = CONCAT('M', LPAD(1 + x.n % x.markets, 3, '0'))), NULL),"                  \
  " IF(x.ruleType = 'regional', (SELECT regionalId FROM regional"                                  \
  "   WHERE regionalCode = CONCAT('G', LPAD(1 + (x.n * 31) % x.regions, 4, '0'))), NULL),"         \
  " IF(x.n % 13 = 0, (SELECT menuTypeId FROM menuType WHERE menuTypeCode = 'BREAKFAST'), NULL),"   \
  " IF(x.n % 17 = 0, '2099-01-01 00:00:00', '2020-01-01 00:00:00'),"                               \
  " IF(x.n % 10 = 3 AND x.n % 17 <> 0, '2022-01-01 00:00:00', '9999-12-31 23:59:59'),"             \
  " 'generate', UTC_TIMESTAMP(6), 'generate', UTC_TIMESTAMP(6)"                                    \
  " FROM (SELECT q.n, q.markets, q.regions, q.restaurants, q.products,"                            \
  "   CASE WHEN q.n < q.rules * 0.10 THEN 'global-experience'"                                     \
  "        WHEN q.n < q.rules * 0.30 THEN 'market'"                                                \
  "        WHEN q.n < q.rules * 0.55 THEN 'regional' ELSE 'restaurant' END AS ruleType"            \
  "  FROM (SELECT genSeq.n, ? AS rules, ? AS markets, ? AS regions, ? AS restaurants,"             \
  "   ? AS products FROM genSeq) q WHERE q.n < q.rules) x"                                         \
  " JOIN product p ON p.productCode = CONCAT('P', 1000 + (x.n * 7919) % x.products)"               \
  " JOIN channel c ON c.channelCode = ELT(1 + (x.n DIV 3) % 5, 'KIOSK', 'WEB', 'APP',"             \
  "  'DRIVE_THRU', 'DELIVERY')"                                                                    \
  " JOIN productAvailabilityRuleGroupType t ON t.code = x.ruleType"                                \
  " JOIN productAvailabilityRuleGroup g ON g.channelId = c.channelId"                              \
  "  AND g.productAvailabilityRuleGroupTypeId = t.productAvailabilityRuleGroupTypeId"

menu_status seed_generate(MYSQL *m, const seed_sizes *z) {
  if (z->products > 9000 || z->restaurants > 99999 || z->regions > 9999 || z->markets > 999 ||
      z->rules > 1000000 || z->markets < 1 || z->regions < z->markets || z->restaurants < 1 ||
      z->products < 1 || z->rules < 0)
    return MENU_INVALID("generate: sizes out of range");
  menu_status st = run_list(m, common_sql);
  if (menu_status_is_ok(&st))
    st = run_text(m,
                  "INSERT IGNORE INTO menuType (menuTypeCode) VALUES ('REGULAR'), ('BREAKFAST'),"
                  " ('LATE_NIGHT')");
  if (!menu_status_is_ok(&st)) return st;
  if (scalar(m, "SELECT COUNT(*) FROM productAvailabilityRule WHERE createdBy = 'generate'") > 0) {
    log_info("generate: rules already present, nothing to do", NULL);
    return MENU_OK;
  }
  long long big = z->rules;
  if (z->products > big) big = z->products;
  if (z->restaurants > big) big = z->restaurants;
  /* A plain table, not TEMPORARY: MySQL cannot open a temporary table twice in one query. */
  st = run_text(m, "DROP TABLE IF EXISTS genSeq");
  if (menu_status_is_ok(&st))
    st = run_text(m, "CREATE TABLE genSeq (n INT NOT NULL PRIMARY KEY) ENGINE=InnoDB");
  if (!menu_status_is_ok(&st)) return st;
  const long long seq_args[] = {big};
  st = run_ints(m,
                "INSERT INTO genSeq (n) SELECT a.d + 10 * b.d + 100 * c.d + 1000 * d.d"
                " + 10000 * e.d + 100000 * f.d AS n FROM " DIGITS " a CROSS JOIN " DIGITS
                " b CROSS JOIN " DIGITS " c CROSS JOIN " DIGITS " d CROSS JOIN " DIGITS
                " e CROSS JOIN " DIGITS
                " f"
                " WHERE a.d + 10 * b.d + 100 * c.d + 1000 * d.d + 10000 * e.d"
                " + 100000 * f.d < ?",
                seq_args, 1);
  if (!menu_status_is_ok(&st)) goto out;
  const long long a1[] = {z->markets};
  st = run_ints(m,
                "INSERT IGNORE INTO market (marketCode) SELECT CONCAT('M', LPAD(1 + n, 3, '0'))"
                " FROM genSeq WHERE n < ?",
                a1, 1);
  if (!menu_status_is_ok(&st)) goto out;
  const long long a2[] = {z->markets, z->regions};
  st = run_ints(m,
                "INSERT IGNORE INTO regional (regionalCode, marketId)"
                " SELECT CONCAT('G', LPAD(1 + q.n, 4, '0')), m.marketId"
                " FROM (SELECT n, ? AS markets FROM genSeq) q JOIN market m"
                "  ON m.marketCode = CONCAT('M', LPAD(1 + q.n % q.markets, 3, '0'))"
                " WHERE q.n < ?",
                a2, 2);
  if (!menu_status_is_ok(&st)) goto out;
  const long long a3[] = {z->regions, z->restaurants};
  st = run_ints(m,
                "INSERT IGNORE INTO restaurant (restaurantCode, marketId, regionalId)"
                " SELECT CONCAT('S', LPAD(1 + q.n, 5, '0')), r.marketId, r.regionalId"
                " FROM (SELECT n, ? AS regions FROM genSeq) q JOIN regional r"
                "  ON r.regionalCode = CONCAT('G', LPAD(1 + q.n % q.regions, 4, '0'))"
                " WHERE q.n < ?",
                a3, 2);
  if (!menu_status_is_ok(&st)) goto out;
  /* Every store on 3 to 5 channels with REGULAR; a third also serves BREAKFAST there. */
  const long long a4[] = {z->restaurants};
  st = run_ints(m,
                "INSERT IGNORE INTO restaurantChannelMenuTypeAssociation"
                " (restaurantId, channelId, menuTypeId)"
                " SELECT r.restaurantId, c.channelId, mt.menuTypeId FROM restaurant r"
                " JOIN channel c JOIN menuType mt"
                " WHERE r.restaurantCode BETWEEN 'S00001' AND CONCAT('S', LPAD(?, 5, '0'))"
                " AND (c.channelId + r.restaurantId) % 5 < 3 + r.restaurantId % 3"
                " AND (mt.menuTypeCode = 'REGULAR'"
                "  OR (mt.menuTypeCode = 'BREAKFAST' AND r.restaurantId % 3 = 0))",
                a4, 1);
  if (!menu_status_is_ok(&st)) goto out;
  const long long a5[] = {z->products};
  st = run_ints(m,
                "INSERT IGNORE INTO product (productCode, displayName, productTypeId)"
                " SELECT CONCAT('P', 1000 + n), CONCAT('Generated product ', n), 1 + n % 4"
                " FROM genSeq WHERE n < ?",
                a5, 1);
  if (!menu_status_is_ok(&st)) goto out;
  const long long a6[] = {z->rules, z->markets, z->regions, z->restaurants, z->products};
  /* The rules and the revisions they advance in one transaction. */
  if (mysql_autocommit(m, 0)) {
    st = MENU_UNAVAILABLE("generate: %s", mysql_error(m));
    goto out;
  }
  st = run_ints(m, GEN_RULES, a6, 5);
  if (menu_status_is_ok(&st)) st = run_text(m, BUMP_ALL_CHANNELS);
  if (menu_status_is_ok(&st) && mysql_commit(m))
    st = MENU_UNAVAILABLE("generate: %s", mysql_error(m));
  if (!menu_status_is_ok(&st)) mysql_rollback(m);
  mysql_autocommit(m, 1);
  if (!menu_status_is_ok(&st)) goto out;
  st = run_text(m,
                "ANALYZE TABLE productAvailabilityRule, restaurant, product,"
                " restaurantChannelMenuTypeAssociation, productAvailabilityRuleGroup");
out:
  run_text(m, "DROP TABLE IF EXISTS genSeq");
  return st;
}
