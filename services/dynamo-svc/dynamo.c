/* Shared pieces of dynamo-svc: configuration and start-up, validation, stored timestamps,
 * ids, and the one Relay list walk all three entities use. */
#include "services/dynamo-svc/dynamo.h"
#include "common/mono_clock.h"

#include "common/validate.h"

#include <ctype.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/civil_time.h"
#include "common/log.h"
#include "common/page.h"

/* ---- service state ------------------------------------------------------------------------ */

static void table_name(config *c, const char *var, const char *def, char *out, size_t n) {
  const char *v = config_str(c, var, def);
  size_t len = strlen(v);
  bool ok = len >= 3 && len < n && len <= 255;
  for (const char *p = v; ok && *p; p++)
    ok = isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '.';
  if (!ok) config_error(c, "%s: %s is not a DynamoDB table name ([A-Za-z0-9_.-]{3,255})", var, v);
  snprintf(out, n, "%s", ok ? v : def);
}

static void sleep_ms(int64_t ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

/* The service's own variables; returns DYNAMODB_STARTUP_TIMEOUT_MS. */
static int64_t svc_config_load(config *c, dyn_svc *s) {
  table_name(c, "DYNAMODB_CATEGORY_TABLE", "menu-categories", s->category_table,
             sizeof s->category_table);
  table_name(c, "DYNAMODB_GHOST_SWAP_TABLE", "menu-ghost-swaps", s->ghost_swap_table,
             sizeof s->ghost_swap_table);
  table_name(c, "DYNAMODB_PRODUCT_COLLECTION_TABLE", "menu-product-collections",
             s->collection_table, sizeof s->collection_table);
  s->create_tables = config_bool(c, "DYNAMODB_CREATE_TABLES", true);
  s->write_lease_ms = config_int(c, "DYNAMODB_WRITE_LEASE_MS", 3000, 100, 60000);
  int64_t startup_ms = config_int(c, "DYNAMODB_STARTUP_TIMEOUT_MS", 20000, 0, 600000);
  cursor_key_load(c, &s->cursor_key);
  return startup_ms;
}

void dyn_svc_config_load(config *c) {
  dyn_svc s = {0};
  svc_config_load(c, &s);
  cursor_key_free(&s.cursor_key);
  ddb_config dc;
  ddb_config_load(c, &dc);
  /* Without keys or a role this records a problem and builds nothing (no pool needed). */
  creds_provider *p = creds_from_env(c, NULL, dc.region, false);
  if (p) creds_destroy(p);
}

dyn_svc *dyn_svc_create(config *c, metrics_registry *metrics) {
  dyn_svc *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  int64_t startup_ms = svc_config_load(c, s);
  s->ddb = ddb_client_from_env(c, metrics);
  if (!s->ddb || c->n_errors) goto fail;
  if (s->create_tables) {
    /* In a fresh local stack dynalite may still be starting: wait for it a little. */
    int64_t until = ddb_deadline_in(startup_ms);
    for (;;) {
      int64_t left = until - mono_now_ms();
      menu_status st =
          dyn_tables_ensure(s, ddb_deadline_in(left < 10000 ? (left > 0 ? left : 1) : 10000));
      if (menu_status_is_ok(&st)) break;
      if (st.code != GRPC_STATUS_UNAVAILABLE || mono_now_ms() + 500 >= until) {
        log_error("cannot create the DynamoDB tables", "error", menu_status_diagnosis(&st),
                  "endpoint", ddb_client_endpoint(s->ddb), NULL);
        goto fail;
      }
      log_warn("DynamoDB not reachable yet; retrying table set-up", "error",
               menu_status_diagnosis(&st), NULL);
      sleep_ms(500);
    }
  } else {
    /* Production: the tables must exist with the index. A missing one is a deployment error
     * worth refusing to start for; an unreachable DynamoDB is an outage to ride out. */
    menu_status st = dyn_tables_ensure(s, ddb_deadline_in(5000));
    if (st.code == GRPC_STATUS_FAILED_PRECONDITION) {
      log_error("DynamoDB tables are missing or incomplete", "error", menu_status_diagnosis(&st),
                NULL);
      goto fail;
    }
    if (!menu_status_is_ok(&st))
      log_warn("could not check the DynamoDB tables at start-up", "error",
               menu_status_diagnosis(&st), NULL);
  }
  return s;
fail:
  dyn_svc_destroy(s);
  return NULL;
}

void dyn_svc_destroy(dyn_svc *s) {
  if (!s) return;
  ddb_client_destroy(s->ddb);
  cursor_key_free(&s->cursor_key);
  free(s);
}

dyn_call dyn_call_of(rpc_ctx *ctx) {
  return (dyn_call){rpc_ctx_arena(ctx), rpc_ctx_work_deadline_ms(ctx), rpc_ctx_request_id(ctx)};
}

/* ---- validation --------------------------------------------------------------------------- */

static const char *const channel_names[] = {NULL, "KIOSK", "WEB", "APP", "DRIVE_THRU", "DELIVERY"};
#define N_CHANNELS (sizeof channel_names / sizeof channel_names[0])

const char *dyn_channel_name(Menu__V1__Channel ch) {
  if ((unsigned)ch >= N_CHANNELS) return NULL;
  return channel_names[ch];
}

Menu__V1__Channel dyn_channel_from_name(const char *name) {
  for (unsigned i = 1; name && i < N_CHANNELS; i++)
    if (!strcmp(name, channel_names[i])) return (Menu__V1__Channel)i;
  return MENU__V1__CHANNEL__CHANNEL_UNSPECIFIED;
}

menu_status dyn_check_channel(Menu__V1__Channel ch, const char *field) {
  if (ch == MENU__V1__CHANNEL__CHANNEL_UNSPECIFIED)
    return MENU_INVALID("%s: required (CHANNEL_UNSPECIFIED is not a channel)", field);
  if (!dyn_channel_name(ch)) return MENU_INVALID("%s: unknown channel %d", field, (int)ch);
  return MENU_OK;
}

char *dyn_channel_pk(arena *a, Menu__V1__Channel ch) {
  const char *name = dyn_channel_name(ch);
  return arena_sprintf(a, "CHANNEL#%s", name ? name : "UNSPECIFIED");
}

menu_status dyn_check_name(const char *s, const char *field, size_t max_chars) {
  if (!s || !*s) return MENU_INVALID("%s: required", field);
  size_t chars = 0;
  bool blank = true;
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    uint32_t cp;
    size_t n = validate_utf8_next(p, &cp);
    if (!n) return MENU_INVALID("%s: not valid UTF-8", field);
    if (cp < 0x20 || cp == 0x7F)
      return MENU_INVALID("%s: control characters are not allowed", field);
    if (cp != ' ') blank = false;
    p += n;
    if (++chars > max_chars) return MENU_INVALID("%s: at most %zu characters", field, max_chars);
  }
  if (blank) return MENU_INVALID("%s: must not be blank", field);
  return MENU_OK;
}

