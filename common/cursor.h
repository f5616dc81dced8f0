/* Opaque, authenticated page cursors: base64url(payload || HMAC-SHA256(key, scope 0x00 payload)
 * truncated to 16 bytes). The scope names the list a cursor belongs to (e.g. "categories:KIOSK"
 * or "availability:STORE1:KIOSK:1700000000"), so a cursor from another list fails to verify
 * just like a forged or truncated one. Thread-safe (cursor_key is read-only after load or set:
 * each tag works on its own copy of the keyed HMAC context). */
#ifndef MENU_CURSOR_H
#define MENU_CURSOR_H

#include <openssl/types.h>
#include <stddef.h>

#include "common/config.h"
#include "common/status.h"

typedef struct {
  unsigned char bytes[64];
  size_t len;
  /* HMAC-SHA256 keyed with bytes once (set by cursor_key_load/cursor_key_set), copied per tag
   * instead of keying a fresh context per cursor; NULL in a key built by hand, which then
   * keys a context per tag. Owned; cursor_key_free releases it. */
  EVP_MAC_CTX *mac;
} cursor_key;

/* From CURSOR_KEY_FILE or CURSOR_KEY (at least 16 bytes); when neither is set, a random key
 * (logged as a warning: cursors then do not survive a restart or cross replicas). The caller
 * releases it with cursor_key_free. */
void cursor_key_load(config *c, cursor_key *out);

/* The key bytes (at most 64 are used) and its keyed context. Returns 0, or -1 when OpenSSL
 * cannot make the context (the key then still works, keyed per tag). cursor_key_free. */
int cursor_key_set(cursor_key *out, const void *bytes, size_t len);

/* Releases the keyed context and wipes the key. NULL-safe. */
void cursor_key_free(cursor_key *k);

/* Caller frees. payload may hold any bytes but NUL. */
char *cursor_encode(const cursor_key *k, const char *scope, const char *payload);

/* On success *payload_out is the payload (caller frees). Any failure is INVALID_ARGUMENT
 * naming `field` (e.g. "page.after"). */
menu_status cursor_decode(const cursor_key *k, const char *scope, const char *cursor,
                          const char *field, char **payload_out);

#endif
