/* The batch span processor and OTLP/HTTP exporter: ended spans go into a bounded queue (a
 * full queue drops the span and counts it: a call never waits for tracing); one thread sends
 * them in batches of OTEL_BSP_MAX_EXPORT_BATCH_SIZE every OTEL_BSP_SCHEDULE_DELAY (or as soon
 * as a batch is full) as POST application/x-protobuf with libcurl. An export the collector
 * could not take for now (429, 502, 503, 504, no connection) is sent again after the
 * collector's Retry-After or a jittered exponential backoff (trace_retry.c), by this thread
 * only and all within OTEL_BSP_EXPORT_TIMEOUT (never once shutdown has begun); meanwhile the
 * queue fills and, full, drops. An export refused for good, or out of time, is counted and its
 * spans dropped. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/mono_clock.h"
#include "common/prng.h"
#include "common/trace_internal.h"

#define FAILURE_LOG_INTERVAL_MS 60000 /* one warning a minute while the collector is away */

struct trace_exporter {
  trace_config cfg; /* deep copy: headers and resource strings owned */
  pthread_mutex_t mu;
  pthread_cond_t wake;         /* a batch is full, or stop */
  trace_span **ring;           /* max_queue entries, guarded by mu */
  size_t head, count;          /* guarded by mu */
  bool stop;                   /* guarded by mu: drain and exit */
  bool accepting;              /* guarded by mu: false after shutdown began */
  atomic_llong drain_deadline; /* monotonic ms, when stop: an export in flight ends by then */
  bool running;                /* the thread exists */
  pthread_t thread;
  CURL *curl; /* the thread's */
  struct curl_slist *headers;
  int64_t last_failure_log; /* the thread's */
  unsigned long long failures_unlogged;
  metrics_family *m_exported, *m_dropped, *m_failures, *m_retries;
};

static void count_dropped(trace_exporter *e, const char *reason, size_t n) {
  if (e->m_dropped && n) metrics_add(e->m_dropped, METRICS_LABELS(reason), (double)n);
}

void trace_exporter_push(trace_exporter *e, trace_span *s) {
  pthread_mutex_lock(&e->mu);
  if (!e->accepting || e->count >= (size_t)e->cfg.max_queue) {
    bool stopped = !e->accepting;
    pthread_mutex_unlock(&e->mu);
    trace_span_free(s);
    count_dropped(e, stopped ? "shutdown" : "queue_full", 1);
    return;
  }
  e->ring[(e->head + e->count) % (size_t)e->cfg.max_queue] = s;
  bool full_batch = ++e->count == (size_t)e->cfg.max_batch;
  pthread_mutex_unlock(&e->mu);
  if (full_batch) pthread_cond_signal(&e->wake);
}

static size_t discard(void *p, size_t size, size_t n, void *user) {
  (void)p, (void)user;
  return size * n;
}

/* An export in flight when shutdown began ends at the shutdown's deadline. */
static int on_progress(void *user, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
  (void)dt, (void)dn, (void)ut, (void)un;
  trace_exporter *e = user;
  return mono_now_ms() >= atomic_load(&e->drain_deadline);
}

static void log_failure(trace_exporter *e, const char *why, size_t spans) {
  e->failures_unlogged++;
  int64_t now = mono_now_ms();
  if (e->last_failure_log && now - e->last_failure_log < FAILURE_LOG_INTERVAL_MS) return;
  char n[32], failed[32];
  snprintf(n, sizeof n, "%zu", spans);
  snprintf(failed, sizeof failed, "%llu", e->failures_unlogged);
  log_warn("trace export failed; spans dropped", "endpoint", e->cfg.endpoint, "error", why, "spans",
           n, "failed_exports", failed, NULL);
  e->last_failure_log = now;
  e->failures_unlogged = 0;
}

/* One POST of the encoded batch, bounded by timeout_ms: why[0] stays '\0' on success; what
 * to do about a failure is returned, with the collector's Retry-After in *retry_after_ms (-1
 * when it sent none). */
static trace_retry_kind post_once(trace_exporter *e, const uint8_t *body, size_t len,
                                  int64_t timeout_ms, char *why, size_t why_n,
                                  int64_t *retry_after_ms) {
  char curl_error[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 1));
  curl_easy_setopt(e->curl, CURLOPT_ERRORBUFFER, curl_error);
  CURLcode rc = curl_easy_perform(e->curl);
  long status = 0;
  curl_off_t retry_after = 0;
  curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
  /* Seconds, from either form of the header (delay-seconds or an HTTP-date); 0 when none. */
  curl_easy_getinfo(e->curl, CURLINFO_RETRY_AFTER, &retry_after);
  curl_easy_setopt(e->curl, CURLOPT_ERRORBUFFER, NULL);
  *retry_after_ms = retry_after > 0 ? (int64_t)retry_after * 1000 : -1;
  if (rc != CURLE_OK)
    snprintf(why, why_n, "%s", curl_error[0] ? curl_error : curl_easy_strerror(rc));
  else if (status < 200 || status > 299)
    snprintf(why, why_n, "HTTP %ld", status);
  else
    return TRACE_RETRY_NO;
  return trace_retry_classify((int)rc, rc == CURLE_OK ? status : 0);
}

