/* WatchStoreMenu: watchers, their groups, and the scheduler thread that decides when a group
 * recomposes (a revision moved, valid_until passed, a failure's backoff ended), bounded by the
 * per-group interval and the number of compositions in flight. A composition walks the menu's
 * pages with local GetStoreMenu calls (completion callbacks, never a blocked thread), builds
 * one rpc_feed_item and offers it to the group's watchers whose etag differs. */
#include "gateway/watch.h"
#include "common/mono_clock.h"

#include <grpc/support/time.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/backoff.h"
#include "common/log.h"
#include "common/prng.h"
#include "gateway/store_menu.h"

#define GET_STORE_MENU_PATH "/menu.v1.MenuService/GetStoreMenu"
#define ETAG_MAX 128
#define BUCKETS 4096
#define RETRY_FIRST_MS 250
/* Also how late a change the poller did not report (its first value) may be noticed. */
#define SCHEDULER_MAX_SLEEP_MS 250

typedef struct watch_group watch_group;

/* One WatchStoreMenu stream. Guarded by the service's lock. */
typedef struct watcher {
  watch_service *w;
  rpc_feed *feed;
  watch_group *g;
  struct watcher *prev, *next; /* the group's */
  struct conn_count *conn;
  char etag[ETAG_MAX]; /* of the last version offered, or the caller's if_none_match */
} watcher;

/* Watchers per connection (the peer address is one per connection). */
typedef struct conn_count {
  struct conn_count *next;
  int n;
  char peer[];
} conn_count;

/* A version being composed: its pages so far. Touched by one callback at a time. */
typedef struct {
  grpc_slice *pages;
  size_t n, cap;
  char etag[ETAG_MAX];    /* GetStoreMenu's etag of the first page, or "" */
  uint64_t hash;          /* FNV-1a of the pages without at_time and etag */
  int64_t at_s, at_ns;    /* the first page's at_time: every page is one instant */
  int64_t valid_until_ms; /* realtime, 0: none */
  char *after;            /* the next page's cursor */
  int64_t change_seen_ms; /* the revision change it answers (monotonic), 0: none */
} composition;

struct watch_group {
  watch_group *hnext;
  watch_service *w;
  char *store;
  Menu__V1__Channel channel;
  bool include_unavailable, include_empty_categories;
  watcher *watchers;
  int n_watchers;
  rpc_feed_item *version; /* the current one, NULL before the first */
  char etag[ETAG_MAX];
  bool dirty, composing, failing;
  int64_t last_start_ms, retry_at_ms, backoff_ms; /* monotonic */
  int64_t valid_until_ms;                         /* realtime, 0: none */
  int64_t change_seen_ms;                         /* earliest revision change not composed */
  /* The owners' revisions as the poller knew them when the last composition started: the
   * poller does not report the first value it learns, so a write that lands before its first
   * poll of a channel would otherwise go unnoticed. The scheduler compares. */
  gateway_revision_state rev;
  composition c;
};

struct watch_service {
  watch_config cfg;
  rpc_server *server;
  gateway_revisions *revisions;
  pthread_mutex_t mu; /* guards everything below, every group and watcher */
  pthread_cond_t wake;
  pthread_t thread;
  bool running, stop;
  watch_group *groups[BUCKETS];
  conn_count *conns[BUCKETS];
  int n_watchers, n_groups, n_composing;
  metrics_family *m_watchers, *m_groups, *m_sent, *m_rejected, *m_delivery;
};

