/* DynamoDB client: the JSON 1.0 protocol (X-Amz-Target: DynamoDB_20120810.<Op>) over pooled
 * libcurl handles, SigV4-signed, with the SDKs' standard retries bounded by the caller's
 * deadline, and per-operation metrics. One client serves every handler thread: thread-safe.
 * Items and keys are jansson values in DynamoDB's own attribute-value JSON
 * ({"pk":{"S":"CHANNEL#KIOSK"},"version":{"N":"3"}}). */
#ifndef DDB_DDB_H
#define DDB_DDB_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "common/mono_clock.h"
#include "common/metrics.h"
#include "common/status.h"
#include "services/dynamo-svc/ddb/clock.h"
#include "services/dynamo-svc/ddb/creds.h"
#include "services/dynamo-svc/ddb/http.h"

typedef struct ddb_client ddb_client;

typedef struct {
  char endpoint[512];           /* DYNAMODB_ENDPOINT resolved to a URL */
  const char *region;           /* AWS_REGION / AWS_DEFAULT_REGION, "us-east-1" */
  bool local;                   /* endpoint on loopback: dummy credentials are fine */
  int max_attempts;             /* DYNAMODB_MAX_ATTEMPTS, 3 (1 = no retries) */
  int64_t retry_base_ms;        /* DYNAMODB_RETRY_BASE_MS, 25 */
  int64_t retry_max_backoff_ms; /* DYNAMODB_RETRY_MAX_BACKOFF_MS, 2000 */
  int retry_quota;              /* DYNAMODB_RETRY_QUOTA, 500 tokens */
  int64_t connect_timeout_ms;   /* DYNAMODB_CONNECT_TIMEOUT_MS, 1000 */
  int max_idle_connections;     /* DYNAMODB_MAX_IDLE_CONNECTIONS, 64 */
} ddb_config;

/* Reads the variables above (problems recorded in c). DYNAMODB_ENDPOINT: unset means the
 * local default http://127.0.0.1:8000; "aws" or "" (set but empty) means the real service,
 * https://dynamodb.<region>.amazonaws.com; anything else is used as the URL. */
void ddb_config_load(config *c, ddb_config *out);

/* Takes ownership of pool and creds (destroyed with the client); metrics is borrowed and
 * may be NULL. Returns NULL when the endpoint URL is unusable. */
ddb_client *ddb_client_create(const ddb_config *cfg, http_pool *pool, creds_provider *creds,
                              metrics_registry *metrics);
/* Builds pool and credentials from the environment (creds_from_env). NULL with problems in c. */
ddb_client *ddb_client_from_env(config *c, metrics_registry *metrics);
void ddb_client_destroy(ddb_client *c);
/* The endpoint URL with any credentials removed (for logs); borrowed from the client. */
const char *ddb_client_endpoint(const ddb_client *c);

typedef enum {
  DDB_ERR_NONE = 0,
  DDB_ERR_CONDITION,   /* ConditionalCheckFailedException: the caller decides the code */
  DDB_ERR_VALIDATION,  /* ValidationException (never retried) */
  DDB_ERR_NO_TABLE,    /* ResourceNotFoundException */
  DDB_ERR_IN_USE,      /* ResourceInUseException (CreateTable of an existing table) */
  DDB_ERR_THROTTLED,   /* still throttled when attempts, quota or deadline ran out */
  DDB_ERR_UNAVAILABLE, /* unreachable, 5xx, broken connections, credentials refused */
  DDB_ERR_DEADLINE,    /* the deadline passed */
  DDB_ERR_OTHER,       /* any other error answer */
} ddb_error_kind;

typedef struct {
  ddb_error_kind kind;
  char type[96];     /* __type after '#', or "" (transport errors) */
  char message[256]; /* DynamoDB's message or libcurl's */
  long http_status;  /* 0 when no answer */
  int attempts;      /* requests sent (also set on success) */
  /* A retry followed a failure that may have been applied (5xx, a lost or damaged answer, a
   * timeout): a conditional write that now fails its condition may have failed on itself. */
  bool maybe_applied;
} ddb_error;

/* The status a handler returns for err when it has no better idea: CONDITION -> ABORTED,
 * VALIDATION -> INVALID_ARGUMENT for item-size limits else INTERNAL, NO_TABLE ->
 * FAILED_PRECONDITION, THROTTLED -> RESOURCE_EXHAUSTED, UNAVAILABLE -> UNAVAILABLE,
 * DEADLINE -> DEADLINE_EXCEEDED, OTHER -> INTERNAL. */
menu_status ddb_error_status(const char *op, const ddb_error *err);

