/* The MySQL connection pool: checkout within a deadline, validation of idle connections and
 * reconnection, the per-connection prepared statement cache (one variant per time-limit level,
 * stmt_limit.h), transactions, error mapping (and with it whether the server was reached, told
 * to the readiness monitor once per checkout), and the deadline watchdog that stops a statement
 * past its call's deadline with KILL QUERY from its own admin connection. */
#include "services/sql-svc/pool.h"
#include "common/mono_clock.h"

#include <errmsg.h>
#include <errno.h>
#include <mysqld_error.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/trace.h"
#include "services/sql-svc/stmt_limit.h"

/* Server error numbers that differ between MariaDB and MySQL or are missing from
 * mysqld_error.h of one of them. */
#define ERRNO_MARIADB_CONSTRAINT_FAILED 4025
#define ERRNO_MYSQL_CHECK_VIOLATED 3819
#define ERRNO_MARIADB_STATEMENT_TIMEOUT 1969
#define ERRNO_MYSQL_QUERY_TIMEOUT 3024
#define ERRNO_MARIADB_CONNECTION_KILLED 1927
#define ERRNO_MYSQL_CLIENT_INTERACTION_TIMEOUT 4031

#define DISARMED INT64_MAX
/* A connection idle longer than this is pinged at checkout; a fresher one is trusted (a
 * statement on a connection the server closed meanwhile fails with UNAVAILABLE, and the
 * connection is replaced). */
#define VALIDATE_IDLE_MS 1000
/* The server's own limit (rounded down to a level) fires before the deadline; the watchdog
 * only acts for statements it does not cover (MySQL DML, COMMIT), this long after. */
#define KILL_GRACE_MS 100
#define ADMIN_CONNECT_TIMEOUT_S 1
#define STMT_VARIANTS 3 /* prepared variants (time-limit levels) kept per statement */
/* A connect attempt without an answer for this long means the server is not accepting
 * connections (a younger one may just be a connect in progress on a busy pool). */
#define CONNECT_HANG_MS 1000

/* What a checkout learned about the server, reported on release (pool_on_reachability). */
typedef enum {
  REACH_UNKNOWN, /* nothing sent, or only client-side errors */
  REACH_ANSWERED,
  REACH_LOST, /* no connection, or it broke */
} conn_reach;

typedef struct {
  MYSQL_STMT *stmt;
  int level_ms;
  uint64_t used; /* LRU stamp */
} stmt_slot;

struct pool_conn {
  pool *p;
  MYSQL *m;                /* NULL: not connected; written only under p->mu */
  unsigned long thread_id; /* the server's id of m, for KILL QUERY; under p->mu */
  sql_dialect dialect;     /* how to write time limits for this server */
  stmt_slot stmts[STMT_COUNT][STMT_VARIANTS];
  uint64_t stamp;
  int64_t deadline_ms; /* DISARMED unless checked out; read by the watchdog under p->mu */
  int64_t last_used_ms;
  int64_t connecting_since_ms; /* a connect attempt in flight since then, else 0; under p->mu */
  conn_reach reach;            /* this checkout's last outcome; owner only */
  uint64_t checkout;           /* bumped at every acquire (under p->mu) */
  pthread_mutex_t kill_mu;     /* held by the watchdog while it kills this connection's statement,
                                  and by pool_release, so a KILL never reaches the next checkout */
  bool in_use;
  bool in_txn;
  bool broken; /* network-level failure: close on release */
  bool killed; /* the watchdog sent KILL QUERY for this checkout; under p->mu */
};

typedef struct {
  int index;
  uint64_t checkout;
  unsigned long thread_id;
} kill_target;

struct pool {
  pool_config cfg; /* strings owned */
  pool_conn *conns;
  int size, in_use;
  pthread_mutex_t mu;
  pthread_cond_t freed;   /* a connection was released */
  pthread_cond_t wd_wake; /* watchdog: a deadline was armed, or stop */
  pthread_t watchdog;
  kill_target *targets; /* watchdog's scratch, size entries */
  bool stopping;
  MYSQL *probe; /* pool_probe's own connection, touched only by its one caller thread */
  metrics_family *m_query, *m_errors, *m_wait, *m_timeouts, *m_reconnects, *m_size, *m_in_use,
      *m_kills;
  pool_reachability_fn on_reach; /* set before use, read-only afterwards */
  void *on_reach_arg;
};

static const double query_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                       0.05,   0.1,   0.25,   0.5,   1,    2.5};

