/* The watch loop: N MenuService/WatchStoreMenu streams spread round-robin over a client's
 * connections (the first stores <prefix>00001.. with a menu on the channel, in turn), each
 * message's receipt time (CLOCK_REALTIME) taken as it completes and its etag read from the wire
 * without decoding the menu. Keeps, per watcher, the first message's time and the time of every
 * later message whose etag differs from the one before. Stops at the duration, or `settle_s` after
 * the done file appears, then cancels every stream. Not thread-safe: one thread runs it. */
#ifndef LOADGEN_WATCH_H
#define LOADGEN_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tools/loadgen/delivery.h"
#include "tools/loadgen/run.h"
#include "tools/loadgen/stats.h"

typedef struct {
  int watchers;
  int stores; /* distinct stores: the first `stores` of 1..scan with a menu on the channel */
  int scan;   /* store numbers probed (GetStoreMenu) before the streams open */
  const char *store_prefix; /* borrowed */
  int store_digits;
  int channel;            /* 1..5 */
  double duration_s;      /* hard bound of the whole run */
  double connect_s;       /* the ready file is created by then even if some have no message */
  const char *ready_file; /* created once every watcher has its first message; may be NULL */
  const char *done_file;  /* the writer creates it when its last write is acknowledged */
  double settle_s;        /* how long to keep watching after the done file appears */
} lg_watch_config;

typedef struct {
  lg_watcher_log *logs; /* one per watcher; arena of the result: lg_watch_result_clear frees */
  size_t nlogs;
  int stores;                    /* distinct stores watched (watcher i: i % stores) */
  uint64_t first_messages;       /* watchers that got their first message */
  uint64_t messages;             /* every message received */
  uint64_t changes;              /* messages with a new etag (after the first) */
  uint64_t ended_early;          /* streams the server ended before the stop */
  uint64_t codes[LG_CODE_COUNT]; /* ... by status */
  uint64_t refused;              /* streams the core refused to start */
  double all_connected_s;        /* start to the last first message; -1: not all */
  double elapsed_s;              /* start to stop */
  int64_t start_us, end_us;      /* CLOCK_REALTIME */
} lg_watch_result;

/* Runs the streams on `c`. 0, or -1 when out of memory (res is then cleared). */
int lg_watch_run(lg_client *c, const lg_watch_config *cfg, lg_watch_result *res);
void lg_watch_result_clear(lg_watch_result *res);

/* The etag (field 8) of a serialized GetStoreMenuResponse: *etag points into `data` (borrowed).
 * False when the bytes are not well-formed protobuf wire format; an absent etag is "". */
bool lg_watch_etag(const uint8_t *data, size_t len, const uint8_t **etag, size_t *etag_len);

#endif
