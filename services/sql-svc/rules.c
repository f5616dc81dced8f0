/* Rule administration handlers. Validation happens before any SQL, and the CHECK constraints
 * of the table back it up; the audit user is the authenticated principal (common/audit.h).
 * Every write is one transaction whose reply is read inside it (nothing runs after COMMIT that
 * could fail a call whose write was applied); creates are idempotent by request_id (AIP-155)
 * and Terminate is conditional on the rule's version. */
#include "services/sql-svc/rules.h"

#include <inttypes.h>
#include <mysqld_error.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "common/strbuf.h"

#include "menu/v1/product_availability.pb-c.h"
#include "services/sql-svc/availability.h"
#include "common/audit.h"
#include "common/validate.h"
#include "services/sql-svc/revision.h"
#include "services/sql-svc/sqlsvc.h"

#define USER_MAX_BYTES 100 /* createdBy / updatedBy VARCHAR(100) */
#define CODE_RE "^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$"

static bool set(const char *s) { return s && *s; }

/* Reads the STMT_RULE_SELECT row of rule `id` into a new message; NOT_FOUND when absent. */
static menu_status rule_load(rpc_ctx *ctx, pool_conn *conn, int64_t id,
                             Menu__V1__AvailabilityRule **out) {
  MYSQL_BIND param;
  sql_bind_i64(&param, &id);
  MYSQL_STMT *s = NULL;
  menu_status st = pool_exec(conn, STMT_RULE_SELECT, &param, &s, NULL);
  if (!menu_status_is_ok(&st)) return st;
  struct {
    int64_t id, group, version;
    signed char hidden, active;
    MYSQL_TIME eff, term, cat, uat;
    sql_strcol product, channel, type, effect, market, region, store, menu, cby, uby;
    char b_product[256], b_channel[64], b_type[32], b_effect[16], b_market[256], b_region[256],
        b_store[256], b_menu[256], b_cby[512], b_uby[512];
  } r;
  MYSQL_BIND b[19];
  memset(b, 0, sizeof b);
  sql_result_fixed(&b[0], MYSQL_TYPE_LONGLONG, &r.id, NULL);
  sql_result_str(&b[1], &r.product, r.b_product, sizeof r.b_product);
  sql_result_fixed(&b[2], MYSQL_TYPE_LONGLONG, &r.group, NULL);
  sql_result_str(&b[3], &r.channel, r.b_channel, sizeof r.b_channel);
  sql_result_str(&b[4], &r.type, r.b_type, sizeof r.b_type);
  sql_result_str(&b[5], &r.effect, r.b_effect, sizeof r.b_effect);
  sql_result_fixed(&b[6], MYSQL_TYPE_TINY, &r.hidden, NULL);
  sql_result_fixed(&b[7], MYSQL_TYPE_TINY, &r.active, NULL);
  sql_result_str(&b[8], &r.market, r.b_market, sizeof r.b_market);
  sql_result_str(&b[9], &r.region, r.b_region, sizeof r.b_region);
  sql_result_str(&b[10], &r.store, r.b_store, sizeof r.b_store);
  sql_result_str(&b[11], &r.menu, r.b_menu, sizeof r.b_menu);
  sql_result_fixed(&b[12], MYSQL_TYPE_DATETIME, &r.eff, NULL);
  sql_result_fixed(&b[13], MYSQL_TYPE_DATETIME, &r.term, NULL);
  sql_result_str(&b[14], &r.cby, r.b_cby, sizeof r.b_cby);
  sql_result_fixed(&b[15], MYSQL_TYPE_DATETIME, &r.cat, NULL);
  sql_result_str(&b[16], &r.uby, r.b_uby, sizeof r.b_uby);
  sql_result_fixed(&b[17], MYSQL_TYPE_DATETIME, &r.uat, NULL);
  sql_result_fixed(&b[18], MYSQL_TYPE_LONGLONG, &r.version, NULL);
  if (mysql_stmt_bind_result(s, b)) {
    st = pool_error_status(conn, mysql_stmt_errno(s), mysql_stmt_error(s), "rule_select");
    goto out;
  }
  if (!sql_row_fetch(conn, s, "rules", &st)) {
    if (menu_status_is_ok(&st)) st = MENU_NOT_FOUND("rule_id: rule %lld not found", (long long)id);
    goto out;
  }
  Menu__V1__AvailabilityRule *m =
      RPC_NEW(ctx, Menu__V1__AvailabilityRule, menu__v1__availability_rule__init);
  const char *v;
  m->rule_id = r.id;
  m->product_code = rpc_ctx_strdup(ctx, sql_strcol_value(&r.product));
  m->rule_group_id = r.group;
  m->channel = sql_channel_from_code(sql_strcol_value(&r.channel));
  m->rule_type = availability_rule_type_from_db(sql_strcol_value(&r.type));
  v = sql_strcol_value(&r.effect);
  m->rule_effect = v && !strcmp(v, "allow")  ? MENU__V1__RULE_EFFECT__RULE_EFFECT_ALLOW
                   : v && !strcmp(v, "deny") ? MENU__V1__RULE_EFFECT__RULE_EFFECT_DENY
                                             : MENU__V1__RULE_EFFECT__RULE_EFFECT_UNSPECIFIED;
  m->is_hidden = r.hidden != 0;
  m->is_active = r.active != 0;
  v = sql_strcol_value(&r.market);
  m->market_code = rpc_ctx_strdup(ctx, v ? v : "");
  v = sql_strcol_value(&r.region);
  m->regional_code = rpc_ctx_strdup(ctx, v ? v : "");
  v = sql_strcol_value(&r.store);
  m->restaurant_code = rpc_ctx_strdup(ctx, v ? v : "");
  v = sql_strcol_value(&r.menu);
  m->menu_type_code = rpc_ctx_strdup(ctx, v ? v : "");
  m->effective_time = sql_usec_to_ts(ctx, sql_mysql_to_usec(&r.eff));
  m->termination_time = sql_usec_to_ts(ctx, sql_mysql_to_usec(&r.term));
  m->created_by = rpc_ctx_strdup(ctx, sql_strcol_value(&r.cby));
  m->create_time = sql_usec_to_ts(ctx, sql_mysql_to_usec(&r.cat));
  m->updated_by = rpc_ctx_strdup(ctx, sql_strcol_value(&r.uby));
  m->update_time = sql_usec_to_ts(ctx, sql_mysql_to_usec(&r.uat));
  m->version = r.version;
  *out = m;
out:
  pool_stmt_done(s);
  return st;
}

