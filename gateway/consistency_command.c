/* `gateway check-consistency CHANNEL`: configuration, a private completion queue drained by
 * the main thread until the check's done callback has run, and the report printed as JSON. */
#include "gateway/consistency_command.h"

#include <ctype.h>
#include <grpc/grpc.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/config.h"
#include "common/log.h"
#include "common/rpc_internal.h"
#include "gateway/backends.h"
#include "gateway/consistency.h"

/* After the check's own deadline the calls have all ended; this is only a backstop. */
#define DRAIN_BACKSTOP_MS 5000

Menu__V1__Channel consistency_channel_parse(const char *name) {
  char upper[64];
  size_t n = strlen(name);
  if (n == 0 || n + sizeof "CHANNEL_" > sizeof upper) return MENU__V1__CHANNEL__CHANNEL_UNSPECIFIED;
  bool prefixed = n > 8 && strncasecmp(name, "CHANNEL_", 8) == 0;
  snprintf(upper, sizeof upper, "%s%s", prefixed ? "" : "CHANNEL_", name);
  for (char *p = upper; *p; p++) *p = (char)toupper((unsigned char)*p);
  const ProtobufCEnumValue *ev =
      protobuf_c_enum_descriptor_get_value_by_name(&menu__v1__channel__descriptor, upper);
  return ev ? (Menu__V1__Channel)ev->value : MENU__V1__CHANNEL__CHANNEL_UNSPECIFIED;
}

static const char *enum_name(const ProtobufCEnumDescriptor *d, int v) {
  const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);
  return ev ? ev->name : "UNKNOWN";
}

char *consistency_report_json(Menu__V1__Channel channel,
                              const Menu__V1__CheckMenuConsistencyResponse *out) {
  json_t *refs = json_array();
  for (size_t i = 0; i < out->n_dangling_references; i++) {
    const Menu__V1__DanglingReference *d = out->dangling_references[i];
    json_array_append_new(
        refs, json_pack("{s:s,s:s,s:s}", "kind",
                        enum_name(&menu__v1__reference_kind__descriptor, (int)d->kind), "entityId",
                        d->entity_id, "productCode", d->product_code));
  }
  json_t *root = json_pack(
      "{s:s,s:b,s:o,s:i,s:i,s:i,s:i,s:i,s:i}", "channel",
      enum_name(&menu__v1__channel__descriptor, (int)channel), "consistent",
      out->n_dangling_references == 0, "danglingReferences", refs, "categoriesScanned",
      (int)out->categories_scanned, "productCollectionsScanned",
      (int)out->product_collections_scanned, "ghostSwapsScanned", (int)out->ghost_swaps_scanned,
      "productCodesReferenced", (int)out->product_codes_referenced, "productsScanned",
      (int)out->products_scanned, "pagesRead", (int)out->pages_read);
  char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(root);
  return s;
}

typedef struct {
  bool ended;
  menu_status status;
} command_state;

static void command_done(menu_status st, const Menu__V1__CheckMenuConsistencyResponse *out,
                         void *user) {
  (void)out; /* the caller's own response object */
  command_state *s = user;
  s->status = st;
  s->ended = true;
}

/* Runs the check on a private queue drained by this thread until the done callback has run. */
static menu_status command_run(const gateway_backends *be, Menu__V1__Channel channel, arena *a,
                               Menu__V1__CheckMenuConsistencyResponse *out) {
  grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
  command_state state = {.ended = false, .status = MENU_OK};
  consistency_check_config cfg = {
      .be = be,
      .cq = cq,
      .deadline = consistency_deadline(NULL, be->consistency_timeout_ms, 0),
      .channel = channel,
      .a = a,
      .out = out,
      .done = command_done,
      .user = &state,
  };
  consistency_check_start(&cfg);
  gpr_timespec backstop =
      gpr_time_add(cfg.deadline, gpr_time_from_millis(DRAIN_BACKSTOP_MS, GPR_TIMESPAN));
  while (!state.ended) {
    grpc_event ev = grpc_completion_queue_next(cq, backstop, NULL);
    if (ev.type != GRPC_OP_COMPLETE) {
      /* Cannot happen while the core honours call deadlines; do not wait on a broken queue. */
      fprintf(stderr, "gateway check-consistency: a backend call did not end; giving up\n");
      exit(CONSISTENCY_EXIT_ERROR);
    }
    rpc_tag *tag = ev.tag;
    tag->fn(tag, ev.success != 0);
  }
  grpc_completion_queue_shutdown(cq);
  while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
         GRPC_QUEUE_SHUTDOWN) {
  }
  grpc_completion_queue_destroy(cq);
  return state.status;
}

static int usage(const char *prog) {
  fprintf(stderr,
          "usage: %s check-consistency CHANNEL\n"
          "  CHANNEL: KIOSK, WEB, APP, DRIVE_THRU or DELIVERY (or CHANNEL_KIOSK, ...)\n"
          "  Lists the product codes the channel's categories, product collections and ghost\n"
          "  swaps reference and sql-svc does not know. Exit status: 0 consistent, 1 dangling\n"
          "  references, 2 error.\n",
          prog);
  return CONSISTENCY_EXIT_ERROR;
}

int consistency_command_main(int argc, char **argv) {
  if (argc != 3) return usage(argv[0]);
  Menu__V1__Channel channel = consistency_channel_parse(argv[2]);
  if (channel == MENU__V1__CHANNEL__CHANNEL_UNSPECIFIED) {
    fprintf(stderr, "%s check-consistency: unknown channel %s\n", argv[0], argv[2]);
    return usage(argv[0]);
  }
  /* The report owns stdout; the JSON log lines (written to fd 1) go to stderr instead. */
  int report_fd = dup(STDOUT_FILENO);
  FILE *report = report_fd >= 0 ? fdopen(report_fd, "w") : NULL;
  if (!report || dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
    perror("check-consistency: stdout");
    return CONSISTENCY_EXIT_ERROR;
  }
  int rc = CONSISTENCY_EXIT_ERROR;
  config cfg = {0};
  const char *level = config_str(&cfg, "LOG_LEVEL", "warn");
  if (!log_init("gateway", level))
    config_error(&cfg, "LOG_LEVEL=%s: use debug, info, warn or error", level);
  gateway_backends_config bc;
  gateway_backends_config_load(&cfg, &bc);
  if (!config_ok(&cfg, "gateway")) goto Done;
  grpc_init();
  gateway_backends *be = gateway_backends_create(&bc, NULL);
  if (be) {
    arena a;
    arena_init(&a);
    Menu__V1__CheckMenuConsistencyResponse out = MENU__V1__CHECK_MENU_CONSISTENCY_RESPONSE__INIT;
    menu_status st = command_run(be, channel, &a, &out);
    if (menu_status_is_ok(&st)) {
      char *json = consistency_report_json(channel, &out);
      fprintf(report, "%s\n", json);
      free(json);
      rc = out.n_dangling_references ? CONSISTENCY_EXIT_DANGLING : CONSISTENCY_EXIT_CONSISTENT;
    } else {
      fprintf(stderr, "%s check-consistency: %s: %s%s%s\n", argv[0], menu_status_code_name(st.code),
              st.message, st.detail[0] ? " — " : "", st.detail);
    }
    arena_free(&a);
    gateway_backends_destroy(be);
  }
  grpc_shutdown();
Done:
  fclose(report);
  log_flush();
  return rc;
}
