/* Server reflection (grpc.reflection.v1 and v1alpha) over the descriptor set embedded in the
 * binary, plugged into a server through rpc_server's public method API. Read-only once built,
 * so thread-safe. */
#ifndef MENU_REFLECTION_H
#define MENU_REFLECTION_H

#include "common/rpc_server.h"

typedef struct reflection reflection;

/* Registers both services on `s` (before rpc_server_start). NULL (logged) when the embedded
 * set does not decode. Caller destroys after the server has stopped. */
reflection *reflection_attach(rpc_server *s);
void reflection_destroy(reflection *r);

#endif
