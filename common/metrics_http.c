/* GET /metrics over libmicrohttpd, on its own internal thread. The port is bound exclusively
 * (a second process on it fails to start instead of taking half the scrapes), polled with
 * epoll (no FD_SETSIZE ceiling), and bounded: at most METRICS_MAX_CONNECTIONS connections, at
 * most METRICS_MAX_CONNECTIONS_PER_IP from one address, idle ones closed after
 * METRICS_IDLE_TIMEOUT_S, so a pile of idle connections from one host cannot starve the
 * scraper. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/netaddr.h"

enum {
  METRICS_MAX_CONNECTIONS = 128,
  METRICS_MAX_CONNECTIONS_PER_IP = 8, /* a scraper needs one; kubelet none */
  METRICS_IDLE_TIMEOUT_S = 5,
};

struct metrics_http {
  struct MHD_Daemon *daemon;
  metrics_registry *registry;
};

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls) {
  metrics_http *h = cls;
  struct MHD_Response *resp;
  unsigned status;
  if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
    static const char msg[] = "method not allowed\n";
    resp = MHD_create_response_from_buffer(sizeof msg - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
    status = MHD_HTTP_METHOD_NOT_ALLOWED;
  } else if (strcmp(url, "/metrics")) {
    static const char msg[] = "not found: try /metrics\n";
    resp = MHD_create_response_from_buffer(sizeof msg - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
    status = MHD_HTTP_NOT_FOUND;
  } else {
    char *text = metrics_render(h->registry);
    resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    status = MHD_HTTP_OK;
  }
  enum MHD_Result ret = MHD_queue_response(conn, status, resp);
  MHD_destroy_response(resp);
  return ret;
}

metrics_http *metrics_http_start(metrics_registry *r, const char *addr) {
  struct sockaddr_storage ss;
  socklen_t len;
  if (netaddr_parse(addr, &ss, &len) != 0) {
    log_error("metrics: bad address", "addr", addr, NULL);
    return NULL;
  }
  metrics_http *h = calloc(1, sizeof *h);
  h->registry = r;
  unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
  if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
  /* No MHD_OPTION_LISTENING_ADDRESS_REUSE: it would set SO_REUSEPORT and let a second process
   * share the port silently. */
  h->daemon = MHD_start_daemon(
      flags, 0, NULL, NULL, answer, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned)METRICS_MAX_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
      (unsigned)METRICS_MAX_CONNECTIONS_PER_IP, MHD_OPTION_END);
  if (!h->daemon) {
    log_error("metrics: cannot listen", "addr", addr, NULL);
    free(h);
    return NULL;
  }
  return h;
}

void metrics_http_stop(metrics_http *h) {
  if (!h) return;
  MHD_stop_daemon(h->daemon);
  free(h);
}
