/* A per-call bump allocator: everything a request's handler allocates (decoded request,
 * response messages, strings) lives until the call ends and is freed at once. Not thread-safe:
 * one arena belongs to one call. */
#ifndef MENU_ARENA_H
#define MENU_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

typedef struct arena_chunk arena_chunk;
typedef struct {
  arena_chunk *head;
  size_t chunk;          /* bytes per block */
  ProtobufCAllocator pb; /* protobuf-c allocator drawing from this arena (free is a no-op) */
} arena;

void arena_init(arena *a);
/* With smaller blocks than arena_init's 8 KiB, for many small long-lived arenas (spans). */
void arena_init_sized(arena *a, size_t chunk);
void arena_free(arena *a);             /* frees every block; the arena can be used again after */
void *arena_alloc(arena *a, size_t n); /* zeroed, 16-byte aligned; aborts on OOM */
char *arena_strdup(arena *a, const char *s);
char *arena_strndup(arena *a, const char *s, size_t n);
char *arena_sprintf(arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
