/* Retry classification, backoff and quota, following botocore's retries/standard.py and
 * aws-sdk-cpp's StandardRetryStrategy (same codes, same token costs). */
#include "services/dynamo-svc/ddb/retry.h"

#include <string.h>

#include "common/backoff.h"

bool ddb_is_throttle_code(const char *type) {
  static const char *const codes[] = {
      "Throttling",
      "ThrottlingException",
      "ThrottledException",
      "RequestThrottledException",
      "TooManyRequestsException",
      "ProvisionedThroughputExceededException",
      "TransactionInProgressException",
      "RequestLimitExceeded",
      "BandwidthLimitExceeded",
      "LimitExceededException",
      "RequestThrottled",
      "SlowDown",
      "PriorRequestNotComplete",
      "EC2ThrottledException",
  };
  if (!type || !*type) return false;
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
    if (!strcmp(type, codes[i])) return true;
  return false;
}

ddb_retry_kind ddb_retry_classify(http_result r, long status, const char *type) {
  switch (r) {
    case HTTP_ERR_CONNECT:
    case HTTP_ERR_IO:
      return DDB_RETRY_CONNECT;
    case HTTP_ERR_TIMEOUT:
      return DDB_RETRY_TIMEOUT;
    case HTTP_OK:
      break;
  }
  if (status >= 200 && status < 300) return DDB_RETRY_NO;
  if (ddb_is_throttle_code(type)) return DDB_RETRY_THROTTLE;
  if (type && (!strcmp(type, "RequestTimeout") || !strcmp(type, "RequestTimeoutException")))
    return DDB_RETRY_TIMEOUT;
  if (type && (!strcmp(type, "InternalServerError") || !strcmp(type, "ServiceUnavailable") ||
               !strcmp(type, "InternalFailure")))
    return DDB_RETRY_SERVER;
  if (status == 500 || status == 502 || status == 503 || status == 504) return DDB_RETRY_SERVER;
  return DDB_RETRY_NO;
}

const char *ddb_retry_kind_name(ddb_retry_kind k) {
  switch (k) {
    case DDB_RETRY_THROTTLE:
      return "throttling";
    case DDB_RETRY_SERVER:
      return "server_error";
    case DDB_RETRY_CONNECT:
      return "connection_error";
    case DDB_RETRY_TIMEOUT:
      return "timeout";
    case DDB_RETRY_NO:
      break;
  }
  return "none";
}

int64_t ddb_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms, uint32_t rnd) {
  return backoff_full_jitter_ms(backoff_ceiling_ms(attempt, base_ms, cap_ms), rnd);
}

void ddb_retry_quota_init(ddb_retry_quota *q, int max) {
  pthread_mutex_init(&q->mu, NULL);
  q->tokens = q->max = max;
}

void ddb_retry_quota_destroy(ddb_retry_quota *q) { pthread_mutex_destroy(&q->mu); }

bool ddb_retry_quota_acquire(ddb_retry_quota *q, int cost) {
  pthread_mutex_lock(&q->mu);
  bool ok = q->tokens >= cost;
  if (ok) q->tokens -= cost;
  pthread_mutex_unlock(&q->mu);
  return ok;
}

void ddb_retry_quota_release(ddb_retry_quota *q, int n) {
  pthread_mutex_lock(&q->mu);
  q->tokens += n;
  if (q->tokens > q->max) q->tokens = q->max;
  pthread_mutex_unlock(&q->mu);
}

int ddb_retry_quota_available(ddb_retry_quota *q) {
  pthread_mutex_lock(&q->mu);
  int n = q->tokens;
  pthread_mutex_unlock(&q->mu);
  return n;
}
