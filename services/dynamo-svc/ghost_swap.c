/* GhostSwapService: handlers and the DynamoDB item of a ghost swap. Item: pk "CHANNEL#KIOSK",
 * sk = product_code (so the table's sort key lists swaps by product code), channel,
 * product_code, swap_product_code, version (N), create_time/update_time (S, RFC 3339 UTC). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/validate.h"
#include "services/dynamo-svc/dynamo.h"

static Menu__V1__GhostSwap *swap_of(arena *a, const json_t *item) {
  Menu__V1__GhostSwap *g = arena_alloc(a, sizeof *g);
  menu__v1__ghost_swap__init(g);
  g->channel = dyn_channel_from_name(ddb_item_s(item, "channel"));
  g->product_code = dyn_strdup(a, ddb_item_s(item, "sk"));
  g->swap_product_code = dyn_strdup(a, ddb_item_s(item, "swap_product_code"));
  int64_t v = 0;
  if (ddb_item_n(item, "version", &v)) g->version = v;
  g->create_time = dyn_time_parse(a, ddb_item_s(item, "create_time"));
  g->update_time = dyn_time_parse(a, ddb_item_s(item, "update_time"));
  return g;
}

static const char *what(dyn_call *call, Menu__V1__Channel ch, const char *code) {
  return arena_sprintf(call->a, "ghost swap %s/%s", dyn_channel_name(ch), code);
}

/* ---- list ---------------------------------------------------------------------------------- */

static menu_status list(dyn_svc *s, dyn_call *call, const Menu__V1__ListGhostSwapsRequest *req,
                        Menu__V1__ListGhostSwapsResponse *resp) {
  dyn_list_def def = {"ghost_swaps", s->ghost_swap_table, NULL, dyn_list_sk_start_key,
                      dyn_list_sk_payload};
  dyn_page page;
  menu_status st = dyn_list(s, call, &def, req->channel, req->page, &page);
  if (!menu_status_is_ok(&st)) return st;
  resp->n_edges = page.n;
  resp->edges = page.n ? arena_alloc(call->a, page.n * sizeof *resp->edges) : NULL;
  for (size_t i = 0; i < page.n; i++) {
    Menu__V1__GhostSwapEdge *e = arena_alloc(call->a, sizeof *e);
    menu__v1__ghost_swap_edge__init(e);
    e->cursor = page.cursors[i];
    e->node = swap_of(call->a, json_array_get(page.items, i));
    resp->edges[i] = e;
  }
  resp->page_info = dyn_page_info(call->a, &page);
  dyn_page_free(&page);
  return MENU_OK;
}

/* ---- get ----------------------------------------------------------------------------------- */

static menu_status get(dyn_svc *s, dyn_call *call, const Menu__V1__GetGhostSwapRequest *req,
                       Menu__V1__GetGhostSwapResponse *resp) {
  json_t *item;
  menu_status st = dyn_get(s, call, s->ghost_swap_table, "ghost swap", req->channel, "product_code",
                           req->product_code, &item);
  if (!menu_status_is_ok(&st)) return st;
  resp->ghost_swap = swap_of(call->a, item);
  json_decref(item);
  return MENU_OK;
}

/* ---- put: version 0 creates, version N replaces version N ---------------------------------- */

menu_status dyn_ghost_swap_put(dyn_svc *s, dyn_call *call, const Menu__V1__PutGhostSwapRequest *req,
                               Menu__V1__PutGhostSwapResponse *resp) {
  const Menu__V1__GhostSwap *g = req->ghost_swap;
  if (!g) return MENU_INVALID("ghost_swap: required");
  /* Every bad field, not only the first (BadRequest lists them all). */
  menu_status st = dyn_check_channel(g->channel, "ghost_swap.channel");
  menu_status f = field_check_code(g->product_code, "ghost_swap.product_code");
  menu_status_merge(&st, &f);
  f = field_check_code(g->swap_product_code, "ghost_swap.swap_product_code");
  menu_status_merge(&st, &f);
  if (menu_status_is_ok(&f) && g->product_code && !strcmp(g->product_code, g->swap_product_code))
    menu_status_add_violation(&st, "ghost_swap.swap_product_code",
                              "a product cannot be swapped to itself");
  if (g->version < 0) menu_status_add_violation(&st, "ghost_swap.version", "must not be negative");
  if (g->version == INT64_MAX)
    menu_status_add_violation(&st, "ghost_swap.version", "out of range (no later version exists)");
  if (!menu_status_is_ok(&st)) return st;

  char now[32];
  dyn_time_now(now);
  const char *pk = dyn_channel_pk(call->a, g->channel);
  const char *name = what(call, g->channel, g->product_code);
  const char *rid = req->request_id && *req->request_id ? req->request_id : NULL;
  if (rid) {
    ProtobufCMessage *original;
    const char *unused;
    st = dyn_idem_begin(s, call, s->ghost_swap_table, rid, &req->base, g->product_code,
                        &menu__v1__put_ghost_swap_response__descriptor, &original, &unused);
    if (!menu_status_is_ok(&st)) return st;
    if (original) { /* a repeat: the first call's answer, nothing written */
      *resp = *(Menu__V1__PutGhostSwapResponse *)original;
      return MENU_OK;
    }
  }
  json_t *result = NULL;
  if (g->version == 0) {
    json_t *item = json_pack("{s:{s:s},s:{s:s},s:{s:s},s:{s:s},s:{s:s},s:o,s:{s:s},s:{s:s}}", "pk",
                             "S", pk, "sk", "S", g->product_code, "channel", "S",
                             dyn_channel_name(g->channel), "product_code", "S", g->product_code,
                             "swap_product_code", "S", g->swap_product_code, "version", ddb_n(1),
                             "create_time", "S", now, "update_time", "S", now);
    bool exists;
    st = dyn_put_new(s, call, s->ghost_swap_table, item, rid, &exists, &result);
    if (exists)
      st = menu_status_make(GRPC_STATUS_ALREADY_EXISTS,
                            "ghost_swap.product_code: %s already exists (send its version to "
                            "replace it)",
                            name);
    json_decref(item);
  } else {
    json_t *key = dyn_key(pk, g->product_code);
    json_t *names = json_pack("{s:s,s:s,s:s,s:s}", "#pk", "pk", "#swap", "swap_product_code", "#v",
                              "version", "#ut", "update_time");
    json_t *values =
        json_pack("{s:{s:s},s:o,s:o,s:{s:s}}", ":swap", "S", g->swap_product_code, ":v",
                  ddb_n(g->version), ":next", ddb_n(g->version + 1), ":now", "S", now);
    ddb_item_op op = {.table = s->ghost_swap_table,
                      .key = key,
                      .update = "SET #swap = :swap, #v = :next, #ut = :now",
                      .condition = "attribute_exists(#pk) AND #v = :v",
                      .names = names,
                      .values = values};
    bool conflict;
    st = dyn_update_versioned(s, call, &op, g->version, rid, &conflict, &result);
    if (conflict)
      st = dyn_conflict_status(s, call, s->ghost_swap_table, key, g->version, name,
                               "ghost_swap.version");
    json_decref(values);
    json_decref(names);
    json_decref(key);
  }
  if (menu_status_is_ok(&st)) {
    resp->ghost_swap = swap_of(call->a, result);
    if (rid) dyn_idem_finish(s, call, s->ghost_swap_table, rid, &resp->base);
  }
  json_decref(result);
  return st;
}

