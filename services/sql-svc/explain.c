/* Runs EXPLAIN over the availability (or revision) statement with real parameters (see
 * explain.h). */
#include "services/sql-svc/explain.h"

#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"
#include "services/sql-svc/sqlsvc.h"
#include "services/sql-svc/statements.h"

#define MAX_COLS 16
#define COL_CAP 2048

/* "A,B" -> ["A","B"] (caller frees); the codes are the operator's own, passed as one bound
 * parameter, so a quote in them makes invalid JSON, not SQL. */
static char *codes_json(const char *codes) {
  strbuf b;
  strbuf_init(&b);
  strbuf_puts(&b, "[\"");
  for (const char *c = codes; *c; c++) {
    if (*c == ',')
      strbuf_puts(&b, "\",\"");
    else
      strbuf_putc(&b, *c);
  }
  strbuf_puts(&b, "\"]");
  return strbuf_take(&b);
}

menu_status explain_availability(MYSQL *m, const char *store, const char *channel,
                                 const char *codes, FILE *out) {
  size_t n_codes = 0;
  for (const char *c = codes; c && *c; c++) n_codes += *c == ',';
  bool revision = codes && !strcmp(codes, EXPLAIN_REVISION);
  stmt_id id = revision                               ? STMT_REVISION_STORE
               : !codes                               ? STMT_AVAIL_LIST_FORWARD
               : n_codes + 1 > AVAIL_BATCH_NARROW_MAX ? STMT_AVAIL_BATCH_WIDE
                                                      : STMT_AVAIL_BATCH;
  if (revision) codes = NULL;
  const char *body = sql_statements[id].sql;
  char *json = codes ? codes_json(codes) : NULL;
  size_t n = strlen(body) + 16;
  char *sql = malloc(n);
  snprintf(sql, n, "EXPLAIN %s", body);
  MYSQL_STMT *s = mysql_stmt_init(m);
  menu_status st = MENU_OK;
  MYSQL_TIME at;
  sql_usec_to_mysql(sql_now_usec(), &at);
  int64_t limit = 17;
  unsigned long l1, l2, l3;
  MYSQL_BIND p[5];
  sql_bind_time(&p[0], &at);
  sql_bind_str(&p[1], channel, &l1);
  sql_bind_str(&p[2], store, &l2);
  sql_bind_str(&p[3], json ? json : "", &l3); /* batch: the codes; list: the after key */
  sql_bind_i64(&p[4], &limit);                /* list only (a statement binds its first n) */
  MYSQL_RES *meta = NULL;
  if (mysql_stmt_prepare(s, sql, strlen(sql)) || mysql_stmt_bind_param(s, p) ||
      mysql_stmt_execute(s) || mysql_stmt_store_result(s)) {
    st = MENU_UNAVAILABLE("explain: %s", mysql_stmt_error(s));
    goto out;
  }
  meta = mysql_stmt_result_metadata(s);
  unsigned cols = meta ? mysql_num_fields(meta) : 0;
  if (cols > MAX_COLS) cols = MAX_COLS;
  static char bufs[MAX_COLS][COL_CAP];
  sql_strcol sc[MAX_COLS];
  MYSQL_BIND b[MAX_COLS];
  for (unsigned i = 0; i < cols; i++) {
    sql_result_str(&b[i], &sc[i], bufs[i], COL_CAP);
    fprintf(out, "%s%s", i ? "\t" : "", mysql_fetch_field_direct(meta, i)->name);
  }
  fprintf(out, "\n");
  if (mysql_stmt_bind_result(s, b)) {
    st = MENU_UNAVAILABLE("explain: %s", mysql_stmt_error(s));
    goto out;
  }
  while (mysql_stmt_fetch(s) != MYSQL_NO_DATA) {
    for (unsigned i = 0; i < cols; i++) {
      const char *v = sql_strcol_value(&sc[i]);
      fprintf(out, "%s%s", i ? "\t" : "", v ? v : "NULL");
    }
    fprintf(out, "\n");
  }
out:
  fflush(out); /* before the log thread's "done" line, which shares stdout */
  if (meta) mysql_free_result(meta);
  mysql_stmt_close(s);
  free(sql);
  free(json);
  return st;
}
