/* What identifies one GetStoreMenu answer: the request's shape (store, channel, page, flags)
 * as bytes, and the etag, an opaque digest of that shape with both owners' revisions and the
 * end of the answer's validity (the next rule boundary). Pure functions. */
#ifndef GATEWAY_MENU_ETAG_H
#define GATEWAY_MENU_ETAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "menu/v1/menu.pb-c.h"

/* base64url of the first 16 bytes of a SHA-256: 22 characters. */
#define MENU_ETAG_LEN 22

/* The request's shape: everything of it that decides the menu besides the instant (store,
 * channel, page args, include_unavailable, include_empty_categories). Arena-owned, NUL
 * terminated; *len without the NUL. */
const char *menu_etag_shape(arena *a, const Menu__V1__GetStoreMenuRequest *req, size_t *len);

typedef struct {
  const char *shape; /* borrowed, from menu_etag_shape */
  size_t shape_len;
  uint64_t catalog;       /* dynamo-svc's catalog revision of the channel */
  uint64_t availability;  /* sql-svc's rule revision of the channel */
  int64_t valid_until_ms; /* realtime ms of the next rule boundary; 0 when none is ahead */
} menu_etag_input;

/* Writes MENU_ETAG_LEN characters and a NUL into out. Two answers with the same input are the
 * same menu: no write on either owner and no rule boundary between their instants. */
void menu_etag_make(const menu_etag_input *in, char out[MENU_ETAG_LEN + 1]);

#endif
