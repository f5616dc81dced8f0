/* Samples of a load run and their summary (see stats.h). */
#include "tools/loadgen/stats.h"

#include <stdlib.h>

#include "common/status.h"

typedef struct {
  uint64_t latency_ns;
  int code;
} lg_sample;

struct lg_stats {
  lg_sample *samples;
  size_t n, cap;
  uint64_t per_code[LG_CODE_COUNT];
  uint64_t calls, dropped;
};

/* gRPC's codes as the servers' metrics spell them, plus loadgen's own "OK without a message". */
const char *lg_code_name(int code) {
  if (code == LG_CODE_BAD_RESPONSE) return "OK_WITHOUT_MESSAGE";
  return code >= 0 && code < LG_CODE_COUNT ? menu_status_code_name((grpc_status_code)code)
                                           : "UNKNOWN";
}

lg_stats *lg_stats_create(size_t cap) {
  lg_stats *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->samples = malloc((cap ? cap : 1) * sizeof *s->samples);
  if (!s->samples) {
    free(s);
    return NULL;
  }
  s->cap = cap;
  return s;
}

void lg_stats_destroy(lg_stats *s) {
  if (!s) return;
  free(s->samples);
  free(s);
}

void lg_stats_add(lg_stats *s, int code, int64_t latency_ns) {
  if (code < 0 || code >= LG_CODE_COUNT) code = 2; /* UNKNOWN */
  s->calls++;
  s->per_code[code]++;
  if (s->n == s->cap) {
    s->dropped++;
    return;
  }
  s->samples[s->n++] = (lg_sample){latency_ns < 0 ? 0 : (uint64_t)latency_ns, code};
}

uint64_t lg_stats_calls(const lg_stats *s) { return s->calls; }

uint64_t lg_stats_count(const lg_stats *s, int code) {
  return code >= 0 && code < LG_CODE_COUNT ? s->per_code[code] : 0;
}

/* By code first, then latency: each code's samples are then one sorted run. */
static int sample_cmp(const void *a, const void *b) {
  const lg_sample *x = a, *y = b;
  if (x->code != y->code) return x->code < y->code ? -1 : 1;
  return x->latency_ns < y->latency_ns ? -1 : x->latency_ns > y->latency_ns;
}

static int u64_cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least q of the samples at or below it. */
static double rank_us(const uint64_t *v, size_t n, double q) {
  size_t k = (size_t)(q * (double)n + 0.999999);
  if (k < 1) k = 1;
  if (k > n) k = n;
  return (double)v[k - 1] / 1000.0;
}

/* Summary of sorted latencies (ns). */
static json_t *latency_json(const uint64_t *v, size_t n) {
  if (n == 0) return json_pack("{s:i}", "n", 0);
  double sum = 0;
  for (size_t i = 0; i < n; i++) sum += (double)v[i];
  return json_pack("{s:I,s:f,s:f,s:f,s:f,s:f,s:f}", "n", (json_int_t)n, "mean",
                   sum / (double)n / 1000.0, "p50", rank_us(v, n, 0.50), "p90", rank_us(v, n, 0.90),
                   "p99", rank_us(v, n, 0.99), "p999", rank_us(v, n, 0.999), "max",
                   (double)v[n - 1] / 1000.0);
}

json_t *lg_stats_to_json(lg_stats *s, double elapsed_s) {
  uint64_t *all = malloc((s->n ? s->n : 1) * sizeof *all);
  if (!all) return NULL;
  qsort(s->samples, s->n, sizeof *s->samples, sample_cmp);
  json_t *codes = json_object(), *errs = json_object();
  for (int c = 0; c < LG_CODE_COUNT; c++)
    if (s->per_code[c])
      json_object_set_new(codes, lg_code_name(c), json_integer((json_int_t)s->per_code[c]));
  json_t *ok_lat = NULL;
  for (size_t i = 0; i < s->n;) {
    size_t j = i;
    while (j < s->n && s->samples[j].code == s->samples[i].code) {
      all[j] = s->samples[j].latency_ns;
      j++;
    }
    json_t *l = latency_json(all + i, j - i);
    if (s->samples[i].code == 0)
      ok_lat = l;
    else
      json_object_set_new(errs, lg_code_name(s->samples[i].code), l);
    i = j;
  }
  if (!ok_lat) ok_lat = latency_json(all, 0);
  qsort(all, s->n, sizeof *all, u64_cmp);
  uint64_t ok = s->per_code[0];
  double secs = elapsed_s > 0 ? elapsed_s : 1e-9;
  json_t *out =
      json_pack("{s:I,s:I,s:I,s:I,s:o,s:f,s:f,s:o,s:o,s:o}", "calls", (json_int_t)s->calls, "ok",
                (json_int_t)ok, "errors", (json_int_t)(s->calls - ok), "samples_dropped",
                (json_int_t)s->dropped, "codes", codes, "throughput_rps", (double)s->calls / secs,
                "ok_rps", (double)ok / secs, "latency_us", latency_json(all, s->n), "ok_latency_us",
                ok_lat, "error_latency_us", errs);
  free(all);
  return out;
}
