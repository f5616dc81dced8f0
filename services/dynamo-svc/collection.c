/* ProductCollectionService: handlers and the DynamoDB item of a product collection. Item:
 * pk "CHANNEL#KIOSK", sk = id (collections are listed by id), id, channel, name,
 * product_codes (L of S, in the caller's order), version (N), create_time/update_time (S). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/field_mask.h"
#include "common/validate.h"
#include "services/dynamo-svc/dynamo.h"

static Menu__V1__ProductCollection *collection_of(arena *a, const json_t *item) {
  Menu__V1__ProductCollection *c = arena_alloc(a, sizeof *c);
  menu__v1__product_collection__init(c);
  c->id = dyn_strdup(a, ddb_item_s(item, "sk"));
  c->channel = dyn_channel_from_name(ddb_item_s(item, "channel"));
  c->name = dyn_strdup(a, ddb_item_s(item, "name"));
  c->product_codes = dyn_codes_of(a, item, "product_codes", &c->n_product_codes);
  int64_t ver = 0;
  if (ddb_item_n(item, "version", &ver)) c->version = ver;
  c->create_time = dyn_time_parse(a, ddb_item_s(item, "create_time"));
  c->update_time = dyn_time_parse(a, ddb_item_s(item, "update_time"));
  return c;
}

static const char *what(dyn_call *call, Menu__V1__Channel ch, const char *id) {
  return arena_sprintf(call->a, "product collection %s/%s", dyn_channel_name(ch), id);
}

static json_t *codes_value(const Menu__V1__ProductCollection *c) {
  return dyn_codes_value(c->product_codes, c->n_product_codes);
}

/* Every bad field, not only the first (BadRequest lists them all). */
static menu_status check_fields(const Menu__V1__ProductCollection *c, bool id_required) {
  menu_status st = dyn_check_channel(c->channel, "product_collection.channel");
  if (id_required || (c->id && *c->id)) {
    menu_status id = field_check_code(c->id, "product_collection.id");
    menu_status_merge(&st, &id);
  }
  menu_status f = dyn_check_name(c->name, "product_collection.name", DYN_NAME_MAX_CHARS);
  menu_status_merge(&st, &f);
  f = field_check_code_list(c->product_codes, c->n_product_codes, DYN_COLLECTION_MAX_CODES,
                            "product_collection.product_codes", true);
  menu_status_merge(&st, &f);
  return st;
}

/* ---- list ---------------------------------------------------------------------------------- */

static menu_status list(dyn_svc *s, dyn_call *call,
                        const Menu__V1__ListProductCollectionsRequest *req,
                        Menu__V1__ListProductCollectionsResponse *resp) {
  dyn_list_def def = {"product_collections", s->collection_table, NULL, dyn_list_sk_start_key,
                      dyn_list_sk_payload};
  dyn_page page;
  menu_status st = dyn_list(s, call, &def, req->channel, req->page, &page);
  if (!menu_status_is_ok(&st)) return st;
  resp->n_edges = page.n;
  resp->edges = page.n ? arena_alloc(call->a, page.n * sizeof *resp->edges) : NULL;
  for (size_t i = 0; i < page.n; i++) {
    Menu__V1__ProductCollectionEdge *e = arena_alloc(call->a, sizeof *e);
    menu__v1__product_collection_edge__init(e);
    e->cursor = page.cursors[i];
    e->node = collection_of(call->a, json_array_get(page.items, i));
    resp->edges[i] = e;
  }
  resp->page_info = dyn_page_info(call->a, &page);
  dyn_page_free(&page);
  return MENU_OK;
}

/* ---- get ----------------------------------------------------------------------------------- */

static menu_status get(dyn_svc *s, dyn_call *call, const Menu__V1__GetProductCollectionRequest *req,
                       Menu__V1__GetProductCollectionResponse *resp) {
  json_t *item;
  menu_status st = dyn_get(s, call, s->collection_table, "product collection", req->channel, "id",
                           req->id, &item);
  if (!menu_status_is_ok(&st)) return st;
  resp->product_collection = collection_of(call->a, item);
  json_decref(item);
  return MENU_OK;
}

/* ---- create -------------------------------------------------------------------------------- */

menu_status dyn_collection_create(dyn_svc *s, dyn_call *call,
                                  const Menu__V1__CreateProductCollectionRequest *req,
                                  Menu__V1__CreateProductCollectionResponse *resp) {
  if (!req->product_collection) return MENU_INVALID("product_collection: required");
  menu_status st = check_fields(req->product_collection, false);
  if (!menu_status_is_ok(&st)) return st;
  Menu__V1__ProductCollection c = *req->product_collection;
  if (!c.id || !*c.id) {
    char id[37];
    dyn_uuid(id);
    c.id = arena_strdup(call->a, id);
  }
  const char *rid = req->request_id && *req->request_id ? req->request_id : NULL;
  if (rid) {
    ProtobufCMessage *original;
    const char *id;
    st = dyn_idem_begin(s, call, s->collection_table, rid, &req->base, c.id,
                        &menu__v1__create_product_collection_response__descriptor, &original, &id);
    c.id = (char *)id;
    if (!menu_status_is_ok(&st)) return st;
    if (original) { /* a repeat: the first call's answer, nothing written */
      *resp = *(Menu__V1__CreateProductCollectionResponse *)original;
      return MENU_OK;
    }
  }
  char now[32];
  dyn_time_now(now);
  json_t *item = json_pack("{s:{s:s},s:{s:s},s:{s:s},s:{s:s},s:{s:s},s:o,s:o,s:{s:s},s:{s:s}}",
                           "pk", "S", dyn_channel_pk(call->a, c.channel), "sk", "S", c.id, "id",
                           "S", c.id, "channel", "S", dyn_channel_name(c.channel), "name", "S",
                           c.name, "product_codes", codes_value(&c), "version", ddb_n(1),
                           "create_time", "S", now, "update_time", "S", now);
  bool exists;
  json_t *stored;
  st = dyn_put_new(s, call, s->collection_table, item, rid, &exists, &stored);
  if (exists) {
    st = menu_status_make(GRPC_STATUS_ALREADY_EXISTS, "product_collection.id: %s already exists",
                          what(call, c.channel, c.id));
  } else if (menu_status_is_ok(&st)) {
    resp->product_collection = collection_of(call->a, stored);
    if (rid) dyn_idem_finish(s, call, s->collection_table, rid, &resp->base);
  }
  json_decref(stored);
  json_decref(item);
  return st;
}

