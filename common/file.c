#include "common/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"

char *file_read_all(const char *path, size_t max, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  strbuf b;
  strbuf_init(&b);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
    if (b.len + n > max) {
      fclose(f);
      strbuf_free(&b);
      errno = EFBIG;
      return NULL;
    }
    strbuf_append(&b, buf, n);
  }
  int failed = ferror(f);
  fclose(f);
  if (failed) {
    strbuf_free(&b);
    errno = EIO;
    return NULL;
  }
  if (len) *len = b.len;
  return strbuf_take(&b);
}

char *file_read_trimmed(const char *path, size_t max) {
  size_t n;
  char *s = file_read_all(path, max, &n);
  if (!s) return NULL;
  while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
    s[--n] = '\0';
  return s;
}

void file_stat_or_zero(const char *path, struct stat *st) {
  if (stat(path, st) != 0) memset(st, 0, sizeof *st);
}

bool file_stat_same(const struct stat *a, const struct stat *b) {
  return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
         a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}
