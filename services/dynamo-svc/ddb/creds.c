/* Credentials providers: static keys and IRSA web identity through STS. The web-identity
 * provider refreshes under a flag so one thread calls STS while the others keep using the
 * still-valid keys (or wait, within their deadline, when there are none). */
#include "services/dynamo-svc/ddb/creds.h"
#include "common/mono_clock.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/file.h"
#include "common/log.h"
#include "common/netaddr.h"
#include "common/strbuf.h"
#include "services/dynamo-svc/ddb/clock.h"
#include "services/dynamo-svc/ddb/sigv4.h"

#define STS_TIMEOUT_MS 10000
#define MAX_TOKEN_FILE (64 * 1024)

static bool copy_str(char *dst, size_t n, const char *src) {
  size_t l = src ? strlen(src) : 0;
  if (l >= n) return false;
  memcpy(dst, src ? src : "", l + 1);
  return true;
}

/* ---- static ------------------------------------------------------------------------------ */

typedef struct {
  creds_provider base;
  creds_provider_vtable vt; /* per instance, so logs show "env" or "local-dummy" */
  char name[32];
  aws_credentials creds;
} static_provider;

static menu_status static_get(creds_provider *p, int64_t deadline_ms, aws_credentials *out) {
  *out = ((static_provider *)p)->creds;
  return MENU_OK;
}
static void static_invalidate(creds_provider *p) {}
static void static_destroy(creds_provider *p) {
  OPENSSL_cleanse(&((static_provider *)p)->creds, sizeof(aws_credentials));
  free(p);
}

creds_provider *creds_static_create(const char *name, const char *access_key,
                                    const char *secret_key, const char *session_token) {
  static const creds_provider_vtable vt = {"static", static_get, static_invalidate, static_destroy};
  static_provider *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  copy_str(p->name, sizeof p->name, name);
  p->vt = vt;
  p->vt.name = p->name;
  p->base.vt = &p->vt;
  if (!copy_str(p->creds.access_key, sizeof p->creds.access_key, access_key) ||
      !copy_str(p->creds.secret_key, sizeof p->creds.secret_key, secret_key) ||
      !copy_str(p->creds.session_token, sizeof p->creds.session_token, session_token)) {
    free(p);
    return NULL;
  }
  return &p->base;
}

/* ---- STS answer ---------------------------------------------------------------------------- */

/* The text of the first <tag>...</tag>, XML entities decoded, into out. */
static bool xml_text(const char *xml, const char *tag, char *out, size_t n) {
  char open[64], close[64];
  snprintf(open, sizeof open, "<%s>", tag);
  snprintf(close, sizeof close, "</%s>", tag);
  const char *s = strstr(xml, open);
  if (!s) return false;
  s += strlen(open);
  const char *e = strstr(s, close);
  if (!e) return false;
  size_t o = 0;
  while (s < e) {
    char c = *s++;
    if (c == '&') {
      static const struct {
        const char *ent;
        char ch;
      } ents[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
      bool done = false;
      for (size_t i = 0; i < sizeof ents / sizeof ents[0]; i++) {
        size_t l = strlen(ents[i].ent);
        if ((size_t)(e - s) >= l && !strncmp(s, ents[i].ent, l)) {
          c = ents[i].ch;
          s += l;
          done = true;
          break;
        }
      }
      if (!done) return false; /* numeric entities never occur in these fields */
    }
    if (o + 1 >= n) return false;
    out[o++] = c;
  }
  out[o] = '\0';
  return true;
}

static time_t parse_iso8601(const char *s) {
  struct tm tm = {0};
  int y, mo, d, h, mi, sec;
  if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6) return 0;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  return timegm(&tm);
}

int creds_parse_sts_response(const char *xml, aws_credentials *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  char code[128] = "", msg[256] = "", exp[64] = "";
  if (strstr(xml, "<ErrorResponse") || strstr(xml, "<Error>")) {
    xml_text(xml, "Code", code, sizeof code);
    xml_text(xml, "Message", msg, sizeof msg);
    snprintf(err, errlen, "%s: %s", *code ? code : "STS error", msg);
    return -1;
  }
  if (!xml_text(xml, "AccessKeyId", out->access_key, sizeof out->access_key) ||
      !xml_text(xml, "SecretAccessKey", out->secret_key, sizeof out->secret_key) ||
      !xml_text(xml, "SessionToken", out->session_token, sizeof out->session_token) ||
      !xml_text(xml, "Expiration", exp, sizeof exp) || !(out->expiration = parse_iso8601(exp))) {
    OPENSSL_cleanse(out, sizeof *out);
    snprintf(err, errlen, "STS answer without complete Credentials");
    return -1;
  }
  return 0;
}

/* ---- web identity (IRSA) ------------------------------------------------------------------- */

typedef struct {
  creds_provider base;
  http_pool *pool; /* borrowed */
  char *role_arn, *token_file, *session_name, *sts_url;
  int64_t refresh_before_s, duration_s;
  pthread_mutex_t mu;
  pthread_cond_t cv; /* signalled when a refresh ends */
  bool refreshing, have, invalid;
  aws_credentials cached;
} web_provider;

