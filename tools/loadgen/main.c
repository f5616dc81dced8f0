/* loadgen: a bounded gRPC load generator for the menu services (loopback only). Parses the
 * options, discovers what the mix needs, runs the loop and prints one JSON object.
 *   loadgen --target 127.0.0.1:50051 --method store-menu --concurrency 32 --duration 10
 *   loadgen --target 127.0.0.1:50052 --method get-category --rate 2000 --count 20000
 * See tools/loadgen/README.md. */
#include <getopt.h>
#include <grpc/grpc.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/loadgen/delivery.h"
#include "tools/loadgen/mix.h"
#include "tools/loadgen/run.h"
#include "tools/loadgen/stats.h"
#include "tools/loadgen/watch.h"

#define MAX_SAMPLES 5000000
#define MAX_DURATION_S 600.0

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: loadgen --target 127.0.0.1:PORT --method M (--concurrency N | --rate R)\n"
      "               (--duration S | --count N) [options]\n"
      "methods: health get-category list-categories batch-ghost-swaps list-availabilities\n"
      "         store-menu watch\n"
      "  --concurrency N   closed loop: N calls in flight\n"
      "  --rate R          open loop: R calls/s on a fixed schedule (latency from the schedule)\n"
      "  --duration S      stop issuing after S seconds (at most %.0f)\n"
      "  --count N         stop issuing after N calls (default: no count bound)\n"
      "  --connections N   TCP connections (default min(concurrency, 4); open loop 4)\n"
      "  --max-inflight N  open loop: client-side bound on calls in flight (default 4096)\n"
      "  --deadline-ms N   per-call deadline (default 5000)\n"
      "  --stores N        stores <prefix>00001..N (default 2000); --store-prefix S (\"S\"),\n"
      "                    --store-digits N (5): S00001; demo data: --store-prefix R "
      "--store-digits 3\n"
      "  --products N      product codes P<base>..P<base+N-1> (default 5000; base 1000,\n"
      "                    --product-base)\n"
      "  --page N          page.first of list calls (default 16)\n"
      "  --follow P        probability of following a returned cursor (default 0.5)\n"
      "  --swap-codes N    codes per BatchGetGhostSwaps (default 20)\n"
      "  --channel N       1..5 (default: every call picks one)\n"
      "  --health-service NAME  Health/Check's service (default \"\")\n"
      "  --seed N          mix random seed (default 1)\n"
      "  --zipf S          store popularity Zipf-like with exponent S (default 0: uniform)\n"
      "  --if-none-match   store-menu: send back the etag last answered for the store\n"
      "  --stores-from 127.0.0.1:PORT  store-menu, list-availabilities: ask sql-svc which\n"
      "                    stores sell on each channel and name only those\n"
      "  --label TEXT      copied into the JSON\n"
      "watch (WatchStoreMenu streams; --duration bounds the run; --channel default 1):\n"
      "  --watchers N      streams (default 100), round-robin over --connections\n"
      "                    (default one per 100 streams, at most 64)\n"
      "  --watch-stores N  distinct stores (default 100): the first N of --stores with a\n"
      "                    menu on the channel (probed with GetStoreMenu first)\n"
      "  --writes FILE     the writer's \"START_US ACK_US\" lines, read at the end\n"
      "  --ready-file F    created when every watcher has its first message\n"
      "  --done-file F     the writer creates it after its last write; the run stops\n"
      "                    --settle S (default 3) later\n"
      "  --connect-timeout S  the ready file is created by then regardless (default 120)\n",
      MAX_DURATION_S);
}

static int parse_int(const char *s, const char *opt, long lo, long hi, long *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
    fprintf(stderr, "loadgen: %s must be an integer in [%ld, %ld]\n", opt, lo, hi);
    return -1;
  }
  *out = v;
  return 0;
}

static int parse_double(const char *s, const char *opt, double lo, double hi, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (*s == '\0' || *end != '\0' || !(v >= lo && v <= hi)) {
    fprintf(stderr, "loadgen: %s must be a number in [%g, %g]\n", opt, lo, hi);
    return -1;
  }
  *out = v;
  return 0;
}

typedef struct {
  const char *target, *method, *label;
  const char *stores_from; /* sql-svc, for lg_mix_discover_stores; NULL: every store */
  lg_mix_config mix;
  lg_run_config run;
  bool watch;
  lg_watch_config wc;
  const char *writes_file;
} options;

