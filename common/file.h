/* Whole small files (secrets, certificates, policies, migrations) read in one call, and the
 * identity of a watched file (its stat) for the watchers that re-read one when it changes. */
#ifndef MENU_FILE_H
#define MENU_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

/* Bound for configuration files (certificates, policies, migrations): 1 MiB. */
#define FILE_CONFIG_MAX ((size_t)1 << 20)

/* The file's bytes, NUL-terminated (caller frees), and its length in *len when len is not
 * NULL. NULL with errno set when it cannot be read, or EFBIG when it is longer than max bytes. */
char *file_read_all(const char *path, size_t max, size_t *len);

/* As file_read_all, with trailing whitespace (newlines of a mounted secret) removed. */
char *file_read_trimmed(const char *path, size_t max);

/* stat() of path into *st (following a symlink, so a Kubernetes ConfigMap update, which swaps
 * one, shows as another inode), or all zero when it cannot be stat'ed. */
void file_stat_or_zero(const char *path, struct stat *st);

/* True when a and b are the same version of a file: device, inode, size and modification time
 * (to the nanosecond). */
bool file_stat_same(const struct stat *a, const struct stat *b);

#endif
