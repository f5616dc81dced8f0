/* menu.v1.ReferenceDataService: markets, regions, restaurants (with channels and menu types),
 * menu types, rule groups and products, read-only and Relay-paged. Every list shares one
 * paging path (reference_list in reference.c); handlers are rpc_unary_fn with svc = sqlsvc*;
 * thread-safe. */
#ifndef SQL_REFERENCE_H
#define SQL_REFERENCE_H

#include "common/rpc_server.h"

/* The method table for rpc_server_add_service (static storage; NULL-terminated). */
extern const rpc_method_impl reference_methods[];

#endif
