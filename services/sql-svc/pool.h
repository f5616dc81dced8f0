/* A fixed-size pool of MySQL/MariaDB connections (MariaDB Connector/C) with a per-connection
 * cache of prepared statements. Checkout waits for a free connection until the caller's
 * deadline, validates a connection idle for more than a second (mysql_ping) and reconnects
 * when the server went away, so a server restart costs failed calls during the outage but
 * never a service restart. Every statement carries the call's remaining time as a server-side
 * limit (stmt_limit.h), so the server itself stops it and the connection stays usable; a
 * watchdog thread sends KILL QUERY from its own admin connection for a statement still running
 * past its deadline (one the server limit does not cover). No thread ever touches a
 * connection another thread has checked out.
 * Thread-safe: any thread may acquire/release; one pool_conn is used by one thread at a time. */
#ifndef SQL_POOL_H
#define SQL_POOL_H

#include <mysql.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "common/metrics.h"
#include "common/status.h"
#include "services/sql-svc/statements.h"

typedef struct pool pool;
typedef struct pool_conn pool_conn;

typedef struct {
  const char *host;      /* MYSQL_HOST */
  int port;              /* MYSQL_PORT */
  const char *user;      /* MYSQL_USER */
  char *password;        /* MYSQL_PASSWORD(_FILE); owned by the config, wiped by pool_config_free */
  const char *database;  /* MYSQL_DATABASE */
  int size;              /* MYSQL_POOL_SIZE */
  int connect_timeout_s; /* MYSQL_CONNECT_TIMEOUT_S: cap on one connect attempt */
  int io_timeout_s;      /* MYSQL_IO_TIMEOUT_S: read/write timeout set at connect, a backstop
                            for a server that stops answering (network gone) */
} pool_config;

/* Reads the MYSQL_* variables (problems recorded in c). */
void pool_config_load(config *c, pool_config *out);
void pool_config_free(pool_config *cfg);

/* Opens one connection outside any pool (migrate, seed tools). Caller closes with mysql_close.
 * On failure returns NULL and fills *st (UNAVAILABLE). */
MYSQL *pool_connect_one(const pool_config *cfg, int timeout_s, bool local_infile, menu_status *st);

/* Creates the pool and tries to open every connection now (failures are logged, not fatal:
 * checkout connects lazily). cfg is copied. metrics may be NULL. */
pool *pool_create(const pool_config *cfg, metrics_registry *metrics);
/* All connections must have been released. */
void pool_destroy(pool *p);

/* Checks out a connection, waiting at most until deadline_ms (CLOCK_MONOTONIC milliseconds,
 * see mono_now_ms). UNAVAILABLE when none frees up in time or the server cannot be reached.
 * The connection stays bound to that deadline: its statements carry the remaining time as a
 * server-side limit, and past it the watchdog stops the running statement (KILL QUERY). */
menu_status pool_acquire(pool *p, int64_t deadline_ms, pool_conn **out);
/* Returns the connection; a connection that failed at the network level is closed here, and
 * a transaction left open is rolled back. */
void pool_release(pool *p, pool_conn *c);

/* A transaction on a checked-out connection (autocommit otherwise). Errors as pool_exec. When
 * the connection is lost during pool_commit the outcome is unknown: UNAVAILABLE saying so.
 * pool_rollback reports nothing: a connection whose rollback fails is dropped on release. */
menu_status pool_begin(pool_conn *c);
menu_status pool_commit(pool_conn *c);
void pool_rollback(pool_conn *c);

/* The raw handle, e.g. for transactions. Borrowed while checked out. */
MYSQL *pool_conn_mysql(pool_conn *c);

/* Prepares (once per connection and time-limit level, then cached) and executes statement `id`
 * with `params`
 * (NULL when it has none; as many as the statement's markers). Results, if any, are buffered
 * (mysql_stmt_store_result) so that the caller may fetch at leisure; the caller binds result
 * buffers with mysql_stmt_bind_result and fetches, then calls pool_stmt_done. Errors map to
 * statuses: connection trouble UNAVAILABLE (the connection is dropped on release), a statement
 * stopped at the call's deadline DEADLINE_EXCEEDED (the connection is kept), constraint violations
 * INVALID_ARGUMENT / FAILED_PRECONDITION. The server's error number is in *mysql_errno_out when not
 * NULL. Latency and errors are recorded per statement name. */
menu_status pool_exec(pool_conn *c, stmt_id id, MYSQL_BIND *params, MYSQL_STMT **out,
                      unsigned *mysql_errno_out);
/* Frees the buffered result of the last pool_exec on this statement. */
void pool_stmt_done(MYSQL_STMT *stmt);

/* Maps a Connector/C or server error on connection c to a status; marks c broken when the
 * connection is unusable. `what` prefixes the message. */
menu_status pool_error_status(pool_conn *c, unsigned err, const char *msg, const char *what);

/* Readiness probe: mysql_ping on a connection of its own (never one of the pool's, so a
 * busy pool is not an unreachable server), reconnected when the ping fails; timeouts of
 * ceil(timeout_ms / 1 s). True when the server answered. Call from one thread at a time (the
 * dependency monitor's). */
bool pool_probe(pool *p, int64_t timeout_ms);

/* Told after every checkout that reached the server or failed to whether MySQL answered
 * (anything, even an error such as a duplicate key, a deadlock or a lock wait timeout) or
 * could not be reached (connect refused or timed out, server gone away, connection lost,
 * server shutting down; a checkout that timed out while another checkout's connect attempt
 * had been hanging, for a second at least, since before it began waiting). A checkout that sent
 * nothing, or timed out behind busy connections, says nothing: a saturated pool is not an
 * unreachable server. Runs on the calling thread (pool_release, pool_acquire); must not block. Set
 * once before the pool is used by calls. */
typedef void (*pool_reachability_fn)(void *arg, bool reachable);
void pool_on_reachability(pool *p, pool_reachability_fn fn, void *arg);

/* Gauges for metrics_on_collect: size and in-use counts. */
void pool_stats(pool *p, int *size, int *in_use);

#endif
