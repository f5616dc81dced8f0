/* SigV4 signing: the canonicalisation rules of the AWS documentation and test suite, hashed
 * and keyed with OpenSSL. Every intermediate string is built in a strbuf and freed here. */
#include "services/dynamo-svc/ddb/sigv4.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/hmac.h"
#include "common/strbuf.h"

static const char hexdig[] = "0123456789abcdef";

static void to_hex(const unsigned char *in, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hexdig[in[i] >> 4];
    out[2 * i + 1] = hexdig[in[i] & 15];
  }
  out[2 * n] = '\0';
}

void sigv4_sha256_hex(const void *data, size_t len, char out[65]) {
  unsigned char md[32];
  unsigned int mdlen = sizeof md;
  EVP_Digest(data ? data : "", len, md, &mdlen, EVP_sha256(), NULL);
  to_hex(md, 32, out);
}

static void hmac(const void *key, size_t keylen, const char *msg, unsigned char out[32]) {
  unsigned int len = 32;
  HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, strlen(msg), out, &len);
}

void sigv4_amz_date(time_t t, char out[17]) {
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static bool unreserved(unsigned char c) {
  return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

static void encode_into(strbuf *b, const char *s, size_t len, bool keep_slash) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (unreserved(c) || (keep_slash && c == '/')) {
      strbuf_putc(b, (char)c);
    } else {
      char esc[3] = {'%', "0123456789ABCDEF"[c >> 4], "0123456789ABCDEF"[c & 15]};
      strbuf_append(b, esc, 3);
    }
  }
}

char *sigv4_uri_encode(const char *s, size_t len, bool keep_slash) {
  strbuf b;
  strbuf_init(&b);
  encode_into(&b, s, len, keep_slash);
  return strbuf_take(&b);
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decodes s[0..len) into a new strbuf; a '%' not followed by two hex digits is kept
 * literally (it will be re-encoded as %25), which is what the SDKs do. */
static void decode_into(strbuf *b, const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
      strbuf_putc(b, (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2])));
      i += 2;
    } else {
      strbuf_putc(b, s[i]);
    }
  }
}

/* RFC 3986 dot-segment removal plus collapsing of empty segments, as every non-S3 service
 * expects; a trailing slash survives ("//example//" -> "/example/"). */
static void normalize_path(strbuf *out, const char *path) {
  if (!path || !*path) path = "/";
  size_t n = strlen(path);
  const char **seg = malloc(sizeof *seg * (n + 1));
  size_t *seglen = malloc(sizeof *seglen * (n + 1));
  size_t nseg = 0;
  for (const char *p = path; *p;) {
    while (*p == '/') p++;
    const char *start = p;
    while (*p && *p != '/') p++;
    size_t l = (size_t)(p - start);
    if (l == 0 || (l == 1 && start[0] == '.')) continue;
    if (l == 2 && start[0] == '.' && start[1] == '.') {
      if (nseg) nseg--;
      continue;
    }
    seg[nseg] = start;
    seglen[nseg++] = l;
  }
  strbuf_putc(out, '/');
  for (size_t i = 0; i < nseg; i++) {
    if (i) strbuf_putc(out, '/');
    strbuf_append(out, seg[i], seglen[i]);
  }
  if (nseg && path[n - 1] == '/') strbuf_putc(out, '/');
  free(seg);
  free(seglen);
}

typedef struct {
  char *key, *value; /* encoded */
} qparam;

static int qparam_cmp(const void *a, const void *b) {
  const qparam *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  return c ? c : strcmp(x->value, y->value);
}

