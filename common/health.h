/* grpc.health.v1.Health for a server: SERVING once it starts, NOT_SERVING from the moment it
 * starts draining; Watch streams end when it stops. Plugs in through rpc_server's public
 * method and state-listener API. Thread-safe. */
#ifndef MENU_HEALTH_H
#define MENU_HEALTH_H

#include "common/rpc_server.h"

typedef struct health health;

/* Registers the service on `s` (before rpc_server_start). NULL on failure. Caller destroys
 * after the server has stopped. */
health *health_attach(rpc_server *s);
void health_destroy(health *h);

#endif
