/* W3C Trace Context (https://www.w3.org/TR/trace-context/): parsing and formatting of the
 * traceparent and tracestate headers. Pure functions, no state. */
#include <string.h>

#include "common/trace.h"

static int hex_val(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1; /* upper case is invalid in traceparent */
}

/* n bytes from 2n lower-case hex digits; false on any other character. */
static bool hex_decode(const char *s, size_t n, uint8_t *out) {
  for (size_t i = 0; i < n; i++) {
    int hi = hex_val(s[2 * i]), lo = hex_val(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return true;
}

static bool all_zero(const uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (b[i]) return false;
  return true;
}

static bool key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '*' ||
         c == '/' || c == '@';
}

/* One list member "key=value" (already trimmed of optional white space). */
static bool state_member_ok(const char *m, size_t n) {
  const char *eq = memchr(m, '=', n);
  if (!eq || eq == m) return false;
  size_t klen = (size_t)(eq - m), vlen = n - klen - 1;
  if (klen > 256 || vlen == 0 || vlen > 256) return false;
  if (!(m[0] >= 'a' && m[0] <= 'z') && !(m[0] >= '0' && m[0] <= '9')) return false;
  int at = 0;
  for (size_t i = 0; i < klen; i++) {
    if (!key_char(m[i])) return false;
    if (m[i] == '@') at++;
  }
  if (at > 1) return false;
  for (size_t i = 0; i < vlen; i++) {
    char c = eq[1 + i];
    if (c < 0x20 || c > 0x7e || c == ',' || c == '=') return false;
  }
  return eq[vlen] != ' '; /* the last value character is not a space */
}

/* At most 32 members, each valid; empty members (",,") are allowed by the grammar. */
static bool state_ok(const char *s, size_t n) {
  int members = 0;
  size_t i = 0;
  while (i <= n) {
    size_t j = i;
    while (j < n && s[j] != ',') j++;
    size_t a = i, b = j;
    while (a < b && (s[a] == ' ' || s[a] == '\t')) a++;
    while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t')) b--;
    if (b > a) {
      if (!state_member_ok(s + a, b - a) || ++members > 32) return false;
    }
    i = j + 1;
  }
  return true;
}

bool trace_context_parse(const char *tp, size_t n, const char *ts, size_t sn, trace_context *out) {
  memset(out, 0, sizeof *out);
  if (!tp || n < TRACE_PARENT_LEN) return false;
  uint8_t version;
  if (!hex_decode(tp, 1, &version) || version == 0xff) return false;
  /* Version 00 is exactly 55 characters; a later version may append "-..." fields. */
  if (version == 0 && n != TRACE_PARENT_LEN) return false;
  if (n > TRACE_PARENT_LEN && tp[TRACE_PARENT_LEN] != '-') return false;
  if (tp[2] != '-' || tp[35] != '-' || tp[52] != '-') return false;
  if (!hex_decode(tp + 3, 16, out->trace_id) || !hex_decode(tp + 36, 8, out->span_id) ||
      !hex_decode(tp + 53, 1, &out->flags))
    return false;
  if (all_zero(out->trace_id, 16) || all_zero(out->span_id, 8)) return false;
  /* Flags a later version defines mean nothing to us: keep only the sampled bit. */
  if (version != 0) out->flags &= TRACE_FLAG_SAMPLED;
  if (ts && sn > 0 && sn <= TRACE_STATE_MAX && state_ok(ts, sn)) {
    memcpy(out->state, ts, sn);
    out->state[sn] = '\0';
  }
  return true;
}

void trace_hex(const uint8_t *bytes, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 15];
  }
  out[2 * n] = '\0';
}

void trace_context_format(const uint8_t trace_id[16], const uint8_t span_id[8], uint8_t flags,
                          char out[TRACE_PARENT_LEN + 1]) {
  out[0] = '0';
  out[1] = '0';
  out[2] = '-';
  trace_hex(trace_id, 16, out + 3);
  out[35] = '-';
  trace_hex(span_id, 8, out + 36);
  out[52] = '-';
  trace_hex(&flags, 1, out + 53);
}
