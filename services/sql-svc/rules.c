/* Rule administration handlers. Validation happens before any SQL, and the CHECK constraints
 * of the table back it up; the audit user is the authenticated principal (common/audit.h). */
#include "services/sql-svc/rules.h"

#include <string.h>

#include "menu/v1/product_availability.pb-c.h"
#include "services/sql-svc/availability.h"
#include "common/audit.h"
#include "common/validate.h"
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
    int64_t id, group;
    signed char hidden, active;
    MYSQL_TIME eff, term, cat, uat;
    sql_strcol product, channel, type, effect, market, region, store, menu, cby, uby;
    char b_product[256], b_channel[64], b_type[32], b_effect[16], b_market[256], b_region[256],
        b_store[256], b_menu[256], b_cby[512], b_uby[512];
  } r;
  MYSQL_BIND b[18];
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
  if (mysql_stmt_bind_result(s, b)) {
    st = pool_error_status(conn, mysql_stmt_errno(s), mysql_stmt_error(s), "rule_select");
    goto out;
  }
  int rc = mysql_stmt_fetch(s);
  if (rc == MYSQL_NO_DATA) {
    st = MENU_NOT_FOUND("rule_id: rule %lld not found", (long long)id);
    goto out;
  }
  if (rc != 0) {
    st = rc == 1 ? pool_error_status(conn, mysql_stmt_errno(s), mysql_stmt_error(s), "fetch")
                 : MENU_INTERNAL("rules: a column exceeded its buffer");
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

menu_status rules_create(rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm,
                         void *svcp) {
  const Menu__V1__CreateAvailabilityRuleRequest *req = (const void *)reqm;
  Menu__V1__CreateAvailabilityRuleResponse *resp = (void *)respm;
  sqlsvc *svc = svcp;
  const Menu__V1__AvailabilityRule *r = req->rule;
  if (!r) return MENU_INVALID("rule: required");
  if (r->rule_id) return MENU_INVALID("rule.rule_id: assigned by the server, leave it 0");
  if (!set(r->product_code)) return MENU_INVALID("rule.product_code: required");
  if (!validate_code(r->product_code))
    return MENU_INVALID("rule.product_code: must match %s", CODE_RE);
  if (r->rule_group_id <= 0) return MENU_INVALID("rule.rule_group_id: required (positive)");
  const char *type = availability_rule_type_to_db(r->rule_type);
  if (!type) return MENU_INVALID("rule.rule_type: required (not RULE_TYPE_UNSPECIFIED)");
  const char *effect = r->rule_effect == MENU__V1__RULE_EFFECT__RULE_EFFECT_ALLOW  ? "allow"
                       : r->rule_effect == MENU__V1__RULE_EFFECT__RULE_EFFECT_DENY ? "deny"
                                                                                   : NULL;
  if (!effect) return MENU_INVALID("rule.rule_effect: required (ALLOW or DENY)");
  menu_status st = check_scope(r);
  if (!menu_status_is_ok(&st)) return st;
  if (set(r->menu_type_code) && !validate_code(r->menu_type_code))
    return MENU_INVALID("rule.menu_type_code: must match %s", CODE_RE);
  sql_usec eff = sql_now_usec(), term = SQL_USEC_MAX - 999999; /* 9999-12-31 23:59:59 */
  if (r->effective_time) {
    st = sql_ts_to_usec(r->effective_time, "rule.effective_time", &eff);
    if (!menu_status_is_ok(&st)) return st;
  }
  if (r->termination_time) {
    st = sql_ts_to_usec(r->termination_time, "rule.termination_time", &term);
    if (!menu_status_is_ok(&st)) return st;
  }
  if (eff >= term) return MENU_INVALID("rule.termination_time: must be after rule.effective_time");
  const char *user = NULL;
  st = audit_identity(ctx, r->created_by, "rule.created_by", USER_MAX_BYTES, &user);
  if (!menu_status_is_ok(&st)) return st;

  pool_conn *conn = NULL;
  st = pool_acquire(svc->pool, sql_call_deadline(ctx), &conn);
  if (!menu_status_is_ok(&st)) return st;
  MYSQL_STMT *s = NULL;

  /* Resolve every code in one round trip; NULL says which one is unknown. */
  unsigned long lens[12];
  MYSQL_BIND p[12];
  int64_t group = r->rule_group_id;
  sql_bind_str(&p[0], r->product_code, &lens[0]);
  sql_bind_i64(&p[1], &group);
  sql_bind_str_or_null(&p[2], r->market_code, &lens[2]);
  sql_bind_str_or_null(&p[3], r->regional_code, &lens[3]);
  sql_bind_str_or_null(&p[4], r->restaurant_code, &lens[4]);
  sql_bind_str_or_null(&p[5], r->menu_type_code, &lens[5]);
  st = pool_exec(conn, STMT_RULE_RESOLVE, p, &s, NULL);
  if (!menu_status_is_ok(&st)) goto out;
  int32_t ids[6];
  my_bool nulls[6];
  MYSQL_BIND out_b[6];
  memset(out_b, 0, sizeof out_b);
  for (int i = 0; i < 6; i++) {
    sql_result_fixed(&out_b[i], MYSQL_TYPE_LONG, &ids[i], &nulls[i]);
  }
  if (mysql_stmt_bind_result(s, out_b) || mysql_stmt_fetch(s) != 0) {
    st = pool_error_status(conn, mysql_stmt_errno(s), mysql_stmt_error(s), "rule_resolve");
    goto out;
  }
  pool_stmt_done(s);
  s = NULL;
  static const char *const fields[] = {"rule.product_code",    "rule.rule_group_id",
                                       "rule.market_code",     "rule.regional_code",
                                       "rule.restaurant_code", "rule.menu_type_code"};
  const char *given[] = {r->product_code,  "", r->market_code, r->regional_code, r->restaurant_code,
                         r->menu_type_code};
  for (int i = 0; i < 6; i++) {
    if (nulls[i] && (i < 2 || set(given[i]))) {
      st = i == 1 ? MENU_NOT_FOUND("%s: rule group %lld not found", fields[i], (long long)group)
                  : MENU_NOT_FOUND("%s: %s not found", fields[i], given[i]);
      goto out;
    }
  }

  MYSQL_TIME eff_t, term_t;
  sql_usec_to_mysql(eff, &eff_t);
  sql_usec_to_mysql(term, &term_t);
  int32_t product_id = ids[0], hidden = r->is_hidden ? 1 : 0;
  sql_bind_i32(&p[0], &product_id);
  sql_bind_i64(&p[1], &group);
  sql_bind_str(&p[2], type, &lens[2]);
  sql_bind_str(&p[3], effect, &lens[3]);
  sql_bind_i32(&p[4], &hidden);
  /* restaurantId, marketId, regionalId, menuTypeId: NULL unless given */
  const int scope_idx[] = {4, 2, 3, 5};
  for (int i = 0; i < 4; i++) {
    if (nulls[scope_idx[i]]) {
      memset(&p[5 + i], 0, sizeof p[5 + i]);
      p[5 + i].buffer_type = MYSQL_TYPE_NULL;
    } else {
      sql_bind_i32(&p[5 + i], &ids[scope_idx[i]]);
    }
  }
  sql_bind_time(&p[9], &eff_t);
  sql_bind_time(&p[10], &term_t);
  sql_bind_str(&p[11], user, &lens[11]);
  MYSQL_BIND p2[13];
  memcpy(p2, p, sizeof p);
  unsigned long l_user2;
  sql_bind_str(&p2[12], user, &l_user2);
  st = pool_exec(conn, STMT_RULE_INSERT, p2, &s, NULL);
  if (!menu_status_is_ok(&st)) goto out;
  int64_t id = (int64_t)mysql_stmt_insert_id(s);
  pool_stmt_done(s);
  s = NULL;
  st = rule_load(ctx, conn, id, &resp->rule);
out:
  pool_stmt_done(s);
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
  menu_status st = pool_acquire(svc->pool, sql_call_deadline(ctx), &conn);
  if (!menu_status_is_ok(&st)) return st;
  st = rule_load(ctx, conn, req->rule_id, &resp->rule);
  pool_release(svc->pool, conn);
  return st;
}

menu_status rules_terminate(rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm,
                            void *svcp) {
  const Menu__V1__TerminateAvailabilityRuleRequest *req = (const void *)reqm;
  Menu__V1__TerminateAvailabilityRuleResponse *resp = (void *)respm;
  sqlsvc *svc = svcp;
  if (req->rule_id <= 0) return MENU_INVALID("rule_id: required (positive)");
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
  int64_t id = req->rule_id;
  unsigned long l_user;
  MYSQL_BIND p[5];
  sql_bind_time(&p[0], &at_t);
  sql_bind_time(&p[1], &at_t);
  sql_bind_time(&p[2], &at_t);
  sql_bind_str(&p[3], user, &l_user);
  sql_bind_i64(&p[4], &id);
  pool_conn *conn = NULL;
  st = pool_acquire(svc->pool, sql_call_deadline(ctx), &conn);
  if (!menu_status_is_ok(&st)) return st;
  MYSQL_STMT *s = NULL;
  st = pool_exec(conn, STMT_RULE_TERMINATE, p, &s, NULL);
  pool_stmt_done(s);
  if (menu_status_is_ok(&st)) st = rule_load(ctx, conn, id, &resp->rule);
  pool_release(svc->pool, conn);
  return st;
}
