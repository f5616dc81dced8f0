/* sql-svc: product availability rules on MySQL / MariaDB. */
#include <stddef.h>

#include "common/app.h"
#include "menu/v1/product_availability.pb-c.h"

static void *init(config *c, rpc_server *s) {
  static const rpc_method_impl none[] = {{NULL, NULL}};
  if (rpc_server_add_service(s, &menu__v1__product_availability_service__descriptor, none, NULL))
    return NULL;
  return s;
}

int main(void) {
  static const app_def def = {"sql-svc", "127.0.0.1:50053", "127.0.0.1:9453", init, NULL};
  return app_main(&def);
}