static char *read_token(const char *path, char *err, size_t errlen) {
  char *token = file_read_trimmed(path, MAX_TOKEN_FILE);
  if (!token) {
    snprintf(err, errlen, "cannot read AWS_WEB_IDENTITY_TOKEN_FILE %s: %s", path, strerror(errno));
    return NULL;
  }
  if (!*token) {
    snprintf(err, errlen, "AWS_WEB_IDENTITY_TOKEN_FILE %s is empty", path);
    free(token);
    return NULL;
  }
  return token;
}

static void form_param(strbuf *b, const char *k, const char *v) {
  char *ev = sigv4_uri_encode(v, strlen(v), false);
  strbuf_printf(b, "%s%s=%s", b->len ? "&" : "", k, ev);
  free(ev);
}

/* One AssumeRoleWithWebIdentity call (unsigned: the token is the proof). */
static menu_status web_fetch(web_provider *w, int64_t deadline_ms, aws_credentials *out) {
  char err[300] = "";
  char *token = read_token(w->token_file, err, sizeof err);
  if (!token)
    return menu_status_backend(GRPC_STATUS_UNAVAILABLE, "CREDENTIALS_UNAVAILABLE", "dynamodb",
                               "DynamoDB credentials unavailable", "credentials: %s", err);
  strbuf body;
  strbuf_init(&body);
  form_param(&body, "Action", "AssumeRoleWithWebIdentity");
  form_param(&body, "Version", "2011-06-15");
  form_param(&body, "RoleArn", w->role_arn);
  form_param(&body, "RoleSessionName", w->session_name);
  form_param(&body, "WebIdentityToken", token);
  if (w->duration_s > 0) strbuf_printf(&body, "&DurationSeconds=%lld", (long long)w->duration_s);
  OPENSSL_cleanse(token, strlen(token));
  free(token);
  const char *headers[] = {"Content-Type: application/x-www-form-urlencoded; charset=utf-8",
                           "Accept: text/xml", NULL};
  int64_t left = deadline_ms - mono_now_ms();
  menu_status st = MENU_OK;
  if (left <= 0) {
    st = menu_status_make(GRPC_STATUS_DEADLINE_EXCEEDED, "deadline passed before STS call");
    goto done;
  }
  http_request req = {
      w->sts_url, headers, body.data, body.len, left < STS_TIMEOUT_MS ? left : STS_TIMEOUT_MS,
      2000};
  http_response resp;
  http_result r = http_post(w->pool, &req, &resp);
  if (r != HTTP_OK) {
    char shown[512];
    st = menu_status_backend(GRPC_STATUS_UNAVAILABLE, "CREDENTIALS_UNAVAILABLE", "dynamodb",
                             "DynamoDB credentials unavailable",
                             "credentials: STS %s unreachable: %s",
                             netaddr_url_redact(w->sts_url, shown, sizeof shown), resp.error);
  } else if (creds_parse_sts_response(resp.body.data, out, err, sizeof err) != 0) {
    st = menu_status_backend(GRPC_STATUS_UNAVAILABLE, "CREDENTIALS_UNAVAILABLE", "dynamodb",
                             "DynamoDB credentials unavailable",
                             "credentials: STS AssumeRoleWithWebIdentity failed (HTTP %ld): %s",
                             resp.status, err);
  } else if (resp.status != 200) {
    st = menu_status_backend(GRPC_STATUS_UNAVAILABLE, "CREDENTIALS_UNAVAILABLE", "dynamodb",
                             "DynamoDB credentials unavailable",
                             "credentials: STS answered HTTP %ld", resp.status);
  }
  http_response_free(&resp);
done:
  OPENSSL_cleanse(body.data, body.len);
  strbuf_free(&body);
  return st;
}

static bool usable(const web_provider *w, time_t now, int64_t margin) {
  return w->have && !w->invalid && now + margin < w->cached.expiration;
}

