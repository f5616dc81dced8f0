/* Backend channels of the gateway: configuration from the environment, the service config
 * (round_robin + retry policy) and the registered methods the handlers call. */
#include "gateway/backends.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/health_client.h"
#include "common/log.h"
#include "menu/v1/catalog_revision.pb-c.h"
#include "menu/v1/category.pb-c.h"
#include "menu/v1/ghost_swap.pb-c.h"
#include "menu/v1/product_availability.pb-c.h"
#include "menu/v1/product_collection.pb-c.h"
#include "menu/v1/reference_data.pb-c.h"

void gateway_backends_config_load(config *c, gateway_backends_config *out) {
  memset(out, 0, sizeof *out);
  out->dynamo_target = config_str(c, "DYNAMO_SVC_TARGET", GATEWAY_DEFAULT_DYNAMO_TARGET);
  out->sql_target = config_str(c, "SQL_SVC_TARGET", GATEWAY_DEFAULT_SQL_TARGET);
  /* Kubernetes' conntrack and cloud load balancers drop idle flows after minutes; a ping every
   * 30 s keeps the connection (and notices a dead pod) well before that. */
  out->keepalive_ms = (int)config_int(c, "BACKEND_KEEPALIVE_MS", 30000, 0, 3600000);
  /* gRPC caps maxAttempts at 5. */
  out->max_attempts = (int)config_int(c, "BACKEND_RETRY_MAX_ATTEMPTS", 3, 1, 5);
  out->deadline_margin_ms = config_int(c, "BACKEND_DEADLINE_MARGIN_MS", 20, 0, 10000);
  /* gRPC's own cap is 120 s: after an outage a backend would stay unused for up to two
   * minutes after it is back. A second keeps the gateway's recovery within seconds, and a
   * reconnect attempt per second and backend is no load. */
  out->reconnect_initial_ms =
      (int)config_int(c, "BACKEND_RECONNECT_INITIAL_BACKOFF_MS", 100, 100, 60000);
  out->reconnect_max_ms = (int)config_int(c, "BACKEND_RECONNECT_MAX_BACKOFF_MS", 1000, 100, 120000);
  if (out->reconnect_initial_ms > out->reconnect_max_ms)
    config_error(c,
                 "BACKEND_RECONNECT_INITIAL_BACKOFF_MS must not exceed "
                 "BACKEND_RECONNECT_MAX_BACKOFF_MS");
  /* A pod that vanished does not refuse connections, it drops them: without this bound a
   * connect to its address would hang for gRPC's 20 s. */
  out->connect_timeout_ms = (int)config_int(c, "BACKEND_CONNECT_TIMEOUT_MS", 2000, 100, 120000);
  out->tls_ca_file = config_str(c, "BACKEND_TLS_CA_FILE", NULL);
  out->tls_cert_file = config_str(c, "BACKEND_TLS_CERT_FILE", NULL);
  out->tls_key_file = config_str(c, "BACKEND_TLS_KEY_FILE", NULL);
  if (!out->tls_cert_file != !out->tls_key_file)
    config_error(c, "BACKEND_TLS_CERT_FILE and BACKEND_TLS_KEY_FILE go together");
  if (out->tls_cert_file && !out->tls_ca_file)
    config_error(c, "BACKEND_TLS_CERT_FILE needs BACKEND_TLS_CA_FILE (mutual TLS is TLS first)");
  /* A consistency check pages through whole lists: bounded even when the caller is patient. */
  out->consistency_timeout_ms = config_int(c, "CONSISTENCY_CHECK_TIMEOUT_MS", 30000, 100, 3600000);
}

