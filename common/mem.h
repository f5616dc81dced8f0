/* Allocation that never fails quietly: out of memory aborts (a process that cannot allocate a
 * few bytes for its own bookkeeping cannot serve anyway). For long-lived state built at
 * start-up or on reload; per-call memory comes from the call's arena. Thread-safe. */
#ifndef MENU_MEM_H
#define MENU_MEM_H

/* A copy of s. Caller frees. */
char *mem_strdup(const char *s);

#endif
