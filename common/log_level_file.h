/* LOG_LEVEL_FILE: the log level from a file (in Kubernetes a mounted ConfigMap key), changed at
 * run time without a restart: a watcher thread re-reads it when the file changes (polled every
 * refresh_ms; a ConfigMap update swaps a symlink, which stat() follows) and at once on SIGHUP.
 * Every change is logged ("log level changed", with from, to and trigger). */
#ifndef MENU_LOG_LEVEL_FILE_H
#define MENU_LOG_LEVEL_FILE_H

#include <stdint.h>

typedef struct log_level_file log_level_file;

/* Reads the file once and sets the level; NULL (with *err, caller frees) when it cannot be
 * read or holds no level name, so start-up refuses it like any bad setting. SIGHUP must be
 * blocked in every thread (rpc_server_block_signals): the watcher takes it with sigtimedwait.
 * Caller owns the result (log_level_file_stop). */
log_level_file *log_level_file_start(const char *path, int64_t refresh_ms, char **err);
/* Stops and joins the watcher. NULL is accepted. */
void log_level_file_stop(log_level_file *f);

#endif
