/* Delivery latency attribution (see delivery.h). */
#include "tools/loadgen/delivery.h"

#include <stdio.h>
#include <stdlib.h>

#include <grpc/status.h>

void lg_delivery_compute(const lg_write *writes, size_t nwrites, const lg_watcher_log *logs,
                         size_t nlogs, int64_t end_us, lg_stats *st, lg_delivery_counts *out) {
  *out = (lg_delivery_counts){0};
  for (size_t w = 0; w < nlogs; w++) {
    const lg_watcher_log *l = &logs[w];
    if (l->first_us == 0) continue;
    size_t c = 0; /* changes before this write's window were consumed by earlier writes */
    for (size_t k = 0; k < nwrites; k++) {
      int64_t from = writes[k].start_us;
      int64_t to = k + 1 < nwrites ? writes[k + 1].start_us : end_us;
      if (l->first_us >= from) continue;
      out->expected++;
      while (c < l->n && l->changes[c] < from) c++;
      if (c < l->n && l->changes[c] < to) {
        int64_t lat = l->changes[c] - writes[k].ack_us;
        if (lat < 0) {
          out->before_ack++;
          lat = 0;
        }
        lg_stats_add(st, GRPC_STATUS_OK, lat * 1000);
        out->delivered++;
      } else {
        out->missed++;
      }
    }
  }
}

long lg_writes_read(const char *path, lg_write **out) {
  *out = NULL;
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  lg_write *v = NULL;
  size_t n = 0, cap = 0;
  long long s, a;
  int r;
  while ((r = fscanf(f, "%lld %lld", &s, &a)) == 2) {
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      lg_write *nv = realloc(v, cap * sizeof *nv);
      if (!nv) goto fail;
      v = nv;
    }
    v[n++] = (lg_write){(int64_t)s, (int64_t)a};
  }
  if (r != EOF) goto fail;
  fclose(f);
  *out = v;
  return (long)n;
fail:
  fclose(f);
  free(v);
  return -1;
}
