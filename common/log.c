/* JSON line logger on jansson. A line is formatted on the calling thread and copied into a
 * bounded ring; one writer thread empties the ring onto stdout, so a slow stdout never stalls
 * a completion-queue thread. When the ring is full the line is dropped and counted. */
#include "common/log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/trace.h"

/* Set by log_init, changed at run time by log_level_set (LOG_LEVEL_FILE): read by every
 * thread. */
static atomic_int g_level = LOG_INFO;
static char g_service[64] = "menu";

/* The ring: process-wide like stdout itself, built by log_init. */
#define LOG_RING_BYTES (1 << 20)
static struct {
  pthread_mutex_t mu;
  pthread_cond_t cond;
  char *buf;        /* LOG_RING_BYTES, guarded by mu */
  size_t head, len; /* guarded by mu */
  bool stop;        /* guarded by mu */
  bool running;     /* the writer thread exists */
  pthread_t thread;
  atomic_ullong dropped;
} g_ring = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void write_all(const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(STDOUT_FILENO, p, n);
    if (w <= 0) return; /* stdout gone: nothing better to do */
    p += w;
    n -= (size_t)w;
  }
}

static void *writer_main(void *arg) {
  char *chunk = malloc(LOG_RING_BYTES);
  pthread_mutex_lock(&g_ring.mu);
  for (;;) {
    while (!g_ring.len && !g_ring.stop) pthread_cond_wait(&g_ring.cond, &g_ring.mu);
    if (!g_ring.len) break;
    size_t n = g_ring.len, first = LOG_RING_BYTES - g_ring.head;
    if (first > n) first = n;
    memcpy(chunk, g_ring.buf + g_ring.head, first);
    memcpy(chunk + first, g_ring.buf, n - first);
    g_ring.head = (g_ring.head + n) % LOG_RING_BYTES;
    g_ring.len = 0;
    pthread_mutex_unlock(&g_ring.mu);
    write_all(chunk, n);
    pthread_mutex_lock(&g_ring.mu);
  }
  pthread_mutex_unlock(&g_ring.mu);
  free(chunk);
  return NULL;
}

/* Never blocks on stdout: copies the line into the ring or drops it. */
static void ring_push(const char *text, size_t n) {
  pthread_mutex_lock(&g_ring.mu);
  if (!g_ring.running) {
    pthread_mutex_unlock(&g_ring.mu);
    write_all(text, n); /* before log_init or after log_flush: no writer thread */
    return;
  }
  if (g_ring.len + n > LOG_RING_BYTES) {
    pthread_mutex_unlock(&g_ring.mu);
    atomic_fetch_add(&g_ring.dropped, 1);
    return;
  }
  size_t tail = (g_ring.head + g_ring.len) % LOG_RING_BYTES;
  size_t first = LOG_RING_BYTES - tail;
  if (first > n) first = n;
  memcpy(g_ring.buf + tail, text, first);
  memcpy(g_ring.buf, text + first, n - first);
  bool wake = g_ring.len == 0;
  g_ring.len += n;
  pthread_mutex_unlock(&g_ring.mu);
  if (wake) pthread_cond_signal(&g_ring.cond);
}

unsigned long long log_dropped_lines(void) { return atomic_load(&g_ring.dropped); }

void log_flush(void) {
  pthread_mutex_lock(&g_ring.mu);
  if (!g_ring.running) {
    pthread_mutex_unlock(&g_ring.mu);
    return;
  }
  g_ring.stop = true;
  pthread_cond_signal(&g_ring.cond);
  pthread_mutex_unlock(&g_ring.mu);
  pthread_join(g_ring.thread, NULL);
  pthread_mutex_lock(&g_ring.mu);
  g_ring.running = false;
  g_ring.stop = false;
  pthread_mutex_unlock(&g_ring.mu);
}