/* ---- values ------------------------------------------------------------------------------- */

void dyn_time_now(char out[32]) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char base[24];
  strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  unsigned micros = (unsigned)(ts.tv_nsec / 1000) % 1000000u;
  size_t n = strlen(base);
  memcpy(out, base, n);
  snprintf(out + n, 32 - n, ".%06uZ", micros);
}

/* n digits at s as a number, or -1. */
static int digits(const char *s, int n) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)s[i])) return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

/* Fixed positions instead of sscanf + timegm: a list page parses two per item, and those
 * two calls cost more than the rest of the item mapping. */
Google__Protobuf__Timestamp *dyn_time_parse(arena *a, const char *s) {
  if (!s || strnlen(s, 20) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
      s[16] != ':')
    return NULL;
  int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2), h = digits(s + 11, 2),
      mi = digits(s + 14, 2), sec = digits(s + 17, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
      sec < 0 || sec > 60)
    return NULL;
  long nanos = 0;
  const char *p = s + 19;
  if (*p == '.') {
    long scale = 100000000;
    for (p++; isdigit((unsigned char)*p); p++, scale /= 10)
      if (scale) nanos += (*p - '0') * scale;
  }
  if (*p != 'Z') return NULL;
  Google__Protobuf__Timestamp *t = arena_alloc(a, sizeof *t);
  google__protobuf__timestamp__init(t);
  t->seconds =
      civil_to_unix_seconds(y, (unsigned)mo, (unsigned)d, (unsigned)h, (unsigned)mi, (unsigned)sec);
  t->nanos = (int32_t)nanos;
  return t;
}

void dyn_uuid(char out[37]) {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) abort(); /* no entropy: nothing sane to do */
  b[6] = (b[6] & 0x0F) | 0x40;
  b[8] = (b[8] & 0x3F) | 0x80;
  snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
           b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
           b[15]);
}

char *dyn_strdup(arena *a, const char *s) { return arena_strdup(a, s ? s : ""); }

