/* The revision poller: for each channel in use, one GetCatalogRevision (dynamo-svc) and one
 * GetAvailabilityRevision (sql-svc) every MENU_REVISION_POLL_MS, on a thread and completion
 * queue of its own (never per request or per watcher, never on a server CQ thread). It keeps
 * per channel both revisions, the catalog's unsettled_until, and when the last round in which
 * both polls succeeded started (the confirmation the cache's staleness bound is measured
 * against), and tells subscribers when a revision moves.
 * Thread-safe: every function may be called from any thread; subscribers run on the poller's
 * thread. */
#ifndef GATEWAY_REVISIONS_H
#define GATEWAY_REVISIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "common/metrics.h"
#include "gateway/backends.h"
#include "menu/v1/common.pb-c.h"

/* Default of MENU_REVISION_POLL_MS. */
#define GATEWAY_REVISIONS_POLL_MS_DEFAULT 250
/* A channel stays polled this long after the last gateway_revisions_use (holds keep it
 * polled for as long as they last). */
#define GATEWAY_REVISIONS_IDLE_MS 60000

typedef struct gateway_revisions gateway_revisions;

/* What the poller knows about one channel. */
typedef struct {
  bool catalog_known, availability_known; /* a poll of that owner has answered at least once */
  uint64_t catalog;                       /* CatalogRevisionService.GetCatalogRevision */
  uint64_t availability;                  /* ProductAvailabilityService.GetAvailabilityRevision */
  /* Realtime ms (Unix epoch) until which dynamo-svc said a catalog write may still be in
   * flight; 0 when settled. */
  int64_t unsettled_until_ms;
  /* Monotonic ms (gpr's GPR_CLOCK_MONOTONIC) at which the last round whose two polls both
   * succeeded started: both revisions were current then. 0 when never. */
  int64_t confirmed_ms;
} gateway_revision_state;

/* Called on the poller's thread when either revision of `channel` changes (not for the first
 * value learnt). Must not block: copy what is needed and return. */
typedef void (*gateway_revision_fn)(void *arg, Menu__V1__Channel channel);

/* Reads MENU_REVISION_POLL_MS (problems go into c). */
int gateway_revisions_config_poll_ms(config *c);

/* Starts the poller thread; `be` and `metrics` are borrowed and must outlive it. NULL on
 * failure (logged). Caller frees with gateway_revisions_destroy. */
gateway_revisions *gateway_revisions_create(const gateway_backends *be, int poll_ms,
                                            metrics_registry *metrics);
/* Stops the thread (within about one poll interval) after cancelling the polls in flight. */
void gateway_revisions_destroy(gateway_revisions *r);

/* Marks `channel` in use: polled from now on until GATEWAY_REVISIONS_IDLE_MS after the last
 * call. Cheap (one atomic store); call it on every request. A channel polled for the first
 * time gets its first round at the next tick. */
void gateway_revisions_use(gateway_revisions *r, Menu__V1__Channel channel);
/* Keeps `channel` polled until the matching release, however long (for watchers). */
void gateway_revisions_hold(gateway_revisions *r, Menu__V1__Channel channel);
void gateway_revisions_release(gateway_revisions *r, Menu__V1__Channel channel);

/* A snapshot of what is known about `channel` (all zero when nothing yet). False for a
 * channel number out of range. */
bool gateway_revisions_get(gateway_revisions *r, Menu__V1__Channel channel,
                           gateway_revision_state *out);

/* Registers fn(arg, channel) for every later revision change of any channel; `arg` is
 * borrowed until gateway_revisions_unsubscribe or destroy. Returns 0, or -1 when the table of
 * subscribers (GATEWAY_REVISIONS_MAX_SUBSCRIBERS) is full. */
#define GATEWAY_REVISIONS_MAX_SUBSCRIBERS 16
int gateway_revisions_subscribe(gateway_revisions *r, gateway_revision_fn fn, void *arg);
/* Removes the (fn, arg) registration; once it returns, fn is not running with arg and will
 * not run again. Never call it from inside fn. */
void gateway_revisions_unsubscribe(gateway_revisions *r, gateway_revision_fn fn, void *arg);

#endif
