/* Relay paging arguments (first/after, last/before) validated once for every list RPC. */
#ifndef MENU_PAGE_H
#define MENU_PAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/status.h"

#define PAGE_DEFAULT_SIZE 16
#define PAGE_MAX_SIZE 128

typedef struct {
  int limit;                /* 1..PAGE_MAX_SIZE */
  bool forward;             /* false: `last`/`before` paging */
  const char *cursor;       /* the after (forward) or before (backward) cursor; NULL at the ends */
  const char *cursor_field; /* "page.after" or "page.before", for error messages */
} page_params;

/* Negative sizes, first with last, after with before, first with before and last with after
 * are INVALID_ARGUMENT; sizes above max are coerced to max; 0/unset means def. Strings may be
 * NULL or "". The cursor pointer borrows from the arguments. */
menu_status page_params_parse(int32_t first, const char *after, int32_t last, const char *before,
                              int def, int max, page_params *out);

/* Page info flags when `fetched` rows were read with limit+1 (the extra row only says that
 * more exist in the direction of travel; its absence that none do). */
void page_flags(const page_params *p, int fetched, bool *has_next, bool *has_previous);

#endif
