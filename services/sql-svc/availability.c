/* The availability handlers: input checks, the cursor (scope = store and channel; payload =
 * evaluation instant and product code, both authenticated: a position in the list, valid with
 * `after` and `before` alike), one statement per call, and the Relay page built from limit+1
 * rows. */
#include "services/sql-svc/availability.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/field_check.h"
#include "common/page.h"
#include "common/strbuf.h"
#include "menu/v1/product_availability.pb-c.h"
#include "common/validate.h"
#include "services/sql-svc/revision.h"
#include "services/sql-svc/sqlsvc.h"

/* Greater than any product code under utf8mb4_bin: U+10FFFF (backward paging from the end). */
#define CODE_AFTER_ALL "\xF4\x8F\xBF\xBF"

int availability_rule_type_from_db(const char *s) {
  if (!s) return MENU__V1__RULE_TYPE__RULE_TYPE_UNSPECIFIED;
  if (!strcmp(s, "global-experience")) return MENU__V1__RULE_TYPE__RULE_TYPE_GLOBAL_EXPERIENCE;
  if (!strcmp(s, "market")) return MENU__V1__RULE_TYPE__RULE_TYPE_MARKET;
  if (!strcmp(s, "regional")) return MENU__V1__RULE_TYPE__RULE_TYPE_REGIONAL;
  if (!strcmp(s, "restaurant")) return MENU__V1__RULE_TYPE__RULE_TYPE_RESTAURANT;
  return MENU__V1__RULE_TYPE__RULE_TYPE_UNSPECIFIED;
}

const char *availability_rule_type_to_db(int t) {
  switch (t) {
    case MENU__V1__RULE_TYPE__RULE_TYPE_GLOBAL_EXPERIENCE:
      return "global-experience";
    case MENU__V1__RULE_TYPE__RULE_TYPE_MARKET:
      return "market";
    case MENU__V1__RULE_TYPE__RULE_TYPE_REGIONAL:
      return "regional";
    case MENU__V1__RULE_TYPE__RULE_TYPE_RESTAURANT:
      return "restaurant";
    default:
      return NULL;
  }
}

/* Result row of the STMT_AVAIL_* statements (column order fixed in statements.c). */
typedef struct {
  int32_t restaurant_id, channel_id, ord; /* ord, on_channel: STMT_AVAIL_BATCH only */
  my_bool restaurant_null, channel_null, hidden_null, rule_null, created_null, updated_null,
      ord_null;
  signed char is_hidden, on_channel;
  int64_t rule_id;
  MYSQL_TIME created_at, updated_at;
  sql_strcol code, name, type, effect, created_by, updated_by;
  char code_buf[256], name_buf[1024], type_buf[32], effect_buf[16], cby_buf[512], uby_buf[512];
  MYSQL_BIND b[14];
} avail_row;

static void avail_row_bind(avail_row *r) {
  memset(r->b, 0, sizeof r->b);
  sql_result_fixed(&r->b[0], MYSQL_TYPE_LONG, &r->restaurant_id, &r->restaurant_null);
  sql_result_fixed(&r->b[1], MYSQL_TYPE_LONG, &r->channel_id, &r->channel_null);
  sql_result_str(&r->b[2], &r->code, r->code_buf, sizeof r->code_buf);
  sql_result_str(&r->b[3], &r->name, r->name_buf, sizeof r->name_buf);
  sql_result_fixed(&r->b[4], MYSQL_TYPE_TINY, &r->is_hidden, &r->hidden_null);
  sql_result_fixed(&r->b[5], MYSQL_TYPE_LONGLONG, &r->rule_id, &r->rule_null);
  sql_result_str(&r->b[6], &r->type, r->type_buf, sizeof r->type_buf);
  sql_result_str(&r->b[7], &r->effect, r->effect_buf, sizeof r->effect_buf);
  sql_result_str(&r->b[8], &r->created_by, r->cby_buf, sizeof r->cby_buf);
  sql_result_fixed(&r->b[9], MYSQL_TYPE_DATETIME, &r->created_at, &r->created_null);
  sql_result_str(&r->b[10], &r->updated_by, r->uby_buf, sizeof r->uby_buf);
  sql_result_fixed(&r->b[11], MYSQL_TYPE_DATETIME, &r->updated_at, &r->updated_null);
  /* The list and get statements have 12 columns; Connector/C reads as many binds as the
   * result has columns, so the batch's two extra ones cost them nothing. */
  sql_result_fixed(&r->b[12], MYSQL_TYPE_LONG, &r->ord, &r->ord_null);
  sql_result_fixed(&r->b[13], MYSQL_TYPE_TINY, &r->on_channel, NULL);
}

