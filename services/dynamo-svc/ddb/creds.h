/* AWS credentials providers behind one small vtable: static keys (from the environment, or
 * dummy ones for a local endpoint) and IRSA web identity (STS AssumeRoleWithWebIdentity,
 * cached and refreshed before expiry, the token file re-read on every refresh). */
#ifndef DDB_CREDS_H
#define DDB_CREDS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "common/config.h"
#include "common/mono_clock.h"
#include "common/status.h"
#include "services/dynamo-svc/ddb/http.h"

typedef struct {
  char access_key[128];
  char secret_key[128];
  char session_token[4096]; /* "" when none */
  time_t expiration;        /* 0 when the keys do not expire */
} aws_credentials;

typedef struct creds_provider creds_provider;

typedef struct {
  const char *name; /* "env", "static", "web-identity": for logs */
  /* Copies current credentials into out, fetching or refreshing them first when needed
   * (blocking at most until deadline_ms, a mono_now_ms() time). Thread-safe. Errors:
   * UNAVAILABLE (STS unreachable or refusing) or DEADLINE_EXCEEDED. */
  menu_status (*get)(creds_provider *p, int64_t deadline_ms, aws_credentials *out);
  /* DynamoDB said the credentials expired or are unknown: fetch fresh ones on the next get. */
  void (*invalidate)(creds_provider *p);
  void (*destroy)(creds_provider *p);
} creds_provider_vtable;

struct creds_provider {
  const creds_provider_vtable *vt;
};

static inline menu_status creds_get(creds_provider *p, int64_t deadline_ms, aws_credentials *out) {
  return p->vt->get(p, deadline_ms, out);
}
static inline void creds_invalidate(creds_provider *p) { p->vt->invalidate(p); }
static inline void creds_destroy(creds_provider *p) {
  if (p) p->vt->destroy(p);
}

/* Fixed keys (copied). name is for logs ("env", "static"). Caller destroys. */
creds_provider *creds_static_create(const char *name, const char *access_key,
                                    const char *secret_key, const char *session_token);

typedef struct {
  const char *role_arn;     /* AWS_ROLE_ARN */
  const char *token_file;   /* AWS_WEB_IDENTITY_TOKEN_FILE */
  const char *session_name; /* AWS_ROLE_SESSION_NAME, default "dynamo-svc-<pid>" */
  const char *sts_endpoint; /* AWS_ENDPOINT_URL_STS, default https://sts.<region>.amazonaws.com */
  int64_t refresh_before_s; /* refresh this long before Expiration (300) */
  int64_t duration_s;       /* DurationSeconds asked for, 0: the role's default */
} creds_web_identity_config;

/* Strings are copied; the pool is borrowed and must outlive the provider. Caller destroys. */
creds_provider *creds_web_identity_create(const creds_web_identity_config *cfg, http_pool *pool);

/* The chain the service uses: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY(/AWS_SESSION_TOKEN);
 * else IRSA when AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE are set; else, when `local`
 * (an endpoint on this machine, e.g. dynalite), dummy keys; else NULL with the problem
 * recorded in c. Caller destroys. */
creds_provider *creds_from_env(config *c, http_pool *pool, const char *region, bool local);

/* Parses an STS AssumeRoleWithWebIdentity answer. Returns 0, or -1 with an error message
 * (the STS error code and message when it is an ErrorResponse). Exposed for unit tests. */
int creds_parse_sts_response(const char *xml, aws_credentials *out, char *err, size_t errlen);

#endif
