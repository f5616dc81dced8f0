/* HMAC-SHA256 keyed contexts with OpenSSL's EVP_MAC. */
#include "common/hmac.h"

#include <openssl/core_names.h>
#include <openssl/params.h>

EVP_MAC_CTX *hmac_sha256_ctx_new(const unsigned char *key, size_t len) {
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL; /* holds its own reference */
  EVP_MAC_free(mac);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
      OSSL_PARAM_construct_end()};
  if (ctx && !EVP_MAC_init(ctx, key, len, params)) {
    EVP_MAC_CTX_free(ctx);
    ctx = NULL;
  }
  return ctx;
}
