/* Exponential backoff with jitter ("Exponential Backoff And Jitter", as the AWS SDKs and the
 * OTLP exporters retry): the ceiling of retry n (1-based) doubles from a base up to a cap, and
 * the wait is drawn below it from a 32-bit random number, so that clients that failed together
 * do not come back together. Pure functions; any thread. */
#ifndef MENU_BACKOFF_H
#define MENU_BACKOFF_H

#include <stdint.h>

/* base_ms * 2^(attempt - 1), at most cap_ms (attempt below 1 counts as 1). */
static inline int64_t backoff_ceiling_ms(int attempt, int64_t base_ms, int64_t cap_ms) {
  int64_t ceiling = base_ms;
  for (int i = 1; i < attempt && ceiling < cap_ms; i++) ceiling *= 2;
  return ceiling > cap_ms ? cap_ms : ceiling;
}

/* Uniform in [lo, hi] from rnd (hi >= lo). */
static inline int64_t backoff_draw_ms(int64_t lo, int64_t hi, uint32_t rnd) {
  return lo + (int64_t)(((uint64_t)rnd * (uint64_t)(hi - lo + 1)) >> 32);
}

/* Full jitter: uniform in [0, ceiling]; 0 when the ceiling is not positive. */
static inline int64_t backoff_full_jitter_ms(int64_t ceiling_ms, uint32_t rnd) {
  return ceiling_ms <= 0 ? 0 : backoff_draw_ms(0, ceiling_ms, rnd);
}

/* Equal jitter: uniform in [ceiling / 2, ceiling], never an immediate retry. */
static inline int64_t backoff_equal_jitter_ms(int64_t ceiling_ms, uint32_t rnd) {
  return backoff_draw_ms(ceiling_ms / 2, ceiling_ms, rnd);
}

#endif
