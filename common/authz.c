/* gRPC authorization policies (gRFC A43) applied by the runtime: parsing with jansson, matching,
 * the peer identity from the call's auth context, and a watcher thread that reloads the file. */
#include "common/authz.h"
#include "common/mono_clock.h"

#include <errno.h>
#include <grpc/grpc_security.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "common/file.h"
#include "common/log.h"
#include "common/mem.h"

/* ---- the policy --------------------------------------------------------------------------- */

typedef struct {
  char *key;
  char **values;
  size_t n_values;
} authz_header;

typedef struct {
  char *name;
  bool has_principals; /* a "principals" list was given (even empty lists constrain nothing) */
  char **principals;
  size_t n_principals;
  char **paths;
  size_t n_paths;
  authz_header *headers;
  size_t n_headers;
} authz_rule;

struct authz_policy {
  char *name;
  authz_rule *deny, *allow;
  size_t n_deny, n_allow;
};

/* A pattern as gRPC documents it: "*" = any non-empty value, "abc*" prefix, "*abc" suffix,
 * anything else exact. Lengths, not NULs, bound the value (header values are bytes). */
static bool pattern_match_n(const char *pattern, const char *value, size_t nv) {
  size_t np = strlen(pattern);
  if (np == 1 && pattern[0] == '*') return nv > 0;
  if (np && pattern[np - 1] == '*') return nv >= np - 1 && !memcmp(pattern, value, np - 1);
  if (np && pattern[0] == '*')
    return nv >= np - 1 && !memcmp(value + nv - (np - 1), pattern + 1, np - 1);
  return nv == np && !memcmp(pattern, value, np);
}

static bool pattern_match(const char *pattern, const char *value) {
  return pattern_match_n(pattern, value, strlen(value));
}

static bool principal_match(const char *pattern, const authz_peer *peer) {
  if (!peer->tls) return false;
  if (!peer->has_cert) return pattern[0] == 0;
  for (size_t i = 0; i < peer->n_uris; i++)
    if (pattern_match(pattern, peer->uris[i])) return true;
  for (size_t i = 0; i < peer->n_dns; i++)
    if (pattern_match(pattern, peer->dns[i])) return true;
  return peer->subject && pattern_match(pattern, peer->subject);
}

/* Multi-valued headers are one value with commas between, as gRPC matches them. The whole value
 * is matched, however long: a cut-off value could slip past a suffix deny rule. */
static bool header_match(const authz_header *h, const grpc_metadata_array *md) {
  size_t total = 0, found = 0;
  for (size_t i = 0; md && i < md->count; i++)
    if (!grpc_slice_str_cmp(md->metadata[i].key, h->key))
      total += GRPC_SLICE_LENGTH(md->metadata[i].value) + 1, found++;
  if (!found) return false;
  char *value = malloc(total);
  if (!value) abort();
  size_t len = 0;
  for (size_t i = 0; i < md->count; i++) {
    if (grpc_slice_str_cmp(md->metadata[i].key, h->key)) continue;
    if (len) value[len++] = ',';
    size_t n = GRPC_SLICE_LENGTH(md->metadata[i].value);
    memcpy(value + len, GRPC_SLICE_START_PTR(md->metadata[i].value), n);
    len += n;
  }
  bool match = false;
  for (size_t i = 0; i < h->n_values && !match; i++)
    match = pattern_match_n(h->values[i], value, len);
  free(value);
  return match;
}

static bool rule_match(const authz_rule *r, const authz_peer *peer, const char *path,
                       const grpc_metadata_array *md) {
  if (r->has_principals && r->n_principals) {
    bool any = false;
    for (size_t i = 0; i < r->n_principals && !any; i++)
      any = principal_match(r->principals[i], peer);
    if (!any) return false;
  }
  if (r->n_paths) {
    bool any = false;
    for (size_t i = 0; i < r->n_paths && !any; i++) any = pattern_match(r->paths[i], path);
    if (!any) return false;
  }
  for (size_t i = 0; i < r->n_headers; i++)
    if (!header_match(&r->headers[i], md)) return false;
  return true;
}

bool authz_policy_check(const authz_policy *p, const authz_peer *peer, const char *path,
                        const grpc_metadata_array *md, const char **rule) {
  for (size_t i = 0; i < p->n_deny; i++) {
    if (rule_match(&p->deny[i], peer, path, md)) {
      if (rule) *rule = p->deny[i].name;
      return false;
    }
  }
  for (size_t i = 0; i < p->n_allow; i++) {
    if (rule_match(&p->allow[i], peer, path, md)) {
      if (rule) *rule = p->allow[i].name;
      return true;
    }
  }
  if (rule) *rule = "";
  return false;
}

