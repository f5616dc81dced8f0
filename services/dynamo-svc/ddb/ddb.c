/* The DynamoDB client: request signing, the retry loop, error mapping, metrics, and the
 * typed operations built on ddb_call. */
#include "services/dynamo-svc/ddb/ddb.h"
#include "common/mono_clock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/rpc_server.h"
#include "common/trace.h"
#include "common/prng.h"
#include "services/dynamo-svc/ddb/json_parse.h"
#include "services/dynamo-svc/ddb/retry.h"
#include "services/dynamo-svc/ddb/sigv4.h"

#define TARGET_PREFIX "DynamoDB_20120810."
#define BATCH_GET_MAX 100

struct ddb_client {
  ddb_config cfg;
  char shown_endpoint[sizeof(((ddb_config *)0)->endpoint)]; /* without credentials, for logs */
  char host[300];                                           /* Host header as sent and signed */
  http_pool *pool;
  creds_provider *creds;
  sigv4_key_cache *keys; /* the day's signing key */
  ddb_retry_quota quota;
  metrics_family *m_duration, *m_requests, *m_errors, *m_retries, *m_capacity, *m_quota;
  ddb_reachability_fn on_reach; /* set before use, read-only afterwards */
  void *on_reach_arg;
};

/* ---- configuration ------------------------------------------------------------------------ */

void ddb_config_load(config *c, ddb_config *out) {
  memset(out, 0, sizeof *out);
  const char *region = config_str(c, "AWS_REGION", NULL);
  if (!region) region = config_str(c, "AWS_DEFAULT_REGION", "us-east-1");
  out->region = region;
  const char *ep = config_str_or_empty(c, "DYNAMODB_ENDPOINT", "http://127.0.0.1:8000");
  int n;
  if (!*ep || !strcmp(ep, "aws"))
    n = snprintf(out->endpoint, sizeof out->endpoint, "https://dynamodb.%s.amazonaws.com", region);
  else
    n = snprintf(out->endpoint, sizeof out->endpoint, "%s", ep);
  if (n < 0 || (size_t)n >= sizeof out->endpoint) config_error(c, "DYNAMODB_ENDPOINT: too long");
  char host[300];
  bool https = false;
  if (http_url_host(out->endpoint, host, sizeof host, &https) != 0) {
    char shown[sizeof out->endpoint];
    config_error(c, "DYNAMODB_ENDPOINT: %s is not http(s)://host[:port][/]",
                 netaddr_url_redact(out->endpoint, shown, sizeof shown));
  }
  out->local = !https;
  out->max_attempts = (int)config_int(c, "DYNAMODB_MAX_ATTEMPTS", 3, 1, 20);
  out->retry_base_ms = config_int(c, "DYNAMODB_RETRY_BASE_MS", 25, 1, 10000);
  out->retry_max_backoff_ms = config_int(c, "DYNAMODB_RETRY_MAX_BACKOFF_MS", 2000, 1, 60000);
  out->retry_quota = (int)config_int(c, "DYNAMODB_RETRY_QUOTA", 500, 0, 1000000);
  out->connect_timeout_ms = config_int(c, "DYNAMODB_CONNECT_TIMEOUT_MS", 1000, 1, 60000);
  out->max_idle_connections = (int)config_int(c, "DYNAMODB_MAX_IDLE_CONNECTIONS", 64, 1, 4096);
}

/* Latency buckets from 100 us: DynamoDB in the same region answers a GetItem in a few ms, and
 * dynalite on loopback in well under one. */
static const double duration_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                          0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                          1,      2.5,     5,      10};

/* Every operation the client sends, for zero-valued series from the start. */
static const char *const operations[] = {"GetItem", "PutItem",      "UpdateItem",    "DeleteItem",
                                         "Query",   "BatchGetItem", "DescribeTable", "CreateTable"};

static void collect_quota(void *arg) {
  ddb_client *c = arg;
  metrics_set(c->m_quota, METRICS_NO_LABELS, ddb_retry_quota_available(&c->quota));
}

