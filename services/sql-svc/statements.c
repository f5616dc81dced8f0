/* The SQL text of every run-time statement (see statements.h). Only syntax both MySQL 8 and
 * MariaDB 10.11 accept: CTEs, ROW_NUMBER() OVER, LIMIT ?; the time-limit hint is added per
 * server by stmt_limit.c at the SQL_LIMIT_HINT marker (H). */
#include "services/sql-svc/statements.h"

#include "services/sql-svc/stmt_limit.h"

#define H SQL_LIMIT_HINT
#define REQUEST_EXPIRED "createdAt < UTC_TIMESTAMP(6) - " SQL_REQUEST_ID_WINDOW

/* The store and channel as one row (zero rows: unknown store; NULL channelId: unknown
 * channel), with the evaluation instant bound once. onChannel: condition 2's "S is associated
 * with C" (prefix of the association's primary key). */
#define AVAIL_STORE(extra)                                                                     \
  "WITH s AS ("                                                                                \
  " SELECT r.restaurantId, r.marketId, r.regionalId, c.channelId,"                             \
  "  CAST(? AS DATETIME(6)) AS t,"                                                             \
  "  EXISTS (SELECT 1 FROM restaurantChannelMenuTypeAssociation a"                             \
  "   WHERE a.restaurantId = r.restaurantId AND a.channelId = c.channelId) AS onChannel" extra \
  " FROM restaurant r LEFT JOIN channel c ON c.channelCode = ?"                                \
  " WHERE r.restaurantCode = ?), "

/* One branch per scope so that each reads its own index (ix_rule_group_scope for global
 * rules of the channel's groups, ix_rule_market / _regional / _restaurant for the others):
 * an OR across the scopes would force a scan. Conditions 1 and 2 are checked here. */
#define AVAIL_BRANCH(scope_cond, product_cond)                                                 \
  " SELECT par.productAvailabilityRuleId, par.productId, par.productAvailabilityRuleGroupId,"  \
  "  par.ruleType, par.ruleEffect, par.isHidden, par.menuTypeId, par.effectiveDatetime,"       \
  "  par.createdBy, par.createdAt, par.updatedBy, par.updatedAt"                               \
  " FROM s JOIN productAvailabilityRuleGroup g ON g.channelId = s.channelId"                   \
  " JOIN productAvailabilityRule par"                                                          \
  "  ON par.productAvailabilityRuleGroupId = g.productAvailabilityRuleGroupId AND " scope_cond \
  " WHERE s.onChannel = 1 AND par.isActive = 1"                                                \
  "  AND par.effectiveDatetime <= s.t AND par.terminationDatetime > s.t" product_cond

/* global_cond restricts the global branch, scoped_cond the three store-scoped ones (each
 * reads only the rules of one market, region or restaurant: few enough that restricting them
 * to a product list would only trade one index range for many lookups). */
#define AVAIL_CANDIDATES(global_cond, scoped_cond) \
  "candidate AS ("                                                                           \
  AVAIL_BRANCH("par.ruleType = 'global-experience'", global_cond) " UNION ALL"               \
  AVAIL_BRANCH("par.marketId = s.marketId AND par.ruleType = 'market'", scoped_cond)         \
  " UNION ALL"                                                                               \
  AVAIL_BRANCH("par.regionalId = s.regionalId AND par.ruleType = 'regional'", scoped_cond)   \
  " UNION ALL"                                                                               \
  AVAIL_BRANCH("par.restaurantId = s.restaurantId AND par.ruleType = 'restaurant'",          \
               scoped_cond)                                                                  \
  "), "

/* Condition 4 (menu type served by the store on the channel: a primary-key lookup), then the
 * winner per product:
 * lowest groupRanking, latest effectiveDatetime, highest rule id. */
