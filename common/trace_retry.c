/* The OTLP/HTTP exporter's retry policy (OTLP specification, "Retryable Response Codes" and
 * "OTLP/HTTP Throttling"): which failed exports are sent again, and how long to wait before.
 * Pure functions; the exporter thread (trace_export.c) applies them. */
#include <curl/curl.h>

#include "common/backoff.h"
#include "common/trace_internal.h"

trace_retry_kind trace_retry_classify(int curl_rc, long status) {
  switch ((CURLcode)curl_rc) {
    case CURLE_OK:
      break;
    /* The collector was not reached or went away mid-request: it may be restarting. */
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    /* The connect timeout, or the export's own: then no time is left to retry in anyway. */
    case CURLE_OPERATION_TIMEDOUT:
      return TRACE_RETRY_CONNECTION;
    default:
      /* Shutdown's abort, TLS or URL problems do not go away by trying again. */
      return TRACE_RETRY_NO;
  }
  switch (status) {
    case 429:
      return TRACE_RETRY_THROTTLING;
    case 502:
    case 503:
    case 504:
      return TRACE_RETRY_SERVER;
    default:
      return TRACE_RETRY_NO; /* success, or a refusal: every other 4xx and 5xx is final */
  }
}

const char *trace_retry_kind_name(trace_retry_kind k) {
  switch (k) {
    case TRACE_RETRY_THROTTLING:
      return "throttling";
    case TRACE_RETRY_SERVER:
      return "server_error";
    case TRACE_RETRY_CONNECTION:
      return "connection_error";
    case TRACE_RETRY_NO:
      break;
  }
  return "none";
}

int64_t trace_retry_backoff_ms(int attempt, uint32_t rnd) {
  return backoff_equal_jitter_ms(
      backoff_ceiling_ms(attempt, TRACE_RETRY_BASE_MS, TRACE_RETRY_CAP_MS), rnd);
}
