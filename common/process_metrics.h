/* The Prometheus client libraries' process collector, read from /proc at scrape time:
 * process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
 * process_open_fds, process_max_fds, process_start_time_seconds, process_threads. Linux only.
 * Thread-safe (runs inside metrics_render). */
#ifndef MENU_PROCESS_METRICS_H
#define MENU_PROCESS_METRICS_H

#include "common/metrics.h"

typedef struct {
  metrics_family *cpu, *rss, *vsize, *open_fds, *max_fds, *start, *threads;
  double start_time; /* seconds since the epoch, computed at the first scrape */
} process_metrics;

/* Registers the families and their collector on r (which owns the families); pm is borrowed
 * by the collector and must outlive every render of r (app_main keeps it on its stack). */
void process_metrics_register(process_metrics *pm, metrics_registry *r);

#endif
