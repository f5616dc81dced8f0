/* Dependency monitor: readiness that tells the truth without cascading. A background thread
 * probes each dependency of the process (DynamoDB, MySQL, a backend service) every
 * DEPENDENCY_PROBE_INTERVAL_MS; real calls may report their outcome too (looked at every
 * 100 ms, so a long probe interval does not slow down what calls see). A dependency that has
 * been unreachable for DEPENDENCY_UNHEALTHY_AFTER_MS makes the service names that need it
 * NOT_SERVING (rpc_server_set_service_ready); the first success makes them SERVING again.
 * The whole server ("", the kubelet's probe) is never touched: a datastore outage must not
 * pull every pod out of the Service at once, and a restart cannot fix a datastore.
 * Exports menu_dependency_up{dependency} (1/0: the last probe or reported call reached it)
 * and menu_dependency_last_success_timestamp_seconds{dependency}.
 * Thread-safety: create, add and start on one thread (service init); dependency_report from
 * any thread; probes run only on the monitor's own thread, never on a completion queue. */
#ifndef MENU_DEPENDENCY_H
#define MENU_DEPENDENCY_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "common/rpc_server.h"

typedef struct dependency_monitor dependency_monitor;
typedef struct dependency dependency;

typedef struct {
  int64_t unhealthy_after_ms; /* DEPENDENCY_UNHEALTHY_AFTER_MS, 10000 */
  int64_t probe_interval_ms;  /* DEPENDENCY_PROBE_INTERVAL_MS, 2000 */
  int64_t probe_timeout_ms;   /* DEPENDENCY_PROBE_TIMEOUT_MS, 1000 (at most the interval) */
} dependency_config;

/* Reads the variables above (problems recorded in c). */
void dependency_config_load(config *c, dependency_config *out);

/* True when the dependency answered within timeout_ms. Runs on the monitor's thread only, so
 * it may block (up to about timeout_ms) and keep state in `arg` without locks. */
typedef bool (*dependency_probe_fn)(void *arg, int64_t timeout_ms);

/* Caller destroys (before whatever the probes use). Registers the metric families on the
 * server's registry. cfg is copied; s is borrowed. */
dependency_monitor *dependency_monitor_create(const dependency_config *cfg, rpc_server *s);

/* A dependency named `name` ("mysql"; the metrics label) that the NULL-terminated service
 * names need (NULL: every service registered on the server by start, grpc.* excepted); probe/arg
 * are borrowed until dependency_monitor_destroy. The result is owned by the monitor. Call before
 * dependency_monitor_start. */
dependency *dependency_add(dependency_monitor *m, const char *name, const char *const *services,
                           dependency_probe_fn probe, void *arg);

/* Starts the probing thread (after the services are registered). -1 on failure (logged). */
int dependency_monitor_start(dependency_monitor *m);

/* The outcome of a real call: reachable (an answer, even an error answer) or not (no
 * connection, no answer). Any thread; a few atomic operations, never blocks. NULL d: no-op. */
void dependency_report(dependency *d, bool reachable);

/* Stops and joins the thread (waits for a probe in flight), frees everything. NULL: no-op. */
void dependency_monitor_destroy(dependency_monitor *m);

#endif