static int64_t real_ms(void) {
  gpr_timespec t = gpr_now(GPR_CLOCK_REALTIME);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The packed message as a new slice; caller unrefs. */
static grpc_slice slice_of(const ProtobufCMessage *m) {
  grpc_slice s = grpc_slice_malloc(protobuf_c_message_get_packed_size(m));
  protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
  return s;
}

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

static unsigned bucket_of(const char *s, unsigned extra) {
  uint64_t h = fnv1a(0xcbf29ce484222325ULL, (const unsigned char *)s, strlen(s));
  return (unsigned)((h ^ extra * 0x9e3779b97f4a7c15ULL) % BUCKETS);
}

void watch_config_load(config *c, watch_config *out) {
  out->max_watchers = (int)config_int(c, "MENU_MAX_WATCHERS", 20000, 0, 10000000);
  out->max_per_connection =
      (int)config_int(c, "MENU_MAX_WATCHERS_PER_CONNECTION", 1000, 1, 10000000);
  out->min_interval_ms = config_int(c, "MENU_WATCH_MIN_INTERVAL_MS", 100, 0, 3600000);
  out->retry_max_ms = config_int(c, "MENU_WATCH_RETRY_MAX_MS", 5000, RETRY_FIRST_MS, 3600000);
  out->compose_timeout_ms = config_int(c, "MENU_WATCH_COMPOSE_TIMEOUT_MS", 5000, 100, 600000);
  out->max_composing = (int)config_int(c, "MENU_WATCH_MAX_COMPOSING", 16, 1, 10000);
}

/* ---- metrics ------------------------------------------------------------------------------ */

static void collect(void *arg) {
  watch_service *w = arg;
  pthread_mutex_lock(&w->mu);
  double watchers = w->n_watchers, groups = w->n_groups;
  pthread_mutex_unlock(&w->mu);
  metrics_set(w->m_watchers, METRICS_NO_LABELS, watchers);
  metrics_set(w->m_groups, METRICS_NO_LABELS, groups);
}

static const double delivery_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

static void reject(watch_service *w, rpc_feed *f, const char *reason, menu_status st) {
  metrics_add(w->m_rejected, METRICS_LABELS(reason), 1);
  rpc_feed_end(f, st);
  rpc_feed_release(f);
}

/* ---- groups (under w->mu) ------------------------------------------------------------------ */

static void composition_clear(composition *c) {
  for (size_t i = 0; i < c->n; i++) grpc_slice_unref(c->pages[i]);
  free(c->pages);
  free(c->after);
  memset(c, 0, sizeof *c);
}

static watch_group *group_find(watch_service *w, const Menu__V1__WatchStoreMenuRequest *r,
                               bool create) {
  unsigned flags = (r->include_unavailable ? 1u : 0u) | (r->include_empty_categories ? 2u : 0u);
  unsigned b = bucket_of(r->store_code, (unsigned)r->channel * 4 + flags);
  for (watch_group *g = w->groups[b]; g; g = g->hnext)
    if (g->channel == r->channel && g->include_unavailable == r->include_unavailable &&
        g->include_empty_categories == r->include_empty_categories &&
        !strcmp(g->store, r->store_code))
      return g;
  if (!create) return NULL;
  watch_group *g = calloc(1, sizeof *g);
  if (!g) abort();
  g->w = w;
  g->store = strdup(r->store_code);
  if (!g->store) abort();
  g->channel = r->channel;
  g->include_unavailable = r->include_unavailable;
  g->include_empty_categories = r->include_empty_categories;
  g->dirty = true;
  g->hnext = w->groups[b];
  w->groups[b] = g;
  w->n_groups++;
  gateway_revisions_hold(w->revisions, g->channel); /* cheap: no call, no wait */
  return g;
}

static void group_free(watch_service *w, watch_group **link) {
  watch_group *g = *link;
  *link = g->hnext;
  gateway_revisions_release(w->revisions, g->channel);
  rpc_feed_item_unref(g->version);
  composition_clear(&g->c);
  free(g->store);
  free(g);
  w->n_groups--;
}

static conn_count *conn_get(watch_service *w, const char *peer) {
  unsigned b = bucket_of(peer, 0);
  for (conn_count *c = w->conns[b]; c; c = c->next)
    if (!strcmp(c->peer, peer)) return c;
  conn_count *c = calloc(1, sizeof *c + strlen(peer) + 1);
  if (!c) abort();
  strcpy(c->peer, peer);
  c->next = w->conns[b];
  w->conns[b] = c;
  return c;
}

static void conn_put(watch_service *w, conn_count *c) {
  if (--c->n > 0) return;
  for (conn_count **p = &w->conns[bucket_of(c->peer, 0)]; *p; p = &(*p)->next)
    if (*p == c) {
      *p = c->next;
      free(c);
      return;
    }
}

/* Offers the group's version to the watcher unless it has it (or said it had it). */
static void watcher_offer(watcher *wr) {
  watch_group *g = wr->g;
  if (!g->version || !strcmp(wr->etag, g->etag)) return;
  if (rpc_feed_offer(wr->feed, g->version)) {
    snprintf(wr->etag, sizeof wr->etag, "%s", g->etag);
    metrics_add(wr->w->m_sent, METRICS_NO_LABELS, 1);
  }
}

/* ---- a stream ends ------------------------------------------------------------------------ */

static void on_feed_end(rpc_feed *f, grpc_status_code code, void *arg) {
  (void)code;
  watcher *wr = arg;
  watch_service *w = wr->w;
  pthread_mutex_lock(&w->mu);
  watch_group *g = wr->g;
  if (wr->prev)
    wr->prev->next = wr->next;
  else
    g->watchers = wr->next;
  if (wr->next) wr->next->prev = wr->prev;
  g->n_watchers--;
  w->n_watchers--;
  conn_put(w, wr->conn);
  pthread_cond_signal(&w->wake); /* an empty group is freed by the scheduler */
  pthread_mutex_unlock(&w->mu);
  rpc_feed_release(f);
  free(wr);
}

/* ---- compositions -------------------------------------------------------------------------- */

static void compose_page(watch_group *g);

/* Every watcher of the group ends with st (a caller's mistake, e.g. an unknown store). Under
 * w->mu. */
static void group_end_all(watch_group *g, menu_status st) {
  for (watcher *wr = g->watchers; wr; wr = wr->next) rpc_feed_end(wr->feed, st);
}

/* The status a composition failed with is the caller's to fix, not an outage. */
static bool failure_is_final(grpc_status_code code) {
  return code == GRPC_STATUS_INVALID_ARGUMENT || code == GRPC_STATUS_NOT_FOUND ||
         code == GRPC_STATUS_FAILED_PRECONDITION || code == GRPC_STATUS_PERMISSION_DENIED;
}

static void compose_failed(watch_group *g, menu_status st) {
  watch_service *w = g->w;
  int64_t now = mono_now_ms();
  pthread_mutex_lock(&w->mu);
  int64_t change = g->c.change_seen_ms;
  composition_clear(&g->c);
  g->composing = false;
  w->n_composing--;
  if (failure_is_final(st.code)) {
    group_end_all(g, st);
  } else {
    if (change && (!g->change_seen_ms || change < g->change_seen_ms)) g->change_seen_ms = change;
    g->backoff_ms = g->backoff_ms ? g->backoff_ms * 2 : RETRY_FIRST_MS;
    if (g->backoff_ms > w->cfg.retry_max_ms) g->backoff_ms = w->cfg.retry_max_ms;
    /* Equal jitter: the store groups of a failed backend do not all retry at one instant. */
    g->retry_at_ms = now + backoff_equal_jitter_ms(g->backoff_ms, (uint32_t)prng_u64());
    g->dirty = true;
    if (!g->failing) {
      g->failing = true;
      log_warn("watch: menu composition failed; watchers keep their menu, retrying", "store",
               g->store, "status", menu_status_code_name(st.code), "error", st.message, NULL);
    }
  }
  pthread_cond_signal(&w->wake);
  pthread_mutex_unlock(&w->mu);
}

/* The last page is in: one item for every watcher, sent where the etag changed. */
static void compose_done(watch_group *g) {
  watch_service *w = g->w;
  composition *c = &g->c;
  char etag[ETAG_MAX];
  if (c->etag[0])
    snprintf(etag, sizeof etag, "%s", c->etag);
  else
    snprintf(etag, sizeof etag, "w%016llx", (unsigned long long)c->hash);
  /* Every page carries the version's etag: field 8 appended to each page's bytes (a field
   * after the others is valid protobuf), so the pages were packed once. */
  size_t elen = strlen(etag);
  unsigned char field[2 + 2 + ETAG_MAX];
  size_t fn = 0;
  field[fn++] = (8 << 3) | 2;
  if (elen < 128) {
    field[fn++] = (unsigned char)elen;
  } else {
    field[fn++] = (unsigned char)(0x80 | (elen & 0x7f));
    field[fn++] = (unsigned char)(elen >> 7);
  }
  memcpy(field + fn, etag, elen);
  fn += elen;
  for (size_t i = 0; i < c->n; i++) {
    size_t n = GRPC_SLICE_LENGTH(c->pages[i]);
    grpc_slice s = grpc_slice_malloc(n + fn);
    memcpy(GRPC_SLICE_START_PTR(s), GRPC_SLICE_START_PTR(c->pages[i]), n);
    memcpy(GRPC_SLICE_START_PTR(s) + n, field, fn);
    grpc_slice_unref(c->pages[i]);
    c->pages[i] = s;
  }
  rpc_feed_item *it = rpc_feed_item_create(c->pages, c->n);
  pthread_mutex_lock(&w->mu);
  g->composing = false;
  w->n_composing--;
  g->backoff_ms = 0;
  if (g->failing) {
    g->failing = false;
    log_info("watch: menu composition recovered", "store", g->store, NULL);
  }
  g->valid_until_ms = c->valid_until_ms;
  if (strcmp(etag, g->etag)) {
    rpc_feed_item_unref(g->version);
    g->version = it;
    it = NULL;
    snprintf(g->etag, sizeof g->etag, "%s", etag);
    for (watcher *wr = g->watchers; wr; wr = wr->next) watcher_offer(wr);
    if (c->change_seen_ms)
      metrics_observe(w->m_delivery, METRICS_NO_LABELS, (mono_now_ms() - c->change_seen_ms) / 1e3);
  }
  composition_clear(c);
  pthread_cond_signal(&w->wake);
  pthread_mutex_unlock(&w->mu);
  rpc_feed_item_unref(it);
}

static void on_page(void *arg, menu_status st, const ProtobufCMessage *msg) {
  watch_group *g = arg;
  composition *c = &g->c;
  if (!menu_status_is_ok(&st)) {
    compose_failed(g, st);
    return;
  }
  const Menu__V1__GetStoreMenuResponse *resp = (const Menu__V1__GetStoreMenuResponse *)msg;
  if (c->n == 0) {
    snprintf(c->etag, sizeof c->etag, "%s", resp->etag ? resp->etag : "");
    c->hash = 0xcbf29ce484222325ULL;
    if (resp->at_time) {
      c->at_s = resp->at_time->seconds;
      c->at_ns = resp->at_time->nanos;
    }
  }
  if (resp->valid_until) {
    int64_t vu = resp->valid_until->seconds * 1000 + resp->valid_until->nanos / 1000000;
    if (!c->valid_until_ms || vu < c->valid_until_ms) c->valid_until_ms = vu;
  }
  Menu__V1__GetStoreMenuResponse page = *resp;
  page.etag = (char *)"";
  if (!c->etag[0]) {
    /* Without GetStoreMenu's etag, the content decides: the same menu hashes the same on
     * every replica (the instant it was evaluated at is left out). */
    Menu__V1__GetStoreMenuResponse bare = page;
    bare.at_time = NULL;
    bare.valid_until = NULL;
    grpc_slice b = slice_of(&bare.base);
    c->hash = fnv1a(c->hash, GRPC_SLICE_START_PTR(b), GRPC_SLICE_LENGTH(b));
    grpc_slice_unref(b);
  }
  if (c->n == c->cap) {
    c->cap = c->cap ? c->cap * 2 : 4;
    grpc_slice *grown = realloc(c->pages, c->cap * sizeof *grown);
    if (!grown) abort();
    c->pages = grown;
  }
  c->pages[c->n++] = slice_of(&page.base);
  bool more = resp->page_info && resp->page_info->has_next_page && resp->page_info->end_cursor &&
              resp->page_info->end_cursor[0];
  if (!more) {
    compose_done(g);
    return;
  }
  free(c->after);
  c->after = strdup(resp->page_info->end_cursor);
  if (!c->after) abort();
  compose_page(g);
}

/* Asks for the next page (the first when nothing is in yet). Under no lock: the handler may
 * answer on this very thread. */
static void compose_page(watch_group *g) {
  composition *c = &g->c;
  Menu__V1__GetStoreMenuRequest r = MENU__V1__GET_STORE_MENU_REQUEST__INIT;
  Menu__V1__PageRequest page = MENU__V1__PAGE_REQUEST__INIT;
  Google__Protobuf__Timestamp at = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  r.store_code = g->store;
  r.channel = g->channel;
  r.include_unavailable = g->include_unavailable;
  r.include_empty_categories = g->include_empty_categories;
  if (c->n > 0) {
    page.after = c->after;
    r.page = &page;
    at.seconds = c->at_s;
    at.nanos = (int32_t)c->at_ns;
    r.at_time = &at;
  }
  if (rpc_server_call_local(g->w->server, GET_STORE_MENU_PATH, &r.base,
                            g->w->cfg.compose_timeout_ms, on_page, g))
    compose_failed(g, MENU_UNAVAILABLE("server stopping"));
}

/* ---- the scheduler ----------------------------------------------------------------------- */

static bool revisions_differ(const gateway_revision_state *a, const gateway_revision_state *b) {
  return a->catalog_known != b->catalog_known || a->catalog != b->catalog ||
         a->availability_known != b->availability_known || a->availability != b->availability;
}

/* Under w->mu: frees empty groups, marks the ones whose valid_until passed or whose channel's
 * revisions moved since they last composed, and picks the groups to compose now (at most
 * `room`). Returns when to look again (monotonic ms). */
static int64_t schedule(watch_service *w, watch_group **start, size_t *n_start, size_t room) {
  int64_t now = mono_now_ms(), rnow = real_ms();
  int64_t next = now + SCHEDULER_MAX_SLEEP_MS;
  *n_start = 0;
  for (unsigned b = 0; b < BUCKETS; b++) {
    for (watch_group **link = &w->groups[b]; *link;) {
      watch_group *g = *link;
      if (g->n_watchers == 0 && !g->composing) {
        group_free(w, link);
        continue;
      }
      link = &g->hnext;
      gateway_revision_state rs;
      gateway_revisions_get(w->revisions, g->channel, &rs);
      if (!g->composing && revisions_differ(&rs, &g->rev) && !g->dirty) {
        g->dirty = true;
        if (!g->change_seen_ms) g->change_seen_ms = now;
      }
      if (g->valid_until_ms && rnow >= g->valid_until_ms) {
        g->valid_until_ms = 0;
        g->dirty = true;
      } else if (g->valid_until_ms && g->valid_until_ms - rnow + now < next) {
        next = g->valid_until_ms - rnow + now;
      }
      if (!g->dirty || g->composing) continue;
      int64_t at = g->last_start_ms + w->cfg.min_interval_ms;
      if (g->retry_at_ms > at) at = g->retry_at_ms;
      if (at > now) {
        if (at < next) next = at;
        continue;
      }
      if (*n_start == room) {
        next = now; /* more are due: look again when a composition ends */
        continue;
      }
      g->dirty = false;
      g->composing = true;
      g->rev = rs;
      g->last_start_ms = now;
      g->c.change_seen_ms = g->change_seen_ms;
      g->change_seen_ms = 0;
      w->n_composing++;
      start[(*n_start)++] = g;
    }
  }
  return next;
}

static void *scheduler_main(void *arg) {
  watch_service *w = arg;
  size_t cap = (size_t)w->cfg.max_composing;
  watch_group **start = calloc(cap, sizeof *start);
  if (!start) abort();
  pthread_mutex_lock(&w->mu);
  while (!w->stop) {
    size_t room = w->n_composing < (int)cap ? cap - (size_t)w->n_composing : 0, n = 0;
    int64_t next = schedule(w, start, &n, room);
    if (n) {
      pthread_mutex_unlock(&w->mu);
      for (size_t i = 0; i < n; i++) compose_page(start[i]);
      pthread_mutex_lock(&w->mu);
      continue;
    }
    if (room == 0 || next > mono_now_ms()) {
      int64_t now = mono_now_ms();
      struct timespec ts = mono_timespec(next > now ? next : now + 1);
      pthread_cond_timedwait(&w->wake, &w->mu, &ts);
    }
  }
  pthread_mutex_unlock(&w->mu);
  free(start);
  return NULL;
}

static void on_state(void *arg, rpc_server_state state) {
  watch_service *w = arg;
  if (state == RPC_SERVER_SERVING) {
    pthread_mutex_lock(&w->mu);
    w->running = true;
    w->stop = false;
    pthread_mutex_unlock(&w->mu);
    pthread_create(&w->thread, NULL, scheduler_main, w);
  } else if (state == RPC_SERVER_STOPPING) {
    pthread_mutex_lock(&w->mu);
    bool running = w->running;
    w->running = false;
    w->stop = true;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->mu);
    /* No composition starts after this; the ones in flight end on the server's queues, which
     * the server keeps until they have (rpc_server_shutdown). Streams end from the server. */
    if (running) pthread_join(w->thread, NULL);
  }
}

