/* The runtime end to end over loopback: a real server with a typed service and the async
 * client: status mapping, UNIMPLEMENTED for unbuilt methods, request ids, concurrency of the
 * handler pool, deadlines, asynchronous handlers, admission control (RESOURCE_EXHAUSTED),
 * queued calls dropped when their caller left, and a shutdown whose grace period bounds
 * handlers that never return on their own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <grpc/grpc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdatomic.h>
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

static atomic_int list_runs;      /* ListCategories handler invocations */
static atomic_bool saw_cancelled; /* DeleteCategory's handler saw rpc_ctx_cancelled */

/* ListCategories sleeps page.first milliseconds and answers one edge whose node name is the
 * request id the handler saw. CreateCategory rejects; UpdateCategory answers from another
 * thread (asynchronous kind); DeleteCategory waits until the call is cancelled; GetCategory
 * is not built. */
static menu_status list_categories(rpc_ctx *ctx, const ProtobufCMessage *req,
                                   ProtobufCMessage *resp, void *svc) {
  atomic_fetch_add(&list_runs, 1);
  const Menu__V1__ListCategoriesRequest *in = (const void *)req;
  Menu__V1__ListCategoriesResponse *out = (void *)resp;
  if (in->page && in->page->first > 0) usleep((useconds_t)in->page->first * 1000);
  out->n_edges = 1;
  out->edges = RPC_NEW_ARRAY(ctx, Menu__V1__CategoryEdge *, 1);
  out->edges[0] = RPC_NEW(ctx, Menu__V1__CategoryEdge, menu__v1__category_edge__init);
  out->edges[0]->node = RPC_NEW(ctx, Menu__V1__Category, menu__v1__category__init);
  out->edges[0]->node->name = rpc_ctx_strdup(ctx, rpc_ctx_request_id(ctx));
  out->edges[0]->node->display_order = (int32_t)rpc_ctx_remaining_ms(ctx);
  return MENU_OK;
}

static menu_status create_category(rpc_ctx *ctx, const ProtobufCMessage *req,
                                   ProtobufCMessage *resp, void *svc) {
  return MENU_INVALID("category.name: must not be empty");
}

typedef struct {
  rpc_ctx *ctx;
  Menu__V1__UpdateCategoryResponse *resp;
} async_job;

static void *update_later(void *arg) {
  async_job *j = arg;
  usleep(20 * 1000);
  j->resp->category = RPC_NEW(j->ctx, Menu__V1__Category, menu__v1__category__init);
  j->resp->category->name = rpc_ctx_strdup(j->ctx, rpc_ctx_request_id(j->ctx));
  rpc_ctx_reply(j->ctx, MENU_OK);
  free(j);
  return NULL;
}

static void update_category(rpc_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp,
                            void *svc) {
  async_job *j = malloc(sizeof *j);
  j->ctx = ctx;
  j->resp = (void *)resp;
  pthread_t t;
  pthread_create(&t, NULL, update_later, j);
  pthread_detach(t);
}

static menu_status delete_category(rpc_ctx *ctx, const ProtobufCMessage *req,
                                   ProtobufCMessage *resp, void *svc) {
  for (int i = 0; i < 1000 && !rpc_ctx_cancelled(ctx); i++) usleep(10 * 1000);
  if (rpc_ctx_cancelled(ctx)) atomic_store(&saw_cancelled, true);
  return MENU_UNAVAILABLE("datastore did not answer");
}

static const rpc_method_impl impls[] = {
    {.name = "ListCategories", .fn = list_categories},
    {.name = "CreateCategory", .fn = create_category},
    {.name = "UpdateCategory", .fn = NULL, .async_fn = update_category},
    {.name = "DeleteCategory", .fn = delete_category},
    {NULL}};

typedef struct {
  metrics_registry *metrics;
  rpc_server *server;
  rpc_channel *channel;
  const rpc_client_method *list, *create, *get, *update, *del;
} fixture;