/* Exactly the scope ids the rule type needs (SPEC: scope ids consistent with ruleType). */
static menu_status check_scope(const Menu__V1__AvailabilityRule *r) {
  static const struct {
    const char *field;
    Menu__V1__RuleType needs;
  } scopes[] = {{"rule.market_code", MENU__V1__RULE_TYPE__RULE_TYPE_MARKET},
                {"rule.regional_code", MENU__V1__RULE_TYPE__RULE_TYPE_REGIONAL},
                {"rule.restaurant_code", MENU__V1__RULE_TYPE__RULE_TYPE_RESTAURANT}};
  const char *vals[] = {r->market_code, r->regional_code, r->restaurant_code};
  const char *type_name =
      protobuf_c_enum_descriptor_get_value(&menu__v1__rule_type__descriptor, (int)r->rule_type)
          ->name;
  for (int i = 0; i < 3; i++) {
    if (scopes[i].needs == r->rule_type) {
      if (!set(vals[i])) return MENU_INVALID("%s: required for %s", scopes[i].field, type_name);
      if (!validate_code(vals[i]))
        return MENU_INVALID("%s: must match %s", scopes[i].field, CODE_RE);
    } else if (set(vals[i])) {
      return MENU_INVALID("%s: must be empty for %s", scopes[i].field, type_name);
    }
  }
  return MENU_OK;
}