json_t *dyn_key(const char *pk, const char *sk) {
  return json_pack("{s:{s:s},s:{s:s}}", "pk", "S", pk, "sk", "S", sk);
}

menu_status dyn_get(dyn_svc *s, dyn_call *call, const char *table, const char *noun,
                    Menu__V1__Channel ch, const char *key_field, const char *key, json_t **item) {
  *item = NULL;
  menu_status st = dyn_check_channel(ch, "channel");
  if (menu_status_is_ok(&st)) st = field_check_code(key, key_field);
  if (!menu_status_is_ok(&st)) return st;
  json_t *k = dyn_key(dyn_channel_pk(call->a, ch), key);
  ddb_item_op op = {.table = table, .key = k, .consistent_read = true};
  ddb_error err;
  st = ddb_get_item(s->ddb, &op, call->deadline_ms, item, &err);
  json_decref(k);
  if (!menu_status_is_ok(&st)) return st;
  if (!*item) return MENU_NOT_FOUND("%s %s/%s not found", noun, dyn_channel_name(ch), key);
  return MENU_OK;
}

menu_status dyn_delete(dyn_svc *s, dyn_call *call, const char *table, const char *noun,
                       Menu__V1__Channel ch, const char *key_field, const char *key,
                       int64_t version) {
  menu_status st = dyn_check_channel(ch, "channel");
  menu_status f = field_check_code(key, key_field);
  menu_status_merge(&st, &f);
  if (version <= 0)
    menu_status_add_violation(&st, "version", "required (the version you read)");
  else if (version == INT64_MAX)
    menu_status_add_violation(&st, "version", "out of range (no such version exists)");
  if (!menu_status_is_ok(&st)) return st;
  const char *pk = dyn_channel_pk(call->a, ch);
  int64_t write_deadline;
  st = dyn_revision_begin(s, call, pk, &write_deadline);
  if (!menu_status_is_ok(&st)) return st;
  json_t *k = dyn_key(pk, key);
  json_t *names = json_pack("{s:s,s:s}", "#pk", "pk", "#v", "version");
  json_t *values = json_pack("{s:o}", ":v", ddb_n(version));
  ddb_item_op op = {.table = table,
                    .key = k,
                    .condition = "attribute_exists(#pk) AND #v = :v",
                    .names = names,
                    .values = values};
  ddb_error err;
  st = dyn_revision_cut_status(call, ddb_delete_item(s->ddb, &op, write_deadline, NULL, &err));
  bool deleted_maybe = err.kind != DDB_ERR_CONDITION;
  if (err.kind == DDB_ERR_CONDITION) {
    const char *what = arena_sprintf(call->a, "%s %s/%s", noun, dyn_channel_name(ch), key);
    st = dyn_conflict_status(s, call, table, k, version, what, "version");
    /* A retry after an attempt that may have been applied finds the item gone: the first
     * attempt deleted it (its answer was lost), or another delete of the same version did;
     * either way the caller's version was deleted, which is what it asked for. No tombstone is
     * kept to tell the two apart: both end in the state the caller wanted. */
    if (st.code == GRPC_STATUS_NOT_FOUND && err.maybe_applied) st = MENU_OK, deleted_maybe = true;
  }
  if (deleted_maybe) dyn_revision_end(s, call, pk);
  json_decref(values);
  json_decref(names);
  json_decref(k);
  return st;
}

menu_status dyn_conflict_status(dyn_svc *s, dyn_call *call, const char *table, json_t *key,
                                int64_t version, const char *what, const char *version_field) {
  ddb_item_op op = {.table = table, .key = key, .consistent_read = true};
  json_t *item = NULL;
  ddb_error err;
  menu_status st = ddb_get_item(s->ddb, &op, call->deadline_ms, &item, &err);
  if (!menu_status_is_ok(&st)) return st;
  if (!item) return MENU_NOT_FOUND("%s not found", what);
  int64_t current = 0;
  ddb_item_n(item, "version", &current);
  json_decref(item);
  st = menu_status_make(GRPC_STATUS_ABORTED,
                        "%s: %lld is not the current version of %s (%lld); read it again",
                        version_field, (long long)version, what, (long long)current);
  menu_status_set_reason(&st, "STALE_VERSION");
  char cur[24];
  snprintf(cur, sizeof cur, "%lld", (long long)current);
  menu_status_add_metadata(&st, "current_version", cur);
  return st;
}

/* ---- lists -------------------------------------------------------------------------------- */