static void canonical_query(strbuf *out, const char *q) {
  if (!q || !*q) return;
  size_t cap = 1;
  for (const char *p = q; *p; p++) cap += *p == '&';
  qparam *ps = calloc(cap, sizeof *ps);
  size_t n = 0;
  for (const char *p = q; *p;) {
    const char *end = strchr(p, '&');
    if (!end) end = p + strlen(p);
    if (end > p) {
      const char *eq = memchr(p, '=', (size_t)(end - p));
      const char *kend = eq ? eq : end;
      strbuf k, v;
      strbuf_init(&k);
      strbuf_init(&v);
      decode_into(&k, p, (size_t)(kend - p));
      if (eq) decode_into(&v, eq + 1, (size_t)(end - eq - 1));
      ps[n].key = sigv4_uri_encode(k.data, k.len, false);
      ps[n].value = sigv4_uri_encode(v.data, v.len, false);
      n++;
      strbuf_free(&k);
      strbuf_free(&v);
    }
    p = *end ? end + 1 : end;
  }
  qsort(ps, n, sizeof *ps, qparam_cmp);
  for (size_t i = 0; i < n; i++) {
    if (i) strbuf_putc(out, '&');
    strbuf_printf(out, "%s=%s", ps[i].key, ps[i].value);
    free(ps[i].key);
    free(ps[i].value);
  }
  free(ps);
}

typedef struct {
  char *name;  /* lower case */
  char *value; /* canonical: trimmed, inner whitespace runs collapsed, folded lines joined */
  size_t order;
} cheader;

static int cheader_cmp(const void *a, const void *b) {
  const cheader *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  if (c) return c;
  return x->order < y->order ? -1 : x->order > y->order;
}

/* Trims each line of a (possibly folded) value, collapses runs of spaces and tabs into one
 * space, and joins the lines with ',' as the suite's get-header-value-multiline expects. */
static char *canonical_value(const char *v) {
  strbuf b;
  strbuf_init(&b);
  const char *p = v;
  bool first_line = true;
  while (*p) {
    const char *eol = p + strcspn(p, "\r\n");
    const char *s = p, *e = eol;
    while (s < e && (*s == ' ' || *s == '\t')) s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
    if (e > s) {
      if (!first_line) strbuf_putc(&b, ',');
      first_line = false;
      bool space = false;
      for (const char *c = s; c < e; c++) {
        if (*c == ' ' || *c == '\t') {
          space = true;
          continue;
        }
        if (space) strbuf_putc(&b, ' ');
        space = false;
        strbuf_putc(&b, *c);
      }
    }
    p = eol;
    while (*p == '\r' || *p == '\n') p++;
  }
  return strbuf_take(&b);
}

static char *lower_dup(const char *s) {
  char *d = strdup(s);
  for (char *p = d; *p; p++) *p = (char)tolower((unsigned char)*p);
  return d;
}

static bool has_header(const sigv4_request *r, const char *name) {
  for (size_t i = 0; i < r->n_headers; i++)
    if (!strcasecmp(r->headers[i].name, name)) return true;
  return false;
}

/* ---- the signing key and its cache ------------------------------------------------------- */

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" secret, date), region), service), "aws4_request") */
static void signing_key(const char *secret_key, const char *date, const char *region,
                        const char *service, unsigned char k[32]) {
  strbuf secret;
  strbuf_init(&secret);
  strbuf_printf(&secret, "AWS4%s", secret_key);
  hmac(secret.data, secret.len, date, k);
  OPENSSL_cleanse(secret.data, secret.len);
  strbuf_free(&secret);
  hmac(k, 32, region, k);
  hmac(k, 32, service, k);
  hmac(k, 32, "aws4_request", k);
}

struct sigv4_key_cache {
  pthread_mutex_t mu;
  char date[9], region[64], service[64];
  char *secret;     /* strdup'ed, wiped on replace */
  EVP_MAC_CTX *mac; /* keyed with the signing key of the four above; NULL: empty */
};

sigv4_key_cache *sigv4_key_cache_create(void) {
  sigv4_key_cache *c = calloc(1, sizeof *c);
  if (c) pthread_mutex_init(&c->mu, NULL);
  return c;
}

static void cache_clear(sigv4_key_cache *c) {
  EVP_MAC_CTX_free(c->mac);
  c->mac = NULL;
  if (c->secret) {
    OPENSSL_cleanse(c->secret, strlen(c->secret));
    free(c->secret);
    c->secret = NULL;
  }
}

