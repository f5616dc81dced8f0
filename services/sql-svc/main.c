/* sql-svc: product availability rules on MySQL / MariaDB. main wires config -> pool ->
 * handlers -> server; the subcommands `migrate`, `seed-demo` and `generate` run once against
 * the same MYSQL_* settings and exit. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/app.h"
#include "common/mono_clock.h"
#include "common/dependency.h"
#include "common/log.h"
#include "menu/v1/product_availability.pb-c.h"
#include "menu/v1/reference_data.pb-c.h"
#include "services/sql-svc/availability.h"
#include "services/sql-svc/explain.h"
#include "services/sql-svc/migrate.h"
#include "services/sql-svc/pool.h"
#include "services/sql-svc/reference.h"
#include "services/sql-svc/revision.h"
#include "services/sql-svc/rules.h"
#include "services/sql-svc/seed.h"
#include "services/sql-svc/sqlsvc.h"

static const rpc_method_impl methods[] = {
    {.name = "ListProductAvailabilities", .fn = availability_list},
    {.name = "GetProductAvailability", .fn = availability_get},
    {.name = "BatchGetProductAvailabilities", .fn = availability_batch_get},
    {.name = "CreateAvailabilityRule", .fn = rules_create},
    {.name = "GetAvailabilityRule", .fn = rules_get},
    {.name = "TerminateAvailabilityRule", .fn = rules_terminate},
    {.name = "GetAvailabilityRevision", .fn = revision_get},
    {.name = NULL},
};

static bool probe_mysql(void *arg, int64_t timeout_ms) { return pool_probe(arg, timeout_ms); }

static void report_reachability(void *arg, bool reachable) { dependency_report(arg, reachable); }

/* The service's variables: init and --help (config_list) both read them here, so the listing
 * cannot miss one. Caller frees *pc (pool_config_free) and *key (cursor_key_free). */
static void service_config_load(config *c, pool_config *pc, dependency_config *dc,
                                cursor_key *key) {
  pool_config_load(c, pc);
  dependency_config_load(c, dc);
  cursor_key_load(c, key);
}

/* The subcommands' variables (they connect on their own, without the pool): the MYSQL_*
 * settings, MIGRATIONS_DIR (*dir, caller frees) and MYSQL_WAIT_S. */
static void command_config_load(config *c, pool_config *pc, char **dir, int64_t *wait_s) {
  pool_config_load(c, pc);
  *dir = migrate_default_dir(c);
  *wait_s = config_int(c, "MYSQL_WAIT_S", 30, 0, 3600);
}

static void *init(config *c, rpc_server *s) {
  sqlsvc *svc = calloc(1, sizeof *svc);
  pool_config pc;
  dependency_config dc;
  service_config_load(c, &pc, &dc, &svc->cursor_key);
  if (c->n_errors) { /* app_main reports them; do not connect with half a configuration */
    pool_config_free(&pc);
    return svc;
  }
  svc->pool = pool_create(&pc, rpc_server_metrics(s));
  pool_config_free(&pc);
  if (rpc_server_add_service(s, &menu__v1__product_availability_service__descriptor, methods,
                             svc) ||
      rpc_server_add_service(s, &menu__v1__reference_data_service__descriptor, reference_methods,
                             svc))
    return NULL;
  /* Every menu.v1 service of this process needs MySQL; calls report what they saw too, so an
   * outage is noticed by the first failed call, not only by the next probe. */
  svc->deps = dependency_monitor_create(&dc, s);
  dependency *d = dependency_add(svc->deps, "mysql", NULL, probe_mysql, svc->pool);
  pool_on_reachability(svc->pool, report_reachability, d);
  if (dependency_monitor_start(svc->deps)) return NULL;
  return svc;
}

static void fini(void *state) {
  sqlsvc *svc = state;
  if (!svc) return;
  dependency_monitor_destroy(svc->deps); /* first: its probe uses the pool */
  pool_destroy(svc->pool);
  cursor_key_free(&svc->cursor_key);
  free(svc);
}

static const char commands_usage[] =
    "       sql-svc migrate         apply migrations (MIGRATIONS_DIR)\n"
    "       sql-svc seed-demo       load the demo data set\n"
    "       sql-svc generate [MARKETS REGIONS RESTAURANTS PRODUCTS RULES]\n"
    "                               load a large generated data set\n"
    "       sql-svc explain STORE CHANNEL [CODE,CODE,...|@revision]\n"
    "                               the availability statement's plan (e.g. S00042 KIOSK);\n"
    "                               with codes: BatchGetProductAvailabilities' statement;\n"
    "                               @revision: GetAvailabilityRevision's\n";