/* Low level: sends `body` (borrowed) as operation `op` and returns the parsed answer in
 * *out (caller json_decrefs). deadline_ms is a mono_now_ms() time. err may be NULL. Retries
 * as documented above; never sleeps past the deadline. */
menu_status ddb_call(ddb_client *c, const char *op, json_t *body, int64_t deadline_ms, json_t **out,
                     ddb_error *err);

/* Told after every operation that sent at least one request whether DynamoDB answered
 * (anything, even an error) or could not be reached. Runs on the calling thread; must not
 * block. Set once before the client is used. */
typedef void (*ddb_reachability_fn)(void *arg, bool reachable);
void ddb_client_on_reachability(ddb_client *c, ddb_reachability_fn fn, void *arg);

/* A readiness probe: one DescribeTable of `table` (free, no capacity), a single attempt
 * that takes no retry tokens. OK when DynamoDB answered with the table. */
menu_status ddb_ping(ddb_client *c, const char *table, int64_t deadline_ms);

/* ---- operations ------------------------------------------------------------------------- */

typedef struct {
  const char *table;
  json_t *key;               /* Get/Update/Delete: borrowed */
  json_t *item;              /* Put: borrowed */
  const char *update;        /* Update: UpdateExpression */
  const char *condition;     /* ConditionExpression or NULL */
  json_t *names;             /* ExpressionAttributeNames, borrowed, may be NULL */
  json_t *values;            /* ExpressionAttributeValues, borrowed, may be NULL */
  const char *return_values; /* "ALL_NEW", "ALL_OLD" or NULL (NONE) */
  bool consistent_read;      /* Get */
} ddb_item_op;

/* *item_out: the item or NULL when absent (caller decrefs). */
menu_status ddb_get_item(ddb_client *c, const ddb_item_op *op, int64_t deadline_ms,
                         json_t **item_out, ddb_error *err);
/* *attrs_out (may be NULL): the Attributes asked for with return_values, NULL if none. */
menu_status ddb_put_item(ddb_client *c, const ddb_item_op *op, int64_t deadline_ms,
                         json_t **attrs_out, ddb_error *err);
menu_status ddb_update_item(ddb_client *c, const ddb_item_op *op, int64_t deadline_ms,
                            json_t **attrs_out, ddb_error *err);
menu_status ddb_delete_item(ddb_client *c, const ddb_item_op *op, int64_t deadline_ms,
                            json_t **attrs_out, ddb_error *err);

typedef struct {
  const char *table;
  const char *index;           /* IndexName or NULL for the table */
  const char *key_condition;   /* KeyConditionExpression */
  json_t *names, *values;      /* borrowed, may be NULL */
  json_t *exclusive_start_key; /* borrowed, may be NULL */
  int limit;                   /* 0: none */
  bool forward;                /* ScanIndexForward */
  bool consistent_read;
} ddb_query_op;

/* One Query call: *items_out an array (caller decrefs); *last_key_out the
 * LastEvaluatedKey or NULL (caller decrefs; may be NULL to ignore). */
menu_status ddb_query(ddb_client *c, const ddb_query_op *op, int64_t deadline_ms,
                      json_t **items_out, json_t **last_key_out, ddb_error *err);

/* BatchGetItem of any number of keys of one table (sent 100 at a time), UnprocessedKeys
 * retried with backoff until done, the attempts run out (RESOURCE_EXHAUSTED) or the deadline
 * passes. *items_out: the items found, in no particular order (caller decrefs). */
menu_status ddb_batch_get_item(ddb_client *c, const char *table, json_t *keys, bool consistent_read,
                               int64_t deadline_ms, json_t **items_out, ddb_error *err);

/* *table_out: the Table description, NULL when the table does not exist (caller decrefs). */
menu_status ddb_describe_table(ddb_client *c, const char *table, int64_t deadline_ms,
                               json_t **table_out, ddb_error *err);
/* body: a CreateTable request (borrowed). An existing table is err->kind DDB_ERR_IN_USE. */
menu_status ddb_create_table(ddb_client *c, json_t *body, int64_t deadline_ms, ddb_error *err);

/* ---- attribute values ------------------------------------------------------------------- */

json_t *ddb_s(const char *s); /* {"S": s}, new reference */
json_t *ddb_n(int64_t n);     /* {"N": "n"} */
/* The string of attribute `name` when it is an S, else NULL (borrowed from item). */
const char *ddb_item_s(const json_t *item, const char *name);
/* The integer of attribute `name` when it is an N holding an int64. */
bool ddb_item_n(const json_t *item, const char *name, int64_t *out);
/* The array of an L attribute, NULL otherwise (borrowed). */
json_t *ddb_item_l(const json_t *item, const char *name);

#endif
