/* CategoryService: handlers and the DynamoDB item of a category. Item: pk "CHANNEL#KIOSK",
 * sk = id, id, channel ("KIOSK"), name, display_order (N), order_key (S, LSI
 * by_display_order: display_order + 2^31 as 10 digits, "#", id, so the index sorts by
 * display_order then id), product_codes (L of S, the category's products in menu order; absent
 * on items written before categories held products, read as empty), version (N),
 * create_time/update_time (S, RFC 3339 UTC). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/field_mask.h"
#include "common/validate.h"
#include "services/dynamo-svc/dynamo.h"

/* Signed display_order made sortable as text: offset into [0, 2^32) and zero-padded. */
static char *order_key(arena *a, int32_t display_order, const char *id) {
  return arena_sprintf(a, "%010" PRIu32 "#%s", (uint32_t)((int64_t)display_order + 2147483648LL),
                       id);
}

static json_t *category_item(const char *pk, const Menu__V1__Category *c, const char *okey,
                             const char *created, const char *updated) {
  return json_pack("{s:{s:s},s:{s:s},s:{s:s},s:{s:s},s:{s:s},s:o,s:{s:s},s:o,s:o,s:{s:s},s:{s:s}}",
                   "pk", "S", pk, "sk", "S", c->id, "id", "S", c->id, "channel", "S",
                   dyn_channel_name(c->channel), "name", "S", c->name, "display_order",
                   ddb_n(c->display_order), "order_key", "S", okey, "product_codes",
                   dyn_codes_value(c->product_codes, c->n_product_codes), "version",
                   ddb_n(c->version), "create_time", "S", created, "update_time", "S", updated);
}

static Menu__V1__Category *category_of(arena *a, const json_t *item) {
  Menu__V1__Category *c = arena_alloc(a, sizeof *c);
  menu__v1__category__init(c);
  c->id = dyn_strdup(a, ddb_item_s(item, "sk"));
  c->channel = dyn_channel_from_name(ddb_item_s(item, "channel"));
  c->name = dyn_strdup(a, ddb_item_s(item, "name"));
  int64_t n = 0;
  if (ddb_item_n(item, "display_order", &n)) c->display_order = (int32_t)n;
  c->product_codes = dyn_codes_of(a, item, "product_codes", &c->n_product_codes);
  if (ddb_item_n(item, "version", &n)) c->version = n;
  c->create_time = dyn_time_parse(a, ddb_item_s(item, "create_time"));
  c->update_time = dyn_time_parse(a, ddb_item_s(item, "update_time"));
  return c;
}

static const char *what(dyn_call *call, Menu__V1__Channel ch, const char *id) {
  return arena_sprintf(call->a, "category %s/%s", dyn_channel_name(ch), id);
}

/* ---- list ---------------------------------------------------------------------------------- */

static json_t *start_key(const char *pk, const char *payload) {
  size_t n = strlen(payload);
  if (n < 12 || payload[10] != '#') return NULL;
  for (int i = 0; i < 10; i++)
    if (payload[i] < '0' || payload[i] > '9') return NULL;
  if (!validate_code(payload + 11)) return NULL;
  return json_pack("{s:{s:s},s:{s:s},s:{s:s}}", "pk", "S", pk, "sk", "S", payload + 11, "order_key",
                   "S", payload);
}

static char *payload_of(arena *a, const json_t *item) {
  const char *k = ddb_item_s(item, "order_key");
  return k ? arena_strdup(a, k) : NULL;
}

static menu_status list(dyn_svc *s, dyn_call *call, const Menu__V1__ListCategoriesRequest *req,
                        Menu__V1__ListCategoriesResponse *resp) {
  dyn_list_def def = {"categories", s->category_table, DYN_CATEGORY_INDEX, start_key, payload_of};
  dyn_page page;
  menu_status st = dyn_list(s, call, &def, req->channel, req->page, &page);
  if (!menu_status_is_ok(&st)) return st;
  resp->n_edges = page.n;
  resp->edges = page.n ? arena_alloc(call->a, page.n * sizeof *resp->edges) : NULL;
  for (size_t i = 0; i < page.n; i++) {
    Menu__V1__CategoryEdge *e = arena_alloc(call->a, sizeof *e);
    menu__v1__category_edge__init(e);
    e->cursor = page.cursors[i];
    e->node = category_of(call->a, json_array_get(page.items, i));
    resp->edges[i] = e;
  }
  resp->page_info = dyn_page_info(call->a, &page);
  dyn_page_free(&page);
  return MENU_OK;
}

