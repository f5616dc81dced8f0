/* The handler pool: one mutex, one condition variable, an intrusive FIFO. */
#include "common/rpc_workqueue.h"

#include <pthread.h>
#include <stdlib.h>

struct rpc_workqueue {
  pthread_mutex_t mu;
  pthread_cond_t cond;
  rpc_job *head, *tail; /* guarded by mu */
  size_t depth;         /* guarded by mu */
  int idle;             /* threads waiting on cond, guarded by mu */
  bool closing;         /* guarded by mu */
  rpc_job_fn run;
  void *arg;
  int n_threads;
  pthread_t *threads;
};

static void *worker_main(void *arg) {
  rpc_workqueue *q = arg;
  pthread_mutex_lock(&q->mu);
  for (;;) {
    while (!q->head && !q->closing) {
      q->idle++;
      pthread_cond_wait(&q->cond, &q->mu);
      q->idle--;
    }
    rpc_job *job = q->head;
    if (!job) break;
    q->head = job->next;
    if (!q->head) q->tail = NULL;
    q->depth--;
    pthread_mutex_unlock(&q->mu);
    q->run(job, q->arg);
    pthread_mutex_lock(&q->mu);
  }
  pthread_mutex_unlock(&q->mu);
  return NULL;
}

rpc_workqueue *rpc_workqueue_create(int threads, rpc_job_fn run, void *arg) {
  rpc_workqueue *q = calloc(1, sizeof *q);
  if (!q) abort();
  pthread_mutex_init(&q->mu, NULL);
  pthread_cond_init(&q->cond, NULL);
  q->run = run;
  q->arg = arg;
  q->n_threads = threads;
  q->threads = calloc((size_t)threads, sizeof *q->threads);
  if (!q->threads) abort();
  for (int i = 0; i < threads; i++) pthread_create(&q->threads[i], NULL, worker_main, q);
  return q;
}

void rpc_workqueue_push(rpc_workqueue *q, rpc_job *job) {
  job->next = NULL;
  job->queued = gpr_now(GPR_CLOCK_MONOTONIC);
  pthread_mutex_lock(&q->mu);
  if (q->tail)
    q->tail->next = job;
  else
    q->head = job;
  q->tail = job;
  q->depth++;
  bool wake = q->idle > 0;
  pthread_mutex_unlock(&q->mu);
  if (wake) pthread_cond_signal(&q->cond);
}

size_t rpc_workqueue_depth(rpc_workqueue *q) {
  pthread_mutex_lock(&q->mu);
  size_t n = q->depth;
  pthread_mutex_unlock(&q->mu);
  return n;
}

bool rpc_workqueue_stop(rpc_workqueue *q, gpr_timespec deadline) {
  pthread_mutex_lock(&q->mu);
  q->closing = true;
  pthread_cond_broadcast(&q->cond);
  pthread_mutex_unlock(&q->mu);
  gpr_timespec abs = gpr_convert_clock_type(deadline, GPR_CLOCK_REALTIME);
  struct timespec ts = {abs.tv_sec, abs.tv_nsec};
  bool all = true;
  for (int i = 0; i < q->n_threads; i++) {
    if (!q->threads[i]) continue;
    if (pthread_timedjoin_np(q->threads[i], NULL, &ts) == 0)
      q->threads[i] = 0;
    else
      all = false;
  }
  return all;
}

void rpc_workqueue_destroy(rpc_workqueue *q) {
  if (!q) return;
  pthread_mutex_destroy(&q->mu);
  pthread_cond_destroy(&q->cond);
  free(q->threads);
  free(q);
}
