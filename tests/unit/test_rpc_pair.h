/* For the runtime's own tests: a server on a loopback port serving CategoryService with the
 * test's handlers, and a channel to it, started and stopped in one call each. */
#ifndef TEST_RPC_PAIR_H
#define TEST_RPC_PAIR_H

#include <grpc/grpc.h>
#include <stdio.h>

#include "common/metrics.h"
#include "common/rpc_client.h"
#include "common/rpc_server.h"
#include "menu/v1/category.pb-c.h"

/* Creates the registry (*metrics), the server from cfg with `impls` (svc handed to them) and
 * starts it, then a channel to it (*channel) that knows CategoryService. Fails the test when
 * the server does not start. Stop with test_rpc_pair_stop. */
static inline void test_rpc_pair_start(const rpc_server_config *cfg, const rpc_method_impl *impls,
                                       void *svc, metrics_registry **metrics, rpc_server **server,
                                       rpc_channel **channel) {
  *metrics = metrics_registry_create();
  *server = rpc_server_create(cfg, *metrics);
  assert_int_equal(
      rpc_server_add_service(*server, &menu__v1__category_service__descriptor, impls, svc), 0);
  assert_int_equal(rpc_server_start(*server), 0);
  char target[64];
  snprintf(target, sizeof target, "ipv4:127.0.0.1:%d", rpc_server_port(*server));
  rpc_channel_config cc = {.target = target, .metrics = *metrics};
  *channel = rpc_channel_create(&cc);
  rpc_channel_add_service(*channel, &menu__v1__category_service__descriptor);
}

/* Shuts the server down, then frees the channel, the server and the registry. */
static inline void test_rpc_pair_stop(metrics_registry *metrics, rpc_server *server,
                                      rpc_channel *channel) {
  rpc_server_shutdown(server);
  rpc_channel_destroy(channel);
  rpc_server_destroy(server);
  metrics_registry_destroy(metrics);
}

#endif
