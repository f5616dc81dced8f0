/* gateway: MenuService, composed reads over dynamo-svc and sql-svc. */
#include <stddef.h>

#include "common/app.h"
#include "menu/v1/menu.pb-c.h"

static void *init(config *c, rpc_server *s) {
  static const rpc_method_impl none[] = {{NULL, NULL}};
  if (rpc_server_add_service(s, &menu__v1__menu_service__descriptor, none, NULL)) return NULL;
  return s;
}

int main(void) {
  static const app_def def = {"gateway", "127.0.0.1:50051", "127.0.0.1:9451", init, NULL};
  return app_main(&def);
}