static int setup_with(void **state, int handler_threads, int max_in_flight, int grace_ms) {
  static fixture f;
  memset(&f, 0, sizeof f);
  atomic_store(&list_runs, 0);
  atomic_store(&saw_cancelled, false);
  log_init("test", "error");
  grpc_init();
  rpc_server_config cfg = {.service_name = "test",
                           .listen_addr = "127.0.0.1:0",
                           .metrics_addr = "off",
                           .cq_threads = 2,
                           .handler_threads = handler_threads,
                           .requests_per_method = 4,
                           .max_in_flight = max_in_flight,
                           .default_deadline_ms = 5000,
                           .shutdown_grace_ms = grace_ms,
                           .max_recv_bytes = 1 << 20};
  test_rpc_pair_start(&cfg, impls, NULL, &f.metrics, &f.server, &f.channel);
  f.list = rpc_channel_method(f.channel, "menu.v1.CategoryService", "ListCategories");
  f.create = rpc_channel_method(f.channel, "menu.v1.CategoryService", "CreateCategory");
  f.get = rpc_channel_method(f.channel, "menu.v1.CategoryService", "GetCategory");
  f.update = rpc_channel_method(f.channel, "menu.v1.CategoryService", "UpdateCategory");
  f.del = rpc_channel_method(f.channel, "menu.v1.CategoryService", "DeleteCategory");
  *state = &f;
  return 0;
}

static int setup(void **state) { return setup_with(state, 4, 0, 3000); }
/* One handler thread, at most 3 calls in flight, 300 ms of grace. */
static int setup_small(void **state) { return setup_with(state, 1, 3, 300); }

static int teardown(void **state) {
  fixture *f = *state;
  test_rpc_pair_stop(f->metrics, f->server, f->channel);
  grpc_shutdown();
  return 0;
}

/* One call; returns its status, copies the first node's name. */
static menu_status call_list(fixture *f, int sleep_ms, int deadline_ms, char *name, size_t n) {
  test_calls t;
  test_calls_init(&t);
  Menu__V1__PageRequest page = MENU__V1__PAGE_REQUEST__INIT;
  page.first = sleep_ms;
  Menu__V1__ListCategoriesRequest req = MENU__V1__LIST_CATEGORIES_REQUEST__INIT;
  req.channel = MENU__V1__CHANNEL__CHANNEL_KIOSK;
  req.page = &page;
  rpc_client_call *c = test_calls_start(&t, f->channel, f->list, &req.base, deadline_ms);
  assert_true(test_calls_wait(&t, 1));
  menu_status st = rpc_client_call_status(c);
  if (name && menu_status_is_ok(&st)) {
    const Menu__V1__ListCategoriesResponse *r = (const void *)rpc_client_call_response(c);
    snprintf(name, n, "%s", r->edges[0]->node->name);
  }
  rpc_client_call_destroy(c);
  test_calls_fini(&t);
  return st;
}

static void test_ok_with_generated_request_id(void **state) {
  char name[128] = "";
  menu_status st = call_list(*state, 0, 2000, name, sizeof name);
  assert_int_equal(st.code, GRPC_STATUS_OK);
  assert_int_equal(strlen(name), 36); /* a UUID made by the server for this call */
  assert_int_equal(name[14], '4');
}

static void test_handler_error_and_unimplemented(void **state) {
  fixture *f = *state;
  test_calls t;
  test_calls_init(&t);
  Menu__V1__CreateCategoryRequest creq = MENU__V1__CREATE_CATEGORY_REQUEST__INIT;
  Menu__V1__GetCategoryRequest greq = MENU__V1__GET_CATEGORY_REQUEST__INIT;
  rpc_client_call *pc = test_calls_start(&t, f->channel, f->create, &creq.base, 2000);
  rpc_client_call *pg = test_calls_start(&t, f->channel, f->get, &greq.base, 2000);
  assert_true(test_calls_wait(&t, 2));
  menu_status sc = rpc_client_call_status(pc), sg = rpc_client_call_status(pg);
  assert_int_equal(sc.code, GRPC_STATUS_INVALID_ARGUMENT);
  assert_string_equal(sc.message, "category.name: must not be empty");
  assert_int_equal(sg.code, GRPC_STATUS_UNIMPLEMENTED);
  if (!strstr(sg.message, "/menu.v1.CategoryService/GetCategory")) fail_msg("%s", sg.message);
  assert_null(rpc_client_call_response(pg));
  rpc_client_call_destroy(pc);
  rpc_client_call_destroy(pg);
  test_calls_fini(&t);
}

static void test_calls_run_concurrently(void **state) {
  fixture *f = *state;
  test_calls t;
  test_calls_init(&t);
  Menu__V1__PageRequest page = MENU__V1__PAGE_REQUEST__INIT;
  page.first = 300;
  Menu__V1__ListCategoriesRequest req = MENU__V1__LIST_CATEGORIES_REQUEST__INIT;
  req.page = &page;
  double t0 = mono_now_ms() / 1e3;
  rpc_client_call *calls[3];
  for (int i = 0; i < 3; i++) calls[i] = test_calls_start(&t, f->channel, f->list, &req.base, 5000);
  assert_true(test_calls_wait(&t, 3));
  double took = mono_now_ms() / 1e3 - t0;
  int ok = 0;
  for (int i = 0; i < 3; i++) {
    ok += rpc_client_call_status(calls[i]).code == GRPC_STATUS_OK;
    rpc_client_call_destroy(calls[i]);
  }
  test_calls_fini(&t);
  assert_int_equal(ok, 3);
  assert_true(took < 0.6); /* three 300 ms handlers at once, not one after another */
}

