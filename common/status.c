/* menu_status construction, field violations and code names. */
#include "common/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void copy_str(char *dst, size_t cap, const char *src, size_t n) {
  if (n >= cap) n = cap - 1;
  memcpy(dst, src, n);
  dst[n] = 0;
}

static bool path_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '[' || c == ']';
}

/* Length of a field path at s (0 if none). */
static size_t path_len(const char *s) {
  size_t n = 0;
  while (path_char(s[n])) n++;
  return n;
}

static void push_violation(menu_status *s, const char *field, size_t field_len, const char *desc) {
  if (s->n_violations >= MENU_STATUS_MAX_VIOLATIONS) return;
  menu_field_violation *v = &s->violations[s->n_violations++];
  copy_str(v->field, sizeof v->field, field, field_len);
  copy_str(v->description, sizeof v->description, desc, strlen(desc));
}

/* "a.b: text" or "a and b: text" -> violations a.b (and b), each described by "text". */
static void violations_from_message(menu_status *s) {
  const char *m = s->message;
  const char *fields[2];
  size_t lens[2], k = 0;
  size_t n = path_len(m);
  if (!n) return;
  fields[k] = m;
  lens[k++] = n;
  const char *p = m + n;
  if (!strncmp(p, " and ", 5) && path_len(p + 5)) {
    fields[k] = p + 5;
    lens[k] = path_len(p + 5);
    p = fields[k] + lens[k];
    k++;
  }
  if (p[0] != ':' || p[1] != ' ') return;
  for (size_t i = 0; i < k; i++) push_violation(s, fields[i], lens[i], p + 2);
}

menu_status menu_status_make(grpc_status_code code, const char *fmt, ...) {
  menu_status s = {.code = code};
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s.message, sizeof s.message, fmt, ap);
  va_end(ap);
  if (code == GRPC_STATUS_INVALID_ARGUMENT) violations_from_message(&s);
  return s;
}

menu_status menu_status_invalid_field(const char *field, const char *fmt, ...) {
  menu_status s = {.code = GRPC_STATUS_INVALID_ARGUMENT};
  char desc[sizeof s.violations[0].description];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(desc, sizeof desc, fmt, ap);
  va_end(ap);
  snprintf(s.message, sizeof s.message, "%s: %s", field, desc);
  push_violation(&s, field, strlen(field), desc);
  return s;
}

void menu_status_add_violation(menu_status *s, const char *field, const char *fmt, ...) {
  char desc[sizeof s->violations[0].description];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(desc, sizeof desc, fmt, ap);
  va_end(ap);
  if (s->code == GRPC_STATUS_OK) {
    s->code = GRPC_STATUS_INVALID_ARGUMENT;
    snprintf(s->message, sizeof s->message, "%s: %s", field, desc);
  } else if (s->code != GRPC_STATUS_INVALID_ARGUMENT) {
    return;
  } else {
    size_t len = strlen(s->message);
    snprintf(s->message + len, sizeof s->message - len, "; %s: %s", field, desc);
  }
  push_violation(s, field, strlen(field), desc);
}

bool menu_status_merge(menu_status *acc, const menu_status *next) {
  if (next->code == GRPC_STATUS_OK) return acc->code == GRPC_STATUS_OK;
  if (acc->code == GRPC_STATUS_OK) {
    *acc = *next;
    return false;
  }
  if (acc->code != GRPC_STATUS_INVALID_ARGUMENT || next->code != GRPC_STATUS_INVALID_ARGUMENT)
    return false;
  size_t len = strlen(acc->message);
  snprintf(acc->message + len, sizeof acc->message - len, "; %s", next->message);
  for (unsigned i = 0; i < next->n_violations; i++)
    push_violation(acc, next->violations[i].field, strlen(next->violations[i].field),
                   next->violations[i].description);
  return false;
}

void menu_status_set_detail(menu_status *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->detail, sizeof s->detail, fmt, ap);
  va_end(ap);
}

void menu_status_prefix(menu_status *s, const char *fmt, ...) {
  char prefix[sizeof s->message];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  char old[sizeof s->message];
  memcpy(old, s->message, sizeof old);
  size_t pl = strlen(prefix), ol = strlen(old);
  if (pl >= sizeof s->message) pl = sizeof s->message - 1;
  memcpy(s->message, prefix, pl);
  if (ol > sizeof s->message - 1 - pl) ol = sizeof s->message - 1 - pl;
  memcpy(s->message + pl, old, ol);
  s->message[pl + ol] = 0;
}

void menu_status_set_reason(menu_status *s, const char *reason) {
  copy_str(s->reason, sizeof s->reason, reason, strlen(reason));
}

void menu_status_add_metadata(menu_status *s, const char *key, const char *value) {
  if (s->n_metadata >= MENU_STATUS_MAX_METADATA) return;
  unsigned i = s->n_metadata++;
  copy_str(s->metadata[i].key, sizeof s->metadata[i].key, key, strlen(key));
  copy_str(s->metadata[i].value, sizeof s->metadata[i].value, value, strlen(value));
}

menu_status menu_status_backend(grpc_status_code code, const char *reason, const char *source,
                                const char *public_msg, const char *detail_fmt, ...) {
  menu_status s = {.code = code};
  copy_str(s.message, sizeof s.message, public_msg, strlen(public_msg));
  menu_status_set_reason(&s, reason);
  menu_status_add_metadata(&s, "datastore", source);
  va_list ap;
  va_start(ap, detail_fmt);
  vsnprintf(s.detail, sizeof s.detail, detail_fmt, ap);
  va_end(ap);
  if (!s.detail[0]) snprintf(s.detail, sizeof s.detail, "%s", public_msg);
  return s;
}

const char *menu_status_code_name(grpc_status_code code) {
  static const char *const names[] = {
      "OK",
      "CANCELLED",
      "UNKNOWN",
      "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED",
      "NOT_FOUND",
      "ALREADY_EXISTS",
      "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION",
      "ABORTED",
      "OUT_OF_RANGE",
      "UNIMPLEMENTED",
      "INTERNAL",
      "UNAVAILABLE",
      "DATA_LOSS",
      "UNAUTHENTICATED",
  };
  if ((unsigned)code < sizeof names / sizeof names[0]) return names[code];
  return "UNKNOWN";
}
