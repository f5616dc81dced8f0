/* Update masks (AIP-134): which fields of a resource an Update changes. Pure functions. */
#ifndef MENU_FIELD_MASK_H
#define MENU_FIELD_MASK_H

#include <stdbool.h>

#include "common/status.h"
#include "google/protobuf/field_mask.pb-c.h"

/* The bits (1 << i for allowed[i], a NULL-terminated list of paths relative to the resource)
 * named by `mask`; "*" alone names them all. An unknown or repeated path, or "*" beside
 * others, is INVALID_ARGUMENT naming "update_mask.paths[i]" (every bad one). mask NULL or
 * without paths: *bits = when_absent (the fields the request sets, per AIP-134). */
menu_status field_mask_bits(const Google__Protobuf__FieldMask *mask, const char *const *allowed,
                            unsigned when_absent, unsigned *bits);

#endif