/* ---- get ----------------------------------------------------------------------------------- */

static menu_status get(dyn_svc *s, dyn_call *call, const Menu__V1__GetCategoryRequest *req,
                       Menu__V1__GetCategoryResponse *resp) {
  json_t *item;
  menu_status st =
      dyn_get(s, call, s->category_table, "category", req->channel, "id", req->id, &item);
  if (!menu_status_is_ok(&st)) return st;
  resp->category = category_of(call->a, item);
  json_decref(item);
  return MENU_OK;
}

/* ---- create -------------------------------------------------------------------------------- */

/* Every bad field, not only the first (BadRequest lists them all). */
static menu_status check_fields(const Menu__V1__Category *c, bool id_required) {
  menu_status st = dyn_check_channel(c->channel, "category.channel");
  if (id_required || (c->id && *c->id)) {
    menu_status id = field_check_code(c->id, "category.id");
    menu_status_merge(&st, &id);
  }
  menu_status f = dyn_check_name(c->name, "category.name", DYN_NAME_MAX_CHARS);
  menu_status_merge(&st, &f);
  f = field_check_code_list(c->product_codes, c->n_product_codes, DYN_CATEGORY_MAX_CODES,
                            "category.product_codes", true);
  menu_status_merge(&st, &f);
  return st;
}

menu_status dyn_category_create(dyn_svc *s, dyn_call *call,
                                const Menu__V1__CreateCategoryRequest *req,
                                Menu__V1__CreateCategoryResponse *resp) {
  if (!req->category) return MENU_INVALID("category: required");
  menu_status st = check_fields(req->category, false);
  if (!menu_status_is_ok(&st)) return st;
  Menu__V1__Category c = *req->category;
  if (!c.id || !*c.id) {
    char id[37];
    dyn_uuid(id);
    c.id = arena_strdup(call->a, id);
  }
  const char *rid = req->request_id && *req->request_id ? req->request_id : NULL;
  if (rid) {
    ProtobufCMessage *original;
    const char *id;
    st = dyn_idem_begin(s, call, s->category_table, rid, &req->base, c.id,
                        &menu__v1__create_category_response__descriptor, &original, &id);
    c.id = (char *)id;
    if (!menu_status_is_ok(&st)) return st;
    if (original) { /* a repeat: the first call's answer, nothing written */
      *resp = *(Menu__V1__CreateCategoryResponse *)original;
      return MENU_OK;
    }
  }
  c.version = 1;
  char now[32];
  dyn_time_now(now);
  const char *pk = dyn_channel_pk(call->a, c.channel);
  json_t *item = category_item(pk, &c, order_key(call->a, c.display_order, c.id), now, now);
  bool exists;
  json_t *stored;
  st = dyn_put_new(s, call, s->category_table, item, rid, &exists, &stored);
  if (exists) {
    st = menu_status_make(GRPC_STATUS_ALREADY_EXISTS, "category.id: %s already exists",
                          what(call, c.channel, c.id));
  } else if (menu_status_is_ok(&st)) {
    resp->category = category_of(call->a, stored);
    if (rid) dyn_idem_finish(s, call, s->category_table, rid, &resp->base);
  }
  json_decref(stored);
  json_decref(item);
  return st;
}

/* ---- update -------------------------------------------------------------------------------- */

/* update_mask paths of a category, in bit order. */
enum { CAT_NAME = 1, CAT_DISPLAY_ORDER = 2, CAT_CODES = 4 };
static const char *const category_paths[] = {"name", "display_order", "product_codes", NULL};

