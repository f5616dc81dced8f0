/* Code pattern and strict UTF-8 checks shared by every service. */
#include "common/validate.h"

#include <string.h>

static bool alnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool validate_code(const char *s) {
  if (!s || !alnum(s[0])) return false;
  size_t i = 1;
  for (; s[i]; i++) {
    if (i >= 50) return false;
    if (!alnum(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-') return false;
  }
  return true;
}

size_t validate_utf8_next(const unsigned char *s, uint32_t *cp) {
  if (s[0] < 0x80) {
    *cp = s[0];
    return 1;
  }
  size_t len;
  uint32_t min;
  if ((s[0] & 0xE0) == 0xC0) {
    len = 2, min = 0x80, *cp = s[0] & 0x1F;
  } else if ((s[0] & 0xF0) == 0xE0) {
    len = 3, min = 0x800, *cp = s[0] & 0x0F;
  } else if ((s[0] & 0xF8) == 0xF0) {
    len = 4, min = 0x10000, *cp = s[0] & 0x07;
  } else {
    return 0;
  }
  for (size_t i = 1; i < len; i++) { /* a NUL stops here: it is not a continuation byte */
    if ((s[i] & 0xC0) != 0x80) return 0;
    *cp = (*cp << 6) | (s[i] & 0x3F);
  }
  if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF)) return 0;
  return len;
}

bool validate_utf8(const char *s, size_t max_bytes) {
  if (strlen(s) > max_bytes) return false;
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    uint32_t cp;
    size_t n = validate_utf8_next(p, &cp);
    if (!n) return false;
    p += n;
  }
  return true;
}

bool validate_uuid(const char *s, char out[37]) {
  if (!s || strlen(s) != 36) return false;
  for (int i = 0; i < 36; i++) {
    char ch = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (ch != '-') return false;
    } else if (ch >= 'A' && ch <= 'F') {
      ch = (char)(ch - 'A' + 'a');
    } else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
      return false;
    }
    out[i] = ch;
  }
  out[36] = '\0';
  return true;
}