/* Fills *out from argv: -1 when the run may go ahead, else the exit code (0 after --help). */
static int options_parse(int argc, char **argv, options *out) {
  static const struct option opts[] = {
      {"target", 1, 0, 't'},       {"method", 1, 0, 'm'},        {"concurrency", 1, 0, 'c'},
      {"rate", 1, 0, 'r'},         {"duration", 1, 0, 'd'},      {"count", 1, 0, 'n'},
      {"connections", 1, 0, 'k'},  {"max-inflight", 1, 0, 'i'},  {"deadline-ms", 1, 0, 'D'},
      {"stores", 1, 0, 's'},       {"store-prefix", 1, 0, 'S'},  {"products", 1, 0, 'p'},
      {"product-base", 1, 0, 'B'}, {"page", 1, 0, 'P'},          {"follow", 1, 0, 'f'},
      {"swap-codes", 1, 0, 'w'},   {"channel", 1, 0, 'C'},       {"health-service", 1, 0, 'H'},
      {"seed", 1, 0, 'e'},         {"store-digits", 1, 0, 'W'},  {"label", 1, 0, 'l'},
      {"zipf", 1, 0, 'z'},         {"if-none-match", 0, 0, 'I'}, {"watchers", 1, 0, 'N'},
      {"writes", 1, 0, 'F'},       {"watch-stores", 1, 0, 'M'},  {"ready-file", 1, 0, 'R'},
      {"done-file", 1, 0, 'X'},    {"settle", 1, 0, 'T'},        {"connect-timeout", 1, 0, 'O'},
      {"stores-from", 1, 0, 'Q'},  {"help", 0, 0, 'h'},          {0, 0, 0, 0}};
  const char *target = NULL, *method = NULL, *label = "", *stores_from = NULL;
  lg_mix_config mc = {.stores = 2000,
                      .store_prefix = "S",
                      .store_digits = 5,
                      .products = 5000,
                      .product_base = 1000,
                      .page_size = 16,
                      .follow = 0.5,
                      .swap_codes = 20,
                      .health_service = "",
                      .seed = 1};
  lg_run_config rc = {.max_inflight = 4096, .deadline_ms = 5000, .count = UINT64_MAX};
  lg_watch_config wc = {.watchers = 100, .stores = 100, .settle_s = 3, .connect_s = 120};
  const char *writes_file = NULL;
  long v = 0;
  int o, connections = 0;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    int bad = 0;
    switch (o) {
      case 't':
        target = optarg;
        break;
      case 'Q':
        stores_from = optarg;
        break;
      case 'm':
        method = optarg;
        break;
      case 'c':
        bad = parse_int(optarg, "--concurrency", 1, 100000, &v), rc.concurrency = (int)v;
        break;
      case 'r':
        bad = parse_double(optarg, "--rate", 0.001, 1e6, &rc.rate);
        break;
      case 'd':
        bad = parse_double(optarg, "--duration", 0.001, MAX_DURATION_S, &rc.duration_s);
        break;
      case 'n':
        bad = parse_int(optarg, "--count", 1, 1000000000L, &v), rc.count = (uint64_t)v;
        break;
      case 'k':
        bad = parse_int(optarg, "--connections", 1, 64, &v), connections = (int)v;
        break;
      case 'i':
        bad = parse_int(optarg, "--max-inflight", 1, 100000, &v), rc.max_inflight = (int)v;
        break;
      case 'D':
        bad = parse_int(optarg, "--deadline-ms", 1, 600000, &v), rc.deadline_ms = (int)v;
        break;
      case 's':
        bad = parse_int(optarg, "--stores", 1, 99999, &v), mc.stores = (int)v;
        break;
      case 'S':
        mc.store_prefix = optarg;
        break;
      case 'W':
        bad = parse_int(optarg, "--store-digits", 1, 9, &v), mc.store_digits = (int)v;
        break;
      case 'p':
        bad = parse_int(optarg, "--products", 1, 1000000, &v), mc.products = (int)v;
        break;
      case 'B':
        bad = parse_int(optarg, "--product-base", 0, 1000000, &v), mc.product_base = (int)v;
        break;
      case 'P':
        bad = parse_int(optarg, "--page", 0, 1000, &v), mc.page_size = (int)v;
        break;
      case 'f':
        bad = parse_double(optarg, "--follow", 0, 1, &mc.follow);
        break;
      case 'w':
        bad = parse_int(optarg, "--swap-codes", 1, 128, &v), mc.swap_codes = (int)v;
        break;
      case 'C':
        bad = parse_int(optarg, "--channel", 0, 5, &v), mc.channel = (int)v;
        break;
      case 'H':
        mc.health_service = optarg;
        break;
      case 'e':
        bad = parse_int(optarg, "--seed", 0, 0x7fffffffL, &v), mc.seed = (uint64_t)v;
        break;
      case 'l':
        label = optarg;
        break;
      case 'z':
        bad = parse_double(optarg, "--zipf", 0, 10, &mc.zipf);
        break;
      case 'I':
        mc.if_none_match = true;
        break;
      case 'N':
        bad = parse_int(optarg, "--watchers", 1, 100000, &v), wc.watchers = (int)v;
        break;
      case 'M':
        bad = parse_int(optarg, "--watch-stores", 1, 99999, &v), wc.stores = (int)v;
        break;
      case 'F':
        writes_file = optarg;
        break;
      case 'R':
        wc.ready_file = optarg;
        break;
      case 'X':
        wc.done_file = optarg;
        break;
      case 'T':
        bad = parse_double(optarg, "--settle", 0, 60, &wc.settle_s);
        break;
      case 'O':
        bad = parse_double(optarg, "--connect-timeout", 0, MAX_DURATION_S, &wc.connect_s);
        break;
      case 'h':
        usage(stdout);
        return 0;
      default:
        usage(stderr);
        return 2;
    }
    if (bad) return 2;
  }
  if (!target || !method || optind != argc) {
    usage(stderr);
    return 2;
  }
  /* Load (and discovery) only ever goes to this machine's loopback. */
  if (strncmp(target, "127.0.0.1:", 10) != 0 || strlen(target) < 11) {
    fprintf(stderr, "loadgen: --target must be 127.0.0.1:PORT\n");
    return 2;
  }
  if (stores_from && (strncmp(stores_from, "127.0.0.1:", 10) != 0 || strlen(stores_from) < 11)) {
    fprintf(stderr, "loadgen: --stores-from must be 127.0.0.1:PORT\n");
    return 2;
  }
  if (strcmp(method, "watch") == 0) {
    if (rc.duration_s <= 0) {
      fprintf(stderr, "loadgen: watch needs --duration (every run is bounded)\n");
      return 2;
    }
    if (wc.stores > wc.watchers) wc.stores = wc.watchers;
    wc.scan = mc.stores;
    wc.store_prefix = mc.store_prefix;
    wc.store_digits = mc.store_digits;
    wc.channel = mc.channel ? mc.channel : 1;
    wc.duration_s = rc.duration_s;
    rc.connections = connections ? connections : (wc.watchers + 99) / 100;
    if (rc.connections > 64) rc.connections = 64;
    rc.target = target;
    *out = (options){.target = target,
                     .method = method,
                     .label = label,
                     .mix = mc,
                     .run = rc,
                     .watch = true,
                     .wc = wc,
                     .writes_file = writes_file};
    return -1;
  }
  if (!lg_method_parse(method, &mc.method)) {
    fprintf(stderr, "loadgen: unknown --method %s\n", method);
    return 2;
  }
  if ((rc.rate > 0) == (rc.concurrency > 0)) {
    fprintf(stderr, "loadgen: give exactly one of --concurrency and --rate\n");
    return 2;
  }
  if (rc.duration_s <= 0 && rc.count == UINT64_MAX) {
    fprintf(stderr, "loadgen: give --duration or --count (every run is bounded)\n");
    return 2;
  }
  if (rc.duration_s <= 0) rc.duration_s = MAX_DURATION_S;
  rc.connections = connections ? connections
                               : (rc.rate > 0          ? 4
                                  : rc.concurrency < 4 ? rc.concurrency
                                                       : 4);
  rc.target = target;
  *out = (options){.target = target,
                   .method = method,
                   .label = label,
                   .stores_from = stores_from,
                   .mix = mc,
                   .run = rc};
  return -1;
}

