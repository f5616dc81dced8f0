/* ReferenceDataService (see reference.h). Each entity is a ref_entity: its statements (list
 * forward, list backward, get), how many string filters its list takes, and a node builder
 * over the row's columns, all read as strings. One list path does the paging: filters and the
 * key are bound as parameters, LIMIT n+1 tells whether more exist, backward pages are read
 * descending and reversed, and each edge's cursor authenticates (list, filters, direction,
 * key). The response's `edges`/`page_info` and the edge's `cursor`/`node` are set through the
 * protobuf-c descriptors, so the six list responses need no code of their own. */
#include "services/sql-svc/reference.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/field_check.h"
#include "common/page.h"
#include "common/validate.h"
#include "menu/v1/reference_data.pb-c.h"
#include "services/sql-svc/sqlsvc.h"

#define REF_MAX_COLS 5
#define REF_MAX_FILTERS 3
#define REF_COL_CAP 1024 /* displayName VARCHAR(255) in utf8mb4 */

/* Row columns as NUL-terminated strings, NULL for SQL NULL; arena-owned. */
typedef ProtobufCMessage *(*ref_node_fn)(rpc_ctx *ctx, char *const *cols);

typedef struct {
  const char *name; /* cursor scope prefix and error wording: "markets" */
  stmt_id fwd, bwd, get;
  int n_filters; /* string filters bound before the key, in the statement's order */
  bool int_key;  /* ordered by a numeric id (rule groups), else by code */
  int n_cols;
  ref_node_fn node;
} ref_entity;

/* ---- nodes ------------------------------------------------------------------------------ */

static char *col_dup(rpc_ctx *ctx, const char *s) { return rpc_ctx_strdup(ctx, s ? s : ""); }

static ProtobufCMessage *market_node(rpc_ctx *ctx, char *const *c) {
  Menu__V1__Market *m = RPC_NEW(ctx, Menu__V1__Market, menu__v1__market__init);
  m->market_code = col_dup(ctx, c[0]);
  return &m->base;
}

static ProtobufCMessage *region_node(rpc_ctx *ctx, char *const *c) {
  Menu__V1__Region *r = RPC_NEW(ctx, Menu__V1__Region, menu__v1__region__init);
  r->regional_code = col_dup(ctx, c[0]);
  r->market_code = col_dup(ctx, c[1]);
  return &r->base;
}

/* c[3]: "KIOSK:BREAKFAST,KIOSK:LUNCH,WEB:LUNCH" ordered by channel (GROUP_CONCAT), or NULL. */
static ProtobufCMessage *restaurant_node(rpc_ctx *ctx, char *const *c) {
  Menu__V1__Restaurant *r = RPC_NEW(ctx, Menu__V1__Restaurant, menu__v1__restaurant__init);
  r->restaurant_code = col_dup(ctx, c[0]);
  r->market_code = col_dup(ctx, c[1]);
  r->regional_code = col_dup(ctx, c[2]);
  if (!c[3] || !*c[3]) return &r->base;
  size_t pairs = 1;
  for (const char *p = c[3]; *p; p++) pairs += *p == ',';
  r->channels = RPC_NEW_ARRAY(ctx, Menu__V1__RestaurantChannel *, pairs);
  Menu__V1__RestaurantChannel *cur = NULL;
  char *save = NULL;
  for (char *pair = strtok_r(c[3], ",", &save); pair; pair = strtok_r(NULL, ",", &save)) {
    char *colon = strchr(pair, ':');
    if (!colon) continue;
    *colon = 0;
    Menu__V1__Channel ch = sql_channel_from_code(pair);
    if (!cur || cur->channel != ch) {
      cur = RPC_NEW(ctx, Menu__V1__RestaurantChannel, menu__v1__restaurant_channel__init);
      cur->channel = ch;
      cur->menu_type_codes = RPC_NEW_ARRAY(ctx, char *, pairs);
      r->channels[r->n_channels++] = cur;
    }
    cur->menu_type_codes[cur->n_menu_type_codes++] = rpc_ctx_strdup(ctx, colon + 1);
  }
  return &r->base;
}

static ProtobufCMessage *menu_type_node(rpc_ctx *ctx, char *const *c) {
  Menu__V1__MenuType *m = RPC_NEW(ctx, Menu__V1__MenuType, menu__v1__menu_type__init);
  m->menu_type_code = col_dup(ctx, c[0]);
  return &m->base;
}