static Menu__V1__ProductAvailability *avail_node(rpc_ctx *ctx, avail_row *r) {
  Menu__V1__ProductAvailability *n =
      RPC_NEW(ctx, Menu__V1__ProductAvailability, menu__v1__product_availability__init);
  n->product_code = rpc_ctx_strdup(ctx, sql_strcol_value(&r->code));
  const char *name = sql_strcol_value(&r->name);
  n->display_name = rpc_ctx_strdup(ctx, name ? name : "");
  n->is_hidden = !r->hidden_null && r->is_hidden;
  n->rule_id = r->rule_id;
  n->rule_type = availability_rule_type_from_db(sql_strcol_value(&r->type));
  const char *cby = sql_strcol_value(&r->created_by), *uby = sql_strcol_value(&r->updated_by);
  n->created_by = rpc_ctx_strdup(ctx, cby ? cby : "");
  n->updated_by = rpc_ctx_strdup(ctx, uby ? uby : "");
  if (!r->created_null) n->create_time = sql_usec_to_ts(ctx, sql_mysql_to_usec(&r->created_at));
  if (!r->updated_null) n->update_time = sql_usec_to_ts(ctx, sql_mysql_to_usec(&r->updated_at));
  return n;
}

/* Store and channel checks shared by both RPCs. */
static menu_status check_store_channel(const char *store, Menu__V1__Channel channel,
                                       const char **channel_code) {
  menu_status st = field_check_code(store, "store_code");
  if (!menu_status_is_ok(&st)) return st;
  *channel_code = sql_channel_code(channel);
  if (!*channel_code) return MENU_INVALID("channel: required (not CHANNEL_UNSPECIFIED)");
  return MENU_OK;
}

static menu_status store_row_status(int rows, const avail_row *r, const char *store,
                                    const char *channel) {
  if (rows == 0) return MENU_NOT_FOUND("store_code: store %s not found", store);
  if (r->channel_null) return MENU_NOT_FOUND("channel: channel %s not found", channel);
  return MENU_OK;
}

/* Cursor payload "<instant in usec>:<product code>"; the scope names the list (store and
 * channel; the instant is in the payload), never a direction: the same cursor serves `after`
 * (items past it) and `before` (items ahead of it), as in dynamo-svc. */
static void cursor_scope(char *out, size_t n, const char *store, const char *channel) {
  snprintf(out, n, "availability:%s:%s", store, channel);
}