/* ---- update -------------------------------------------------------------------------------- */

/* update_mask paths of a product collection, in bit order. */
enum { COL_NAME = 1, COL_CODES = 2 };
static const char *const collection_paths[] = {"name", "product_codes", NULL};

static menu_status update(dyn_svc *s, dyn_call *call,
                          const Menu__V1__UpdateProductCollectionRequest *req,
                          Menu__V1__UpdateProductCollectionResponse *resp) {
  const Menu__V1__ProductCollection *c = req->product_collection;
  if (!c) return MENU_INVALID("product_collection: required");
  /* No mask: the fields the request sets (AIP-134). */
  unsigned set = (c->name && *c->name ? COL_NAME : 0) | (c->n_product_codes ? COL_CODES : 0);
  unsigned bits;
  menu_status st = field_mask_bits(req->update_mask, collection_paths, set, &bits);
  menu_status f = dyn_check_channel(c->channel, "product_collection.channel");
  menu_status_merge(&st, &f);
  f = field_check_code(c->id, "product_collection.id");
  menu_status_merge(&st, &f);
  if (bits & COL_NAME) {
    f = dyn_check_name(c->name, "product_collection.name", DYN_NAME_MAX_CHARS);
    menu_status_merge(&st, &f);
  }
  if (bits & COL_CODES) {
    f = field_check_code_list(c->product_codes, c->n_product_codes, DYN_COLLECTION_MAX_CODES,
                              "product_collection.product_codes", true);
    menu_status_merge(&st, &f);
  }
  if (c->version <= 0)
    menu_status_add_violation(&st, "product_collection.version", "required (the version you read)");
  else if (c->version == INT64_MAX) /* no next version: version + 1 would overflow */
    menu_status_add_violation(&st, "product_collection.version",
                              "out of range (no later version exists)");
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
  if (bits & COL_NAME) {
    json_object_set_new(names, "#name", json_string("name"));
    json_object_set_new(values, ":name", json_pack("{s:s}", "S", c->name));
    set_expr = arena_sprintf(call->a, "%s, #name = :name", set_expr);
  }
  if (bits & COL_CODES) {
    json_object_set_new(names, "#codes", json_string("product_codes"));
    json_object_set_new(values, ":codes", dyn_codes_value(c->product_codes, c->n_product_codes));
    set_expr = arena_sprintf(call->a, "%s, #codes = :codes", set_expr);
  }
  ddb_item_op op = {.table = s->collection_table,
                    .key = key,
                    .update = set_expr,
                    .condition = "attribute_exists(#pk) AND #v = :v",
                    .names = names,
                    .values = values};
  json_t *attrs = NULL;
  bool conflict;
  st = dyn_update_versioned(s, call, &op, c->version, NULL, &conflict, &attrs);
  if (conflict)
    st = dyn_conflict_status(s, call, s->collection_table, key, c->version,
                             what(call, c->channel, c->id), "product_collection.version");
  if (menu_status_is_ok(&st)) resp->product_collection = collection_of(call->a, attrs);
  json_decref(attrs);
  json_decref(values);
  json_decref(names);
  json_decref(key);
  return st;
}

/* ---- delete -------------------------------------------------------------------------------- */

static menu_status delete (dyn_svc *s, dyn_call *call,
                           const Menu__V1__DeleteProductCollectionRequest *req,
                           Menu__V1__DeleteProductCollectionResponse *resp) {
  return dyn_delete(s, call, s->collection_table, "product collection", req->channel, "id", req->id,
                    req->version);
}

/* ---- handlers ------------------------------------------------------------------------------ */

DYN_HANDLER(list, Menu__V1__ListProductCollectionsRequest, Menu__V1__ListProductCollectionsResponse)
DYN_HANDLER(get, Menu__V1__GetProductCollectionRequest, Menu__V1__GetProductCollectionResponse)
DYN_HANDLER(dyn_collection_create, Menu__V1__CreateProductCollectionRequest,
            Menu__V1__CreateProductCollectionResponse)
DYN_HANDLER(update, Menu__V1__UpdateProductCollectionRequest,
            Menu__V1__UpdateProductCollectionResponse)
DYN_HANDLER(delete, Menu__V1__DeleteProductCollectionRequest,
            Menu__V1__DeleteProductCollectionResponse)

const rpc_method_impl dyn_collection_methods[] = {
    {.name = "ListProductCollections", .fn = list_handler},
    {.name = "GetProductCollection", .fn = get_handler},
    {.name = "CreateProductCollection", .fn = dyn_collection_create_handler},
    {.name = "UpdateProductCollection", .fn = update_handler},
    {.name = "DeleteProductCollection", .fn = delete_handler},
    {.name = NULL},
};
