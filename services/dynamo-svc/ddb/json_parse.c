/* The DynamoDB answer reader: recursive descent straight into jansson values. json_loadb
 * lexes through a per-character stream and a token buffer, which made it 40% of dynamo-svc's
 * instructions on a list call (docs/PROFILE-services.md); the tree it builds is the same. */
#include "services/dynamo-svc/ddb/json_parse.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/validate.h"

typedef struct {
  const char *p, *end;
  int depth;
} reader;

static json_t *read_value(reader *r);

/* Length of the strict UTF-8 sequence at p (a byte >= 0x80), or 0 when it is not one (also
 * when it runs past end: the zero padding is no continuation byte). */
static size_t utf8_len(const char *p, const char *end) {
  unsigned char t[4] = {0};
  memcpy(t, p, end - p < 4 ? (size_t)(end - p) : 4);
  uint32_t cp;
  return validate_utf8_next(t, &cp);
}

static void skip_ws(reader *r) {
  while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t')) r->p++;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static int hex4(const char *s, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    v <<= 4;
    if (is_digit(c))
      v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (unsigned)(c - 'A' + 10);
    else
      return -1;
  }
  *out = v;
  return 0;
}

static size_t put_utf8(char *b, unsigned u) {
  if (u < 0x80) {
    b[0] = (char)u;
    return 1;
  }
  if (u < 0x800) {
    b[0] = (char)(0xC0 | u >> 6);
    b[1] = (char)(0x80 | (u & 63));
    return 2;
  }
  if (u < 0x10000) {
    b[0] = (char)(0xE0 | u >> 12);
    b[1] = (char)(0x80 | ((u >> 6) & 63));
    b[2] = (char)(0x80 | (u & 63));
    return 3;
  }
  b[0] = (char)(0xF0 | u >> 18);
  b[1] = (char)(0x80 | ((u >> 12) & 63));
  b[2] = (char)(0x80 | ((u >> 6) & 63));
  b[3] = (char)(0x80 | (u & 63));
  return 4;
}

/* A string at r->p (the opening quote), checked to be strict UTF-8 (so that it may go into
 * jansson unchecked). Without escapes *s points into the buffer and *owned is NULL; with
 * escapes the decoded text is in *owned (caller frees) and *s == *owned. */
static int read_string(reader *r, const char **s, size_t *len, char **owned) {
  *owned = NULL;
  r->p++; /* the quote */
  const char *start = r->p;
  while (r->p < r->end) {
    unsigned char c = (unsigned char)*r->p;
    if (c == '"' || c == '\\' || c < 0x20) break;
    if (c < 0x80) {
      r->p++;
      continue;
    }
    size_t n = utf8_len(r->p, r->end);
    if (!n) return -1;
    r->p += n;
  }
  if (r->p < r->end && *r->p == '"') {
    *s = start;
    *len = (size_t)(r->p - start);
    r->p++;
    return 0;
  }
  /* Escapes: the decoded text is never longer than the source ("\uXXXX" is 6 bytes for at
   * most 3; a surrogate pair 12 for 4). */
  char *b = malloc((size_t)(r->end - start) + 1);
  if (!b) return -1;
  size_t n = (size_t)(r->p - start);
  memcpy(b, start, n);
  while (r->p < r->end) {
    unsigned char c = (unsigned char)*r->p;
    if (c == '"') {
      r->p++;
      *s = *owned = b;
      *len = n;
      return 0;
    }
    if (c < 0x20) break;
    if (c >= 0x80) {
      size_t k = utf8_len(r->p, r->end);
      if (!k) break;
      memcpy(b + n, r->p, k);
      n += k;
      r->p += k;
      continue;
    }
    r->p++;
    if (c != '\\') {
      b[n++] = (char)c;
      continue;
    }
    if (r->p >= r->end) break;
    c = (unsigned char)*r->p++;
    char simple = c == '"' || c == '\\' || c == '/' ? (char)c
                  : c == 'b'                        ? '\b'
                  : c == 'f'                        ? '\f'
                  : c == 'n'                        ? '\n'
                  : c == 'r'                        ? '\r'
                  : c == 't'                        ? '\t'
                                                    : 0;
    if (simple) {
      b[n++] = simple;
      continue;
    }
    unsigned u, lo;
    if (c != 'u' || r->end - r->p < 4 || hex4(r->p, &u)) break;
    r->p += 4;
    if (u >= 0xDC00 && u <= 0xDFFF) break; /* a lone low surrogate */
    if (u >= 0xD800 && u <= 0xDBFF) {
      if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' || hex4(r->p + 2, &lo) ||
          lo < 0xDC00 || lo > 0xDFFF)
        break;
      r->p += 6;
      u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (u == 0) break; /* json_loadb refuses NUL in strings unless JSON_ALLOW_NUL */
    n += put_utf8(b + n, u);
  }
  free(b);
  return -1;
}

