/* Relay paging validation. */
#include "common/page.h"

#include <stddef.h>

static bool set(const char *s) { return s && *s; }

menu_status page_params_parse(int32_t first, const char *after, int32_t last, const char *before,
                              int def, int max, page_params *out) {
  if (first < 0) return MENU_INVALID("page.first: must not be negative");
  if (last < 0) return MENU_INVALID("page.last: must not be negative");
  if (first && last) return MENU_INVALID("page.first and page.last: set at most one of them");
  if (set(after) && set(before))
    return MENU_INVALID("page.after and page.before: set at most one of them");
  if (first && set(before))
    return MENU_INVALID("page.before: pages backward, use it with page.last, not page.first");
  if (last && set(after))
    return MENU_INVALID("page.after: pages forward, use it with page.first, not page.last");
  out->forward = !(last || set(before));
  int n = out->forward ? first : last;
  if (n == 0) n = def;
  if (n > max) n = max;
  out->limit = n;
  out->cursor = out->forward ? (set(after) ? after : NULL) : (set(before) ? before : NULL);
  out->cursor_field = out->forward ? "page.after" : "page.before";
  return MENU_OK;
}

void page_flags(const page_params *p, int fetched, bool *has_next, bool *has_previous) {
  bool more = fetched > p->limit;
  if (p->forward) {
    *has_next = more;
    *has_previous = p->cursor != NULL;
  } else {
    *has_previous = more;
    *has_next = p->cursor != NULL;
  }
}
