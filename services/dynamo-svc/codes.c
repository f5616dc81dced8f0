/* Ordered lists of product codes (a category's products, a collection's) as the DynamoDB list
 * (L of S) they are stored as; common/field_check validates them. */
#include <stdio.h>

#include "services/dynamo-svc/dynamo.h"

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
