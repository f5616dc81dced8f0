/* Availability rule administration: Create (validated, audited), Get, Terminate (shortens
 * the window, never deletes). Handlers are rpc_unary_fn with svc = sqlsvc*; thread-safe. */
#ifndef SQL_RULES_H
#define SQL_RULES_H

#include "common/rpc_server.h"

menu_status rules_create(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp,
                         void *svc);
menu_status rules_get(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp, void *svc);
menu_status rules_terminate(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp,
                            void *svc);

#endif