void pool_config_load(config *c, pool_config *out) {
  memset(out, 0, sizeof *out);
  out->host = config_str(c, "MYSQL_HOST", "127.0.0.1");
  out->port = (int)config_int(c, "MYSQL_PORT", 3307, 1, 65535);
  out->user = config_str(c, "MYSQL_USER", "menu");
  out->password = config_secret(c, "MYSQL_PASSWORD", "");
  out->database = config_str(c, "MYSQL_DATABASE", "menu");
  out->size = (int)config_int(c, "MYSQL_POOL_SIZE", 8, 1, 256);
  out->connect_timeout_s = (int)config_int(c, "MYSQL_CONNECT_TIMEOUT_S", 5, 1, 300);
  out->io_timeout_s = (int)config_int(c, "MYSQL_IO_TIMEOUT_S", 30, 1, 3600);
}

void pool_config_free(pool_config *cfg) {
  if (cfg->password) {
    memset(cfg->password, 0, strlen(cfg->password));
    free(cfg->password);
    cfg->password = NULL;
  }
}

MYSQL *pool_connect_one(const pool_config *cfg, int timeout_s, bool local_infile, menu_status *st) {
  MYSQL *m = mysql_init(NULL);
  if (!m) {
    *st = MENU_UNAVAILABLE("mysql: out of memory");
    return NULL;
  }
  unsigned ct = (unsigned)(timeout_s > 0 ? timeout_s : 1), io = (unsigned)cfg->io_timeout_s;
  my_bool off = 0;
  unsigned infile = local_infile ? 1 : 0;
  mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
  mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &io);
  mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &io);
  mysql_options(m, MYSQL_OPT_RECONNECT, &off); /* the pool reconnects, with a fresh cache */
  mysql_options(m, MYSQL_OPT_LOCAL_INFILE, &infile);
  mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  /* Times are UTC everywhere; UTC_TIMESTAMP() does not depend on this, NOW() would. */
  mysql_options(m, MYSQL_INIT_COMMAND, "SET time_zone = '+00:00'");
  if (!mysql_real_connect(m, cfg->host, cfg->user, cfg->password, cfg->database,
                          (unsigned)cfg->port, NULL, 0)) {
    *st = menu_status_backend(GRPC_STATUS_UNAVAILABLE, "DATASTORE_UNAVAILABLE", "mysql",
                              "MySQL unavailable", "mysql: cannot connect to %s:%d: %s", cfg->host,
                              cfg->port, mysql_error(m));
    mysql_close(m);
    return NULL;
  }
  *st = MENU_OK;
  return m;
}

static void conn_stmts_close(pool_conn *c) {
  for (int i = 0; i < STMT_COUNT; i++) {
    for (int j = 0; j < STMT_VARIANTS; j++) {
      if (c->stmts[i][j].stmt) mysql_stmt_close(c->stmts[i][j].stmt);
      c->stmts[i][j] = (stmt_slot){0};
    }
  }
}

static void conn_close(pool_conn *c) {
  MYSQL *m;
  pthread_mutex_lock(&c->p->mu);
  m = c->m;
  c->m = NULL;
  c->thread_id = 0;
  pthread_mutex_unlock(&c->p->mu);
  conn_stmts_close(c);
  if (m) mysql_close(m);
  c->broken = c->in_txn = false;
}

/* Installs a fresh connection in c (the caller owns c or holds it during start-up). */
static void conn_attach(pool_conn *c, MYSQL *m) {
  sql_dialect d = sql_dialect_of(mysql_get_server_info(m), mysql_get_server_version(m));
  pthread_mutex_lock(&c->p->mu);
  c->m = m;
  c->thread_id = mysql_thread_id(m);
  c->dialect = d;
  pthread_mutex_unlock(&c->p->mu);
}

static void collect(void *arg) {
  pool *p = arg;
  int size, in_use;
  pool_stats(p, &size, &in_use);
  metrics_set(p->m_size, METRICS_NO_LABELS, size);
  metrics_set(p->m_in_use, METRICS_NO_LABELS, in_use);
}

/* Sends KILL QUERY for target t from the watchdog's own connection (*admin, opened on demand),
 * unless the connection was released or checked out again meanwhile. Never touches the
 * owner's MYSQL handle: the owner sees the server's "query interrupted" and keeps the
 * connection. */
