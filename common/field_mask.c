/* update_mask paths to bits. */
#include "common/field_mask.h"

#include <stdio.h>
#include <string.h>

menu_status field_mask_bits(const Google__Protobuf__FieldMask *mask, const char *const *allowed,
                            unsigned when_absent, unsigned *bits) {
  *bits = 0;
  if (!mask || !mask->n_paths) {
    *bits = when_absent;
    return MENU_OK;
  }
  unsigned all = 0;
  for (unsigned i = 0; allowed[i]; i++) all |= 1u << i;
  menu_status st = MENU_OK;
  for (size_t k = 0; k < mask->n_paths; k++) {
    const char *p = mask->paths[k] ? mask->paths[k] : "";
    char field[48];
    snprintf(field, sizeof field, "update_mask.paths[%zu]", k);
    if (!strcmp(p, "*")) {
      if (mask->n_paths > 1)
        menu_status_add_violation(&st, field, "\"*\" replaces every field: send it alone");
      *bits = all;
      continue;
    }
    unsigned bit = 0;
    for (unsigned i = 0; allowed[i]; i++)
      if (!strcmp(p, allowed[i])) bit = 1u << i;
    if (!bit) {
      char known[160] = "";
      for (unsigned i = 0; allowed[i]; i++) {
        size_t n = strlen(known);
        snprintf(known + n, sizeof known - n, "%s%s", i ? ", " : "", allowed[i]);
      }
      menu_status_add_violation(&st, field, "unknown path \"%.60s\" (known: %s, or \"*\")", p,
                                known);
    } else if (*bits & bit) {
      menu_status_add_violation(&st, field, "\"%.60s\" is listed twice", p);
    }
    *bits |= bit;
  }
  if (!menu_status_is_ok(&st)) *bits = 0;
  return st;
}
