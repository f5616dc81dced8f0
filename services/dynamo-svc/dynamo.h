/* What the three entities of dynamo-svc share: the service state main.c builds (client,
 * cursor key, table names), the per-call context, validation of channels/codes/names,
 * timestamps, ids, and the Relay list walk over one channel partition. */
#ifndef DYNAMO_SVC_H
#define DYNAMO_SVC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/mono_clock.h"
#include "common/config.h"
#include "common/cursor.h"
#include "common/metrics.h"
#include "common/rpc_server.h"
#include "common/field_check.h"
#include "common/status.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "menu/v1/catalog_revision.pb-c.h"
#include "menu/v1/category.pb-c.h"
#include "menu/v1/common.pb-c.h"
#include "menu/v1/ghost_swap.pb-c.h"
#include "menu/v1/product_collection.pb-c.h"
#include "services/dynamo-svc/ddb/ddb.h"

#define DYN_NAME_MAX_CHARS 200                /* names: valid UTF-8, 1..200 code points */
#define DYN_COLLECTION_MAX_CODES 500          /* product codes in one collection */
#define DYN_CATEGORY_MAX_CODES 200            /* product codes in one category */
#define DYN_BATCH_GET_MAX 100                 /* BatchGetGhostSwaps */
#define DYN_CATEGORY_INDEX "by_display_order" /* LSI of the category table on order_key */

/* Built once by main (dyn_svc_create), read-only afterwards: thread-safe. */
typedef struct {
  ddb_client *ddb;
  cursor_key cursor_key;
  char category_table[256];   /* DYNAMODB_CATEGORY_TABLE, "menu-categories" */
  char ghost_swap_table[256]; /* DYNAMODB_GHOST_SWAP_TABLE, "menu-ghost-swaps" */
  char collection_table[256]; /* DYNAMODB_PRODUCT_COLLECTION_TABLE, "menu-product-collections" */
  bool create_tables;         /* DYNAMODB_CREATE_TABLES, true */
  int64_t write_lease_ms;     /* DYNAMODB_WRITE_LEASE_MS, 3000: longest entity write */
} dyn_svc;

/* Reads the configuration (problems recorded in c) and creates the client. When
 * create_tables, makes sure the tables exist (retrying up to DYNAMODB_STARTUP_TIMEOUT_MS
 * while DynamoDB is not reachable yet). NULL on failure. metrics may be NULL. */
dyn_svc *dyn_svc_create(config *c, metrics_registry *metrics);
void dyn_svc_destroy(dyn_svc *s);
/* Reads every variable dyn_svc_create reads and builds nothing (for --help's listing). */
void dyn_svc_config_load(config *c);

/* The tables and their key schema (tables.c). Idempotent; waits for ACTIVE. */
menu_status dyn_tables_ensure(dyn_svc *s, int64_t deadline_ms);

/* One call: where response memory comes from and when the work must end. */
typedef struct {
  arena *a;
  int64_t deadline_ms;    /* mono_now_ms() time */
  const char *request_id; /* the call's x-request-id (borrowed); NULL outside a call */
} dyn_call;

dyn_call dyn_call_of(rpc_ctx *ctx);

/* Defines fn_handler, the rpc_unary_fn that runs fn(svc, call, typed req, typed resp). */
#define DYN_HANDLER(fn, Req, Resp)                                           \
  static menu_status fn##_handler(rpc_ctx *ctx, const ProtobufCMessage *req, \
                                  ProtobufCMessage *resp, void *svc) {       \
    dyn_call call = dyn_call_of(ctx);                                        \
    return fn(svc, &call, (const Req *)req, (Resp *)resp);                   \
  }

/* ---- validation ------------------------------------------------------------------------- */

/* "KIOSK", "WEB", "APP", "DRIVE_THRU", "DELIVERY"; NULL for UNSPECIFIED or unknown values. */
const char *dyn_channel_name(Menu__V1__Channel ch);
Menu__V1__Channel dyn_channel_from_name(const char *name); /* UNSPECIFIED when unknown */
/* INVALID_ARGUMENT naming `field` unless ch is a real channel. */
menu_status dyn_check_channel(Menu__V1__Channel ch, const char *field);
/* The partition key "CHANNEL#<name>" (arena memory). ch must be valid. */
char *dyn_channel_pk(arena *a, Menu__V1__Channel ch);

/* Valid UTF-8, 1..max_chars code points, not only spaces, no control characters. */
menu_status dyn_check_name(const char *s, const char *field, size_t max_chars);

/* ---- values ------------------------------------------------------------------------------- */

/* Current UTC time as stored: RFC 3339 with microseconds, "2024-05-06T07:08:09.123456Z". */
void dyn_time_now(char out[32]);
/* Parses what dyn_time_now writes, "YYYY-MM-DDTHH:MM:SS[.fraction]Z" (arena memory); NULL
 * when absent or malformed. */
