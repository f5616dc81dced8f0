/* dynamo-svc: categories, ghost swaps and product collections on DynamoDB. */
#include <stddef.h>

#include "common/app.h"
#include "menu/v1/category.pb-c.h"
#include "menu/v1/ghost_swap.pb-c.h"
#include "menu/v1/product_collection.pb-c.h"

static void *init(config *c, rpc_server *s) {
  static const rpc_method_impl none[] = {{NULL, NULL}};
  if (rpc_server_add_service(s, &menu__v1__category_service__descriptor, none, NULL) ||
      rpc_server_add_service(s, &menu__v1__ghost_swap_service__descriptor, none, NULL) ||
      rpc_server_add_service(s, &menu__v1__product_collection_service__descriptor, none, NULL))
    return NULL;
  return s;
}

int main(void) {
  static const app_def def = {"dynamo-svc", "127.0.0.1:50052", "127.0.0.1:9452", init, NULL};
  return app_main(&def);
}
