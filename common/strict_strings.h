/* Strict request strings, checked by the runtime on the request's wire bytes before any handler
 * runs, so that no service needs to: a string field whose bytes hold a NUL (the wire length
 * disagrees with strlen, which every C consumer would silently cut at), a control character
 * (C0, DEL, C1: every string of the API is a name, a code, an audit field, an id or a cursor)
 * or invalid UTF-8 is INVALID_ARGUMENT naming the field path ("category.name",
 * "product_codes[2]"); so is an int64 `version` at INT64_MAX (no later version exists). Every
 * bad field is reported (BadRequest). Pure function, thread-safe. */
#ifndef MENU_STRICT_STRINGS_H
#define MENU_STRICT_STRINGS_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

/* Walks `data` (a message of type `desc` that already unpacked successfully), recursively
 * through sub-messages. MENU_OK, or INVALID_ARGUMENT with one field violation per bad field. */
menu_status strict_strings_check(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                 size_t len);

#endif