ddb_client *ddb_client_create(const ddb_config *cfg, http_pool *pool, creds_provider *creds,
                              metrics_registry *metrics) {
  ddb_client *c = calloc(1, sizeof *c);
  if (!c) goto fail;
  c->cfg = *cfg;
  if (http_url_host(cfg->endpoint, c->host, sizeof c->host, NULL) != 0) goto fail;
  netaddr_url_redact(cfg->endpoint, c->shown_endpoint, sizeof c->shown_endpoint);
  c->pool = pool;
  c->creds = creds;
  c->keys = sigv4_key_cache_create();
  if (!c->keys) goto fail;
  ddb_retry_quota_init(&c->quota, cfg->retry_quota);
  if (metrics) {
    c->m_duration = metrics_histogram(metrics, "menu_dynamodb_request_duration_seconds",
                                      "DynamoDB operation latency, retries and backoff included.",
                                      METRICS_LABELS("operation"), duration_buckets,
                                      sizeof duration_buckets / sizeof *duration_buckets);
    c->m_requests = metrics_counter(metrics, "menu_dynamodb_requests_total",
                                    "DynamoDB operations by outcome (OK or the final error code).",
                                    METRICS_LABELS("operation", "outcome"));
    c->m_errors = metrics_counter(metrics, "menu_dynamodb_errors_total",
                                  "Failed DynamoDB attempts by error type (__type, or "
                                  "ConnectionError/Timeout/HTTP_<status> without one).",
                                  METRICS_LABELS("operation", "type"));
    c->m_retries = metrics_counter(metrics, "menu_dynamodb_retries_total",
                                   "DynamoDB retries by reason (throttling, server_error, "
                                   "connection_error, timeout, unprocessed_keys).",
                                   METRICS_LABELS("operation", "reason"));
    c->m_capacity = metrics_counter(metrics, "menu_dynamodb_consumed_capacity_units_total",
                                    "Capacity units DynamoDB reported as consumed.",
                                    METRICS_LABELS("operation", "table"));
    c->m_quota =
        metrics_gauge(metrics, "menu_dynamodb_retry_quota_tokens",
                      "Tokens left in the retry quota (retries stop at 0).", METRICS_NO_LABELS);
    metrics_on_collect(metrics, collect_quota, c);
    for (size_t i = 0; i < sizeof operations / sizeof *operations; i++) {
      metrics_touch(c->m_duration, METRICS_LABELS(operations[i]));
      metrics_touch(c->m_requests, METRICS_LABELS(operations[i], "OK"));
    }
  }
  return c;
fail:
  free(c);
  http_pool_destroy(pool);
  creds_destroy(creds);
  return NULL;
}

ddb_client *ddb_client_from_env(config *c, metrics_registry *metrics) {
  ddb_config cfg;
  ddb_config_load(c, &cfg);
  if (c->n_errors) return NULL;
  http_pool *pool = http_pool_create(cfg.max_idle_connections);
  creds_provider *creds = creds_from_env(c, pool, cfg.region, cfg.local);
  if (!creds) {
    http_pool_destroy(pool);
    return NULL;
  }
  ddb_client *client = ddb_client_create(&cfg, pool, creds, metrics);
  if (client)
    log_info("DynamoDB client", "endpoint", client->shown_endpoint, "region", cfg.region,
             "credentials", creds->vt->name, NULL);
  return client;
}

void ddb_client_destroy(ddb_client *c) {
  if (!c) return;
  creds_destroy(c->creds);
  http_pool_destroy(c->pool);
  sigv4_key_cache_destroy(c->keys);
  ddb_retry_quota_destroy(&c->quota);
  free(c);
}

const char *ddb_client_endpoint(const ddb_client *c) { return c->shown_endpoint; }

/* ---- errors ------------------------------------------------------------------------------- */

/* Callers see which datastore failed, never DynamoDB's or libcurl's text (it names hosts and
 * ports): that goes to the call's log line (menu_status.detail). */
menu_status ddb_error_status(const char *op, const ddb_error *e) {
  menu_status st;
  switch (e->kind) {
    case DDB_ERR_NONE:
      return MENU_OK;
    case DDB_ERR_CONDITION:
      st = menu_status_make(GRPC_STATUS_ABORTED, "the item changed concurrently");
      menu_status_set_reason(&st, "CONCURRENT_MODIFICATION");
      return st;
    case DDB_ERR_VALIDATION:
      /* Our own validation runs first, so what DynamoDB still rejects is our bug, except
       * its size limits, which only it can measure exactly. */
      if (strstr(e->message, "size has exceeded") || strstr(e->message, "Item size")) {
        st = MENU_INVALID("item: too large for DynamoDB (400 KB per item)");
        menu_status_set_detail(&st, "DynamoDB %s: %s", op, e->message);
        return st;
      }
      return menu_status_backend(GRPC_STATUS_INTERNAL, "DATASTORE_REJECTED", "dynamodb",
                                 "DynamoDB rejected the request", "DynamoDB %s: %s", op,
                                 e->message);
    case DDB_ERR_NO_TABLE:
    case DDB_ERR_IN_USE:
      return menu_status_backend(GRPC_STATUS_FAILED_PRECONDITION, "DATASTORE_NOT_READY", "dynamodb",
                                 "DynamoDB table missing or not ready", "DynamoDB %s: %s", op,
                                 e->message);
    case DDB_ERR_THROTTLED:
      return menu_status_backend(GRPC_STATUS_RESOURCE_EXHAUSTED, "DATASTORE_THROTTLED", "dynamodb",
                                 "DynamoDB throttled the request",
                                 "DynamoDB %s: %s after %d attempts", op, e->type, e->attempts);
    case DDB_ERR_UNAVAILABLE:
      return menu_status_backend(GRPC_STATUS_UNAVAILABLE, "DATASTORE_UNAVAILABLE", "dynamodb",
                                 "DynamoDB unavailable",
                                 "DynamoDB %s failed after %d attempts: %s%s%s", op, e->attempts,
                                 e->type, *e->type ? ": " : "", e->message);
    case DDB_ERR_DEADLINE:
      return menu_status_backend(GRPC_STATUS_DEADLINE_EXCEEDED, "DATASTORE_DEADLINE_EXCEEDED",
                                 "dynamodb", "deadline passed during a DynamoDB call",
                                 "DynamoDB %s: deadline passed (%d attempts)", op, e->attempts);
    case DDB_ERR_OTHER:
      break;
  }
  return menu_status_backend(GRPC_STATUS_INTERNAL, "DATASTORE_ERROR", "dynamodb",
                             "DynamoDB call failed", "DynamoDB %s: %s: %s", op, e->type,
                             e->message);
}

