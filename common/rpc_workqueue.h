/* The handler pool: a FIFO of jobs run by a fixed set of threads that may block. The queue
 * holds no memory of its own: jobs are embedded in the caller's objects. Thread-safe. */
#ifndef MENU_RPC_WORKQUEUE_H
#define MENU_RPC_WORKQUEUE_H

#include <grpc/support/time.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct rpc_job {
  struct rpc_job *next;
  gpr_timespec queued; /* monotonic, set by push */
} rpc_job;

typedef void (*rpc_job_fn)(rpc_job *job, void *arg);
typedef struct rpc_workqueue rpc_workqueue;

/* Starts `threads` threads that run `run(job, arg)` for every pushed job. Caller destroys. */
rpc_workqueue *rpc_workqueue_create(int threads, rpc_job_fn run, void *arg);
/* Never blocks; `job` is borrowed until run. */
void rpc_workqueue_push(rpc_workqueue *q, rpc_job *job);
size_t rpc_workqueue_depth(rpc_workqueue *q);
/* Lets the queued jobs run, then stops the threads; true when they all ended by `deadline`
 * (monotonic). When false the queue must not be destroyed (a job is still running). */
bool rpc_workqueue_stop(rpc_workqueue *q, gpr_timespec deadline);
void rpc_workqueue_destroy(rpc_workqueue *q);

#endif
