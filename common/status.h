/* menu_status: the one error value every layer returns (a gRPC code, a message for the caller
 * and machine-readable details, AIP-193). Handlers return it; the runtime turns it into the RPC
 * status once, with a google.rpc.Status in the grpc-status-details-bin trailer
 * (common/status_details.h): an ErrorInfo (reason, domain "menu.v1", metadata) always, and a
 * BadRequest with one field violation per bad field for INVALID_ARGUMENT.
 * A plain value (no pointers): copy it, return it, share nothing. */
#ifndef MENU_STATUS_H
#define MENU_STATUS_H

#include <grpc/status.h>
#include <stdbool.h>
#include <stddef.h>

#define MENU_STATUS_MAX_VIOLATIONS 8
#define MENU_STATUS_MAX_METADATA 3

typedef struct {
  char field[64];        /* request field path, e.g. "category.name" or "page.first" */
  char description[128]; /* why it is bad */
} menu_field_violation;

typedef struct {
  grpc_status_code code;
  char message[256]; /* for the caller: never a host, port, user or driver text */
  char reason[48];   /* ErrorInfo.reason, UPPER_SNAKE; empty: the code's name */
  /* Internal diagnosis (driver error, host...): logged on the call's line, never sent. When
   * set, the runtime appends the request id to the caller's message. */
  char detail[256];
  unsigned n_violations; /* INVALID_ARGUMENT: BadRequest.field_violations */
  menu_field_violation violations[MENU_STATUS_MAX_VIOLATIONS];
  unsigned n_metadata; /* ErrorInfo.metadata besides the request id */
  struct {
    char key[32];
    char value[64];
  } metadata[MENU_STATUS_MAX_METADATA];
} menu_status;

#define MENU_OK ((menu_status){.code = GRPC_STATUS_OK})

/* printf-style; the message is truncated to fit. For INVALID_ARGUMENT a message of the form
 * "field.path: description" (or "a and b: description") also records the field violation(s),
 * so MENU_INVALID("page.first: must not be negative") names its field in BadRequest. */
menu_status menu_status_make(grpc_status_code code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline bool menu_status_is_ok(const menu_status *s) { return s->code == GRPC_STATUS_OK; }

/* For operators' logs: the internal detail when there is one, else the message. Borrowed. */
static inline const char *menu_status_diagnosis(const menu_status *s) {
  return s->detail[0] ? s->detail : s->message;
}

/* Sets the internal detail (printf-style): logged, never sent. */
void menu_status_set_detail(menu_status *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prepends printf-style text to the message (details are kept). */
void menu_status_prefix(menu_status *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "OK", "INVALID_ARGUMENT", ... as Prometheus labels and logs spell them; "UNKNOWN" otherwise. */
const char *menu_status_code_name(grpc_status_code code);

/* INVALID_ARGUMENT naming one field: message "field: description", one violation. */
menu_status menu_status_invalid_field(const char *field, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Adds a field violation to an INVALID_ARGUMENT status (turns OK into INVALID_ARGUMENT with
 * the violation as message). Use it to report every bad field, not only the first. Extra
 * violations beyond MENU_STATUS_MAX_VIOLATIONS are counted into the message only. */
void menu_status_add_violation(menu_status *s, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Accumulates `next` into `acc`: violations of two INVALID_ARGUMENTs are merged; otherwise the
 * first non-OK status wins. Returns true while acc is still OK. */
bool menu_status_merge(menu_status *acc, const menu_status *next);

/* Sets ErrorInfo.reason (UPPER_SNAKE, at most 47 characters). */
void menu_status_set_reason(menu_status *s, const char *reason);
/* Adds ErrorInfo.metadata key=value (dropped when full). */
void menu_status_add_metadata(menu_status *s, const char *key, const char *value);

/* A datastore or backend failure: the caller sees `public_msg` (which datastore or backend
 * failed, never a host, port, user or driver text) and the request id; `detail_fmt` goes only
 * to the call's log line. reason: e.g. "DATASTORE_UNAVAILABLE"; `source` (e.g. "dynamodb",
 * "mysql", "sql-svc") becomes ErrorInfo.metadata["datastore"]. */
menu_status menu_status_backend(grpc_status_code code, const char *reason, const char *source,
                                const char *public_msg, const char *detail_fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Shorthands for the common codes. */
#define MENU_INVALID(...) menu_status_make(GRPC_STATUS_INVALID_ARGUMENT, __VA_ARGS__)
#define MENU_INVALID_FIELD(field, ...) menu_status_invalid_field(field, __VA_ARGS__)
#define MENU_NOT_FOUND(...) menu_status_make(GRPC_STATUS_NOT_FOUND, __VA_ARGS__)
#define MENU_UNAVAILABLE(...) menu_status_make(GRPC_STATUS_UNAVAILABLE, __VA_ARGS__)
#define MENU_INTERNAL(...) menu_status_make(GRPC_STATUS_INTERNAL, __VA_ARGS__)

#endif
