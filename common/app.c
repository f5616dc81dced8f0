/* app_main: the shared life of the three binaries. */
#include "common/app.h"

#include <grpc/grpc.h>
#include <grpc/support/log.h>
#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/health.h"
#include "common/log.h"
#include "common/process_metrics.h"
#include "common/log_level_file.h"
#include "common/reflection.h"
#include "common/trace.h"
#include "common/version.h"

/* A failed TLS handshake is the client's problem (plaintext to a TLS port, an unknown CA, a
 * scanner), not the server's: the core reports it at ERROR from the TSI layer, which never
 * sees the socket, so the line cannot carry the peer address (gRPC core 29 / 1.51: the
 * gpr_log hook gets file, line, severity and text only, and the handshake-failure path of
 * the server transport logs nothing with the address). */
static bool is_handshake_failure(const gpr_log_func_args *a) {
  return a->file && strstr(a->file, "ssl_transport_security") && a->message &&
         !strncmp(a->message, "Handshake failed", strlen("Handshake failed"));
}

/* gRPC core's own messages, as JSON lines like ours instead of its text format on stderr. */
static void grpc_log(gpr_log_func_args *a) {
  log_level lvl = a->severity == GPR_LOG_SEVERITY_ERROR  ? LOG_ERROR
                  : a->severity == GPR_LOG_SEVERITY_INFO ? LOG_INFO
                                                         : LOG_DEBUG;
  bool handshake = is_handshake_failure(a);
  if (handshake) lvl = LOG_WARN;
  log_line *l = log_begin(lvl, a->message);
  if (handshake) log_str(l, "event", "tls_handshake_failed");
  log_str(l, "source", "grpc-core");
  log_str(l, "file", a->file);
  log_int(l, "line", a->line);
  log_end(l);
}

typedef struct {
  metrics_family *dropped;
  unsigned long long seen;
} log_metrics;

/* menu_log_lines_dropped_total follows the logger's own count at each scrape. */
static void collect_log(void *arg) {
  log_metrics *lm = arg;
  unsigned long long now = log_dropped_lines();
  if (now > lm->seen) metrics_add(lm->dropped, METRICS_NO_LABELS, (double)(now - lm->seen));
  lm->seen = now;
}

/* The variables every binary reads, in start-up order: the same calls serve the start and the
 * --help listing. */
static void common_config_load(config *c, const app_def *def, rpc_server_config *scfg,
                               log_level_file **level_file, trace_config *tcfg) {
  const char *level = config_str(c, "LOG_LEVEL", "info");
  /* The logger first: the loaders below may log. */
  if (!c->listing && !log_init(def->name, level))
    config_error(c, "LOG_LEVEL=%s: use debug, info, warn or error", level);
  /* Wins over LOG_LEVEL and is followed at run time (a signal cannot change LOG_LEVEL in a
   * running process's environment; a mounted ConfigMap can change a file). */
  const char *level_path = config_str(c, "LOG_LEVEL_FILE", NULL);
  int64_t level_refresh_ms = config_int(c, "LOG_LEVEL_REFRESH_MS", 1000, 50, 3600000);
  if (level_path && !c->listing) {
    char *err = NULL;
    *level_file = log_level_file_start(level_path, level_refresh_ms, &err);
    if (!*level_file) config_error(c, "LOG_LEVEL_FILE=%s: %s", level_path, err ? err : "?");
    free(err);
  }
  rpc_server_config_load(c, scfg, def->name, def->default_listen, def->default_metrics);
  trace_config_load(c, tcfg, def->name);
}

typedef struct {
  metrics_family *level;
} level_metrics;

/* menu_log_level{level}: 1 for the level in force, 0 for the others. */
static void collect_level(void *arg) {
  level_metrics *m = arg;
  log_level now = log_level_get();
  for (int i = LOG_DEBUG; i <= LOG_ERROR; i++)
    metrics_set(m->level, METRICS_LABELS(log_level_name((log_level)i)), i == (int)now);
}

static void usage_print(const app_def *def, FILE *out) {
  fprintf(out, "usage: %s                serve gRPC (configured by the environment)\n", def->name);
  fprintf(out, "       %s --version      print the version and git revision\n", def->name);
  fprintf(out, "       %s --help         this text and every environment variable\n", def->name);
  if (def->commands_usage) fputs(def->commands_usage, out);
}

static void help_print(const app_def *def) {
  usage_print(def, stdout);
  config listing = {.listing = true};
  rpc_server_config scfg;
  log_level_file *level_file = NULL;
  trace_config tcfg;
  common_config_load(&listing, def, &scfg, &level_file, &tcfg);
  trace_config_free(&tcfg);
  if (def->config_load) def->config_load(&listing);
  printf("\nEnvironment (default; README.md, \"Configuration\"):\n");
  config_vars_print(&listing, stdout);
}

