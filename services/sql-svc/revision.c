/* Rule revisions: the reads (STMT_REVISION_CHANNEL, STMT_REVISION_STORE), the bumps rules.c
 * runs inside its transactions, and GetAvailabilityRevision. */
#include "services/sql-svc/revision.h"

#include <string.h>

#include "common/validate.h"
#include "menu/v1/product_availability.pb-c.h"

/* One row: channelId, revision [, onChannel, revision, validUntil for the store form]. */
typedef struct {
  int32_t restaurant_id, channel_id;
  my_bool channel_null, revision_null, until_null;
  signed char on_channel;
  uint64_t revision;
  MYSQL_TIME until;
  MYSQL_BIND b[5];
} revision_row;

static menu_status fetch_one(pool_conn *conn, MYSQL_STMT *s, MYSQL_BIND *b, bool *found) {
  *found = false;
  if (mysql_stmt_bind_result(s, b))
    return pool_error_status(conn, mysql_stmt_errno(s), mysql_stmt_error(s), "bind result");
  menu_status st;
  *found = sql_row_fetch(conn, s, "revision", &st);
  return st;
}

static menu_status read_channel(pool_conn *conn, const char *channel, revision_info *out) {
  unsigned long l_channel;
  MYSQL_BIND p[1];
  sql_bind_str(&p[0], channel, &l_channel);
  MYSQL_STMT *s = NULL;
  menu_status st = pool_exec(conn, STMT_REVISION_CHANNEL, p, &s, NULL);
  if (!menu_status_is_ok(&st)) return st;
  revision_row r;
  memset(&r, 0, sizeof r);
  sql_result_fixed(&r.b[0], MYSQL_TYPE_LONG, &r.channel_id, NULL);
  sql_result_fixed(&r.b[1], MYSQL_TYPE_LONGLONG, &r.revision, &r.revision_null);
  r.b[1].is_unsigned = 1;
  bool found;
  st = fetch_one(conn, s, r.b, &found);
  pool_stmt_done(s);
  if (!menu_status_is_ok(&st)) return st;
  if (!found) return MENU_NOT_FOUND("channel: channel %s not found", channel);
  out->revision = r.revision_null ? 0 : r.revision;
  return MENU_OK;
}

static menu_status read_store(pool_conn *conn, const char *channel, const char *store, sql_usec at,
                              revision_info *out) {
  MYSQL_TIME at_t;
  sql_usec_to_mysql(at, &at_t);
  unsigned long l_channel, l_store;
  MYSQL_BIND p[3];
  sql_bind_time(&p[0], &at_t);
  sql_bind_str(&p[1], channel, &l_channel);
  sql_bind_str(&p[2], store, &l_store);
  MYSQL_STMT *s = NULL;
  menu_status st = pool_exec(conn, STMT_REVISION_STORE, p, &s, NULL);
  if (!menu_status_is_ok(&st)) return st;
  revision_row r;
  memset(&r, 0, sizeof r);
  sql_result_fixed(&r.b[0], MYSQL_TYPE_LONG, &r.restaurant_id, NULL);
  sql_result_fixed(&r.b[1], MYSQL_TYPE_LONG, &r.channel_id, &r.channel_null);
  sql_result_fixed(&r.b[2], MYSQL_TYPE_TINY, &r.on_channel, NULL);
  sql_result_fixed(&r.b[3], MYSQL_TYPE_LONGLONG, &r.revision, &r.revision_null);
  r.b[3].is_unsigned = 1;
  sql_result_fixed(&r.b[4], MYSQL_TYPE_DATETIME, &r.until, &r.until_null);
  bool found;
  st = fetch_one(conn, s, r.b, &found);
  pool_stmt_done(s);
  if (!menu_status_is_ok(&st)) return st;
  /* As BatchGetProductAvailabilities words them. */
  if (!found) return MENU_NOT_FOUND("store_code: store %s not found", store);
  if (r.channel_null) return MENU_NOT_FOUND("channel: channel %s not found", channel);
  out->revision = r.revision_null ? 0 : r.revision;
  out->has_valid_until = !r.until_null;
  if (out->has_valid_until) out->valid_until = sql_mysql_to_usec(&r.until);
  return MENU_OK;
}

menu_status revision_read(pool_conn *conn, const char *channel, const char *store, sql_usec at,
                          revision_info *out) {
  memset(out, 0, sizeof *out);
  return store ? read_store(conn, channel, store, at, out) : read_channel(conn, channel, out);
}

static menu_status bump(pool_conn *conn, stmt_id id, int64_t key) {
  MYSQL_BIND p;
  sql_bind_i64(&p, &key);
  MYSQL_STMT *s = NULL;
  menu_status st = pool_exec(conn, id, &p, &s, NULL);
  pool_stmt_done(s);
  return st;
}

menu_status revision_bump_group(pool_conn *conn, int64_t group_id) {
  return bump(conn, STMT_REVISION_BUMP_GROUP, group_id);
}

menu_status revision_bump_rule(pool_conn *conn, int64_t rule_id) {
  return bump(conn, STMT_REVISION_BUMP_RULE, rule_id);
}

menu_status revision_get(rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm,
                         void *svcp) {
  const Menu__V1__GetAvailabilityRevisionRequest *req = (const void *)reqm;
  Menu__V1__GetAvailabilityRevisionResponse *resp = (void *)respm;
  sqlsvc *svc = svcp;
  /* Every bad field, not only the first. */
  menu_status st = MENU_OK;
  const char *channel = sql_channel_code(req->channel);
  if (!channel) menu_status_add_violation(&st, "channel", "required (not CHANNEL_UNSPECIFIED)");
  const char *store = req->store_code && *req->store_code ? req->store_code : NULL;
  if (store && !validate_code(store))
    menu_status_add_violation(&st, "store_code", "must match " VALIDATE_CODE_PATTERN);
  sql_usec at = sql_now_usec();
  if (req->at_time) {
    menu_status f = sql_ts_to_usec(req->at_time, "at_time", &at);
    menu_status_merge(&st, &f);
  }
  if (!menu_status_is_ok(&st)) return st;

  pool_conn *conn = NULL;
  st = pool_acquire(svc->pool, rpc_ctx_work_deadline_ms(ctx), &conn);
  if (!menu_status_is_ok(&st)) return st;
  revision_info info;
  st = revision_read(conn, channel, store, at, &info);
  pool_release(svc->pool, conn);
  if (!menu_status_is_ok(&st)) return st;
  resp->channel = req->channel;
  resp->revision = info.revision;
  if (store) {
    resp->at_time = sql_usec_to_ts(ctx, at);
    if (info.has_valid_until) resp->valid_until = sql_usec_to_ts(ctx, info.valid_until);
  }
  return MENU_OK;
}
