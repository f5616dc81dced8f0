/* grpc.health.v1.Health for a server: "" is SERVING once it starts, NOT_SERVING from the
 * moment it starts draining; each registered service name is the same, and also NOT_SERVING
 * while its readiness says so (rpc_server_set_service_ready, see common/dependency.h); Watch
 * streams see every change and end when the server stops. Plugs in through rpc_server's
 * public method, state-listener and readiness API. Thread-safe. */
#ifndef MENU_HEALTH_H
#define MENU_HEALTH_H

#include "common/rpc_server.h"

typedef struct health health;

/* Registers the service on `s` (before rpc_server_start). NULL on failure. Caller destroys
 * after the server has stopped. */
health *health_attach(rpc_server *s);
void health_destroy(health *h);

#endif