#define AVAIL_RANKED                                                                   \
  "ranked AS ("                                                                        \
  " SELECT k.*, ROW_NUMBER() OVER (PARTITION BY k.productId ORDER BY gt.groupRanking," \
  "   k.effectiveDatetime DESC, k.productAvailabilityRuleId DESC) AS rn"               \
  " FROM candidate k JOIN s ON 1 = 1"                                                  \
  " JOIN productAvailabilityRuleGroup g"                                               \
  "  ON g.productAvailabilityRuleGroupId = k.productAvailabilityRuleGroupId"           \
  " JOIN productAvailabilityRuleGroupType gt"                                          \
  "  ON gt.productAvailabilityRuleGroupTypeId = g.productAvailabilityRuleGroupTypeId"  \
  " LEFT JOIN restaurantChannelMenuTypeAssociation a"                                  \
  "  ON a.restaurantId = s.restaurantId AND a.channelId = s.channelId"                 \
  "  AND a.menuTypeId = k.menuTypeId"                                                  \
  " WHERE k.menuTypeId IS NULL OR a.menuTypeId IS NOT NULL) "

/* The store row always comes back (so that an unknown store or channel is told apart from an
 * empty page); product columns are NULL when nothing is available. */
#define AVAIL_SELECT                                                                  \
  "SELECT " H                                                                         \
  " s.restaurantId, s.channelId, p.productCode, p.displayName, w.isHidden,"           \
  " w.productAvailabilityRuleId, w.ruleType, w.ruleEffect, w.createdBy, w.createdAt," \
  " w.updatedBy, w.updatedAt"                                                         \
  " FROM s LEFT JOIN (ranked w JOIN product p ON p.productId = w.productId)"

/* The requested codes as a table (ord = position, 1-based) joined to their products, unknown
 * codes kept with a NULL productId. JSON_TABLE is the one table constructor MariaDB (10.6+)
 * and MySQL (8.0.4+) spell alike; the column takes the codes' binary collation so that the
 * join is a unique-key lookup. */
#define AVAIL_REQUESTED                                                                 \
  "rq AS ("                                                                             \
  " SELECT jt.ord, p.productId, p.productCode, p.displayName FROM JSON_TABLE(?, '$[*]'" \
  "  COLUMNS (ord FOR ORDINALITY,"                                                      \
  "   code VARCHAR(50) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$')) jt"         \
  " LEFT JOIN product p ON p.productCode = jt.code), "

/* Reference data: a select (whose filters come from CTE f, each '' for "any", so that every
 * filter is bound once), then the keyset page or the get. */