/* Builds with jansson rather than by hand so that a method name can never break the JSON. */
char *gateway_service_config_json(const char *const *methods, int max_attempts) {
  json_t *root = json_object();
  json_t *lb = json_array();
  json_array_append_new(lb, json_pack("{s:{}}", "round_robin"));
  json_object_set_new(root, "loadBalancingConfig", lb);
  if (max_attempts > 1 && methods && methods[0]) {
    json_t *names = json_array();
    for (size_t i = 0; methods[i]; i++) {
      const char *slash = strchr(methods[i], '/');
      if (!slash) continue;
      json_array_append_new(names, json_pack("{s:s%,s:s}", "service", methods[i],
                                             (size_t)(slash - methods[i]), "method", slash + 1));
    }
    /* UNAVAILABLE: the backend could not be reached or is shutting down. CANCELLED: the
     * gateway never receives it for its own cancellations (those are local and end the
     * retries); from a backend it means the backend cut the call, as one that is going away
     * may do. Both are safe to retry on these idempotent reads. */
    json_t *retry = json_pack("{s:i,s:s,s:s,s:f,s:[s,s]}", "maxAttempts", max_attempts,
                              "initialBackoff", "0.05s", "maxBackoff", "0.5s", "backoffMultiplier",
                              2.0, "retryableStatusCodes", "UNAVAILABLE", "CANCELLED");
    json_t *mc = json_pack("[{s:o,s:o}]", "name", names, "retryPolicy", retry);
    json_object_set_new(root, "methodConfig", mc);
    /* Retries stop while more than half of the recent calls failed (token bucket of 10,
     * +0.1 per success, -1 per failure): a backend that is down gets no retry storm. */
    json_object_set_new(root, "retryThrottling",
                        json_pack("{s:i,s:f}", "maxTokens", 10, "tokenRatio", 0.1));
  }
  char *out = json_dumps(root, JSON_COMPACT);
  json_decref(root);
  return out;
}

static rpc_channel *channel_make(const gateway_backends_config *cfg, const char *target,
                                 const char *const *retry_methods, metrics_registry *metrics) {
  char *sc = gateway_service_config_json(retry_methods, cfg->max_attempts);
  rpc_channel_config cc = {
      .target = target,
      .service_config_json = sc,
      .tls_ca_file = cfg->tls_ca_file,
      .tls_cert_file = cfg->tls_cert_file,
      .tls_key_file = cfg->tls_key_file,
      .keepalive_time_ms = cfg->keepalive_ms,
      .reconnect_initial_backoff_ms = cfg->reconnect_initial_ms,
      .reconnect_max_backoff_ms = cfg->reconnect_max_ms,
      .connect_timeout_ms = cfg->connect_timeout_ms,
      .metrics = metrics,
  };
  rpc_channel *ch = rpc_channel_create(&cc); /* copies the service config into channel args */
  free(sc);
  return ch;
}

/* `name` is "Service.Method" as operators read it in messages; the package is implied. */
static int method_bind(gateway_method *gm, rpc_channel *ch, const char *backend,
                       const ProtobufCServiceDescriptor *desc, const char *method,
                       const char *name) {
  gm->channel = ch;
  gm->backend = backend;
  gm->name = name;
  gm->method = rpc_channel_method(ch, desc->name, method);
  if (!gm->method) {
    log_error("backend method unknown", "service", desc->name, "method", method, NULL);
    return -1;
  }
  return 0;
}

