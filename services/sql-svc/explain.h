/* `sql-svc explain STORE CHANNEL [CODE,CODE,...]`: the server's plan for the exact
 * availability statement the service runs (without codes: the list's forward first page;
 * with codes: BatchGetProductAvailabilities for them; with @revision: GetAvailabilityRevision's
 * for the store), at now, one tab-separated line per
 * plan row. Used to check index use on a large data set (README, integration test). */
#ifndef SQL_EXPLAIN_H
#define SQL_EXPLAIN_H

#include <mysql.h>
#include <stdio.h>

#include "common/status.h"

/* The `codes` argument that explains GetAvailabilityRevision's store statement instead (the
 * store's next rule boundary; '@' is no code's character). */
#define EXPLAIN_REVISION "@revision"

/* codes: comma-separated product codes (borrowed), NULL for the list statement, or
 * EXPLAIN_REVISION. */
menu_status explain_availability(MYSQL *m, const char *store, const char *channel,
                                 const char *codes, FILE *out);

#endif
