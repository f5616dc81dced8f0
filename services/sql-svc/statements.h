/* Every SQL statement sql-svc sends at run time, by id: the pool prepares each once per
 * connection and caches it. Keeping the SQL in one file makes it reviewable as a whole and
 * lets EXPLAIN checks (README) run the exact text the service runs. */
#ifndef SQL_STATEMENTS_H
#define SQL_STATEMENTS_H

typedef enum {
  /* Availability: params (at DATETIME, channelCode, restaurantCode, productCode bound, limit).
   * Columns: see AVAIL_COL_* in availability.c. */
  STMT_AVAIL_LIST_FORWARD = 0,
  STMT_AVAIL_LIST_BACKWARD,
  /* params (at, productCode, channelCode, restaurantCode). */
  STMT_AVAIL_GET_ONE,
  /* params (at, channelCode, restaurantCode, JSON array of product codes). One row per
   * requested code in request order (the store row alone when the array is empty); columns
   * as the list's, then ord (1-based request index) and onChannel. BATCH for up to
   * AVAIL_BATCH_NARROW_MAX codes, BATCH_WIDE above (same answers, other plan). */
  STMT_AVAIL_BATCH,
  STMT_AVAIL_BATCH_WIDE,
  /* Rules. */
  STMT_RULE_RESOLVE, /* (productCode, groupId, marketCode, regionalCode, restaurantCode,
                        menuTypeCode, requestId) -> productId, the group's channelCode,
                        marketId, regionalId, restaurantId, menuTypeId (NULL when unknown),
                        then the request's ruleId, requestHash, expired (NULL when none) */
  STMT_RULE_INSERT,
  STMT_RULE_SELECT,         /* (ruleId) */
  STMT_RULE_TERMINATE,      /* (at, at, at, updatedBy, ruleId, version) */
  STMT_RULE_VERSION,        /* (ruleId) -> version */
  STMT_RULE_REQUEST_INSERT, /* (requestId, requestHash, ruleId) */
  STMT_RULE_REQUEST_DELETE, /* (requestId): that key, when it expired */
  STMT_RULE_REQUEST_PURGE,  /* () a batch of expired keys */
  /* Rule revisions (revision.c). (channelCode) -> channelId, revision. */
  STMT_REVISION_CHANNEL,
  /* (at, channelCode, restaurantCode) -> restaurantId, channelId (NULL: unknown channel),
   * onChannel, revision, validUntil (NULL: no boundary after at); no row: unknown store. */
  STMT_REVISION_STORE,
  STMT_REVISION_BUMP_GROUP, /* (groupId): +1 on the group's channel */
  STMT_REVISION_BUMP_RULE,  /* (ruleId): +1 on the channel of the rule's group */
  /* Reference data (reference.c). Lists: params (filters..., key, limit), forward: key >
   * ORDER BY key; backward: key < ORDER BY key DESC. Gets: (key). Columns: the node's. */
  STMT_REF_MARKETS_FWD,
  STMT_REF_MARKETS_BWD,
  STMT_REF_MARKET_GET,
  STMT_REF_REGIONS_FWD, /* filters (marketCode or '') */
  STMT_REF_REGIONS_BWD,
  STMT_REF_REGION_GET,
  STMT_REF_RESTAURANTS_FWD, /* filters (marketCode, regionalCode, channelCode; '' = any) */
  STMT_REF_RESTAURANTS_BWD,
  STMT_REF_RESTAURANT_GET,
  STMT_REF_MENU_TYPES_FWD,
  STMT_REF_MENU_TYPES_BWD,
  STMT_REF_MENU_TYPE_GET,
  STMT_REF_RULE_GROUPS_FWD, /* filters (channelCode or ''); key: the group id */
  STMT_REF_RULE_GROUPS_BWD,
  STMT_REF_RULE_GROUP_GET,
  STMT_REF_PRODUCTS_FWD,
  STMT_REF_PRODUCTS_BWD,
  STMT_REF_PRODUCT_GET,
  STMT_COUNT
} stmt_id;

/* Up to this many codes BatchGetProductAvailabilities reads rules product by product
 * (STMT_AVAIL_BATCH); above it, by the store's scopes (STMT_AVAIL_BATCH_WIDE). Measured on the
 * generated set: the two cost about the same at 100 codes. */
#define AVAIL_BATCH_NARROW_MAX 100

/* Every statement carries SQL_LIMIT_HINT (stmt_limit.h) after its top-level keyword. */
typedef struct {
  const char *name; /* metrics label */
  const char *sql;
} stmt_def;

/* How long CreateAvailabilityRule remembers a request_id (AIP-155). */
#define SQL_REQUEST_ID_WINDOW "INTERVAL 24 HOUR"

/* Indexed by stmt_id. Immutable. */
extern const stmt_def sql_statements[STMT_COUNT];

#endif