/* SHA-256 over the fields that define the rule a create asks for (as sent, before defaults:
 * a retry without effective_time must match its original) and the audit user: the same
 * request_id with a different request is refused rather than answered with another rule. */
static void request_hash(const Menu__V1__AvailabilityRule *r, const char *user,
                         unsigned char out[SHA256_DIGEST_LENGTH]) {
  strbuf b;
  strbuf_init(&b);
  const char *strs[] = {r->product_code,    r->market_code,    r->regional_code,
                        r->restaurant_code, r->menu_type_code, user};
  for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
    strbuf_printf(&b, "%zu:%s;", strlen(strs[i] ? strs[i] : ""), strs[i] ? strs[i] : "");
  strbuf_printf(&b, "%" PRId64 ";%d;%d;%d;%d;%d;", r->rule_group_id, (int)r->channel,
                (int)r->rule_type, (int)r->rule_effect, r->is_hidden ? 1 : 0,
                r->effective_time != NULL);
  if (r->effective_time)
    strbuf_printf(&b, "%" PRId64 ".%d;", r->effective_time->seconds, r->effective_time->nanos);
  strbuf_printf(&b, "%d;", r->termination_time != NULL);
  if (r->termination_time)
    strbuf_printf(&b, "%" PRId64 ".%d;", r->termination_time->seconds, r->termination_time->nanos);
  SHA256((const unsigned char *)b.data, b.len, out);
  strbuf_free(&b);
}

/* What a create inserts, validated; the strings are borrowed from the request. */
typedef struct {
  const Menu__V1__AvailabilityRule *r;
  const char *type, *effect, *user;
  sql_usec eff, term;
  const char *request_id; /* lower-case UUID, NULL when the caller sent none */
  unsigned char hash[SHA256_DIGEST_LENGTH];
} create_input;

static menu_status create_validate(rpc_ctx *ctx, const Menu__V1__CreateAvailabilityRuleRequest *req,
                                   create_input *in) {
  const Menu__V1__AvailabilityRule *r = req->rule;
  memset(in, 0, sizeof *in);
  in->r = r;
  if (!r) return MENU_INVALID("rule: required");
  if (r->rule_id) return MENU_INVALID("rule.rule_id: assigned by the server, leave it 0");
  if (r->version) return MENU_INVALID("rule.version: assigned by the server, leave it 0");
  if (!set(r->product_code)) return MENU_INVALID("rule.product_code: required");
  if (!validate_code(r->product_code))
    return MENU_INVALID("rule.product_code: must match %s", CODE_RE);
  if (r->rule_group_id <= 0) return MENU_INVALID("rule.rule_group_id: required (positive)");
  if (r->channel != MENU__V1__CHANNEL__CHANNEL_UNSPECIFIED && !sql_channel_code(r->channel))
    return MENU_INVALID("rule.channel: unknown channel %d", (int)r->channel);
  in->type = availability_rule_type_to_db(r->rule_type);
  if (!in->type) return MENU_INVALID("rule.rule_type: required (not RULE_TYPE_UNSPECIFIED)");
  in->effect = r->rule_effect == MENU__V1__RULE_EFFECT__RULE_EFFECT_ALLOW  ? "allow"
               : r->rule_effect == MENU__V1__RULE_EFFECT__RULE_EFFECT_DENY ? "deny"
                                                                           : NULL;
  if (!in->effect) return MENU_INVALID("rule.rule_effect: required (ALLOW or DENY)");
  menu_status st = check_scope(r);
  if (!menu_status_is_ok(&st)) return st;
  if (set(r->menu_type_code) && !validate_code(r->menu_type_code))
    return MENU_INVALID("rule.menu_type_code: must match %s", CODE_RE);
  in->eff = sql_now_usec();
  in->term = SQL_USEC_MAX - 999999; /* 9999-12-31 23:59:59 */
  if (r->effective_time) {
    st = sql_ts_to_usec(r->effective_time, "rule.effective_time", &in->eff);
    if (!menu_status_is_ok(&st)) return st;
  }
  if (r->termination_time) {
    st = sql_ts_to_usec(r->termination_time, "rule.termination_time", &in->term);
    if (!menu_status_is_ok(&st)) return st;
  }
  if (in->eff >= in->term)
    return MENU_INVALID("rule.termination_time: must be after rule.effective_time");
  st = audit_identity(ctx, r->created_by, "rule.created_by", USER_MAX_BYTES, &in->user);
  if (!menu_status_is_ok(&st)) return st;
  if (set(req->request_id)) {
    char *rid = arena_alloc(rpc_ctx_arena(ctx), 37);
    if (!validate_uuid(req->request_id, rid))
      return MENU_INVALID("request_id: must be a UUID (8-4-4-4-12 hex digits)");
    in->request_id = rid;
  }
  request_hash(r, in->user, in->hash);
  return MENU_OK;
}