static ddb_error_kind kind_of_type(const char *type, long status) {
  if (!strcmp(type, "ConditionalCheckFailedException")) return DDB_ERR_CONDITION;
  if (!strcmp(type, "ValidationException")) return DDB_ERR_VALIDATION;
  if (!strcmp(type, "ResourceNotFoundException")) return DDB_ERR_NO_TABLE;
  if (!strcmp(type, "ResourceInUseException")) return DDB_ERR_IN_USE;
  if (ddb_is_throttle_code(type)) return DDB_ERR_THROTTLED;
  /* Credentials DynamoDB refuses make the datastore unusable for us, like an outage. */
  if (!strcmp(type, "UnrecognizedClientException") || !strcmp(type, "AccessDeniedException") ||
      !strcmp(type, "InvalidSignatureException") || !strcmp(type, "ExpiredTokenException") ||
      !strcmp(type, "MissingAuthenticationTokenException") ||
      !strcmp(type, "IncompleteSignatureException"))
    return DDB_ERR_UNAVAILABLE;
  if (status >= 500) return DDB_ERR_UNAVAILABLE;
  return DDB_ERR_OTHER;
}

static bool creds_rejected(const char *type) {
  return !strcmp(type, "ExpiredTokenException") || !strcmp(type, "UnrecognizedClientException") ||
         !strcmp(type, "InvalidSignatureException");
}

/* __type "com.amazonaws.dynamodb.v20120810#Code" -> "Code"; message or Message. */
static void parse_error_body(const char *body, ddb_error *e) {
  json_t *j = json_loads(body, 0, NULL);
  if (!j) return;
  const char *type = json_string_value(json_object_get(j, "__type"));
  if (type) {
    const char *hash = strrchr(type, '#');
    snprintf(e->type, sizeof e->type, "%s", hash ? hash + 1 : type);
  }
  const char *msg = json_string_value(json_object_get(j, "message"));
  if (!msg) msg = json_string_value(json_object_get(j, "Message"));
  if (msg) snprintf(e->message, sizeof e->message, "%s", msg);
  json_decref(j);
}

/* ---- metrics ------------------------------------------------------------------------------ */

static void record_capacity(ddb_client *c, const char *op, json_t *cc) {
  if (!c->m_capacity || !cc) return;
  if (json_is_array(cc)) {
    size_t i;
    json_t *v;
    json_array_foreach(cc, i, v) record_capacity(c, op, v);
    return;
  }
  const char *table = json_string_value(json_object_get(cc, "TableName"));
  json_t *units = json_object_get(cc, "CapacityUnits");
  if (table && json_is_number(units))
    metrics_add(c->m_capacity, METRICS_LABELS(op, table), json_number_value(units));
}

/* ---- the call ----------------------------------------------------------------------------- */

/* Backs off for ms, in slices of at most 20 ms so that a call cancelled meanwhile (caller
 * gone, deadline, server stopping) stops waiting at once. False when it was cancelled. */
static bool backoff_unless_cancelled(int64_t ms) {
  int64_t end = mono_now_ms() + ms;
  for (int64_t left = ms; left > 0; left = end - mono_now_ms()) {
    if (rpc_current_cancelled()) return false;
    int64_t slice = left < 20 ? left : 20;
    struct timespec ts = {0, slice * 1000000};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
  }
  return !rpc_current_cancelled();
}