/* ---- delete -------------------------------------------------------------------------------- */

static menu_status delete (dyn_svc *s, dyn_call *call, const Menu__V1__DeleteGhostSwapRequest *req,
                           Menu__V1__DeleteGhostSwapResponse *resp) {
  return dyn_delete(s, call, s->ghost_swap_table, "ghost swap", req->channel, "product_code",
                    req->product_code, req->version);
}

/* ---- batch get ------------------------------------------------------------------------------ */

/* The swaps of up to 100 product codes, in the order asked (duplicates answered once);
 * codes without a swap are absent. One BatchGetItem, UnprocessedKeys retried by the client. */
static menu_status batch_get(dyn_svc *s, dyn_call *call,
                             const Menu__V1__BatchGetGhostSwapsRequest *req,
                             Menu__V1__BatchGetGhostSwapsResponse *resp) {
  menu_status st = dyn_check_channel(req->channel, "channel");
  if (!menu_status_is_ok(&st)) return st;
  st = field_check_code_list(req->product_codes, req->n_product_codes, DYN_BATCH_GET_MAX,
                             "product_codes", false);
  if (!menu_status_is_ok(&st)) return st;
  if (!req->n_product_codes) return MENU_OK;
  const char *pk = dyn_channel_pk(call->a, req->channel);
  json_t *keys = json_array();
  json_t *seen = json_object();
  for (size_t i = 0; i < req->n_product_codes; i++) {
    const char *code = req->product_codes[i];
    if (json_object_get(seen, code)) continue; /* DynamoDB rejects duplicate keys */
    json_object_set_new(seen, code, json_null());
    json_array_append_new(keys, dyn_key(pk, code));
  }
  json_t *items = NULL;
  ddb_error err;
  st =
      ddb_batch_get_item(s->ddb, s->ghost_swap_table, keys, false, call->deadline_ms, &items, &err);
  json_decref(keys);
  if (!menu_status_is_ok(&st)) {
    json_decref(seen);
    return st;
  }
  size_t i;
  json_t *item;
  json_array_foreach(items, i, item) {
    const char *code = ddb_item_s(item, "sk");
    if (code && json_object_get(seen, code)) json_object_set(seen, code, item);
  }
  resp->ghost_swaps = arena_alloc(call->a, json_array_size(items) * sizeof *resp->ghost_swaps + 1);
  resp->n_ghost_swaps = 0;
  for (size_t k = 0; k < req->n_product_codes; k++) {
    json_t *found = json_object_get(seen, req->product_codes[k]);
    if (!found || json_is_null(found)) continue;
    resp->ghost_swaps[resp->n_ghost_swaps++] = swap_of(call->a, found);
    json_object_set_new(seen, req->product_codes[k], json_null()); /* once per code */
  }
  json_decref(items);
  json_decref(seen);
  return MENU_OK;
}

/* ---- handlers ------------------------------------------------------------------------------ */

DYN_HANDLER(list, Menu__V1__ListGhostSwapsRequest, Menu__V1__ListGhostSwapsResponse)
DYN_HANDLER(get, Menu__V1__GetGhostSwapRequest, Menu__V1__GetGhostSwapResponse)
DYN_HANDLER(dyn_ghost_swap_put, Menu__V1__PutGhostSwapRequest, Menu__V1__PutGhostSwapResponse)
DYN_HANDLER(delete, Menu__V1__DeleteGhostSwapRequest, Menu__V1__DeleteGhostSwapResponse)
DYN_HANDLER(batch_get, Menu__V1__BatchGetGhostSwapsRequest, Menu__V1__BatchGetGhostSwapsResponse)

const rpc_method_impl dyn_ghost_swap_methods[] = {
    {.name = "ListGhostSwaps", .fn = list_handler},
    {.name = "GetGhostSwap", .fn = get_handler},
    {.name = "PutGhostSwap", .fn = dyn_ghost_swap_put_handler},
    {.name = "DeleteGhostSwap", .fn = delete_handler},
    {.name = "BatchGetGhostSwaps", .fn = batch_get_handler},
    {.name = NULL},
};