menu_status availability_list(rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm,
                              void *svcp) {
  const Menu__V1__ListProductAvailabilitiesRequest *req = (const void *)reqm;
  Menu__V1__ListProductAvailabilitiesResponse *resp = (void *)respm;
  sqlsvc *svc = svcp;
  const char *channel = NULL;
  menu_status st = check_store_channel(req->store_code, req->channel, &channel);
  if (!menu_status_is_ok(&st)) return st;
  page_params pg;
  const Menu__V1__PageRequest *p = req->page;
  st = page_params_parse(p ? p->first : 0, p ? p->after : NULL, p ? p->last : 0,
                         p ? p->before : NULL, PAGE_DEFAULT_SIZE, PAGE_MAX_SIZE, &pg);
  if (!menu_status_is_ok(&st)) return st;

  sql_usec at = 0;
  bool at_given = req->at_time != NULL;
  if (at_given) {
    st = sql_ts_to_usec(req->at_time, "at_time", &at);
    if (!menu_status_is_ok(&st)) return st;
  }
  char scope[200];
  cursor_scope(scope, sizeof scope, req->store_code, channel);
  const char *key_code = pg.forward ? "" : CODE_AFTER_ALL;
  if (pg.cursor) {
    char *payload = NULL;
    st = cursor_decode(&svc->cursor_key, scope, pg.cursor, pg.cursor_field, &payload);
    if (!menu_status_is_ok(&st)) return st;
    char *colon = strchr(payload, ':');
    char *end = NULL;
    long long cur_at = colon ? strtoll(payload, &end, 10) : 0;
    if (!colon || end != colon || !validate_code(colon + 1)) {
      free(payload);
      return MENU_INVALID("%s: malformed cursor", pg.cursor_field);
    }
    if (at_given && cur_at != at) {
      free(payload);
      return MENU_INVALID(
          "at_time: differs from the instant %s was issued for; omit at_time "
          "or send the response's at_time",
          pg.cursor_field);
    }
    at = cur_at;
    key_code = rpc_ctx_strdup(ctx, colon + 1);
    free(payload);
  } else if (!at_given) {
    at = sql_now_usec();
  }

  MYSQL_TIME at_t;
  sql_usec_to_mysql(at, &at_t);
  int64_t limit = pg.limit + 1;
  unsigned long l_channel, l_store, l_key;
  MYSQL_BIND params[5];
  sql_bind_time(&params[0], &at_t);
  sql_bind_str(&params[1], channel, &l_channel);
  sql_bind_str(&params[2], req->store_code, &l_store);
  sql_bind_str(&params[3], key_code, &l_key);
  sql_bind_i64(&params[4], &limit);

  pool_conn *conn = NULL;
  st = pool_acquire(svc->pool, rpc_ctx_work_deadline_ms(ctx), &conn);
  if (!menu_status_is_ok(&st)) return st;
  MYSQL_STMT *s = NULL;
  st = pool_exec(conn, pg.forward ? STMT_AVAIL_LIST_FORWARD : STMT_AVAIL_LIST_BACKWARD, params, &s,
                 NULL);
  if (!menu_status_is_ok(&st)) goto out;

  avail_row *row = arena_alloc(rpc_ctx_arena(ctx), sizeof *row);
  avail_row_bind(row);
  if (mysql_stmt_bind_result(s, row->b)) {
    st = pool_error_status(conn, mysql_stmt_errno(s), mysql_stmt_error(s), "bind result");
    goto out;
  }
  int rows = 0, fetched = 0;
  Menu__V1__ProductAvailabilityEdge **edges =
      RPC_NEW_ARRAY(ctx, Menu__V1__ProductAvailabilityEdge *, (size_t)limit);
  while (sql_row_fetch(conn, s, "availability", &st)) {
    rows++;
    if (!sql_strcol_value(&row->code) || fetched >= limit) continue;
    Menu__V1__ProductAvailabilityEdge *e =
        RPC_NEW(ctx, Menu__V1__ProductAvailabilityEdge, menu__v1__product_availability_edge__init);
    e->node = avail_node(ctx, row);
    edges[fetched++] = e;
  }
  if (!menu_status_is_ok(&st)) goto out;
  st = store_row_status(rows, row, req->store_code, channel);
  if (!menu_status_is_ok(&st)) goto out;

  bool has_next, has_prev;
  page_flags(&pg, fetched, &has_next, &has_prev);
  int n = fetched > pg.limit ? pg.limit : fetched;
  if (!pg.forward) { /* fetched in descending order */
    for (int i = 0, j = n - 1; i < j; i++, j--) {
      Menu__V1__ProductAvailabilityEdge *t = edges[i];
      edges[i] = edges[j];
      edges[j] = t;
    }
  }
  /* Each edge's cursor is its position: end_cursor continues with first/after, start_cursor
   * goes back with last/before, whichever direction produced the page. */
  for (int i = 0; i < n; i++) {
    char payload[128];
    snprintf(payload, sizeof payload, "%" PRId64 ":%s", (int64_t)at, edges[i]->node->product_code);
    char *c = cursor_encode(&svc->cursor_key, scope, payload);
    edges[i]->cursor = rpc_ctx_strdup(ctx, c);
    free(c);
  }
  resp->edges = edges;
  resp->n_edges = (size_t)n;
  resp->page_info = RPC_NEW(ctx, Menu__V1__PageInfo, menu__v1__page_info__init);
  resp->page_info->has_next_page = has_next;
  resp->page_info->has_previous_page = has_prev;
  resp->page_info->start_cursor = n ? edges[0]->cursor : (char *)"";
  resp->page_info->end_cursor = n ? edges[n - 1]->cursor : (char *)"";
  resp->at_time = sql_usec_to_ts(ctx, at);
out:
  pool_stmt_done(s);
  pool_release(svc->pool, conn);
  return st;
}