Google__Protobuf__Timestamp *dyn_time_parse(arena *a, const char *s);
/* A random (v4) UUID, lower case, 36 characters. */
void dyn_uuid(char out[37]);
/* The DynamoDB list (L of S) of codes, in order (new reference). */
json_t *dyn_codes_value(char *const *codes, size_t n);
/* The codes of list attribute `attr` of item, in order (arena memory; NULL when empty). */
char **dyn_codes_of(arena *a, const json_t *item, const char *attr, size_t *n);
/* s copied into the arena; "" for NULL. */
char *dyn_strdup(arena *a, const char *s);

/* Status for a DynamoDB failure when the caller has nothing more specific to say. */
static inline menu_status dyn_status(const char *op, const ddb_error *e) {
  return ddb_error_status(op, e);
}

/* A conditional write on `key` failed: NOT_FOUND when the item is gone, else ABORTED naming
 * version_field with the current version. `what` names the item ("category KIOSK/abc"). */
menu_status dyn_conflict_status(dyn_svc *s, dyn_call *call, const char *table, json_t *key,
                                int64_t version, const char *what, const char *version_field);

/* The common DynamoDB key of every item: {"pk": "CHANNEL#X", "sk": sk} (new reference). */
json_t *dyn_key(const char *pk, const char *sk);

/* The Get of every entity: validates ch and key (INVALID_ARGUMENT naming `channel` and
 * key_field), reads (ch, key) from table consistently, NOT_FOUND "<noun> KIOSK/<key> not
 * found" when absent. On success *item is a new reference the caller decrefs. */
menu_status dyn_get(dyn_svc *s, dyn_call *call, const char *table, const char *noun,
                    Menu__V1__Channel ch, const char *key_field, const char *key, json_t **item);

/* The Delete of every entity: validates like dyn_get, then deletes (ch, key) from table only
 * if its version is `version` (required): ABORTED when stale, NOT_FOUND when absent, and
 * nothing changes in either case. */
menu_status dyn_delete(dyn_svc *s, dyn_call *call, const char *table, const char *noun,
                       Menu__V1__Channel ch, const char *key_field, const char *key,
                       int64_t version);

/* ---- ambiguity-safe conditional writes (write_token.c) ----------------------------------- */

/* Every conditional write stores a write token on the item (attribute "write_token"): a hash
 * of the call's request id (or of `request_id` of an idempotent create), the table, the key
 * and the version written over, so that it is distinct per write. When a write whose first
 * attempt may have been applied (ddb_error.maybe_applied) fails its condition, the item is read
 * back: the token says whether the write that is there is ours. Arena memory. */
#define DYN_WRITE_TOKEN_ATTR "write_token"
const char *dyn_write_token(dyn_call *call, const char *seed, const char *table, const char *key,
                            int64_t version);

/* After a conditional write on `key` failed its condition: when the item carries `token` (an
 * earlier attempt of this very write was applied), true with *item the item as stored (new
 * reference the caller decrefs). False otherwise (*item NULL); a failed read is false too. */
bool dyn_write_was_ours(dyn_svc *s, dyn_call *call, const char *table, json_t *key,
                        const char *token, json_t **item);

/* Puts `item` (pk, sk) only if no item has that key, with a write token seeded by `seed`
 * (NULL: the request id). OK with *stored the item as stored (new reference), also when a
 * retried put finds its own first attempt; *exists (and OK) when another item has the key. */
menu_status dyn_put_new(dyn_svc *s, dyn_call *call, const char *table, json_t *item,
                        const char *seed, bool *exists, json_t **stored);

/* UpdateItem of `key` with op->update (a "SET ..." that sets the version to :next) only if its
 * version is `version`; adds the write token (seeded by `seed`, NULL: the request id). OK with
 * *attrs the item after the write (new reference), also when a retry finds its own first attempt
 * applied; *conflict (and OK) when the condition failed otherwise. */
menu_status dyn_update_versioned(dyn_svc *s, dyn_call *call, ddb_item_op *op, int64_t version,
                                 const char *seed, bool *conflict, json_t **attrs);

/* ---- idempotent creates (AIP-155, idempotency.c) ----------------------------------------- */

/* How long a request_id is remembered: a repeat within it returns the original result. */
#define DYN_IDEMPOTENCY_WINDOW_S (24 * 3600)

/* The start of a create carrying request_id (a UUID, checked here: INVALID_ARGUMENT naming
 * "request_id"). Records the request in `table` (item pk "REQUEST#<request_id>", with
 * expires_at for DynamoDB TTL; the age is checked on read too, as dynalite ignores TTL).
 * `req` is the request (its fingerprint, request_id excluded, must match a repeat's, else
 * INVALID_ARGUMENT). On OK either *original is the response of the first call (arena memory;
 * answer it, write nothing) or *original is NULL and *id is the id to create (`candidate` on
 * the first call, the first call's choice on a repeat whose first call did not finish). */
