/* The etag: SHA-256 (OpenSSL) over a fixed layout of the input, cut to 128 bits and encoded
 * base64url without padding. */
#include "gateway/menu_etag.h"

#include <openssl/evp.h>
#include <string.h>

const char *menu_etag_shape(arena *a, const Menu__V1__GetStoreMenuRequest *req, size_t *len) {
  const Menu__V1__PageRequest *pg = req->page;
  const char *after = pg && pg->after ? pg->after : "";
  const char *before = pg && pg->before ? pg->before : "";
  /* Lengths before the strings: no value can be mistaken for a separator. */
  char *s = arena_sprintf(a, "%zu:%s|%d|%d|%d|%zu:%s|%zu:%s|%d|%d", strlen(req->store_code),
                          req->store_code, (int)req->channel, pg ? (int)pg->first : 0,
                          pg ? (int)pg->last : 0, strlen(after), after, strlen(before), before,
                          req->include_unavailable ? 1 : 0, req->include_empty_categories ? 1 : 0);
  *len = strlen(s);
  return s;
}

static void put_u64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

void menu_etag_make(const menu_etag_input *in, char out[MENU_ETAG_LEN + 1]) {
  static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  unsigned char nums[24];
  put_u64(nums, in->catalog);
  put_u64(nums + 8, in->availability);
  put_u64(nums + 16, (uint64_t)in->valid_until_ms);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
  EVP_DigestUpdate(ctx, "menu-etag-v1", 12);
  EVP_DigestUpdate(ctx, nums, sizeof nums);
  EVP_DigestUpdate(ctx, in->shape, in->shape_len);
  EVP_DigestFinal_ex(ctx, md, &md_len);
  EVP_MD_CTX_free(ctx);
  /* 16 bytes = 128 bits -> 22 base64 characters (the last one carries 2 bits). */
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (int i = 0; i < 16; i++) {
    acc = (acc << 8) | md[i];
    bits += 8;
    while (bits >= 6) {
      out[o++] = b64url[(acc >> (bits - 6)) & 63];
      bits -= 6;
    }
  }
  if (bits > 0) out[o++] = b64url[(acc << (6 - bits)) & 63];
  out[o] = '\0';
}
