/* gateway: MenuService, composed reads over dynamo-svc and sql-svc. main wires the backend
 * channels (from the environment), the revision poller and the handlers, and readiness to the
 * backends' health; it owns no datastore.
 * `gateway check-consistency CHANNEL` runs the cross-database check once and exits. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/app.h"
#include "common/dependency.h"
#include "common/health_client.h"
#include "gateway/backends.h"
#include "gateway/consistency.h"
#include "gateway/consistency_command.h"
#include "gateway/menu_cache.h"
#include "gateway/revisions.h"
#include "gateway/store_menu.h"
#include "gateway/watch.h"
#include "menu/v1/menu.pb-c.h"

/* A backend as a dependency: its health for the one service the gateway needs most there (in
 * each backend every service depends on the same datastore, so one name tells). */
typedef struct {
  rpc_channel *channel; /* borrowed from the backends */
  const char *service;
} backend_probe;

/* Everything init builds, torn down by fini in reverse. */
typedef struct {
  gateway_backends *be;
  gateway_revisions *revisions;
  menu_cache *cache;
  store_menu_env env;
  dependency_monitor *deps;
  backend_probe dynamo_probe, sql_probe;
  watch_service *watch;
} gateway_state;

static void fini(void *state);

static bool probe_backend(void *arg, int64_t timeout_ms) {
  backend_probe *p = arg;
  return health_client_check(p->channel, p->service, timeout_ms);
}

/* Everything the gateway reads from the environment beyond the common runtime. */
typedef struct {
  gateway_backends_config backends;
  int poll_ms;
  size_t cache_bytes;
  int64_t staleness_ms;
  dependency_config deps;
  watch_config watch;
} gateway_config;

/* The one place the gateway's variables are read: init and --help (config_list) both call
 * it, so the listing cannot miss one. */
static void gateway_config_load(config *c, gateway_config *out) {
  gateway_backends_config_load(c, &out->backends);
  out->poll_ms = gateway_revisions_config_poll_ms(c);
  menu_cache_config_load(c, &out->cache_bytes, &out->staleness_ms);
  dependency_config_load(c, &out->deps);
  watch_config_load(c, &out->watch);
}

static void config_list(config *c) {
  gateway_config gc;
  gateway_config_load(c, &gc);
}

static void *init(config *c, rpc_server *s) {
  gateway_config gc;
  gateway_config_load(c, &gc);
  if (c->n_errors) return NULL; /* app_main reports them */
  gateway_state *g = calloc(1, sizeof *g);
  /* Client metrics (grpc_client_*) go to the same registry as the server's own. */
  g->be = gateway_backends_create(&gc.backends, rpc_server_metrics(s));
  if (!g->be) goto Error;
  g->revisions = gateway_revisions_create(g->be, gc.poll_ms, rpc_server_metrics(s));
  if (!g->revisions) goto Error;
  /* MENU_CACHE_BYTES=0: no cache at all (every read goes to the owners). */
  if (gc.cache_bytes)
    g->cache = menu_cache_create(gc.cache_bytes, gc.staleness_ms, rpc_server_metrics(s));
  g->env = (store_menu_env){
      .be = g->be, .revisions = g->revisions, .cache = g->cache, .staleness_ms = gc.staleness_ms};
  /* Watchers recompose through GetStoreMenu's own handler, told by the poller when to. */
  g->watch = watch_create(&gc.watch, s, rpc_server_metrics(s), g->revisions);
  if (!g->watch) goto Error;
  const rpc_method_impl impls[] = {
      {.name = "GetStoreMenu", .async_fn = store_menu_get},
      {.name = "WatchStoreMenu", .feed_fn = watch_store_menu, .svc = g->watch},
      {.name = "CheckMenuConsistency", .async_fn = consistency_rpc},
      {.name = NULL}};
  if (rpc_server_add_service(s, &menu__v1__menu_service__descriptor, impls, &g->env)) goto Error;
  /* A menu needs both backends: without dynamo-svc there are no categories, without sql-svc
   * no store and no product (allow_partial can still answer, but a default call fails). */
  static const char *const needs[] = {"menu.v1.MenuService", NULL};
  g->dynamo_probe = (backend_probe){g->be->dynamo, "menu.v1.CategoryService"};
  g->sql_probe = (backend_probe){g->be->sql, "menu.v1.ProductAvailabilityService"};
  g->deps = dependency_monitor_create(&gc.deps, s);
  dependency_add(g->deps, "dynamo-svc", needs, probe_backend, &g->dynamo_probe);
  dependency_add(g->deps, "sql-svc", needs, probe_backend, &g->sql_probe);
  if (dependency_monitor_start(g->deps)) goto Error;
  return g;
Error:
  fini(g);
  return NULL;
}

/* After the server has stopped: no handler uses the channels any more. The prober and the
 * poller go first: their calls are on the channels. */
static void fini(void *state) {
  gateway_state *g = state;
  if (!g) return;
  dependency_monitor_destroy(g->deps);
  watch_destroy(g->watch); /* unsubscribes from the poller */
  gateway_revisions_destroy(g->revisions);
  menu_cache_destroy(g->cache);
  gateway_backends_destroy(g->be);
  free(g);
}

static int command(int argc, char **argv) {
  if (!strcmp(argv[1], "check-consistency")) return consistency_command_main(argc, argv);
  return APP_NOT_A_COMMAND;
}

int main(int argc, char **argv) {
  static const app_def def = {
      .name = "gateway",
      .default_listen = "127.0.0.1:50051",
      .default_metrics = "127.0.0.1:9451",
      .init = init,
      .fini = fini,
      .command = command,
      .commands_usage =
          "       gateway check-consistency CHANNEL   report the channel's dangling "
          "product references (JSON; exit 0 none, 1 some, 2 error)\n",
      .config_load = config_list,
  };
  return app_main(&def, argc, argv);
}
