/* Start (channel arguments, TLS, listeners, threads), signals, and the graceful stop: drain,
 * stop accepting, grace, then cancel what still runs with UNAVAILABLE. */
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/file.h"
#include "common/log.h"
#include "common/rpc_server_impl.h"
#include "common/version.h"

static grpc_server_credentials *server_credentials(const rpc_server_config *c) {
  if (!c->tls_cert_file) return grpc_insecure_server_credentials_create();
  char *cert = file_read_all(c->tls_cert_file, FILE_CONFIG_MAX, NULL),
       *key = file_read_all(c->tls_key_file, FILE_CONFIG_MAX, NULL);
  char *ca =
      c->tls_client_ca_file ? file_read_all(c->tls_client_ca_file, FILE_CONFIG_MAX, NULL) : NULL;
  grpc_server_credentials *creds = NULL;
  if (!cert || !key || (c->tls_client_ca_file && !ca)) {
    log_error("cannot read TLS files", "cert", c->tls_cert_file, "key", c->tls_key_file,
              "client_ca", c->tls_client_ca_file, NULL);
  } else {
    grpc_ssl_pem_key_cert_pair pair = {key, cert};
    creds = grpc_ssl_server_credentials_create_ex(
        ca, &pair, 1,
        ca ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
           : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
        NULL);
  }
  free(cert);
  free(key);
  free(ca);
  return creds;
}

static void *cq_main(void *arg) {
  rpc_cq_run(arg);
  return NULL;
}

/* Probe methods are served a second time on the plaintext health-only server. */
static void add_probe_copies(rpc_server *s) {
  size_t n_main = s->n_methods;
  for (size_t i = 0; i < n_main; i++) {
    if (!(s->methods[i].def.flags & RPC_METHOD_PROBE)) continue;
    rpc_method_def def = s->methods[i].def;
    rpc_server_add_method(s, &def);
    s->methods[s->n_methods - 1].srv = s->health_server;
  }
}

static void destroy_unstarted(rpc_server *s) {
  grpc_server_destroy(s->server); /* never started: nothing in flight */
  s->server = NULL;
  if (s->health_server) grpc_server_destroy(s->health_server);
  s->health_server = NULL;
  for (int i = 0; i < s->cfg.cq_threads; i++) {
    grpc_completion_queue_shutdown(s->cqs[i]);
    grpc_completion_queue_destroy(s->cqs[i]);
  }
}

