/* Request-field checks every service applies, as gRPC statuses naming the field (INVALID_ARGUMENT
 * with a BadRequest violation per bad field). Built on the pure predicates of common/validate. */
#ifndef MENU_FIELD_CHECK_H
#define MENU_FIELD_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "common/status.h"

/* A required code (store, product, category id...): "<field>: required" or "must match". */
menu_status field_check_code(const char *code, const char *field);

/* An ordered list of at most `max` codes named "<field>[i]": every bad code is reported, not
 * only the first; with `unique`, a code listed twice is "<field>[j]: X is also <field>[i]". */
menu_status field_check_code_list(char *const *codes, size_t n, size_t max, const char *field,
                                  bool unique);

#endif