/* STMT_RULE_RESOLVE's row. */
typedef struct {
  int32_t ids[6]; /* product, (unused: channel), market, regional, restaurant, menuType */
  my_bool nulls[6];
  sql_strcol channel;
  char b_channel[64];
  int64_t req_rule;
  my_bool req_null, expired_null;
  sql_strcol req_hash;
  char b_hash[SHA256_DIGEST_LENGTH + 1];
  signed char expired;
} resolved;

static menu_status create_resolve(pool_conn *conn, const create_input *in, resolved *out) {
  const Menu__V1__AvailabilityRule *r = in->r;
  unsigned long lens[7];
  MYSQL_BIND p[7];
  int64_t group = r->rule_group_id;
  sql_bind_str(&p[0], r->product_code, &lens[0]);
  sql_bind_i64(&p[1], &group);
  sql_bind_str_or_null(&p[2], r->market_code, &lens[2]);
  sql_bind_str_or_null(&p[3], r->regional_code, &lens[3]);
  sql_bind_str_or_null(&p[4], r->restaurant_code, &lens[4]);
  sql_bind_str_or_null(&p[5], r->menu_type_code, &lens[5]);
  sql_bind_str_or_null(&p[6], in->request_id, &lens[6]);
  MYSQL_STMT *s = NULL;
  menu_status st = pool_exec(conn, STMT_RULE_RESOLVE, p, &s, NULL);
  if (!menu_status_is_ok(&st)) return st;
  memset(out, 0, sizeof *out);
  MYSQL_BIND b[9];
  memset(b, 0, sizeof b);
  for (int i = 0; i < 6; i++) {
    if (i == 1)
      sql_result_str(&b[1], &out->channel, out->b_channel, sizeof out->b_channel);
    else
      sql_result_fixed(&b[i], MYSQL_TYPE_LONG, &out->ids[i], &out->nulls[i]);
  }
  sql_result_fixed(&b[6], MYSQL_TYPE_LONGLONG, &out->req_rule, &out->req_null);
  sql_result_str(&b[7], &out->req_hash, out->b_hash, sizeof out->b_hash);
  sql_result_fixed(&b[8], MYSQL_TYPE_TINY, &out->expired, &out->expired_null);
  if (mysql_stmt_bind_result(s, b) || mysql_stmt_fetch(s) != 0)
    st = pool_error_status(conn, mysql_stmt_errno(s), mysql_stmt_error(s), "rule_resolve");
  else
    out->nulls[1] = sql_strcol_value(&out->channel) == NULL;
  pool_stmt_done(s);
  return st;
}

