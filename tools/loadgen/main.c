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

#include "tools/loadgen/mix.h"
#include "tools/loadgen/run.h"
#include "tools/loadgen/stats.h"

#define MAX_SAMPLES 5000000
#define MAX_DURATION_S 600.0

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: loadgen --target 127.0.0.1:PORT --method M (--concurrency N | --rate R)\n"
      "               (--duration S | --count N) [options]\n"
      "methods: health get-category list-categories batch-ghost-swaps list-availabilities\n"
      "         store-menu\n"
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
      "  --label TEXT      copied into the JSON\n",
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
  lg_mix_config mix;
  lg_run_config run;
} options;

/* Fills *out from argv: -1 when the run may go ahead, else the exit code (0 after --help). */
static int options_parse(int argc, char **argv, options *out) {
  static const struct option opts[] = {{"target", 1, 0, 't'},
                                       {"method", 1, 0, 'm'},
                                       {"concurrency", 1, 0, 'c'},
                                       {"rate", 1, 0, 'r'},
                                       {"duration", 1, 0, 'd'},
                                       {"count", 1, 0, 'n'},
                                       {"connections", 1, 0, 'k'},
                                       {"max-inflight", 1, 0, 'i'},
                                       {"deadline-ms", 1, 0, 'D'},
                                       {"stores", 1, 0, 's'},
                                       {"store-prefix", 1, 0, 'S'},
                                       {"products", 1, 0, 'p'},
                                       {"product-base", 1, 0, 'B'},
                                       {"page", 1, 0, 'P'},
                                       {"follow", 1, 0, 'f'},
                                       {"swap-codes", 1, 0, 'w'},
                                       {"channel", 1, 0, 'C'},
                                       {"health-service", 1, 0, 'H'},
                                       {"seed", 1, 0, 'e'},
                                       {"store-digits", 1, 0, 'W'},
                                       {"label", 1, 0, 'l'},
                                       {"zipf", 1, 0, 'z'},
                                       {"if-none-match", 0, 0, 'I'},
                                       {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *target = NULL, *method = NULL, *label = "";
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
  long v = 0;
  int o, connections = 0;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    int bad = 0;
    switch (o) {
      case 't':
        target = optarg;
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
  /* Load only ever goes to this machine's loopback. */
  if (strncmp(target, "127.0.0.1:", 10) != 0 || strlen(target) < 11) {
    fprintf(stderr, "loadgen: --target must be 127.0.0.1:PORT\n");
    return 2;
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
  *out = (options){target, method, label, mc, rc};
  return -1;
}

int main(int argc, char **argv) {
  options opt;
  int early = options_parse(argc, argv, &opt);
  if (early >= 0) return early;
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
