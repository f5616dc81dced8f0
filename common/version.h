/* The release version (the VERSION file) and the git revision the binary was built from, for
 * --version, the start-up log line and the build-info metric. Both are compiled into version.c
 * alone, so a new commit rebuilds one object and relinks. */
#ifndef MENU_VERSION_H
#define MENU_VERSION_H

/* "0.4.0". Static storage; thread-safe. */
const char *menu_version(void);
/* `git rev-parse --short=12 HEAD` at build time, "-dirty" appended when tracked files had
 * changes, "unknown" when built outside git (tarball, container context). Static storage;
 * thread-safe. */
const char *menu_git_revision(void);

#endif