/* --stores-from: which stores sell on which channel, from sql-svc; false (said) on failure. */
static bool discover_stores(lg_mix *mix, const char *addr) {
  lg_client *sq = lg_client_create(addr, 1);
  size_t pairs = sq ? lg_mix_discover_stores(mix, lg_client_call, sq) : 0;
  lg_client_destroy(sq);
  if (pairs == 0)
    fprintf(stderr,
            "loadgen: --stores-from %s: ListRestaurants failed, or a channel has none of the "
            "mix's stores\n",
            addr);
  return pairs > 0;
}

/* --method watch: the streams, then the delivery of the writer's writes; prints the JSON. */
static int watch_main(const options *opt) {
  int rcode = 1;
  lg_write *writes = NULL;
  long nwrites = 0;
  lg_watch_result res = {0};
  lg_stats *st = lg_stats_create(MAX_SAMPLES);
  lg_client *cl = st ? lg_client_create(opt->target, opt->run.connections) : NULL;
  if (!cl) goto out;
  if (lg_watch_run(cl, &opt->wc, &res) != 0) {
    fprintf(stderr, "loadgen: out of memory\n");
    goto out;
  }
  if (opt->writes_file && (nwrites = lg_writes_read(opt->writes_file, &writes)) < 0) {
    fprintf(stderr, "loadgen: cannot read --writes %s\n", opt->writes_file);
    goto out;
  }
  lg_delivery_counts dc;
  lg_delivery_compute(writes, (size_t)nwrites, res.logs, res.nlogs, res.end_us, st, &dc);
  json_t *sum = lg_stats_to_json(st, res.elapsed_s);
  json_t *codes = json_object();
  for (int i = 0; i < LG_CODE_COUNT; i++)
    if (res.codes[i])
      json_object_set_new(codes, lg_code_name(i), json_integer((json_int_t)res.codes[i]));
  json_t *out = json_pack(
      "{s:s,s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:f,s:I,s:f,s:I,s:I,s:I,s:o,s:I,s:I,s:I,s:I,s:I,s:I,"
      "s:O,s:I}",
      "label", opt->label, "target", opt->target, "method", "/menu.v1.MenuService/WatchStoreMenu",
      "mode", "watch", "watchers", opt->wc.watchers, "connections", opt->run.connections, "stores",
      opt->wc.stores < opt->wc.watchers ? opt->wc.stores : opt->wc.watchers, "channel",
      opt->wc.channel, "elapsed_s", res.elapsed_s, "first_messages", (json_int_t)res.first_messages,
      "all_connected_s", res.all_connected_s, "messages", (json_int_t)res.messages, "changes",
      (json_int_t)res.changes, "ended_early", (json_int_t)res.ended_early, "ended_codes", codes,
      "refused", (json_int_t)res.refused, "writes", (json_int_t)nwrites, "expected",
      (json_int_t)dc.expected, "delivered", (json_int_t)dc.delivered, "missed",
      (json_int_t)dc.missed, "before_ack", (json_int_t)dc.before_ack, "delivery_us",
      json_object_get(sum, "latency_us"), "samples_dropped",
      (json_int_t)(dc.delivered > MAX_SAMPLES ? dc.delivered - MAX_SAMPLES : 0));
  json_decref(sum);
  if (!out) goto out;
  json_dumpf(out, stdout, JSON_INDENT(1) | JSON_SORT_KEYS | JSON_REAL_PRECISION(10));
  fputc('\n', stdout);
  json_decref(out);
  rcode = 0;
out:
  free(writes);
  lg_watch_result_clear(&res);
  lg_client_destroy(cl);
  lg_stats_destroy(st);
  return rcode;
}

