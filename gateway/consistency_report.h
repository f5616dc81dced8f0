/* The pure part of the cross-database consistency check: the product codes a channel's
 * dynamo-svc entities reference (categories, product collections, ghost swaps and their
 * targets), the product codes sql-svc's catalogue holds, and the report of the references
 * whose code the catalogue does not have (a set difference). No network, no clock.
 * A report is used by one thread at a time (the check's callbacks run one after another). */
#ifndef GATEWAY_CONSISTENCY_REPORT_H
#define GATEWAY_CONSISTENCY_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "menu/v1/category.pb-c.h"
#include "menu/v1/ghost_swap.pb-c.h"
#include "menu/v1/menu.pb-c.h"
#include "menu/v1/product_collection.pb-c.h"

typedef struct {
  arena *a;                          /* borrowed: every string and array below lives in it */
  Menu__V1__DanglingReference *refs; /* every reference read: kind, entity_id, product_code */
  size_t n_refs, cap_refs;
  char **known; /* sql-svc's product codes as read */
  size_t n_known, cap_known;
  int32_t categories, collections, swaps; /* entities read */
} consistency_report;

/* An empty report whose memory comes from `a` (borrowed; must outlive the report). */
void consistency_report_init(consistency_report *r, arena *a);

/* Adding copies the strings it keeps into the report's arena: the messages are borrowed
 * only for the call (a page may be freed right after). */
void consistency_report_add_category(consistency_report *r, const Menu__V1__Category *c);
void consistency_report_add_collection(consistency_report *r, const Menu__V1__ProductCollection *c);
/* A swap references two codes: the product it replaces (its key) and its target. */
void consistency_report_add_swap(consistency_report *r, const Menu__V1__GhostSwap *g);
/* A product code of sql-svc's catalogue. */
void consistency_report_add_product(consistency_report *r, const char *product_code);

/* Fills `out` (initialised): the references whose code is not among the products added,
 * ordered by kind, entity_id, product_code (byte order), and the counts of what was scanned.
 * `out` points into the report's arena. Sorts the known codes; call once, after every add. */
void consistency_report_build(consistency_report *r, Menu__V1__CheckMenuConsistencyResponse *out);

#endif