static menu_status update(dyn_svc *s, dyn_call *call, const Menu__V1__UpdateCategoryRequest *req,
                          Menu__V1__UpdateCategoryResponse *resp) {
  const Menu__V1__Category *c = req->category;
  if (!c) return MENU_INVALID("category: required");
  /* No mask: the fields the request sets (AIP-134). */
  unsigned set = (c->name && *c->name ? CAT_NAME : 0) | (c->display_order ? CAT_DISPLAY_ORDER : 0) |
                 (c->n_product_codes ? CAT_CODES : 0);
  unsigned bits;
  menu_status st = field_mask_bits(req->update_mask, category_paths, set, &bits);
  menu_status f = dyn_check_channel(c->channel, "category.channel");
  menu_status_merge(&st, &f);
  f = field_check_code(c->id, "category.id");
  menu_status_merge(&st, &f);
  if (bits & CAT_NAME) {
    f = dyn_check_name(c->name, "category.name", DYN_NAME_MAX_CHARS);
    menu_status_merge(&st, &f);
  }
  if (bits & CAT_CODES) {
    f = field_check_code_list(c->product_codes, c->n_product_codes, DYN_CATEGORY_MAX_CODES,
                              "category.product_codes", true);
    menu_status_merge(&st, &f);
  }
  if (c->version <= 0)
    menu_status_add_violation(&st, "category.version",
                              "required (the version you read; create sets 1)");
  else if (c->version == INT64_MAX) /* no next version: version + 1 would overflow */
    menu_status_add_violation(&st, "category.version", "out of range (no later version exists)");
  if (menu_status_is_ok(&st) && !bits)
    menu_status_add_violation(&st, "update_mask", "nothing to change: set a field or name it");
  if (!menu_status_is_ok(&st)) return st;

  char now[32];
  dyn_time_now(now);
  json_t *key = dyn_key(dyn_channel_pk(call->a, c->channel), c->id);
  json_t *names = json_pack("{s:s,s:s,s:s}", "#pk", "pk", "#v", "version", "#ut", "update_time");
  json_t *values = json_pack("{s:o,s:o,s:{s:s}}", ":v", ddb_n(c->version), ":next",
                             ddb_n(c->version + 1), ":now", "S", now);
  const char *set_expr = "SET #v = :next, #ut = :now";
  if (bits & CAT_NAME) {
    json_object_set_new(names, "#name", json_string("name"));
    json_object_set_new(values, ":name", json_pack("{s:s}", "S", c->name));
    set_expr = arena_sprintf(call->a, "%s, #name = :name", set_expr);
  }
  if (bits & CAT_DISPLAY_ORDER) { /* the index key moves with it */
    json_object_set_new(names, "#do", json_string("display_order"));
    json_object_set_new(names, "#ok", json_string("order_key"));
    json_object_set_new(values, ":do", ddb_n(c->display_order));
    json_object_set_new(values, ":ok",
                        json_pack("{s:s}", "S", order_key(call->a, c->display_order, c->id)));
    set_expr = arena_sprintf(call->a, "%s, #do = :do, #ok = :ok", set_expr);
  }
  if (bits & CAT_CODES) {
    json_object_set_new(names, "#codes", json_string("product_codes"));
    json_object_set_new(values, ":codes", dyn_codes_value(c->product_codes, c->n_product_codes));
    set_expr = arena_sprintf(call->a, "%s, #codes = :codes", set_expr);
  }
  ddb_item_op op = {.table = s->category_table,
                    .key = key,
                    .update = set_expr,
                    .condition = "attribute_exists(#pk) AND #v = :v",
                    .names = names,
                    .values = values};
  json_t *attrs = NULL;
  bool conflict;
  st = dyn_update_versioned(s, call, &op, c->version, NULL, &conflict, &attrs);
  if (conflict)
    st = dyn_conflict_status(s, call, s->category_table, key, c->version,
                             what(call, c->channel, c->id), "category.version");
  if (menu_status_is_ok(&st)) resp->category = category_of(call->a, attrs);
  json_decref(attrs);
  json_decref(values);
  json_decref(names);
  json_decref(key);
  return st;
}

/* ---- delete -------------------------------------------------------------------------------- */

static menu_status delete (dyn_svc *s, dyn_call *call, const Menu__V1__DeleteCategoryRequest *req,
                           Menu__V1__DeleteCategoryResponse *resp) {
  return dyn_delete(s, call, s->category_table, "category", req->channel, "id", req->id,
                    req->version);
}

/* ---- handlers ------------------------------------------------------------------------------ */

DYN_HANDLER(list, Menu__V1__ListCategoriesRequest, Menu__V1__ListCategoriesResponse)
DYN_HANDLER(get, Menu__V1__GetCategoryRequest, Menu__V1__GetCategoryResponse)
DYN_HANDLER(dyn_category_create, Menu__V1__CreateCategoryRequest, Menu__V1__CreateCategoryResponse)
DYN_HANDLER(update, Menu__V1__UpdateCategoryRequest, Menu__V1__UpdateCategoryResponse)
DYN_HANDLER(delete, Menu__V1__DeleteCategoryRequest, Menu__V1__DeleteCategoryResponse)

const rpc_method_impl dyn_category_methods[] = {
    {.name = "ListCategories", .fn = list_handler},
    {.name = "GetCategory", .fn = get_handler},
    {.name = "CreateCategory", .fn = dyn_category_create_handler},
    {.name = "UpdateCategory", .fn = update_handler},
    {.name = "DeleteCategory", .fn = delete_handler},
    {.name = NULL},
};
