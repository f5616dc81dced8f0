/* libcurl easy-handle pool and one blocking POST. Handles are reset (which keeps their
 * connection cache) and reconfigured for each request; NOSIGNAL because we run threaded. */
#include "services/dynamo-svc/ddb/http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/rpc_server.h"

struct http_pool {
  pthread_mutex_t mu;
  CURL **idle;
  int n_idle, max_idle;
};

http_pool *http_pool_create(int max_idle) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  http_pool *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  if (max_idle < 1) max_idle = 1;
  p->idle = calloc((size_t)max_idle, sizeof *p->idle);
  p->max_idle = max_idle;
  pthread_mutex_init(&p->mu, NULL);
  return p;
}

void http_pool_destroy(http_pool *p) {
  if (!p) return;
  for (int i = 0; i < p->n_idle; i++) curl_easy_cleanup(p->idle[i]);
  free(p->idle);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

static CURL *pool_acquire(http_pool *p) {
  CURL *h = NULL;
  pthread_mutex_lock(&p->mu);
  if (p->n_idle) h = p->idle[--p->n_idle];
  pthread_mutex_unlock(&p->mu);
  return h ? h : curl_easy_init();
}

/* A handle whose last request failed at the transport level goes back too: libcurl drops
 * the broken connection itself and reconnects next time. */
static void pool_release(http_pool *p, CURL *h) {
  pthread_mutex_lock(&p->mu);
  if (p->n_idle < p->max_idle) {
    p->idle[p->n_idle++] = h;
    h = NULL;
  }
  pthread_mutex_unlock(&p->mu);
  if (h) curl_easy_cleanup(h);
}

static size_t on_body(char *data, size_t size, size_t n, void *arg) {
  http_response *r = arg;
  strbuf_append(&r->body, data, size * n);
  return size * n;
}

static bool header_is(const char *line, size_t len, const char *name, const char **value,
                      size_t *vlen) {
  size_t nl = strlen(name);
  if (len <= nl || strncasecmp(line, name, nl) || line[nl] != ':') return false;
  const char *v = line + nl + 1, *end = line + len;
  while (v < end && (*v == ' ' || *v == '\t')) v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) end--;
  *value = v;
  *vlen = (size_t)(end - v);
  return true;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg) {
  http_response *r = arg;
  size_t len = size * n;
  const char *v;
  size_t vl;
  if (header_is(data, len, "x-amz-crc32", &v, &vl) && vl < 16) {
    char tmp[16];
    memcpy(tmp, v, vl);
    tmp[vl] = '\0';
    char *end;
    unsigned long long c = strtoull(tmp, &end, 10);
    if (end != tmp && !*end && c <= 0xffffffffULL) {
      r->has_crc32 = true;
      r->crc32 = (uint32_t)c;
    }
  } else if (header_is(data, len, "x-amzn-requestid", &v, &vl) && vl < sizeof r->request_id) {
    memcpy(r->request_id, v, vl);
    r->request_id[vl] = '\0';
  }
  return len;
}

/* Aborts the transfer once the call it serves is cancelled (caller gone, deadline, server
 * stopping): called at least about once a second even while nothing arrives. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
  return rpc_current_cancelled() ? 1 : 0;
}

http_result http_post(http_pool *p, const http_request *req, http_response *resp) {
  memset(resp, 0, sizeof *resp);
  strbuf_init(&resp->body);
  CURL *h = pool_acquire(p);
  if (!h) {
    snprintf(resp->error, sizeof resp->error, "curl_easy_init failed");
    return HTTP_ERR_IO;
  }
  struct curl_slist *hl = NULL;
  for (const char *const *l = req->headers; l && *l; l++) hl = curl_slist_append(hl, *l);
  /* libcurl would otherwise send "Expect: 100-continue" for larger bodies and wait. */
  hl = curl_slist_append(hl, "Expect:");
  char errbuf[CURL_ERROR_SIZE] = "";
  int64_t timeout = req->timeout_ms < 1 ? 1 : req->timeout_ms;
  int64_t connect = req->connect_timeout_ms < 1 || req->connect_timeout_ms > timeout
                        ? timeout
                        : req->connect_timeout_ms;
  curl_easy_reset(h);
  curl_easy_setopt(h, CURLOPT_URL, req->url);
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)connect);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  CURLcode rc = curl_easy_perform(h);
  http_result res = HTTP_OK;
  if (rc == CURLE_OK) {
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
  } else {
    snprintf(resp->error, sizeof resp->error, "%s", *errbuf ? errbuf : curl_easy_strerror(rc));
    switch (rc) {
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_RESOLVE_PROXY:
      case CURLE_COULDNT_CONNECT:
        res = HTTP_ERR_CONNECT;
        break;
      case CURLE_OPERATION_TIMEDOUT:
        res = HTTP_ERR_TIMEOUT;
        break;
      default:
        res = HTTP_ERR_IO;
    }
  }
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
  curl_slist_free_all(hl);
  pool_release(p, h);
  return res;
}

void http_response_free(http_response *resp) { strbuf_free(&resp->body); }

int http_url_host(const char *url, char *host_out, size_t n, bool *https) {
  CURLU *u = curl_url();
  char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
  int rc = -1;
  if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) goto done;
  if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) goto done;
  if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) goto done;
  if (curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK && strcmp(path, "/") != 0)
    goto done; /* the client always posts to "/" */
  bool tls = !strcasecmp(scheme, "https");
  if (!tls && strcasecmp(scheme, "http")) goto done;
  curl_url_get(u, CURLUPART_PORT, &port, 0); /* absent when not given */
  bool default_port = !port || (tls && !strcmp(port, "443")) || (!tls && !strcmp(port, "80"));
  int w =
      default_port ? snprintf(host_out, n, "%s", host) : snprintf(host_out, n, "%s:%s", host, port);
  if (w < 0 || (size_t)w >= n) goto done;
  if (https) *https = tls;
  rc = 0;
done:
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_free(path);
  curl_url_cleanup(u);
  return rc;
}
