/* The revision of a channel's catalog (categories, product collections, ghost swaps) and
 * CatalogRevisionService. One item per channel in the category table, in a partition of its
 * own like the idempotency records (pk "REVISION#<CHANNEL>", sk "-"; never in a list, never
 * an entity key): revision (N), unsettled_until (N, epoch milliseconds), channel (S).
 *
 * DynamoDB (and dynalite) offers no transaction between an entity item and this item, so every
 * entity write is bracketed: before it, one UpdateItem adds 1 to revision and sets
 * unsettled_until to now + the write lease + a margin (the lease); the entity write itself
 * must end within the lease; after it, a second UpdateItem adds 1 again. A reader that sees
 * unsettled_until in the future knows a write may still land without another bump (a crash
 * between the entity write and the second bump), so it caches nothing read now beyond its
 * staleness bound; once the lease has passed, every write begun before it has landed or
 * failed. The lease is never cleared early: a second writer may still be inside its own. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/mono_clock.h"
#include "services/dynamo-svc/dynamo.h"

/* Wall-clock epoch milliseconds (unsettled_until is compared across replicas and readers). */
static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The revision item's key for an entity partition "CHANNEL#<name>" (arena memory). */
static json_t *revision_key(dyn_call *call, const char *entity_pk) {
  const char *name = strncmp(entity_pk, "CHANNEL#", 8) ? entity_pk : entity_pk + 8;
  return dyn_key(arena_sprintf(call->a, "REVISION#%s", name), "-");
}

/* ADD revision 1 on the channel of entity_pk; with lease_until_ms > 0 also SET
 * unsettled_until (and the channel name, for people reading the table). */
static menu_status bump(dyn_svc *s, dyn_call *call, const char *entity_pk, int64_t lease_until_ms,
                        int64_t deadline_ms) {
  json_t *key = revision_key(call, entity_pk);
  json_t *names = json_pack("{s:s}", "#rev", "revision");
  json_t *values = json_pack("{s:o}", ":one", ddb_n(1));
  const char *update = "ADD #rev :one";
  if (lease_until_ms > 0) {
    const char *name = strncmp(entity_pk, "CHANNEL#", 8) ? entity_pk : entity_pk + 8;
    json_object_set_new(names, "#uu", json_string("unsettled_until"));
    json_object_set_new(names, "#ch", json_string("channel"));
    json_object_set_new(values, ":uu", ddb_n(lease_until_ms));
    json_object_set_new(values, ":ch", ddb_s(name));
    update = "ADD #rev :one SET #uu = :uu, #ch = :ch";
  }
  ddb_item_op op = {
      .table = s->category_table, .key = key, .update = update, .names = names, .values = values};
  ddb_error err;
  menu_status st = ddb_update_item(s->ddb, &op, deadline_ms, NULL, &err);
  json_decref(values);
  json_decref(names);
  json_decref(key);
  return st;
}

menu_status dyn_revision_begin(dyn_svc *s, dyn_call *call, const char *entity_pk,
                               int64_t *write_deadline_ms) {
  int64_t lease = s->write_lease_ms;
  *write_deadline_ms = ddb_deadline_in(lease);
  if (*write_deadline_ms > call->deadline_ms) *write_deadline_ms = call->deadline_ms;
  /* The lease is taken before the bump is sent, so it covers the whole entity write. */
  int64_t until = wall_ms() + lease + DYN_REVISION_MARGIN_MS;
  return bump(s, call, entity_pk, until, *write_deadline_ms);
}

void dyn_revision_end(dyn_svc *s, dyn_call *call, const char *entity_pk) {
  menu_status st = bump(s, call, entity_pk, 0, call->deadline_ms);
  /* Not fatal: the entity write is done, and the lease taken before it tells readers not to
   * trust anything read until it has passed. */
  if (!menu_status_is_ok(&st))
    log_warn("catalog revision not advanced after a write; readers rely on its lease", "partition",
             entity_pk, "error", menu_status_diagnosis(&st), NULL);
}

menu_status dyn_revision_cut_status(dyn_call *call, menu_status st) {
  if (st.code == GRPC_STATUS_DEADLINE_EXCEEDED && mono_now_ms() < call->deadline_ms)
    return menu_status_backend(GRPC_STATUS_UNAVAILABLE, "DATASTORE_UNAVAILABLE", "dynamodb",
                               "DynamoDB unavailable (no answer in time)",
                               "cut before the call's deadline: %s", menu_status_diagnosis(&st));
  return st;
}

/* ---- CatalogRevisionService ----------------------------------------------------------------- */

static menu_status get_revision(dyn_svc *s, dyn_call *call,
                                const Menu__V1__GetCatalogRevisionRequest *req,
                                Menu__V1__GetCatalogRevisionResponse *resp) {
  menu_status st = dyn_check_channel(req->channel, "channel");
  if (!menu_status_is_ok(&st)) return st;
  /* Pollers call this often: a DynamoDB that does not answer is reported within a second
   * rather than at the caller's deadline. */
  int64_t deadline = ddb_deadline_in(DYN_REVISION_READ_TIMEOUT_MS);
  if (deadline > call->deadline_ms) deadline = call->deadline_ms;
  json_t *key = revision_key(call, dyn_channel_pk(call->a, req->channel));
  ddb_item_op op = {.table = s->category_table, .key = key, .consistent_read = true};
  json_t *item = NULL;
  ddb_error err;
  st = dyn_revision_cut_status(call, ddb_get_item(s->ddb, &op, deadline, &item, &err));
  json_decref(key);
  if (!menu_status_is_ok(&st)) return st;
  resp->channel = req->channel;
  int64_t rev = 0, until = 0;
  if (item && ddb_item_n(item, "revision", &rev) && rev > 0) resp->revision = (uint64_t)rev;
  if (item && ddb_item_n(item, "unsettled_until", &until) && until > wall_ms()) {
    Google__Protobuf__Timestamp *t = arena_alloc(call->a, sizeof *t);
    google__protobuf__timestamp__init(t);
    t->seconds = until / 1000;
    t->nanos = (int32_t)(until % 1000) * 1000000;
    resp->unsettled_until = t;
  }
  json_decref(item);
  return MENU_OK;
}

DYN_HANDLER(get_revision, Menu__V1__GetCatalogRevisionRequest, Menu__V1__GetCatalogRevisionResponse)

const rpc_method_impl dyn_revision_methods[] = {
    {.name = "GetCatalogRevision", .fn = get_revision_handler},
    {.name = NULL},
};
