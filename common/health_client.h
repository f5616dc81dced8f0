/* The client side of grpc.health.v1.Health, for readiness probes of backends: one blocking
 * Check over an rpc_channel. It waits on a completion queue of its own, so it must run on a
 * thread that may block (the dependency monitor's), never on a completion-queue thread.
 * Thread-safe (the channel is). */
#ifndef MENU_HEALTH_CLIENT_H
#define MENU_HEALTH_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/rpc_client.h"

/* Registers grpc.health.v1.Health on the channel (with the channel's other services, before
 * first use). */
void health_client_add(rpc_channel *ch);

/* True when `service` ("" for the whole server) answered SERVING within timeout_ms. */
bool health_client_check(rpc_channel *ch, const char *service, int64_t timeout_ms);

#endif
