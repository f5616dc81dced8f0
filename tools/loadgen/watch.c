/* The watch loop (see watch.h). */
#include "tools/loadgen/watch.h"

#include <grpc/byte_buffer.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "menu/v1/menu.pb-c.h"

#define WATCH_PATH "/menu.v1.MenuService/WatchStoreMenu"
#define ETAG_MAX 128

/* A watcher's batches: tag = watcher address + kind (watchers are 8-aligned). */
enum { TAG_START = 0, TAG_MSG = 1, TAG_STATUS = 2 };

typedef struct {
  grpc_call *call;
  grpc_byte_buffer *send, *recv;
  grpc_metadata_array initial, trailing;
  grpc_status_code code;
  grpc_slice details;
  int pending; /* batches not completed yet */
  bool ended;  /* status received */
  uint8_t etag[ETAG_MAX];
  size_t etag_len;
  int64_t first_us;
  int64_t *changes;
  size_t n, cap;
} watcher;

static int64_t realtime_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  *v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*p >= end) return false;
    uint8_t b = *(*p)++;
    *v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

bool lg_watch_etag(const uint8_t *data, size_t len, const uint8_t **etag, size_t *etag_len) {
  const uint8_t *p = data, *end = data + len;
  *etag = data;
  *etag_len = 0;
  while (p < end) {
    uint64_t key, v;
    if (!read_varint(&p, end, &key)) return false;
    switch (key & 7) {
      case 0:
        if (!read_varint(&p, end, &v)) return false;
        break;
      case 1:
        if (end - p < 8) return false;
        p += 8;
        break;
      case 2:
        if (!read_varint(&p, end, &v) || v > (uint64_t)(end - p)) return false;
        if ((key >> 3) == 8) {
          *etag = p;
          *etag_len = (size_t)v;
        }
        p += v;
        break;
      case 5:
        if (end - p < 4) return false;
        p += 4;
        break;
      default:
        return false;
    }
  }
  return true;
}

static void store_code(const lg_watch_config *cfg, int number, char *out, size_t cap) {
  snprintf(out, cap, "%s%0*d", cfg->store_prefix, cfg->store_digits, number);
}

/* Store numbers that have a menu on the channel: GetStoreMenu (first page of one category) on
 * stores 1, 2, ... until `stores` answer OK or `scan` were asked. Returns how many were found. */
static int pick_stores(lg_client *c, const lg_watch_config *cfg, int *numbers) {
  int found = 0;
  for (int k = 1; k <= cfg->scan && found < cfg->stores; k++) {
    char store[32];
    store_code(cfg, k, store, sizeof store);
    Menu__V1__PageRequest page = MENU__V1__PAGE_REQUEST__INIT;
    page.first = 1;
    Menu__V1__GetStoreMenuRequest r = MENU__V1__GET_STORE_MENU_REQUEST__INIT;
    r.store_code = store;
    r.channel = (Menu__V1__Channel)cfg->channel;
    r.page = &page;
    grpc_slice body = grpc_slice_malloc(menu__v1__get_store_menu_request__get_packed_size(&r));
    menu__v1__get_store_menu_request__pack(&r, GRPC_SLICE_START_PTR(body));
    grpc_slice resp;
    if (lg_client_call(c, "/menu.v1.MenuService/GetStoreMenu", body, &resp) == 0) {
      grpc_slice_unref(resp);
      numbers[found++] = k;
    }
    grpc_slice_unref(body);
  }
  return found;
}

static grpc_slice request_body(const lg_watch_config *cfg, const int *numbers, int nstores, int i) {
  char store[32];
  store_code(cfg, numbers[i % nstores], store, sizeof store);
  Menu__V1__WatchStoreMenuRequest r = MENU__V1__WATCH_STORE_MENU_REQUEST__INIT;
  r.store_code = store;
  r.channel = (Menu__V1__Channel)cfg->channel;
  size_t n = menu__v1__watch_store_menu_request__get_packed_size(&r);
  grpc_slice s = grpc_slice_malloc(n);
  menu__v1__watch_store_menu_request__pack(&r, GRPC_SLICE_START_PTR(s));
  return s;
}