/* --version, --help, a subcommand, or 2 for anything else; -1: no argument, serve. */
static int args_handle(const app_def *def, int argc, char **argv) {
  if (argc < 2) return -1;
  if (argc == 2 && !strcmp(argv[1], "--version")) {
    printf("%s %s (%s)\n", def->name, menu_version(), menu_git_revision());
    return 0;
  }
  if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    help_print(def);
    return 0;
  }
  if (def->command && argv[1][0] != '-') {
    int rc = def->command(argc, argv);
    if (rc != APP_NOT_A_COMMAND) return rc;
  }
  fprintf(stderr, "%s: unknown argument '%s'\n", def->name, argv[1]);
  usage_print(def, stderr);
  return 2;
}

int app_main(const app_def *def, int argc, char **argv) {
  int args_rc = args_handle(def, argc, argv);
  if (args_rc >= 0) return args_rc;
  rpc_server_block_signals(); /* before any thread: sigwait in main gets SIGTERM/SIGINT */
  /* Large request buffers are mapped and unmapped, never kept in a thread's heap: a fixed
   * threshold turns off glibc's growing one, which after a burst of 4 MB requests would keep
   * 100 MB resident for good. */
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  config cfg = {0}; /* outlives the server: scfg borrows its strings */
  rpc_server_config scfg;
  log_level_file *level_file = NULL;
  trace_config tcfg;
  common_config_load(&cfg, def, &scfg, &level_file, &tcfg);

  gpr_set_log_function(grpc_log);
  grpc_init();
  metrics_registry *metrics = metrics_registry_create();
  log_metrics lm = {metrics_counter(metrics, "menu_log_lines_dropped_total",
                                    "Log lines dropped because the log ring was full (stdout "
                                    "slower than the service).",
                                    METRICS_NO_LABELS),
                    0};
  metrics_add(lm.dropped, METRICS_NO_LABELS, 0); /* the series exists from the start */
  metrics_on_collect(metrics, collect_log, &lm);
  process_metrics pm;
  process_metrics_register(&pm, metrics);
  metrics_set(metrics_gauge(metrics, "menu_build_info",
                            "Always 1: the version, git revision and name of the binary.",
                            METRICS_LABELS("version", "revision", "service")),
              METRICS_LABELS(menu_version(), menu_git_revision(), def->name), 1);
  level_metrics levm = {metrics_gauge(metrics, "menu_log_level",
                                      "1 for the log level in force (LOG_LEVEL, or LOG_LEVEL_FILE "
                                      "at run time), 0 for the others.",
                                      METRICS_LABELS("level"))};
  metrics_on_collect(metrics, collect_level, &levm);
  rpc_server *server = rpc_server_create(&scfg, metrics);
  tracer *tracer = cfg.n_errors ? NULL : tracer_create(&tcfg, metrics);
  trace_config_free(&tcfg);
  rpc_server_set_tracer(server, tracer);
  health *health = health_attach(server);
  reflection *reflection = reflection_attach(server);
  int rc = 0;
  void *state = def->init(&cfg, server);
  if (!config_ok(&cfg, def->name)) {
    rc = 2;
  } else if (!state) {
    log_error("start-up failed", NULL);
    rc = 1;
  } else if (!health || !reflection || rpc_server_start(server) != 0) {
    log_error("server failed to start", NULL);
    rc = 1;
  } else {
    rpc_server_wait_for_signal(server);
  }
  gpr_timespec stop_began = gpr_now(GPR_CLOCK_MONOTONIC);
  if (rpc_server_shutdown(server) != 0) {
    /* Handlers are stuck in a datastore call: exit now, with them still running. */
    tracer_shutdown(tracer, 1000);
    log_flush();
    fflush(NULL);
    _exit(rc);
  }
  /* The spans of the last calls leave within what is left of the grace period (at least
   * half a second). */
  int64_t spent = gpr_time_to_millis(gpr_time_sub(gpr_now(GPR_CLOCK_MONOTONIC), stop_began));
  int64_t left = scfg.shutdown_drain_ms + scfg.shutdown_grace_ms - spent;
  tracer_shutdown(tracer, left > 500 ? left : 500);
  if (state && def->fini) def->fini(state);
  rpc_server_destroy(server);
  health_destroy(health);
  reflection_destroy(reflection);
  tracer_destroy(tracer);
  metrics_registry_destroy(metrics);
  log_level_file_stop(level_file);
  grpc_shutdown();
  return rc;
}