/* RFC 8259 number; an integer when it has neither fraction nor exponent (as json_loadb). */
static json_t *read_number(reader *r) {
  const char *s = r->p;
  bool real = false;
  if (r->p < r->end && *r->p == '-') r->p++;
  if (r->p < r->end && *r->p == '0') {
    r->p++;
  } else {
    if (r->p >= r->end || !is_digit(*r->p)) return NULL;
    while (r->p < r->end && is_digit(*r->p)) r->p++;
  }
  if (r->p < r->end && *r->p == '.') {
    real = true;
    r->p++;
    if (r->p >= r->end || !is_digit(*r->p)) return NULL;
    while (r->p < r->end && is_digit(*r->p)) r->p++;
  }
  if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
    real = true;
    r->p++;
    if (r->p < r->end && (*r->p == '+' || *r->p == '-')) r->p++;
    if (r->p >= r->end || !is_digit(*r->p)) return NULL;
    while (r->p < r->end && is_digit(*r->p)) r->p++;
  }
  char text[400];
  size_t n = (size_t)(r->p - s);
  if (n >= sizeof text) return NULL; /* longer than any number json_t can hold exactly */
  memcpy(text, s, n);
  text[n] = '\0';
  errno = 0;
  if (!real) {
    long long v = strtoll(text, NULL, 10);
    if (errno == ERANGE) return NULL;
    return json_integer((json_int_t)v);
  }
  double d = strtod(text, NULL);
  if (errno == ERANGE && isinf(d)) return NULL; /* overflow; underflow to 0 is accepted */
  return json_real(d);
}

static json_t *read_object(reader *r) {
  json_t *o = json_object();
  r->p++; /* '{' */
  skip_ws(r);
  if (r->p < r->end && *r->p == '}') {
    r->p++;
    return o;
  }
  while (o) {
    skip_ws(r);
    if (r->p >= r->end || *r->p != '"') goto fail;
    const char *k;
    size_t kl;
    char *owned;
    if (read_string(r, &k, &kl, &owned) != 0) goto fail;
    skip_ws(r);
    json_t *v = NULL;
    if (r->p < r->end && *r->p == ':') {
      r->p++;
      v = read_value(r);
    }
    int rc = v ? json_object_setn_new_nocheck(o, k, kl, v) : -1;
    free(owned);
    if (rc != 0) goto fail;
    skip_ws(r);
    if (r->p < r->end && *r->p == ',') {
      r->p++;
      continue;
    }
    if (r->p < r->end && *r->p == '}') {
      r->p++;
      return o;
    }
    goto fail;
  }
fail:
  json_decref(o);
  return NULL;
}

static json_t *read_array(reader *r) {
  json_t *a = json_array();
  r->p++; /* '[' */
  skip_ws(r);
  if (r->p < r->end && *r->p == ']') {
    r->p++;
    return a;
  }
  while (a) {
    json_t *v = read_value(r);
    if (!v || json_array_append_new(a, v) != 0) goto fail;
    skip_ws(r);
    if (r->p < r->end && *r->p == ',') {
      r->p++;
      continue;
    }
    if (r->p < r->end && *r->p == ']') {
      r->p++;
      return a;
    }
    goto fail;
  }
fail:
  json_decref(a);
  return NULL;
}

static bool literal(reader *r, const char *word, size_t n) {
  if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0) return false;
  r->p += n;
  return true;
}

static json_t *read_value(reader *r) {
  skip_ws(r);
  if (r->p >= r->end || r->depth >= DDB_JSON_MAX_DEPTH) return NULL;
  r->depth++;
  json_t *v = NULL;
  switch (*r->p) {
    case '{':
      v = read_object(r);
      break;
    case '[':
      v = read_array(r);
      break;
    case '"': {
      const char *s;
      size_t len;
      char *owned;
      if (read_string(r, &s, &len, &owned) == 0) v = json_stringn_nocheck(s, len);
      free(owned);
      break;
    }
    case 't':
      v = literal(r, "true", 4) ? json_true() : NULL;
      break;
    case 'f':
      v = literal(r, "false", 5) ? json_false() : NULL;
      break;
    case 'n':
      v = literal(r, "null", 4) ? json_null() : NULL;
      break;
    default:
      v = read_number(r);
  }
  r->depth--;
  return v;
}

json_t *ddb_json_parse(const char *buf, size_t len) {
  if (!buf) return NULL;
  reader r = {buf, buf + len, 0};
  skip_ws(&r);
  if (r.p >= r.end || (*r.p != '{' && *r.p != '[')) return NULL; /* as without JSON_DECODE_ANY */
  json_t *v = read_value(&r);
  skip_ws(&r);
  if (v && r.p != r.end) {
    json_decref(v);
    v = NULL;
  }
  return v;
}
