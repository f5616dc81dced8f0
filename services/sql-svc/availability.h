/* ListProductAvailabilities and GetProductAvailability: which products a store may sell on a
 * channel at an instant, each decided by its winning rule (SPEC section 5), read with one SQL
 * statement per call. Handlers are rpc_unary_fn with svc = sqlsvc*; thread-safe. */
#ifndef SQL_AVAILABILITY_H
#define SQL_AVAILABILITY_H

#include "common/rpc_server.h"

/* Most product codes one BatchGetProductAvailabilities call may name. */
#define AVAILABILITY_BATCH_MAX 500

menu_status availability_list(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp,
                              void *svc);
/* BatchGetProductAvailabilities: up to AVAILABILITY_BATCH_MAX codes, each answered (allowed,
 * denied, no rule, unknown product, store not on channel) in request order. */
menu_status availability_batch_get(rpc_ctx *ctx, const ProtobufCMessage *req,
                                   ProtobufCMessage *resp, void *svc);
menu_status availability_get(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp,
                             void *svc);

/* Rule type column value <-> enum ("global-experience" ...); shared with rules.c. */
int availability_rule_type_from_db(const char *s);
const char *availability_rule_type_to_db(int rule_type);

#endif