/* One signed POST. Fills resp; returns the transport result. */
static http_result send_once(ddb_client *c, const char *op, const char *body, size_t len,
                             const aws_credentials *cr, int64_t timeout_ms, http_response *resp) {
  char target[96];
  snprintf(target, sizeof target, TARGET_PREFIX "%s", op);
  sigv4_header hs[] = {
      {"Host", c->host},
      {"Content-Type", "application/x-amz-json-1.0"},
      {"X-Amz-Target", target},
  };
  sigv4_request req = {"POST", "/", NULL, hs, 3, body, len};
  char date[17];
  sigv4_amz_date(time(NULL), date);
  sigv4_params p = {cr->access_key, cr->secret_key, cr->session_token, c->cfg.region, "dynamodb",
                    date,           false};
  sigv4_result sig;
  if (sigv4_sign_cached(c->keys, &req, &p, &sig) != 0) {
    memset(resp, 0, sizeof *resp);
    strbuf_init(&resp->body);
    snprintf(resp->error, sizeof resp->error, "cannot sign the request");
    return HTTP_ERR_IO;
  }
  char *lines[3 + SIGV4_MAX_ADD + 1] = {0};
  size_t n = 0;
  for (size_t i = 0; i < 3; i++)
    if (asprintf(&lines[n++], "%s: %s", hs[i].name, hs[i].value) < 0) lines[n - 1] = NULL;
  for (size_t i = 0; i < sig.n_add; i++)
    if (asprintf(&lines[n++], "%s: %s", sig.add[i].name, sig.add[i].value) < 0) lines[n - 1] = NULL;
  lines[n] = NULL;
  http_request hr = {c->cfg.endpoint, (const char *const *)lines, body, len,
                     timeout_ms,      c->cfg.connect_timeout_ms};
  http_result r = http_post(c->pool, &hr, resp);
  for (size_t i = 0; i < n; i++) free(lines[i]);
  sigv4_result_free(&sig);
  return r;
}

/* ---- tracing ----------------------------------------------------------------------------- */

/* A CLIENT span for one operation, a child of the handler's span (none outside a handler), in
 * the database and AWS SDK conventions: db.system, db.operation, aws.dynamodb.table_names (from
 * the request: TableName, or the tables of RequestItems), the endpoint as server.address. */
static trace_span *op_span_start(ddb_client *c, const char *op, json_t *body) {
  trace_span *span = trace_span_start_child(trace_current(), op, TRACE_SPAN_CLIENT);
  if (!trace_span_recording(span)) return span;
  trace_span_set_str(span, "db.system", "dynamodb");
  trace_span_set_str(span, "db.operation", op);
  trace_span_set_str(span, "rpc.system", "aws-api");
  trace_span_set_str(span, "rpc.service", "DynamoDB");
  trace_span_set_str(span, "rpc.method", op);
  trace_span_set_str(span, "cloud.region", c->cfg.region);
  const char *tables[8];
  size_t n = 0;
  const char *one = json_string_value(json_object_get(body, "TableName"));
  if (one) tables[n++] = one;
  const char *name;
  json_t *v;
  json_object_foreach(json_object_get(body, "RequestItems"), name, v) {
    if (n < sizeof tables / sizeof *tables) tables[n++] = name;
  }
  if (n) trace_span_set_strs(span, "aws.dynamodb.table_names", tables, n);
  char host[sizeof c->host];
  snprintf(host, sizeof host, "%s", c->host);
  char *colon = strrchr(host, ':');
  if (colon && (host[0] != '[' || colon[-1] == ']')) { /* a port, not part of [v6] */
    *colon = '\0';
    trace_span_set_int(span, "server.port", atoi(colon + 1));
  }
  trace_span_set_str(span, "server.address", host);
  return span;
}

/* One HTTP attempt as an event of the operation's span: its number and what it got. */
static void attempt_event(trace_span *span, int attempt, long http_status, const char *error) {
  if (!trace_span_recording(span)) return;
  trace_span_event(span, "dynamodb.attempt");
  trace_span_event_int(span, "attempt", attempt);
  if (http_status) trace_span_event_int(span, "http.response.status_code", http_status);
  if (error && *error) trace_span_event_str(span, "error.type", error);
}

/* A retry needs at least this long to be worth starting (a request to DynamoDB in the same
 * region takes a few ms). */
#define DDB_MIN_ATTEMPT_MS 10

void ddb_client_on_reachability(ddb_client *c, ddb_reachability_fn fn, void *arg) {
  c->on_reach = fn;
  c->on_reach_arg = arg;
}