static ProtobufCMessage *rule_group_node(rpc_ctx *ctx, char *const *c) {
  Menu__V1__RuleGroup *g = RPC_NEW(ctx, Menu__V1__RuleGroup, menu__v1__rule_group__init);
  g->rule_group_id = c[0] ? strtoll(c[0], NULL, 10) : 0;
  g->name = col_dup(ctx, c[1]);
  g->channel = sql_channel_from_code(c[2]);
  g->group_type_code = col_dup(ctx, c[3]);
  g->group_ranking = c[4] ? (int32_t)strtol(c[4], NULL, 10) : 0;
  return &g->base;
}

static ProtobufCMessage *product_node(rpc_ctx *ctx, char *const *c) {
  Menu__V1__Product *p = RPC_NEW(ctx, Menu__V1__Product, menu__v1__product__init);
  p->product_code = col_dup(ctx, c[0]);
  p->display_name = col_dup(ctx, c[1]);
  return &p->base;
}

static const ref_entity markets = {
    "markets", STMT_REF_MARKETS_FWD, STMT_REF_MARKETS_BWD, STMT_REF_MARKET_GET, 0, false,
    1,         market_node};
static const ref_entity regions = {
    "regions", STMT_REF_REGIONS_FWD, STMT_REF_REGIONS_BWD, STMT_REF_REGION_GET, 1, false,
    2,         region_node};
static const ref_entity restaurants = {"restaurants",
                                       STMT_REF_RESTAURANTS_FWD,
                                       STMT_REF_RESTAURANTS_BWD,
                                       STMT_REF_RESTAURANT_GET,
                                       3,
                                       false,
                                       4,
                                       restaurant_node};
static const ref_entity menu_types = {"menu-types",
                                      STMT_REF_MENU_TYPES_FWD,
                                      STMT_REF_MENU_TYPES_BWD,
                                      STMT_REF_MENU_TYPE_GET,
                                      0,
                                      false,
                                      1,
                                      menu_type_node};
static const ref_entity rule_groups = {"rule-groups",
                                       STMT_REF_RULE_GROUPS_FWD,
                                       STMT_REF_RULE_GROUPS_BWD,
                                       STMT_REF_RULE_GROUP_GET,
                                       1,
                                       true,
                                       5,
                                       rule_group_node};
static const ref_entity products = {
    "products", STMT_REF_PRODUCTS_FWD, STMT_REF_PRODUCTS_BWD, STMT_REF_PRODUCT_GET, 0, false,
    2,          product_node};

/* ---- the shared paths ------------------------------------------------------------------- */

typedef struct {
  sql_strcol col[REF_MAX_COLS];
  char buf[REF_MAX_COLS][REF_COL_CAP];
  MYSQL_BIND b[REF_MAX_COLS];
  char *vals[REF_MAX_COLS];
} ref_row;

/* Executes `id` with params and hands each row's columns to `node`; *out gets the nodes
 * (arena array of max_rows). */
static menu_status ref_query(rpc_ctx *ctx, sqlsvc *svc, const ref_entity *e, stmt_id id,
                             MYSQL_BIND *params, int max_rows, ProtobufCMessage ***out,
                             int *n_out) {
  pool_conn *conn = NULL;
  MYSQL_STMT *s = NULL;
  menu_status st = pool_acquire(svc->pool, rpc_ctx_work_deadline_ms(ctx), &conn);
  if (!menu_status_is_ok(&st)) return st;
  st = pool_exec(conn, id, params, &s, NULL);
  if (!menu_status_is_ok(&st)) goto out;
  ref_row *row = arena_alloc(rpc_ctx_arena(ctx), sizeof *row);
  for (int i = 0; i < e->n_cols; i++)
    sql_result_str(&row->b[i], &row->col[i], row->buf[i], REF_COL_CAP);
  if (mysql_stmt_bind_result(s, row->b)) {
    st = pool_error_status(conn, mysql_stmt_errno(s), mysql_stmt_error(s), "bind result");
    goto out;
  }
  ProtobufCMessage **nodes = RPC_NEW_ARRAY(ctx, ProtobufCMessage *, (size_t)max_rows);
  int n = 0;
  while (sql_row_fetch(conn, s, e->name, &st)) {
    if (n >= max_rows) continue;
    for (int i = 0; i < e->n_cols; i++) {
      const char *v = sql_strcol_value(&row->col[i]);
      row->vals[i] = v ? rpc_ctx_strdup(ctx, v) : NULL;
    }
    nodes[n++] = e->node(ctx, row->vals);
  }
  if (!menu_status_is_ok(&st)) goto out;
  *out = nodes;
  *n_out = n;
out:
  pool_stmt_done(s);
  pool_release(svc->pool, conn);
  return st;
}

