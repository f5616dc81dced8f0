/* One-line JSON logs on stdout: {"time","level","service","msg",...fields}. Thread-safe; the
 * service name is set once by main before threads start; the level too, and may change at
 * run time (log_level_set). Never log secrets.
 * Lines are formatted by the caller and written by a writer thread (started by log_init)
 * through a bounded ring: logging never blocks on stdout; when the ring is full a line is
 * dropped and counted. */
#ifndef MENU_LOG_H
#define MENU_LOG_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* level_name: debug|info|warn|error; returns false (and keeps info) when unknown. Starts the
 * writer thread (call before threads that log exist, e.g. first thing in main). */
bool log_init(const char *service, const char *level_name);
/* Writes what the ring holds and stops the writer (later lines are written directly). Runs at
 * exit too; call it before _exit. */
void log_flush(void);
/* Lines dropped because the ring was full, since start. */
unsigned long long log_dropped_lines(void);
bool log_enabled(log_level level);
/* Run-time level (LOG_LEVEL_FILE): thread-safe, takes effect for the next line. */
bool log_level_parse(const char *name, log_level *out); /* false when not a level name */
const char *log_level_name(log_level level);            /* static storage */
log_level log_level_get(void);
void log_level_set(log_level level);

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
