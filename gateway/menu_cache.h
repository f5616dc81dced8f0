/* The gateway's cache of composed parts: an LRU of opaque values (packed protobuf messages)
 * under a byte budget (MENU_CACHE_BYTES), each labelled with the owners' revisions it was read
 * at and the window of instants it holds for. Whether an entry may be served is decided from
 * what the revision poller confirmed (menu_cache_entry_fresh): the same revisions, the instant
 * inside the window, and a confirmation younger than the staleness bound
 * (MENU_CACHE_STALENESS_MS). Records menu_cache_* metrics.
 * Thread-safe: one mutex guards the table; values are copied in and out. */
#ifndef GATEWAY_MENU_CACHE_H
#define GATEWAY_MENU_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/mono_clock.h"
#include "common/config.h"
#include "common/metrics.h"
#include "gateway/revisions.h"

#define MENU_CACHE_BYTES_DEFAULT (64 * 1024 * 1024)
#define MENU_CACHE_STALENESS_MS_DEFAULT 1000

/* What an entry holds; the label of its metrics ("categories"). */
typedef enum {
  MENU_CACHE_CATEGORIES,   /* a ListCategories page per (channel, page args) */
  MENU_CACHE_AVAILABILITY, /* a BatchGetProductAvailabilities answer per (store, channel, codes) */
  MENU_CACHE_SWAPS,        /* a BatchGetGhostSwaps answer per (channel, codes) */
  MENU_CACHE_MENU,         /* a whole GetStoreMenu answer per (store, channel, page, flags) */
  MENU_CACHE_VALIDITY,     /* a store's availability revision and validity window */
  MENU_CACHE_PARTS
} menu_cache_part;

const char *menu_cache_part_name(menu_cache_part part);

/* What a value was read at. */
typedef struct {
  bool has_catalog, has_availability; /* which owner's revision the value depends on */
  uint64_t catalog, availability;
  /* Realtime ms: the value holds for instants in [from_ms, until_ms); until_ms 0 = no end. */
  int64_t from_ms, until_ms;
  /* Monotonic ms (mono_now_ms) when the read that produced it started. */
  int64_t created_ms;
} menu_cache_meta;

/* What a lookup is checked against. */
typedef struct {
  gateway_revision_state revs; /* the poller's snapshot of the channel */
  int64_t at_ms;               /* realtime ms: the instant the answer is for */
  int64_t now_ms;              /* monotonic ms */
  int64_t now_real_ms;         /* realtime ms (for unsettled_until) */
  int64_t staleness_ms;        /* MENU_CACHE_STALENESS_MS */
} menu_cache_view;

/* Whether an entry with `meta` may be served for `v`: its revisions equal the channel's
 * current ones, the instant is inside its window, the revisions were confirmed by a poll that
 * started less than the staleness bound ago, and, while dynamo-svc reports a catalog write
 * in flight (unsettled_until ahead), a catalog-dependent entry is younger than the bound. */
bool menu_cache_entry_fresh(const menu_cache_meta *meta, const menu_cache_view *v);

typedef struct menu_cache menu_cache;

/* Reads MENU_CACHE_BYTES and MENU_CACHE_STALENESS_MS (problems go into c). */
void menu_cache_config_load(config *c, size_t *bytes, int64_t *staleness_ms);

/* `metrics` is borrowed and must outlive the cache. Caller frees with menu_cache_destroy.
 * A budget of 0 still makes a cache that holds nothing (every lookup a miss). */
menu_cache *menu_cache_create(size_t budget_bytes, int64_t staleness_ms, metrics_registry *metrics);
void menu_cache_destroy(menu_cache *c);

int64_t menu_cache_staleness_ms(const menu_cache *c);

/* Stores a copy of value under (part, key), replacing what was there, and evicts the least
 * recently used entries until the budget holds. A value larger than the whole budget is
 * not stored. key and value are borrowed for the call. */
void menu_cache_put(menu_cache *c, menu_cache_part part, const void *key, size_t key_len,
                    const menu_cache_meta *meta, const void *value, size_t value_len);

/* A hit: true with *value (arena-owned copy), *value_len and *meta set, when (part, key) is
 * present and fresh for v. An entry whose revisions are known to be superseded is dropped.
 * Counts hits and misses and observes the confirmation's age on a hit. */
bool menu_cache_get(menu_cache *c, menu_cache_part part, const void *key, size_t key_len,
                    const menu_cache_view *v, arena *a, const unsigned char **value,
                    size_t *value_len, menu_cache_meta *meta);

/* Totals, for tests and the bytes/entries gauges. */
size_t menu_cache_bytes(menu_cache *c);
size_t menu_cache_entries(menu_cache *c);

#endif
