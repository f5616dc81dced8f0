/* Idempotent creates (AIP-155): a record per request_id in the entity's own table, in a
 * partition of its own ("REQUEST#<id>", never in a channel's list), holding the fingerprint of
 * the request, the id it creates and, once done, the response. */
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "services/dynamo-svc/dynamo.h"

static bool is_uuid(const char *s) {
  static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
  if (strlen(s) != sizeof shape - 1) return false;
  for (size_t i = 0; shape[i]; i++) {
    char c = s[i];
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (shape[i] == '-' ? c != '-' : !hex) return false;
  }
  return true;
}

/* SHA-256 of the request packed without its request_id (field "request_id" cleared). */
static const char *fingerprint(dyn_call *call, const ProtobufCMessage *req) {
  const ProtobufCFieldDescriptor *f =
      protobuf_c_message_descriptor_get_field_by_name(req->descriptor, "request_id");
  size_t n = protobuf_c_message_get_packed_size(req);
  uint8_t *buf = arena_alloc(call->a, n + 1);
  char **slot = f ? (char **)((char *)req + f->offset) : NULL;
  char *saved = slot ? *slot : NULL;
  if (slot) *slot = ""; /* borrowed request: restored below */
  n = protobuf_c_message_pack(req, buf);
  if (slot) *slot = saved;
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(buf, n, md);
  char *out = arena_alloc(call->a, 2 * SHA256_DIGEST_LENGTH + 1);
  for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
  return out;
}

static json_t *record_key(dyn_call *call, const char *request_id) {
  return dyn_key(arena_sprintf(call->a, "REQUEST#%s", request_id), "-");
}

menu_status dyn_idem_begin(dyn_svc *s, dyn_call *call, const char *table, const char *request_id,
                           const ProtobufCMessage *req, const char *candidate,
                           const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **original,
                           const char **id) {
  *original = NULL;
  *id = candidate;
  if (!is_uuid(request_id))
    return MENU_INVALID_FIELD("request_id", "must be a UUID (8-4-4-4-12 hex digits)");
  const char *fp = fingerprint(call, req);
  int64_t now = (int64_t)time(NULL);
  json_t *key = record_key(call, request_id);
  json_t *item = json_pack(
      "{s:O,s:O,s:{s:s},s:{s:s},s:{s:s},s:o,s:o}", "pk", json_object_get(key, "pk"), "sk",
      json_object_get(key, "sk"), "state", "S", "pending", "fingerprint", "S", fp, "entity_id", "S",
      candidate, "created_at", ddb_n(now), "expires_at", ddb_n(now + DYN_IDEMPOTENCY_WINDOW_S));
  /* A record past its window counts as absent (DynamoDB's TTL deletes it within days;
   * dynalite never does). */
  json_t *names = json_pack("{s:s,s:s}", "#pk", "pk", "#exp", "expires_at");
  json_t *values = json_pack("{s:o}", ":now", ddb_n(now));
  ddb_item_op op = {.table = table,
                    .item = item,
                    .condition = "attribute_not_exists(#pk) OR #exp < :now",
                    .names = names,
                    .values = values};
  ddb_error err;
  menu_status st = ddb_put_item(s->ddb, &op, call->deadline_ms, NULL, &err);
  if (err.kind == DDB_ERR_CONDITION) {
    /* Seen before (or our own put, retried after a lost answer: same fingerprint, same id). */
    ddb_item_op get = {.table = table, .key = key, .consistent_read = true};
    json_t *rec = NULL;
    st = ddb_get_item(s->ddb, &get, call->deadline_ms, &rec, &err);
    int64_t exp = 0;
    if (menu_status_is_ok(&st) && (!rec || !ddb_item_n(rec, "expires_at", &exp) || exp < now)) {
      st = menu_status_make(GRPC_STATUS_ABORTED, "request_id: its record is being replaced; retry");
    } else if (menu_status_is_ok(&st)) {
      const char *rfp = ddb_item_s(rec, "fingerprint"), *state = ddb_item_s(rec, "state");
      const char *rid = ddb_item_s(rec, "entity_id"), *body = ddb_item_s(rec, "response");
      if (!rfp || strcmp(rfp, fp)) {
        st = MENU_INVALID_FIELD("request_id", "already used for a different request");
      } else if (state && !strcmp(state, "done") && body) {
        size_t blen = strlen(body);
        unsigned char *bin = arena_alloc(call->a, blen + 1);
        int n = EVP_DecodeBlock(bin, (const unsigned char *)body, (int)blen);
        while (n > 0 && blen && body[blen - 1] == '=') n--, blen--; /* padding */
        *original =
            n >= 0 ? protobuf_c_message_unpack(resp_desc, &call->a->pb, (size_t)n, bin) : NULL;
        if (!*original) st = MENU_INTERNAL("request_id: the recorded response does not decode");
      } else if (rid) {
        *id = dyn_strdup(call->a, rid); /* the first call did not finish: same id */
      }
    }
    json_decref(rec);
  }
  json_decref(values);
  json_decref(names);
  json_decref(item);
  json_decref(key);
  return st;
}

void dyn_idem_finish(dyn_svc *s, dyn_call *call, const char *table, const char *request_id,
                     const ProtobufCMessage *resp) {
  size_t n = protobuf_c_message_get_packed_size(resp);
  uint8_t *bin = arena_alloc(call->a, n + 1);
  protobuf_c_message_pack(resp, bin);
  char *b64 = arena_alloc(call->a, 4 * ((n + 2) / 3) + 1);
  EVP_EncodeBlock((unsigned char *)b64, bin, (int)n);
  json_t *key = record_key(call, request_id);
  json_t *names = json_pack("{s:s,s:s}", "#st", "state", "#resp", "response");
  json_t *values = json_pack("{s:{s:s},s:{s:s}}", ":done", "S", "done", ":resp", "S", b64);
  ddb_item_op op = {.table = table,
                    .key = key,
                    .update = "SET #st = :done, #resp = :resp",
                    .names = names,
                    .values = values};
  ddb_error err;
  json_t *attrs = NULL;
  menu_status st = ddb_update_item(s->ddb, &op, call->deadline_ms, &attrs, &err);
  /* Not fatal: the entity exists, and a repeat finds the record pending and recognises the
   * write as its own (same id, same token). */
  if (!menu_status_is_ok(&st))
    log_warn("idempotency record not completed", "request_id", request_id, "error",
             menu_status_diagnosis(&st), NULL);
  json_decref(attrs);
  json_decref(values);
  json_decref(names);
  json_decref(key);
}