const char *authz_policy_name(const authz_policy *p) { return p->name; }

static void strings_free(char **v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

static void rules_free(authz_rule *rules, size_t n) {
  for (size_t i = 0; i < n; i++) {
    authz_rule *r = &rules[i];
    free(r->name);
    strings_free(r->principals, r->n_principals);
    strings_free(r->paths, r->n_paths);
    for (size_t k = 0; k < r->n_headers; k++) {
      free(r->headers[k].key);
      strings_free(r->headers[k].values, r->headers[k].n_values);
    }
    free(r->headers);
  }
  free(rules);
}

void authz_policy_free(authz_policy *p) {
  if (!p) return;
  free(p->name);
  rules_free(p->deny, p->n_deny);
  rules_free(p->allow, p->n_allow);
  free(p);
}

/* ---- parsing ------------------------------------------------------------------------------ */

static char *errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *errorf(const char *fmt, ...) {
  char *s = NULL;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&s, fmt, ap) < 0) abort();
  va_end(ap);
  return s;
}

/* Every key of `obj` must be in the NULL-terminated `allowed` list. */
static char *only_keys(json_t *obj, const char *where, const char *const *allowed) {
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v) {
    bool ok = false;
    for (const char *const *a = allowed; *a && !ok; a++) ok = !strcmp(*a, key);
    if (!ok) return errorf("%s: unknown field \"%s\"", where, key);
  }
  return NULL;
}

static char *parse_strings(json_t *arr, const char *where, char ***out, size_t *n) {
  if (!json_is_array(arr)) return errorf("%s: must be an array of strings", where);
  *n = json_array_size(arr);
  *out = calloc(*n ? *n : 1, sizeof **out);
  for (size_t i = 0; i < *n; i++) {
    json_t *s = json_array_get(arr, i);
    if (!json_is_string(s)) {
      *n = i;
      return errorf("%s[%zu]: must be a string", where, i);
    }
    (*out)[i] = mem_strdup(json_string_value(s));
  }
  return NULL;
}

static char *parse_header(json_t *h, const char *where, authz_header *out) {
  static const char *const keys[] = {"key", "values", NULL};
  if (!json_is_object(h)) return errorf("%s: must be an object", where);
  char *err = only_keys(h, where, keys);
  if (err) return err;
  json_t *key = json_object_get(h, "key"), *values = json_object_get(h, "values");
  if (!json_is_string(key) || !json_string_length(key))
    return errorf("%s.key: required string", where);
  const char *k = json_string_value(key);
  /* gRPC refuses pseudo headers, grpc- headers and Host: they are not the caller's to set. */
  if (k[0] == ':' || !strncasecmp(k, "grpc-", 5) || !strcasecmp(k, "host"))
    return errorf("%s.key: \"%s\" cannot be matched", where, k);
  out->key = mem_strdup(k);
  for (char *c = out->key; *c; c++)
    if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a'); /* metadata keys are lower case */
  if (!values) return errorf("%s.values: required", where);
  char w[256];
  snprintf(w, sizeof w, "%.200s.values", where);
  return parse_strings(values, w, &out->values, &out->n_values);
}

/* `where` is at most 100 characters ("allow_rules[N]"); paths inside it fit in 256. */
static char *parse_rule(json_t *r, const char *where, authz_rule *out) {
  static const char *const keys[] = {"name", "source", "request", NULL};
  static const char *const source_keys[] = {"principals", NULL};
  static const char *const request_keys[] = {"paths", "headers", NULL};
  char w[256];
  if (!json_is_object(r)) return errorf("%s: must be an object", where);
  char *err = only_keys(r, where, keys);
  if (err) return err;
  json_t *name = json_object_get(r, "name");
  if (!json_is_string(name) || !json_string_length(name))
    return errorf("%s.name: required string", where);
  out->name = mem_strdup(json_string_value(name));
  json_t *source = json_object_get(r, "source");
  if (source) {
    snprintf(w, sizeof w, "%s.source", where);
    if (!json_is_object(source)) return errorf("%s: must be an object", w);
    if ((err = only_keys(source, w, source_keys))) return err;
    json_t *pr = json_object_get(source, "principals");
    if (pr) {
      snprintf(w, sizeof w, "%s.source.principals", where);
      out->has_principals = true;
      if ((err = parse_strings(pr, w, &out->principals, &out->n_principals))) return err;
    }
  }
  json_t *request = json_object_get(r, "request");
  if (request) {
    snprintf(w, sizeof w, "%s.request", where);
    if (!json_is_object(request)) return errorf("%s: must be an object", w);
    if ((err = only_keys(request, w, request_keys))) return err;
    json_t *paths = json_object_get(request, "paths");
    if (paths) {
      snprintf(w, sizeof w, "%s.request.paths", where);
      if ((err = parse_strings(paths, w, &out->paths, &out->n_paths))) return err;
    }
    json_t *headers = json_object_get(request, "headers");
    if (headers) {
      snprintf(w, sizeof w, "%s.request.headers", where);
      if (!json_is_array(headers)) return errorf("%s: must be an array", w);
      size_t n = json_array_size(headers);
      out->headers = calloc(n ? n : 1, sizeof *out->headers);
      for (size_t i = 0; i < n; i++) {
        snprintf(w, sizeof w, "%s.request.headers[%zu]", where, i);
        out->n_headers = i + 1;
        if ((err = parse_header(json_array_get(headers, i), w, &out->headers[i]))) return err;
      }
    }
  }
  return NULL;
}