/* Waits until the monotonic instant `at` for the next attempt; false (at once) when that
 * attempt would start at or after `deadline`, or when shutdown has begun: what time is left
 * then goes to one attempt for each batch still queued, not to a collector that is away (a
 * process would otherwise take its whole grace period to exit). */
static bool retry_wait(trace_exporter *e, int64_t at, int64_t deadline) {
  bool ok = true;
  pthread_mutex_lock(&e->mu);
  for (;;) {
    if (e->stop || at >= deadline) {
      ok = false;
      break;
    }
    if (mono_now_ms() >= at) break;
    struct timespec ts = mono_timespec(at);
    /* Woken early by shutdown or by a full batch. */
    pthread_cond_timedwait(&e->wake, &e->mu, &ts);
  }
  pthread_mutex_unlock(&e->mu);
  return ok;
}

/* A batch, sent until the collector takes or refuses it or timeout_ms has passed. */
static void export_batch(trace_exporter *e, trace_span **batch, size_t n, int64_t timeout_ms) {
  int64_t deadline = mono_now_ms() + timeout_ms;
  size_t len = 0;
  uint8_t *body = trace_otlp_encode(&e->cfg, batch, n, &len);
  char why[CURL_ERROR_SIZE + 64] = "";
  if (!body) snprintf(why, sizeof why, "cannot encode the batch");
  for (int attempt = 1; body; attempt++) {
    int64_t retry_after_ms;
    why[0] = '\0';
    trace_retry_kind kind =
        post_once(e, body, len, deadline - mono_now_ms(), why, sizeof why, &retry_after_ms);
    if (kind == TRACE_RETRY_NO) break;
    int64_t wait = retry_after_ms >= 0 ? retry_after_ms
                                       : trace_retry_backoff_ms(attempt, (uint32_t)prng_u64());
    if (!retry_wait(e, mono_now_ms() + wait, deadline)) break;
    if (e->m_retries) metrics_add(e->m_retries, METRICS_LABELS(trace_retry_kind_name(kind)), 1);
  }
  free(body);
  if (why[0]) {
    if (e->m_failures) metrics_add(e->m_failures, METRICS_NO_LABELS, 1);
    count_dropped(e, "export_failed", n);
    log_failure(e, why, n);
  } else if (e->m_exported) {
    metrics_add(e->m_exported, METRICS_NO_LABELS, (double)n);
  }
  for (size_t i = 0; i < n; i++) trace_span_free(batch[i]);
}

static void *exporter_main(void *arg) {
  trace_exporter *e = arg;
  trace_span **batch = malloc((size_t)e->cfg.max_batch * sizeof *batch);
  int64_t next = mono_now_ms() + e->cfg.schedule_delay_ms;
  pthread_mutex_lock(&e->mu);
  for (;;) {
    while (!e->stop && e->count < (size_t)e->cfg.max_batch && mono_now_ms() < next) {
      struct timespec ts = mono_timespec(next);
      pthread_cond_timedwait(&e->wake, &e->mu, &ts);
    }
    int64_t timeout = e->cfg.export_timeout_ms;
    if (e->stop) {
      int64_t left = atomic_load(&e->drain_deadline) - mono_now_ms();
      if (!e->count || left <= 0) break;
      if (left < timeout) timeout = left;
    }
    size_t n = 0;
    while (n < (size_t)e->cfg.max_batch && e->count) {
      batch[n++] = e->ring[e->head];
      e->head = (e->head + 1) % (size_t)e->cfg.max_queue;
      e->count--;
    }
    pthread_mutex_unlock(&e->mu);
    if (n) export_batch(e, batch, n, timeout);
    next = mono_now_ms() + e->cfg.schedule_delay_ms;
    pthread_mutex_lock(&e->mu);
  }
  /* Out of time while stopping: what is left is dropped. */
  size_t left = e->count;
  while (e->count) {
    trace_span_free(e->ring[e->head]);
    e->head = (e->head + 1) % (size_t)e->cfg.max_queue;
    e->count--;
  }
  pthread_mutex_unlock(&e->mu);
  count_dropped(e, "shutdown", left);
  free(batch);
  return NULL;
}

