/* Server-side time limits on statements: the call's remaining time, rounded down to one of a
 * few levels (so that each connection keeps a handful of prepared variants per statement
 * rather than one per millisecond), written into the statement text the way the server
 * understands it. MariaDB (>= 10.1.2): `SET STATEMENT max_statement_time=S,
 * innodb_lock_wait_timeout=N, lock_wait_timeout=N FOR <stmt>`, which stops the statement and
 * any lock wait it is in. MySQL (>= 8.0.3): an optimizer hint at the statement's marker
 * (SQL_LIMIT_HINT, right after the top-level SELECT/INSERT/UPDATE/DELETE keyword):
 * MAX_EXECUTION_TIME for SELECTs, SET_VAR lock wait timeouts for every statement. Lock wait
 * timeouts are whole seconds, rounded up, so the statement limit fires first. Pure functions. */
#ifndef SQL_STMT_LIMIT_H
#define SQL_STMT_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

/* Placed in every statement's text right after its top-level keyword; a plain comment for
 * servers that do not read it. */
#define SQL_LIMIT_HINT "/*limit*/"

typedef enum {
  SQL_DIALECT_NONE = 0, /* no server-side limit known (older servers): only the watchdog */
  SQL_DIALECT_MARIADB,
  SQL_DIALECT_MYSQL,
} sql_dialect;

/* From the server's name and version (mysql_get_server_info, mysql_get_server_version). */
sql_dialect sql_dialect_of(const char *server_info, unsigned long server_version);

/* The largest level <= remaining_ms; 0 when remaining_ms is below the smallest level (10 ms):
 * too little time to start a statement. */
int sql_limit_level_ms(int64_t remaining_ms);

/* The text to prepare for `sql` under a limit of level_ms (a value from sql_limit_level_ms).
 * Caller frees. */
char *sql_limit_text(const char *sql, sql_dialect dialect, int level_ms);

#endif