static char *parse_rules(json_t *arr, const char *list, authz_rule **out, size_t *n) {
  if (!json_is_array(arr)) return errorf("%s: must be an array", list);
  size_t count = json_array_size(arr);
  *out = calloc(count ? count : 1, sizeof **out);
  for (size_t i = 0; i < count; i++) {
    char w[100];
    snprintf(w, sizeof w, "%s[%zu]", list, i);
    *n = i + 1;
    char *err = parse_rule(json_array_get(arr, i), w, &(*out)[i]);
    if (err) return err;
    for (size_t k = 0; k < i; k++)
      if (!strcmp((*out)[k].name, (*out)[i].name))
        return errorf("%s.name: \"%s\" is used twice in %s", w, (*out)[i].name, list);
  }
  return NULL;
}

authz_policy *authz_policy_parse(const char *text, char **err) {
  static const char *const keys[] = {"name", "allow_rules", "deny_rules", NULL};
  *err = NULL;
  json_error_t jerr;
  json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
  if (!root) {
    *err = errorf("not JSON: %s (line %d)", jerr.text, jerr.line);
    return NULL;
  }
  authz_policy *p = calloc(1, sizeof *p);
  json_t *name = json_object_get(root, "name"), *allow = json_object_get(root, "allow_rules"),
         *deny = json_object_get(root, "deny_rules");
  if (!json_is_object(root))
    *err = errorf("the policy must be a JSON object");
  else if (!(*err = only_keys(root, "policy", keys))) {
    if (!json_is_string(name) || !json_string_length(name))
      *err = errorf("name: required string");
    else if (!allow)
      *err = errorf("allow_rules: required");
    else {
      p->name = mem_strdup(json_string_value(name));
      *err = parse_rules(allow, "allow_rules", &p->allow, &p->n_allow);
      if (!*err && deny) *err = parse_rules(deny, "deny_rules", &p->deny, &p->n_deny);
    }
  }
  json_decref(root);
  if (*err) {
    authz_policy_free(p);
    return NULL;
  }
  return p;
}

/* ---- the peer ----------------------------------------------------------------------------- */

static void push(arena *a, const char ***v, size_t *n, const char *s, size_t len) {
  const char **nv = arena_alloc(a, (*n + 1) * sizeof *nv);
  if (*n) memcpy(nv, *v, *n * sizeof *nv);
  nv[(*n)++] = arena_strndup(a, s, len);
  *v = nv;
}

void authz_peer_from_call(grpc_call *call, arena *a, authz_peer *out) {
  memset(out, 0, sizeof *out);
  grpc_auth_context *ctx = grpc_call_auth_context(call);
  if (!ctx) return;
  grpc_auth_property_iterator it = grpc_auth_context_property_iterator(ctx);
  const grpc_auth_property *p;
  while ((p = grpc_auth_property_iterator_next(&it))) {
    if (!strcmp(p->name, GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME))
      out->tls = p->value_length == 3 && !memcmp(p->value, "ssl", 3);
    else if (!strcmp(p->name, GRPC_X509_PEM_CERT_PROPERTY_NAME))
      out->has_cert = true;
    else if (!strcmp(p->name, GRPC_PEER_URI_PROPERTY_NAME))
      push(a, &out->uris, &out->n_uris, p->value, p->value_length);
    else if (!strcmp(p->name, GRPC_PEER_DNS_PROPERTY_NAME))
      push(a, &out->dns, &out->n_dns, p->value, p->value_length);
    else if (!strcmp(p->name, GRPC_X509_SUBJECT_PROPERTY_NAME))
      out->subject = arena_strndup(a, p->value, p->value_length);
  }
  grpc_auth_context_release(ctx);
  if (!out->has_cert) return;
  out->principal = out->n_uris ? out->uris[0] : out->n_dns ? out->dns[0] : out->subject;
}

/* ---- the file and its watcher ------------------------------------------------------------- */

