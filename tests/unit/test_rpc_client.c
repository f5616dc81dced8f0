/* The asynchronous client over loopback against a real server: a call ends in exactly one
 * callback with its status and decoded response, a cancel ends it at once, client metrics
 * count it, and a call made from an asynchronous handler is a child of that server call:
 * it completes on the server's completion queue, carries the caller's x-request-id and
 * deadline, and the handler replies from its callback without any thread waiting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/log.h"
#include "common/mono_clock.h"
#include "common/rpc_client.h"
#include "common/rpc_server.h"
#include "menu/v1/category.pb-c.h"
#include "tests/unit/test_rpc_calls.h"
#include "tests/unit/test_rpc_pair.h"

typedef struct {
  metrics_registry *metrics;
  rpc_server *server;
  rpc_channel *channel; /* to the server itself: the relay calls back into it */
  const rpc_client_method *list, *get;
} fixture;

/* ListCategories sleeps page.first ms (in small steps, stopping when the call is cancelled)
 * and answers one node named after the request id it saw, with the ms it had left. */
static menu_status list_categories(rpc_ctx *ctx, const ProtobufCMessage *req,
                                   ProtobufCMessage *resp, void *svc) {
  const Menu__V1__ListCategoriesRequest *in = (const void *)req;
  Menu__V1__ListCategoriesResponse *out = (void *)resp;
  for (int slept = 0; in->page && slept < in->page->first && !rpc_ctx_cancelled(ctx); slept += 5)
    usleep(5000);
  out->n_edges = 1;
  out->edges = RPC_NEW_ARRAY(ctx, Menu__V1__CategoryEdge *, 1);
  out->edges[0] = RPC_NEW(ctx, Menu__V1__CategoryEdge, menu__v1__category_edge__init);
  out->edges[0]->node = RPC_NEW(ctx, Menu__V1__Category, menu__v1__category__init);
  out->edges[0]->node->name = rpc_ctx_strdup(ctx, rpc_ctx_request_id(ctx));
  out->edges[0]->node->display_order = (int32_t)rpc_ctx_remaining_ms(ctx);
  return MENU_OK;
}

/* GetCategory, asynchronous: relays to ListCategories as a child call and answers with the
 * relayed node from the child's callback. */
typedef struct {
  rpc_ctx *ctx;
  ProtobufCMessage *resp;
} relay;

static void relay_done(rpc_client_call *call, void *user) {
  relay *r = user;
  menu_status st = rpc_client_call_status(call);
  if (menu_status_is_ok(&st)) {
    const Menu__V1__ListCategoriesResponse *lr = (const void *)rpc_client_call_response(call);
    Menu__V1__GetCategoryResponse *out = (void *)r->resp;
    out->category = RPC_NEW(r->ctx, Menu__V1__Category, menu__v1__category__init);
    out->category->name = rpc_ctx_strdup(r->ctx, lr->edges[0]->node->name);
    out->category->display_order = lr->edges[0]->node->display_order;
  }
  rpc_ctx_reply(r->ctx, st);
  rpc_client_call_destroy(call);
}

static void get_category_relay(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp,
                               void *svc) {
  fixture *f = svc;
  const Menu__V1__GetCategoryRequest *in = (const void *)req;
  relay *r = RPC_NEW_ARRAY(ctx, relay, 1);
  r->ctx = ctx;
  r->resp = resp;
  Menu__V1__PageRequest page = MENU__V1__PAGE_REQUEST__INIT;
  page.first = in->id && in->id[0] ? atoi(in->id) : 0; /* how long the child sleeps */
  Menu__V1__ListCategoriesRequest lreq = MENU__V1__LIST_CATEGORIES_REQUEST__INIT;
  lreq.page = &page;
  /* A long deadline of its own: the parent's shorter one must win. */
  rpc_client_call_opts o = {.parent = ctx,
                            .deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                                     gpr_time_from_seconds(60, GPR_TIMESPAN))};
  if (!rpc_client_call_start(f->channel, f->list, &lreq.base, &o, relay_done, r))
    rpc_ctx_reply(ctx, MENU_INTERNAL("relay could not start"));
}

static int setup(void **state) {
  static fixture f;
  memset(&f, 0, sizeof f);
  log_init("test", "error");
  grpc_init();
  rpc_server_config cfg = {.service_name = "test",
                           .listen_addr = "127.0.0.1:0",
                           .metrics_addr = "off",
                           .cq_threads = 1,
                           .handler_threads = 1, /* a child left running would block the next */
                           .requests_per_method = 4,
                           .default_deadline_ms = 5000,
                           .shutdown_grace_ms = 1000,
                           .max_recv_bytes = 1 << 20};
  static const rpc_method_impl impls[] = {
      {.name = "ListCategories", .fn = list_categories, .async_fn = NULL},
      {.name = "GetCategory", .fn = NULL, .async_fn = get_category_relay},
      {.name = NULL}};
  test_rpc_pair_start(&cfg, impls, &f, &f.metrics, &f.server, &f.channel);
  f.list = rpc_channel_method(f.channel, "menu.v1.CategoryService", "ListCategories");
  f.get = rpc_channel_method(f.channel, "menu.v1.CategoryService", "GetCategory");
  *state = &f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  test_rpc_pair_stop(f->metrics, f->server, f->channel);
  grpc_shutdown();
  return 0;
}

