/* HMAC-authenticated cursors with OpenSSL. */
#include "common/cursor.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "common/hmac.h"
#include "common/log.h"

#define TAG_LEN 16
#define MAX_CURSOR_LEN 1024

int cursor_key_set(cursor_key *out, const void *bytes, size_t len) {
  memset(out, 0, sizeof *out);
  if (len > sizeof out->bytes) len = sizeof out->bytes;
  memcpy(out->bytes, bytes, len);
  out->len = len;
  out->mac = hmac_sha256_ctx_new(out->bytes, out->len);
  return out->mac ? 0 : -1;
}

void cursor_key_free(cursor_key *k) {
  if (!k) return;
  EVP_MAC_CTX_free(k->mac);
  OPENSSL_cleanse(k, sizeof *k);
}

void cursor_key_load(config *c, cursor_key *out) {
  memset(out, 0, sizeof *out);
  char *secret = config_secret(c, "CURSOR_KEY", NULL);
  if (secret) {
    size_t n = strlen(secret);
    if (n < 16)
      config_error(c, "CURSOR_KEY: must be at least 16 bytes");
    else
      cursor_key_set(out, secret, n);
    OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
    if (out->len) return;
  }
  unsigned char random[32];
  RAND_bytes(random, sizeof random);
  cursor_key_set(out, random, sizeof random);
  OPENSSL_cleanse(random, sizeof random);
  if (!secret && !c->listing)
    log_warn(
        "CURSOR_KEY and CURSOR_KEY_FILE unset: using a random key; cursors will not "
        "survive a restart nor work across replicas",
        NULL);
}

/* HMAC-SHA256(key, scope 0x00 payload). Copying the keyed context costs half of keying
 * a new one (HMAC() fetches the algorithm and hashes the padded key on every call), and a
 * list page makes one tag per item. */
static void tag(const cursor_key *k, const char *scope, const unsigned char *p, size_t n,
                unsigned char out[32]) {
  EVP_MAC_CTX *ctx = k->mac ? EVP_MAC_CTX_dup(k->mac) : hmac_sha256_ctx_new(k->bytes, k->len);
  size_t len = 0;
  if (!ctx || !EVP_MAC_update(ctx, (const unsigned char *)scope, strlen(scope) + 1) ||
      !EVP_MAC_update(ctx, p, n) || !EVP_MAC_final(ctx, out, &len, 32) || len != 32)
    RAND_bytes(out, 32); /* out of memory in OpenSSL: a tag nobody can match, never a known one */
  EVP_MAC_CTX_free(ctx);
}

char *cursor_encode(const cursor_key *k, const char *scope, const char *payload) {
  size_t n = strlen(payload);
  unsigned char *raw = malloc(n + 32);
  memcpy(raw, payload, n);
  unsigned char mac[32];
  tag(k, scope, raw, n, mac);
  memcpy(raw + n, mac, TAG_LEN);
  size_t rawlen = n + TAG_LEN;
  char *out = malloc(4 * ((rawlen + 2) / 3) + 1);
  int len = EVP_EncodeBlock((unsigned char *)out, raw, (int)rawlen);
  free(raw);
  /* base64 -> base64url without padding */
  while (len > 0 && out[len - 1] == '=') len--;
  out[len] = 0;
  for (char *p = out; *p; p++) {
    if (*p == '+')
      *p = '-';
    else if (*p == '/')
      *p = '_';
  }
  return out;
}

menu_status cursor_decode(const cursor_key *k, const char *scope, const char *cursor,
                          const char *field, char **payload_out) {
  *payload_out = NULL;
  size_t n = strlen(cursor);
  if (n == 0 || n > MAX_CURSOR_LEN || n % 4 == 1)
    return MENU_INVALID("%s: malformed cursor", field);
  char *b64 = malloc(n + 4);
  for (size_t i = 0; i < n; i++) {
    char ch = cursor[i];
    if (ch == '-')
      ch = '+';
    else if (ch == '_')
      ch = '/';
    else if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))) {
      free(b64);
      return MENU_INVALID("%s: malformed cursor", field);
    }
    b64[i] = ch;
  }
  size_t pad = (4 - n % 4) % 4;
  for (size_t i = 0; i < pad; i++) b64[n + i] = '=';
  b64[n + pad] = 0;
  unsigned char *raw = malloc(n + 4);
  int len = EVP_DecodeBlock(raw, (unsigned char *)b64, (int)(n + pad));
  free(b64);
  if (len < 0) {
    free(raw);
    return MENU_INVALID("%s: malformed cursor", field);
  }
  len -= (int)pad; /* EVP_DecodeBlock counts padding as zero bytes */
  if (len < TAG_LEN) {
    free(raw);
    return MENU_INVALID("%s: malformed cursor", field);
  }
  size_t plen = (size_t)len - TAG_LEN;
  unsigned char mac[32];
  tag(k, scope, raw, plen, mac);
  if (CRYPTO_memcmp(mac, raw + plen, TAG_LEN) != 0 || memchr(raw, 0, plen)) {
    free(raw);
    return MENU_INVALID("%s: cursor is not valid for this list", field);
  }
  char *payload = malloc(plen + 1);
  memcpy(payload, raw, plen);
  payload[plen] = 0;
  free(raw);
  *payload_out = payload;
  return MENU_OK;
}
