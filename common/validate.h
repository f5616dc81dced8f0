/* Input checks every service applies to request fields (SPEC section 3). Pure functions. */
#ifndef MENU_VALIDATE_H
#define MENU_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$: store, product, market... codes. NULL is not a code. */
bool validate_code(const char *s);
#define VALIDATE_CODE_PATTERN "^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$"

/* Decodes one UTF-8 sequence at s and returns its length, or 0 when it is not strict UTF-8
 * (truncated, overlong, a surrogate, or above U+10FFFF). */
size_t validate_utf8_next(const unsigned char *s, uint32_t *cp);

/* Strict UTF-8 of at most max_bytes bytes. */
bool validate_utf8(const char *s, size_t max_bytes);

/* A UUID in its 36-character text form (8-4-4-4-12 hex digits, any case), e.g. an AIP-155
 * request_id; on success `out` holds it in lower case. */
bool validate_uuid(const char *s, char out[37]);

#endif