int rpc_server_start(rpc_server *s) {
  if (s->cfg.authz_policy_file) {
    /* Loaded by rpc_server_config_load; without it the server must not start. */
    if (!s->authz) {
      log_error("authz: no policy loaded", "path", s->cfg.authz_policy_file, NULL);
      return -1;
    }
    authz_watch_start(s->authz);
    if (!s->cfg.tls_client_ca_file)
      log_warn(
          "authz: without mutual TLS no caller has a principal; only rules without "
          "principals can match",
          NULL);
  }
  grpc_arg args[20];
  size_t nargs = 0;
  args[nargs++] = (grpc_arg){
      GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = s->cfg.max_recv_bytes}};
  args[nargs++] = (grpc_arg){GRPC_ARG_INTEGER,
                             GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             {.integer = s->cfg.max_concurrent_streams}};
  /* Let clients keep idle connections alive with pings every 10 s or more (the gateway pings
   * every 30 s so that dead pods are noticed) without being told "too many pings". */
  args[nargs++] = (grpc_arg){GRPC_ARG_INTEGER,
                             GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             {.integer = (int)s->cfg.min_ping_interval_ms}};
  /* Keepalive enforcement: a peer that pings more often than that gets GOAWAY
   * ENHANCE_YOUR_CALM ("too_many_pings") after this many strikes: a ping flood costs the
   * abuser its connection, not everyone else their latency. */
  args[nargs++] = (grpc_arg){
      GRPC_ARG_INTEGER, GRPC_ARG_HTTP2_MAX_PING_STRIKES, {.integer = s->cfg.max_ping_strikes}};
  args[nargs++] =
      (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, {.integer = 1}};
  /* A call's message is only pulled in once the call is admitted; until then the stream's
   * flow-control window (64 KiB, not grown by BDP probing) bounds what the transport holds. */
  args[nargs++] = (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_HTTP2_BDP_PROBE, {.integer = 0}};
  args[nargs++] =
      (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, {.integer = 65536}};
  /* A second process on the same port must fail to start, not silently share the traffic. */
  args[nargs++] = (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_ALLOW_REUSEPORT, {.integer = 0}};
  /* Server keepalive: a connection whose peer died without a FIN (a kiosk losing power, a NAT
   * forgetting the flow) is found within time + timeout and its calls end, which is what frees
   * a watcher's slot. Pings go out even on connections that carry no data for hours (an idle
   * watch): unlimited pings without data. Zero-valued settings mean gRPC's defaults. */
  if (s->cfg.keepalive_time_ms > 0) {
    args[nargs++] = (grpc_arg){
        GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIME_MS, {.integer = (int)s->cfg.keepalive_time_ms}};
    args[nargs++] = (grpc_arg){GRPC_ARG_INTEGER,
                               GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                               {.integer = (int)s->cfg.keepalive_timeout_ms}};
    args[nargs++] =
        (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, {.integer = 0}};
  }
  if (s->cfg.max_connection_idle_ms > 0)
    args[nargs++] = (grpc_arg){GRPC_ARG_INTEGER,
                               GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                               {.integer = (int)s->cfg.max_connection_idle_ms}};
  if (s->cfg.max_connection_age_ms > 0) {
    args[nargs++] = (grpc_arg){GRPC_ARG_INTEGER,
                               GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               {.integer = (int)s->cfg.max_connection_age_ms}};
    args[nargs++] = (grpc_arg){GRPC_ARG_INTEGER,
                               GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               {.integer = (int)s->cfg.shutdown_grace_ms}};
  }
  grpc_channel_args cargs = {nargs, args};
  s->server = grpc_server_create(&cargs, NULL);
  int n_cq = s->cfg.cq_threads;
  s->cqs = calloc((size_t)n_cq, sizeof *s->cqs);
  if (!s->cqs) abort();
  for (int i = 0; i < n_cq; i++) {
    s->cqs[i] = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(s->server, s->cqs[i], NULL);
  }
  if (s->cfg.health_addr) {
    /* Kubelet's gRPC probes speak plaintext only: with TLS on GRPC_ADDR they get a second,
     * plaintext server that serves nothing but the probe methods (health). */
    s->health_server = grpc_server_create(&cargs, NULL);
    for (int i = 0; i < n_cq; i++)
      grpc_server_register_completion_queue(s->health_server, s->cqs[i], NULL);
    add_probe_copies(s);
  }
  for (size_t i = 0; i < s->n_methods; i++) {
    rpc_method *m = &s->methods[i];
    if (!m->srv) m->srv = s->server;
    bool payload = (m->kind == RPC_STREAM && !m->def.client_streaming) || m->kind == RPC_FEED;
    m->handle = grpc_server_register_method(
        m->srv, m->path, NULL,
        payload ? GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER : GRPC_SRM_PAYLOAD_NONE, 0);
  }
  grpc_server_credentials *creds = server_credentials(&s->cfg);
  int port = creds ? grpc_server_add_http2_port(s->server, s->cfg.listen_addr, creds) : 0;
  if (creds) grpc_server_credentials_release(creds);
  if (!port) log_error("cannot listen", "addr", s->cfg.listen_addr, NULL);
  int health_port = 1;
  if (port && s->health_server) {
    grpc_server_credentials *plain = grpc_insecure_server_credentials_create();
    health_port = grpc_server_add_http2_port(s->health_server, s->cfg.health_addr, plain);
    grpc_server_credentials_release(plain);
    if (!health_port) log_error("cannot listen", "addr", s->cfg.health_addr, NULL);
  }
  if (!port || !health_port) {
    destroy_unstarted(s);
    return -1;
  }
  grpc_server_start(s->server);
  if (s->health_server) grpc_server_start(s->health_server);
  s->started = true;
  s->port = port;

  s->queue = rpc_workqueue_create(s->cfg.handler_threads, rpc_call_run, s);
  s->cq_threads = calloc((size_t)n_cq, sizeof(pthread_t));
  if (!s->cq_threads) abort();
  for (int i = 0; i < n_cq; i++) pthread_create(&s->cq_threads[i], NULL, cq_main, s->cqs[i]);
  rpc_dispatch_post_all(s);

  rpc_server_metrics_init_series(s);
  if (s->cfg.metrics_addr && strcmp(s->cfg.metrics_addr, "off")) {
    s->http = metrics_http_start(s->metrics, s->cfg.metrics_addr);
    if (!s->http) return -1;
  }
  rpc_server_notify(s, RPC_SERVER_SERVING);
  log_line *l = log_begin(LOG_INFO, "serving");
  log_str(l, "version", menu_version());
  log_str(l, "git_revision", menu_git_revision());
  log_str(l, "grpc_addr", s->cfg.listen_addr);
  log_str(l, "metrics_addr", s->cfg.metrics_addr);
  log_str(l, "tls",
          s->cfg.tls_cert_file ? (s->cfg.tls_client_ca_file ? "mutual" : "server") : "off");
  log_int(l, "handler_threads", s->cfg.handler_threads);
  log_int(l, "max_in_flight", s->cfg.max_in_flight);
  log_str(l, "authz", s->cfg.authz_policy_file ? s->cfg.authz_policy_file : "off");
  log_end(l);
  return 0;
}

