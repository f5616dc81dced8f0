/* AWS Signature Version 4 (header signing) with OpenSSL: canonical request, string to sign,
 * signing key and Authorization header. General enough for the official test suite (query
 * strings, folded and duplicate headers, path normalisation, UTF-8 paths, bodies); the
 * DynamoDB client and the STS provider use it. Pure functions: thread-safe; a sigv4_key_cache
 * is shared by the threads signing with it (it has its own lock). */
#ifndef DDB_SIGV4_H
#define DDB_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

typedef struct {
  const char *name;
  const char *value; /* as sent; folded continuation lines may be kept as "\n  more" */
} sigv4_header;

typedef struct {
  const char *method;          /* "POST" */
  const char *path;            /* as sent, without the query; NULL or "" means "/" */
  const char *query;           /* raw query string after '?', NULL when none */
  const sigv4_header *headers; /* all headers to sign, Host included; borrowed */
  size_t n_headers;
  const void *payload; /* body, may be NULL when payload_len is 0 */
  size_t payload_len;
} sigv4_request;

typedef struct {
  const char *access_key, *secret_key;
  const char *session_token; /* NULL or "": none */
  const char *region, *service;
  const char *amz_date; /* "YYYYMMDDTHHMMSSZ" (sigv4_amz_date) */
  /* Some services want X-Amz-Security-Token added after signing (the suite's
   * post-sts-header-after); DynamoDB and STS sign it, which is the default (false). */
  bool token_unsigned;
} sigv4_params;

#define SIGV4_MAX_ADD 3

typedef struct {
  char *canonical_request; /* owned by the result, for tests and debug logs */
  char *string_to_sign;
  char *authorization; /* the Authorization header value */
  /* Headers the caller must add to the request as sent: X-Amz-Date when the request had
   * none, X-Amz-Security-Token when a token is set and the request had none, and
   * Authorization. The token's value borrows p->session_token; the rest are owned here. */
  sigv4_header add[SIGV4_MAX_ADD];
  size_t n_add;
  char amz_date_buf[17];
} sigv4_result;

/* Signs req. Returns 0, or -1 when an argument is missing or OpenSSL fails (nothing to free
 * then).
 * On success the caller frees with sigv4_result_free. */
int sigv4_sign(const sigv4_request *req, const sigv4_params *p, sigv4_result *out);

/* The signing key (four chained HMACs of the secret, the date, the region and the service)
 * changes once a day: a cache keeps the last one, keyed into an HMAC context, so that signing
 * a request costs one HMAC instead of five. A different secret (rotated credentials), day,
 * region or service replaces it. Caller destroys; thread-safe. */
typedef struct sigv4_key_cache sigv4_key_cache;
sigv4_key_cache *sigv4_key_cache_create(void);
void sigv4_key_cache_destroy(sigv4_key_cache *c); /* NULL-safe; wipes the key and secret */

/* sigv4_sign with the signing key taken from (and kept in) cache; the same result. A NULL
 * cache is sigv4_sign. */
int sigv4_sign_cached(sigv4_key_cache *cache, const sigv4_request *req, const sigv4_params *p,
                      sigv4_result *out);
void sigv4_result_free(sigv4_result *r);

/* "YYYYMMDDTHHMMSSZ" for t in UTC; out has room for 17 bytes. */
void sigv4_amz_date(time_t t, char out[17]);

/* Lower-case hex SHA-256 of data into out (65 bytes with the NUL). */
void sigv4_sha256_hex(const void *data, size_t len, char out[65]);

/* AWS URI encoding (RFC 3986 unreserved kept, everything else %XX upper case); '/' kept when
 * keep_slash. Caller frees. Also used to build form bodies for STS. */
char *sigv4_uri_encode(const char *s, size_t len, bool keep_slash);

#endif
