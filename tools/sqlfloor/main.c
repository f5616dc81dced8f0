/* sqlfloor: the floor under sql-svc. Runs sql-svc's own availability statement
 * (sql_statements[STMT_AVAIL_LIST_FORWARD], bound as availability.c binds it: now, a channel, a
 * store, the first page) straight on MariaDB over the binary protocol, with N connections each
 * looping on its own thread; prints the same JSON summary as loadgen. Bounded by --count and
 * --duration. Connection settings: MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD,
 * MYSQL_DATABASE (127.0.0.1 only).
 *   sqlfloor --concurrency 8 --duration 5 [--count N] [--stores 2000] [--page 16] */
#include <getopt.h>
#include <jansson.h>
#include <mysql.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "services/sql-svc/sqlsvc.h"
#include "services/sql-svc/statements.h"
#include "tools/loadgen/stats.h"

#define MAX_THREADS 256
#define MAX_SAMPLES 2000000

typedef struct {
  const char *host, *user, *password, *database;
  unsigned port;
  int stores, page;
  int64_t stop_ns;
  uint64_t count;
  atomic_uint_least64_t issued;
} shared_cfg;

typedef struct {
  shared_cfg *cfg;
  unsigned seed;
  int64_t *lat; /* owned; -1: the statement failed */
  size_t n, cap;
  char error[256];
} worker;

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void *worker_main(void *arg) {
  worker *w = arg;
  shared_cfg *c = w->cfg;
  static const char *const channels[] = {"KIOSK", "WEB", "APP", "DRIVE_THRU", "DELIVERY"};
  MYSQL *m = mysql_init(NULL);
  MYSQL_STMT *s = NULL;
  const char *sql = sql_statements[STMT_AVAIL_LIST_FORWARD].sql;
  if (!mysql_real_connect(m, c->host, c->user, c->password, c->database, c->port, NULL, 0)) {
    snprintf(w->error, sizeof w->error, "connect: %s", mysql_error(m));
    goto out;
  }
  mysql_query(m, "SET time_zone = '+00:00'");
  s = mysql_stmt_init(m);
  if (!s || mysql_stmt_prepare(s, sql, strlen(sql))) {
    snprintf(w->error, sizeof w->error, "prepare: %s", s ? mysql_stmt_error(s) : "out of memory");
    goto out;
  }
  while (now_ns() < c->stop_ns && atomic_fetch_add(&c->issued, 1) < c->count && w->n < w->cap) {
    char store[16];
    snprintf(store, sizeof store, "S%05d", 1 + rand_r(&w->seed) % c->stores);
    const char *channel = channels[rand_r(&w->seed) % 5];
    MYSQL_TIME at;
    sql_usec_to_mysql(sql_now_usec(), &at);
    int64_t limit = c->page + 1;
    unsigned long l1, l2, l3;
    MYSQL_BIND p[5];
    sql_bind_time(&p[0], &at);
    sql_bind_str(&p[1], channel, &l1);
    sql_bind_str(&p[2], store, &l2);
    sql_bind_str(&p[3], "", &l3);
    sql_bind_i64(&p[4], &limit);
    int64_t t0 = now_ns();
    bool ok = !mysql_stmt_bind_param(s, p) && !mysql_stmt_execute(s) && !mysql_stmt_store_result(s);
    if (ok) {
      while (mysql_stmt_fetch(s) == 0) {
      }
    }
    mysql_stmt_free_result(s);
    w->lat[w->n++] = ok ? now_ns() - t0 : -1;
  }
out:
  if (s) mysql_stmt_close(s);
  mysql_close(m);
  mysql_thread_end();
  return NULL;
}