struct authz {
  char *path;
  int64_t refresh_ms;
  pthread_rwlock_t lock; /* guards `policy` */
  authz_policy *policy;
  struct stat seen; /* of the file last loaded (or last failed) */
  atomic_uint_fast64_t reloads, failures;
  pthread_t watcher;
  bool watching; /* the watcher was started */
  pthread_mutex_t stop_mu;
  pthread_cond_t stop_cond;
  bool stopping;
};

/* Reads and parses the file; NULL with a message in *err (caller frees). */
static authz_policy *read_policy(const char *path, struct stat *st, char **err) {
  file_stat_or_zero(path, st);
  char *text = file_read_all(path, FILE_CONFIG_MAX, NULL);
  if (!text) {
    *err = errorf("cannot read: %s", strerror(errno));
    return NULL;
  }
  authz_policy *p = authz_policy_parse(text, err);
  free(text);
  return p;
}

static authz_policy *load_file(const char *path, struct stat *st) {
  char *err = NULL;
  authz_policy *p = read_policy(path, st, &err);
  if (!p) {
    log_error("authz: the policy is invalid", "path", path, "error", err, NULL);
    free(err);
  }
  return p;
}

/* Kubernetes updates a mounted ConfigMap by swapping a symlink: stat() follows it, so the
 * inode changes and the new file is read. */
static void *watch_main(void *arg) {
  authz *a = arg;
  pthread_mutex_lock(&a->stop_mu);
  while (!a->stopping) {
    struct timespec until = mono_timespec(mono_now_ms() + a->refresh_ms);
    pthread_cond_timedwait(&a->stop_cond, &a->stop_mu, &until);
    if (a->stopping) break;
    pthread_mutex_unlock(&a->stop_mu);
    struct stat st;
    if (stat(a->path, &st) == 0 && !file_stat_same(&st, &a->seen)) {
      struct stat loaded;
      authz_policy *p = load_file(a->path, &loaded);
      a->seen = st; /* a bad file is reported once, not every interval */
      if (p) {
        pthread_rwlock_wrlock(&a->lock);
        authz_policy *old = a->policy;
        a->policy = p;
        pthread_rwlock_unlock(&a->lock);
        authz_policy_free(old);
        atomic_fetch_add(&a->reloads, 1);
        log_info("authz: policy reloaded", "path", a->path, "policy", p->name, NULL);
      } else {
        atomic_fetch_add(&a->failures, 1);
        log_warn("authz: keeping the previous policy", "path", a->path, NULL);
      }
    }
    pthread_mutex_lock(&a->stop_mu);
  }
  pthread_mutex_unlock(&a->stop_mu);
  return NULL;
}

authz *authz_load(const char *path, int64_t refresh_ms, char **err) {
  *err = NULL;
  struct stat seen;
  authz_policy *p = read_policy(path, &seen, err);
  if (!p) return NULL;
  authz *a = calloc(1, sizeof *a);
  if (!a) abort();
  a->path = mem_strdup(path);
  a->refresh_ms = refresh_ms > 0 ? refresh_ms : 1000;
  a->policy = p;
  a->seen = seen;
  atomic_store(&a->reloads, 1);
  pthread_rwlock_init(&a->lock, NULL);
  pthread_mutex_init(&a->stop_mu, NULL);
  mono_cond_init(&a->stop_cond);
  log_info("authz: policy loaded", "path", path, "policy", p->name, NULL);
  return a;
}

void authz_watch_start(authz *a) {
  if (a->watching) return;
  a->watching = true;
  pthread_create(&a->watcher, NULL, watch_main, a);
}

void authz_destroy(authz *a) {
  if (!a) return;
  if (a->watching) {
    pthread_mutex_lock(&a->stop_mu);
    a->stopping = true;
    pthread_cond_signal(&a->stop_cond);
    pthread_mutex_unlock(&a->stop_mu);
    pthread_join(a->watcher, NULL);
  }
  authz_policy_free(a->policy);
  pthread_rwlock_destroy(&a->lock);
  pthread_mutex_destroy(&a->stop_mu);
  pthread_cond_destroy(&a->stop_cond);
  free(a->path);
  free(a);
}

bool authz_check(authz *a, const authz_peer *peer, const char *path, const grpc_metadata_array *md,
                 char *rule_buf, size_t n) {
  pthread_rwlock_rdlock(&a->lock);
  const char *rule = "";
  bool ok = authz_policy_check(a->policy, peer, path, md, &rule);
  if (rule_buf && n) snprintf(rule_buf, n, "%s", rule);
  pthread_rwlock_unlock(&a->lock);
  return ok;
}

uint64_t authz_reloads(const authz *a) { return atomic_load(&a->reloads); }
uint64_t authz_reload_failures(const authz *a) { return atomic_load(&a->failures); }