static void watchdog_kill(pool *p, MYSQL **admin, const kill_target *t) {
  pool_conn *c = &p->conns[t->index];
  pthread_mutex_lock(&c->kill_mu);
  pthread_mutex_lock(&p->mu);
  bool same = c->in_use && c->checkout == t->checkout;
  pthread_mutex_unlock(&p->mu);
  const char *result = "skipped";
  if (same) {
    menu_status st = MENU_OK;
    if (!*admin) *admin = pool_connect_one(&p->cfg, ADMIN_CONNECT_TIMEOUT_S, false, &st);
    char q[64];
    snprintf(q, sizeof q, "KILL QUERY %lu", t->thread_id);
    if (!*admin) {
      result = "error";
      log_warn("mysql pool: cannot open the admin connection to stop a statement", "error",
               st.message, NULL);
    } else if (mysql_real_query(*admin, q, strlen(q))) {
      result = "error";
      log_warn("mysql pool: KILL QUERY failed", "error", mysql_error(*admin), NULL);
      mysql_close(*admin);
      *admin = NULL;
    } else {
      result = "ok";
    }
  }
  pthread_mutex_unlock(&c->kill_mu);
  if (p->m_kills) metrics_add(p->m_kills, METRICS_LABELS(result), 1);
}

/* Stops statements still running past their call's deadline (plus KILL_GRACE_MS). */
static void *watchdog_main(void *arg) {
  pool *p = arg;
  MYSQL *admin = NULL; /* owned by this thread */
  pthread_mutex_lock(&p->mu);
  while (!p->stopping) {
    int64_t now = mono_now_ms(), next = now + 200;
    int n = 0;
    for (int i = 0; i < p->size; i++) {
      pool_conn *c = &p->conns[i];
      if (!c->in_use || c->killed || !c->m || c->deadline_ms == DISARMED) continue;
      int64_t due = c->deadline_ms + KILL_GRACE_MS;
      if (due <= now) {
        c->killed = true;
        p->targets[n++] = (kill_target){i, c->checkout, c->thread_id};
      } else if (due < next) {
        next = due;
      }
    }
    if (n) {
      pthread_mutex_unlock(&p->mu);
      for (int i = 0; i < n; i++) watchdog_kill(p, &admin, &p->targets[i]);
      pthread_mutex_lock(&p->mu);
      continue;
    }
    struct timespec ts = mono_timespec(next + 1);
    pthread_cond_timedwait(&p->wd_wake, &p->mu, &ts);
  }
  pthread_mutex_unlock(&p->mu);
  if (admin) mysql_close(admin);
  return NULL;
}

pool *pool_create(const pool_config *cfg, metrics_registry *metrics) {
  pool *p = calloc(1, sizeof *p);
  p->cfg = *cfg;
  p->cfg.host = strdup(cfg->host);
  p->cfg.user = strdup(cfg->user);
  p->cfg.database = strdup(cfg->database);
  p->cfg.password = strdup(cfg->password ? cfg->password : "");
  p->size = cfg->size;
  p->conns = calloc((size_t)p->size, sizeof *p->conns);
  p->targets = calloc((size_t)p->size, sizeof *p->targets);
  pthread_mutex_init(&p->mu, NULL);
  mono_cond_init(&p->freed);
  mono_cond_init(&p->wd_wake);
  if (metrics) {
    p->m_query = metrics_histogram(metrics, "menu_mysql_query_duration_seconds",
                                   "MySQL statement latency (prepare + execute + fetch)",
                                   METRICS_LABELS("statement"), query_buckets,
                                   sizeof query_buckets / sizeof *query_buckets);
    p->m_errors = metrics_counter(metrics, "menu_mysql_query_errors_total",
                                  "MySQL statements that failed, by statement and status",
                                  METRICS_LABELS("statement", "code"));
    p->m_wait = metrics_histogram(
        metrics, "menu_mysql_pool_wait_seconds", "Time spent waiting for a free pooled connection",
        METRICS_NO_LABELS, query_buckets, sizeof query_buckets / sizeof *query_buckets);
    p->m_timeouts =
        metrics_counter(metrics, "menu_mysql_pool_acquire_timeouts_total",
                        "Checkouts that found no free connection in time", METRICS_NO_LABELS);
    p->m_reconnects =
        metrics_counter(metrics, "menu_mysql_pool_connects_total",
                        "Connections (re)established, by result", METRICS_LABELS("result"));
    p->m_kills = metrics_counter(metrics, "menu_mysql_pool_kills_total",
                                 "KILL QUERY sent by the watchdog past a call's deadline",
                                 METRICS_LABELS("result"));
    p->m_size =
        metrics_gauge(metrics, "menu_mysql_pool_size", "Configured pool size", METRICS_NO_LABELS);
    p->m_in_use = metrics_gauge(metrics, "menu_mysql_pool_in_use", "Connections checked out",
                                METRICS_NO_LABELS);
    metrics_on_collect(metrics, collect, p);
    /* Zero-valued series for every known label from the start. */
    for (int i = 0; i < STMT_COUNT; i++)
      metrics_touch(p->m_query, METRICS_LABELS(sql_statements[i].name));
    metrics_touch(p->m_wait, METRICS_NO_LABELS);
    metrics_touch(p->m_timeouts, METRICS_NO_LABELS);
    metrics_touch(p->m_reconnects, METRICS_LABELS("ok"));
    metrics_touch(p->m_reconnects, METRICS_LABELS("error"));
    metrics_touch(p->m_kills, METRICS_LABELS("ok"));
    metrics_touch(p->m_kills, METRICS_LABELS("error"));
    metrics_touch(p->m_kills, METRICS_LABELS("skipped"));
  }
  for (int i = 0; i < p->size; i++) {
    p->conns[i].p = p;
    p->conns[i].deadline_ms = DISARMED;
    pthread_mutex_init(&p->conns[i].kill_mu, NULL);
  }
  /* Warm the pool; a server that is down now is not fatal (checkout connects lazily). */
  for (int i = 0; i < p->size; i++) {
    menu_status st;
    MYSQL *m = pool_connect_one(&p->cfg, p->cfg.connect_timeout_s, false, &st);
    if (!m) {
      log_warn("mysql pool: connection not established at start-up; will retry on use", "error",
               menu_status_diagnosis(&st), NULL);
      break;
    }
    conn_attach(&p->conns[i], m);
    p->conns[i].last_used_ms = mono_now_ms();
  }
  pthread_create(&p->watchdog, NULL, watchdog_main, p);
  return p;
}