#define REF_PAGE_FWD(key) " AND " key " > ? ORDER BY " key " LIMIT ?"
#define REF_PAGE_BWD(key) " AND " key " < ? ORDER BY " key " DESC LIMIT ?"
#define REF_LIST(name, select, key)                                          \
  [STMT_REF_##name##_FWD] = {"ref_" #name "_fwd", select REF_PAGE_FWD(key)}, \
  [STMT_REF_##name##_BWD] = {"ref_" #name "_bwd", select REF_PAGE_BWD(key)}

#define REF_MARKET "SELECT " H " m.marketCode FROM market m WHERE 1 = 1"
#define REF_REGION                                \
  "SELECT " H                                     \
  " g.regionalCode, m.marketCode FROM regional g" \
  " JOIN market m ON m.marketId = g.marketId WHERE 1 = 1"
#define REF_REGION_FILTERED                              \
  "WITH f AS (SELECT CAST(? AS CHAR(50)) AS market)"     \
  " SELECT " H                                           \
  " g.regionalCode, m.marketCode FROM f JOIN regional g" \
  " JOIN market m ON m.marketId = g.marketId"            \
  " WHERE (f.market = '' OR m.marketCode = f.market)"
/* The channels and menu types a restaurant serves, "KIOSK:BREAKFAST,KIOSK:LUNCH,..." in
 * channel order (GROUP_CONCAT: both servers; a few dozen bytes, far below MySQL's default
 * group_concat_max_len of 1024). */
#define REF_RESTAURANT_COLS                                                                   \
  "SELECT " H                                                                                 \
  " r.restaurantCode, m.marketCode, g.regionalCode,"                                          \
  " (SELECT GROUP_CONCAT(CONCAT(c.channelCode, ':', mt.menuTypeCode)"                         \
  "   ORDER BY c.channelId, mt.menuTypeCode SEPARATOR ',')"                                   \
  "  FROM restaurantChannelMenuTypeAssociation a JOIN channel c ON c.channelId = a.channelId" \
  "  JOIN menuType mt ON mt.menuTypeId = a.menuTypeId WHERE a.restaurantId = r.restaurantId)"
#define REF_RESTAURANT_FROM                                \
  " restaurant r JOIN market m ON m.marketId = r.marketId" \
  " JOIN regional g ON g.regionalId = r.regionalId"
#define REF_RESTAURANT_FILTERED                                                              \
  "WITH f AS (SELECT CAST(? AS CHAR(50)) AS market, CAST(? AS CHAR(50)) AS regional,"        \
  " CAST(? AS CHAR(50)) AS channel) " REF_RESTAURANT_COLS " FROM f JOIN" REF_RESTAURANT_FROM \
  " WHERE (f.market = '' OR m.marketCode = f.market)"                                        \
  " AND (f.regional = '' OR g.regionalCode = f.regional)"                                    \
  " AND (f.channel = '' OR EXISTS (SELECT 1 FROM restaurantChannelMenuTypeAssociation a"     \
  "  JOIN channel c ON c.channelId = a.channelId"                                            \
  "  WHERE a.restaurantId = r.restaurantId AND c.channelCode = f.channel))"
#define REF_MENU_TYPE "SELECT " H " mt.menuTypeCode FROM menuType mt WHERE 1 = 1"
#define REF_RULE_GROUP_COLS                                                          \
  "SELECT " H                                                                        \
  " g.productAvailabilityRuleGroupId, g.name, c.channelCode, t.code, t.groupRanking" \
  " FROM "
#define REF_RULE_GROUP_FROM                                                     \
  " productAvailabilityRuleGroup g JOIN channel c ON c.channelId = g.channelId" \
  " JOIN productAvailabilityRuleGroupType t"                                    \
  "  ON t.productAvailabilityRuleGroupTypeId = g.productAvailabilityRuleGroupTypeId"
#define REF_RULE_GROUP_FILTERED                                            \
  "WITH f AS (SELECT CAST(? AS CHAR(50)) AS channel) " REF_RULE_GROUP_COLS \
  "f JOIN" REF_RULE_GROUP_FROM " WHERE (f.channel = '' OR c.channelCode = f.channel)"
#define REF_PRODUCT "SELECT " H " p.productCode, p.displayName FROM product p WHERE 1 = 1"

/* The earliest instant after s.t at which `col` (effectiveDatetime or terminationDatetime) of
 * an active rule of one scope, in one of the channel's groups, falls: one ORDER BY col LIMIT 1
 * index dive per group, on an index (scope id(s), group, col) of migrations 002 and 005.
 * Rules of any product and menu type count (a superset of those that could apply: an answer
 * may expire early, never late). Only for a store on the channel. */
#define REV_BOUNDARY(col, scope_cond, index)                                         \
  " SELECT (SELECT par." col " FROM productAvailabilityRule par FORCE INDEX (" index \
  ")"                                                                                \
  "  WHERE " scope_cond                                                              \
  " AND par.productAvailabilityRuleGroupId ="                                        \
  "   g.productAvailabilityRuleGroupId AND par." col                                 \
  " > s.t AND par.isActive = 1"                                                      \
  "  ORDER BY par." col                                                              \
  " LIMIT 1) AS b"                                                                   \
  " FROM s JOIN productAvailabilityRuleGroup g ON g.channelId = s.channelId"         \
  " WHERE s.onChannel = 1"
#define REV_SCOPE(scope_cond, index)                   \
  REV_BOUNDARY("effectiveDatetime", scope_cond, index) \
  " UNION ALL" REV_BOUNDARY("terminationDatetime", scope_cond, index "_end")
/* A rule's own window ends after it starts (CHECK), so the earliest of every effective and
 * every termination instant after t is the next instant at which any rule changes. */
#define REV_NEXT \
  "nx AS (" REV_SCOPE("par.ruleType = 'global-experience'", "ix_rule_group_scope")          \
  " UNION ALL" REV_SCOPE("par.marketId = s.marketId AND par.ruleType = 'market'",           \
                         "ix_rule_market")                                                  \
  " UNION ALL" REV_SCOPE("par.regionalId = s.regionalId AND par.ruleType = 'regional'",     \
                         "ix_rule_regional")                                                \
  " UNION ALL" REV_SCOPE("par.restaurantId = s.restaurantId AND par.ruleType = 'restaurant'", \
                         "ix_rule_restaurant")                                              \
  ") "
/* INSERT ... ON DUPLICATE KEY: a channel created after migration 005 gets its row here. */
#define REV_BUMP(from)                                         \
  "INSERT " H                                                  \
  " INTO channelRuleRevision (channelId, revision, updatedAt)" \
  " SELECT g.channelId, 1, UTC_TIMESTAMP(6) FROM " from        \
  " ON DUPLICATE KEY UPDATE revision = revision + 1, updatedAt = UTC_TIMESTAMP(6)"

#define AVAIL_BATCH(scoped_cond)                                                             \
  AVAIL_STORE("")                                                                            \
  AVAIL_REQUESTED AVAIL_CANDIDATES(" AND par.productId IN (SELECT productId FROM rq)",       \
                                   scoped_cond) AVAIL_RANKED                                 \
      "SELECT " H                                                                            \
      " s.restaurantId, s.channelId, rq.productCode, rq.displayName, w.isHidden,"            \
      " w.productAvailabilityRuleId, w.ruleType, w.ruleEffect, w.createdBy, w.createdAt,"    \
      " w.updatedBy, w.updatedAt, rq.ord, s.onChannel"                                       \
      " FROM s LEFT JOIN (rq LEFT JOIN ranked w ON w.productId = rq.productId AND w.rn = 1)" \
      " ON 1 = 1 ORDER BY rq.ord"

const stmt_def sql_statements[STMT_COUNT] = {
    [STMT_AVAIL_LIST_FORWARD] = {"avail_list_forward",
                                 AVAIL_STORE("") AVAIL_CANDIDATES("", "") AVAIL_RANKED AVAIL_SELECT
                                 " ON w.rn = 1 AND w.ruleEffect = 'allow' AND p.productCode > ?"
                                 " ORDER BY p.productCode LIMIT ?"},
    [STMT_AVAIL_LIST_BACKWARD] = {"avail_list_backward",
                                  AVAIL_STORE("") AVAIL_CANDIDATES("", "") AVAIL_RANKED AVAIL_SELECT
                                  " ON w.rn = 1 AND w.ruleEffect = 'allow' AND p.productCode < ?"
                                  " ORDER BY p.productCode DESC LIMIT ?"},
    /* The winner even when it denies: the caller tells "denied" from "no rule". */
    [STMT_AVAIL_GET_ONE] =
        {"avail_get_one",
         AVAIL_STORE(", (SELECT productId FROM product WHERE productCode = ?) AS productId")
             AVAIL_CANDIDATES(" AND par.productId = s.productId",
                              " AND par.productId = s.productId") AVAIL_RANKED AVAIL_SELECT
         " ON w.rn = 1"},
    /* The list's CTEs restricted to the requested products; every requested code comes
     * back, in request order. Two shapes, picked by the number of codes (the optimizer
     * cannot: it estimates every JSON_TABLE at 40 rows). Narrow: every branch restricted, so
     * each reads the requested products' rules through ix_rule_product (a few lookups per
     * code: cheapest for short lists). Wide: only the global branch restricted; the three
     * store-scoped ones read their scope index as the list does (a bounded range whatever
     * the count) and the final join drops products nobody asked for. */
    [STMT_AVAIL_BATCH] = {"avail_batch",
                          AVAIL_BATCH(" AND par.productId IN (SELECT productId FROM rq)")},
    [STMT_AVAIL_BATCH_WIDE] = {"avail_batch_wide", AVAIL_BATCH("")},

    [STMT_RULE_RESOLVE] =
        {"rule_resolve", "SELECT " H " (SELECT productId FROM product WHERE productCode = ?),"
                         " (SELECT c.channelCode FROM productAvailabilityRuleGroup g"
                         "   JOIN channel c ON c.channelId = g.channelId"
                         "   WHERE g.productAvailabilityRuleGroupId = ?),"
                         " (SELECT marketId FROM market WHERE marketCode = ?),"
                         " (SELECT regionalId FROM regional WHERE regionalCode = ?),"
                         " (SELECT restaurantId FROM restaurant WHERE restaurantCode = ?),"
                         " (SELECT menuTypeId FROM menuType WHERE menuTypeCode = ?),"
                         " q.productAvailabilityRuleId, q.requestHash, q." REQUEST_EXPIRED
                         " FROM (SELECT CAST(? AS CHAR(36) CHARACTER SET ascii) AS requestId) k"
                         " LEFT JOIN availabilityRuleCreateRequest q ON q.requestId = k.requestId"},
    [STMT_RULE_INSERT] =
        {"rule_insert",
         "INSERT " H " INTO productAvailabilityRule (productId, productAvailabilityRuleGroupId,"
         " ruleType, ruleEffect, isHidden, isActive, restaurantId, marketId, regionalId,"
         " menuTypeId, effectiveDatetime, terminationDatetime, createdBy, createdAt, updatedBy,"
         " updatedAt, version) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6), ?,"
         " UTC_TIMESTAMP(6), 1)"},
    [STMT_RULE_SELECT] =
        {"rule_select",
         "SELECT " H " r.productAvailabilityRuleId, p.productCode,"
         " r.productAvailabilityRuleGroupId, c.channelCode, r.ruleType, r.ruleEffect, r.isHidden,"
         " r.isActive, m.marketCode, rg.regionalCode, rs.restaurantCode, mt.menuTypeCode,"
         " r.effectiveDatetime, r.terminationDatetime, r.createdBy, r.createdAt, r.updatedBy,"
         " r.updatedAt, r.version"
         " FROM productAvailabilityRule r"
         " JOIN product p ON p.productId = r.productId"
         " JOIN productAvailabilityRuleGroup g"
         "  ON g.productAvailabilityRuleGroupId = r.productAvailabilityRuleGroupId"
         " JOIN channel c ON c.channelId = g.channelId"
         " LEFT JOIN market m ON m.marketId = r.marketId"
         " LEFT JOIN regional rg ON rg.regionalId = r.regionalId"
         " LEFT JOIN restaurant rs ON rs.restaurantId = r.restaurantId"
         " LEFT JOIN menuType mt ON mt.menuTypeId = r.menuTypeId"
         " WHERE r.productAvailabilityRuleId = ?"},
    /* Only ever shortens the window. A rule terminated before it takes effect cannot keep an
     * empty window (CHECK effective < termination): it is deactivated instead. Only the version
     * the caller read is changed (0 rows: gone or stale, told apart by STMT_RULE_VERSION). */
    [STMT_RULE_TERMINATE] =
        {"rule_terminate",
         "UPDATE " H " productAvailabilityRule SET"
         " isActive = IF(effectiveDatetime >= CAST(? AS DATETIME(6)), 0, isActive),"
         " terminationDatetime = IF(effectiveDatetime < CAST(? AS DATETIME(6)),"
         "   LEAST(terminationDatetime, CAST(? AS DATETIME(6))), terminationDatetime),"
         " updatedBy = ?, updatedAt = UTC_TIMESTAMP(6), version = version + 1"
         " WHERE productAvailabilityRuleId = ? AND version = ?"},
    [STMT_RULE_VERSION] = {"rule_version", "SELECT " H " version FROM productAvailabilityRule"
                                           " WHERE productAvailabilityRuleId = ?"},
    [STMT_RULE_REQUEST_INSERT] = {"rule_request_insert",
                                  "INSERT " H " INTO availabilityRuleCreateRequest (requestId,"
                                  " requestHash, productAvailabilityRuleId, createdAt)"
                                  " VALUES (?, ?, ?, UTC_TIMESTAMP(6))"},
    [STMT_RULE_REQUEST_DELETE] = {"rule_request_delete",
                                  "DELETE " H " FROM availabilityRuleCreateRequest"
                                  " WHERE requestId = ? AND " REQUEST_EXPIRED},
    /* A bounded batch, oldest first (ix_rule_request_created). */
    [STMT_RULE_REQUEST_PURGE] = {"rule_request_purge",
                                 "DELETE " H " FROM availabilityRuleCreateRequest"
                                 " WHERE " REQUEST_EXPIRED " ORDER BY createdAt LIMIT 100"},

    [STMT_REVISION_CHANNEL] = {"revision_channel",
                               "SELECT " H " c.channelId, v.revision FROM channel c"
                               " LEFT JOIN channelRuleRevision v ON v.channelId = c.channelId"
                               " WHERE c.channelCode = ?"},
    [STMT_REVISION_STORE] = {"revision_store", AVAIL_STORE("") REV_NEXT
                             "SELECT " H " s.restaurantId, s.channelId, s.onChannel,"
                             " (SELECT v.revision FROM channelRuleRevision v"
                             "  WHERE v.channelId = s.channelId),"
                             " (SELECT MIN(b) FROM nx) FROM s"},
    [STMT_REVISION_BUMP_GROUP] = {"revision_bump_group",
                                  REV_BUMP("productAvailabilityRuleGroup g"
                                           " WHERE g.productAvailabilityRuleGroupId = ?")},
    [STMT_REVISION_BUMP_RULE] = {"revision_bump_rule",
                                 REV_BUMP("productAvailabilityRule r"
                                          " JOIN productAvailabilityRuleGroup g"
                                          "  ON g.productAvailabilityRuleGroupId ="
                                          "   r.productAvailabilityRuleGroupId"
                                          " WHERE r.productAvailabilityRuleId = ?")},

    REF_LIST(MARKETS, REF_MARKET, "m.marketCode"),
    [STMT_REF_MARKET_GET] = {"ref_market_get", REF_MARKET " AND m.marketCode = ?"},
    REF_LIST(REGIONS, REF_REGION_FILTERED, "g.regionalCode"),
    [STMT_REF_REGION_GET] = {"ref_region_get", REF_REGION " AND g.regionalCode = ?"},
    REF_LIST(RESTAURANTS, REF_RESTAURANT_FILTERED, "r.restaurantCode"),
    [STMT_REF_RESTAURANT_GET] = {"ref_restaurant_get", REF_RESTAURANT_COLS
                                 " FROM" REF_RESTAURANT_FROM " WHERE r.restaurantCode = ?"},
    REF_LIST(MENU_TYPES, REF_MENU_TYPE, "mt.menuTypeCode"),
    [STMT_REF_MENU_TYPE_GET] = {"ref_menu_type_get", REF_MENU_TYPE " AND mt.menuTypeCode = ?"},
    REF_LIST(RULE_GROUPS, REF_RULE_GROUP_FILTERED, "g.productAvailabilityRuleGroupId"),
    [STMT_REF_RULE_GROUP_GET] = {"ref_rule_group_get", REF_RULE_GROUP_COLS REF_RULE_GROUP_FROM
                                 " WHERE g.productAvailabilityRuleGroupId = ?"},
    REF_LIST(PRODUCTS, REF_PRODUCT, "p.productCode"),
    [STMT_REF_PRODUCT_GET] = {"ref_product_get", REF_PRODUCT " AND p.productCode = ?"},
};
