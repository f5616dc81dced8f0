/* MenuService.WatchStoreMenu: a server stream per kiosk that receives its store's menu, then
 * every new version of it. Watchers are grouped by (store, channel, flags); a group composes
 * one version through GetStoreMenu's own handler (rpc_server_call_local: the same code path,
 * cache included), serializes it once and offers the same bytes to every watcher of the group
 * (common/rpc_server.h feeds: a newer version replaces one not sent yet). A group recomposes
 * when an owner's revision for its channel moves (watch_revision_changed, from the revision
 * poller) or when the menu's valid_until passes, at most once per MENU_WATCH_MIN_INTERVAL_MS,
 * and sends only when the etag changed. A backend failure never ends a stream: the group
 * retries with backoff and catches up. Limits: MENU_MAX_WATCHERS per gateway and
 * MENU_MAX_WATCHERS_PER_CONNECTION (RESOURCE_EXHAUSTED).
 * Thread-safety: every function may be called from any thread; one lock guards the groups. */
#ifndef GATEWAY_WATCH_H
#define GATEWAY_WATCH_H

#include <stdint.h>

#include "common/config.h"
#include "common/metrics.h"
#include "common/rpc_server.h"
#include "gateway/revisions.h"
#include "menu/v1/menu.pb-c.h"

typedef struct {
  int max_watchers;           /* MENU_MAX_WATCHERS */
  int max_per_connection;     /* MENU_MAX_WATCHERS_PER_CONNECTION */
  int64_t min_interval_ms;    /* MENU_WATCH_MIN_INTERVAL_MS: per group, between compositions */
  int64_t retry_max_ms;       /* MENU_WATCH_RETRY_MAX_MS: backoff cap after a failed one */
  int64_t compose_timeout_ms; /* MENU_WATCH_COMPOSE_TIMEOUT_MS: one page's deadline */
  int max_composing;          /* MENU_WATCH_MAX_COMPOSING: compositions in flight */
} watch_config;

/* Reads the variables above; problems go into c. */
void watch_config_load(config *c, watch_config *out);

typedef struct watch_service watch_service;

/* Registers its metrics and a state listener on s (the scheduler thread runs while the server
 * serves), subscribes to the poller and holds the channels of its groups polled. All pointers
 * are borrowed and must outlive the result. NULL when the poller takes no more subscribers.
 * Caller destroys after the server has stopped and before the poller. */
watch_service *watch_create(const watch_config *cfg, rpc_server *s, metrics_registry *m,
                            gateway_revisions *revisions);
void watch_destroy(watch_service *w);

/* The rpc_feed_fn of WatchStoreMenu; `svc` is the watch_service. */
void watch_store_menu(rpc_feed *f, const ProtobufCMessage *req, void *svc);

/* An owner's revision for `channel` moved (a gateway_revision_fn; `arg` is the watch_service):
 * every group of the channel recomposes. Never blocks for long. */
void watch_revision_changed(void *arg, Menu__V1__Channel channel);

#endif
