/* Delivery latency of a watch run: which message at which watcher delivered which write, from
 * the writes' start and acknowledgement times and each watcher's receipt times of messages
 * carrying a new etag (all CLOCK_REALTIME microseconds). Pure computation, no I/O besides
 * lg_writes_read. Not thread-safe: one caller at a time per lg_stats. */
#ifndef LOADGEN_DELIVERY_H
#define LOADGEN_DELIVERY_H

#include <stddef.h>
#include <stdint.h>

#include "tools/loadgen/stats.h"

typedef struct {
  int64_t start_us; /* the write request was sent */
  int64_t ack_us;   /* its OK answer arrived */
} lg_write;

typedef struct {
  int64_t first_us;       /* receipt of the first message; 0 when none came */
  const int64_t *changes; /* receipt of each later message with a new etag, ascending; borrowed */
  size_t n;
} lg_watcher_log;

typedef struct {
  uint64_t expected;   /* (write, watcher) pairs where the watcher was there before the write */
  uint64_t delivered;  /* ... and a new etag arrived before the next write started */
  uint64_t missed;     /* ... and none did */
  uint64_t before_ack; /* delivered before the writer saw the acknowledgement (latency 0) */
} lg_delivery_counts;

/* Write k (writes ascending by start) is delivered to a watcher whose first message came
 * before write k started by the first new etag received in [start_k, start_k+1) (the last
 * write: up to end_us). Each delivery's receipt minus ack_k (0 when negative) goes into `st`
 * as an OK sample; a pair with no new etag in its window counts as missed. */
void lg_delivery_compute(const lg_write *writes, size_t nwrites, const lg_watcher_log *logs,
                         size_t nlogs, int64_t end_us, lg_stats *st, lg_delivery_counts *out);

/* Reads "START_US ACK_US" lines (the watch writer's file) into *out (caller frees). Returns the
 * number of writes, or -1 when the file cannot be read or a line is malformed. */
long lg_writes_read(const char *path, lg_write **out);

#endif