static menu_status web_get(creds_provider *p, int64_t deadline_ms, aws_credentials *out) {
  web_provider *w = (web_provider *)p;
  pthread_mutex_lock(&w->mu);
  for (;;) {
    time_t now = time(NULL);
    if (usable(w, now, w->refresh_before_s)) break;
    if (!w->refreshing) break;
    /* Someone is refreshing: keys that still work are good enough meanwhile. */
    if (usable(w, now, 0)) break;
    int64_t left = deadline_ms - mono_now_ms();
    if (left <= 0) {
      pthread_mutex_unlock(&w->mu);
      return menu_status_make(GRPC_STATUS_DEADLINE_EXCEEDED,
                              "deadline passed waiting for AWS credentials");
    }
    struct timespec ts = mono_timespec(deadline_ms);
    pthread_cond_timedwait(&w->cv, &w->mu, &ts);
  }
  time_t now = time(NULL);
  if (usable(w, now, w->refresh_before_s) || (w->refreshing && usable(w, now, 0))) {
    *out = w->cached;
    pthread_mutex_unlock(&w->mu);
    return MENU_OK;
  }
  w->refreshing = true;
  pthread_mutex_unlock(&w->mu);

  aws_credentials fresh;
  menu_status st = web_fetch(w, deadline_ms, &fresh);

  pthread_mutex_lock(&w->mu);
  w->refreshing = false;
  pthread_cond_broadcast(&w->cv);
  if (menu_status_is_ok(&st)) {
    w->cached = fresh;
    w->have = true;
    w->invalid = false;
    *out = fresh;
    log_line *l = log_begin(LOG_INFO, "AWS credentials refreshed from STS (web identity)");
    log_int(l, "expires_in_s", (int64_t)(fresh.expiration - time(NULL)));
    log_end(l);
  } else if (usable(w, time(NULL), 0)) {
    log_warn("STS refresh failed; using the current credentials until they expire", "error",
             st.message, NULL);
    *out = w->cached;
    st = MENU_OK;
  }
  pthread_mutex_unlock(&w->mu);
  OPENSSL_cleanse(&fresh, sizeof fresh);
  return st;
}

static void web_invalidate(creds_provider *p) {
  web_provider *w = (web_provider *)p;
  pthread_mutex_lock(&w->mu);
  w->invalid = true;
  pthread_mutex_unlock(&w->mu);
}

static void web_destroy(creds_provider *p) {
  web_provider *w = (web_provider *)p;
  free(w->role_arn);
  free(w->token_file);
  free(w->session_name);
  free(w->sts_url);
  OPENSSL_cleanse(&w->cached, sizeof w->cached);
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
  free(w);
}

creds_provider *creds_web_identity_create(const creds_web_identity_config *cfg, http_pool *pool) {
  static const creds_provider_vtable vt = {"web-identity", web_get, web_invalidate, web_destroy};
  web_provider *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->base.vt = &vt;
  w->pool = pool;
  w->role_arn = strdup(cfg->role_arn);
  w->token_file = strdup(cfg->token_file);
  if (cfg->session_name && *cfg->session_name) {
    w->session_name = strdup(cfg->session_name);
  } else if (asprintf(&w->session_name, "dynamo-svc-%ld", (long)getpid()) < 0) {
    w->session_name = NULL;
  }
  w->sts_url = strdup(cfg->sts_endpoint);
  w->refresh_before_s = cfg->refresh_before_s > 0 ? cfg->refresh_before_s : 300;
  w->duration_s = cfg->duration_s;
  pthread_mutex_init(&w->mu, NULL);
  mono_cond_init(&w->cv);
  if (!w->role_arn || !w->token_file || !w->session_name || !w->sts_url) {
    web_destroy(&w->base);
    return NULL;
  }
  return &w->base;
}

/* ---- the chain ----------------------------------------------------------------------------- */

creds_provider *creds_from_env(config *c, http_pool *pool, const char *region, bool local) {
  /* Every variable is read whichever provider wins, so that --help lists them all (and a bad
   * value is reported even when it is not used yet). */
  const char *ak = config_str(c, "AWS_ACCESS_KEY_ID", NULL);
  char *sk = config_secret(c, "AWS_SECRET_ACCESS_KEY", NULL);
  char *token = config_secret(c, "AWS_SESSION_TOKEN", NULL);
  const char *role = config_str(c, "AWS_ROLE_ARN", NULL);
  const char *token_file = config_str(c, "AWS_WEB_IDENTITY_TOKEN_FILE", NULL);
  char sts_default[128];
  snprintf(sts_default, sizeof sts_default, "https://sts.%s.amazonaws.com/", region);
  creds_web_identity_config wc = {
      .role_arn = role,
      .token_file = token_file,
      .session_name = config_str(c, "AWS_ROLE_SESSION_NAME", NULL),
      .sts_endpoint = config_str(c, "AWS_ENDPOINT_URL_STS", sts_default),
      .refresh_before_s = config_int(c, "AWS_CREDENTIALS_REFRESH_BEFORE_S", 300, 1, 3000),
      .duration_s = 0,
  };
  creds_provider *p = NULL;
  if (ak && sk) {
    p = creds_static_create("env", ak, sk, token);
    if (!p) config_error(c, "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN: too long");
    goto done;
  }
  if (ak || sk) {
    config_error(c, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: set both or neither");
    goto done;
  }
  if (role && token_file) {
    p = creds_web_identity_create(&wc, pool);
    goto done;
  }
  if (role || token_file) {
    config_error(c, "AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE: set both or neither");
    goto done;
  }
  if (local) {
    /* dynalite and DynamoDB Local check only the shape of the signature. */
    p = creds_static_create("local-dummy", "local", "local", NULL);
    goto done;
  }
  config_error(c,
               "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
               "AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE (IRSA)");
done:
  if (sk) OPENSSL_cleanse(sk, strlen(sk));
  if (token) OPENSSL_cleanse(token, strlen(token));
  free(sk);
  free(token);
  return p;
}
