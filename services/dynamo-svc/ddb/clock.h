/* Every deadline in the DynamoDB client is an absolute value of the monotonic clock
 * (common/mono_clock.h), so wall-clock jumps never shorten or stretch a wait. */
#ifndef DDB_CLOCK_H
#define DDB_CLOCK_H

#include <stdint.h>

#include "common/mono_clock.h"

/* The deadline `ms` milliseconds from now. */
static inline int64_t ddb_deadline_in(int64_t ms) { return mono_now_ms() + (ms < 0 ? 0 : ms); }

#endif
