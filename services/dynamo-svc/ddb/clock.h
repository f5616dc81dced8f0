/* Monotonic milliseconds: every deadline in the DynamoDB client is an absolute value of this
 * clock (so wall-clock jumps never shorten or stretch a wait). */
#ifndef DDB_CLOCK_H
#define DDB_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t ddb_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The deadline `ms` milliseconds from now. */
static inline int64_t ddb_deadline_in(int64_t ms) { return ddb_now_ms() + (ms < 0 ? 0 : ms); }

#endif