void sigv4_key_cache_destroy(sigv4_key_cache *c) {
  if (!c) return;
  cache_clear(c);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

/* A copy of the cached keyed context for these inputs (derived and kept first when they differ
 * from the cached ones); NULL when it cannot be cached (caller frees the copy). */
static EVP_MAC_CTX *cache_mac(sigv4_key_cache *c, const char *secret_key, const char *date,
                              const char *region, const char *service) {
  if (strlen(region) >= sizeof c->region || strlen(service) >= sizeof c->service) return NULL;
  EVP_MAC_CTX *out = NULL;
  pthread_mutex_lock(&c->mu);
  if (!c->mac || strcmp(c->date, date) || strcmp(c->region, region) ||
      strcmp(c->service, service) || strcmp(c->secret, secret_key)) {
    cache_clear(c);
    unsigned char k[32];
    signing_key(secret_key, date, region, service, k);
    c->mac = hmac_sha256_ctx_new(k, 32);
    OPENSSL_cleanse(k, sizeof k);
    c->secret = strdup(secret_key);
    if (!c->secret) cache_clear(c);
    snprintf(c->date, sizeof c->date, "%s", date);
    snprintf(c->region, sizeof c->region, "%s", region);
    snprintf(c->service, sizeof c->service, "%s", service);
  }
  if (c->mac) out = EVP_MAC_CTX_dup(c->mac);
  pthread_mutex_unlock(&c->mu);
  return out;
}

/* HMAC(kSigning, string to sign) into sig. Returns 0 or -1 (OpenSSL failed). */
static int signature(sigv4_key_cache *cache, const sigv4_params *p, const char *date,
                     const char *sts, unsigned char sig[32]) {
  EVP_MAC_CTX *mac = cache ? cache_mac(cache, p->secret_key, date, p->region, p->service) : NULL;
  if (!mac) {
    unsigned char k[32];
    signing_key(p->secret_key, date, p->region, p->service, k);
    hmac(k, 32, sts, sig);
    OPENSSL_cleanse(k, sizeof k);
    return 0;
  }
  size_t len = 0;
  int ok = EVP_MAC_update(mac, (const unsigned char *)sts, strlen(sts)) &&
           EVP_MAC_final(mac, sig, &len, 32) && len == 32;
  EVP_MAC_CTX_free(mac);
  return ok ? 0 : -1;
}

/* ---- signing ------------------------------------------------------------------------------ */

int sigv4_sign(const sigv4_request *req, const sigv4_params *p, sigv4_result *out) {
  return sigv4_sign_cached(NULL, req, p, out);
}

int sigv4_sign_cached(sigv4_key_cache *cache, const sigv4_request *req, const sigv4_params *p,
                      sigv4_result *out) {
  memset(out, 0, sizeof *out);
  if (!req->method || !p->access_key || !p->secret_key || !p->region || !p->service ||
      !p->amz_date || strlen(p->amz_date) != 16)
    return -1;
  memcpy(out->amz_date_buf, p->amz_date, 17);
  bool token = p->session_token && *p->session_token;
  bool add_date = !has_header(req, "x-amz-date");
  bool add_token = token && !has_header(req, "x-amz-security-token");
  bool sign_token = add_token && !p->token_unsigned;

  size_t nh = 0;
  cheader *hs = calloc(req->n_headers + 2, sizeof *hs);
  for (size_t i = 0; i < req->n_headers; i++) {
    if (!strcasecmp(req->headers[i].name, "authorization")) continue;
    hs[nh].name = lower_dup(req->headers[i].name);
    hs[nh].value = canonical_value(req->headers[i].value ? req->headers[i].value : "");
    hs[nh].order = i;
    nh++;
  }
  if (add_date) {
    hs[nh].name = strdup("x-amz-date");
    hs[nh].value = strdup(p->amz_date);
    hs[nh].order = nh;
    nh++;
  }
  if (sign_token) {
    hs[nh].name = strdup("x-amz-security-token");
    hs[nh].value = canonical_value(p->session_token);
    hs[nh].order = nh;
    nh++;
  }
  qsort(hs, nh, sizeof *hs, cheader_cmp);

  strbuf creq, signed_names;
  strbuf_init(&creq);
  strbuf_init(&signed_names);
  strbuf_puts(&creq, req->method);
  strbuf_putc(&creq, '\n');
  strbuf path;
  strbuf_init(&path);
  normalize_path(&path, req->path);
  encode_into(&creq, path.data, path.len, true);
  strbuf_free(&path);
  strbuf_putc(&creq, '\n');
  canonical_query(&creq, req->query);
  strbuf_putc(&creq, '\n');
  /* Duplicate names were sorted next to each other in their original order: join them. */
  for (size_t i = 0; i < nh; i++) {
    bool same_as_prev = i > 0 && !strcmp(hs[i].name, hs[i - 1].name);
    if (same_as_prev) {
      strbuf_putc(&creq, ',');
      strbuf_puts(&creq, hs[i].value);
    } else {
      if (i) strbuf_putc(&creq, '\n');
      strbuf_puts(&creq, hs[i].name);
      strbuf_putc(&creq, ':');
      strbuf_puts(&creq, hs[i].value);
      if (signed_names.len) strbuf_putc(&signed_names, ';');
      strbuf_puts(&signed_names, hs[i].name);
    }
  }
  strbuf_puts(&creq, "\n\n");
  strbuf_puts(&creq, signed_names.data);
  strbuf_putc(&creq, '\n');
  char payload_hash[65];
  sigv4_sha256_hex(req->payload, req->payload_len, payload_hash);
  strbuf_puts(&creq, payload_hash);
  for (size_t i = 0; i < nh; i++) {
    free(hs[i].name);
    free(hs[i].value);
  }
  free(hs);

  char date[9];
  memcpy(date, p->amz_date, 8);
  date[8] = '\0';
  char creq_hash[65];
  sigv4_sha256_hex(creq.data, creq.len, creq_hash);
  strbuf sts;
  strbuf_init(&sts);
  const char *sts_parts[] = {
      "AWS4-HMAC-SHA256\n", p->amz_date,       "\n",     date, "/", p->region, "/",
      p->service,           "/aws4_request\n", creq_hash};
  for (size_t i = 0; i < sizeof sts_parts / sizeof *sts_parts; i++) strbuf_puts(&sts, sts_parts[i]);

  unsigned char sig[32];
  if (signature(cache, p, date, sts.data, sig) != 0) {
    strbuf_free(&creq);
    strbuf_free(&sts);
    strbuf_free(&signed_names);
    return -1;
  }
  char sighex[65];
  to_hex(sig, 32, sighex);

  strbuf authz;
  strbuf_init(&authz);
  const char *authz_parts[] = {"AWS4-HMAC-SHA256 Credential=",
                               p->access_key,
                               "/",
                               date,
                               "/",
                               p->region,
                               "/",
                               p->service,
                               "/aws4_request, SignedHeaders=",
                               signed_names.data,
                               ", Signature=",
                               sighex};
  for (size_t i = 0; i < sizeof authz_parts / sizeof *authz_parts; i++)
    strbuf_puts(&authz, authz_parts[i]);
  strbuf_free(&signed_names);

  out->canonical_request = strbuf_take(&creq);
  out->string_to_sign = strbuf_take(&sts);
  out->authorization = strbuf_take(&authz);
  if (add_date) out->add[out->n_add++] = (sigv4_header){"X-Amz-Date", out->amz_date_buf};
  if (add_token) out->add[out->n_add++] = (sigv4_header){"X-Amz-Security-Token", p->session_token};
  out->add[out->n_add++] = (sigv4_header){"Authorization", out->authorization};
  return 0;
}

void sigv4_result_free(sigv4_result *r) {
  free(r->canonical_request);
  free(r->string_to_sign);
  free(r->authorization);
  memset(r, 0, sizeof *r);
}
