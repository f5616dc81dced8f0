/* Conversions and checks shared by sql-svc's handlers (see sqlsvc.h). */
#include "services/sql-svc/sqlsvc.h"
#include "common/mono_clock.h"

#include <string.h>
#include <time.h>

#include "common/civil_time.h"

sql_usec sql_now_usec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (sql_usec)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

menu_status sql_ts_to_usec(const Google__Protobuf__Timestamp *ts, const char *field,
                           sql_usec *out) {
  if (ts->nanos < 0 || ts->nanos > 999999999)
    return MENU_INVALID("%s: nanos must be in [0, 999999999]", field);
  if (ts->seconds < SQL_USEC_MIN / 1000000 || ts->seconds > SQL_USEC_MAX / 1000000)
    return MENU_INVALID("%s: must be between 0001-01-01 and 9999-12-31 UTC", field);
  *out = (sql_usec)ts->seconds * 1000000 + ts->nanos / 1000;
  return MENU_OK;
}

/* Floor division that also works for instants before 1970. */
static int64_t floordiv(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

void sql_usec_to_mysql(sql_usec us, MYSQL_TIME *out) {
  int64_t secs = floordiv(us, 1000000);
  time_t t = (time_t)secs;
  struct tm tm;
  gmtime_r(&t, &tm);
  memset(out, 0, sizeof *out);
  out->year = (unsigned)(tm.tm_year + 1900);
  out->month = (unsigned)(tm.tm_mon + 1);
  out->day = (unsigned)tm.tm_mday;
  out->hour = (unsigned)tm.tm_hour;
  out->minute = (unsigned)tm.tm_min;
  out->second = (unsigned)tm.tm_sec;
  out->second_part = (unsigned long)(us - secs * 1000000);
  out->time_type = MYSQL_TIMESTAMP_DATETIME;
}

sql_usec sql_mysql_to_usec(const MYSQL_TIME *t) {
  if (t->month >= 1 && t->month <= 12 && t->day >= 1)
    return (sql_usec)civil_to_unix_seconds(t->year, t->month, t->day, t->hour, t->minute,
                                           t->second) *
               1000000 +
           (sql_usec)t->second_part;
  struct tm tm = {0}; /* a zero date: as timegm normalises it */
  tm.tm_year = (int)t->year - 1900;
  tm.tm_mon = (int)t->month - 1;
  tm.tm_mday = (int)t->day;
  tm.tm_hour = (int)t->hour;
  tm.tm_min = (int)t->minute;
  tm.tm_sec = (int)t->second;
  return (sql_usec)timegm(&tm) * 1000000 + (sql_usec)t->second_part;
}

Google__Protobuf__Timestamp *sql_usec_to_ts(rpc_ctx *ctx, sql_usec us) {
  Google__Protobuf__Timestamp *ts =
      RPC_NEW(ctx, Google__Protobuf__Timestamp, google__protobuf__timestamp__init);
  int64_t secs = floordiv(us, 1000000);
  ts->seconds = secs;
  ts->nanos = (int32_t)((us - secs * 1000000) * 1000);
  return ts;
}

static const struct {
  Menu__V1__Channel ch;
  const char *code;
} channels[] = {
    {MENU__V1__CHANNEL__CHANNEL_KIOSK, "KIOSK"},
    {MENU__V1__CHANNEL__CHANNEL_WEB, "WEB"},
    {MENU__V1__CHANNEL__CHANNEL_APP, "APP"},
    {MENU__V1__CHANNEL__CHANNEL_DRIVE_THRU, "DRIVE_THRU"},
    {MENU__V1__CHANNEL__CHANNEL_DELIVERY, "DELIVERY"},
};

const char *sql_channel_code(Menu__V1__Channel ch) {
  for (size_t i = 0; i < sizeof channels / sizeof *channels; i++)
    if (channels[i].ch == ch) return channels[i].code;
  return NULL;
}

Menu__V1__Channel sql_channel_from_code(const char *code) {
  for (size_t i = 0; code && i < sizeof channels / sizeof *channels; i++)
    if (!strcmp(channels[i].code, code)) return channels[i].ch;
  return MENU__V1__CHANNEL__CHANNEL_UNSPECIFIED;
}

void sql_bind_str(MYSQL_BIND *b, const char *s, unsigned long *len_store) {
  memset(b, 0, sizeof *b);
  *len_store = strlen(s);
  b->buffer_type = MYSQL_TYPE_STRING;
  b->buffer = (void *)s;
  b->buffer_length = *len_store;
  b->length = len_store;
}

void sql_bind_str_or_null(MYSQL_BIND *b, const char *s, unsigned long *len_store) {
  if (s && *s) {
    sql_bind_str(b, s, len_store);
    return;
  }
  memset(b, 0, sizeof *b);
  b->buffer_type = MYSQL_TYPE_NULL;
}

void sql_bind_i64(MYSQL_BIND *b, const int64_t *v) {
  memset(b, 0, sizeof *b);
  b->buffer_type = MYSQL_TYPE_LONGLONG;
  b->buffer = (void *)v;
}

void sql_bind_i32(MYSQL_BIND *b, const int32_t *v) {
  memset(b, 0, sizeof *b);
  b->buffer_type = MYSQL_TYPE_LONG;
  b->buffer = (void *)v;
}

void sql_bind_time(MYSQL_BIND *b, const MYSQL_TIME *t) {
  memset(b, 0, sizeof *b);
  b->buffer_type = MYSQL_TYPE_DATETIME;
  b->buffer = (void *)t;
}

void sql_result_fixed(MYSQL_BIND *b, enum enum_field_types type, void *buf, my_bool *is_null) {
  memset(b, 0, sizeof *b);
  b->buffer_type = type;
  b->buffer = buf;
  b->is_null = is_null;
}

void sql_result_str(MYSQL_BIND *b, sql_strcol *c, char *buf, unsigned long cap) {
  memset(b, 0, sizeof *b);
  c->buf = buf;
  c->cap = cap;
  c->len = 0;
  c->is_null = 0;
  c->error = 0;
  b->buffer_type = MYSQL_TYPE_STRING;
  b->buffer = buf;
  b->buffer_length = cap - 1;
  b->length = &c->len;
  b->is_null = &c->is_null;
  b->error = &c->error;
}

const char *sql_strcol_value(sql_strcol *c) {
  if (c->is_null) return NULL;
  unsigned long n = c->len < c->cap - 1 ? c->len : c->cap - 1;
  c->buf[n] = 0;
  return c->buf;
}

bool sql_row_fetch(pool_conn *conn, MYSQL_STMT *s, const char *what, menu_status *st) {
  int rc = mysql_stmt_fetch(s);
  if (rc == 0) {
    *st = MENU_OK;
    return true;
  }
  if (rc == MYSQL_NO_DATA)
    *st = MENU_OK;
  else if (rc == MYSQL_DATA_TRUNCATED)
    *st = MENU_INTERNAL("%s: a column exceeded its buffer", what);
  else
    *st = pool_error_status(conn, mysql_stmt_errno(s), mysql_stmt_error(s), "fetch");
  return false;
}