int main(int argc, char **argv) {
  options opt;
  int early = options_parse(argc, argv, &opt);
  if (early >= 0) return early;
  if (opt.watch) {
    grpc_init();
    int r = watch_main(&opt);
    grpc_shutdown();
    return r;
  }
  const char *target = opt.target, *label = opt.label;
  lg_mix_config mc = opt.mix;
  lg_run_config rc = opt.run;

  int rcode = 1;
  grpc_init();
  lg_mix *mix = lg_mix_create(&mc);
  lg_stats *st = lg_stats_create(rc.count < MAX_SAMPLES ? (size_t)rc.count : MAX_SAMPLES);
  lg_client *cl = mix && st ? lg_client_create(target, rc.connections) : NULL;
  if (!cl) goto out;
  if (mc.method == LG_M_GET_CATEGORY &&
      lg_mix_discover_categories(mix, lg_client_call, cl, 10000) == 0)
    fprintf(stderr, "loadgen: no categories found; GetCategory will ask for an unknown id\n");
  if (opt.stores_from && !discover_stores(mix, opt.stores_from)) goto out;
  lg_run_result res;
  if (lg_client_run(cl, &rc, mix, st, &res) != 0) goto out;
  json_t *out = lg_stats_to_json(st, res.elapsed_s);
  if (!out) goto out;
  json_t *meta = json_pack(
      "{s:s,s:s,s:s,s:s,s:i,s:f,s:i,s:f,s:I,s:f,s:I,s:o}", "label", label, "target", target,
      "method", lg_mix_path(mix), "mode", rc.rate > 0 ? "open" : "closed", "concurrency",
      rc.concurrency, "rate", rc.rate, "connections", rc.connections, "elapsed_s", res.elapsed_s,
      "late_starts", (json_int_t)res.late_starts, "max_start_lag_us", res.max_start_lag_us,
      "cancelled_at_end", (json_int_t)res.cancelled_at_end, "mix", lg_mix_to_json(mix));
  json_object_update(out, meta);
  json_decref(meta);
  json_dumpf(out, stdout, JSON_INDENT(1) | JSON_SORT_KEYS | JSON_REAL_PRECISION(10));
  fputc('\n', stdout);
  json_decref(out);
  rcode = 0;
out:
  lg_client_destroy(cl);
  lg_stats_destroy(st);
  lg_mix_destroy(mix);
  grpc_shutdown();
  return rcode;
}