/* ddb_call with at most max_attempts attempts. */
static menu_status call(ddb_client *c, const char *op, json_t *body, int64_t deadline_ms,
                        json_t **out, ddb_error *err_out, int max_attempts) {
  ddb_error err_local, *err = err_out ? err_out : &err_local;
  memset(err, 0, sizeof *err);
  *out = NULL;
  int64_t start = mono_now_ms();
  char *payload = json_dumps(body, JSON_COMPACT);
  size_t len = payload ? strlen(payload) : 0;
  bool retried = false;
  int last_cost = 0;
  ddb_retry_kind last_kind = DDB_RETRY_NO;
  bool creds_refreshed = false;
  menu_status st = MENU_OK;
  trace_span *span = op_span_start(c, op, body);
  if (!payload) {
    err->kind = DDB_ERR_OTHER;
    snprintf(err->message, sizeof err->message, "cannot encode the request");
    goto done;
  }

  for (;;) {
    int64_t left = deadline_ms - mono_now_ms();
    if (left <= 0) {
      /* Keep what the last attempt said when there was one: it is the more useful answer. */
      if (err->attempts == 0 || last_kind == DDB_RETRY_TIMEOUT) err->kind = DDB_ERR_DEADLINE;
      break;
    }
    aws_credentials cr;
    menu_status cs = creds_get(c->creds, deadline_ms, &cr);
    if (!menu_status_is_ok(&cs)) {
      st = cs;
      err->kind = cs.code == GRPC_STATUS_DEADLINE_EXCEEDED ? DDB_ERR_DEADLINE : DDB_ERR_UNAVAILABLE;
      snprintf(err->message, sizeof err->message, "%s", cs.message);
      goto done;
    }
    err->attempts++;
    err->type[0] = err->message[0] = '\0';
    err->http_status = 0;
    http_response resp;
    http_result r = send_once(c, op, payload, len, &cr, left, &resp);
    memset(&cr, 0, sizeof cr);
    ddb_retry_kind kind;
    if (r == HTTP_OK && resp.status == 200) {
      /* DynamoDB checksums every answer; a mismatch is a damaged response, retried. */
      bool crc_ok = !resp.has_crc32 ||
                    crc32(0L, (const Bytef *)resp.body.data, (uInt)resp.body.len) == resp.crc32;
      json_t *j = crc_ok ? ddb_json_parse(resp.body.data, resp.body.len) : NULL;
      if (j) {
        http_response_free(&resp);
        err->kind = DDB_ERR_NONE;
        err->http_status = 200;
        attempt_event(span, err->attempts, 200, NULL);
        ddb_retry_quota_release(&c->quota, retried ? last_cost : DDB_RETRY_SUCCESS_REFUND);
        record_capacity(c, op, json_object_get(j, "ConsumedCapacity"));
        *out = j;
        goto done;
      }
      snprintf(err->type, sizeof err->type, "%s", crc_ok ? "InvalidResponse" : "CRC32Mismatch");
      snprintf(err->message, sizeof err->message, "%s",
               crc_ok ? "response is not JSON" : "x-amz-crc32 does not match the body");
      err->kind = DDB_ERR_UNAVAILABLE;
      kind = DDB_RETRY_CONNECT;
    } else if (r == HTTP_OK) {
      err->http_status = resp.status;
      parse_error_body(resp.body.data, err);
      if (!*err->message) snprintf(err->message, sizeof err->message, "HTTP %ld", resp.status);
      err->kind = kind_of_type(err->type, resp.status);
      kind = ddb_retry_classify(r, resp.status, err->type);
    } else {
      snprintf(err->message, sizeof err->message, "%s", resp.error);
      err->kind = DDB_ERR_UNAVAILABLE;
      kind = ddb_retry_classify(r, 0, "");
      /* curl's timer is the remaining deadline, give or take a millisecond */
      if (r == HTTP_ERR_TIMEOUT && deadline_ms - mono_now_ms() < DDB_MIN_ATTEMPT_MS)
        err->kind = DDB_ERR_DEADLINE;
    }
    http_response_free(&resp);
    attempt_event(span, err->attempts, err->http_status,
                  *err->type ? err->type
                             : (r == HTTP_ERR_TIMEOUT ? "Timeout"
                                : r != HTTP_OK        ? "ConnectionError"
                                                      : "HTTPError"));
    if (c->m_errors) {
      char label[112];
      if (*err->type)
        snprintf(label, sizeof label, "%s", err->type);
      else if (err->http_status)
        snprintf(label, sizeof label, "HTTP_%ld", err->http_status);
      else
        snprintf(label, sizeof label, "%s", r == HTTP_ERR_TIMEOUT ? "Timeout" : "ConnectionError");
      metrics_add(c->m_errors, METRICS_LABELS(op, label), 1);
    }
    /* Rejected credentials: refresh once (IRSA keys may have just rotated), then give up. */
    if (kind == DDB_RETRY_NO && creds_rejected(err->type) && !creds_refreshed) {
      creds_refreshed = true;
      creds_invalidate(c->creds);
      continue;
    }
    last_kind = kind;
    if (kind == DDB_RETRY_NO || err->kind == DDB_ERR_DEADLINE) break;
    if (err->attempts >= max_attempts) break;
    int64_t delay = ddb_backoff_ms(err->attempts, c->cfg.retry_base_ms, c->cfg.retry_max_backoff_ms,
                                   (uint32_t)prng_u64());
    /* Sleeping into the deadline, or waking with too little time for a real attempt, would
     * only turn this error into DEADLINE_EXCEEDED. */
    if (mono_now_ms() + delay + DDB_MIN_ATTEMPT_MS >= deadline_ms) break;
    int cost = kind == DDB_RETRY_TIMEOUT ? DDB_RETRY_TIMEOUT_COST : DDB_RETRY_COST;
    if (!ddb_retry_quota_acquire(&c->quota, cost)) {
      log_warn("DynamoDB retry quota exhausted; not retrying", "operation", op, NULL);
      break;
    }
    last_cost = cost;
    retried = true;
    if (kind != DDB_RETRY_THROTTLE) err->maybe_applied = true;
    if (c->m_retries) metrics_add(c->m_retries, METRICS_LABELS(op, ddb_retry_kind_name(kind)), 1);
    if (trace_span_recording(span)) {
      trace_span_event(span, "dynamodb.retry");
      trace_span_event_str(span, "reason", ddb_retry_kind_name(kind));
      trace_span_event_int(span, "backoff_ms", delay);
    }
    log_line *l = log_begin(LOG_DEBUG, "DynamoDB retry");
    log_str(l, "operation", op);
    log_str(l, "reason", ddb_retry_kind_name(kind));
    log_str(l, "error", *err->type ? err->type : err->message);
    log_int(l, "attempt", err->attempts);
    log_int(l, "backoff_ms", delay);
    log_end(l);
    if (!backoff_unless_cancelled(delay)) break; /* nobody waits for the answer any more */
  }
  st = ddb_error_status(op, err);

done:
  if (menu_status_is_ok(&st) && err->kind != DDB_ERR_NONE) st = ddb_error_status(op, err);
  free(payload);
  if (c->m_duration)
    metrics_observe(c->m_duration, METRICS_LABELS(op), (double)(mono_now_ms() - start) / 1000.0);
  if (c->m_requests) {
    const char *outcome = err->kind == DDB_ERR_NONE       ? "OK"
                          : *err->type                    ? err->type
                          : err->kind == DDB_ERR_DEADLINE ? "DeadlineExceeded"
                                                          : "Unavailable";
    metrics_add(c->m_requests, METRICS_LABELS(op, outcome), 1);
  }
  if (span) {
    trace_span_set_int(span, "dynamodb.attempts", err->attempts);
    if (err->kind != DDB_ERR_NONE)
      trace_span_set_error(span, *err->type ? err->type : menu_status_code_name(st.code));
    trace_span_end(span);
  }
  /* Any answer, even an error, means DynamoDB was reached; a call that never tried says
   * nothing. */
  if (c->on_reach && err->attempts > 0)
    c->on_reach(c->on_reach_arg, err->kind == DDB_ERR_NONE || err->http_status != 0);
  return st;
}

