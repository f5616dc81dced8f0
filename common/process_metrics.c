/* process_* from /proc/self/stat, /proc/self/fd, /proc/stat and getrlimit, as the Go and
 * Python clients export them. */
#include "common/process_metrics.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* The fields of /proc/self/stat after the command name, from field 3 (state) on. */
typedef struct {
  unsigned long utime, stime; /* clock ticks (fields 14, 15) */
  long threads;               /* field 20 */
  unsigned long long start;   /* clock ticks after boot (field 22) */
  unsigned long vsize;        /* bytes (field 23) */
  long rss;                   /* pages (field 24) */
} proc_stat;

static int read_stat(proc_stat *out) {
  char buf[1024];
  FILE *f = fopen("/proc/self/stat", "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
  if (!p) return -1;
  int got = sscanf(p + 2,
                   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %ld %*d "
                   "%llu %lu %ld",
                   &out->utime, &out->stime, &out->threads, &out->start, &out->vsize, &out->rss);
  return got == 6 ? 0 : -1;
}

static double boot_time(void) {
  FILE *f = fopen("/proc/stat", "r");
  if (!f) return 0;
  char line[256];
  double bt = 0;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "btime ", 6)) {
      bt = strtod(line + 6, NULL);
      break;
    }
  fclose(f);
  return bt;
}

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(d));)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - 1; /* the directory's own descriptor */
}

static void collect(void *arg) {
  process_metrics *pm = arg;
  double tick = (double)sysconf(_SC_CLK_TCK);
  proc_stat st;
  if (read_stat(&st) == 0) {
    metrics_set(pm->cpu, METRICS_NO_LABELS, (double)(st.utime + st.stime) / tick);
    metrics_set(pm->rss, METRICS_NO_LABELS, (double)st.rss * (double)sysconf(_SC_PAGESIZE));
    metrics_set(pm->vsize, METRICS_NO_LABELS, (double)st.vsize);
    metrics_set(pm->threads, METRICS_NO_LABELS, (double)st.threads);
    if (!pm->start_time) pm->start_time = boot_time() + (double)st.start / tick;
    metrics_set(pm->start, METRICS_NO_LABELS, pm->start_time);
  }
  int fds = count_fds();
  if (fds >= 0) metrics_set(pm->open_fds, METRICS_NO_LABELS, fds);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
    metrics_set(pm->max_fds, METRICS_NO_LABELS,
                rl.rlim_cur == RLIM_INFINITY ? -1.0 : (double)rl.rlim_cur);
}

void process_metrics_register(process_metrics *pm, metrics_registry *r) {
  *pm = (process_metrics){0};
  pm->cpu = metrics_counter(r, "process_cpu_seconds_total",
                            "Total user and system CPU time spent in seconds.", METRICS_NO_LABELS);
  pm->rss = metrics_gauge(r, "process_resident_memory_bytes", "Resident memory size in bytes.",
                          METRICS_NO_LABELS);
  pm->vsize = metrics_gauge(r, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
                            METRICS_NO_LABELS);
  pm->open_fds =
      metrics_gauge(r, "process_open_fds", "Number of open file descriptors.", METRICS_NO_LABELS);
  pm->max_fds = metrics_gauge(r, "process_max_fds", "Maximum number of open file descriptors.",
                              METRICS_NO_LABELS);
  pm->start =
      metrics_gauge(r, "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.", METRICS_NO_LABELS);
  pm->threads = metrics_gauge(r, "process_threads", "Number of OS threads in the process.",
                              METRICS_NO_LABELS);
  metrics_on_collect(r, collect, pm);
}
