/* The standard OpenTelemetry SDK variables that configure tracing (see README, Tracing). A
 * malformed value is a start-up error like any other variable of the binary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/trace.h"

static const struct {
  const char *name;
  trace_sampler sampler;
} samplers[] = {
    {"always_on", TRACE_SAMPLER_ALWAYS_ON},
    {"always_off", TRACE_SAMPLER_ALWAYS_OFF},
    {"traceidratio", TRACE_SAMPLER_RATIO},
    {"parentbased_always_on", TRACE_SAMPLER_PARENT_ALWAYS_ON},
    {"parentbased_always_off", TRACE_SAMPLER_PARENT_ALWAYS_OFF},
    {"parentbased_traceidratio", TRACE_SAMPLER_PARENT_RATIO},
};

/* The signal's own variable, else the general one, else def. */
static const char *env_either(config *c, const char *specific, const char *general,
                              const char *def) {
  const char *v = config_str(c, specific, NULL);
  const char *g = config_str(c, general, def);
  return v ? v : g;
}

/* Percent-decoding in place (the W3C Baggage encoding OTEL_EXPORTER_OTLP_HEADERS and
 * OTEL_RESOURCE_ATTRIBUTES use for values); false on a malformed escape. */
static bool percent_decode(char *s) {
  char *w = s;
  for (char *r = s; *r; r++) {
    if (*r != '%') {
      *w++ = *r;
      continue;
    }
    char hex[3] = {r[1], r[1] ? r[2] : 0, 0};
    char *end;
    long v = strtol(hex, &end, 16);
    if (!hex[0] || !hex[1] || *end || v <= 0) return false;
    *w++ = (char)v;
    r += 2;
  }
  *w = '\0';
  return true;
}

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  char *e = s + strlen(s);
  while (e > s && (e[-1] == ' ' || e[-1] == '\t')) *--e = '\0';
  return s;
}

/* "k1=v1,k2=v2": calls add(key, value) for each pair; false (recorded) on a malformed one. */
static bool parse_pairs(config *c, const char *name, const char *text,
                        bool (*add)(trace_config *, const char *, const char *),
                        trace_config *out) {
  char *copy = strdup(text), *save = NULL;
  bool ok = true;
  for (char *item = strtok_r(copy, ",", &save); item && ok; item = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(item, '=');
    if (!eq) {
      if (!*trim(item)) continue;
      config_error(c, "%s: \"%s\" is not key=value", name, trim(item));
      ok = false;
      break;
    }
    *eq = '\0';
    char *k = trim(item), *v = trim(eq + 1);
    if (!*k || !percent_decode(k) || !percent_decode(v)) {
      config_error(c, "%s: bad key or percent-encoding near \"%s\"", name, k);
      ok = false;
    } else if (!add(out, k, v)) {
      config_error(c, "%s: too many entries or a bad character", name);
      ok = false;
    }
  }
  free(copy);
  return ok;
}

static bool add_header(trace_config *cfg, const char *k, const char *v) {
  if (cfg->n_headers >= TRACE_MAX_HEADERS || strpbrk(k, ": \r\n") || strpbrk(v, "\r\n"))
    return false;
  char *line;
  if (asprintf(&line, "%s: %s", k, v) < 0) return false;
  cfg->headers[cfg->n_headers++] = line;
  return true;
}

static bool add_resource(trace_config *cfg, const char *k, const char *v) {
  /* OTEL_SERVICE_NAME wins over a service.name here (spec); it is set afterwards. */
  if (!strcmp(k, "service.name")) {
    snprintf(cfg->service_name, sizeof cfg->service_name, "%s", v);
    return true;
  }
  if (cfg->n_resource >= TRACE_MAX_RESOURCE_ATTRS) return false;
  cfg->resource[cfg->n_resource][0] = strdup(k);
  cfg->resource[cfg->n_resource][1] = strdup(v);
  cfg->n_resource++;
  return true;
}

/* "tracecontext,baggage" (the default), "none", ... Unknown entries (b3, jaeger, xray: not
 * implemented, or a typo) are logged and skipped, as the specification says: a misspelt
 * propagator must not stop a service. */
static unsigned load_propagators(config *c) {
  const char *text = config_str(c, "OTEL_PROPAGATORS", "tracecontext,baggage");
  unsigned bits = 0;
  bool none = false;
  char *copy = strdup(text), *save = NULL;
  for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
    const char *name = trim(item);
    if (!strcmp(name, "tracecontext"))
      bits |= TRACE_PROPAGATE_TRACECONTEXT;
    else if (!strcmp(name, "baggage"))
      bits |= TRACE_PROPAGATE_BAGGAGE;
    else if (!strcmp(name, "none"))
      none = true;
    else if (*name && !c->listing)
      log_warn(
          "OTEL_PROPAGATORS: unknown propagator ignored (tracecontext, baggage and none "
          "are supported)",
          "propagator", name, NULL);
  }
  free(copy);
  return none ? 0 : bits;
}

static bool is_http_url(const char *u) {
  return !strncmp(u, "http://", 7) || !strncmp(u, "https://", 8);
}

