/* The wire walk of strict_strings_check: tags, lengths and sub-messages, no allocation. */
#include "common/strict_strings.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/validate.h"

#define MAX_DEPTH 16
#define MAX_PATH 64

static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64 && *p < end; shift += 7) {
    uint8_t b = *(*p)++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return true;
    }
  }
  return false;
}

/* Why the bytes are not a strict string, or NULL. */
static const char *string_problem(const uint8_t *s, size_t n) {
  if (memchr(s, 0, n)) return "contains a NUL character";
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    /* validate_utf8_next reads up to 4 bytes: a sequence cut by the end is invalid anyway, but
     * it must not read past n, so copy the tail. */
    uint8_t tail[5] = {0};
    const uint8_t *at = s + i;
    if (n - i < 4) {
      memcpy(tail, s + i, n - i);
      at = tail;
    }
    size_t k = validate_utf8_next(at, &cp);
    if (!k || k > n - i) return "not valid UTF-8";
    if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f))
      return "contains a control character";
    i += k;
  }
  return NULL;
}

static void join_path(char *out, const char *prefix, const char *name, int index) {
  if (index >= 0)
    snprintf(out, MAX_PATH, "%s%s%s[%d]", prefix, *prefix ? "." : "", name, index);
  else
    snprintf(out, MAX_PATH, "%s%s%s", prefix, *prefix ? "." : "", name);
}

static void walk(const ProtobufCMessageDescriptor *desc, const uint8_t *p, const uint8_t *end,
                 const char *prefix, int depth, menu_status *st) {
  /* occurrences so far per field (for "[i]" of repeated fields) */
  unsigned seen[64] = {0};
  while (p < end) {
    uint64_t key;
    if (!read_varint(&p, end, &key)) return;
    uint32_t number = (uint32_t)(key >> 3);
    unsigned wire = (unsigned)(key & 7);
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(desc, number);
    int index = -1;
    if (f && f->label == PROTOBUF_C_LABEL_REPEATED) {
      unsigned slot = (unsigned)(f - desc->fields);
      index = slot < 64 ? (int)seen[slot]++ : 0;
    }
    uint64_t v;
    switch (wire) {
      case 0:
        if (!read_varint(&p, end, &v)) return;
        if (f && f->type == PROTOBUF_C_TYPE_INT64 && !strcmp(f->name, "version") &&
            v == (uint64_t)INT64_MAX) {
          char path[MAX_PATH];
          join_path(path, prefix, f->name, index);
          menu_status_add_violation(st, path, "out of range (no later version exists)");
        }
        break;
      case 1:
        if (end - p < 8) return;
        p += 8;
        break;
      case 5:
        if (end - p < 4) return;
        p += 4;
        break;
      case 2: {
        if (!read_varint(&p, end, &v) || v > (uint64_t)(end - p)) return;
        const uint8_t *body = p;
        p += v;
        if (!f) break;
        char path[MAX_PATH];
        if (f->type == PROTOBUF_C_TYPE_STRING) {
          const char *why = string_problem(body, (size_t)v);
          if (why) {
            join_path(path, prefix, f->name, index);
            menu_status_add_violation(st, path, "%s", why);
          }
        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE && depth < MAX_DEPTH) {
          join_path(path, prefix, f->name, index);
          walk(f->descriptor, body, p, path, depth + 1, st);
        }
        break;
      }
      default: /* groups: protobuf-c would not have unpacked them */
        return;
    }
  }
}

menu_status strict_strings_check(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                 size_t len) {
  menu_status st = MENU_OK;
  walk(desc, data, data + len, "", 0, &st);
  return st;
}