void pool_destroy(pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->stopping = true;
  pthread_cond_broadcast(&p->wd_wake);
  pthread_mutex_unlock(&p->mu);
  pthread_join(p->watchdog, NULL);
  if (p->probe) mysql_close(p->probe);
  for (int i = 0; i < p->size; i++) {
    conn_close(&p->conns[i]);
    pthread_mutex_destroy(&p->conns[i].kill_mu);
  }
  pthread_cond_destroy(&p->freed);
  pthread_cond_destroy(&p->wd_wake);
  pthread_mutex_destroy(&p->mu);
  free((char *)p->cfg.host);
  free((char *)p->cfg.user);
  free((char *)p->cfg.database);
  pool_config_free(&p->cfg);
  free(p->targets);
  free(p->conns);
  free(p);
}

bool pool_probe(pool *p, int64_t timeout_ms) {
  int t = (int)((timeout_ms + 999) / 1000); /* Connector/C's timeouts are in whole seconds */
  if (t < 1) t = 1;
  if (p->probe && mysql_ping(p->probe) != 0) {
    mysql_close(p->probe); /* the server restarted or went away: try a fresh connection */
    p->probe = NULL;
  }
  if (p->probe) return true;
  pool_config cfg = p->cfg;
  cfg.io_timeout_s = t; /* a server that stops answering fails the probe in t seconds */
  menu_status st;
  p->probe = pool_connect_one(&cfg, t, false, &st);
  return p->probe != NULL;
}

void pool_on_reachability(pool *p, pool_reachability_fn fn, void *arg) {
  p->on_reach = fn;
  p->on_reach_arg = arg;
}

static void reach_report(pool *p, conn_reach r) {
  if (p->on_reach && r != REACH_UNKNOWN) p->on_reach(p->on_reach_arg, r == REACH_ANSWERED);
}

/* Whether an error number means the server answered (any server error: a duplicate key, a
 * deadlock, a lock wait timeout, a statement limit), could not be reached (the connection
 * failed, broke or is being closed by a server shutting down), or says nothing (the client
 * library's own errors: out of sync, bad parameters). */
static conn_reach reach_of_errno(unsigned err) {
  switch (err) {
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_IPSOCK_ERROR:
    case CR_UNKNOWN_HOST:
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_HANDSHAKE_ERR:
    case CR_SERVER_LOST:
    case CR_SERVER_LOST_EXTENDED:
    case CR_ERR_NET_READ:
    case CR_ERR_NET_WRITE:
    case ER_SERVER_SHUTDOWN:
    case ERRNO_MARIADB_CONNECTION_KILLED:
      return REACH_LOST;
    default:
      break;
  }
  if (err == 0 || (err >= CR_MIN_ERROR && err <= CR_MAX_ERROR) ||
      (err >= CR_EVENT_CREATE_FAILED && err < CR_EVENT_CREATE_FAILED + 1000))
    return REACH_UNKNOWN; /* Connector/C's own numbers: 2000-2999, 5000-5999 */
  return REACH_ANSWERED;
}

