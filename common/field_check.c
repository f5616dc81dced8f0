#include "common/field_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/validate.h"

menu_status field_check_code(const char *code, const char *field) {
  if (!code || !*code) return MENU_INVALID("%s: required", field);
  if (!validate_code(code)) return MENU_INVALID("%s: must match " VALIDATE_CODE_PATTERN, field);
  return MENU_OK;
}

/* Orders indices by code, equal codes by index (qsort_r context: the codes). */
static int by_code_then_index(const void *a, const void *b, void *codes) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  int c = strcmp(((char *const *)codes)[x], ((char *const *)codes)[y]);
  return c ? c : (x > y) - (x < y);
}

menu_status field_check_code_list(char *const *codes, size_t n, size_t max, const char *field,
                                  bool unique) {
  if (n > max) return MENU_INVALID("%s: at most %zu codes, got %zu", field, max, n);
  menu_status st = MENU_OK;
  bool all_valid = true;
  for (size_t i = 0; i < n; i++) {
    char name[96];
    snprintf(name, sizeof name, "%s[%zu]", field, i);
    menu_status one = field_check_code(codes[i], name);
    if (!menu_status_is_ok(&one)) all_valid = false;
    menu_status_merge(&st, &one);
  }
  if (!unique || !all_valid || n < 2) return st;
  /* Duplicates, in request order: each later occurrence named with the first one. */
  size_t *idx = malloc(n * sizeof *idx), *first = malloc(n * sizeof *first);
  if (!idx || !first) abort();
  for (size_t i = 0; i < n; i++) {
    idx[i] = i;
    first[i] = n;
  }
  qsort_r(idx, n, sizeof *idx, by_code_then_index, (void *)codes);
  for (size_t i = 1; i < n; i++)
    if (!strcmp(codes[idx[i]], codes[idx[i - 1]]))
      first[idx[i]] = first[idx[i - 1]] < n ? first[idx[i - 1]] : idx[i - 1];
  for (size_t i = 0; i < n; i++) {
    if (first[i] == n) continue;
    menu_status dup = MENU_INVALID("%s[%zu]: %s is also %s[%zu]; list each code once", field, i,
                                   codes[i], field, first[i]);
    menu_status_merge(&st, &dup);
  }
  free(idx);
  free(first);
  return st;
}