/* The key of a node (its first field: the code, or the rule group id) as cursor payload. */
static void node_key(const ref_entity *e, const ProtobufCMessage *node, char *out, size_t n) {
  const ProtobufCFieldDescriptor *f = &node->descriptor->fields[0];
  if (e->int_key)
    snprintf(out, n, "%" PRId64, *(const int64_t *)((const char *)node + f->offset));
  else
    snprintf(out, n, "%s", *(char *const *)((const char *)node + f->offset));
}

/* Sets a message field by name through the descriptor (pointer-sized fields only). */
static void set_ptr_field(ProtobufCMessage *m, const char *field, void *value) {
  const ProtobufCFieldDescriptor *f =
      protobuf_c_message_descriptor_get_field_by_name(m->descriptor, field);
  *(void **)((char *)m + f->offset) = value;
}

static menu_status reference_list(rpc_ctx *ctx, sqlsvc *svc, const ref_entity *e,
                                  const char *const *filters, const Menu__V1__PageRequest *p,
                                  ProtobufCMessage *resp) {
  page_params pg;
  menu_status st = page_params_parse(p ? p->first : 0, p ? p->after : NULL, p ? p->last : 0,
                                     p ? p->before : NULL, PAGE_DEFAULT_SIZE, PAGE_MAX_SIZE, &pg);
  if (!menu_status_is_ok(&st)) return st;
  /* Scope: list, every filter, direction: a cursor works only for the list it came from. */
  char scope[400];
  int len = snprintf(scope, sizeof scope, "reference:%s", e->name);
  for (int i = 0; i < e->n_filters; i++)
    len += snprintf(scope + len, sizeof scope - (size_t)len, ":%s", filters[i]);
  snprintf(scope + len, sizeof scope - (size_t)len, ":%s", pg.forward ? "after" : "before");

  /* Start keys: before every code / id, or after all of them. */
  const char *key_code = pg.forward ? "" : "\xF4\x8F\xBF\xBF"; /* U+10FFFF */
  int64_t key_id = pg.forward ? 0 : INT64_MAX;
  if (pg.cursor) {
    char *payload = NULL;
    st = cursor_decode(&svc->cursor_key, scope, pg.cursor, pg.cursor_field, &payload);
    if (!menu_status_is_ok(&st)) return st;
    bool ok;
    if (e->int_key) {
      char *end = NULL;
      errno = 0;
      key_id = strtoll(payload, &end, 10);
      ok = *payload && !*end && errno == 0 && key_id > 0;
    } else {
      ok = validate_code(payload);
      key_code = rpc_ctx_strdup(ctx, payload);
    }
    free(payload);
    if (!ok) return MENU_INVALID("%s: malformed cursor", pg.cursor_field);
  }

  MYSQL_BIND params[REF_MAX_FILTERS + 2];
  unsigned long lens[REF_MAX_FILTERS + 1];
  for (int i = 0; i < e->n_filters; i++) sql_bind_str(&params[i], filters[i], &lens[i]);
  if (e->int_key)
    sql_bind_i64(&params[e->n_filters], &key_id);
  else
    sql_bind_str(&params[e->n_filters], key_code, &lens[e->n_filters]);
  int64_t limit = pg.limit + 1;
  sql_bind_i64(&params[e->n_filters + 1], &limit);

  ProtobufCMessage **nodes = NULL;
  int fetched = 0;
  st = ref_query(ctx, svc, e, pg.forward ? e->fwd : e->bwd, params, (int)limit, &nodes, &fetched);
  if (!menu_status_is_ok(&st)) return st;
  bool has_next, has_prev;
  page_flags(&pg, fetched, &has_next, &has_prev);
  int n = fetched > pg.limit ? pg.limit : fetched;
  if (!pg.forward) /* read descending */
    for (int i = 0, j = n - 1; i < j; i++, j--) {
      ProtobufCMessage *t = nodes[i];
      nodes[i] = nodes[j];
      nodes[j] = t;
    }

  const ProtobufCFieldDescriptor *edges_f =
      protobuf_c_message_descriptor_get_field_by_name(resp->descriptor, "edges");
  const ProtobufCMessageDescriptor *edge_d = edges_f->descriptor;
  ProtobufCMessage **edges = RPC_NEW_ARRAY(ctx, ProtobufCMessage *, (size_t)(n ? n : 1));
  for (int i = 0; i < n; i++) {
    ProtobufCMessage *edge = arena_alloc(rpc_ctx_arena(ctx), edge_d->sizeof_message);
    protobuf_c_message_init(edge_d, edge);
    char key[64];
    node_key(e, nodes[i], key, sizeof key);
    char *c = cursor_encode(&svc->cursor_key, scope, key);
    set_ptr_field(edge, "cursor", rpc_ctx_strdup(ctx, c));
    free(c);
    set_ptr_field(edge, "node", nodes[i]);
    edges[i] = edge;
  }
  *(size_t *)((char *)resp + edges_f->quantifier_offset) = (size_t)n;
  *(ProtobufCMessage ***)((char *)resp + edges_f->offset) = edges;
  Menu__V1__PageInfo *pi = RPC_NEW(ctx, Menu__V1__PageInfo, menu__v1__page_info__init);
  pi->has_next_page = has_next;
  pi->has_previous_page = has_prev;
  pi->start_cursor = n ? *(char **)((char *)edges[0] + edge_d->fields[0].offset) : (char *)"";
  pi->end_cursor = n ? *(char **)((char *)edges[n - 1] + edge_d->fields[0].offset) : (char *)"";
  set_ptr_field(resp, "page_info", pi);
  return MENU_OK;
}