void pool_stats(pool *p, int *size, int *in_use) {
  pthread_mutex_lock(&p->mu);
  *size = p->size;
  *in_use = p->in_use;
  pthread_mutex_unlock(&p->mu);
}

MYSQL *pool_conn_mysql(pool_conn *c) { return c->m; }

/* ---- tracing ----------------------------------------------------------------------------- */

/* A CLIENT span in the database conventions for `operation` (a statement's name, "begin",
 * "commit", or the checkout), a child of the handler's span; NULL outside a traced handler. */
static trace_span *sql_span_start(pool *p, const char *operation) {
  trace_span *parent = trace_current();
  if (!parent) return NULL;
  char name[160];
  snprintf(name, sizeof name, "%s %s", operation, p->cfg.database);
  trace_span *span = trace_span_start_child(parent, name, TRACE_SPAN_CLIENT);
  if (!trace_span_recording(span)) return span;
  trace_span_set_str(span, "db.system", "mysql");
  trace_span_set_str(span, "db.name", p->cfg.database);
  trace_span_set_str(span, "db.operation", operation);
  trace_span_set_str(span, "db.user", p->cfg.user);
  trace_span_set_str(span, "server.address", p->cfg.host);
  trace_span_set_int(span, "server.port", p->cfg.port);
  return span;
}

static void sql_span_end(trace_span *span, const menu_status *st, unsigned mysql_errno) {
  if (!span) return;
  if (mysql_errno) trace_span_set_int(span, "db.mysql.errno", mysql_errno);
  if (!menu_status_is_ok(st)) {
    trace_span_set_str(span, "error.type", menu_status_code_name(st->code));
    trace_span_set_error(span, st->message);
  }
  trace_span_end(span);
}

/* A statement (or checkout) that ran out of the call's time. */
static menu_status deadline_status(const char *what, const char *msg) {
  return menu_status_backend(GRPC_STATUS_DEADLINE_EXCEEDED, "DATASTORE_DEADLINE_EXCEEDED", "mysql",
                             "deadline passed during a MySQL statement", "mysql: %s: %s", what,
                             msg);
}

static menu_status acquire(pool *p, int64_t deadline_ms, pool_conn **out, trace_span *span);

/* The checkout is a span of its own: the wait for a free connection, and the validation ping
 * and reconnection (events) when there are any. */
menu_status pool_acquire(pool *p, int64_t deadline_ms, pool_conn **out) {
  trace_span *span = sql_span_start(p, "checkout");
  menu_status st = acquire(p, deadline_ms, out, span);
  sql_span_end(span, &st, 0);
  return st;
}

