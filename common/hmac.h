/* HMAC-SHA256 keyed contexts (OpenSSL 3 EVP_MAC), for cursors and SigV4 signing alike. A keyed
 * context is meant to be kept and copied (EVP_MAC_CTX_dup) per message, so the key schedule is
 * computed once. Thread-safety: a context is used by one thread at a time; EVP_MAC_CTX_dup of a
 * shared, no longer modified context is safe from any thread. */
#ifndef MENU_HMAC_H
#define MENU_HMAC_H

#include <openssl/evp.h>
#include <stddef.h>

/* A fresh HMAC-SHA256 context keyed with the len bytes at key; NULL when OpenSSL cannot make
 * one. Caller frees (EVP_MAC_CTX_free). */
EVP_MAC_CTX *hmac_sha256_ctx_new(const unsigned char *key, size_t len);

#endif