void rpc_server_block_signals(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP); /* taken by the LOG_LEVEL_FILE watcher, else ignored */
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
}

void rpc_server_wait_for_signal(rpc_server *s) {
  (void)s;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  sigwait(&set, &sig);
  log_info("shutting down", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
}

static gpr_timespec after_ms(int64_t ms) {
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

/* Handlers still running when grace is over get this long to notice rpc_ctx_cancelled. */
#define STOP_MARGIN_MS 1000

int rpc_server_shutdown(rpc_server *s) {
  if (!s->started) return 0;
  gpr_timespec grace = after_ms(s->cfg.shutdown_drain_ms + s->cfg.shutdown_grace_ms);
  /* Draining: health says NOT_SERVING (Kubernetes and health-checking clients move away),
   * yet calls are still served normally. */
  rpc_server_notify(s, RPC_SERVER_DRAINING);
  if (s->cfg.shutdown_drain_ms > 0) {
    log_info("draining", NULL);
    gpr_sleep_until(after_ms(s->cfg.shutdown_drain_ms));
  }
  /* Stopping: listeners closed, GOAWAY sent; calls already admitted finish. */
  atomic_store(&s->stopping, true);
  rpc_server_notify(s, RPC_SERVER_STOPPING);
  /* Long-lived streams would hold the shutdown until the grace is over: end them now with
   * UNAVAILABLE, which their callers take as "reconnect" (to another replica: the listeners
   * close below). */
  rpc_feed_end_all(s);
  grpc_completion_queue *scq = grpc_completion_queue_create_for_pluck(NULL);
  static int shutdown_tags[2];
  grpc_server *servers[2] = {s->server, s->health_server};
  int n_servers = s->health_server ? 2 : 1;
  for (int i = 0; i < n_servers; i++)
    grpc_server_shutdown_and_notify(servers[i], scq, &shutdown_tags[i]);
  bool clean = true;
  for (int i = 0; i < n_servers; i++) {
    grpc_event ev = grpc_completion_queue_pluck(scq, &shutdown_tags[i], grace, NULL);
    if (ev.type != GRPC_QUEUE_TIMEOUT) continue;
    if (!atomic_load(&s->cancel_all)) {
      log_warn("grace period over: calls still running get UNAVAILABLE", NULL);
      rpc_call_cancel_all(s);
    }
    grpc_server_cancel_all_calls(servers[i]); /* streams, and anything not admitted */
    ev = grpc_completion_queue_pluck(scq, &shutdown_tags[i], after_ms(STOP_MARGIN_MS), NULL);
    if (ev.type == GRPC_QUEUE_TIMEOUT) clean = false;
  }
  /* Local calls (rpc_server_call_local) have no server call to wait for: their backend calls
   * complete on our queues, which must outlive them. */
  if (!rpc_local_wait_idle(s, after_ms(clean ? s->cfg.shutdown_grace_ms + STOP_MARGIN_MS : 0)))
    clean = false;
  /* Handlers still running reply into cancelled calls; wait for them before tearing down. */
  if (!rpc_workqueue_stop(s->queue, after_ms(clean ? STOP_MARGIN_MS : 0))) clean = false;
  if (!clean) {
    /* A handler is stuck in a datastore call that ignores cancellation: leave everything in
     * place (the process is about to exit) rather than free what it uses. */
    log_error("handlers still running after the grace period; exiting without waiting", NULL);
    return -1;
  }
  grpc_completion_queue_shutdown(scq);
  grpc_completion_queue_destroy(scq);

  grpc_server_destroy(s->server);
  s->server = NULL;
  if (s->health_server) grpc_server_destroy(s->health_server);
  s->health_server = NULL;
  for (int i = 0; i < s->cfg.cq_threads; i++) grpc_completion_queue_shutdown(s->cqs[i]);
  for (int i = 0; i < s->cfg.cq_threads; i++) pthread_join(s->cq_threads[i], NULL);
  for (int i = 0; i < s->cfg.cq_threads; i++) grpc_completion_queue_destroy(s->cqs[i]);
  metrics_http_stop(s->http);
  s->http = NULL;
  s->started = false;
  log_info("stopped", NULL);
  return 0;
}
