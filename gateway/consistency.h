/* MenuService.CheckMenuConsistency: every product code that a channel's categories, product
 * collections and ghost swaps (product and target) reference and sql-svc does not know.
 * Both owners are asked through their public list RPCs only, never a datastore: dynamo-svc's
 * ListCategories, ListProductCollections and ListGhostSwaps of the channel, then sql-svc's
 * ReferenceDataService.ListProducts (skipped when nothing is referenced), one page of 128 at a
 * time. The check is a small state machine driven by completion callbacks: each page's
 * callback takes the page and starts the next call, so no thread ever waits for a backend. It
 * is bounded by one deadline (the caller's, and CONSISTENCY_CHECK_TIMEOUT_MS): a list that
 * cannot be read by then ends the check with DEADLINE_EXCEEDED; a backend failure ends it with
 * the backend's status, prefixed with its name ("dynamo-svc (CategoryService.ListCategories): ").
 * The set difference itself is gateway/consistency_report.h. */
#ifndef GATEWAY_CONSISTENCY_H
#define GATEWAY_CONSISTENCY_H

#include <grpc/grpc.h>
#include <grpc/support/time.h>

#include "common/arena.h"
#include "common/rpc_server.h"
#include "common/status.h"
#include "gateway/backends.h"
#include "menu/v1/menu.pb-c.h"

/* Page size of every list read (the lists' maximum). */
#define CONSISTENCY_PAGE_SIZE 128

/* The check has ended: `out` is filled when st is OK (borrowed; it lives in the config's
 * arena). Runs exactly once, on a completion-queue thread, or from inside
 * consistency_check_start when not even the first call could start. Must not block. */
typedef void (*consistency_done_fn)(menu_status st,
                                    const Menu__V1__CheckMenuConsistencyResponse *out, void *user);

typedef struct {
  const gateway_backends *be; /* borrowed; outlives the check */
  /* The server call the check runs for (its calls are children: cancellation, request id,
   * its completion queue), or NULL: then the calls complete on `cq`, whose drainer runs the
   * rpc_tags (common/rpc_internal.h). */
  rpc_ctx *parent;
  grpc_completion_queue *cq;
  gpr_timespec deadline; /* of the whole check: every call ends by it */
  Menu__V1__Channel channel;
  arena *a; /* the report's memory; borrowed, must outlive `done` */
  Menu__V1__CheckMenuConsistencyResponse *out; /* initialised; filled from `a` */
  consistency_done_fn done;
  void *user;
} consistency_check_config;

/* Starts the check and returns at once; `done` follows (see above). The check frees itself
 * after `done` has returned. */
void consistency_check_start(const consistency_check_config *cfg);

/* INVALID_ARGUMENT naming `channel` when it is unspecified or unknown. */
menu_status consistency_validate_channel(Menu__V1__Channel channel);

/* The deadline of a check that starts now: now + timeout_ms, or the parent call's deadline
 * less the backends' margin when that is earlier (parent may be NULL). Monotonic clock. */
gpr_timespec consistency_deadline(const rpc_ctx *parent, int64_t timeout_ms, int64_t margin_ms);

/* The rpc_async_fn of CheckMenuConsistency; `svc` is MenuService's store_menu_env
 * (gateway/store_menu.h), of which only the backends are used. Starts the check
 * and returns; the reply follows from the last page's callback. */
void consistency_rpc(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp, void *svc);

#endif
