/* The load loop on the gRPC C core client: one thread, one completion queue, calls spread over
 * several channels (each its own TCP connection). Closed loop keeps `concurrency` calls in
 * flight; open loop starts calls on a fixed schedule and measures each call's latency from its
 * scheduled start, so a server that falls behind shows its queueing instead of hiding it.
 * Both stop issuing at `count` calls or `duration_s`, whichever comes first, and cancel what is
 * still running past the last deadline. Not thread-safe: one thread uses a client. */
#ifndef LOADGEN_RUN_H
#define LOADGEN_RUN_H

#include <stdint.h>

#include "tools/loadgen/mix.h"
#include "tools/loadgen/stats.h"

typedef struct {
  const char *target; /* "127.0.0.1:PORT"; borrowed */
  int connections;    /* channels, calls round-robin over them */
  int concurrency;    /* closed loop: calls in flight (rate == 0) */
  double rate;        /* open loop: calls per second (> 0) */
  int max_inflight;   /* open loop: client-side bound; a call past it starts late */
  double duration_s;  /* stop issuing after this long (> 0) */
  uint64_t count;     /* ... or after this many calls (> 0) */
  int deadline_ms;    /* per call */
} lg_run_config;

typedef struct {
  double elapsed_s;          /* first start to last completion */
  uint64_t late_starts;      /* open loop: calls started over 1 ms after their schedule */
  double max_start_lag_us;   /* open loop: worst start lag (client-side bound or loop delay) */
  uint64_t cancelled_at_end; /* calls cancelled by the client at the hard stop */
} lg_run_result;

typedef struct lg_client lg_client;

/* NULL (message on stderr) when channels cannot be made or do not connect within 5 s.
 * Caller frees with lg_client_destroy. */
lg_client *lg_client_create(const char *target, int connections);
void lg_client_destroy(lg_client *c);

/* The client's channels and completion queue, for a loop of another shape (tools/loadgen/
 * watch.c). Borrowed: valid until lg_client_destroy. */
int lg_client_connections(const lg_client *c);
grpc_channel *lg_client_channel(const lg_client *c, int i);
grpc_completion_queue *lg_client_queue(const lg_client *c);

/* One blocking unary call (discovery, warm-up): 0 and *resp (caller unrefs) when OK, else the
 * gRPC code. Matches lg_call_fn with ctx = the client. */
int lg_client_call(void *client, const char *path, grpc_slice body, grpc_slice *resp);
/* A received message's bytes as one slice (caller unrefs); empty when it cannot be read. b stays
 * the caller's. */
grpc_slice lg_read_all(grpc_byte_buffer *b);

/* Runs the load; every finished call goes into `st`. 0, or -1 when out of memory. */
int lg_client_run(lg_client *c, const lg_run_config *cfg, lg_mix *mix, lg_stats *st,
                  lg_run_result *res);

#endif
