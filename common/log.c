/* JSON line logger on jansson; one fwrite per line so lines from threads never interleave. */
#include "common/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static log_level g_level = LOG_INFO;
static char g_service[64] = "menu";

struct log_line {
  json_t *obj;
};

static const char *const level_names[] = {"debug", "info", "warn", "error"};

bool log_init(const char *service, const char *level_name) {
  snprintf(g_service, sizeof g_service, "%s", service);
  for (int i = 0; i < 4; i++)
    if (level_name && !strcmp(level_name, level_names[i])) {
      g_level = (log_level)i;
      return true;
    }
  g_level = LOG_INFO;
  return level_name == NULL;
}

bool log_enabled(log_level level) { return level >= g_level; }

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
    fwrite(text, 1, n + 1, stdout);
    fflush(stdout);
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