static menu_status acquire(pool *p, int64_t deadline_ms, pool_conn **out, trace_span *span) {
  *out = NULL;
  int64_t start = mono_now_ms();
  pool_conn *c = NULL;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    /* Prefer a connected one, most recently used first (warm caches, fewer reconnects). */
    for (int i = 0; i < p->size; i++) {
      pool_conn *x = &p->conns[i];
      if (x->in_use) continue;
      if (!c || (x->m && !c->m) || (!!x->m == !!c->m && x->last_used_ms > c->last_used_ms)) c = x;
    }
    if (c) break;
    if (mono_now_ms() >= deadline_ms) break;
    struct timespec ts = mono_timespec(deadline_ms);
    int rc = pthread_cond_timedwait(&p->freed, &p->mu, &ts);
    if (rc == ETIMEDOUT) {
      /* one more look: a release may have raced the timeout */
      continue;
    }
  }
  if (!c) {
    /* Busy connections are not an unreachable server, but a connect attempt hanging since
     * before this checkout began to wait, and for CONNECT_HANG_MS at least, is: the server did
     * not accept one all that time. */
    bool connect_hangs = false;
    int64_t now = mono_now_ms();
    for (int i = 0; i < p->size; i++) {
      int64_t since = p->conns[i].connecting_since_ms;
      if (since && since <= start && now - since >= CONNECT_HANG_MS) connect_hangs = true;
    }
    pthread_mutex_unlock(&p->mu);
    if (connect_hangs) reach_report(p, REACH_LOST);
    if (p->m_timeouts) metrics_add(p->m_timeouts, METRICS_NO_LABELS, 1);
    if (p->m_wait) metrics_observe(p->m_wait, METRICS_NO_LABELS, (mono_now_ms() - start) / 1e3);
    return MENU_UNAVAILABLE("mysql: all %d pooled connections busy until the deadline", p->size);
  }
  c->in_use = true;
  c->reach = REACH_UNKNOWN;
  c->broken = c->killed = c->in_txn = false;
  c->deadline_ms = deadline_ms;
  c->checkout++;
  p->in_use++;
  pthread_cond_signal(&p->wd_wake);
  pthread_mutex_unlock(&p->mu);
  int64_t now = mono_now_ms();
  if (p->m_wait) metrics_observe(p->m_wait, METRICS_NO_LABELS, (now - start) / 1e3);

  /* Validate only a connection idle for a while: one that sat across a server restart fails
   * its ping and is replaced; a recently used one costs no extra round trip. */
  if (c->m && now - c->last_used_ms > VALIDATE_IDLE_MS) {
    if (mysql_ping(c->m) == 0) {
      c->reach = REACH_ANSWERED;
    } else {
      trace_span_event(span, "mysql.validation_failed");
      trace_span_event_str(span, "error", mysql_error(c->m));
      log_info("mysql pool: dropping a connection that failed validation", "error",
               mysql_error(c->m), NULL);
      conn_close(c); /* the reconnect below tells whether the server is there */
    }
  }
  if (!c->m) {
    int64_t left = deadline_ms - mono_now_ms();
    if (left <= 0) {
      pool_release(p, c);
      return deadline_status("connect", "no time left before connecting");
    }
    int t = (int)((left + 999) / 1000);
    if (t > p->cfg.connect_timeout_s) t = p->cfg.connect_timeout_s;
    menu_status st;
    pthread_mutex_lock(&p->mu);
    c->connecting_since_ms = mono_now_ms();
    pthread_mutex_unlock(&p->mu);
    MYSQL *m = pool_connect_one(&p->cfg, t, false, &st);
    pthread_mutex_lock(&p->mu);
    c->connecting_since_ms = 0;
    pthread_mutex_unlock(&p->mu);
    /* Any failed connect counts, as for the probe: refused, timed out, or refused by the
     * server itself (credentials, too many connections) leave the service without MySQL. */
    c->reach = m ? REACH_ANSWERED : REACH_LOST;
    if (p->m_reconnects) metrics_add(p->m_reconnects, METRICS_LABELS(m ? "ok" : "error"), 1);
    trace_span_event(span, "mysql.connect");
    trace_span_event_str(span, "result", m ? "ok" : "error");
    if (!m) {
      pool_release(p, c);
      return st;
    }
    conn_attach(c, m);
  }
  *out = c;
  return MENU_OK;
}

void pool_release(pool *p, pool_conn *c) {
  if (!c) return;
  reach_report(p, c->reach);
  c->reach = REACH_UNKNOWN;
  /* A transaction the handler left open (an error path) is rolled back; if that fails the
   * connection's state is unknown and it is dropped. */
  if (c->in_txn && c->m && !c->broken && mysql_rollback(c->m)) c->broken = true;
  c->in_txn = false;
  /* kill_mu first: a KILL QUERY in flight for this checkout completes before the connection
   * can be handed to another call. */
  pthread_mutex_lock(&c->kill_mu);
  pthread_mutex_lock(&p->mu);
  c->deadline_ms = DISARMED;
  bool drop = c->broken;
  pthread_mutex_unlock(&p->mu);
  pthread_mutex_unlock(&c->kill_mu);
  if (drop) conn_close(c);
  pthread_mutex_lock(&p->mu);
  c->last_used_ms = mono_now_ms();
  c->in_use = false;
  p->in_use--;
  pthread_cond_signal(&p->freed);
  pthread_mutex_unlock(&p->mu);
}

/* True when the call's time is up: the watchdog stopped the statement, or the deadline passed. */
static bool conn_out_of_time(pool_conn *c) {
  pthread_mutex_lock(&c->p->mu);
  bool out = c->killed || mono_now_ms() >= c->deadline_ms;
  pthread_mutex_unlock(&c->p->mu);
  return out;
}

/* The caller learns which datastore failed; the driver's words go to the call's log line. */
static menu_status mysql_unavailable(const char *what, const char *msg) {
  return menu_status_backend(GRPC_STATUS_UNAVAILABLE, "DATASTORE_UNAVAILABLE", "mysql",
                             "MySQL unavailable", "mysql: %s: %s", what, msg);
}

