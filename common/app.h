/* The life of a service binary: config -> logs -> metrics -> server -> the service's own
 * init (clients, handlers) -> serve until SIGTERM -> graceful shutdown -> the service's fini.
 * Each main.c fills an app_def and calls app_main; subcommands (migrate, seed) come before. */
#ifndef MENU_APP_H
#define MENU_APP_H

#include "common/config.h"
#include "common/rpc_server.h"

typedef struct {
  const char *name;            /* "dynamo-svc" */
  const char *default_listen;  /* "127.0.0.1:50052" */
  const char *default_metrics; /* "127.0.0.1:9452" */
  /* Reads the service's own variables (problems go into c), builds its clients and registers
   * its services on s. Returns the service state handed to fini, or NULL on failure. */
  void *(*init)(config *c, rpc_server *s);
  void (*fini)(void *state); /* after the server has stopped; may be NULL */
} app_def;

/* Returns the process exit code: 0 after a graceful shutdown, 2 for bad configuration,
 * 1 when start-up fails. */
int app_main(const app_def *def);

#endif