static void test_deadline_is_enforced_and_visible(void **state) {
  double t0 = mono_now_ms() / 1e3;
  menu_status st = call_list(*state, 600, 100, NULL, 0);
  double took = mono_now_ms() / 1e3 - t0;
  assert_int_equal(st.code, GRPC_STATUS_DEADLINE_EXCEEDED);
  assert_true(took < 0.4);
  char name[64];
  fixture *f = *state;
  test_calls t;
  test_calls_init(&t);
  Menu__V1__ListCategoriesRequest req = MENU__V1__LIST_CATEGORIES_REQUEST__INIT;
  rpc_client_call *c = test_calls_start(&t, f->channel, f->list, &req.base, 1500);
  assert_true(test_calls_wait(&t, 1));
  assert_int_equal(rpc_client_call_status(c).code, GRPC_STATUS_OK);
  const Menu__V1__ListCategoriesResponse *r = (const void *)rpc_client_call_response(c);
  /* the handler sees the caller's deadline (clock conversion may add a few ms) */
  int remaining = r->edges[0]->node->display_order;
  if (!(remaining > 1000 && remaining <= 1600)) fail_msg("remaining %d", remaining);
  rpc_client_call_destroy(c);
  test_calls_fini(&t);
  (void)name;
}

static void *shutdown_later(void *arg) {
  usleep(150 * 1000);
  rpc_server_shutdown(arg);
  return NULL;
}

static void test_shutdown_lets_in_flight_call_finish(void **state) {
  fixture *f = *state;
  pthread_t t;
  pthread_create(&t, NULL, shutdown_later, f->server);
  double t0 = mono_now_ms() / 1e3;
  menu_status st = call_list(f, 600, 5000, NULL, 0); /* still running when shutdown starts */
  double took = mono_now_ms() / 1e3 - t0;
  pthread_join(t, NULL);
  assert_int_equal(st.code, GRPC_STATUS_OK);
  assert_true(took >= 0.55);
  st = call_list(f, 0, 500, NULL, 0); /* the server is gone now */
  assert_true(st.code == GRPC_STATUS_UNAVAILABLE || st.code == GRPC_STATUS_DEADLINE_EXCEEDED);
}

static void test_async_handler_replies_from_another_thread(void **state) {
  fixture *f = *state;
  test_calls t;
  test_calls_init(&t);
  Menu__V1__UpdateCategoryRequest req = MENU__V1__UPDATE_CATEGORY_REQUEST__INIT;
  rpc_client_call *c = test_calls_start(&t, f->channel, f->update, &req.base, 2000);
  assert_true(test_calls_wait(&t, 1));
  assert_int_equal(rpc_client_call_status(c).code, GRPC_STATUS_OK);
  const Menu__V1__UpdateCategoryResponse *r = (const void *)rpc_client_call_response(c);
  assert_non_null(r->category);
  assert_int_equal(strlen(r->category->name), 36);
  rpc_client_call_destroy(c);
  test_calls_fini(&t);
}

static rpc_client_call *start_list(fixture *f, test_calls *t, int sleep_ms, int deadline_ms) {
  static Menu__V1__PageRequest page[64];
  static Menu__V1__ListCategoriesRequest req[64];
  static int next;
  int i = next++ % 64;
  menu__v1__page_request__init(&page[i]);
  page[i].first = sleep_ms;
  menu__v1__list_categories_request__init(&req[i]);
  req[i].page = &page[i];
  return test_calls_start(t, f->channel, f->list, &req[i].base, deadline_ms);
}

static void test_overload_answers_resource_exhausted_at_once(void **state) {
  fixture *f = *state;
  test_calls t;
  test_calls_init(&t);
  int64_t t0 = gpr_time_to_millis(gpr_now(GPR_CLOCK_MONOTONIC));
  rpc_client_call *calls[8];
  for (int i = 0; i < 8; i++) calls[i] = start_list(f, &t, 300, 5000);
  assert_true(test_calls_wait(&t, 8));
  int ok = 0, exhausted = 0, fast = 0;
  for (int i = 0; i < 8; i++) {
    menu_status st = rpc_client_call_status(calls[i]);
    if (st.code == GRPC_STATUS_OK) ok++;
    if (st.code == GRPC_STATUS_RESOURCE_EXHAUSTED) {
      exhausted++;
      fast += rpc_client_call_end_ms(calls[i]) - t0 < 250; /* not after a handler's 300 ms */
    }
    rpc_client_call_destroy(calls[i]);
  }
  test_calls_fini(&t);
  assert_int_equal(ok, 3); /* the three admitted calls are served */
  assert_int_equal(exhausted, 5);
  assert_int_equal(fast, 5);
  char *text = metrics_render(f->metrics);
  assert_non_null(strstr(text, "menu_rpc_server_rejected_total{reason=\"overload\"} 5"));
  free(text);
}