menu_status dyn_idem_begin(dyn_svc *s, dyn_call *call, const char *table, const char *request_id,
                           const ProtobufCMessage *req, const char *candidate,
                           const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **original,
                           const char **id);
/* Stores the response of the finished create under its request_id (best effort: a repeat of a
 * request whose record stayed pending creates the same id again, recognised by its token). */
void dyn_idem_finish(dyn_svc *s, dyn_call *call, const char *table, const char *request_id,
                     const ProtobufCMessage *resp);

/* ---- catalog revisions (revision.c) ------------------------------------------------------ */

/* unsettled_until = the write's start + write_lease_ms + this margin (DynamoDB may still apply
 * a request the client gave up on, and eventually consistent list reads catch up). */
#define DYN_REVISION_MARGIN_MS 1000
/* GetCatalogRevision waits at most this long for DynamoDB (then UNAVAILABLE). */
#define DYN_REVISION_READ_TIMEOUT_MS 1000

/* Before an entity write in partition entity_pk ("CHANNEL#KIOSK"): advances the channel's
 * revision and sets its lease (unsettled_until). *write_deadline_ms: when the entity write
 * must be over (the lease, or the call's deadline if sooner). Not OK: nothing may be written. */
menu_status dyn_revision_begin(dyn_svc *s, dyn_call *call, const char *entity_pk,
                               int64_t *write_deadline_ms);
/* After the entity write (also after one that may have been applied): advances the revision
 * again. A failure is logged, not answered (the lease covers it). */
void dyn_revision_end(dyn_svc *s, dyn_call *call, const char *entity_pk);
/* st of a DynamoDB call cut at a bound shorter than the call's deadline (the write lease, the
 * revision read's timeout): DEADLINE_EXCEEDED becomes UNAVAILABLE; anything else as is. */
menu_status dyn_revision_cut_status(dyn_call *call, menu_status st);

extern const rpc_method_impl dyn_revision_methods[]; /* CatalogRevisionService */

/* ---- lists ------------------------------------------------------------------------------ */

typedef struct {
  const char *entity; /* cursor scope prefix, e.g. "categories" */
  const char *table;
  const char *index; /* NULL: the table's own sort key orders the list */
  /* ExclusiveStartKey for a cursor payload in partition pk; NULL when malformed. */
  json_t *(*start_key)(const char *pk, const char *payload);
  /* The cursor payload of an item (arena memory); NULL when the item is malformed. */
  char *(*payload_of)(arena *a, const json_t *item);
} dyn_list_def;

/* start_key and payload_of of a list in the table's own sort-key order (index NULL), whose
 * cursor payload is the item's sk, a code (collections, ghost swaps). */
json_t *dyn_list_sk_start_key(const char *pk, const char *payload); /* caller json_decrefs */
char *dyn_list_sk_payload(arena *a, const json_t *item);            /* arena-owned */

typedef struct {
  json_t *items;  /* array in list order (caller json_decrefs via dyn_page_free) */
  char **cursors; /* one per item (arena) */
  size_t n;
  bool has_next, has_previous;
} dyn_page;

/* One Relay page of channel ch, in list order whichever the direction: queries the partition
 * (forward or backward from the cursor's key, Limit page+1, again when DynamoDB stops early
 * at its 1 MB cap), so no list is ever sorted in memory. Cursor errors are INVALID_ARGUMENT
 * naming page.after/page.before; a cursor of another entity or channel fails to verify. */
menu_status dyn_list(dyn_svc *s, dyn_call *call, const dyn_list_def *def, Menu__V1__Channel ch,
                     const Menu__V1__PageRequest *page, dyn_page *out);
void dyn_page_free(dyn_page *p);
/* PageInfo for p, with start/end cursors (arena memory). */
Menu__V1__PageInfo *dyn_page_info(arena *a, const dyn_page *p);

/* ---- the three entities (category.c, ghost_swap.c, collection.c) -------------------------- */

extern const rpc_method_impl dyn_category_methods[];
extern const rpc_method_impl dyn_ghost_swap_methods[];
extern const rpc_method_impl dyn_collection_methods[];

/* The create paths without a gRPC call (seed-demo). resp is filled from the arena. */
menu_status dyn_category_create(dyn_svc *s, dyn_call *call,
                                const Menu__V1__CreateCategoryRequest *req,
                                Menu__V1__CreateCategoryResponse *resp);
menu_status dyn_ghost_swap_put(dyn_svc *s, dyn_call *call, const Menu__V1__PutGhostSwapRequest *req,
                               Menu__V1__PutGhostSwapResponse *resp);
menu_status dyn_collection_create(dyn_svc *s, dyn_call *call,
                                  const Menu__V1__CreateProductCollectionRequest *req,
                                  Menu__V1__CreateProductCollectionResponse *resp);

/* `dynamo-svc seed-demo`: demo data on a fresh state (seed.c). Exit code. */
int dyn_seed_demo_main(void);

#endif