menu_status pool_error_status(pool_conn *c, unsigned err, const char *msg, const char *what) {
  conn_reach r = reach_of_errno(err);
  if (r != REACH_UNKNOWN) c->reach = r;
  switch (err) {
    case ERRNO_MARIADB_CONSTRAINT_FAILED:
    case ERRNO_MYSQL_CHECK_VIOLATED: {
      menu_status st = MENU_INVALID("%s: violates a constraint", what);
      menu_status_set_detail(&st, "mysql: %s: %s", what, msg);
      return st;
    }
    case ER_NO_REFERENCED_ROW_2:
    case ER_NO_REFERENCED_ROW:
      return menu_status_make(GRPC_STATUS_FAILED_PRECONDITION,
                              "%s: refers to a row that does not exist", what);
    case ER_DUP_ENTRY:
      return menu_status_make(GRPC_STATUS_ALREADY_EXISTS, "%s: already exists", what);
    case ER_LOCK_DEADLOCK:
      return menu_status_make(GRPC_STATUS_ABORTED, "%s: deadlock, retry", what);
    case ERRNO_MARIADB_STATEMENT_TIMEOUT:
    case ERRNO_MYSQL_QUERY_TIMEOUT:
      /* The server stopped the statement at the limit we gave it: the connection is fine. */
      return deadline_status(what, msg);
    case ER_LOCK_WAIT_TIMEOUT:
      /* With a time-limit dialect every statement's lock waits are bounded by the call's
       * time, rounded down to a whole-second level: running out of it is the call's deadline,
       * even with part of a second left. The connection is fine. */
      if (c->dialect != SQL_DIALECT_NONE || conn_out_of_time(c)) return deadline_status(what, msg);
      return mysql_unavailable(what, msg);
    case ER_QUERY_INTERRUPTED:
      /* Our KILL QUERY: the connection is fine. */
      if (conn_out_of_time(c)) return deadline_status(what, msg);
      if (err == ER_QUERY_INTERRUPTED) c->broken = true; /* someone else's KILL: start afresh */
      return mysql_unavailable(what, msg);
    case ER_CON_COUNT_ERROR:
    case ER_TOO_MANY_USER_CONNECTIONS:
      return mysql_unavailable(what, msg);
    case ER_SERVER_SHUTDOWN:
    case ERRNO_MARIADB_CONNECTION_KILLED:
    case ERRNO_MYSQL_CLIENT_INTERACTION_TIMEOUT:
    case ER_NEED_REPREPARE:
      c->broken = true;
      return mysql_unavailable(what, msg);
    default:
      break;
  }
  if (err >= CR_MIN_ERROR && err <= CR_MAX_ERROR) {
    /* Client-side: connection lost, refused, out of sync. A fresh connection fixes them. */
    c->broken = true;
    if (conn_out_of_time(c)) return deadline_status(what, msg);
    return mysql_unavailable(what, msg);
  }
  log_error("mysql: unexpected error", "statement", what, "error", msg, NULL);
  return menu_status_backend(GRPC_STATUS_INTERNAL, "DATASTORE_ERROR", "mysql",
                             "MySQL statement failed", "mysql: %s: %s", what, msg);
}

