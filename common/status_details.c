/* google.rpc.Status encoding and decoding with the protobuf-c classes of the vendored
 * google/rpc protos. */
#include "common/status_details.h"

#include <stdio.h>
#include <string.h>

#include "common/arena.h"
#include "google/protobuf/any.pb-c.h"
#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"

#define TYPE_URL_PREFIX "type.googleapis.com/"

const char *status_details_reason(const menu_status *st) {
  return st->reason[0] ? st->reason : menu_status_code_name(st->code);
}

static Google__Protobuf__Any *any_pack(arena *a, const ProtobufCMessage *m) {
  Google__Protobuf__Any *any = arena_alloc(a, sizeof *any);
  google__protobuf__any__init(any);
  any->type_url = arena_sprintf(a, TYPE_URL_PREFIX "%s", m->descriptor->name);
  any->value.len = protobuf_c_message_get_packed_size(m);
  any->value.data = arena_alloc(a, any->value.len ? any->value.len : 1);
  protobuf_c_message_pack(m, any->value.data);
  return any;
}

grpc_slice status_details_encode(const menu_status *st, const char *message,
                                 const char *request_id) {
  arena a;
  arena_init(&a);

  Google__Rpc__ErrorInfo info = GOOGLE__RPC__ERROR_INFO__INIT;
  info.reason = (char *)status_details_reason(st);
  info.domain = STATUS_DETAILS_DOMAIN;
  Google__Rpc__ErrorInfo__MetadataEntry *entries =
      arena_alloc(&a, sizeof *entries * (MENU_STATUS_MAX_METADATA + 1));
  Google__Rpc__ErrorInfo__MetadataEntry **entry_ptrs =
      arena_alloc(&a, sizeof *entry_ptrs * (MENU_STATUS_MAX_METADATA + 1));
  size_t n_md = 0;
  for (unsigned i = 0; i < st->n_metadata && i < MENU_STATUS_MAX_METADATA; i++) {
    google__rpc__error_info__metadata_entry__init(&entries[n_md]);
    entries[n_md].key = (char *)st->metadata[i].key;
    entries[n_md].value = (char *)st->metadata[i].value;
    entry_ptrs[n_md] = &entries[n_md];
    n_md++;
  }
  if (request_id) {
    google__rpc__error_info__metadata_entry__init(&entries[n_md]);
    entries[n_md].key = "request_id";
    entries[n_md].value = (char *)request_id;
    entry_ptrs[n_md] = &entries[n_md];
    n_md++;
  }
  info.n_metadata = n_md;
  info.metadata = entry_ptrs;

  Google__Protobuf__Any *details[2];
  size_t n_details = 0;
  details[n_details++] = any_pack(&a, &info.base);

  if (st->n_violations) {
    Google__Rpc__BadRequest bad = GOOGLE__RPC__BAD_REQUEST__INIT;
    Google__Rpc__BadRequest__FieldViolation *v = arena_alloc(&a, sizeof *v * st->n_violations);
    Google__Rpc__BadRequest__FieldViolation **vp = arena_alloc(&a, sizeof *vp * st->n_violations);
    for (unsigned i = 0; i < st->n_violations; i++) {
      google__rpc__bad_request__field_violation__init(&v[i]);
      v[i].field = (char *)st->violations[i].field;
      v[i].description = (char *)st->violations[i].description;
      vp[i] = &v[i];
    }
    bad.n_field_violations = st->n_violations;
    bad.field_violations = vp;
    details[n_details++] = any_pack(&a, &bad.base);
  }

  Google__Rpc__Status status = GOOGLE__RPC__STATUS__INIT;
  status.code = (int32_t)st->code;
  status.message = (char *)(message ? message : st->message);
  status.n_details = n_details;
  status.details = details;
  size_t n = protobuf_c_message_get_packed_size(&status.base);
  grpc_slice out = grpc_slice_malloc(n);
  protobuf_c_message_pack(&status.base, GRPC_SLICE_START_PTR(out));
  arena_free(&a);
  return out;
}

static void copy_into(char *dst, size_t cap, const char *src) {
  snprintf(dst, cap, "%s", src ? src : "");
}

bool status_details_decode(const unsigned char *data, size_t len, menu_status *st) {
  arena a;
  arena_init(&a);
  bool ok = false;
  Google__Rpc__Status *s = google__rpc__status__unpack(&a.pb, len, data);
  if (!s) goto done;
  menu_status out = {.code = (grpc_status_code)s->code};
  copy_into(out.message, sizeof out.message, s->message);
  for (size_t i = 0; i < s->n_details; i++) {
    const Google__Protobuf__Any *any = s->details[i];
    if (!any->type_url) continue;
    if (!strcmp(any->type_url, TYPE_URL_PREFIX "google.rpc.ErrorInfo")) {
      Google__Rpc__ErrorInfo *info =
          google__rpc__error_info__unpack(&a.pb, any->value.len, any->value.data);
      if (!info) continue;
      copy_into(out.reason, sizeof out.reason, info->reason);
      for (size_t k = 0; k < info->n_metadata; k++)
        if (info->metadata[k]->key && strcmp(info->metadata[k]->key, "request_id"))
          menu_status_add_metadata(&out, info->metadata[k]->key,
                                   info->metadata[k]->value ? info->metadata[k]->value : "");
    } else if (!strcmp(any->type_url, TYPE_URL_PREFIX "google.rpc.BadRequest")) {
      Google__Rpc__BadRequest *bad =
          google__rpc__bad_request__unpack(&a.pb, any->value.len, any->value.data);
      if (!bad) continue;
      for (size_t k = 0;
           k < bad->n_field_violations && out.n_violations < MENU_STATUS_MAX_VIOLATIONS; k++) {
        menu_field_violation *v = &out.violations[out.n_violations++];
        copy_into(v->field, sizeof v->field, bad->field_violations[k]->field);
        copy_into(v->description, sizeof v->description, bad->field_violations[k]->description);
      }
    }
  }
  *st = out;
  ok = true;
done:
  arena_free(&a);
  return ok;
}
