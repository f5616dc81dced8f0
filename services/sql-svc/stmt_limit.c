/* Statement time limits by server dialect (see stmt_limit.h). */
#include "services/sql-svc/stmt_limit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/strbuf.h"

/* About 25-50% apart: a limit is at most that much earlier than the call's deadline. */
static const int levels_ms[] = {10,    20,    50,    100,   150,    200,    300,   400,  500,
                                750,   1000,  1500,  2000,  3000,   4000,   5000,  7500, 10000,
                                15000, 20000, 30000, 60000, 120000, 300000, 600000};

sql_dialect sql_dialect_of(const char *server_info, unsigned long server_version) {
  if (server_info && strstr(server_info, "MariaDB"))
    return server_version >= 100102 ? SQL_DIALECT_MARIADB : SQL_DIALECT_NONE;
  return server_version >= 80003 ? SQL_DIALECT_MYSQL : SQL_DIALECT_NONE;
}

int sql_limit_level_ms(int64_t remaining_ms) {
  int best = 0;
  for (size_t i = 0; i < sizeof levels_ms / sizeof *levels_ms; i++)
    if (levels_ms[i] <= remaining_ms) best = levels_ms[i];
  return best;
}

static bool is_select(const char *sql) {
  while (*sql == ' ' || *sql == '\n' || *sql == '(') sql++;
  return !strncasecmp(sql, "SELECT", 6) || !strncasecmp(sql, "WITH", 4);
}

char *sql_limit_text(const char *sql, sql_dialect dialect, int level_ms) {
  int lock_s = (level_ms + 999) / 1000;
  if (lock_s < 1) lock_s = 1;
  strbuf b;
  strbuf_init(&b);
  if (dialect == SQL_DIALECT_MARIADB && level_ms > 0) {
    strbuf_printf(&b,
                  "SET STATEMENT max_statement_time=%d.%03d, innodb_lock_wait_timeout=%d,"
                  " lock_wait_timeout=%d FOR ",
                  level_ms / 1000, level_ms % 1000, lock_s, lock_s);
    strbuf_puts(&b, sql);
    return strbuf_take(&b);
  }
  const char *mark =
      dialect == SQL_DIALECT_MYSQL && level_ms > 0 ? strstr(sql, SQL_LIMIT_HINT) : NULL;
  if (!mark) {
    strbuf_puts(&b, sql);
    return strbuf_take(&b);
  }
  strbuf_append(&b, sql, (size_t)(mark - sql));
  strbuf_puts(&b, "/*+ ");
  if (is_select(sql)) strbuf_printf(&b, "MAX_EXECUTION_TIME(%d) ", level_ms);
  strbuf_printf(&b, "SET_VAR(innodb_lock_wait_timeout=%d) SET_VAR(lock_wait_timeout=%d) */", lock_s,
                lock_s);
  strbuf_puts(&b, mark + strlen(SQL_LIMIT_HINT));
  return strbuf_take(&b);
}
