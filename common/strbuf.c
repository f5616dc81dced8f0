/* Growable string buffer. */
#include "common/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void grow(strbuf *b, size_t extra) {
  if (b->len + extra + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < b->len + extra + 1) cap *= 2;
  char *d = realloc(b->data, cap);
  if (!d) abort();
  b->data = d;
  b->cap = cap;
}

void strbuf_init(strbuf *b) {
  b->data = NULL;
  b->len = b->cap = 0;
  grow(b, 0);
  b->data[0] = 0;
}
void strbuf_free(strbuf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
void strbuf_reset(strbuf *b) {
  b->len = 0;
  b->data[0] = 0;
}
void strbuf_append(strbuf *b, const void *data, size_t n) {
  grow(b, n);
  memcpy(b->data + b->len, data, n);
  b->len += n;
  b->data[b->len] = 0;
}
void strbuf_puts(strbuf *b, const char *s) { strbuf_append(b, s, strlen(s)); }
void strbuf_putc(strbuf *b, char c) { strbuf_append(b, &c, 1); }
void strbuf_printf(strbuf *b, const char *fmt, ...) {
  /* Format into the spare room; grow and format again only when it did not fit. */
  grow(b, 64);
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->data[b->len] = 0;
    return;
  }
  if ((size_t)n >= b->cap - b->len) {
    grow(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
  }
  b->len += (size_t)n;
}

char *strbuf_take(strbuf *b) {
  char *d = b->data;
  b->data = NULL;
  b->len = b->cap = 0;
  return d;
}
