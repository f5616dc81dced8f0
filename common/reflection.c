/* Server reflection, grpc.reflection.v1 and v1alpha (the messages are wire-identical, so one
 * state machine serves both paths): a bidirectional stream answering each request in order
 * until the client half-closes. Errors go in error_response, never as the call status. */
#include "common/reflection.h"

#include <grpc/grpc.h>
#include <stdlib.h>
#include <string.h>

#include "common/descriptor_index.h"
#include "common/log.h"
#include "common/rpc_internal.h"
#include "grpc/reflection/v1/reflection.pb-c.h"

typedef Grpc__Reflection__V1__ServerReflectionRequest refl_req;
typedef Grpc__Reflection__V1__ServerReflectionResponse refl_resp;

struct reflection {
  rpc_server *server;
  descriptor_index *idx;
};

typedef struct {
  rpc_tag tag;
  reflection *r;
  rpc_stream *stream;
  grpc_call *call;
  grpc_byte_buffer *recv, *send;
  bool finishing;
  int cancelled;
} refl_stream;

#define MAX_FILES 64

static void set_error(refl_resp *out, arena *a, grpc_status_code code, const char *msg) {
  Grpc__Reflection__V1__ErrorResponse *e = arena_alloc(a, sizeof *e);
  grpc__reflection__v1__error_response__init(e);
  e->error_code = code;
  e->error_message = arena_strdup(a, msg);
  out->message_response_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
  out->error_response = e;
}

static void set_files(refl_resp *out, arena *a, const descriptor_index *idx, int file) {
  int files[MAX_FILES];
  size_t n = descriptor_index_closure(idx, file, files, MAX_FILES);
  if (n > MAX_FILES) n = MAX_FILES;
  Grpc__Reflection__V1__FileDescriptorResponse *fr = arena_alloc(a, sizeof *fr);
  grpc__reflection__v1__file_descriptor_response__init(fr);
  fr->n_file_descriptor_proto = n;
  fr->file_descriptor_proto = arena_alloc(a, n * sizeof(ProtobufCBinaryData));
  for (size_t i = 0; i < n; i++) {
    size_t len;
    const unsigned char *b = descriptor_index_file_bytes(idx, files[i], &len);
    fr->file_descriptor_proto[i].data = (uint8_t *)b;
    fr->file_descriptor_proto[i].len = len;
  }
  out->message_response_case =
      GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
  out->file_descriptor_response = fr;
}

/* Builds the answer to one request; everything lives in `a`. */
static void answer(reflection *r, refl_req *req, refl_resp *out, arena *a) {
  out->valid_host = req->host;
  out->original_request = req;
  int file;
  switch (req->message_request_case) {
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES: {
      size_t n = rpc_server_service_count(r->server);
      Grpc__Reflection__V1__ListServiceResponse *ls = arena_alloc(a, sizeof *ls);
      grpc__reflection__v1__list_service_response__init(ls);
      ls->n_service = n;
      ls->service = arena_alloc(a, n * sizeof(void *));
      for (size_t i = 0; i < n; i++) {
        ls->service[i] = arena_alloc(a, sizeof(Grpc__Reflection__V1__ServiceResponse));
        grpc__reflection__v1__service_response__init(ls->service[i]);
        ls->service[i]->name = (char *)rpc_server_service_name(r->server, i);
      }
      out->message_response_case =
          GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE;
      out->list_services_response = ls;
      return;
    }
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME:
      file = descriptor_index_file_by_name(r->idx, req->file_by_filename);
      if (file < 0)
        set_error(out, a, GRPC_STATUS_NOT_FOUND,
                  arena_sprintf(a, "file not found: %s", req->file_by_filename));
      else
        set_files(out, a, r->idx, file);
      return;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL:
      file = descriptor_index_file_by_symbol(r->idx, req->file_containing_symbol);
      if (file < 0)
        set_error(out, a, GRPC_STATUS_NOT_FOUND,
                  arena_sprintf(a, "symbol not found: %s", req->file_containing_symbol));
      else
        set_files(out, a, r->idx, file);
      return;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION:
      set_error(out, a, GRPC_STATUS_NOT_FOUND,
                arena_sprintf(a, "extension not found: %s(%d)",
                              req->file_containing_extension->containing_type,
                              req->file_containing_extension->extension_number));
      return;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE:
      if (!descriptor_index_is_message(r->idx, req->all_extension_numbers_of_type)) {
        set_error(out, a, GRPC_STATUS_NOT_FOUND,
                  arena_sprintf(a, "type not found: %s", req->all_extension_numbers_of_type));
      } else { /* our protos declare no extensions */
        Grpc__Reflection__V1__ExtensionNumberResponse *en = arena_alloc(a, sizeof *en);
        grpc__reflection__v1__extension_number_response__init(en);
        en->base_type_name = req->all_extension_numbers_of_type;
        out->message_response_case =
            GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE;
        out->all_extension_numbers_response = en;
      }
      return;
    default:
      set_error(out, a, GRPC_STATUS_INVALID_ARGUMENT, "message_request: none set");
      return;
  }
}

