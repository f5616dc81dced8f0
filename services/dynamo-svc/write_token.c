/* Write tokens: how a retried conditional write recognises that its own first attempt was
 * applied (the answer was lost), instead of reporting its own write as a conflict. */
#include <inttypes.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "services/dynamo-svc/dynamo.h"

const char *dyn_write_token(dyn_call *call, const char *seed, const char *table, const char *key,
                            int64_t version) {
  unsigned char rnd[16];
  char rnd_hex[33];
  if (!seed) seed = call->request_id;
  if (!seed) { /* outside a call (seed-demo): a token nobody else has */
    RAND_bytes(rnd, sizeof rnd);
    for (size_t i = 0; i < sizeof rnd; i++) snprintf(rnd_hex + 2 * i, 3, "%02x", rnd[i]);
    seed = rnd_hex;
  }
  char *text = arena_sprintf(call->a, "%s\n%s\n%s\n%" PRId64, seed, table, key, version);
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256((const unsigned char *)text, strlen(text), md);
  char *out = arena_alloc(call->a, 33);
  for (int i = 0; i < 16; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
  return out;
}

bool dyn_write_was_ours(dyn_svc *s, dyn_call *call, const char *table, json_t *key,
                        const char *token, json_t **item) {
  *item = NULL;
  /* Read back on every condition failure, not only when err->maybe_applied: libcurl retries a
   * request by itself when a reused connection dies before any byte of the answer, so a
   * first attempt can have been applied without this client's retry loop knowing. */
  ddb_item_op op = {.table = table, .key = key, .consistent_read = true};
  json_t *got = NULL;
  ddb_error rerr;
  menu_status st = ddb_get_item(s->ddb, &op, call->deadline_ms, &got, &rerr);
  if (!menu_status_is_ok(&st) || !got) return false;
  const char *t = ddb_item_s(got, DYN_WRITE_TOKEN_ATTR);
  if (!t || strcmp(t, token)) {
    json_decref(got);
    return false;
  }
  *item = got;
  return true;
}

static const char *key_text(dyn_call *call, json_t *key) {
  return arena_sprintf(call->a, "%s|%s", ddb_item_s(key, "pk"), ddb_item_s(key, "sk"));
}

menu_status dyn_put_new(dyn_svc *s, dyn_call *call, const char *table, json_t *item,
                        const char *seed, bool *exists, json_t **stored) {
  *exists = false;
  *stored = NULL;
  json_t *key = dyn_key(ddb_item_s(item, "pk"), ddb_item_s(item, "sk"));
  const char *token = dyn_write_token(call, seed, table, key_text(call, key), 0);
  json_object_set_new(item, DYN_WRITE_TOKEN_ATTR, json_pack("{s:s}", "S", token));
  int64_t write_deadline;
  menu_status st = dyn_revision_begin(s, call, ddb_item_s(item, "pk"), &write_deadline);
  if (!menu_status_is_ok(&st)) {
    json_decref(key);
    return st;
  }
  json_t *names = json_pack("{s:s}", "#pk", "pk");
  ddb_item_op op = {
      .table = table, .item = item, .condition = "attribute_not_exists(#pk)", .names = names};
  ddb_error err;
  st = dyn_revision_cut_status(call, ddb_put_item(s->ddb, &op, write_deadline, NULL, &err));
  if (err.kind == DDB_ERR_CONDITION) {
    json_t *mine;
    if (dyn_write_was_ours(s, call, table, key, token, &mine)) {
      *stored = mine; /* our first attempt created it; its answer was lost */
    } else {
      *exists = true;
    }
    st = MENU_OK;
  } else if (menu_status_is_ok(&st)) {
    *stored = json_incref(item);
  }
  if (!*exists) dyn_revision_end(s, call, ddb_item_s(item, "pk")); /* written, or maybe */
  json_decref(names);
  json_decref(key);
  return st;
}

menu_status dyn_update_versioned(dyn_svc *s, dyn_call *call, ddb_item_op *op, int64_t version,
                                 const char *seed, bool *conflict, json_t **attrs) {
  *conflict = false;
  *attrs = NULL;
  const char *token = dyn_write_token(call, seed, op->table, key_text(call, op->key), version);
  json_object_set_new(op->names, "#wt", json_string(DYN_WRITE_TOKEN_ATTR));
  json_object_set_new(op->values, ":wt", json_pack("{s:s}", "S", token));
  op->update = arena_sprintf(call->a, "%s, #wt = :wt", op->update);
  op->return_values = "ALL_NEW";
  const char *pk = ddb_item_s(op->key, "pk");
  int64_t write_deadline;
  menu_status st = dyn_revision_begin(s, call, pk, &write_deadline);
  if (!menu_status_is_ok(&st)) return st;
  ddb_error err;
  st = dyn_revision_cut_status(call, ddb_update_item(s->ddb, op, write_deadline, attrs, &err));
  if (err.kind == DDB_ERR_CONDITION) {
    json_t *mine;
    if (dyn_write_was_ours(s, call, op->table, op->key, token, &mine))
      *attrs = mine; /* our first attempt was applied; its answer was lost */
    else
      *conflict = true;
    st = MENU_OK;
  }
  if (!*conflict) dyn_revision_end(s, call, pk); /* written, or maybe */
  return st;
}