static menu_status create_insert(pool_conn *conn, const create_input *in, const resolved *rs,
                                 int64_t *id_out) {
  const Menu__V1__AvailabilityRule *r = in->r;
  MYSQL_TIME eff_t, term_t;
  sql_usec_to_mysql(in->eff, &eff_t);
  sql_usec_to_mysql(in->term, &term_t);
  int32_t product_id = rs->ids[0], hidden = r->is_hidden ? 1 : 0;
  int64_t group = r->rule_group_id;
  unsigned long lens[13];
  MYSQL_BIND p[13];
  sql_bind_i32(&p[0], &product_id);
  sql_bind_i64(&p[1], &group);
  sql_bind_str(&p[2], in->type, &lens[2]);
  sql_bind_str(&p[3], in->effect, &lens[3]);
  sql_bind_i32(&p[4], &hidden);
  /* restaurantId, marketId, regionalId, menuTypeId: NULL unless given */
  const int scope_idx[] = {4, 2, 3, 5};
  for (int i = 0; i < 4; i++) {
    if (rs->nulls[scope_idx[i]]) {
      memset(&p[5 + i], 0, sizeof p[5 + i]);
      p[5 + i].buffer_type = MYSQL_TYPE_NULL;
    } else {
      sql_bind_i32(&p[5 + i], &rs->ids[scope_idx[i]]);
    }
  }
  sql_bind_time(&p[9], &eff_t);
  sql_bind_time(&p[10], &term_t);
  sql_bind_str(&p[11], in->user, &lens[11]);
  sql_bind_str(&p[12], in->user, &lens[12]);
  MYSQL_STMT *s = NULL;
  menu_status st = pool_exec(conn, STMT_RULE_INSERT, p, &s, NULL);
  if (menu_status_is_ok(&st)) *id_out = (int64_t)mysql_stmt_insert_id(s);
  pool_stmt_done(s);
  return st;
}

static menu_status exec_simple(pool_conn *conn, stmt_id id, MYSQL_BIND *p, unsigned *err) {
  MYSQL_STMT *s = NULL;
  menu_status st = pool_exec(conn, id, p, &s, err);
  pool_stmt_done(s);
  return st;
}

/* One attempt at a create, in one transaction. *raced: another call with the same request_id
 * committed first (our transaction is rolled back; looking again finds its rule). */
static menu_status create_once(rpc_ctx *ctx, pool_conn *conn, const create_input *in,
                               Menu__V1__AvailabilityRule **out, bool *raced) {
  const Menu__V1__AvailabilityRule *r = in->r;
  *raced = false;
  menu_status st = pool_begin(conn);
  if (!menu_status_is_ok(&st)) return st;
  resolved rs;
  st = create_resolve(conn, in, &rs);
  if (!menu_status_is_ok(&st)) goto fail;
  if (in->request_id && !rs.req_null && !(rs.expired && !rs.expired_null)) {
    /* A repeat: answer the rule the first call created, write nothing. */
    if (rs.req_hash.len != SHA256_DIGEST_LENGTH ||
        memcmp(rs.b_hash, in->hash, SHA256_DIGEST_LENGTH)) {
      st = MENU_INVALID("request_id: already used for a different request in the last 24 hours");
      menu_status_set_reason(&st, "REQUEST_ID_REUSED");
      goto fail;
    }
    st = rule_load(ctx, conn, rs.req_rule, out);
    goto fail; /* read-only: nothing to commit */
  }
  static const char *const fields[] = {"rule.product_code",    "rule.rule_group_id",
                                       "rule.market_code",     "rule.regional_code",
                                       "rule.restaurant_code", "rule.menu_type_code"};
  const char *given[] = {r->product_code,  "", r->market_code, r->regional_code, r->restaurant_code,
                         r->menu_type_code};
  for (int i = 0; i < 6; i++) {
    if (rs.nulls[i] && (i < 2 || set(given[i]))) {
      st = i == 1
               ? MENU_NOT_FOUND("%s: rule group %" PRId64 " not found", fields[i], r->rule_group_id)
               : MENU_NOT_FOUND("%s: %s not found", fields[i], given[i]);
      goto fail;
    }
  }
  const char *group_channel = sql_strcol_value(&rs.channel);
  if (r->channel != MENU__V1__CHANNEL__CHANNEL_UNSPECIFIED &&
      strcmp(sql_channel_code(r->channel), group_channel)) {
    st = MENU_INVALID("rule.channel: %s, but rule group %" PRId64 " is on %s",
                      sql_channel_code(r->channel), r->rule_group_id, group_channel);
    goto fail;
  }
  unsigned long l_rid;
  MYSQL_BIND p[3];
  if (in->request_id && !rs.req_null) { /* an expired key: it starts afresh */
    sql_bind_str(&p[0], in->request_id, &l_rid);
    st = exec_simple(conn, STMT_RULE_REQUEST_DELETE, p, NULL);
    if (!menu_status_is_ok(&st)) goto fail;
  }
  int64_t id = 0;
  st = create_insert(conn, in, &rs, &id);
  if (!menu_status_is_ok(&st)) goto fail;
  st = revision_bump_group(conn, r->rule_group_id); /* same transaction: both or neither */
  if (!menu_status_is_ok(&st)) goto fail;
  st = rule_load(ctx, conn, id, out); /* the reply, read inside the transaction */
  if (!menu_status_is_ok(&st)) goto fail;
  if (in->request_id) {
    unsigned long l_hash = SHA256_DIGEST_LENGTH;
    sql_bind_str(&p[0], in->request_id, &l_rid);
    memset(&p[1], 0, sizeof p[1]);
    p[1].buffer_type = MYSQL_TYPE_BLOB;
    p[1].buffer = (void *)in->hash;
    p[1].buffer_length = l_hash;
    p[1].length = &l_hash;
    sql_bind_i64(&p[2], &id);
    unsigned err = 0;
    st = exec_simple(conn, STMT_RULE_REQUEST_INSERT, p, &err);
    if (err == ER_DUP_ENTRY) *raced = true;
    if (!menu_status_is_ok(&st)) goto fail;
  }
  return pool_commit(conn);
fail:
  pool_rollback(conn);
  return st;
}

