/* The life of a service binary: config -> logs -> metrics -> server -> the service's own
 * init (clients, handlers) -> serve until SIGTERM -> graceful shutdown -> the service's fini.
 * Each main.c fills an app_def and calls app_main with its arguments: app_main answers
 * --version and --help, hands other words to the binary's `command` hook (migrate, seed-demo,
 * ...) and refuses anything else with the usage on stderr (exit 2), never serving. */
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
  /* Optional. Runs the one-shot subcommand argv[1] and returns its exit code, or
   * APP_NOT_A_COMMAND when argv[1] is none of the binary's commands. */
  int (*command)(int argc, char **argv);
  /* Optional. The subcommands for the usage text, one "  NAME ARGS   what it does" per line. */
  const char *commands_usage;
  /* Optional. Reads the service's own variables with the config getters and nothing else (no
   * I/O, no allocation kept): with c->listing set, --help lists them with their defaults. */
  void (*config_load)(config *c);
} app_def;

#define APP_NOT_A_COMMAND (-1)

/* Returns the process exit code: 0 after a graceful shutdown or --version/--help, 2 for bad
 * configuration or arguments, 1 when start-up fails. */
int app_main(const app_def *def, int argc, char **argv);

#endif