static bool start_recv(watcher *w) {
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_MESSAGE;
  op.data.recv_message.recv_message = &w->recv;
  if (grpc_call_start_batch(w->call, &op, 1, (char *)w + TAG_MSG, NULL) != GRPC_CALL_OK)
    return false;
  w->pending++;
  return true;
}

/* Starts watcher w's stream: request, half-close and initial metadata in one batch, the status
 * in another. */
static bool watcher_start(watcher *w, grpc_call *call, grpc_slice body) {
  w->call = call;
  grpc_metadata_array_init(&w->initial);
  grpc_metadata_array_init(&w->trailing);
  w->details = grpc_empty_slice();
  w->send = grpc_raw_byte_buffer_create(&body, 1);
  grpc_op ops[4];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = w->send;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &w->initial;
  if (grpc_call_start_batch(call, ops, 4, (char *)w + TAG_START, NULL) != GRPC_CALL_OK)
    return false;
  w->pending++;
  grpc_op st;
  memset(&st, 0, sizeof st);
  st.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  st.data.recv_status_on_client.trailing_metadata = &w->trailing;
  st.data.recv_status_on_client.status = &w->code;
  st.data.recv_status_on_client.status_details = &w->details;
  if (grpc_call_start_batch(call, &st, 1, (char *)w + TAG_STATUS, NULL) != GRPC_CALL_OK)
    return false;
  w->pending++;
  return true;
}

/* A message arrived at w at `now`: first message, or a change when its etag is new. */
static int on_message(watcher *w, int64_t now, lg_watch_result *res) {
  grpc_slice body = lg_read_all(w->recv);
  grpc_byte_buffer_destroy(w->recv);
  w->recv = NULL;
  const uint8_t *etag;
  size_t elen;
  bool ok = lg_watch_etag(GRPC_SLICE_START_PTR(body), GRPC_SLICE_LENGTH(body), &etag, &elen);
  if (elen > ETAG_MAX) elen = ETAG_MAX;
  res->messages++;
  int rc = 0;
  if (ok && w->first_us == 0) {
    w->first_us = now;
    res->first_messages++;
  } else if (ok && (elen != w->etag_len || memcmp(etag, w->etag, elen) != 0)) {
    if (w->n == w->cap) {
      size_t cap = w->cap ? w->cap * 2 : 8;
      int64_t *nc = realloc(w->changes, cap * sizeof *nc);
      if (!nc)
        rc = -1;
      else
        w->changes = nc, w->cap = cap;
    }
    if (rc == 0) {
      w->changes[w->n++] = now;
      res->changes++;
    }
  }
  if (ok) {
    memcpy(w->etag, etag, elen);
    w->etag_len = elen;
  }
  grpc_slice_unref(body);
  return rc;
}

static void watcher_clear(watcher *w) {
  if (w->send) grpc_byte_buffer_destroy(w->send);
  if (w->recv) grpc_byte_buffer_destroy(w->recv);
  grpc_metadata_array_destroy(&w->initial);
  grpc_metadata_array_destroy(&w->trailing);
  grpc_slice_unref(w->details);
  if (w->call) grpc_call_unref(w->call);
}

