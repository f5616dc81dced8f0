/* The three tables and their key schema, created at start-up when DYNAMODB_CREATE_TABLES=1
 * (local stacks) and only checked otherwise. Every table: partition key pk (S) =
 * "CHANNEL#<CHANNEL>", sort key sk (S) = the entity's id or product code. Categories add the
 * local secondary index by_display_order on order_key (S) = zero-padded display_order "#" id. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/mono_clock.h"
#include "services/dynamo-svc/dynamo.h"

static json_t *table_def(const char *name, bool with_order_index) {
  json_t *attrs = json_pack("[{s:s,s:s},{s:s,s:s}]", "AttributeName", "pk", "AttributeType", "S",
                            "AttributeName", "sk", "AttributeType", "S");
  json_t *def =
      json_pack("{s:s,s:o,s:[{s:s,s:s},{s:s,s:s}],s:s}", "TableName", name, "AttributeDefinitions",
                attrs, "KeySchema", "AttributeName", "pk", "KeyType", "HASH", "AttributeName", "sk",
                "KeyType", "RANGE", "BillingMode", "PAY_PER_REQUEST");
  if (with_order_index) {
    json_array_append_new(
        attrs, json_pack("{s:s,s:s}", "AttributeName", "order_key", "AttributeType", "S"));
    json_object_set_new(
        def, "LocalSecondaryIndexes",
        json_pack("[{s:s,s:[{s:s,s:s},{s:s,s:s}],s:{s:s}}]", "IndexName", DYN_CATEGORY_INDEX,
                  "KeySchema", "AttributeName", "pk", "KeyType", "HASH", "AttributeName",
                  "order_key", "KeyType", "RANGE", "Projection", "ProjectionType", "ALL"));
  }
  return def;
}

static bool has_index(const json_t *table, const char *index) {
  json_t *lsis = json_object_get(table, "LocalSecondaryIndexes");
  size_t i;
  json_t *v;
  json_array_foreach(lsis, i, v) {
    const char *n = json_string_value(json_object_get(v, "IndexName"));
    if (n && !strcmp(n, index)) return true;
  }
  return false;
}

static menu_status ensure_one(dyn_svc *s, const char *name, bool with_order_index,
                              int64_t deadline_ms) {
  json_t *t = NULL;
  ddb_error err;
  menu_status st = ddb_describe_table(s->ddb, name, deadline_ms, &t, &err);
  if (!menu_status_is_ok(&st)) return st;
  if (!t) {
    if (!s->create_tables)
      return menu_status_make(GRPC_STATUS_FAILED_PRECONDITION,
                              "table %s does not exist (DYNAMODB_CREATE_TABLES=0)", name);
    json_t *def = table_def(name, with_order_index);
    st = ddb_create_table(s->ddb, def, deadline_ms, &err);
    json_decref(def);
    if (!menu_status_is_ok(&st) && err.kind != DDB_ERR_IN_USE) return st; /* a replica raced us */
    log_info("created DynamoDB table", "table", name, NULL);
  }
  /* Wait until ACTIVE: writes to a CREATING table fail. */
  for (;;) {
    const char *status = json_string_value(json_object_get(t, "TableStatus"));
    if (t && status && !strcmp(status, "ACTIVE")) break;
    if (mono_now_ms() + 200 >= deadline_ms) {
      json_decref(t);
      return MENU_UNAVAILABLE("table %s is not ACTIVE yet", name);
    }
    if (t) nanosleep(&(struct timespec){0, 200 * 1000000}, NULL);
    json_decref(t);
    t = NULL;
    st = ddb_describe_table(s->ddb, name, deadline_ms, &t, &err);
    if (!menu_status_is_ok(&st)) return st;
  }
  if (with_order_index && !has_index(t, DYN_CATEGORY_INDEX)) {
    json_decref(t);
    return menu_status_make(GRPC_STATUS_FAILED_PRECONDITION,
                            "table %s lacks the local secondary index " DYN_CATEGORY_INDEX
                            " (see services/dynamo-svc/README.md)",
                            name);
  }
  json_decref(t);
  return MENU_OK;
}

menu_status dyn_tables_ensure(dyn_svc *s, int64_t deadline_ms) {
  menu_status st = ensure_one(s, s->category_table, true, deadline_ms);
  if (menu_status_is_ok(&st)) st = ensure_one(s, s->ghost_swap_table, false, deadline_ms);
  if (menu_status_is_ok(&st)) st = ensure_one(s, s->collection_table, false, deadline_ms);
  return st;
}
