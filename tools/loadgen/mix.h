/* Request mixes: for each benchmarked method, a stream of different request bodies drawn from
 * the large generated data set (stores S00001.., products P1000.., every channel), and paging
 * that follows the real cursors earlier answers returned. Bodies are built with the generated
 * protobuf-c code. Not thread-safe: one run loop owns a mix. */
#ifndef LOADGEN_MIX_H
#define LOADGEN_MIX_H

#include <grpc/grpc.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
  LG_M_HEALTH = 0,
  LG_M_GET_CATEGORY,
  LG_M_LIST_CATEGORIES,
  LG_M_BATCH_GHOST_SWAPS,
  LG_M_LIST_AVAILABILITIES,
  LG_M_STORE_MENU,
  LG_M_COUNT
} lg_method;

typedef struct {
  lg_method method;
  int stores;                 /* stores <prefix>00001 .. <prefix><stores> */
  const char *store_prefix;   /* "S" (generated set); borrowed */
  int store_digits;           /* zero-padded width of the store number: 5 (S00042) */
  int products;               /* products P<base> .. P<base + products - 1> */
  int product_base;           /* 1000 */
  int page_size;              /* page.first of list calls */
  double follow;              /* probability that a list call follows a cursor from an answer */
  int swap_codes;             /* product codes per BatchGetGhostSwaps */
  int channel;                /* 0: every call picks one of the five channels */
  const char *health_service; /* Health/Check's service field; borrowed */
  uint64_t seed;
  /* Store popularity: 0 uniform; s > 0 Zipf-like, store k (1-based) drawn with weight 1/k^s. */
  double zipf;
  /* store-menu: send the etag last answered for the same store and channel as if_none_match. */
  bool if_none_match;
} lg_mix_config;

/* What a request was about, so that its answer's cursor continues the same list. */
typedef struct {
  int channel;
  char store[24];
  int store_index; /* 0-based; -1 when the request names no store */
} lg_req_key;

typedef struct lg_mix lg_mix;

/* Parses "health", "get-category", ... into *out; false when unknown. */
bool lg_method_parse(const char *name, lg_method *out);
/* Full gRPC path ("/menu.v1.CategoryService/GetCategory"). Static string. */
const char *lg_method_path(lg_method m);

/* NULL when out of memory. Caller frees with lg_mix_destroy. */
lg_mix *lg_mix_create(const lg_mix_config *cfg);
void lg_mix_destroy(lg_mix *m);

/* The path of the mix's method. Static string. */
const char *lg_mix_path(const lg_mix *m);

/* The next request body (caller unrefs the slice); *key is filled for lg_mix_on_response. */
grpc_slice lg_mix_next(lg_mix *m, lg_req_key *key);
/* True when answers carry cursors worth parsing (list methods). */
bool lg_mix_wants_response(const lg_mix *m);
/* An OK answer of a request made with *key: keeps its next-page cursor for a later request.
 * Returns false when the bytes do not decode as the method's response. */
bool lg_mix_on_response(lg_mix *m, const lg_req_key *key, const uint8_t *data, size_t len);

/* A blocking unary call used for discovery: 0 and *resp (caller unrefs) when OK. */
typedef int (*lg_call_fn)(void *ctx, const char *path, grpc_slice body, grpc_slice *resp);
/* GetCategory needs real ids: lists every channel's categories (following cursors, at most
 * `max_ids`) through `call`. Returns the number of ids found. */
size_t lg_mix_discover_categories(lg_mix *m, lg_call_fn call, void *ctx, size_t max_ids);

/* Store-scoped methods: lists through `call` (sql-svc's ReferenceDataService) the stores of
 * the mix that sell on each channel it picks (the configured one, or all five), so that calls
 * name only those (a store off a channel answers FAILED_PRECONDITION, which measures nothing).
 * Returns the number of (store, channel) pairs; 0 when a call fails or a channel has none of
 * the mix's stores (the mix is then unchanged). */
size_t lg_mix_discover_stores(lg_mix *m, lg_call_fn call, void *ctx);

/* {"first_pages", "followed_pages", "cursors_kept", "category_ids", "not_modified"}. New
 * reference. */
json_t *lg_mix_to_json(const lg_mix *m);

#endif
