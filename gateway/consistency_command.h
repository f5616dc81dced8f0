/* `gateway check-consistency CHANNEL`: the CheckMenuConsistency check run once from a shell
 * (an operator, a Kubernetes CronJob), with the gateway's own backend variables
 * (DYNAMO_SVC_TARGET, SQL_SVC_TARGET, BACKEND_TLS_*, CONSISTENCY_CHECK_TIMEOUT_MS). The same
 * state machine as the RPC (gateway/consistency.h), its calls completing on a private
 * completion queue that the main thread drains. Prints the report as JSON on stdout (log
 * lines go to stderr); exit status 0 when consistent, 1 when references dangle, 2 on error
 * (bad usage or configuration, a backend failure, the time limit). */
#ifndef GATEWAY_CONSISTENCY_COMMAND_H
#define GATEWAY_CONSISTENCY_COMMAND_H

#include "menu/v1/menu.pb-c.h"

#define CONSISTENCY_EXIT_CONSISTENT 0
#define CONSISTENCY_EXIT_DANGLING 1
#define CONSISTENCY_EXIT_ERROR 2

/* argv[1] is "check-consistency". Returns the exit status. */
int consistency_command_main(int argc, char **argv);

/* "KIOSK", "kiosk" or "CHANNEL_KIOSK" -> the channel; CHANNEL_UNSPECIFIED when it names none. */
Menu__V1__Channel consistency_channel_parse(const char *name);

/* The report as a JSON object, with the field names of the RPC's JSON form (camelCase,
 * enum names) plus "channel" and "consistent". Caller frees. */
char *consistency_report_json(Menu__V1__Channel channel,
                              const Menu__V1__CheckMenuConsistencyResponse *out);

#endif
