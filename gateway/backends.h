/* The gateway's two backends: one long-lived channel to dynamo-svc and one to sql-svc, each
 * `dns:///` + round_robin with a gRPC retry policy (UNAVAILABLE and CANCELLED, on the
 * idempotent reads the gateway makes), a reconnect backoff capped at about a second,
 * keepalive and optional (m)TLS, all read from the environment. */
#ifndef GATEWAY_BACKENDS_H
#define GATEWAY_BACKENDS_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/metrics.h"
#include "common/rpc_client.h"

#define GATEWAY_DEFAULT_DYNAMO_TARGET "dns:///127.0.0.1:50052"
#define GATEWAY_DEFAULT_SQL_TARGET "dns:///127.0.0.1:50053"

typedef struct {
  const char *dynamo_target;  /* DYNAMO_SVC_TARGET */
  const char *sql_target;     /* SQL_SVC_TARGET */
  int keepalive_ms;           /* BACKEND_KEEPALIVE_MS, 0 = off */
  int max_attempts;           /* BACKEND_RETRY_MAX_ATTEMPTS, 1 = no retries */
  int64_t deadline_margin_ms; /* BACKEND_DEADLINE_MARGIN_MS */
  int reconnect_initial_ms;   /* BACKEND_RECONNECT_INITIAL_BACKOFF_MS */
  int reconnect_max_ms;       /* BACKEND_RECONNECT_MAX_BACKOFF_MS */
  int connect_timeout_ms;     /* BACKEND_CONNECT_TIMEOUT_MS */
  const char *tls_ca_file;    /* BACKEND_TLS_CA_FILE: TLS to both backends when set */
  const char *tls_cert_file;  /* BACKEND_TLS_CERT_FILE + _KEY_FILE: client cert (mTLS) */
  const char *tls_key_file;
  int64_t consistency_timeout_ms; /* CONSISTENCY_CHECK_TIMEOUT_MS */
} gateway_backends_config;

/* Reads the variables above; problems (e.g. a client cert without a CA) go into c. The
 * strings borrow from the environment. */
void gateway_backends_config_load(config *c, gateway_backends_config *out);

/* One method the gateway calls, and the backend that serves it (for messages and logs). */
typedef struct {
  rpc_channel *channel;            /* borrowed from gateway_backends */
  const rpc_client_method *method; /* borrowed from the channel */
  const char *backend;             /* "dynamo-svc" */
  const char *name;                /* "CategoryService.ListCategories" */
} gateway_method;

/* Channels are thread-safe; the whole struct is read-only once created, so any number of
 * handler threads may use it at once. */
typedef struct {
  rpc_channel *dynamo, *sql;
  gateway_method list_categories, batch_get_ghost_swaps, batch_get_product_availabilities;
  /* The owners' cheap revision reads, polled by gateway/revisions.c. */
  gateway_method get_catalog_revision, get_availability_revision;
  /* CheckMenuConsistency pages these (and list_categories). */
  gateway_method list_product_collections, list_ghost_swaps, list_products;
  int64_t deadline_margin_ms;
  int64_t consistency_timeout_ms; /* the longest a consistency check may take */
} gateway_backends;

/* Creates both channels. NULL (logged) when one cannot be made, e.g. unreadable TLS files.
 * `metrics` is borrowed and must outlive the result. Caller frees with
 * gateway_backends_destroy after the server has stopped. */
gateway_backends *gateway_backends_create(const gateway_backends_config *cfg,
                                          metrics_registry *metrics);
void gateway_backends_destroy(gateway_backends *b);

/* The gRPC service config of a channel: round_robin, plus a retry policy for the
 * NULL-terminated "package.Service/Method" list when max_attempts > 1 (on UNAVAILABLE, and on
 * CANCELLED as only a dying backend sends it), plus retry throttling so that a backend in
 * trouble is not hit by a retry storm. Caller frees. */
char *gateway_service_config_json(const char *const *methods, int max_attempts);

#endif