menu_status ddb_call(ddb_client *c, const char *op, json_t *body, int64_t deadline_ms, json_t **out,
                     ddb_error *err) {
  return call(c, op, body, deadline_ms, out, err, c->cfg.max_attempts);
}

menu_status ddb_ping(ddb_client *c, const char *table, int64_t deadline_ms) {
  json_t *b = json_pack("{s:s}", "TableName", table);
  json_t *resp = NULL;
  ddb_error err;
  menu_status st = call(c, "DescribeTable", b, deadline_ms, &resp, &err, 1);
  json_decref(b);
  json_decref(resp);
  return st;
}

/* ---- typed operations --------------------------------------------------------------------- */

static void set_str(json_t *o, const char *k, const char *v) {
  if (v) json_object_set_new(o, k, json_string(v));
}
static void set_ref(json_t *o, const char *k, json_t *v) {
  if (v) json_object_set(o, k, v);
}

static json_t *item_body(const ddb_item_op *op) {
  json_t *b = json_object();
  set_str(b, "TableName", op->table);
  set_ref(b, "Key", op->key);
  set_ref(b, "Item", op->item);
  set_str(b, "UpdateExpression", op->update);
  set_str(b, "ConditionExpression", op->condition);
  if (op->names && json_object_size(op->names)) set_ref(b, "ExpressionAttributeNames", op->names);
  if (op->values && json_object_size(op->values))
    set_ref(b, "ExpressionAttributeValues", op->values);
  set_str(b, "ReturnValues", op->return_values);
  set_str(b, "ReturnConsumedCapacity", "TOTAL");
  return b;
}

static menu_status item_call(ddb_client *c, const char *name, const ddb_item_op *op,
                             int64_t deadline_ms, const char *field, json_t **out, ddb_error *err) {
  json_t *b = item_body(op);
  if (op->consistent_read) json_object_set_new(b, "ConsistentRead", json_true());
  json_t *resp = NULL;
  menu_status st = ddb_call(c, name, b, deadline_ms, &resp, err);
  json_decref(b);
  if (out) {
    *out = NULL;
    json_t *v = resp ? json_object_get(resp, field) : NULL;
    if (v && json_is_object(v)) *out = json_incref(v);
  }
  json_decref(resp);
  return st;
}

