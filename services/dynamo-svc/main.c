/* dynamo-svc: categories, ghost swaps and product collections on DynamoDB. Wires config ->
 * DynamoDB client (+ tables) -> the three services' handlers -> the shared gRPC runtime ->
 * readiness from DynamoDB's reachability (common/dependency.h).
 * `dynamo-svc seed-demo` writes demo data and exits instead of serving. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/app.h"
#include "common/dependency.h"
#include "services/dynamo-svc/dynamo.h"

typedef struct {
  dyn_svc *svc;
  dependency_monitor *deps;
} dyn_main;

static void report_reachability(void *arg, bool reachable) { dependency_report(arg, reachable); }

/* Readiness probe: one DescribeTable of the category table, no retries. */
static bool probe_dynamodb(void *arg, int64_t timeout_ms) {
  dyn_svc *svc = arg;
  menu_status st = ddb_ping(svc->ddb, svc->category_table, ddb_deadline_in(timeout_ms));
  return menu_status_is_ok(&st);
}

static void fini(void *state) {
  dyn_main *m = state;
  if (!m) return;
  dependency_monitor_destroy(m->deps); /* first: its probes use the client */
  dyn_svc_destroy(m->svc);
  free(m);
}

static void *init(config *c, rpc_server *s) {
  dependency_config dc;
  dependency_config_load(c, &dc);
  dyn_main *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->svc = dyn_svc_create(c, rpc_server_metrics(s));
  if (!m->svc) goto fail;
  if (rpc_server_add_service(s, &menu__v1__category_service__descriptor, dyn_category_methods,
                             m->svc) ||
      rpc_server_add_service(s, &menu__v1__ghost_swap_service__descriptor, dyn_ghost_swap_methods,
                             m->svc) ||
      rpc_server_add_service(s, &menu__v1__product_collection_service__descriptor,
                             dyn_collection_methods, m->svc) ||
      rpc_server_add_service(s, &menu__v1__catalog_revision_service__descriptor,
                             dyn_revision_methods, m->svc))
    goto fail;
  /* Every menu.v1 service of this process needs DynamoDB. */
  m->deps = dependency_monitor_create(&dc, s);
  dependency *d = dependency_add(m->deps, "dynamodb", NULL, probe_dynamodb, m->svc);
  ddb_client_on_reachability(m->svc->ddb, report_reachability, d);
  if (dependency_monitor_start(m->deps)) goto fail;
  return m;
fail:
  fini(m);
  return NULL;
}

/* --help: the loaders init runs (dyn_svc_create reads through dyn_svc_config_load's). */
static void config_list(config *c) {
  dependency_config dc;
  dependency_config_load(c, &dc);
  dyn_svc_config_load(c);
}

static int command(int argc, char **argv) {
  if (!strcmp(argv[1], "seed-demo")) return dyn_seed_demo_main();
  return APP_NOT_A_COMMAND;
}

int main(int argc, char **argv) {
  static const app_def def = {
      .name = "dynamo-svc",
      .default_listen = "127.0.0.1:50052",
      .default_metrics = "127.0.0.1:9452",
      .init = init,
      .fini = fini,
      .command = command,
      .commands_usage = "       dynamo-svc seed-demo    write the demo data set and exit\n",
      .config_load = config_list,
  };
  return app_main(&def, argc, argv);
}
