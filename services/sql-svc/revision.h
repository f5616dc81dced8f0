/* Rule revisions (issue 12): a revision per channel (table channelRuleRevision, migration 005)
 * advanced in the same transaction as every rule write on the channel, and, for a store, the
 * instant until which its availability at an instant stays valid without any write (the next
 * effective or termination instant of a rule that could apply). GetAvailabilityRevision, and
 * the reads BatchGetProductAvailabilities shares. Thread-safe (state only in the pool). */
#ifndef SQL_REVISION_H
#define SQL_REVISION_H

#include <stdbool.h>
#include <stdint.h>

#include "common/rpc_server.h"
#include "services/sql-svc/pool.h"
#include "services/sql-svc/sqlsvc.h"

/* What one read of a channel's revision (and a store's next boundary) found. */
typedef struct {
  uint64_t revision;
  bool has_valid_until;
  sql_usec valid_until; /* the next boundary after at, when has_valid_until */
} revision_info;

/* Reads the channel's revision and, when store is not NULL, the store's next rule boundary
 * after `at`, with one statement on conn (inside the caller's transaction, if any, so that it
 * shares its snapshot). NOT_FOUND naming store_code / channel when either is unknown; a store
 * not on the channel has no boundary (no rule applies there). */
menu_status revision_read(pool_conn *conn, const char *channel, const char *store, sql_usec at,
                          revision_info *out);

/* +1 on the channel of rule group group_id / of rule rule_id, on conn inside the caller's
 * transaction (the row stays locked until it ends: rule writes on one channel serialise). */
menu_status revision_bump_group(pool_conn *conn, int64_t group_id);
menu_status revision_bump_rule(pool_conn *conn, int64_t rule_id);

/* GetAvailabilityRevision: rpc_unary_fn with svc = sqlsvc*. */
menu_status revision_get(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp,
                         void *svc);

#endif