int lg_watch_run(lg_client *c, const lg_watch_config *cfg, lg_watch_result *res) {
  memset(res, 0, sizeof *res);
  res->all_connected_s = -1;
  size_t n = (size_t)cfg->watchers;
  watcher *ws = aligned_alloc(8, ((n * sizeof *ws + 7) / 8) * 8);
  res->logs = calloc(n, sizeof *res->logs);
  if (!ws || !res->logs) {
    free(ws);
    lg_watch_result_clear(res);
    return -1;
  }
  memset(ws, 0, n * sizeof *ws);
  res->nlogs = n;
  int *numbers = calloc((size_t)cfg->stores, sizeof *numbers);
  if (!numbers) {
    free(ws);
    lg_watch_result_clear(res);
    return -1;
  }
  res->stores = pick_stores(c, cfg, numbers);
  if (res->stores == 0) {
    fprintf(stderr, "loadgen: none of stores 1..%d has a menu on channel %d\n", cfg->scan,
            cfg->channel);
    free(numbers);
    free(ws);
    lg_watch_result_clear(res);
    return -1;
  }
  grpc_completion_queue *cq = lg_client_queue(c);
  int nch = lg_client_connections(c);
  void *handles[64];
  for (int i = 0; i < nch && i < 64; i++)
    handles[i] = grpc_channel_register_call(lg_client_channel(c, i), WATCH_PATH, NULL, NULL);

  res->start_us = realtime_us();
  const int64_t stop = res->start_us + (int64_t)(cfg->duration_s * 1e6);
  const int64_t connect_by = res->start_us + (int64_t)(cfg->connect_s * 1e6);
  int64_t settle_until = 0;
  bool ready = false, stopping = false;
  int64_t pending = 0, stop_at = 0;
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    int chan = (int)(i % (size_t)nch);
    grpc_call *call = grpc_channel_create_registered_call(
        lg_client_channel(c, chan), NULL, GRPC_PROPAGATE_DEFAULTS, cq, handles[chan],
        gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    grpc_slice body = request_body(cfg, numbers, res->stores, (int)i);
    bool ok = watcher_start(&ws[i], call, body);
    grpc_slice_unref(body);
    if (!ok) {
      res->refused++;
      grpc_call_cancel(call, NULL);
    }
    pending += ws[i].pending;
  }
  for (;;) {
    int64_t now = realtime_us();
    /* every watcher has its first message or was ended by the server */
    if (!ready && cfg->ready_file &&
        (res->first_messages + res->ended_early + res->refused >= n || now >= connect_by ||
         now >= stop)) {
      FILE *f = fopen(cfg->ready_file, "w");
      if (f) fclose(f);
      ready = true;
    }
    if (res->all_connected_s < 0 && res->first_messages == n)
      res->all_connected_s = (double)(now - res->start_us) / 1e6;
    if (!settle_until && cfg->done_file && access(cfg->done_file, F_OK) == 0)
      settle_until = now + (int64_t)(cfg->settle_s * 1e6);
    if (!stopping && (now >= stop || (settle_until && now >= settle_until) || rc != 0)) {
      stopping = true;
      stop_at = now;
      res->end_us = now;
      for (size_t i = 0; i < n; i++)
        if (ws[i].call && !ws[i].ended) grpc_call_cancel(ws[i].call, NULL);
    }
    if (stopping && (pending == 0 || now > stop_at + 5000000)) break;
    grpc_event ev = grpc_completion_queue_next(
        cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(100, GPR_TIMESPAN)),
        NULL);
    if (ev.type != GRPC_OP_COMPLETE || !ev.tag) continue;
    int64_t at = realtime_us();
    int kind = (int)((uintptr_t)ev.tag & 7);
    watcher *w = (watcher *)((uintptr_t)ev.tag & ~(uintptr_t)7);
    w->pending--;
    pending--;
    if (kind == TAG_START && ev.success) {
      if (start_recv(w)) pending++;
    } else if (kind == TAG_MSG && w->recv) {
      if (on_message(w, at, res) != 0) rc = -1;
      if (!stopping && start_recv(w)) pending++;
    } else if (kind == TAG_STATUS) {
      w->ended = true;
      if (!stopping) {
        res->ended_early++;
        res->codes[w->code >= 0 && w->code < LG_CODE_COUNT ? w->code : 2]++;
      }
    }
  }
  res->elapsed_s = (double)(res->end_us - res->start_us) / 1e6;
  for (size_t i = 0; i < n; i++)
    res->logs[i] = (lg_watcher_log){ws[i].first_us, ws[i].changes, ws[i].n};
  free(numbers);
  if (pending > 0) {
    /* The core still owns buffers of some batches: leave the watchers to the process's exit
     * rather than free memory it may yet write. */
    fprintf(stderr, "loadgen: %lld stream operations still pending 5 s after the stop\n",
            (long long)pending);
    return rc;
  }
  for (size_t i = 0; i < n; i++) watcher_clear(&ws[i]);
  free(ws);
  return rc;
}

void lg_watch_result_clear(lg_watch_result *res) {
  for (size_t i = 0; i < res->nlogs; i++) free((void *)res->logs[i].changes);
  free(res->logs);
  memset(res, 0, sizeof *res);
}