menu_status rules_create(rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm,
                         void *svcp) {
  const Menu__V1__CreateAvailabilityRuleRequest *req = (const void *)reqm;
  Menu__V1__CreateAvailabilityRuleResponse *resp = (void *)respm;
  sqlsvc *svc = svcp;
  create_input in;
  menu_status st = create_validate(ctx, req, &in);
  if (!menu_status_is_ok(&st)) return st;

  pool_conn *conn = NULL;
  st = pool_acquire(svc->pool, rpc_ctx_work_deadline_ms(ctx), &conn);
  if (!menu_status_is_ok(&st)) return st;
  if (in.request_id) {
    /* Keys past the window are dead weight: drop a bounded batch, outside the transaction. */
    st = exec_simple(conn, STMT_RULE_REQUEST_PURGE, NULL, NULL);
    if (!menu_status_is_ok(&st)) goto out;
  }
  bool raced = false;
  st = create_once(ctx, conn, &in, &resp->rule, &raced);
  if (raced) st = create_once(ctx, conn, &in, &resp->rule, &raced);
out:
  pool_release(svc->pool, conn);
  return st;
}

menu_status rules_get(rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm,
                      void *svcp) {
  const Menu__V1__GetAvailabilityRuleRequest *req = (const void *)reqm;
  Menu__V1__GetAvailabilityRuleResponse *resp = (void *)respm;
  sqlsvc *svc = svcp;
  if (req->rule_id <= 0) return MENU_INVALID("rule_id: required (positive)");
  pool_conn *conn = NULL;
  menu_status st = pool_acquire(svc->pool, rpc_ctx_work_deadline_ms(ctx), &conn);
  if (!menu_status_is_ok(&st)) return st;
  st = rule_load(ctx, conn, req->rule_id, &resp->rule);
  pool_release(svc->pool, conn);
  return st;
}

