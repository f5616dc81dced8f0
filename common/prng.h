/* Fast non-cryptographic random numbers for identifiers that must be unique, not secret
 * (request ids, trace and span ids) and retry jitter: a per-thread splitmix64 seeded from the
 * kernel once. Thread-safe (each thread has its own state). */
#ifndef MENU_PRNG_H
#define MENU_PRNG_H

#include <stdint.h>

uint64_t prng_u64(void);

#endif
