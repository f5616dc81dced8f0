/* A growable NUL-terminated byte buffer. Not thread-safe; aborts on allocation failure. */
#ifndef MENU_STRBUF_H
#define MENU_STRBUF_H

#include <stddef.h>

typedef struct {
  char *data; /* always NUL-terminated */
  size_t len, cap;
} strbuf;

void strbuf_init(strbuf *b);
void strbuf_free(strbuf *b);
void strbuf_reset(strbuf *b);
void strbuf_append(strbuf *b, const void *data, size_t n);
void strbuf_puts(strbuf *b, const char *s);
void strbuf_putc(strbuf *b, char c);
void strbuf_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the data to the caller (caller frees) and leaves b empty. */
char *strbuf_take(strbuf *b);

#endif