static void ring_start(void) {
  pthread_mutex_lock(&g_ring.mu);
  if (!g_ring.running) {
    if (!g_ring.buf) g_ring.buf = malloc(LOG_RING_BYTES);
    if (g_ring.buf && pthread_create(&g_ring.thread, NULL, writer_main, NULL) == 0) {
      g_ring.running = true;
      static bool registered;
      if (!registered) atexit(log_flush);
      registered = true;
    }
  }
  pthread_mutex_unlock(&g_ring.mu);
}

struct log_line {
  json_t *obj;
};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

bool log_init(const char *service, const char *level_name) {
  snprintf(g_service, sizeof g_service, "%s", service);
  ring_start();
  for (int i = 0; i < 4; i++)
    if (level_name && !strcmp(level_name, level_names[i])) {
      g_level = (log_level)i;
      return true;
    }
  g_level = LOG_INFO;
  return level_name == NULL;
}

bool log_enabled(log_level level) {
  return (int)level >= atomic_load_explicit(&g_level, memory_order_relaxed);
}

bool log_level_parse(const char *name, log_level *out) {
  for (int i = 0; i < 4; i++) {
    if (name && !strcmp(name, level_names[i])) {
      *out = (log_level)i;
      return true;
    }
  }
  return false;
}

const char *log_level_name(log_level level) {
  return level >= LOG_DEBUG && level <= LOG_ERROR ? level_names[level] : "unknown";
}

log_level log_level_get(void) { return (log_level)atomic_load(&g_level); }

void log_level_set(log_level level) { atomic_store(&g_level, (int)level); }

/* A line written while a traced call's handler runs names its trace and span. */
static void log_trace_ids(log_line *l) {
  const trace_span *span = trace_current();
  if (!span) return;
  char trace_id[33], span_id[17];
  trace_span_ids(span, trace_id, span_id);
  json_object_set_new(l->obj, "trace_id", json_string(trace_id));
  json_object_set_new(l->obj, "span_id", json_string(span_id));
}

log_line *log_begin(log_level level, const char *msg) {
  if (!log_enabled(level)) return NULL;
  log_line *l = malloc(sizeof *l);
  if (!l) return NULL;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char when[40];
  size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(when + n, sizeof when - n, ".%03ldZ", ts.tv_nsec / 1000000);
  l->obj = json_object();
  json_object_set_new(l->obj, "time", json_string(when));
  json_object_set_new(l->obj, "level", json_string(level_names[level]));
  json_object_set_new(l->obj, "service", json_string(g_service));
  json_object_set_new(l->obj, "msg", json_string(msg));
  log_trace_ids(l);
  return l;
}

void log_str(log_line *l, const char *key, const char *value) {
  if (l && value) {
    json_t *s = json_string(value);
    /* Not UTF-8 (e.g. a peer's garbage): keep the line, mark the field. */
    json_object_set_new(l->obj, key, s ? s : json_string("<invalid utf-8>"));
  }
}

void log_int(log_line *l, const char *key, int64_t value) {
  if (l) json_object_set_new(l->obj, key, json_integer(value));
}

void log_double(log_line *l, const char *key, double value) {
  if (l) json_object_set_new(l->obj, key, json_real(value));
}

void log_end(log_line *l) {
  if (!l) return;
  char *text = json_dumps(l->obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
  if (text) {
    size_t n = strlen(text);
    text[n] = '\n'; /* json_dumps leaves room for the NUL we overwrite; write n+1 bytes */
    ring_push(text, n + 1);
    free(text);
  }
  json_decref(l->obj);
  free(l);
}

static void log_va(log_level level, const char *msg, va_list ap) {
  log_line *l = log_begin(level, msg);
  if (!l) return;
  for (const char *k; (k = va_arg(ap, const char *));) log_str(l, k, va_arg(ap, const char *));
  log_end(l);
}

#define LOG_FN(name, level)         \
  void name(const char *msg, ...) { \
    va_list ap;                     \
    va_start(ap, msg);              \
    log_va(level, msg, ap);         \
    va_end(ap);                     \
  }
LOG_FN(log_debug, LOG_DEBUG)
LOG_FN(log_info, LOG_INFO)
LOG_FN(log_warn, LOG_WARN)
LOG_FN(log_error, LOG_ERROR)