json_t *dyn_list_sk_start_key(const char *pk, const char *payload) {
  return validate_code(payload) ? dyn_key(pk, payload) : NULL;
}

char *dyn_list_sk_payload(arena *a, const json_t *item) {
  const char *k = ddb_item_s(item, "sk");
  return k ? arena_strdup(a, k) : NULL;
}

menu_status dyn_list(dyn_svc *s, dyn_call *call, const dyn_list_def *def, Menu__V1__Channel ch,
                     const Menu__V1__PageRequest *page, dyn_page *out) {
  memset(out, 0, sizeof *out);
  menu_status st = dyn_check_channel(ch, "channel");
  if (!menu_status_is_ok(&st)) return st;
  page_params pp;
  st = page ? page_params_parse(page->first, page->after, page->last, page->before,
                                PAGE_DEFAULT_SIZE, PAGE_MAX_SIZE, &pp)
            : page_params_parse(0, NULL, 0, NULL, PAGE_DEFAULT_SIZE, PAGE_MAX_SIZE, &pp);
  if (!menu_status_is_ok(&st)) return st;

  const char *pk = dyn_channel_pk(call->a, ch);
  /* The scope binds a cursor to its list: entity and channel. */
  const char *scope = arena_sprintf(call->a, "%s:%s", def->entity, dyn_channel_name(ch));
  json_t *start = NULL;
  if (pp.cursor) {
    char *payload = NULL;
    st = cursor_decode(&s->cursor_key, scope, pp.cursor, pp.cursor_field, &payload);
    if (!menu_status_is_ok(&st)) return st;
    start = def->start_key(pk, payload);
    free(payload);
    if (!start) return MENU_INVALID("%s: malformed cursor", pp.cursor_field);
  }

  json_t *names = json_pack("{s:s}", "#pk", "pk");
  json_t *values = json_pack("{s:{s:s}}", ":pk", "S", pk);
  json_t *got = json_array();
  size_t want = (size_t)pp.limit + 1; /* one more says whether more exist */
  for (int round = 0; round < 64; round++) {
    ddb_query_op q = {.table = def->table,
                      .index = def->index,
                      .key_condition = "#pk = :pk",
                      .names = names,
                      .values = values,
                      .exclusive_start_key = start,
                      .limit = (int)(want - json_array_size(got)),
                      .forward = pp.forward};
    json_t *items = NULL, *last = NULL;
    ddb_error err;
    st = ddb_query(s->ddb, &q, call->deadline_ms, &items, &last, &err);
    if (!menu_status_is_ok(&st)) break;
    json_array_extend(got, items);
    json_decref(items);
    json_decref(start);
    start = last;
    /* DynamoDB may stop early (1 MB) with a LastEvaluatedKey: continue from it. */
    if (json_array_size(got) >= want || !start) break;
  }
  json_decref(start);
  json_decref(names);
  json_decref(values);
  if (!menu_status_is_ok(&st)) {
    json_decref(got);
    return st;
  }

  size_t fetched = json_array_size(got);
  page_flags(&pp, (int)fetched, &out->has_next, &out->has_previous);
  size_t n = fetched < (size_t)pp.limit ? fetched : (size_t)pp.limit;
  out->items = json_array();
  out->cursors = n ? arena_alloc(call->a, n * sizeof *out->cursors) : NULL;
  for (size_t i = 0; i < n; i++) {
    /* Backward pages were read in reverse: put them back in list order. */
    json_t *item = json_array_get(got, pp.forward ? i : n - 1 - i);
    char *payload = def->payload_of(call->a, item);
    if (!payload) {
      json_decref(got);
      dyn_page_free(out);
      return MENU_INTERNAL("malformed item in %s", def->table);
    }
    char *c = cursor_encode(&s->cursor_key, scope, payload);
    out->cursors[i] = arena_strdup(call->a, c);
    free(c);
    json_array_append(out->items, item);
  }
  out->n = n;
  json_decref(got);
  return MENU_OK;
}

void dyn_page_free(dyn_page *p) {
  json_decref(p->items);
  p->items = NULL;
  p->n = 0;
}

Menu__V1__PageInfo *dyn_page_info(arena *a, const dyn_page *p) {
  Menu__V1__PageInfo *pi = arena_alloc(a, sizeof *pi);
  menu__v1__page_info__init(pi);
  pi->has_next_page = p->has_next;
  pi->has_previous_page = p->has_previous;
  if (p->n) {
    pi->start_cursor = p->cursors[0];
    pi->end_cursor = p->cursors[p->n - 1];
  }
  return pi;
}
