/* prng_u64: splitmix64 per thread; a few nanoseconds where RAND_bytes takes a lock and a
 * microsecond. */
#include "common/prng.h"

#include <stdbool.h>
#include <sys/random.h>
#include <time.h>

uint64_t prng_u64(void) {
  static __thread uint64_t state;
  static __thread bool seeded;
  if (!seeded) {
    if (getrandom(&state, sizeof state, 0) != sizeof state) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      state = (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)&state;
    }
    seeded = true;
  }
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
