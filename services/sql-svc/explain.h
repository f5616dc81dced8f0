/* `sql-svc explain STORE CHANNEL`: the server's plan for the exact availability statement
 * the service runs (forward page, first page, now), one tab-separated line per plan row.
 * Used to check index use on a large data set (README, integration test). */
#ifndef SQL_EXPLAIN_H
#define SQL_EXPLAIN_H

#include <mysql.h>
#include <stdio.h>

#include "common/status.h"

menu_status explain_availability(MYSQL *m, const char *store, const char *channel, FILE *out);

#endif
