/* The LRU: an open hash table of chains (FNV-1a over part and key) plus a doubly linked
 * recency list, both under one mutex; an entry is one allocation holding its key and value. */
#include "gateway/menu_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
  struct entry *hnext;       /* hash chain */
  struct entry *prev, *next; /* recency: head is the most recently used */
  uint64_t hash;
  menu_cache_part part;
  menu_cache_meta meta;
  size_t key_len, value_len;
  unsigned char data[]; /* key, then value */
} entry;

struct menu_cache {
  pthread_mutex_t mu;
  size_t budget, bytes, n_entries;
  int64_t staleness_ms;
  entry **buckets;
  size_t n_buckets; /* a power of two */
  entry *head, *tail;
  metrics_family *hits, *misses, *evictions, *bytes_gauge, *entries_gauge, *staleness;
};

static const char *const part_names[MENU_CACHE_PARTS] = {"categories", "availability", "swaps",
                                                         "menu", "validity"};

const char *menu_cache_part_name(menu_cache_part part) {
  return part < MENU_CACHE_PARTS ? part_names[part] : "unknown";
}

bool menu_cache_entry_fresh(const menu_cache_meta *meta, const menu_cache_view *v) {
  const gateway_revision_state *r = &v->revs;
  if (meta->has_catalog && (!r->catalog_known || r->catalog != meta->catalog)) return false;
  if (meta->has_availability && (!r->availability_known || r->availability != meta->availability))
    return false;
  if (v->at_ms < meta->from_ms) return false;
  if (meta->until_ms && v->at_ms >= meta->until_ms) return false;
  if (!r->confirmed_ms || v->now_ms - r->confirmed_ms >= v->staleness_ms) return false;
  /* A catalog write may still land without moving the revision again: trust nothing read
   * longer ago than the bound. */
  if (meta->has_catalog && r->unsettled_until_ms > v->now_real_ms &&
      v->now_ms - meta->created_ms >= v->staleness_ms)
    return false;
  return true;
}

/* Superseded for good: a revision it depends on is known to have moved on. */
static bool entry_dead(const menu_cache_meta *meta, const gateway_revision_state *r) {
  return (meta->has_catalog && r->catalog_known && r->catalog != meta->catalog) ||
         (meta->has_availability && r->availability_known && r->availability != meta->availability);
}

void menu_cache_config_load(config *c, size_t *bytes, int64_t *staleness_ms) {
  *bytes = (size_t)config_int(c, "MENU_CACHE_BYTES", MENU_CACHE_BYTES_DEFAULT, 0,
                              (int64_t)64 * 1024 * 1024 * 1024);
  *staleness_ms =
      config_int(c, "MENU_CACHE_STALENESS_MS", MENU_CACHE_STALENESS_MS_DEFAULT, 1, 3600000);
}

static uint64_t key_hash(menu_cache_part part, const void *key, size_t n) {
  uint64_t h = 1469598103934665603ULL ^ (uint64_t)part;
  const unsigned char *p = key;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  return h;
}

static size_t entry_size(const entry *e) { return sizeof *e + e->key_len + e->value_len; }

static void gauges_set(menu_cache *c) {
  metrics_set(c->bytes_gauge, METRICS_NO_LABELS, (double)c->bytes);
  metrics_set(c->entries_gauge, METRICS_NO_LABELS, (double)c->n_entries);
}

menu_cache *menu_cache_create(size_t budget_bytes, int64_t staleness_ms,
                              metrics_registry *metrics) {
  menu_cache *c = calloc(1, sizeof *c);
  pthread_mutex_init(&c->mu, NULL);
  c->budget = budget_bytes;
  c->staleness_ms = staleness_ms;
  c->n_buckets = 1024;
  while (c->n_buckets < budget_bytes / 4096 && c->n_buckets < ((size_t)1 << 22)) c->n_buckets <<= 1;
  c->buckets = calloc(c->n_buckets, sizeof *c->buckets);
  c->hits =
      metrics_counter(metrics, "menu_cache_hits_total",
                      "Gateway cache lookups answered from the cache", METRICS_LABELS("part"));
  c->misses = metrics_counter(metrics, "menu_cache_misses_total",
                              "Gateway cache lookups that had to read the owners (absent, "
                              "superseded, out of window or unconfirmed)",
                              METRICS_LABELS("part"));
  c->evictions = metrics_counter(metrics, "menu_cache_evictions_total",
                                 "Gateway cache entries dropped to stay within MENU_CACHE_BYTES",
                                 METRICS_LABELS("part"));
  c->bytes_gauge = metrics_gauge(metrics, "menu_cache_bytes",
                                 "Bytes held by the gateway cache (keys, values, bookkeeping)",
                                 METRICS_NO_LABELS);
  c->entries_gauge = metrics_gauge(metrics, "menu_cache_entries", "Entries in the gateway cache",
                                   METRICS_NO_LABELS);
  static const double buckets[] = {0.05, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5};
  c->staleness =
      metrics_histogram(metrics, "menu_cache_staleness_seconds",
                        "Age of the revision poll confirmation when a cache entry is served",
                        METRICS_NO_LABELS, buckets, sizeof buckets / sizeof *buckets);
  for (int p = 0; p < MENU_CACHE_PARTS; p++) {
    metrics_add(c->hits, METRICS_LABELS(part_names[p]), 0);
    metrics_add(c->misses, METRICS_LABELS(part_names[p]), 0);
    metrics_add(c->evictions, METRICS_LABELS(part_names[p]), 0);
  }
  gauges_set(c);
  return c;
}