static double elapsed_s(const struct timespec *a) {
  struct timespec b;
  clock_gettime(CLOCK_MONOTONIC, &b);
  return (double)(b.tv_sec - a->tv_sec) + (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

/* The cached variant of statement id for this time-limit level, else a free or the least
 * recently used slot (its statement closed) for the caller to fill. */
static stmt_slot *stmt_slot_for(pool_conn *c, stmt_id id, int level_ms) {
  stmt_slot *v = c->stmts[id], *pick = &v[0];
  for (int j = 0; j < STMT_VARIANTS; j++) {
    if (v[j].stmt && v[j].level_ms == level_ms) return &v[j];
    if (!v[j].stmt) {
      if (pick->stmt) pick = &v[j];
    } else if (pick->stmt && v[j].used < pick->used) {
      pick = &v[j];
    }
  }
  if (pick->stmt) mysql_stmt_close(pick->stmt);
  *pick = (stmt_slot){.level_ms = level_ms};
  return pick;
}

static menu_status exec_stmt(pool_conn *c, stmt_id id, MYSQL_BIND *params, MYSQL_STMT **out,
                             unsigned *mysql_errno_out);

menu_status pool_exec(pool_conn *c, stmt_id id, MYSQL_BIND *params, MYSQL_STMT **out,
                      unsigned *mysql_errno_out) {
  trace_span *span = sql_span_start(c->p, sql_statements[id].name);
  unsigned err = 0;
  menu_status st = exec_stmt(c, id, params, out, &err);
  if (mysql_errno_out) *mysql_errno_out = err;
  sql_span_end(span, &st, err);
  return st;
}

static menu_status exec_stmt(pool_conn *c, stmt_id id, MYSQL_BIND *params, MYSQL_STMT **out,
                             unsigned *mysql_errno_out) {
  const stmt_def *d = &sql_statements[id];
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  unsigned err = 0;
  const char *msg = "";
  *out = NULL;
  if (mysql_errno_out) *mysql_errno_out = 0;
  if (!c->m) {
    c->broken = true;
    return MENU_UNAVAILABLE("mysql: not connected");
  }
  int level = sql_limit_level_ms(c->deadline_ms - mono_now_ms());
  if (level == 0) return deadline_status(d->name, "too little time left to start it");
  stmt_slot *slot = stmt_slot_for(c, id, level);
  MYSQL_STMT *s = slot->stmt;
  if (!s) {
    s = mysql_stmt_init(c->m);
    if (!s) {
      err = mysql_errno(c->m);
      msg = mysql_error(c->m);
      goto fail_conn;
    }
    char *text = sql_limit_text(d->sql, c->dialect, level);
    int rc = mysql_stmt_prepare(s, text, strlen(text));
    free(text);
    if (rc) goto fail_stmt;
    slot->stmt = s;
  }
  slot->used = ++c->stamp;
  if (params && mysql_stmt_bind_param(s, params)) goto fail_stmt;
  if (mysql_stmt_execute(s)) goto fail_stmt;
  if (mysql_stmt_field_count(s) > 0 && mysql_stmt_store_result(s)) goto fail_stmt;
  if (c->p->m_query) metrics_observe(c->p->m_query, METRICS_LABELS(d->name), elapsed_s(&t0));
  c->reach = REACH_ANSWERED;
  *out = s;
  return MENU_OK;

fail_stmt : {
  char buf[512];
  err = mysql_stmt_errno(s);
  snprintf(buf, sizeof buf, "%s", mysql_stmt_error(s));
  menu_status st = pool_error_status(c, err, buf, d->name);
  if (c->broken || slot->stmt != s || mysql_stmt_reset(s)) {
    /* a statement whose state is unknown (or never prepared) is not reused */
    mysql_stmt_close(s);
    if (slot->stmt == s) *slot = (stmt_slot){0};
  }
  if (mysql_errno_out) *mysql_errno_out = err;
  if (c->p->m_errors)
    metrics_add(c->p->m_errors, METRICS_LABELS(d->name, menu_status_code_name(st.code)), 1);
  return st;
}
fail_conn : {
  if (mysql_errno_out) *mysql_errno_out = err;
  menu_status st = pool_error_status(c, err, msg, d->name);
  if (c->p->m_errors)
    metrics_add(c->p->m_errors, METRICS_LABELS(d->name, menu_status_code_name(st.code)), 1);
  return st;
}
}

void pool_stmt_done(MYSQL_STMT *stmt) {
  if (stmt) mysql_stmt_free_result(stmt);
}

static menu_status txn_query(pool_conn *c, const char *sql, const char *what) {
  if (!c->m) {
    c->broken = true;
    return MENU_UNAVAILABLE("mysql: not connected");
  }
  if (mysql_real_query(c->m, sql, strlen(sql)))
    return pool_error_status(c, mysql_errno(c->m), mysql_error(c->m), what);
  c->reach = REACH_ANSWERED;
  return MENU_OK;
}

menu_status pool_begin(pool_conn *c) {
  trace_span *span = sql_span_start(c->p, "begin");
  menu_status st = txn_query(c, "START TRANSACTION", "begin");
  sql_span_end(span, &st, 0);
  if (menu_status_is_ok(&st)) c->in_txn = true;
  return st;
}

menu_status pool_commit(pool_conn *c) {
  trace_span *span = sql_span_start(c->p, "commit");
  menu_status st = txn_query(c, "COMMIT", "commit");
  sql_span_end(span, &st, 0);
  c->in_txn = false;
  if (!menu_status_is_ok(&st) && c->broken) {
    /* The connection died with the COMMIT in flight: it may or may not have been applied. */
    return menu_status_backend(GRPC_STATUS_UNAVAILABLE, "DATASTORE_UNAVAILABLE", "mysql",
                               "MySQL connection lost during COMMIT: the outcome is unknown",
                               "mysql: commit: %s", menu_status_diagnosis(&st));
  }
  return st;
}

void pool_rollback(pool_conn *c) {
  if (!c->in_txn) return;
  if (!c->m || mysql_rollback(c->m)) c->broken = true;
  c->in_txn = false;
}
