/* Latency and status bookkeeping of one load run: every finished call is one sample (status
 * code, latency in nanoseconds), kept up to a fixed capacity, then summarised as JSON with
 * nearest-rank percentiles at microsecond precision, overall, for OK calls and per code.
 * Not thread-safe: the run loop owns it. */
#ifndef LOADGEN_STATS_H
#define LOADGEN_STATS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* gRPC codes are 0..16; the loadgen adds one of its own for "OK without a response message". */
#define LG_CODE_BAD_RESPONSE 17
#define LG_CODE_COUNT 18

typedef struct lg_stats lg_stats;

/* NULL when out of memory. Caller frees with lg_stats_destroy. `cap`: samples kept (calls past
 * it are still counted per code, but no longer in percentiles; reported as "samples_dropped"). */
lg_stats *lg_stats_create(size_t cap);
void lg_stats_destroy(lg_stats *s);

void lg_stats_add(lg_stats *s, int code, int64_t latency_ns);
uint64_t lg_stats_calls(const lg_stats *s);
uint64_t lg_stats_count(const lg_stats *s, int code);

/* Name of a code as gRPC spells it ("OK", "RESOURCE_EXHAUSTED", ...). Static string. */
const char *lg_code_name(int code);

/* {"calls", "ok", "errors", "codes": {NAME: n}, "throughput_rps", "ok_rps",
 *  "latency_us": {...}, "ok_latency_us": {...}, "error_latency_us": {NAME: {...}}}
 * where each latency object is {"n","mean","p50","p90","p99","p999","max"} in microseconds.
 * Sorts the samples in place. New reference: caller json_decref's. */
json_t *lg_stats_to_json(lg_stats *s, double elapsed_s);

#endif