menu_status availability_get(rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm,
                             void *svcp) {
  const Menu__V1__GetProductAvailabilityRequest *req = (const void *)reqm;
  Menu__V1__GetProductAvailabilityResponse *resp = (void *)respm;
  sqlsvc *svc = svcp;
  const char *channel = NULL;
  menu_status st = check_store_channel(req->store_code, req->channel, &channel);
  if (!menu_status_is_ok(&st)) return st;
  if (!req->product_code || !*req->product_code) return MENU_INVALID("product_code: required");
  if (!validate_code(req->product_code))
    return MENU_INVALID("product_code: must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$");
  sql_usec at = sql_now_usec();
  if (req->at_time) {
    st = sql_ts_to_usec(req->at_time, "at_time", &at);
    if (!menu_status_is_ok(&st)) return st;
  }
  MYSQL_TIME at_t;
  sql_usec_to_mysql(at, &at_t);
  unsigned long l_channel, l_store, l_product;
  MYSQL_BIND params[4];
  sql_bind_time(&params[0], &at_t);
  sql_bind_str(&params[1], req->product_code, &l_product);
  sql_bind_str(&params[2], channel, &l_channel);
  sql_bind_str(&params[3], req->store_code, &l_store);

  pool_conn *conn = NULL;
  st = pool_acquire(svc->pool, rpc_ctx_work_deadline_ms(ctx), &conn);
  if (!menu_status_is_ok(&st)) return st;
  MYSQL_STMT *s = NULL;
  st = pool_exec(conn, STMT_AVAIL_GET_ONE, params, &s, NULL);
  if (!menu_status_is_ok(&st)) goto out;
  avail_row *row = arena_alloc(rpc_ctx_arena(ctx), sizeof *row);
  avail_row_bind(row);
  if (mysql_stmt_bind_result(s, row->b)) {
    st = pool_error_status(conn, mysql_stmt_errno(s), mysql_stmt_error(s), "bind result");
    goto out;
  }
  int rows = 0;
  Menu__V1__ProductAvailability *found = NULL;
  bool denied = false;
  while (sql_row_fetch(conn, s, "availability", &st)) {
    rows++;
    if (found || denied || !sql_strcol_value(&row->code)) continue;
    const char *effect = sql_strcol_value(&row->effect);
    if (effect && !strcmp(effect, "allow"))
      found = avail_node(ctx, row);
    else
      denied = true;
  }
  if (!menu_status_is_ok(&st)) goto out;
  st = store_row_status(rows, row, req->store_code, channel);
  if (!menu_status_is_ok(&st)) goto out;
  if (!found) {
    st = MENU_NOT_FOUND("product_code: %s is not available at store %s on %s (%s)",
                        req->product_code, req->store_code, channel,
                        denied ? "its winning rule denies it" : "no rule applies");
    goto out;
  }
  resp->product_availability = found;
out:
  pool_stmt_done(s);
  pool_release(svc->pool, conn);
  return st;
}

/* Rejects more than AVAILABILITY_BATCH_MAX codes, empty or malformed ones and duplicates, each
 * naming the field by index. On success *json is the codes as a JSON array (caller frees):
 * validated codes hold only [A-Za-z0-9_.-], so none needs escaping. */
static menu_status check_batch_codes(char **codes, size_t n, char **json) {
  menu_status st = field_check_code_list(codes, n, AVAILABILITY_BATCH_MAX, "product_codes", true);
  if (!menu_status_is_ok(&st)) return st;
  strbuf b;
  strbuf_init(&b);
  strbuf_putc(&b, '[');
  for (size_t i = 0; i < n; i++) {
    strbuf_printf(&b, "%s\"%s\"", i ? "," : "", codes[i]);
  }
  strbuf_putc(&b, ']');
  *json = strbuf_take(&b);
  return MENU_OK;
}

static Menu__V1__ProductAvailabilityResult *batch_result(rpc_ctx *ctx, avail_row *r,
                                                         const char *code) {
  Menu__V1__ProductAvailabilityResult *res = RPC_NEW(ctx, Menu__V1__ProductAvailabilityResult,
                                                     menu__v1__product_availability_result__init);
  res->product_code = rpc_ctx_strdup(ctx, code);
  const char *known = sql_strcol_value(&r->code), *effect = sql_strcol_value(&r->effect);
  if (!known) {
    res->reason = MENU__V1__AVAILABILITY_REASON__AVAILABILITY_REASON_UNKNOWN_PRODUCT;
    res->display_name = (char *)"";
    return res;
  }
  const char *name = sql_strcol_value(&r->name);
  res->display_name = rpc_ctx_strdup(ctx, name ? name : "");
  if (!r->on_channel)
    res->reason = MENU__V1__AVAILABILITY_REASON__AVAILABILITY_REASON_STORE_NOT_ON_CHANNEL;
  else if (r->rule_null)
    res->reason = MENU__V1__AVAILABILITY_REASON__AVAILABILITY_REASON_NO_RULE;
  else if (effect && !strcmp(effect, "allow"))
    res->reason = MENU__V1__AVAILABILITY_REASON__AVAILABILITY_REASON_ALLOWED;
  else
    res->reason = MENU__V1__AVAILABILITY_REASON__AVAILABILITY_REASON_DENIED_BY_RULE;
  res->available = res->reason == MENU__V1__AVAILABILITY_REASON__AVAILABILITY_REASON_ALLOWED;
  if (!r->rule_null) res->winner = avail_node(ctx, r);
  return res;
}

