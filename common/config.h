/* Configuration from environment variables (12-factor). Each getter records what is wrong
 * in the config object instead of exiting, so start-up can print every problem at once. */
#ifndef MENU_CONFIG_H
#define MENU_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>

#define CONFIG_MAX_VARS 128

typedef struct {
  char name[64]; /* "GRPC_ADDR", "MYSQL_PASSWORD (or MYSQL_PASSWORD_FILE)" */
  char def[80];  /* the default as text; "(unset)" when there is none */
} config_var;

typedef struct {
  char errors[2048]; /* newline-separated problems, empty when all is well */
  int n_errors;
  /* Listing mode (--help): the getters record each variable with its default and return the
   * default, reading neither the environment nor any file. The list is the loaders' own
   * calls, so it cannot drift from what the binary reads. */
  bool listing;
  config_var vars[CONFIG_MAX_VARS];
  int n_vars;
  char strings[512]; /* normalized values (config_listen_addr) */
  size_t strings_used;
} config;

/* The variable's value, or `def` when unset or empty. Not copied: valid while env unchanged. */
const char *config_str(config *c, const char *name, const char *def);
/* Like config_str, but a variable set to the empty string returns "" (for variables where
 * empty means something, e.g. DYNAMODB_ENDPOINT); `def` only when unset. */
const char *config_str_or_empty(config *c, const char *name, const char *def);
/* Integer in [min, max]; a malformed or out-of-range value is recorded and `def` returned. */
int64_t config_int(config *c, const char *name, int64_t def, int64_t min, int64_t max);
/* A listen address: "host:port" with a numeric host, "localhost" or "[v6]", or Go's ":PORT"
 * for every interface (returned as "0.0.0.0:PORT"); `allow_off`: "off" too (returned as is).
 * A bad value is recorded naming the variable and `def` returned. The result lives as long
 * as c (config-owned) or the environment. */
const char *config_listen_addr(config *c, const char *name, const char *def, bool allow_off);
/* 1/0, true/false, yes/no, on/off. */
bool config_bool(config *c, const char *name, bool def);
/* A secret from NAME_FILE (file contents, trailing newline stripped) or NAME; `def` when
 * neither is set. Caller frees; NULL only when def is NULL and neither is set. */
char *config_secret(config *c, const char *name, const char *def);
/* Records a problem found by the caller (e.g. two settings that contradict each other). */
void config_error(config *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Listing mode: prints "  NAME  default" for every variable recorded, in the order read. */
void config_vars_print(const config *c, FILE *out);
/* Prints every recorded problem as one JSON log line each; returns false if there were any. */
bool config_ok(const config *c, const char *service);

#endif
