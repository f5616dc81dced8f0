/* gateway: MenuService, composed reads over dynamo-svc and sql-svc. main wires the backend
 * channels (from the environment) to the handlers; it owns no datastore. */
#include <stddef.h>

#include "common/app.h"
#include "gateway/backends.h"
#include "gateway/store_menu.h"
#include "menu/v1/menu.pb-c.h"

static void *init(config *c, rpc_server *s) {
  gateway_backends_config bc;
  gateway_backends_config_load(c, &bc);
  if (c->n_errors) return NULL; /* app_main reports them */
  /* Client metrics (grpc_client_*) go to the same registry as the server's own. */
  gateway_backends *b = gateway_backends_create(&bc, rpc_server_metrics(s));
  if (!b) return NULL;
  static const rpc_method_impl impls[] = {
      {.name = "GetStoreMenu", .fn = NULL, .async_fn = store_menu_get}, {.name = NULL}};
  if (rpc_server_add_service(s, &menu__v1__menu_service__descriptor, impls, b)) {
    gateway_backends_destroy(b);
    return NULL;
  }
  return b;
}

/* After the server has stopped: no handler uses the channels any more. */
static void fini(void *state) { gateway_backends_destroy(state); }

int main(void) {
  static const app_def def = {"gateway", "127.0.0.1:50051", "127.0.0.1:9451", init, fini};
  return app_main(&def);
}
