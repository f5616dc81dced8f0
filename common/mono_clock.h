/* The monotonic clock in milliseconds, for deadlines and background threads' waits: wall-clock
 * jumps never shorten or stretch them. Every timed wait in the code base uses this clock. */
#ifndef MENU_MONO_CLOCK_H
#define MENU_MONO_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds of CLOCK_MONOTONIC (the same clock as gpr's GPR_CLOCK_MONOTONIC). */
static inline int64_t mono_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The absolute timespec of the monotonic instant at_ms, for pthread_cond_timedwait on a
 * condition variable made by mono_cond_init. */
static inline struct timespec mono_timespec(int64_t at_ms) {
  return (struct timespec){.tv_sec = at_ms / 1000, .tv_nsec = (at_ms % 1000) * 1000000};
}

/* Initialises c so that its timed waits use CLOCK_MONOTONIC. */
void mono_cond_init(pthread_cond_t *c);

#endif