/* ---- the handler and the poller's callback ------------------------------------------------ */

void watch_store_menu(rpc_feed *f, const ProtobufCMessage *msg, void *svc) {
  watch_service *w = svc;
  const Menu__V1__WatchStoreMenuRequest *r = (const Menu__V1__WatchStoreMenuRequest *)msg;
  Menu__V1__GetStoreMenuRequest as_get = MENU__V1__GET_STORE_MENU_REQUEST__INIT;
  as_get.store_code = r->store_code;
  as_get.channel = r->channel;
  menu_status st = store_menu_validate(&as_get);
  if (!menu_status_is_ok(&st)) {
    reject(w, f, "invalid_argument", st);
    return;
  }
  if (r->if_none_match && strlen(r->if_none_match) >= ETAG_MAX) {
    reject(w, f, "invalid_argument",
           MENU_INVALID("if_none_match: longer than %d bytes (not an etag)", ETAG_MAX - 1));
    return;
  }
  pthread_mutex_lock(&w->mu);
  if (!w->running) {
    pthread_mutex_unlock(&w->mu);
    reject(w, f, "stopping",
           MENU_UNAVAILABLE("server shutting down: reconnect to another replica"));
    return;
  }
  if (w->n_watchers >= w->cfg.max_watchers) {
    pthread_mutex_unlock(&w->mu);
    reject(w, f, "watchers_limit",
           menu_status_make(GRPC_STATUS_RESOURCE_EXHAUSTED,
                            "too many watchers on this gateway (MENU_MAX_WATCHERS=%d): retry "
                            "later or on another replica",
                            w->cfg.max_watchers));
    return;
  }
  conn_count *conn = conn_get(w, rpc_feed_peer(f));
  if (conn->n >= w->cfg.max_per_connection) {
    pthread_mutex_unlock(&w->mu);
    reject(w, f, "connection_limit",
           menu_status_make(GRPC_STATUS_RESOURCE_EXHAUSTED,
                            "too many watchers on this connection "
                            "(MENU_MAX_WATCHERS_PER_CONNECTION=%d)",
                            w->cfg.max_per_connection));
    return;
  }
  conn->n++;
  watcher *wr = calloc(1, sizeof *wr);
  if (!wr) abort();
  wr->w = w;
  wr->feed = f;
  wr->conn = conn;
  if (r->if_none_match) snprintf(wr->etag, sizeof wr->etag, "%s", r->if_none_match);
  bool created = !group_find(w, r, false);
  watch_group *g = group_find(w, r, true);
  wr->g = g;
  wr->next = g->watchers;
  if (g->watchers) g->watchers->prev = wr;
  g->watchers = wr;
  g->n_watchers++;
  w->n_watchers++;
  rpc_feed_on_end(f, on_feed_end, wr);
  watcher_offer(wr);
  if (created) pthread_cond_signal(&w->wake);
  pthread_mutex_unlock(&w->mu);
}

