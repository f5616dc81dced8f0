/* dynamo-svc: categories, ghost swaps and product collections on DynamoDB. Wires config ->
 * DynamoDB client (+ tables) -> the three services' handlers -> the shared gRPC runtime.
 * `dynamo-svc seed-demo` writes demo data and exits instead of serving. */
#include <stdio.h>
#include <string.h>

#include "common/app.h"
#include "services/dynamo-svc/dynamo.h"

static void *init(config *c, rpc_server *s) {
  dyn_svc *svc = dyn_svc_create(c, rpc_server_metrics(s));
  if (!svc) return NULL;
  if (rpc_server_add_service(s, &menu__v1__category_service__descriptor, dyn_category_methods,
                             svc) ||
      rpc_server_add_service(s, &menu__v1__ghost_swap_service__descriptor, dyn_ghost_swap_methods,
                             svc) ||
      rpc_server_add_service(s, &menu__v1__product_collection_service__descriptor,
                             dyn_collection_methods, svc)) {
    dyn_svc_destroy(svc);
    return NULL;
  }
  return svc;
}

static void fini(void *state) { dyn_svc_destroy(state); }

int main(int argc, char **argv) {
  if (argc > 1) {
    if (!strcmp(argv[1], "seed-demo")) return dyn_seed_demo_main();
    fprintf(stderr, "usage: %s [seed-demo]\n  (no argument: serve gRPC on GRPC_ADDR)\n", argv[0]);
    return 2;
  }
  static const app_def def = {"dynamo-svc", "127.0.0.1:50052", "127.0.0.1:9452", init, fini};
  return app_main(&def);
}
