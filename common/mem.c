/* Allocation that aborts when memory runs out. */
#include "common/mem.h"

#include <stdlib.h>
#include <string.h>

char *mem_strdup(const char *s) {
  char *d = strdup(s);
  if (!d) abort();
  return d;
}