static void stream_free(refl_stream *st, grpc_status_code code) {
  rpc_stream_end(st->stream, code);
  if (st->recv) grpc_byte_buffer_destroy(st->recv);
  if (st->send) grpc_byte_buffer_destroy(st->send);
  grpc_call_unref(st->call); /* cancels the call if it is still active */
  free(st);
}

static bool start(refl_stream *st, grpc_op *ops, size_t n) {
  if (grpc_call_start_batch(st->call, ops, n, &st->tag, NULL) == GRPC_CALL_OK) return true;
  stream_free(st, GRPC_STATUS_INTERNAL);
  return false;
}

static void on_event(rpc_tag *tag, bool ok) {
  refl_stream *st = (refl_stream *)tag;
  if (!ok || st->finishing) {
    stream_free(st, !ok             ? GRPC_STATUS_CANCELLED
                    : st->cancelled ? GRPC_STATUS_CANCELLED
                                    : GRPC_STATUS_OK);
    return;
  }
  if (st->send) {
    grpc_byte_buffer_destroy(st->send);
    st->send = NULL;
  }
  grpc_op ops[2];
  memset(ops, 0, sizeof ops);
  if (!st->recv) { /* half-close: finish with OK */
    st->finishing = true;
    ops[0].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[0].data.send_status_from_server.status = GRPC_STATUS_OK;
    ops[1].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[1].data.recv_close_on_server.cancelled = &st->cancelled;
    start(st, ops, 2);
    return;
  }
  arena a;
  arena_init(&a);
  unsigned char *data;
  size_t len = rpc_read_byte_buffer(st->recv, &a, &data);
  grpc_byte_buffer_destroy(st->recv);
  st->recv = NULL;
  rpc_stream_msg_received(st->stream);
  refl_resp out = GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__INIT;
  refl_req *req = grpc__reflection__v1__server_reflection_request__unpack(&a.pb, len, data);
  if (req) {
    answer(st->r, req, &out, &a);
  } else {
    set_error(&out, &a, GRPC_STATUS_INVALID_ARGUMENT,
              "request does not decode as grpc.reflection.v1.ServerReflectionRequest");
  }
  grpc_slice slice = rpc_slice_from_message(&out.base);
  arena_free(&a);
  st->send = grpc_raw_byte_buffer_create(&slice, 1);
  grpc_slice_unref(slice);
  ops[0].op = GRPC_OP_SEND_MESSAGE;
  ops[0].data.send_message.send_message = st->send;
  rpc_stream_msg_sent(st->stream);
  ops[1].op = GRPC_OP_RECV_MESSAGE;
  ops[1].data.recv_message.recv_message = &st->recv;
  start(st, ops, 2);
}

static void stream_start(rpc_stream *rs, grpc_call *call, grpc_byte_buffer *payload, void *arg) {
  refl_stream *st = calloc(1, sizeof *st);
  if (!st) abort();
  st->stream = rs;
  st->tag.fn = on_event;
  st->r = arg;
  st->call = call;
  grpc_op ops[2];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_RECV_MESSAGE;
  ops[1].data.recv_message.recv_message = &st->recv;
  start(st, ops, 2);
}

void reflection_destroy(reflection *r) {
  if (!r) return;
  descriptor_index_destroy(r->idx);
  free(r);
}

reflection *reflection_attach(rpc_server *s) {
  size_t len;
  const unsigned char *data = descriptor_set_embedded(&len);
  reflection *r = calloc(1, sizeof *r);
  if (!r) abort();
  r->server = s;
  r->idx = descriptor_index_create(data, len);
  if (!r->idx) {
    log_error("embedded descriptor set does not decode", NULL);
    free(r);
    return NULL;
  }
  static const char *const services[] = {"grpc.reflection.v1.ServerReflection",
                                         "grpc.reflection.v1alpha.ServerReflection"};
  for (int i = 0; i < 2; i++) {
    rpc_method_def def = {.service = services[i],
                          .method = "ServerReflectionInfo",
                          .in = &grpc__reflection__v1__server_reflection_request__descriptor,
                          .out = &grpc__reflection__v1__server_reflection_response__descriptor,
                          .stream = stream_start,
                          .client_streaming = true,
                          .arg = r};
    if (rpc_server_add_method(s, &def)) {
      reflection_destroy(r);
      return NULL;
    }
  }
  return r;
}