static void load_endpoint(config *c, trace_config *out) {
  const char *traces = config_str(c, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", NULL);
  const char *base = config_str(c, "OTEL_EXPORTER_OTLP_ENDPOINT", NULL);
  int n;
  if (traces && *traces) {
    /* The signal-specific URL is used as it is. */
    n = snprintf(out->endpoint, sizeof out->endpoint, "%s", traces);
  } else if (base && *base) {
    size_t len = strlen(base);
    n = snprintf(out->endpoint, sizeof out->endpoint, "%s%sv1/traces", base,
                 len && base[len - 1] == '/' ? "" : "/");
  } else {
    return; /* off */
  }
  if (n < 0 || (size_t)n >= sizeof out->endpoint || !is_http_url(out->endpoint)) {
    config_error(c, "OTEL_EXPORTER_OTLP_%sENDPOINT: not an http(s):// URL of sane length",
                 traces && *traces ? "TRACES_" : "");
    return;
  }
  out->enabled = true;
}

void trace_config_load(config *c, trace_config *out, const char *default_service) {
  memset(out, 0, sizeof *out);
  load_endpoint(c, out);
  /* Only "true" disables (any case); anything else is false, as the specification says. */
  const char *disabled = config_str(c, "OTEL_SDK_DISABLED", "false");
  if (disabled && !strcasecmp(disabled, "true")) out->enabled = false;
  const char *exporter = config_str(c, "OTEL_TRACES_EXPORTER", "otlp");
  if (!strcmp(exporter, "none"))
    out->enabled = false;
  else if (strcmp(exporter, "otlp"))
    config_error(c, "OTEL_TRACES_EXPORTER=%s: only otlp (or none) is supported", exporter);
  const char *protocol = env_either(c, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                                    "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf");
  if (protocol && strcmp(protocol, "http/protobuf"))
    config_error(c, "OTEL_EXPORTER_OTLP_PROTOCOL=%s: only http/protobuf is supported", protocol);

  out->propagators = load_propagators(c);
  const char *sampler = config_str(c, "OTEL_TRACES_SAMPLER", "parentbased_always_on");
  bool known = false;
  for (size_t i = 0; i < sizeof samplers / sizeof *samplers; i++)
    if (!strcmp(sampler, samplers[i].name)) {
      out->sampler = samplers[i].sampler;
      known = true;
    }
  if (!known)
    config_error(c,
                 "OTEL_TRACES_SAMPLER=%s: use always_on, always_off, traceidratio, "
                 "parentbased_always_on, parentbased_always_off or parentbased_traceidratio",
                 sampler);
  out->ratio = 1.0;
  const char *arg = config_str(c, "OTEL_TRACES_SAMPLER_ARG", "1.0");
  if (arg && *arg &&
      (out->sampler == TRACE_SAMPLER_RATIO || out->sampler == TRACE_SAMPLER_PARENT_RATIO)) {
    char *end;
    double r = strtod(arg, &end);
    if (*end || !(r >= 0.0 && r <= 1.0))
      config_error(c, "OTEL_TRACES_SAMPLER_ARG=%s: a ratio in [0, 1]", arg);
    else
      out->ratio = r;
  }

  out->max_queue = (int)config_int(c, "OTEL_BSP_MAX_QUEUE_SIZE", 2048, 1, 1000000);
  out->max_batch = (int)config_int(c, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512, 1, 1000000);
  if (out->max_batch > out->max_queue) out->max_batch = out->max_queue; /* as the spec says */
  out->schedule_delay_ms = config_int(c, "OTEL_BSP_SCHEDULE_DELAY", 5000, 1, 3600000);
  out->export_timeout_ms = config_int(c, "OTEL_BSP_EXPORT_TIMEOUT", 30000, 1, 3600000);
  const char *otlp_timeout =
      env_either(c, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT", "10000");
  int64_t request_timeout = 10000;
  if (otlp_timeout && !c->listing) {
    char *end;
    long long v = strtoll(otlp_timeout, &end, 10);
    if (*end || v < 1 || v > 3600000)
      config_error(c, "OTEL_EXPORTER_OTLP_TIMEOUT=%s: milliseconds in [1, 3600000]", otlp_timeout);
    else
      request_timeout = v;
  }
  if (request_timeout < out->export_timeout_ms) out->export_timeout_ms = request_timeout;

  const char *headers = config_str(c, "OTEL_EXPORTER_OTLP_HEADERS", NULL);
  if (headers) parse_pairs(c, "OTEL_EXPORTER_OTLP_HEADERS", headers, add_header, out);
  const char *theaders = config_str(c, "OTEL_EXPORTER_OTLP_TRACES_HEADERS", NULL);
  if (theaders) parse_pairs(c, "OTEL_EXPORTER_OTLP_TRACES_HEADERS", theaders, add_header, out);

  snprintf(out->service_name, sizeof out->service_name, "%s", default_service);
  const char *res = config_str(c, "OTEL_RESOURCE_ATTRIBUTES", NULL);
  if (res) parse_pairs(c, "OTEL_RESOURCE_ATTRIBUTES", res, add_resource, out);
  const char *svc = config_str(c, "OTEL_SERVICE_NAME", NULL);
  if (svc) snprintf(out->service_name, sizeof out->service_name, "%s", svc);
}

void trace_config_free(trace_config *cfg) {
  for (int i = 0; i < cfg->n_headers; i++) free(cfg->headers[i]);
  for (int i = 0; i < cfg->n_resource; i++) {
    free(cfg->resource[i][0]);
    free(cfg->resource[i][1]);
  }
  cfg->n_headers = cfg->n_resource = 0;
}
