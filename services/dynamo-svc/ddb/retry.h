/* The AWS SDKs' "standard" retry policy: which failures are retried, capped exponential
 * backoff with full jitter, and the retry quota (a token bucket that stops retry storms when
 * DynamoDB is struggling). The quota is thread-safe; the rest are pure functions. */
#ifndef DDB_RETRY_H
#define DDB_RETRY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "services/dynamo-svc/ddb/http.h"

typedef enum {
  DDB_RETRY_NO = 0,   /* answer as is (success, ConditionalCheckFailed, Validation, ...) */
  DDB_RETRY_THROTTLE, /* throttling error codes */
  DDB_RETRY_SERVER,   /* HTTP 500/502/503/504, InternalServerError, ServiceUnavailable */
  DDB_RETRY_CONNECT,  /* connection refused, reset, empty answer, bad CRC32 */
  DDB_RETRY_TIMEOUT,  /* the request timed out (costs more quota) */
} ddb_retry_kind;

/* type: the error code after '#' ("" when none); status 0 when no HTTP answer. */
ddb_retry_kind ddb_retry_classify(http_result r, long status, const char *type);
bool ddb_is_throttle_code(const char *type);
const char *ddb_retry_kind_name(ddb_retry_kind k); /* "throttling", "server_error", ... */

/* Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))] for attempt >= 1 (the number of
 * attempts made so far). rnd is any uniformly random 32-bit value. */
int64_t ddb_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms, uint32_t rnd);

#define DDB_RETRY_COST 5
#define DDB_RETRY_TIMEOUT_COST 10
#define DDB_RETRY_SUCCESS_REFUND 1

typedef struct {
  pthread_mutex_t mu;
  int tokens, max;
} ddb_retry_quota;

void ddb_retry_quota_init(ddb_retry_quota *q, int max);
void ddb_retry_quota_destroy(ddb_retry_quota *q);
/* Takes `cost` tokens; false (and nothing taken) when fewer are left: do not retry. */
bool ddb_retry_quota_acquire(ddb_retry_quota *q, int cost);
/* Gives back `n` tokens, never above max: the cost of a retry that succeeded, or 1 for a
 * first-attempt success. */
void ddb_retry_quota_release(ddb_retry_quota *q, int n);
int ddb_retry_quota_available(ddb_retry_quota *q);

#endif