gateway_backends *gateway_backends_create(const gateway_backends_config *cfg,
                                          metrics_registry *metrics) {
  /* Only the reads the gateway makes are retried: they are idempotent. */
  static const char *const dynamo_retry[] = {
      "menu.v1.CategoryService/ListCategories", "menu.v1.GhostSwapService/BatchGetGhostSwaps",
      "menu.v1.GhostSwapService/ListGhostSwaps",
      "menu.v1.ProductCollectionService/ListProductCollections", NULL};
  static const char *const sql_retry[] = {
      "menu.v1.ProductAvailabilityService/BatchGetProductAvailabilities",
      "menu.v1.ReferenceDataService/ListProducts", NULL};
  gateway_backends *b = calloc(1, sizeof *b);
  b->deadline_margin_ms = cfg->deadline_margin_ms;
  b->consistency_timeout_ms = cfg->consistency_timeout_ms;
  b->dynamo = channel_make(cfg, cfg->dynamo_target, dynamo_retry, metrics);
  if (!b->dynamo) goto Error;
  b->sql = channel_make(cfg, cfg->sql_target, sql_retry, metrics);
  if (!b->sql) goto Error;
  rpc_channel_add_service(b->dynamo, &menu__v1__category_service__descriptor);
  rpc_channel_add_service(b->dynamo, &menu__v1__ghost_swap_service__descriptor);
  rpc_channel_add_service(b->dynamo, &menu__v1__catalog_revision_service__descriptor);
  rpc_channel_add_service(b->dynamo, &menu__v1__product_collection_service__descriptor);
  rpc_channel_add_service(b->sql, &menu__v1__product_availability_service__descriptor);
  rpc_channel_add_service(b->sql, &menu__v1__reference_data_service__descriptor);
  health_client_add(b->dynamo); /* readiness probes (gateway/main.c) */
  health_client_add(b->sql);
  if (method_bind(&b->list_categories, b->dynamo, "dynamo-svc",
                  &menu__v1__category_service__descriptor, "ListCategories",
                  "CategoryService.ListCategories") ||
      method_bind(&b->batch_get_ghost_swaps, b->dynamo, "dynamo-svc",
                  &menu__v1__ghost_swap_service__descriptor, "BatchGetGhostSwaps",
                  "GhostSwapService.BatchGetGhostSwaps") ||
      method_bind(&b->batch_get_product_availabilities, b->sql, "sql-svc",
                  &menu__v1__product_availability_service__descriptor,
                  "BatchGetProductAvailabilities",
                  "ProductAvailabilityService.BatchGetProductAvailabilities") ||
      method_bind(&b->get_catalog_revision, b->dynamo, "dynamo-svc",
                  &menu__v1__catalog_revision_service__descriptor, "GetCatalogRevision",
                  "CatalogRevisionService.GetCatalogRevision") ||
      method_bind(&b->get_availability_revision, b->sql, "sql-svc",
                  &menu__v1__product_availability_service__descriptor, "GetAvailabilityRevision",
                  "ProductAvailabilityService.GetAvailabilityRevision") ||
      method_bind(&b->list_product_collections, b->dynamo, "dynamo-svc",
                  &menu__v1__product_collection_service__descriptor, "ListProductCollections",
                  "ProductCollectionService.ListProductCollections") ||
      method_bind(&b->list_ghost_swaps, b->dynamo, "dynamo-svc",
                  &menu__v1__ghost_swap_service__descriptor, "ListGhostSwaps",
                  "GhostSwapService.ListGhostSwaps") ||
      method_bind(&b->list_products, b->sql, "sql-svc",
                  &menu__v1__reference_data_service__descriptor, "ListProducts",
                  "ReferenceDataService.ListProducts"))
    goto Error;
  log_line *l = log_begin(LOG_INFO, "backends");
  log_str(l, "dynamo_svc_target", cfg->dynamo_target);
  log_str(l, "sql_svc_target", cfg->sql_target);
  log_str(l, "tls", cfg->tls_ca_file ? (cfg->tls_cert_file ? "mutual" : "server") : "off");
  log_int(l, "keepalive_ms", cfg->keepalive_ms);
  log_int(l, "retry_max_attempts", cfg->max_attempts);
  log_int(l, "reconnect_max_backoff_ms", cfg->reconnect_max_ms);
  log_end(l);
  return b;
Error:
  gateway_backends_destroy(b);
  return NULL;
}

void gateway_backends_destroy(gateway_backends *b) {
  if (!b) return;
  rpc_channel_destroy(b->dynamo);
  rpc_channel_destroy(b->sql);
  free(b);
}
