/* menu_status: the one error value every layer returns (a gRPC code plus a message for the
 * caller). Handlers return it; the runtime turns it into the RPC status once. */
#ifndef MENU_STATUS_H
#define MENU_STATUS_H

#include <grpc/status.h>
#include <stdbool.h>

typedef struct {
  grpc_status_code code;
  char message[256];
} menu_status;

#define MENU_OK ((menu_status){.code = GRPC_STATUS_OK, .message = ""})

/* printf-style; the message is truncated to fit. */
menu_status menu_status_make(grpc_status_code code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline bool menu_status_is_ok(const menu_status *s) { return s->code == GRPC_STATUS_OK; }

/* "OK", "INVALID_ARGUMENT", ... as Prometheus labels and logs spell them; "UNKNOWN" otherwise. */
const char *menu_status_code_name(grpc_status_code code);

/* Shorthands for the common codes. */
#define MENU_INVALID(...) menu_status_make(GRPC_STATUS_INVALID_ARGUMENT, __VA_ARGS__)
#define MENU_NOT_FOUND(...) menu_status_make(GRPC_STATUS_NOT_FOUND, __VA_ARGS__)
#define MENU_UNAVAILABLE(...) menu_status_make(GRPC_STATUS_UNAVAILABLE, __VA_ARGS__)
#define MENU_INTERNAL(...) menu_status_make(GRPC_STATUS_INTERNAL, __VA_ARGS__)

#endif