/* Get by code (int_key: by id): the node, or NOT_FOUND naming `field`. */
static menu_status reference_get(rpc_ctx *ctx, sqlsvc *svc, const ref_entity *e, const char *field,
                                 const char *code, int64_t id, ProtobufCMessage **out) {
  MYSQL_BIND params[1];
  unsigned long l;
  if (e->int_key) {
    if (id <= 0) return MENU_INVALID("%s: required (a positive id)", field);
    sql_bind_i64(&params[0], &id);
  } else {
    menu_status st = field_check_code(code, field);
    if (!menu_status_is_ok(&st)) return st;
    sql_bind_str(&params[0], code, &l);
  }
  ProtobufCMessage **nodes = NULL;
  int n = 0;
  menu_status st = ref_query(ctx, svc, e, e->get, params, 1, &nodes, &n);
  if (!menu_status_is_ok(&st)) return st;
  if (n == 0) {
    if (e->int_key) return MENU_NOT_FOUND("%s: %" PRId64 " not found", field, id);
    return MENU_NOT_FOUND("%s: %s not found", field, code);
  }
  *out = nodes[0];
  return MENU_OK;
}

/* An optional code filter: empty, or a valid code. */
static menu_status check_filter(const char *v, const char *field) {
  if (v && *v && !validate_code(v))
    return MENU_INVALID("%s: must be empty or match " VALIDATE_CODE_PATTERN, field);
  return MENU_OK;
}

/* An optional channel filter: UNSPECIFIED (any) or a known channel. */
static menu_status check_channel_filter(Menu__V1__Channel ch, const char **code) {
  *code = "";
  if (ch == MENU__V1__CHANNEL__CHANNEL_UNSPECIFIED) return MENU_OK;
  *code = sql_channel_code(ch);
  if (!*code) return MENU_INVALID("channel: unknown value %d", (int)ch);
  return MENU_OK;
}

/* ---- handlers --------------------------------------------------------------------------- */

static menu_status list_markets(rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *resp,
                                void *svc) {
  const Menu__V1__ListMarketsRequest *req = (const void *)reqm;
  return reference_list(ctx, svc, &markets, NULL, req->page, resp);
}

static menu_status get_market(rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm,
                              void *svc) {
  const Menu__V1__GetMarketRequest *req = (const void *)reqm;
  Menu__V1__GetMarketResponse *resp = (void *)respm;
  return reference_get(ctx, svc, &markets, "market_code", req->market_code, 0,
                       (ProtobufCMessage **)&resp->market);
}

static menu_status list_regions(rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *resp,
                                void *svc) {
  const Menu__V1__ListRegionsRequest *req = (const void *)reqm;
  menu_status st = check_filter(req->market_code, "market_code");
  if (!menu_status_is_ok(&st)) return st;
  const char *filters[] = {req->market_code ? req->market_code : ""};
  return reference_list(ctx, svc, &regions, filters, req->page, resp);
}

static menu_status get_region(rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm,
                              void *svc) {
  const Menu__V1__GetRegionRequest *req = (const void *)reqm;
  Menu__V1__GetRegionResponse *resp = (void *)respm;
  return reference_get(ctx, svc, &regions, "regional_code", req->regional_code, 0,
                       (ProtobufCMessage **)&resp->region);
}

