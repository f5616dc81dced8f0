/* host:port parsing and URL redaction. */
#include "common/netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int netaddr_parse(const char *addr, struct sockaddr_storage *out, socklen_t *len) {
  char host[128];
  const char *colon = strrchr(addr, ':');
  if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof host) return -1;
  memcpy(host, addr, colon - addr);
  host[colon - addr] = 0;
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end || end == colon + 1 || port < 0 || port > 65535) return -1;
  memset(out, 0, sizeof *out);
  if (host[0] == '[') {
    size_t n = strlen(host);
    if (n < 2 || host[n - 1] != ']') return -1;
    host[n - 1] = 0;
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1) return -1;
    *len = sizeof *a;
    return 0;
  }
  struct sockaddr_in *a = (struct sockaddr_in *)out;
  a->sin_family = AF_INET;
  a->sin_port = htons((uint16_t)port);
  if (!strcmp(host, "localhost")) strcpy(host, "127.0.0.1");
  if (inet_pton(AF_INET, host, &a->sin_addr) != 1) return -1;
  *len = sizeof *a;
  return 0;
}

const char *netaddr_url_redact(const char *url, char *buf, size_t n) {
  if (!n) return buf;
  const char *scheme = url ? strstr(url, "://") : NULL;
  if (!scheme) {
    snprintf(buf, n, "%s", url ? url : "");
    return buf;
  }
  const char *auth = scheme + 3;
  size_t auth_len = strcspn(auth, "/?#"); /* the authority ends where the path begins */
  const char *at = memrchr(auth, '@', auth_len);
  if (!at)
    snprintf(buf, n, "%s", url);
  else
    snprintf(buf, n, "%.*s***%s", (int)(auth - url), url, at);
  return buf;
}
