/* Opaque, authenticated page cursors: base64url(payload || HMAC-SHA256(key, scope 0x00 payload)
 * truncated to 16 bytes). The scope names the list a cursor belongs to (e.g. "categories:KIOSK"
 * or "availability:STORE1:KIOSK:1700000000"), so a cursor from another list fails to verify
 * just like a forged or truncated one. Thread-safe (cursor_key is read-only after load). */
#ifndef MENU_CURSOR_H
#define MENU_CURSOR_H

#include <stddef.h>

#include "common/config.h"
#include "common/status.h"

typedef struct {
  unsigned char bytes[64];
  size_t len;
} cursor_key;

/* From CURSOR_KEY_FILE or CURSOR_KEY (at least 16 bytes); when neither is set, a random key
 * (logged as a warning: cursors then do not survive a restart or cross replicas). */
void cursor_key_load(config *c, cursor_key *out);

/* Caller frees. payload may hold any bytes but NUL. */
char *cursor_encode(const cursor_key *k, const char *scope, const char *payload);

/* On success *payload_out is the payload (caller frees). Any failure is INVALID_ARGUMENT
 * naming `field` (e.g. "page.after"). */
menu_status cursor_decode(const cursor_key *k, const char *scope, const char *cursor,
                          const char *field, char **payload_out);

#endif
