/* The two build strings. The Makefile passes them as -D flags to this file only
 * (scripts/version-flags.sh); a compile without them still builds and says "unknown". */
#include "common/version.h"

#ifndef MENU_VERSION
#define MENU_VERSION "unknown"
#endif
#ifndef MENU_GIT_REVISION
#define MENU_GIT_REVISION "unknown"
#endif

const char *menu_version(void) { return MENU_VERSION; }

const char *menu_git_revision(void) { return MENU_GIT_REVISION; }
