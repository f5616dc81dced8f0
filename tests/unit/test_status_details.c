/* Machine-readable errors: field violations from messages and added ones, merging, the
 * google.rpc.Status encoding of grpc-status-details-bin (decoded back with the generated
 * protobuf-c classes, as a client would). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "common/status.h"
#include "common/status_details.h"
#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"

static void test_message_names_its_fields(void **state) {
  menu_status s = MENU_INVALID("page.first: must not be negative");
  assert_int_equal(s.n_violations, 1);
  assert_string_equal(s.violations[0].field, "page.first");
  assert_string_equal(s.violations[0].description, "must not be negative");
  s = MENU_INVALID("page.first and page.last: set at most one of them");
  assert_int_equal(s.n_violations, 2);
  assert_string_equal(s.violations[1].field, "page.last");
  s = MENU_INVALID("request does not decode as X");
  assert_int_equal(s.n_violations, 0);
  s = MENU_NOT_FOUND("category.id: x not found"); /* only INVALID_ARGUMENT names fields */
  assert_int_equal(s.n_violations, 0);
}

static void test_all_bad_fields_are_kept(void **state) {
  menu_status acc = MENU_OK;
  menu_status a = MENU_INVALID_FIELD("category.name", "required");
  menu_status b = MENU_INVALID("category.channel: required");
  assert_false(menu_status_merge(&acc, &a));
  menu_status_merge(&acc, &b);
  menu_status_add_violation(&acc, "category.version", "required");
  assert_int_equal(acc.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_int_equal(acc.n_violations, 3);
  assert_string_equal(acc.violations[2].field, "category.version");
  assert_non_null(strstr(acc.message, "category.channel"));
  /* a non-INVALID status is not turned into one */
  menu_status nf = MENU_NOT_FOUND("gone");
  menu_status_merge(&nf, &a);
  assert_int_equal(nf.code, GRPC_STATUS_NOT_FOUND);
  assert_int_equal(nf.n_violations, 0);
}

static void test_backend_failures_keep_the_detail_out_of_the_message(void **state) {
  menu_status s =
      menu_status_backend(GRPC_STATUS_UNAVAILABLE, "DATASTORE_UNAVAILABLE", "mysql",
                          "MySQL unavailable", "cannot connect to %s:%d", "10.0.0.7", 3306);
  assert_string_equal(s.message, "MySQL unavailable");
  assert_string_equal(s.detail, "cannot connect to 10.0.0.7:3306");
  assert_string_equal(menu_status_diagnosis(&s), s.detail);
  menu_status_prefix(&s, "sql-svc (%s): ", "List");
  assert_string_equal(s.message, "sql-svc (List): MySQL unavailable");
}

static const ProtobufCMessage *detail_of(Google__Rpc__Status *st, const char *type,
                                         const ProtobufCMessageDescriptor *d) {
  for (size_t i = 0; i < st->n_details; i++)
    if (!strcmp(st->details[i]->type_url, type))
      return protobuf_c_message_unpack(d, NULL, st->details[i]->value.len,
                                       st->details[i]->value.data);
  return NULL;
}

static void test_encoding_decodes_as_google_rpc_status(void **state) {
  menu_status s = MENU_INVALID_FIELD("category.name", "required");
  menu_status_add_violation(&s, "category.channel", "required");
  menu_status_add_metadata(&s, "entity", "category");
  grpc_slice b = status_details_encode(&s, "the message", "rid-1");
  Google__Rpc__Status *st =
      google__rpc__status__unpack(NULL, GRPC_SLICE_LENGTH(b), GRPC_SLICE_START_PTR(b));
  assert_non_null(st);
  assert_int_equal(st->code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_string_equal(st->message, "the message");
  Google__Rpc__ErrorInfo *info = (Google__Rpc__ErrorInfo *)detail_of(
      st, "type.googleapis.com/google.rpc.ErrorInfo", &google__rpc__error_info__descriptor);
  assert_non_null(info);
  assert_string_equal(info->reason, "INVALID_ARGUMENT");
  assert_string_equal(info->domain, "menu.v1");
  assert_int_equal(info->n_metadata, 2);
  assert_string_equal(info->metadata[0]->key, "entity");
  assert_string_equal(info->metadata[1]->key, "request_id");
  assert_string_equal(info->metadata[1]->value, "rid-1");
  Google__Rpc__BadRequest *bad = (Google__Rpc__BadRequest *)detail_of(
      st, "type.googleapis.com/google.rpc.BadRequest", &google__rpc__bad_request__descriptor);
  assert_non_null(bad);
  assert_int_equal(bad->n_field_violations, 2);
  assert_string_equal(bad->field_violations[1]->field, "category.channel");

  menu_status back;
  assert_true(status_details_decode(GRPC_SLICE_START_PTR(b), GRPC_SLICE_LENGTH(b), &back));
  assert_int_equal(back.n_violations, 2);
  assert_int_equal(back.n_metadata, 1); /* the request id is the caller's own */
  assert_string_equal(back.reason, "INVALID_ARGUMENT");
  assert_false(status_details_decode((const unsigned char *)"\xff\xff", 2, &back));

  protobuf_c_message_free_unpacked(&info->base, NULL);
  protobuf_c_message_free_unpacked(&bad->base, NULL);
  protobuf_c_message_free_unpacked(&st->base, NULL);
  grpc_slice_unref(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_message_names_its_fields),
      cmocka_unit_test(test_all_bad_fields_are_kept),
      cmocka_unit_test(test_backend_failures_keep_the_detail_out_of_the_message),
      cmocka_unit_test(test_encoding_decodes_as_google_rpc_status),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
