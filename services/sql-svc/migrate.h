/* Versioned schema migrations: services/sql-svc/migrations/NNN_name.sql applied in version
 * order, each recorded in schemaVersion, under a server-side named lock so that concurrent
 * runners (several pods, a Job and a developer) apply each migration exactly once. */
#ifndef SQL_MIGRATE_H
#define SQL_MIGRATE_H

#include <mysql.h>

#include "common/config.h"
#include "common/status.h"

/* MIGRATIONS_DIR, else <dir of the executable>/../../services/sql-svc/migrations when it
 * exists (a checkout), else /app/migrations (the container image). Caller frees. */
char *migrate_default_dir(config *c);

/* Applies every migration of `dir` not yet recorded. *applied gets the number applied now.
 * Idempotent. m is borrowed. */
menu_status migrate_run(MYSQL *m, const char *dir, int *applied);

#endif
