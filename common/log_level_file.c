/* The LOG_LEVEL_FILE watcher: one thread, sigtimedwait(SIGHUP) as its sleep. */
#include "common/log_level_file.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/file.h"
#include "common/log.h"
#include "common/mem.h"

struct log_level_file {
  char *path;
  int64_t refresh_ms;
  struct stat seen; /* of the last read, to notice a change */
  bool warned;      /* an unreadable or bad file was reported (once until it is good again) */
  atomic_bool stop;
  pthread_t thread;
};

/* The level in the file, or false with why. */
static bool file_level(const char *path, log_level *out, char *why, size_t n) {
  char *text = file_read_trimmed(path, 64);
  if (!text) {
    snprintf(why, n, "cannot read: %s", strerror(errno));
    return false;
  }
  bool ok = log_level_parse(text, out);
  if (!ok) snprintf(why, n, "'%.32s' is not debug, info, warn or error", text);
  free(text);
  return ok;
}

static void reload(log_level_file *f, const char *trigger) {
  log_level now = log_level_get(), want;
  char why[128];
  file_stat_or_zero(f->path, &f->seen);
  if (!file_level(f->path, &want, why, sizeof why)) {
    if (!f->warned)
      log_warn("LOG_LEVEL_FILE unusable; keeping the level", "file", f->path, "error", why, "level",
               log_level_name(now), "trigger", trigger, NULL);
    f->warned = true;
    return;
  }
  f->warned = false;
  if (want == now) return;
  log_level_set(want);
  /* At the less verbose of the two levels, so the line shows under both. */
  log_line *l = log_begin(want > now ? want : now, "log level changed");
  log_str(l, "from", log_level_name(now));
  log_str(l, "to", log_level_name(want));
  log_str(l, "trigger", trigger);
  log_str(l, "file", f->path);
  log_end(l);
}

static void *watch_main(void *arg) {
  log_level_file *f = arg;
  sigset_t hup;
  sigemptyset(&hup);
  sigaddset(&hup, SIGHUP);
  struct timespec every = {f->refresh_ms / 1000, (f->refresh_ms % 1000) * 1000000};
  while (!atomic_load(&f->stop)) {
    int sig = sigtimedwait(&hup, NULL, &every);
    if (atomic_load(&f->stop)) break;
    if (sig == SIGHUP) {
      reload(f, "SIGHUP");
      continue;
    }
    struct stat st;
    file_stat_or_zero(f->path, &st);
    if (!file_stat_same(&st, &f->seen)) reload(f, "file changed");
  }
  return NULL;
}

log_level_file *log_level_file_start(const char *path, int64_t refresh_ms, char **err) {
  log_level level;
  char why[128];
  if (!file_level(path, &level, why, sizeof why)) {
    if (err && asprintf(err, "%s", why) < 0) *err = NULL;
    return NULL;
  }
  log_level_file *f = calloc(1, sizeof *f);
  if (!f) abort();
  f->path = mem_strdup(path);
  f->refresh_ms = refresh_ms > 0 ? refresh_ms : 1000;
  file_stat_or_zero(path, &f->seen);
  log_level_set(level);
  atomic_init(&f->stop, false);
  if (pthread_create(&f->thread, NULL, watch_main, f) != 0) abort();
  return f;
}

void log_level_file_stop(log_level_file *f) {
  if (!f) return;
  atomic_store(&f->stop, true);
  /* Wakes the watcher out of sigtimedwait (SIGHUP is blocked everywhere, so this only ever
   * reaches that thread's wait). */
  pthread_kill(f->thread, SIGHUP);
  pthread_join(f->thread, NULL);
  free(f->path);
  free(f);
}
