/* The server's environment variables (README, "Configuration"). */
#include <stdlib.h>
#include <string.h>

#include "common/authz.h"
#include "common/rpc_server.h"

void rpc_server_config_load(config *c, rpc_server_config *out, const char *service_name,
                            const char *default_listen, const char *default_metrics) {
  memset(out, 0, sizeof *out);
  out->service_name = service_name;
  out->listen_addr = config_listen_addr(c, "GRPC_ADDR", default_listen, false);
  out->metrics_addr = config_listen_addr(c, "METRICS_ADDR", default_metrics, true);
  out->cq_threads = (int)config_int(c, "GRPC_CQ_THREADS", 2, 1, 64);
  out->handler_threads = (int)config_int(c, "GRPC_HANDLER_THREADS", 16, 1, 1024);
  out->requests_per_method = (int)config_int(c, "GRPC_REQUESTS_PER_METHOD", 16, 1, 10000);
  out->max_in_flight =
      (int)config_int(c, "GRPC_MAX_IN_FLIGHT", 4 * (int64_t)out->handler_threads, 1, 1000000);
  out->max_queued_bytes = config_int(c, "GRPC_MAX_QUEUED_BYTES", 8 << 20, 4096, INT64_MAX / 2);
  out->max_concurrent_streams =
      (int)config_int(c, "GRPC_MAX_CONCURRENT_STREAMS", 100, 1, INT32_MAX);
  out->default_deadline_ms = config_int(c, "RPC_DEFAULT_DEADLINE_MS", 10000, 1, 3600000);
  out->shutdown_drain_ms = config_int(c, "SHUTDOWN_DRAIN_MS", 0, 0, 3600000);
  out->shutdown_grace_ms = config_int(c, "SHUTDOWN_GRACE_MS", 10000, 0, 3600000);
  out->max_connection_age_ms = config_int(c, "GRPC_MAX_CONNECTION_AGE_MS", 0, 0, INT32_MAX);
  out->max_recv_bytes = (int)config_int(c, "GRPC_MAX_RECV_BYTES", 4 << 20, 1024, 64 << 20);
  out->tls_cert_file = config_str(c, "TLS_CERT_FILE", NULL);
  out->tls_key_file = config_str(c, "TLS_KEY_FILE", NULL);
  out->tls_client_ca_file = config_str(c, "TLS_CLIENT_CA_FILE", NULL);
  out->health_addr = config_listen_addr(c, "HEALTH_ADDR", NULL, false);
  out->authz_policy_file = config_str(c, "AUTHZ_POLICY_FILE", NULL);
  out->authz_refresh_ms = config_int(c, "AUTHZ_POLICY_REFRESH_MS", 1000, 50, 3600000);
  out->min_ping_interval_ms = config_int(c, "GRPC_MIN_PING_INTERVAL_MS", 10000, 0, INT32_MAX);
  out->max_ping_strikes = (int)config_int(c, "GRPC_MAX_PING_STRIKES", 2, 0, 1000);
  out->max_connection_idle_ms = config_int(c, "GRPC_MAX_CONNECTION_IDLE_MS", 600000, 0, INT32_MAX);
  out->keepalive_time_ms = config_int(c, "GRPC_KEEPALIVE_TIME_MS", 60000, 1000, INT32_MAX);
  out->keepalive_timeout_ms = config_int(c, "GRPC_KEEPALIVE_TIMEOUT_MS", 20000, 100, INT32_MAX);
  if (out->authz_policy_file) {
    /* A policy that does not parse stops the start (exit 2), like any bad setting: serving
     * without the authorization the operator asked for is not an option. The policy read here
     * is the one the server applies (rpc_server_create takes it). */
    char *err = NULL;
    out->authz = authz_load(out->authz_policy_file, out->authz_refresh_ms, &err);
    if (!out->authz) config_error(c, "AUTHZ_POLICY_FILE=%s: %s", out->authz_policy_file, err);
    free(err);
  }
  if (!out->tls_cert_file != !out->tls_key_file)
    config_error(c, "TLS_CERT_FILE and TLS_KEY_FILE: set both or neither");
  if (out->tls_client_ca_file && !out->tls_cert_file)
    config_error(c, "TLS_CLIENT_CA_FILE: mutual TLS needs TLS_CERT_FILE and TLS_KEY_FILE too");
}