void menu_cache_destroy(menu_cache *c) {
  if (!c) return;
  for (entry *e = c->head, *next; e; e = next) {
    next = e->next;
    free(e);
  }
  free(c->buckets);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

int64_t menu_cache_staleness_ms(const menu_cache *c) { return c->staleness_ms; }

/* ---- under c->mu ----------------------------------------------------------------------------- */

static entry **slot_find(menu_cache *c, uint64_t h, menu_cache_part part, const void *key,
                         size_t n) {
  entry **pp = &c->buckets[h & (c->n_buckets - 1)];
  for (; *pp; pp = &(*pp)->hnext) {
    entry *e = *pp;
    if (e->hash == h && e->part == part && e->key_len == n && memcmp(e->data, key, n) == 0)
      return pp;
  }
  return pp;
}

static void lru_unlink(menu_cache *c, entry *e) {
  if (e->prev)
    e->prev->next = e->next;
  else
    c->head = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    c->tail = e->prev;
  e->prev = e->next = NULL;
}

static void lru_push_front(menu_cache *c, entry *e) {
  e->prev = NULL;
  e->next = c->head;
  if (c->head) c->head->prev = e;
  c->head = e;
  if (!c->tail) c->tail = e;
}

/* Unlinks *pp (a slot holding e) from both structures and frees it. */
static void entry_remove(menu_cache *c, entry **pp) {
  entry *e = *pp;
  *pp = e->hnext;
  lru_unlink(c, e);
  c->bytes -= entry_size(e);
  c->n_entries--;
  free(e);
}

static void evict_until(menu_cache *c, size_t budget) {
  while (c->bytes > budget && c->tail) {
    entry *e = c->tail;
    metrics_add(c->evictions, METRICS_LABELS(part_names[e->part]), 1);
    entry **pp = slot_find(c, e->hash, e->part, e->data, e->key_len);
    entry_remove(c, pp);
  }
}

/* ---- the API --------------------------------------------------------------------------------- */

void menu_cache_put(menu_cache *c, menu_cache_part part, const void *key, size_t key_len,
                    const menu_cache_meta *meta, const void *value, size_t value_len) {
  size_t size = sizeof(entry) + key_len + value_len;
  if (size > c->budget) return;
  entry *e = malloc(size);
  e->hnext = NULL;
  e->hash = key_hash(part, key, key_len);
  e->part = part;
  e->meta = *meta;
  e->key_len = key_len;
  e->value_len = value_len;
  memcpy(e->data, key, key_len);
  memcpy(e->data + key_len, value, value_len);
  pthread_mutex_lock(&c->mu);
  entry **pp = slot_find(c, e->hash, part, key, key_len);
  if (*pp) entry_remove(c, pp);
  pp = slot_find(c, e->hash, part, key, key_len);
  *pp = e;
  lru_push_front(c, e);
  c->bytes += size;
  c->n_entries++;
  evict_until(c, c->budget);
  gauges_set(c);
  pthread_mutex_unlock(&c->mu);
}

bool menu_cache_get(menu_cache *c, menu_cache_part part, const void *key, size_t key_len,
                    const menu_cache_view *v, arena *a, const unsigned char **value,
                    size_t *value_len, menu_cache_meta *meta) {
  uint64_t h = key_hash(part, key, key_len);
  bool hit = false;
  pthread_mutex_lock(&c->mu);
  entry **pp = slot_find(c, h, part, key, key_len);
  entry *e = *pp;
  if (e && menu_cache_entry_fresh(&e->meta, v)) {
    hit = true;
    lru_unlink(c, e);
    lru_push_front(c, e);
    *meta = e->meta;
    *value_len = e->value_len;
    unsigned char *copy = arena_alloc(a, e->value_len ? e->value_len : 1);
    memcpy(copy, e->data + e->key_len, e->value_len);
    *value = copy;
  } else if (e && entry_dead(&e->meta, &v->revs)) {
    entry_remove(c, pp);
    gauges_set(c);
  }
  pthread_mutex_unlock(&c->mu);
  metrics_add(hit ? c->hits : c->misses, METRICS_LABELS(part_names[part]), 1);
  if (hit)
    metrics_observe(c->staleness, METRICS_NO_LABELS,
                    (double)(v->now_ms - v->revs.confirmed_ms) / 1000.0);
  return hit;
}

size_t menu_cache_bytes(menu_cache *c) {
  pthread_mutex_lock(&c->mu);
  size_t n = c->bytes;
  pthread_mutex_unlock(&c->mu);
  return n;
}

size_t menu_cache_entries(menu_cache *c) {
  pthread_mutex_lock(&c->mu);
  size_t n = c->n_entries;
  pthread_mutex_unlock(&c->mu);
  return n;
}
