/* The rich gRPC error model (AIP-193): a menu_status encoded as a google.rpc.Status for the
 * grpc-status-details-bin trailer, with a google.rpc.ErrorInfo (reason, domain "menu.v1",
 * metadata including the request id) and, when the status names fields, a google.rpc.BadRequest
 * with one field violation each. Pure functions, thread-safe. */
#ifndef MENU_STATUS_DETAILS_H
#define MENU_STATUS_DETAILS_H

#include <grpc/slice.h>

#include "common/status.h"

#define STATUS_DETAILS_KEY "grpc-status-details-bin"
#define STATUS_DETAILS_DOMAIN "menu.v1"

/* The serialized google.rpc.Status of `st` with `message` (what grpc-message carries) and
 * `request_id` (may be NULL) in ErrorInfo.metadata. Caller unrefs the slice. */
grpc_slice status_details_encode(const menu_status *st, const char *message,
                                 const char *request_id);

/* ErrorInfo.reason of st: its own reason, or the code's name. Borrowed from st or static. */
const char *status_details_reason(const menu_status *st);

/* Decodes a google.rpc.Status (e.g. a backend's trailer) into st: code, message, reason,
 * metadata (request_id is skipped) and field violations. Returns false when it does not decode
 * (st is then unchanged). */
bool status_details_decode(const unsigned char *data, size_t len, menu_status *st);

#endif