static menu_status list_restaurants(rpc_ctx *ctx, const ProtobufCMessage *reqm,
                                    ProtobufCMessage *resp, void *svc) {
  const Menu__V1__ListRestaurantsRequest *req = (const void *)reqm;
  const char *channel = NULL;
  menu_status st = check_filter(req->market_code, "market_code");
  if (menu_status_is_ok(&st)) st = check_filter(req->regional_code, "regional_code");
  if (menu_status_is_ok(&st)) st = check_channel_filter(req->channel, &channel);
  if (!menu_status_is_ok(&st)) return st;
  const char *filters[] = {req->market_code ? req->market_code : "",
                           req->regional_code ? req->regional_code : "", channel};
  return reference_list(ctx, svc, &restaurants, filters, req->page, resp);
}

static menu_status get_restaurant(rpc_ctx *ctx, const ProtobufCMessage *reqm,
                                  ProtobufCMessage *respm, void *svc) {
  const Menu__V1__GetRestaurantRequest *req = (const void *)reqm;
  Menu__V1__GetRestaurantResponse *resp = (void *)respm;
  return reference_get(ctx, svc, &restaurants, "restaurant_code", req->restaurant_code, 0,
                       (ProtobufCMessage **)&resp->restaurant);
}

static menu_status list_menu_types(rpc_ctx *ctx, const ProtobufCMessage *reqm,
                                   ProtobufCMessage *resp, void *svc) {
  const Menu__V1__ListMenuTypesRequest *req = (const void *)reqm;
  return reference_list(ctx, svc, &menu_types, NULL, req->page, resp);
}

static menu_status get_menu_type(rpc_ctx *ctx, const ProtobufCMessage *reqm,
                                 ProtobufCMessage *respm, void *svc) {
  const Menu__V1__GetMenuTypeRequest *req = (const void *)reqm;
  Menu__V1__GetMenuTypeResponse *resp = (void *)respm;
  return reference_get(ctx, svc, &menu_types, "menu_type_code", req->menu_type_code, 0,
                       (ProtobufCMessage **)&resp->menu_type);
}

static menu_status list_rule_groups(rpc_ctx *ctx, const ProtobufCMessage *reqm,
                                    ProtobufCMessage *resp, void *svc) {
  const Menu__V1__ListRuleGroupsRequest *req = (const void *)reqm;
  const char *channel = NULL;
  menu_status st = check_channel_filter(req->channel, &channel);
  if (!menu_status_is_ok(&st)) return st;
  const char *filters[] = {channel};
  return reference_list(ctx, svc, &rule_groups, filters, req->page, resp);
}

static menu_status get_rule_group(rpc_ctx *ctx, const ProtobufCMessage *reqm,
                                  ProtobufCMessage *respm, void *svc) {
  const Menu__V1__GetRuleGroupRequest *req = (const void *)reqm;
  Menu__V1__GetRuleGroupResponse *resp = (void *)respm;
  return reference_get(ctx, svc, &rule_groups, "rule_group_id", NULL, req->rule_group_id,
                       (ProtobufCMessage **)&resp->rule_group);
}

static menu_status list_products(rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *resp,
                                 void *svc) {
  const Menu__V1__ListProductsRequest *req = (const void *)reqm;
  return reference_list(ctx, svc, &products, NULL, req->page, resp);
}

static menu_status get_product(rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm,
                               void *svc) {
  const Menu__V1__GetProductRequest *req = (const void *)reqm;
  Menu__V1__GetProductResponse *resp = (void *)respm;
  return reference_get(ctx, svc, &products, "product_code", req->product_code, 0,
                       (ProtobufCMessage **)&resp->product);
}

const rpc_method_impl reference_methods[] = {
    {.name = "ListMarkets", .fn = list_markets},
    {.name = "GetMarket", .fn = get_market},
    {.name = "ListRegions", .fn = list_regions},
    {.name = "GetRegion", .fn = get_region},
    {.name = "ListRestaurants", .fn = list_restaurants},
    {.name = "GetRestaurant", .fn = get_restaurant},
    {.name = "ListMenuTypes", .fn = list_menu_types},
    {.name = "GetMenuType", .fn = get_menu_type},
    {.name = "ListRuleGroups", .fn = list_rule_groups},
    {.name = "GetRuleGroup", .fn = get_rule_group},
    {.name = "ListProducts", .fn = list_products},
    {.name = "GetProduct", .fn = get_product},
    {.name = NULL},
};