static const char *env_or(const char *name, const char *dflt) {
  const char *v = getenv(name);
  return v && *v ? v : dflt;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {{"concurrency", 1, 0, 'c'},
                                       {"duration", 1, 0, 'd'},
                                       {"count", 1, 0, 'n'},
                                       {"stores", 1, 0, 's'},
                                       {"page", 1, 0, 'p'},
                                       {"label", 1, 0, 'l'},
                                       {0, 0, 0, 0}};
  int threads = 1, o;
  double duration = 0;
  const char *label = "";
  shared_cfg c = {.stores = 2000, .page = 16, .count = 0};
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (o) {
      case 'c':
        threads = atoi(optarg);
        break;
      case 'd':
        duration = atof(optarg);
        break;
      case 'n':
        c.count = strtoull(optarg, NULL, 10);
        break;
      case 's':
        c.stores = atoi(optarg);
        break;
      case 'p':
        c.page = atoi(optarg);
        break;
      case 'l':
        label = optarg;
        break;
      default:
        fprintf(stderr,
                "usage: sqlfloor --concurrency N --duration S [--count N] [--stores N] "
                "[--page N] [--label TEXT]\n");
        return 2;
    }
  }
  if (threads < 1 || threads > MAX_THREADS || !(duration > 0 && duration <= 600) || c.stores < 1 ||
      c.page < 1 || c.page > 128) {
    fprintf(stderr, "sqlfloor: need 1..%d threads, 0 < duration <= 600, stores >= 1, page 1..128\n",
            MAX_THREADS);
    return 2;
  }
  c.host = env_or("MYSQL_HOST", "127.0.0.1");
  if (strcmp(c.host, "127.0.0.1") != 0) {
    fprintf(stderr, "sqlfloor: MYSQL_HOST must be 127.0.0.1\n");
    return 2;
  }
  c.port = (unsigned)atoi(env_or("MYSQL_PORT", "3307"));
  c.user = env_or("MYSQL_USER", "menu");
  c.password = env_or("MYSQL_PASSWORD", "");
  c.database = env_or("MYSQL_DATABASE", "menu");
  if (c.count == 0 || c.count > MAX_SAMPLES) c.count = MAX_SAMPLES;
  atomic_init(&c.issued, 0);
  mysql_library_init(0, NULL, NULL);

  int rc = 1;
  worker w[MAX_THREADS];
  pthread_t t[MAX_THREADS];
  lg_stats *st = lg_stats_create((size_t)c.count);
  memset(w, 0, sizeof w);
  int started = 0;
  int64_t t0 = now_ns();
  c.stop_ns = t0 + (int64_t)(duration * 1e9);
  for (int i = 0; i < threads; i++) {
    w[i].cfg = &c;
    w[i].seed = 1u + (unsigned)i;
    w[i].cap = (size_t)c.count;
    w[i].lat = malloc(w[i].cap * sizeof *w[i].lat);
    if (!w[i].lat || pthread_create(&t[i], NULL, worker_main, &w[i])) break;
    started++;
  }
  for (int i = 0; i < started; i++) pthread_join(t[i], NULL);
  double elapsed = (double)(now_ns() - t0) / 1e9;
  for (int i = 0; i < started; i++) {
    if (w[i].error[0]) {
      fprintf(stderr, "sqlfloor: %s\n", w[i].error);
      goto out;
    }
    for (size_t k = 0; k < w[i].n; k++)
      lg_stats_add(st, w[i].lat[k] < 0 ? 2 : 0, w[i].lat[k] < 0 ? 0 : w[i].lat[k]);
  }
  json_t *out = lg_stats_to_json(st, elapsed);
  json_object_set_new(out, "label", json_string(label));
  json_object_set_new(out, "statement", json_string(sql_statements[STMT_AVAIL_LIST_FORWARD].name));
  json_object_set_new(out, "concurrency", json_integer(threads));
  json_object_set_new(out, "elapsed_s", json_real(elapsed));
  json_dumpf(out, stdout, JSON_INDENT(1) | JSON_SORT_KEYS | JSON_REAL_PRECISION(10));
  fputc('\n', stdout);
  json_decref(out);
  rc = started == threads ? 0 : 1;
out:
  for (int i = 0; i < threads; i++) free(w[i].lat);
  lg_stats_destroy(st);
  mysql_library_end();
  return rc;
}
