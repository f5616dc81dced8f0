/* "host:port" / "[v6]:port" parsing for listeners configured by environment. */
#ifndef MENU_NETADDR_H
#define MENU_NETADDR_H

#include <sys/socket.h>

/* Numeric hosts only (plus "localhost" and "0.0.0.0"); returns 0 on success. */
int netaddr_parse(const char *addr, struct sockaddr_storage *out, socklen_t *len);

#endif