menu_status ddb_get_item(ddb_client *c, const ddb_item_op *op, int64_t deadline_ms,
                         json_t **item_out, ddb_error *err) {
  return item_call(c, "GetItem", op, deadline_ms, "Item", item_out, err);
}
menu_status ddb_put_item(ddb_client *c, const ddb_item_op *op, int64_t deadline_ms,
                         json_t **attrs_out, ddb_error *err) {
  return item_call(c, "PutItem", op, deadline_ms, "Attributes", attrs_out, err);
}
menu_status ddb_update_item(ddb_client *c, const ddb_item_op *op, int64_t deadline_ms,
                            json_t **attrs_out, ddb_error *err) {
  return item_call(c, "UpdateItem", op, deadline_ms, "Attributes", attrs_out, err);
}
menu_status ddb_delete_item(ddb_client *c, const ddb_item_op *op, int64_t deadline_ms,
                            json_t **attrs_out, ddb_error *err) {
  return item_call(c, "DeleteItem", op, deadline_ms, "Attributes", attrs_out, err);
}

menu_status ddb_query(ddb_client *c, const ddb_query_op *op, int64_t deadline_ms,
                      json_t **items_out, json_t **last_key_out, ddb_error *err) {
  json_t *b = json_object();
  set_str(b, "TableName", op->table);
  set_str(b, "IndexName", op->index);
  set_str(b, "KeyConditionExpression", op->key_condition);
  if (op->names && json_object_size(op->names)) set_ref(b, "ExpressionAttributeNames", op->names);
  if (op->values && json_object_size(op->values))
    set_ref(b, "ExpressionAttributeValues", op->values);
  set_ref(b, "ExclusiveStartKey", op->exclusive_start_key);
  if (op->limit > 0) json_object_set_new(b, "Limit", json_integer(op->limit));
  json_object_set_new(b, "ScanIndexForward", json_boolean(op->forward));
  if (op->consistent_read) json_object_set_new(b, "ConsistentRead", json_true());
  set_str(b, "ReturnConsumedCapacity", "TOTAL");
  json_t *resp = NULL;
  menu_status st = ddb_call(c, "Query", b, deadline_ms, &resp, err);
  json_decref(b);
  *items_out = NULL;
  if (last_key_out) *last_key_out = NULL;
  if (menu_status_is_ok(&st)) {
    json_t *items = json_object_get(resp, "Items");
    *items_out = json_is_array(items) ? json_incref(items) : json_array();
    json_t *lk = json_object_get(resp, "LastEvaluatedKey");
    if (last_key_out && json_is_object(lk)) *last_key_out = json_incref(lk);
  }
  json_decref(resp);
  return st;
}

/* One BatchGetItem round of at most 100 keys; found items are appended to `items`, the keys
 * DynamoDB did not process are returned (new reference, empty array when none). */
static menu_status batch_round(ddb_client *c, const char *table, json_t *keys, bool consistent,
                               int64_t deadline_ms, json_t *items, json_t **unprocessed,
                               ddb_error *err) {
  json_t *b = json_pack("{s:{s:{s:O,s:b}},s:s}", "RequestItems", table, "Keys", keys,
                        "ConsistentRead", consistent, "ReturnConsumedCapacity", "TOTAL");
  json_t *resp = NULL;
  menu_status st = ddb_call(c, "BatchGetItem", b, deadline_ms, &resp, err);
  json_decref(b);
  *unprocessed = json_array();
  if (!menu_status_is_ok(&st)) {
    json_decref(resp);
    return st;
  }
  json_t *found = json_object_get(json_object_get(resp, "Responses"), table);
  if (json_is_array(found)) json_array_extend(items, found);
  json_t *left =
      json_object_get(json_object_get(json_object_get(resp, "UnprocessedKeys"), table), "Keys");
  if (json_is_array(left)) json_array_extend(*unprocessed, left);
  json_decref(resp);
  return MENU_OK;
}