static void config_copy(trace_config *dst, const trace_config *src) {
  *dst = *src;
  for (int i = 0; i < src->n_headers; i++) dst->headers[i] = strdup(src->headers[i]);
  for (int i = 0; i < src->n_resource; i++) {
    dst->resource[i][0] = strdup(src->resource[i][0]);
    dst->resource[i][1] = strdup(src->resource[i][1]);
  }
}

trace_exporter *trace_exporter_create(const trace_config *cfg, metrics_registry *m) {
  trace_exporter *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  atomic_store(&e->drain_deadline, INT64_MAX);
  config_copy(&e->cfg, cfg);
  pthread_mutex_init(&e->mu, NULL);
  mono_cond_init(&e->wake);
  e->ring = calloc((size_t)cfg->max_queue, sizeof *e->ring);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  e->curl = curl_easy_init();
  if (!e->ring || !e->curl) goto fail;
  e->headers = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
  for (int i = 0; i < e->cfg.n_headers; i++)
    e->headers = curl_slist_append(e->headers, e->cfg.headers[i]);
  curl_easy_setopt(e->curl, CURLOPT_URL, e->cfg.endpoint);
  curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, e->headers);
  curl_easy_setopt(e->curl, CURLOPT_POST, 1L);
  curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
  curl_easy_setopt(e->curl, CURLOPT_USERAGENT, "menu-otlp-exporter");
  curl_easy_setopt(e->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(e->curl, CURLOPT_XFERINFODATA, e);
  curl_easy_setopt(e->curl, CURLOPT_NOPROGRESS, 0L);
  if (m) {
    e->m_exported = metrics_counter(m, "otel_spans_exported_total",
                                    "Spans the OTLP collector accepted.", METRICS_NO_LABELS);
    e->m_dropped = metrics_counter(m, "otel_spans_dropped_total",
                                   "Spans dropped: queue_full (OTEL_BSP_MAX_QUEUE_SIZE reached), "
                                   "export_failed, shutdown (not sent in time).",
                                   METRICS_LABELS("reason"));
    e->m_failures = metrics_counter(m, "otel_export_failures_total",
                                    "OTLP exports that failed for good (refused, or still "
                                    "failing when their time ran out); their spans are dropped.",
                                    METRICS_NO_LABELS);
    e->m_retries = metrics_counter(m, "otel_export_retries_total",
                                   "OTLP export requests sent again: throttling (429), "
                                   "server_error (502, 503, 504), connection_error.",
                                   METRICS_LABELS("reason"));
    metrics_add(e->m_exported, METRICS_NO_LABELS, 0);
    metrics_add(e->m_failures, METRICS_NO_LABELS, 0);
    static const char *const reasons[] = {"queue_full", "export_failed", "shutdown"};
    for (size_t i = 0; i < 3; i++) metrics_add(e->m_dropped, METRICS_LABELS(reasons[i]), 0);
    for (trace_retry_kind k = TRACE_RETRY_THROTTLING; k <= TRACE_RETRY_CONNECTION; k++)
      metrics_add(e->m_retries, METRICS_LABELS(trace_retry_kind_name(k)), 0);
  }
  e->accepting = true;
  if (pthread_create(&e->thread, NULL, exporter_main, e) != 0) goto fail;
  e->running = true;
  log_info("tracing on", "endpoint", e->cfg.endpoint, "service_name", e->cfg.service_name, NULL);
  return e;
fail:
  trace_exporter_destroy(e);
  return NULL;
}

void trace_exporter_shutdown(trace_exporter *e, int64_t timeout_ms) {
  if (!e) return;
  pthread_mutex_lock(&e->mu);
  e->accepting = false;
  e->stop = true;
  atomic_store(&e->drain_deadline, mono_now_ms() + (timeout_ms > 0 ? timeout_ms : 0));
  pthread_cond_signal(&e->wake);
  pthread_mutex_unlock(&e->mu);
  if (e->running) {
    pthread_join(e->thread, NULL);
    e->running = false;
  }
}

void trace_exporter_destroy(trace_exporter *e) {
  if (!e) return;
  trace_exporter_shutdown(e, 0);
  for (size_t i = 0; i < e->count; i++)
    trace_span_free(e->ring[(e->head + i) % (size_t)e->cfg.max_queue]);
  if (e->curl) curl_easy_cleanup(e->curl);
  curl_slist_free_all(e->headers);
  free(e->ring);
  pthread_cond_destroy(&e->wake);
  pthread_mutex_destroy(&e->mu);
  trace_config_free(&e->cfg);
  free(e);
}
