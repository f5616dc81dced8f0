/* HTTP POST over libcurl for the DynamoDB client and the STS credentials provider: a small
 * pool of easy handles, so connections (and TLS sessions, DNS answers) are kept alive and
 * reused across requests while many handler threads post at once. */
#ifndef DDB_HTTP_H
#define DDB_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/strbuf.h"

typedef struct http_pool http_pool;

/* Keeps at most max_idle handles (each with its live connections) between requests; more
 * threads than that still work, their extra handles are closed after use. Calls
 * curl_global_init, so create the first pool before starting threads. Thread-safe. */
http_pool *http_pool_create(int max_idle);
void http_pool_destroy(http_pool *p);

typedef enum {
  HTTP_OK = 0,      /* a response arrived (any status) */
  HTTP_ERR_CONNECT, /* could not resolve or connect: nothing was sent */
  HTTP_ERR_TIMEOUT, /* timeout_ms passed */
  HTTP_ERR_IO,      /* the connection broke mid-request, or an empty/garbled answer */
} http_result;

typedef struct {
  const char *url;
  const char *const *headers; /* "Name: value" lines, NULL-terminated; borrowed */
  const char *body;
  size_t body_len;
  int64_t timeout_ms;         /* whole request; >= 1 */
  int64_t connect_timeout_ms; /* capped by timeout_ms */
} http_request;

typedef struct {
  long status;    /* HTTP status; 0 when result != HTTP_OK */
  strbuf body;    /* response body (owned; http_response_free) */
  bool has_crc32; /* x-amz-crc32 was present */
  uint32_t crc32;
  char request_id[96]; /* x-amzn-requestid, "" when absent */
  char error[256];     /* libcurl's message when result != HTTP_OK */
} http_response;

/* Posts req and fills resp (initialised here; free it even on error). Thread-safe. */
http_result http_post(http_pool *p, const http_request *req, http_response *resp);
void http_response_free(http_response *resp);

/* Splits a base URL into the Host header value as it will be sent ("host" or "host:port"
 * when the port is not the scheme's default) and whether it is https. Returns 0, or -1 when
 * the URL is not http(s)://host[:port][/]. host_out has room for n bytes. */
int http_url_host(const char *url, char *host_out, size_t n, bool *https);

#endif
