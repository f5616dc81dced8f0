/* Ordered lists of product codes (a category's products, a collection's): validation naming
 * the offending index, and the DynamoDB list (L of S) they are stored as. */
#include <stdio.h>

#include "services/dynamo-svc/dynamo.h"

menu_status dyn_check_codes(char *const *codes, size_t n, size_t max, const char *field) {
  if (n > max) return MENU_INVALID("%s: at most %zu codes, got %zu", field, max, n);
  /* Every bad code, not only the first (BadRequest lists them all). */
  menu_status st = MENU_OK;
  json_t *seen = json_object();
  for (size_t i = 0; i < n; i++) {
    char name[96];
    snprintf(name, sizeof name, "%s[%zu]", field, i);
    menu_status one = dyn_check_code(codes[i], name);
    if (menu_status_is_ok(&one) && json_object_get(seen, codes[i]))
      one = MENU_INVALID("%s: %s is listed twice", name, codes[i]);
    if (menu_status_is_ok(&one)) json_object_set_new(seen, codes[i], json_true());
    menu_status_merge(&st, &one);
  }
  json_decref(seen);
  return st;
}

json_t *dyn_codes_value(char *const *codes, size_t n) {
  json_t *l = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(l, ddb_s(codes[i]));
  return json_pack("{s:o}", "L", l);
}

char **dyn_codes_of(arena *a, const json_t *item, const char *attr, size_t *n) {
  json_t *codes = ddb_item_l(item, attr);
  size_t cap = json_array_size(codes);
  char **out = cap ? arena_alloc(a, cap * sizeof *out) : NULL;
  *n = 0;
  size_t i;
  json_t *v;
  json_array_foreach(codes, i, v) {
    const char *code = json_string_value(json_object_get(v, "S"));
    if (code) out[(*n)++] = arena_strdup(a, code);
  }
  return out;
}
