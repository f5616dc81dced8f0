/* The dependency monitor: one probing thread per process, atomics for what real calls report,
 * transitions (and their log lines) decided on the monitor's thread only. */
#include "common/dependency.h"
#include "common/mono_clock.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/mem.h"

#define MAX_SERVICES 16 /* per dependency */
/* What real calls reported is looked at this often, whatever the probe interval: readiness
 * follows the calls within this of DEPENDENCY_UNHEALTHY_AFTER_MS (and of the first success). */
#define EVALUATE_EVERY_MS 100

struct dependency {
  struct dependency *next;
  dependency_monitor *m;
  char *name;
  const char *services[MAX_SERVICES + 1]; /* NULL-terminated copies */
  dependency_probe_fn probe;
  void *arg;
  atomic_int_fast64_t down_since_ms;   /* monotonic ms of the first failure since the last
                                          success; 0 while reachable */
  atomic_int_fast64_t last_success_ms; /* wall clock, 0: never */
  bool healthy;                        /* monitor thread only */
  bool all_services;                   /* services resolved at start */
};

/* A service name and whether every dependency it needs is healthy (monitor thread only). */
typedef struct service_state {
  struct service_state *next;
  char *name;
  bool ready;
} service_state;

struct dependency_monitor {
  dependency_config cfg;
  rpc_server *server;
  metrics_family *m_up, *m_last_success;
  dependency *deps;
  service_state *services;
  pthread_t thread;
  bool started;
  pthread_mutex_t mu; /* guards stopping */
  pthread_cond_t wake;
  bool stopping;
};

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void dependency_config_load(config *c, dependency_config *out) {
  out->unhealthy_after_ms = config_int(c, "DEPENDENCY_UNHEALTHY_AFTER_MS", 10000, 0, 3600000);
  out->probe_interval_ms = config_int(c, "DEPENDENCY_PROBE_INTERVAL_MS", 2000, 50, 600000);
  out->probe_timeout_ms = config_int(c, "DEPENDENCY_PROBE_TIMEOUT_MS", 1000, 10, 600000);
  if (out->probe_timeout_ms > out->probe_interval_ms)
    out->probe_timeout_ms = out->probe_interval_ms;
}

dependency_monitor *dependency_monitor_create(const dependency_config *cfg, rpc_server *s) {
  dependency_monitor *m = calloc(1, sizeof *m);
  if (!m) abort();
  m->cfg = *cfg;
  m->server = s;
  metrics_registry *r = rpc_server_metrics(s);
  m->m_up = metrics_gauge(r, "menu_dependency_up",
                          "1 when the last probe or call reached the dependency, else 0.",
                          METRICS_LABELS("dependency"));
  m->m_last_success =
      metrics_gauge(r, "menu_dependency_last_success_timestamp_seconds",
                    "Unix time of the last successful probe or call of the dependency (0: never).",
                    METRICS_LABELS("dependency"));
  pthread_mutex_init(&m->mu, NULL);
  mono_cond_init(&m->wake);
  return m;
}

/* Adds `service` to d's list and to the monitor's service states. */
static void dependency_need(dependency *d, const char *service) {
  dependency_monitor *m = d->m;
  size_t i = 0;
  while (d->services[i]) i++;
  if (i == MAX_SERVICES) abort(); /* a programming error */
  d->services[i] = mem_strdup(service);
  service_state *st = m->services;
  while (st && strcmp(st->name, service)) st = st->next;
  if (!st) {
    st = calloc(1, sizeof *st);
    if (!st) abort();
    st->name = mem_strdup(service);
    st->ready = true;
    st->next = m->services;
    m->services = st;
  }
}

dependency *dependency_add(dependency_monitor *m, const char *name, const char *const *services,
                           dependency_probe_fn probe, void *arg) {
  dependency *d = calloc(1, sizeof *d);
  if (!d) abort();
  d->m = m;
  d->name = mem_strdup(name);
  d->probe = probe;
  d->arg = arg;
  d->healthy = true;
  d->all_services = !services;
  for (size_t i = 0; services && services[i]; i++) dependency_need(d, services[i]);
  d->next = m->deps;
  m->deps = d;
  /* The series exist from the start; 1 until a probe or call says otherwise. */
  metrics_set(m->m_up, METRICS_LABELS(name), 1);
  metrics_set(m->m_last_success, METRICS_LABELS(name), 0);
  return d;
}

