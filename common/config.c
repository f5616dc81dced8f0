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
#include "common/netaddr.h"

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

/* Listing mode: one entry per variable (the first read wins, later reads are the same one). */
static void var_record(config *c, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void var_record(config *c, const char *name, const char *fmt, ...) {
  for (int i = 0; i < c->n_vars; i++)
    if (!strcmp(c->vars[i].name, name)) return;
  if (c->n_vars == CONFIG_MAX_VARS) return;
  config_var *v = &c->vars[c->n_vars++];
  snprintf(v->name, sizeof v->name, "%s", name);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(v->def, sizeof v->def, fmt, ap);
  va_end(ap);
}

void config_vars_print(const config *c, FILE *out) {
  for (int i = 0; i < c->n_vars; i++) fprintf(out, "  %-44s %s\n", c->vars[i].name, c->vars[i].def);
}

const char *config_str(config *c, const char *name, const char *def) {
  if (c->listing) {
    var_record(c, name, "%s", def ? def : "(unset)");
    return def;
  }
  const char *v = getenv(name);
  return (v && *v) ? v : def;
}

const char *config_str_or_empty(config *c, const char *name, const char *def) {
  if (c->listing) {
    var_record(c, name, "%s", def ? def : "(unset)");
    return def;
  }
  const char *v = getenv(name);
  return v ? v : def;
}

const char *config_listen_addr(config *c, const char *name, const char *def, bool allow_off) {
  const char *v = config_str(c, name, def);
  if (!v || (allow_off && !strcmp(v, "off"))) return v;
  const char *addr = v;
  if (v[0] == ':') {
    size_t need = strlen("0.0.0.0") + strlen(v) + 1;
    if (c->strings_used + need > sizeof c->strings) {
      config_error(c, "%s=%s: too many normalized addresses", name, v);
      return def;
    }
    char *out = c->strings + c->strings_used;
    snprintf(out, need, "0.0.0.0%s", v);
    c->strings_used += need;
    addr = out;
  }
  struct sockaddr_storage ss;
  socklen_t len;
  if (netaddr_parse(addr, &ss, &len) != 0) {
    config_error(c,
                 "%s=%s: not a listen address (HOST:PORT with a numeric host, localhost or "
                 "[IPv6], or :PORT for every interface%s)",
                 name, v, allow_off ? ", or off" : "");
    return def;
  }
  return addr;
}

int64_t config_int(config *c, const char *name, int64_t def, int64_t min, int64_t max) {
  if (c->listing) {
    var_record(c, name, "%lld (%lld..%lld)", (long long)def, (long long)min, (long long)max);
    return def;
  }
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
  if (c->listing) {
    var_record(c, name, "%s", def ? "true" : "false");
    return def;
  }
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
  if (c->listing) {
    /* A secret's default is not shown, even a development one. */
    char both[sizeof c->vars[0].name];
    snprintf(both, sizeof both, "%s or %s_FILE", name, name);
    var_record(c, both, "%s", def && *def ? "(secret default)" : "(unset)");
    return def ? strdup(def) : NULL;
  }
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