void watch_revision_changed(void *arg, Menu__V1__Channel channel) {
  watch_service *w = arg;
  int64_t now = mono_now_ms();
  pthread_mutex_lock(&w->mu);
  for (unsigned b = 0; b < BUCKETS; b++)
    for (watch_group *g = w->groups[b]; g; g = g->hnext)
      if (g->channel == channel) {
        g->dirty = true;
        if (!g->change_seen_ms) g->change_seen_ms = now;
      }
  pthread_cond_signal(&w->wake);
  pthread_mutex_unlock(&w->mu);
}

/* ---- life cycle ---------------------------------------------------------------------------- */

watch_service *watch_create(const watch_config *cfg, rpc_server *s, metrics_registry *m,
                            gateway_revisions *revisions) {
  watch_service *w = calloc(1, sizeof *w);
  if (!w) abort();
  w->cfg = *cfg;
  w->server = s;
  w->revisions = revisions;
  pthread_mutex_init(&w->mu, NULL);
  mono_cond_init(&w->wake);
  w->m_watchers =
      metrics_gauge(m, "menu_watchers", "WatchStoreMenu streams open.", METRICS_NO_LABELS);
  w->m_groups = metrics_gauge(m, "menu_watch_groups",
                              "Watched menus: distinct (store, channel, flags) with a watcher.",
                              METRICS_NO_LABELS);
  w->m_sent = metrics_counter(m, "menu_watch_updates_sent_total",
                              "Menu versions handed to a watcher's stream (a version replaced "
                              "before it went out counts too).",
                              METRICS_NO_LABELS);
  w->m_rejected = metrics_counter(
      m, "menu_watch_rejected_total",
      "WatchStoreMenu streams refused, by reason (invalid_argument, watchers_limit, "
      "connection_limit, stopping).",
      METRICS_LABELS("reason"));
  w->m_delivery = metrics_histogram(
      m, "menu_watch_delivery_seconds",
      "From the revision poll that saw a change to the new menu version handed to the watchers.",
      METRICS_NO_LABELS, delivery_buckets, sizeof delivery_buckets / sizeof *delivery_buckets);
  if (gateway_revisions_subscribe(revisions, watch_revision_changed, w)) {
    log_error("watch: the revision poller takes no more subscribers", NULL);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->mu);
    free(w);
    return NULL;
  }
  metrics_on_collect(m, collect, w);
  rpc_server_on_state(s, on_state, w);
  return w;
}

void watch_destroy(watch_service *w) {
  if (!w) return;
  gateway_revisions_unsubscribe(w->revisions, watch_revision_changed, w);
  for (unsigned b = 0; b < BUCKETS; b++) {
    while (w->groups[b]) group_free(w, &w->groups[b]);
    for (conn_count *c = w->conns[b], *next; c; c = next) {
      next = c->next;
      free(c);
    }
  }
  pthread_cond_destroy(&w->wake);
  pthread_mutex_destroy(&w->mu);
  free(w);
}