void dependency_report(dependency *d, bool reachable) {
  if (!d) return;
  if (reachable) {
    atomic_store(&d->down_since_ms, 0);
    atomic_store(&d->last_success_ms, wall_ms());
  } else {
    int_fast64_t zero = 0;
    int64_t now = mono_now_ms();
    atomic_compare_exchange_strong(&d->down_since_ms, &zero, now ? now : 1);
  }
}

static void monitor_probe(dependency_monitor *m) {
  for (dependency *d = m->deps; d; d = d->next)
    dependency_report(d, d->probe(d->arg, m->cfg.probe_timeout_ms));
}

/* Decides each dependency's health and each service's readiness from what probes and calls
 * reported. */
static void monitor_evaluate(dependency_monitor *m) {
  int64_t now = mono_now_ms();
  for (dependency *d = m->deps; d; d = d->next) {
    int64_t since = atomic_load(&d->down_since_ms);
    bool healthy = !since || now - since < m->cfg.unhealthy_after_ms;
    metrics_set(m->m_up, METRICS_LABELS(d->name), since ? 0 : 1);
    metrics_set(m->m_last_success, METRICS_LABELS(d->name),
                (double)atomic_load(&d->last_success_ms) / 1000.0);
    if (healthy == d->healthy) continue;
    d->healthy = healthy;
    log_line *l = log_begin(healthy ? LOG_INFO : LOG_WARN,
                            healthy ? "dependency reachable again; its services are SERVING"
                                    : "dependency unreachable; its services are NOT_SERVING");
    log_str(l, "dependency", d->name);
    if (!healthy) log_int(l, "unreachable_ms", now - since);
    log_end(l);
  }
  for (service_state *st = m->services; st; st = st->next) {
    bool ready = true;
    for (dependency *d = m->deps; d; d = d->next)
      for (size_t i = 0; d->services[i]; i++)
        if (!strcmp(d->services[i], st->name) && !d->healthy) ready = false;
    if (ready == st->ready) continue;
    st->ready = ready;
    rpc_server_set_service_ready(m->server, st->name, ready);
  }
}

/* Probes every probe_interval_ms and evaluates every EVALUATE_EVERY_MS (and after each
 * probe round). */
static void *monitor_main(void *arg) {
  dependency_monitor *m = arg;
  int64_t next_probe = mono_now_ms();
  pthread_mutex_lock(&m->mu);
  while (!m->stopping) {
    pthread_mutex_unlock(&m->mu);
    if (mono_now_ms() >= next_probe) {
      next_probe = mono_now_ms() + m->cfg.probe_interval_ms;
      monitor_probe(m);
    }
    monitor_evaluate(m);
    int64_t next = mono_now_ms() + EVALUATE_EVERY_MS;
    if (next > next_probe) next = next_probe;
    pthread_mutex_lock(&m->mu);
    struct timespec ts = {.tv_sec = next / 1000, .tv_nsec = (next % 1000) * 1000000};
    while (!m->stopping && mono_now_ms() < next) pthread_cond_timedwait(&m->wake, &m->mu, &ts);
  }
  pthread_mutex_unlock(&m->mu);
  return NULL;
}

int dependency_monitor_start(dependency_monitor *m) {
  for (dependency *d = m->deps; d; d = d->next) {
    if (!d->all_services) continue;
    for (size_t i = 0; i < rpc_server_service_count(m->server); i++) {
      const char *name = rpc_server_service_name(m->server, i);
      if (strncmp(name, "grpc.", 5)) dependency_need(d, name);
    }
  }
  if (pthread_create(&m->thread, NULL, monitor_main, m) != 0) {
    log_error("cannot start the dependency monitor thread", NULL);
    return -1;
  }
  m->started = true;
  return 0;
}

void dependency_monitor_destroy(dependency_monitor *m) {
  if (!m) return;
  if (m->started) {
    pthread_mutex_lock(&m->mu);
    m->stopping = true;
    pthread_cond_signal(&m->wake);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->thread, NULL);
  }
  for (dependency *d = m->deps, *next; d; d = next) {
    next = d->next;
    for (size_t i = 0; d->services[i]; i++) free((char *)d->services[i]);
    free(d->name);
    free(d);
  }
  for (service_state *st = m->services, *next; st; st = next) {
    next = st->next;
    free(st->name);
    free(st);
  }
  pthread_cond_destroy(&m->wake);
  pthread_mutex_destroy(&m->mu);
  free(m);
}