/* After a conditional update changed nothing: NOT_FOUND or ABORTED (stale version). */
static menu_status terminate_conflict(pool_conn *conn, int64_t id, int64_t version) {
  MYSQL_BIND p;
  sql_bind_i64(&p, &id);
  MYSQL_STMT *s = NULL;
  menu_status st = pool_exec(conn, STMT_RULE_VERSION, &p, &s, NULL);
  if (!menu_status_is_ok(&st)) return st;
  int64_t current = 0;
  MYSQL_BIND b;
  memset(&b, 0, sizeof b);
  sql_result_fixed(&b, MYSQL_TYPE_LONGLONG, &current, NULL);
  int rc = mysql_stmt_bind_result(s, &b) ? 1 : mysql_stmt_fetch(s);
  if (rc == MYSQL_NO_DATA)
    st = MENU_NOT_FOUND("rule_id: rule %" PRId64 " not found", id);
  else if (rc != 0)
    st = pool_error_status(conn, mysql_stmt_errno(s), mysql_stmt_error(s), "rule_version");
  else {
    st = menu_status_make(GRPC_STATUS_ABORTED,
                          "version: %" PRId64 " is not the current version of rule %" PRId64
                          " (%" PRId64 "); read it again",
                          version, id, current);
    menu_status_set_reason(&st, "STALE_VERSION"); /* as dynamo-svc */
    char cur[24];
    snprintf(cur, sizeof cur, "%" PRId64, current);
    menu_status_add_metadata(&st, "current_version", cur);
  }
  pool_stmt_done(s);
  return st;
}

menu_status rules_terminate(rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm,
                            void *svcp) {
  const Menu__V1__TerminateAvailabilityRuleRequest *req = (const void *)reqm;
  Menu__V1__TerminateAvailabilityRuleResponse *resp = (void *)respm;
  sqlsvc *svc = svcp;
  if (req->rule_id <= 0) return MENU_INVALID("rule_id: required (positive)");
  if (req->version <= 0)
    return MENU_INVALID("version: required (the rule's version you read; create sets 1)");
  if (req->version == INT64_MAX) return MENU_INVALID("version: at its maximum, cannot advance");
  sql_usec at = sql_now_usec();
  menu_status st;
  if (req->termination_time) {
    st = sql_ts_to_usec(req->termination_time, "termination_time", &at);
    if (!menu_status_is_ok(&st)) return st;
  }
  const char *user = NULL;
  st = audit_identity(ctx, req->updated_by, "updated_by", USER_MAX_BYTES, &user);
  if (!menu_status_is_ok(&st)) return st;
  MYSQL_TIME at_t;
  sql_usec_to_mysql(at, &at_t);
  int64_t id = req->rule_id, version = req->version;
  unsigned long l_user;
  MYSQL_BIND p[6];
  sql_bind_time(&p[0], &at_t);
  sql_bind_time(&p[1], &at_t);
  sql_bind_time(&p[2], &at_t);
  sql_bind_str(&p[3], user, &l_user);
  sql_bind_i64(&p[4], &id);
  sql_bind_i64(&p[5], &version);
  pool_conn *conn = NULL;
  st = pool_acquire(svc->pool, rpc_ctx_work_deadline_ms(ctx), &conn);
  if (!menu_status_is_ok(&st)) return st;
  MYSQL_STMT *s = NULL;
  st = pool_begin(conn);
  if (!menu_status_is_ok(&st)) goto out;
  st = pool_exec(conn, STMT_RULE_TERMINATE, p, &s, NULL);
  if (!menu_status_is_ok(&st)) goto out;
  my_ulonglong changed = mysql_stmt_affected_rows(s);
  pool_stmt_done(s);
  s = NULL;
  if (changed == 0) {
    st = terminate_conflict(conn, id, version);
    goto out;
  }
  st = revision_bump_rule(conn, id); /* same transaction: both or neither */
  if (menu_status_is_ok(&st))
    st = rule_load(ctx, conn, id, &resp->rule); /* the reply, read inside the transaction */
  if (menu_status_is_ok(&st)) st = pool_commit(conn);
out:
  pool_stmt_done(s);
  pool_rollback(conn);
  pool_release(svc->pool, conn);
  return st;
}
