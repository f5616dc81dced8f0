/* The orchestration of one asynchronous gateway call: concurrent backend calls that are
 * children of the server call, driven by completion callbacks (no thread waits for them),
 * failures (the first fatal one cancels the rest; others leave their part missing), and
 * the reply sent from the last callback. What to call and how to compose the answer is the
 * caller's plan; this file only knows parts, calls and their outcomes.
 * A fanout is shared by the completion-queue threads its calls end on: every plan callback
 * runs under its lock, one at a time. */
#ifndef GATEWAY_FANOUT_H
#define GATEWAY_FANOUT_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/rpc_server.h"
#include "common/status.h"
#include "gateway/backends.h"

typedef struct fanout fanout;

/* One part of the answer, fetched by one or more calls of one backend method. */
typedef struct {
  const char *name;        /* "categories": prefix of its log fields */
  const gateway_method *m; /* borrowed; outlives the fanout */
  bool optional;           /* its failures never end the RPC (e.g. a revision read) */
} fanout_part;

typedef struct {
  /* Starts the first calls with fanout_call. Runs once, under the lock, from fanout_run. */
  void (*start)(fanout *f, void *plan);
  /* A call of `part` answered OK; `resp` is borrowed until the fanout ends. May start more
   * calls with fanout_call. Runs under the lock on a completion-queue thread. */
  void (*result)(fanout *f, size_t part, const ProtobufCMessage *resp, void *plan);
  /* Whether a failed call with this code ends the whole RPC (else its part is missing). */
  bool (*is_fatal)(grpc_status_code code, void *plan);
  /* No call is left and none failed fatally: fill the response. Runs once, on the thread of
   * the last callback; a non-OK status is sent instead of the response. */
  menu_status (*finish)(fanout *f, void *plan);
  /* Optional: a call of `part` failed and the failure was not fatal (its part is missing);
   * may start other calls. Runs under the lock on a completion-queue thread. */
  void (*failed)(fanout *f, size_t part, void *plan);
} fanout_plan_ops;

typedef struct {
  const fanout_part *parts; /* borrowed; outlives the fanout */
  size_t n_parts;
  /* Backend calls end this much (at most a tenth of what is left) before the caller's
   * deadline, so that a slow part becomes a missing part that still reaches the caller. */
  int64_t deadline_margin_ms;
  const fanout_plan_ops *ops;
  void *plan; /* handed to ops; must stay valid until finish has returned */
} fanout_config;

/* Runs the fan-out of the asynchronous call `ctx`: start, then result per answer, then finish
 * and rpc_ctx_reply from whichever thread ends the last call. Returns at once; the fanout
 * frees itself after the reply. */
void fanout_run(rpc_ctx *ctx, const fanout_config *cfg);

/* Starts a call of `part` (only from start or result). Returns false when the call could not
 * start (that is a failure of the part) or the fan-out has already failed fatally; the plan
 * then starts nothing more. `req` is encoded before this returns. */
bool fanout_call(fanout *f, size_t part, const ProtobufCMessage *req);

/* fanout_call with a value of the caller's for this one call, read back with
 * fanout_call_arg inside the result or failed callback of that call (e.g. a cache key). */
bool fanout_call_with(fanout *f, size_t part, const ProtobufCMessage *req, void *arg);
/* The arg of the call whose result or failed callback is running; NULL for fanout_call. */
void *fanout_call_arg(const fanout *f);

/* Whether any call of `part` failed (the part is missing from the answer). */
bool fanout_part_failed(const fanout *f, size_t part);

#endif
