/* sql-svc's service state and the small conversions its handlers share: protobuf
 * Timestamp <-> MYSQL_TIME (UTC, microseconds), channel enum <-> channelCode, input checks,
 * and MYSQL_BIND builders. What could serve other services (code and UTF-8 checks) is
 * candidate for common/. */
#ifndef SQL_SQLSVC_H
#define SQL_SQLSVC_H

#include <mysql.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/cursor.h"
#include "common/mono_clock.h"
#include "common/rpc_server.h"
#include "common/status.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "menu/v1/common.pb-c.h"
#include "services/sql-svc/pool.h"

/* Built by main, read-only afterwards; shared by all handler threads. */
typedef struct {
  pool *pool;
  cursor_key cursor_key;
  struct dependency_monitor *deps; /* readiness from MySQL's reachability (common/dependency.h) */
} sqlsvc;

/* Microseconds since the Unix epoch, UTC: the precision MySQL DATETIME(6) keeps. */
typedef int64_t sql_usec;

/* 0001-01-01 .. 9999-12-31 23:59:59.999999, what DATETIME holds. */
#define SQL_USEC_MIN (-62135596800LL * 1000000)
#define SQL_USEC_MAX (253402300799LL * 1000000 + 999999)

sql_usec sql_now_usec(void);
/* Validates (seconds within DATETIME's range, nanos 0..999999999), truncates to microseconds.
 * INVALID_ARGUMENT naming `field` otherwise. */
menu_status sql_ts_to_usec(const Google__Protobuf__Timestamp *ts, const char *field, sql_usec *out);
void sql_usec_to_mysql(sql_usec us, MYSQL_TIME *out);
sql_usec sql_mysql_to_usec(const MYSQL_TIME *t);
/* Allocated in the call's arena. */
Google__Protobuf__Timestamp *sql_usec_to_ts(rpc_ctx *ctx, sql_usec us);

/* "KIOSK" for MENU__V1__CHANNEL__CHANNEL_KIOSK; NULL for UNSPECIFIED or unknown values. */
const char *sql_channel_code(Menu__V1__Channel ch);
Menu__V1__Channel sql_channel_from_code(const char *code);

/* MYSQL_BIND for parameters. The pointed-to values must outlive the execute. */
void sql_bind_str(MYSQL_BIND *b, const char *s, unsigned long *len_store);
void sql_bind_str_or_null(MYSQL_BIND *b, const char *s, unsigned long *len_store);
void sql_bind_i64(MYSQL_BIND *b, const int64_t *v);
void sql_bind_i32(MYSQL_BIND *b, const int32_t *v);
void sql_bind_time(MYSQL_BIND *b, const MYSQL_TIME *t);

/* Result column buffers: a string column of up to cap-1 bytes, NUL-terminated after fetch. */
typedef struct {
  char *buf;
  unsigned long cap, len;
  my_bool is_null, error;
} sql_strcol;
void sql_result_str(MYSQL_BIND *b, sql_strcol *c, char *buf, unsigned long cap);
/* A fixed-width result column (LONG, LONGLONG, TINY, DATETIME...) into buf; is_null may be
 * NULL for NOT NULL columns. */
void sql_result_fixed(MYSQL_BIND *b, enum enum_field_types type, void *buf, my_bool *is_null);
/* After a successful fetch: NUL-terminates; returns NULL for SQL NULL. */
const char *sql_strcol_value(sql_strcol *c);

/* Fetches the next row of s (executed on conn, results bound): true with *st OK when a row is
 * in the bound buffers; false at the end (*st OK) or on an error (*st: the fetch's error as
 * pool_error_status maps it, or INTERNAL "WHAT: a column exceeded its buffer"). */
bool sql_row_fetch(pool_conn *conn, MYSQL_STMT *s, const char *what, menu_status *st);

#endif
