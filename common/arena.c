/* Chunked bump allocator. */
#include "common/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct arena_chunk {
  arena_chunk *next;
  size_t used, cap;
  _Alignas(16) unsigned char data[];
};

#define CHUNK_SIZE 8192

static void *pb_alloc(void *data, size_t n) { return arena_alloc(data, n); }
static void pb_free(void *data, void *p) { (void)data, (void)p; }

void arena_init(arena *a) { arena_init_sized(a, CHUNK_SIZE); }

void arena_init_sized(arena *a, size_t chunk) {
  a->head = NULL;
  a->chunk = chunk;
  a->pb.alloc = pb_alloc;
  a->pb.free = pb_free;
  a->pb.allocator_data = a;
}

void arena_free(arena *a) {
  for (arena_chunk *c = a->head, *n; c; c = n) {
    n = c->next;
    free(c);
  }
  a->head = NULL;
}

void *arena_alloc(arena *a, size_t n) {
  n = (n + 15) & ~(size_t)15;
  arena_chunk *c = a->head;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > a->chunk ? n : a->chunk;
    c = malloc(sizeof *c + cap);
    if (!c) abort();
    c->used = 0;
    c->cap = cap;
    if (a->head && n > a->chunk) {
      /* keep the partly used chunk at the head for the small allocations that follow */
      c->next = a->head->next;
      a->head->next = c;
    } else {
      c->next = a->head;
      a->head = c;
    }
  }
  void *p = c->data + c->used;
  c->used += n;
  memset(p, 0, n);
  return p;
}

char *arena_strndup(arena *a, const char *s, size_t n) {
  char *d = arena_alloc(a, n + 1);
  memcpy(d, s, n);
  return d;
}

char *arena_strdup(arena *a, const char *s) { return s ? arena_strndup(a, s, strlen(s)) : NULL; }

char *arena_sprintf(arena *a, const char *fmt, ...) {
  /* Most strings fit the stack buffer: format once, copy; otherwise format again at size. */
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return arena_strdup(a, "");
  if ((size_t)n < sizeof buf) return arena_strndup(a, buf, (size_t)n);
  char *d = arena_alloc(a, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(d, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return d;
}
