/* The migration runner: reads NNN_name.sql files, splits them into statements (one per
 * `;` at the end of a line; the files hold no procedures), and records each version. DDL
 * commits implicitly on MySQL, so a migration is not atomic: every statement in a migration
 * is written to be re-runnable (IF NOT EXISTS, INSERT IGNORE) in case a run dies halfway. */
#include "services/sql-svc/migrate.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file.h"
#include "common/log.h"
#include "common/strbuf.h"

#define LOCK_TIMEOUT_S 120
#define MAX_MIGRATIONS 1000

typedef struct {
  int version;
  char name[256];
} migration_file;

static bool is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

char *migrate_default_dir(config *c) {
  const char *env = config_str(c, "MIGRATIONS_DIR", NULL);
  if (env) return strdup(env);
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = 0;
      char cand[PATH_MAX + 64];
      snprintf(cand, sizeof cand, "%s/../../services/sql-svc/migrations", exe);
      char real[PATH_MAX];
      if (realpath(cand, real) && is_dir(real)) return strdup(real);
    }
  }
  return strdup("/app/migrations");
}

static int cmp_migration(const void *a, const void *b) {
  return ((const migration_file *)a)->version - ((const migration_file *)b)->version;
}

/* NNN_name.sql -> version NNN; other files are ignored. */
static int list_migrations(const char *dir, migration_file **out, int *n, menu_status *st) {
  DIR *d = opendir(dir);
  if (!d) {
    *st = menu_status_make(GRPC_STATUS_FAILED_PRECONDITION,
                           "migrations: cannot open %s (set MIGRATIONS_DIR)", dir);
    return -1;
  }
  migration_file *v = calloc(MAX_MIGRATIONS, sizeof *v);
  int k = 0;
  struct dirent *e;
  while ((e = readdir(d)) && k < MAX_MIGRATIONS) {
    size_t len = strlen(e->d_name);
    char *end;
    long ver = strtol(e->d_name, &end, 10);
    if (len < 6 || strcmp(e->d_name + len - 4, ".sql") || end == e->d_name || *end != '_' ||
        ver <= 0 || len >= sizeof v[k].name)
      continue;
    v[k].version = (int)ver;
    memcpy(v[k].name, e->d_name, len + 1);
    k++;
  }
  closedir(d);
  qsort(v, (size_t)k, sizeof *v, cmp_migration);
  for (int i = 1; i < k; i++) {
    if (v[i].version == v[i - 1].version) {
      *st = menu_status_make(GRPC_STATUS_FAILED_PRECONDITION,
                             "migrations: %s and %s share version %d", v[i - 1].name, v[i].name,
                             v[i].version);
      free(v);
      return -1;
    }
  }
  *out = v;
  *n = k;
  return 0;
}

static menu_status exec_sql(MYSQL *m, const char *sql, const char *what) {
  if (mysql_real_query(m, sql, strlen(sql))) {
    return menu_status_make(GRPC_STATUS_UNAVAILABLE, "migrations: %s: %s", what, mysql_error(m));
  }
  MYSQL_RES *r = mysql_store_result(m);
  if (r) mysql_free_result(r);
  return MENU_OK;
}

/* Statements end with ';' as the last non-blank character of a line; `--` lines are comments. */
static menu_status apply_file(MYSQL *m, const char *path, const char *name) {
  char *text = file_read_all(path, FILE_CONFIG_MAX, NULL);
  if (!text)
    return menu_status_make(GRPC_STATUS_FAILED_PRECONDITION, "migrations: cannot read %s", path);
  menu_status st = MENU_OK;
  strbuf stmt;
  strbuf_init(&stmt);
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (p[0] == '-' && p[1] == '-') continue;
    strbuf_puts(&stmt, line);
    strbuf_putc(&stmt, '\n');
    size_t len = strlen(line);
    while (len && (line[len - 1] == ' ' || line[len - 1] == '\r' || line[len - 1] == '\t')) len--;
    if (len && line[len - 1] == ';') {
      st = exec_sql(m, stmt.data, name);
      strbuf_reset(&stmt);
      if (!menu_status_is_ok(&st)) goto out;
    }
  }
  for (size_t i = 0; i < stmt.len; i++) {
    if (stmt.data[i] != ' ' && stmt.data[i] != '\n' && stmt.data[i] != '\r') {
      st = exec_sql(m, stmt.data, name); /* last statement without ';' */
      break;
    }
  }