static void test_queued_calls_whose_caller_left_never_run(void **state) {
  fixture *f = *state;
  test_calls slow, gone, late;
  test_calls_init(&slow);
  test_calls_init(&gone);
  test_calls_init(&late);
  rpc_client_call *sp = start_list(f, &slow, 400, 5000); /* holds the one handler thread */
  usleep(50 * 1000);
  /* Two callers give up while queued: one cancels, one's deadline passes. */
  rpc_client_call *gp = start_list(f, &gone, 0, 5000);
  rpc_client_call *lp = start_list(f, &late, 0, 100);
  usleep(50 * 1000);
  rpc_client_call_cancel(gp);
  assert_true(test_calls_wait(&gone, 1));
  rpc_client_call_destroy(gp);
  test_calls_fini(&gone);
  assert_true(test_calls_wait(&late, 1));
  assert_int_equal(rpc_client_call_status(lp).code, GRPC_STATUS_DEADLINE_EXCEEDED);
  rpc_client_call_destroy(lp);
  test_calls_fini(&late);
  assert_true(test_calls_wait(&slow, 1));
  assert_int_equal(rpc_client_call_status(sp).code, GRPC_STATUS_OK);
  rpc_client_call_destroy(sp);
  test_calls_fini(&slow);
  /* A fresh call after them is served, and only it and the slow one ever ran. */
  assert_int_equal(call_list(f, 0, 2000, NULL, 0).code, GRPC_STATUS_OK);
  assert_int_equal(atomic_load(&list_runs), 2);
  char *text = metrics_render(f->metrics);
  assert_non_null(strstr(text, "menu_rpc_server_rejected_total{reason=\"cancelled\"} 1"));
  assert_non_null(strstr(text, "menu_rpc_server_rejected_total{reason=\"deadline\"} 1"));
  free(text);
}

static void *shutdown_soon(void *arg) {
  usleep(100 * 1000);
  rpc_server_shutdown(arg);
  return NULL;
}

static void test_grace_bounds_a_handler_that_never_returns(void **state) {
  fixture *f = *state;
  test_calls calls;
  test_calls_init(&calls);
  Menu__V1__DeleteCategoryRequest req = MENU__V1__DELETE_CATEGORY_REQUEST__INIT;
  rpc_client_call *c = test_calls_start(&calls, f->channel, f->del, &req.base, 5000);
  pthread_t t;
  double t0 = mono_now_ms() / 1e3;
  pthread_create(&t, NULL, shutdown_soon, f->server);
  assert_true(test_calls_wait(&calls, 1));
  /* The caller is told to retry elsewhere, not CANCELLED, once the 300 ms grace is over. */
  assert_int_equal(rpc_client_call_status(c).code, GRPC_STATUS_UNAVAILABLE);
  pthread_join(t, NULL);
  double took = mono_now_ms() / 1e3 - t0;
  assert_true(atomic_load(&saw_cancelled));
  assert_true(took < 2.0); /* grace + the handler noticing, not the 5 s deadline */
  rpc_client_call_destroy(c);
  test_calls_fini(&calls);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_ok_with_generated_request_id, setup, teardown),
      cmocka_unit_test_setup_teardown(test_handler_error_and_unimplemented, setup, teardown),
      cmocka_unit_test_setup_teardown(test_calls_run_concurrently, setup, teardown),
      cmocka_unit_test_setup_teardown(test_deadline_is_enforced_and_visible, setup, teardown),
      cmocka_unit_test_setup_teardown(test_shutdown_lets_in_flight_call_finish, setup, teardown),
      cmocka_unit_test_setup_teardown(test_async_handler_replies_from_another_thread, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_overload_answers_resource_exhausted_at_once, setup_small,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_queued_calls_whose_caller_left_never_run, setup_small,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_grace_bounds_a_handler_that_never_returns, setup_small,
                                      teardown),
  };
  return cmocka_run_group_tests_name("rpc_server", tests, NULL, NULL);
}
