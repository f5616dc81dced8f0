/* "host:port" / "[v6]:port" parsing for listeners configured by environment, and URL
 * redaction for logs. */
#ifndef MENU_NETADDR_H
#define MENU_NETADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* Numeric hosts only (plus "localhost" and "0.0.0.0"); returns 0 on success. */
int netaddr_parse(const char *addr, struct sockaddr_storage *out, socklen_t *len);

/* `url` with any user:password@ part replaced by "***@", for logs and error messages (URLs
 * may carry credentials). Writes into buf (always NUL-terminated) and returns it. */
const char *netaddr_url_redact(const char *url, char *buf, size_t n);

#endif
