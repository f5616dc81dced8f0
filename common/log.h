/* One-line JSON logs on stdout: {"time","level","service","msg",...fields}. Thread-safe; the
 * level and service name are set once by main before threads start. Never log secrets. */
#ifndef MENU_LOG_H
#define MENU_LOG_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* level_name: debug|info|warn|error; returns false (and keeps info) when unknown. */
bool log_init(const char *service, const char *level_name);
bool log_enabled(log_level level);

/* Builder for a line with typed fields. log_begin returns NULL when the level is off; every
 * other call accepts NULL and does nothing, so callers need no checks. log_end writes and frees. */
typedef struct log_line log_line;
log_line *log_begin(log_level level, const char *msg);
void log_str(log_line *l, const char *key, const char *value); /* NULL value: field omitted */
void log_int(log_line *l, const char *key, int64_t value);
void log_double(log_line *l, const char *key, double value);
void log_end(log_line *l);

/* Shorthand with string fields: log_info("msg", "key", "value", ..., NULL). */
void log_debug(const char *msg, ...) __attribute__((sentinel));
void log_info(const char *msg, ...) __attribute__((sentinel));
void log_warn(const char *msg, ...) __attribute__((sentinel));
void log_error(const char *msg, ...) __attribute__((sentinel));

#endif