static void test_callback_brings_status_and_response(void **state) {
  fixture *f = *state;
  test_calls t;
  test_calls_init(&t);
  Menu__V1__ListCategoriesRequest req = MENU__V1__LIST_CATEGORIES_REQUEST__INIT;
  rpc_client_call *c = test_calls_start(&t, f->channel, f->list, &req.base, 2000);
  assert_non_null(c);
  assert_int_equal(t.ended, 0); /* never from inside rpc_client_call_start */
  assert_true(test_calls_wait(&t, 1));
  assert_int_equal(rpc_client_call_status(c).code, GRPC_STATUS_OK);
  const Menu__V1__ListCategoriesResponse *r = (const void *)rpc_client_call_response(c);
  assert_int_equal(r->n_edges, 1);
  assert_true(rpc_client_call_end_ms(c) > 0);
  rpc_client_call_destroy(c);
  test_calls_fini(&t);

  char *text = metrics_render(f->metrics);
  assert_non_null(strstr(text,
                         "grpc_client_handled_total{grpc_type=\"unary\",grpc_service=\"menu."
                         "v1.CategoryService\",grpc_method=\"ListCategories\",grpc_code="
                         "\"OK\"} 1"));
  free(text);
}

static void test_cancel_ends_the_call_at_once(void **state) {
  fixture *f = *state;
  test_calls t;
  test_calls_init(&t);
  Menu__V1__PageRequest page = MENU__V1__PAGE_REQUEST__INIT;
  page.first = 3000;
  Menu__V1__ListCategoriesRequest req = MENU__V1__LIST_CATEGORIES_REQUEST__INIT;
  req.page = &page;
  rpc_client_call *c = test_calls_start(&t, f->channel, f->list, &req.base, 5000);
  usleep(100 * 1000);
  double t0 = mono_now_ms() / 1e3;
  rpc_client_call_cancel(c);
  assert_true(test_calls_wait(&t, 1));
  assert_true(mono_now_ms() / 1e3 - t0 < 0.5);
  assert_int_equal(rpc_client_call_status(c).code, GRPC_STATUS_CANCELLED);
  assert_null(rpc_client_call_response(c));
  rpc_client_call_cancel(c); /* after the end: harmless */
  rpc_client_call_destroy(c);
  test_calls_fini(&t);
}

static void test_child_of_a_server_call(void **state) {
  fixture *f = *state;
  test_calls t;
  test_calls_init(&t);
  Menu__V1__GetCategoryRequest req = MENU__V1__GET_CATEGORY_REQUEST__INIT;
  rpc_client_call *c = test_calls_start(&t, f->channel, f->get, &req.base, 1500);
  assert_true(test_calls_wait(&t, 1));
  assert_int_equal(rpc_client_call_status(c).code, GRPC_STATUS_OK);
  const Menu__V1__GetCategoryResponse *r = (const void *)rpc_client_call_response(c);
  assert_int_equal(strlen(r->category->name), 36); /* the relay's request id, passed on */
  /* The child ends by the caller's deadline (1.5 s), not by its own 60 s. */
  int left = r->category->display_order;
  if (!(left > 1000 && left <= 1600)) fail_msg("child had %d ms left", left);
  rpc_client_call_destroy(c);
  test_calls_fini(&t);
}

static void test_child_is_cancelled_with_its_parent(void **state) {
  fixture *f = *state;
  test_calls t;
  test_calls_init(&t);
  Menu__V1__GetCategoryRequest req = MENU__V1__GET_CATEGORY_REQUEST__INIT;
  req.id = "3000"; /* the child would sleep 3 s */
  double t0 = mono_now_ms() / 1e3;
  rpc_client_call *c = test_calls_start(&t, f->channel, f->get, &req.base, 200);
  assert_true(test_calls_wait(&t, 1));
  assert_int_equal(rpc_client_call_status(c).code, GRPC_STATUS_DEADLINE_EXCEEDED);
  rpc_client_call_destroy(c);
  /* The child saw the cancellation: the server is free again at once, not after 3 s. */
  req.id = "0";
  c = test_calls_start(&t, f->channel, f->get, &req.base, 1000);
  assert_true(test_calls_wait(&t, 2));
  assert_int_equal(rpc_client_call_status(c).code, GRPC_STATUS_OK);
  assert_true(mono_now_ms() / 1e3 - t0 < 1.0);
  rpc_client_call_destroy(c);
  test_calls_fini(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_callback_brings_status_and_response, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cancel_ends_the_call_at_once, setup, teardown),
      cmocka_unit_test_setup_teardown(test_child_of_a_server_call, setup, teardown),
      cmocka_unit_test_setup_teardown(test_child_is_cancelled_with_its_parent, setup, teardown),
  };
  return cmocka_run_group_tests_name("rpc_client", tests, NULL, NULL);
}
