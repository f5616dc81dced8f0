/* Environment-variable configuration with validation that reports every problem at once. */
#include "common/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/file.h"
#include "common/log.h"

void config_error(config *c, const char *fmt, ...) {
  size_t used = strlen(c->errors);
  if (used + 2 < sizeof c->errors) {
    if (used) c->errors[used++] = '\n';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errors + used, sizeof c->errors - used, fmt, ap);
    va_end(ap);
  }
  c->n_errors++;
}

const char *config_str(config *c, const char *name, const char *def) {
  (void)c;
  const char *v = getenv(name);
  return (v && *v) ? v : def;
}

int64_t config_int(config *c, const char *name, int64_t def, int64_t min, int64_t max) {
  const char *v = getenv(name);
  if (!v || !*v) return def;
  char *end;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (errno || *end || end == v) {
    config_error(c, "%s=%s: not an integer", name, v);
    return def;
  }
  if (n < min || n > max) {
    config_error(c, "%s=%s: must be between %lld and %lld", name, v, (long long)min,
                 (long long)max);
    return def;
  }
  return n;
}

bool config_bool(config *c, const char *name, bool def) {
  const char *v = getenv(name);
  if (!v || !*v) return def;
  static const char *const yes[] = {"1", "true", "yes", "on"}, *const no[] = {"0", "false", "no",
                                                                              "off"};
  for (size_t i = 0; i < 4; i++) {
    if (!strcasecmp(v, yes[i])) return true;
    if (!strcasecmp(v, no[i])) return false;
  }
  config_error(c, "%s=%s: expected 1/0, true/false, yes/no or on/off", name, v);
  return def;
}

char *config_secret(config *c, const char *name, const char *def) {
  char file_var[128];
  snprintf(file_var, sizeof file_var, "%s_FILE", name);
  const char *path = getenv(file_var);
  if (path && *path) {
    char *secret = file_read_trimmed(path, 4096);
    if (!secret) {
      config_error(c, "%s=%s: cannot read: %s", file_var, path, strerror(errno));
      return def ? strdup(def) : NULL;
    }
    return secret;
  }
  const char *v = getenv(name);
  if (v && *v) return strdup(v);
  return def ? strdup(def) : NULL;
}

bool config_ok(const config *c, const char *service) {
  if (!c->n_errors) return true;
  char copy[sizeof c->errors];
  memcpy(copy, c->errors, sizeof copy);
  for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save))
    log_error("config", "service", service, "error", line, NULL);
  return false;
}