/* --help: the service's variables, then the subcommands'. */
static void config_list(config *c) {
  pool_config pc;
  dependency_config dc;
  cursor_key k;
  service_config_load(c, &pc, &dc, &k);
  pool_config_free(&pc);
  cursor_key_free(&k);
  char *dir = NULL;
  int64_t wait_s;
  command_config_load(c, &pc, &dir, &wait_s);
  pool_config_free(&pc);
  free(dir);
}

/* One-shot commands: own connection, JSON log lines, exit code 0 / 1 / 2. */
static int run_command(int argc, char **argv) {
  config c = {0};
  log_init("sql-svc", config_str(&c, "LOG_LEVEL", "info"));
  pool_config pc;
  char *dir = NULL;
  int64_t wait_s;
  command_config_load(&c, &pc, &dir, &wait_s);
  /* Bulk statements run long; the per-call bound of the service does not apply here. */
  if (pc.io_timeout_s < 900) pc.io_timeout_s = 900;
  seed_sizes sz;
  seed_sizes_default(&sz);
  if (!strcmp(argv[1], "generate") && argc >= 7) {
    sz.markets = atoi(argv[2]);
    sz.regions = atoi(argv[3]);
    sz.restaurants = atoi(argv[4]);
    sz.products = atoi(argv[5]);
    sz.rules = atoi(argv[6]);
  }
  if (!config_ok(&c, "sql-svc")) {
    pool_config_free(&pc);
    free(dir);
    return 2;
  }
  /* Retry the connection for a while: a Job or the stack may start us before the server. */
  menu_status st = MENU_OK;
  MYSQL *m = NULL;
  int64_t give_up = mono_now_ms() + 1000LL * wait_s;
  for (int attempt = 0; attempt < 3600; attempt++) {
    m = pool_connect_one(&pc, pc.connect_timeout_s, false, &st);
    if (m || mono_now_ms() >= give_up) break;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 500 * 1000000};
    nanosleep(&ts, NULL);
  }
  int rc = 0;
  if (!m) {
    log_error(argv[1], "error", menu_status_diagnosis(&st), NULL);
    rc = 1;
    goto out;
  }
  int64_t t0 = mono_now_ms();
  if (!strcmp(argv[1], "migrate")) {
    int applied = 0;
    st = migrate_run(m, dir, &applied);
    if (menu_status_is_ok(&st)) {
      log_line *l = log_begin(LOG_INFO, "migrations up to date");
      log_str(l, "dir", dir);
      log_int(l, "applied", applied);
      log_end(l);
    }
  } else if (!strcmp(argv[1], "explain")) {
    st = argc >= 4 ? explain_availability(m, argv[2], argv[3], argc >= 5 ? argv[4] : NULL, stdout)
                   : MENU_INVALID("usage: sql-svc explain STORE CHANNEL [CODE,CODE,...]");
  } else if (!strcmp(argv[1], "seed-demo")) {
    st = seed_demo(m);
  } else {
    st = seed_generate(m, &sz);
  }
  if (!menu_status_is_ok(&st)) {
    log_error(argv[1], "error", menu_status_diagnosis(&st), NULL);
    rc = 1;
  } else {
    log_line *l = log_begin(LOG_INFO, "done");
    log_str(l, "command", argv[1]);
    log_int(l, "duration_ms", mono_now_ms() - t0);
    log_end(l);
  }
  mysql_close(m);
out:
  pool_config_free(&pc);
  free(dir);
  return rc;
}

static int command(int argc, char **argv) {
  if (!strcmp(argv[1], "migrate") || !strcmp(argv[1], "seed-demo") ||
      !strcmp(argv[1], "generate") || !strcmp(argv[1], "explain"))
    return run_command(argc, argv);
  return APP_NOT_A_COMMAND;
}

int main(int argc, char **argv) {
  static const app_def def = {
      .name = "sql-svc",
      .default_listen = "127.0.0.1:50053",
      .default_metrics = "127.0.0.1:9453",
      .init = init,
      .fini = fini,
      .command = command,
      .commands_usage = commands_usage,
      .config_load = config_list,
  };
  return app_main(&def, argc, argv);
}
