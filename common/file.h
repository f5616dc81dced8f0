/* Whole small files (secrets, certificates, policies, migrations) read in one call. */
#ifndef MENU_FILE_H
#define MENU_FILE_H

#include <stddef.h>

/* Bound for configuration files (certificates, policies, migrations): 1 MiB. */
#define FILE_CONFIG_MAX ((size_t)1 << 20)

/* The file's bytes, NUL-terminated (caller frees), and its length in *len when len is not
 * NULL. NULL with errno set when it cannot be read, or EFBIG when it is longer than max bytes. */
char *file_read_all(const char *path, size_t max, size_t *len);

/* As file_read_all, with trailing whitespace (newlines of a mounted secret) removed. */
char *file_read_trimmed(const char *path, size_t max);

#endif