menu_status ddb_batch_get_item(ddb_client *c, const char *table, json_t *keys, bool consistent_read,
                               int64_t deadline_ms, json_t **items_out, ddb_error *err_out) {
  ddb_error err_local, *err = err_out ? err_out : &err_local;
  memset(err, 0, sizeof *err);
  json_t *items = json_array();
  menu_status st = MENU_OK;
  size_t n = json_array_size(keys);
  int attempts_total = 0;
  for (size_t off = 0; off < n && menu_status_is_ok(&st); off += BATCH_GET_MAX) {
    json_t *chunk = json_array();
    for (size_t i = off; i < n && i < off + BATCH_GET_MAX; i++)
      json_array_append(chunk, json_array_get(keys, i));
    /* UnprocessedKeys means "throttled, try these again": back off like any throttle. The
     * rounds that return nothing processed count against DYNAMODB_MAX_ATTEMPTS. */
    int stalled = 0;
    int round = 0;
    while (json_array_size(chunk) && menu_status_is_ok(&st)) {
      size_t asked = json_array_size(chunk);
      json_t *left = NULL;
      st = batch_round(c, table, chunk, consistent_read, deadline_ms, items, &left, err);
      attempts_total += err->attempts;
      json_decref(chunk);
      chunk = left;
      if (!menu_status_is_ok(&st) || !json_array_size(chunk)) break;
      round++;
      if (json_array_size(chunk) == asked) stalled++;
      int64_t delay = ddb_backoff_ms(round, c->cfg.retry_base_ms, c->cfg.retry_max_backoff_ms,
                                     (uint32_t)prng_u64());
      if (stalled >= c->cfg.max_attempts || round >= 10 * c->cfg.max_attempts ||
          mono_now_ms() + delay >= deadline_ms) {
        err->kind = DDB_ERR_THROTTLED;
        snprintf(err->type, sizeof err->type, "UnprocessedKeys");
        snprintf(err->message, sizeof err->message, "%zu keys still unprocessed",
                 json_array_size(chunk));
        err->attempts = attempts_total;
        st = ddb_error_status("BatchGetItem", err);
        break;
      }
      /* Another round is a retry like any other: it takes tokens from the retry quota. */
      if (!ddb_retry_quota_acquire(&c->quota, DDB_RETRY_COST)) {
        log_warn("DynamoDB retry quota exhausted; not retrying", "operation", "BatchGetItem", NULL);
        err->kind = DDB_ERR_THROTTLED;
        snprintf(err->type, sizeof err->type, "UnprocessedKeys");
        snprintf(err->message, sizeof err->message, "%zu keys still unprocessed (retry quota)",
                 json_array_size(chunk));
        err->attempts = attempts_total;
        st = ddb_error_status("BatchGetItem", err);
        break;
      }
      if (c->m_retries)
        metrics_add(c->m_retries, METRICS_LABELS("BatchGetItem", "unprocessed_keys"), 1);
      if (!backoff_unless_cancelled(delay)) {
        err->kind = DDB_ERR_DEADLINE;
        snprintf(err->type, sizeof err->type, "Cancelled");
        snprintf(err->message, sizeof err->message, "the call ended while %zu keys waited",
                 json_array_size(chunk));
        err->attempts = attempts_total;
        st = ddb_error_status("BatchGetItem", err);
        break;
      }
    }
    json_decref(chunk);
  }
  err->attempts = attempts_total;
  if (!menu_status_is_ok(&st)) {
    json_decref(items);
    items = NULL;
  }
  *items_out = items;
  return st;
}

menu_status ddb_describe_table(ddb_client *c, const char *table, int64_t deadline_ms,
                               json_t **table_out, ddb_error *err_out) {
  ddb_error err_local, *err = err_out ? err_out : &err_local;
  json_t *b = json_pack("{s:s}", "TableName", table);
  json_t *resp = NULL;
  menu_status st = ddb_call(c, "DescribeTable", b, deadline_ms, &resp, err);
  json_decref(b);
  *table_out = NULL;
  if (menu_status_is_ok(&st)) {
    json_t *t = json_object_get(resp, "Table");
    if (t) *table_out = json_incref(t);
  } else if (err->kind == DDB_ERR_NO_TABLE) {
    st = MENU_OK;
  }
  json_decref(resp);
  return st;
}

menu_status ddb_create_table(ddb_client *c, json_t *body, int64_t deadline_ms, ddb_error *err) {
  json_t *resp = NULL;
  menu_status st = ddb_call(c, "CreateTable", body, deadline_ms, &resp, err);
  json_decref(resp);
  return st;
}

/* ---- attribute values --------------------------------------------------------------------- */

json_t *ddb_s(const char *s) { return json_pack("{s:s}", "S", s ? s : ""); }

json_t *ddb_n(int64_t n) {
  char buf[32];
  snprintf(buf, sizeof buf, "%" PRId64, n);
  return json_pack("{s:s}", "N", buf);
}

const char *ddb_item_s(const json_t *item, const char *name) {
  return json_string_value(json_object_get(json_object_get(item, name), "S"));
}

bool ddb_item_n(const json_t *item, const char *name, int64_t *out) {
  const char *s = json_string_value(json_object_get(json_object_get(item, name), "N"));
  if (!s || !*s) return false;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end) return false;
  *out = v;
  return true;
}

json_t *ddb_item_l(const json_t *item, const char *name) {
  json_t *l = json_object_get(json_object_get(item, name), "L");
  return json_is_array(l) ? l : NULL;
}
