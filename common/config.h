/* Configuration from environment variables (12-factor). Each getter records what is wrong
 * in the config object instead of exiting, so start-up can print every problem at once. */
#ifndef MENU_CONFIG_H
#define MENU_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  char errors[2048]; /* newline-separated problems, empty when all is well */
  int n_errors;
} config;

/* The variable's value, or `def` when unset or empty. Not copied: valid while env unchanged. */
const char *config_str(config *c, const char *name, const char *def);
/* Integer in [min, max]; a malformed or out-of-range value is recorded and `def` returned. */
int64_t config_int(config *c, const char *name, int64_t def, int64_t min, int64_t max);
/* 1/0, true/false, yes/no, on/off. */
bool config_bool(config *c, const char *name, bool def);
/* A secret from NAME_FILE (file contents, trailing newline stripped) or NAME; `def` when
 * neither is set. Caller frees; NULL only when def is NULL and neither is set. */
char *config_secret(config *c, const char *name, const char *def);
/* Records a problem found by the caller (e.g. two settings that contradict each other). */
void config_error(config *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints every recorded problem as one JSON log line each; returns false if there were any. */
bool config_ok(const config *c, const char *service);

#endif