menu_status availability_batch_get(rpc_ctx *ctx, const ProtobufCMessage *reqm,
                                   ProtobufCMessage *respm, void *svcp) {
  const Menu__V1__BatchGetProductAvailabilitiesRequest *req = (const void *)reqm;
  Menu__V1__BatchGetProductAvailabilitiesResponse *resp = (void *)respm;
  sqlsvc *svc = svcp;
  const char *channel = NULL;
  menu_status st = check_store_channel(req->store_code, req->channel, &channel);
  if (!menu_status_is_ok(&st)) return st;
  sql_usec at = sql_now_usec();
  if (req->at_time) {
    st = sql_ts_to_usec(req->at_time, "at_time", &at);
    if (!menu_status_is_ok(&st)) return st;
  }
  char *json = NULL;
  st = check_batch_codes(req->product_codes, req->n_product_codes, &json);
  if (!menu_status_is_ok(&st)) return st;

  MYSQL_TIME at_t;
  sql_usec_to_mysql(at, &at_t);
  unsigned long l_channel, l_store, l_json;
  MYSQL_BIND params[4];
  sql_bind_time(&params[0], &at_t);
  sql_bind_str(&params[1], channel, &l_channel);
  sql_bind_str(&params[2], req->store_code, &l_store);
  sql_bind_str(&params[3], json, &l_json);

  pool_conn *conn = NULL;
  MYSQL_STMT *s = NULL;
  revision_info rev;
  st = pool_acquire(svc->pool, rpc_ctx_work_deadline_ms(ctx), &conn);
  if (!menu_status_is_ok(&st)) goto out;
  /* The revision (and valid_until) first and in the same transaction: one snapshot under
   * REPEATABLE READ, and never older than the results under READ COMMITTED, so an answer
   * cached under this revision is never staler than its key says. */
  st = pool_begin(conn);
  if (menu_status_is_ok(&st)) st = revision_read(conn, channel, req->store_code, at, &rev);
  if (!menu_status_is_ok(&st)) goto out;
  st = pool_exec(
      conn,
      req->n_product_codes > AVAIL_BATCH_NARROW_MAX ? STMT_AVAIL_BATCH_WIDE : STMT_AVAIL_BATCH,
      params, &s, NULL);
  if (!menu_status_is_ok(&st)) goto out;
  avail_row *row = arena_alloc(rpc_ctx_arena(ctx), sizeof *row);
  avail_row_bind(row);
  if (mysql_stmt_bind_result(s, row->b)) {
    st = pool_error_status(conn, mysql_stmt_errno(s), mysql_stmt_error(s), "bind result");
    goto out;
  }
  size_t n = req->n_product_codes, got = 0;
  Menu__V1__ProductAvailabilityResult **results =
      RPC_NEW_ARRAY(ctx, Menu__V1__ProductAvailabilityResult *, n ? n : 1);
  int rows = 0;
  while (sql_row_fetch(conn, s, "availability", &st)) {
    rows++;
    if (row->ord_null) continue; /* the store row of an empty request */
    /* ORDER BY ord: row k answers request index k-1, exactly once. */
    if (row->ord != (int32_t)got + 1 || got >= n) {
      st = MENU_INTERNAL("availability: batch row %d out of order", row->ord);
      goto out;
    }
    results[got] = batch_result(ctx, row, req->product_codes[got]);
    got++;
  }
  if (!menu_status_is_ok(&st)) goto out;
  st = store_row_status(rows, row, req->store_code, channel);
  if (!menu_status_is_ok(&st)) goto out;
  if (got != n) {
    st = MENU_INTERNAL("availability: batch answered %zu of %zu codes", got, n);
    goto out;
  }
  resp->results = results;
  resp->n_results = n;
  resp->at_time = sql_usec_to_ts(ctx, at);
  resp->revision = rev.revision;
  if (rev.has_valid_until) resp->valid_until = sql_usec_to_ts(ctx, rev.valid_until);
out:
  pool_stmt_done(s);
  if (conn) {
    pool_rollback(conn); /* read-only: ends the snapshot */
    pool_release(svc->pool, conn);
  }
  free(json);
  return st;
}