out:
  strbuf_free(&stmt);
  free(text);
  return st;
}

/* Versions recorded so far; a bitmap would do, the list is short. */
static menu_status applied_versions(MYSQL *m, int **out, int *n) {
  *out = NULL;
  *n = 0;
  if (mysql_query(m, "SELECT version FROM schemaVersion ORDER BY version"))
    return menu_status_make(GRPC_STATUS_UNAVAILABLE, "migrations: %s", mysql_error(m));
  MYSQL_RES *r = mysql_store_result(m);
  if (!r) return menu_status_make(GRPC_STATUS_UNAVAILABLE, "migrations: %s", mysql_error(m));
  int *v = calloc(mysql_num_rows(r) + 1, sizeof *v);
  MYSQL_ROW row;
  int k = 0;
  while ((row = mysql_fetch_row(r))) v[k++] = atoi(row[0]);
  mysql_free_result(r);
  *out = v;
  *n = k;
  return MENU_OK;
}

static menu_status record(MYSQL *m, int version, const char *name) {
  MYSQL_STMT *s = mysql_stmt_init(m);
  const char *sql =
      "INSERT INTO schemaVersion (version, name, appliedAt)"
      " VALUES (?, ?, UTC_TIMESTAMP(6))";
  menu_status st = MENU_OK;
  MYSQL_BIND b[2];
  memset(b, 0, sizeof b);
  unsigned long name_len = strlen(name);
  b[0].buffer_type = MYSQL_TYPE_LONG;
  b[0].buffer = &version;
  b[1].buffer_type = MYSQL_TYPE_STRING;
  b[1].buffer = (void *)name;
  b[1].buffer_length = name_len;
  b[1].length = &name_len;
  if (!s || mysql_stmt_prepare(s, sql, strlen(sql)) || mysql_stmt_bind_param(s, b) ||
      mysql_stmt_execute(s))
    st = menu_status_make(GRPC_STATUS_UNAVAILABLE, "migrations: recording %s: %s", name,
                          s ? mysql_stmt_error(s) : mysql_error(m));
  if (s) mysql_stmt_close(s);
  return st;
}

menu_status migrate_run(MYSQL *m, const char *dir, int *applied) {
  *applied = 0;
  migration_file *files = NULL;
  int n_files = 0, *done = NULL, n_done = 0;
  menu_status st = MENU_OK;
  if (list_migrations(dir, &files, &n_files, &st)) return st;

  /* Serialise runners: the lock is per server, so it names the database. Released when this
   * connection ends even if the process dies. */
  if (mysql_query(m, "SELECT GET_LOCK(CONCAT('menu-migrate:', DATABASE()), 120)")) {
    st = menu_status_make(GRPC_STATUS_UNAVAILABLE, "migrations: lock: %s", mysql_error(m));
    goto out;
  }
  MYSQL_RES *r = mysql_store_result(m);
  MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
  bool locked = row && row[0] && atoi(row[0]) == 1;
  if (r) mysql_free_result(r);
  if (!locked) {
    st =
        MENU_UNAVAILABLE("migrations: another runner holds the lock for over %d s", LOCK_TIMEOUT_S);
    goto out;
  }
  st = exec_sql(m,
                "CREATE TABLE IF NOT EXISTS schemaVersion ("
                " version INT NOT NULL PRIMARY KEY,"
                " name VARCHAR(255) NOT NULL,"
                " appliedAt DATETIME(6) NOT NULL"
                ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
                "schemaVersion");
  if (!menu_status_is_ok(&st)) goto unlock;
  st = applied_versions(m, &done, &n_done);
  if (!menu_status_is_ok(&st)) goto unlock;
  for (int i = 0; i < n_files; i++) {
    bool seen = false;
    for (int j = 0; j < n_done && !seen; j++) seen = done[j] == files[i].version;
    if (seen) continue;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, files[i].name);
    log_info("applying migration", "file", files[i].name, NULL);
    st = apply_file(m, path, files[i].name);
    if (!menu_status_is_ok(&st)) goto unlock;
    st = record(m, files[i].version, files[i].name);
    if (!menu_status_is_ok(&st)) goto unlock;
    (*applied)++;
  }
unlock:
  mysql_query(m, "DO RELEASE_LOCK(CONCAT('menu-migrate:', DATABASE()))");
out:
  free(files);
  free(done);
  return st;
}
