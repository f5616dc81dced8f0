/* Consistency report: references and known codes collected page by page, then a sort and a
 * binary search per reference (R log K), so a large catalogue costs no quadratic time. */
#include "gateway/consistency_report.h"

#include <stdlib.h>
#include <string.h>

#define KIND(x) MENU__V1__REFERENCE_KIND__REFERENCE_KIND_##x

void consistency_report_init(consistency_report *r, arena *a) {
  memset(r, 0, sizeof *r);
  r->a = a;
}

/* `entity` is already an arena copy shared by the entity's references; `code` is copied. */
static void ref_add(consistency_report *r, Menu__V1__ReferenceKind kind, char *entity,
                    const char *code) {
  if (!code || !code[0]) return;
  if (r->n_refs == r->cap_refs) {
    size_t cap = r->cap_refs ? r->cap_refs * 2 : 64;
    Menu__V1__DanglingReference *grown = arena_alloc(r->a, cap * sizeof *grown);
    if (r->n_refs) memcpy(grown, r->refs, r->n_refs * sizeof *grown);
    r->refs = grown;
    r->cap_refs = cap;
  }
  Menu__V1__DanglingReference *d = &r->refs[r->n_refs++];
  menu__v1__dangling_reference__init(d);
  d->kind = kind;
  d->entity_id = entity;
  d->product_code = arena_strdup(r->a, code);
}

static char *entity_copy(consistency_report *r, const char *id) {
  return arena_strdup(r->a, id ? id : "");
}

void consistency_report_add_category(consistency_report *r, const Menu__V1__Category *c) {
  if (!c) return;
  r->categories++;
  char *id = entity_copy(r, c->id);
  for (size_t i = 0; i < c->n_product_codes; i++)
    ref_add(r, KIND(CATEGORY), id, c->product_codes[i]);
}

void consistency_report_add_collection(consistency_report *r,
                                       const Menu__V1__ProductCollection *c) {
  if (!c) return;
  r->collections++;
  char *id = entity_copy(r, c->id);
  for (size_t i = 0; i < c->n_product_codes; i++)
    ref_add(r, KIND(PRODUCT_COLLECTION), id, c->product_codes[i]);
}

void consistency_report_add_swap(consistency_report *r, const Menu__V1__GhostSwap *g) {
  if (!g) return;
  r->swaps++;
  char *key = entity_copy(r, g->product_code);
  ref_add(r, KIND(GHOST_SWAP), key, g->product_code);
  ref_add(r, KIND(GHOST_SWAP_TARGET), key, g->swap_product_code);
}

void consistency_report_add_product(consistency_report *r, const char *product_code) {
  if (!product_code || !product_code[0]) return;
  if (r->n_known == r->cap_known) {
    size_t cap = r->cap_known ? r->cap_known * 2 : 256;
    char **grown = arena_alloc(r->a, cap * sizeof *grown);
    if (r->n_known) memcpy(grown, r->known, r->n_known * sizeof *grown);
    r->known = grown;
    r->cap_known = cap;
  }
  r->known[r->n_known++] = arena_strdup(r->a, product_code);
}

static int cmp_str(const void *x, const void *y) {
  return strcmp(*(char *const *)x, *(char *const *)y);
}

static int cmp_ref(const void *x, const void *y) {
  const Menu__V1__DanglingReference *a = *(Menu__V1__DanglingReference *const *)x;
  const Menu__V1__DanglingReference *b = *(Menu__V1__DanglingReference *const *)y;
  if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
  int c = strcmp(a->entity_id, b->entity_id);
  return c ? c : strcmp(a->product_code, b->product_code);
}

/* Distinct codes among the references. */
static size_t distinct_codes(consistency_report *r) {
  if (!r->n_refs) return 0;
  char **codes = arena_alloc(r->a, r->n_refs * sizeof *codes);
  for (size_t i = 0; i < r->n_refs; i++) codes[i] = r->refs[i].product_code;
  qsort(codes, r->n_refs, sizeof *codes, cmp_str);
  size_t n = 1;
  for (size_t i = 1; i < r->n_refs; i++)
    if (strcmp(codes[i - 1], codes[i])) n++;
  return n;
}

void consistency_report_build(consistency_report *r, Menu__V1__CheckMenuConsistencyResponse *out) {
  /* sql-svc lists by code, but its collation need not be strcmp's order: sort to be sure. */
  if (r->n_known) qsort(r->known, r->n_known, sizeof *r->known, cmp_str);
  out->categories_scanned = r->categories;
  out->product_collections_scanned = r->collections;
  out->ghost_swaps_scanned = r->swaps;
  out->product_codes_referenced = (int32_t)distinct_codes(r);
  out->products_scanned = (int32_t)r->n_known;
  out->n_dangling_references = 0;
  if (!r->n_refs) return;
  out->dangling_references = arena_alloc(r->a, r->n_refs * sizeof *out->dangling_references);
  for (size_t i = 0; i < r->n_refs; i++) {
    const char *code = r->refs[i].product_code;
    if (!r->n_known || !bsearch(&code, r->known, r->n_known, sizeof *r->known, cmp_str))
      out->dangling_references[out->n_dangling_references++] = &r->refs[i];
  }
  qsort(out->dangling_references, out->n_dangling_references, sizeof *out->dangling_references,
        cmp_ref);
}
