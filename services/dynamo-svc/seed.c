/* `dynamo-svc seed-demo`: demo categories on every channel (KIOSK has more than 128, so its
 * list pages), ghost swaps and product collections over the products sql-svc's demo creates
 * (P1000..P1039). Fixed ids, create-only: a second run changes nothing (ALREADY_EXISTS). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "services/dynamo-svc/dynamo.h"

#define SEED_TIMEOUT_MS 10000

static const struct {
  const char *id, *name;
} base_categories[] = {
    {"burgers", "Burgers"},       {"chicken", "Chicken & Fish"},
    {"salads", "Salads"},         {"wraps", "Wraps"},
    {"sides", "Sides"},           {"breakfast", "Breakfast"},
    {"desserts", "Desserts"},     {"drinks", "Cold Drinks"},
    {"coffee", "McCafé Coffee"},  {"kids-menu", "Kids Menu"},
    {"value-menu", "Value Menu"}, {"sauces", "Sauces & Dips"},
};

static const struct {
  Menu__V1__Channel ch;
  int base;   /* how many of base_categories */
  int extras; /* generated "limited time" categories */
} category_plan[] = {
    {MENU__V1__CHANNEL__CHANNEL_KIOSK, 12, 140}, {MENU__V1__CHANNEL__CHANNEL_WEB, 12, 0},
    {MENU__V1__CHANNEL__CHANNEL_APP, 10, 0},     {MENU__V1__CHANNEL__CHANNEL_DRIVE_THRU, 8, 0},
    {MENU__V1__CHANNEL__CHANNEL_DELIVERY, 8, 0},
};

static const struct {
  Menu__V1__Channel ch;
  int from, count, to; /* P<from+i> -> P<to+i> */
} swap_plan[] = {
    {MENU__V1__CHANNEL__CHANNEL_KIOSK, 1000, 20, 1020},
    {MENU__V1__CHANNEL__CHANNEL_WEB, 1000, 10, 1030},
    {MENU__V1__CHANNEL__CHANNEL_APP, 1004, 6, 1024},
    {MENU__V1__CHANNEL__CHANNEL_DRIVE_THRU, 1000, 3, 1035},
    {MENU__V1__CHANNEL__CHANNEL_DELIVERY, 1010, 5, 1015},
};

static const struct {
  const char *id, *name;
  int from, count;
} collection_plan[] = {
    {"breakfast", "Breakfast favourites", 1030, 5},
    {"burgers", "Burger line-up", 1000, 10},
    {"drinks", "Drinks", 1020, 10},
    {"us-exclusives", "US exclusives", 1035, 5},
};

typedef struct {
  int created, existed;
} tally;

/* ALREADY_EXISTS is what a re-run sees: count it, do not fail. */
static bool count(tally *t, menu_status st, const char *what) {
  if (menu_status_is_ok(&st)) {
    t->created++;
    return true;
  }
  if (st.code == GRPC_STATUS_ALREADY_EXISTS) {
    t->existed++;
    return true;
  }
  log_error("seed-demo failed", "item", what, "error", st.message, NULL);
  return false;
}

static bool seed_categories(dyn_svc *s, tally *t) {
  for (size_t p = 0; p < sizeof category_plan / sizeof category_plan[0]; p++) {
    for (int i = 0; i < category_plan[p].base + category_plan[p].extras; i++) {
      arena a;
      arena_init(&a);
      dyn_call call = {&a, ddb_deadline_in(SEED_TIMEOUT_MS)};
      Menu__V1__Category c = MENU__V1__CATEGORY__INIT;
      c.channel = category_plan[p].ch;
      if (i < category_plan[p].base) {
        c.id = (char *)base_categories[i].id;
        c.name = (char *)base_categories[i].name;
        c.display_order = (i + 1) * 10;
      } else {
        int n = i - category_plan[p].base + 1;
        c.id = arena_sprintf(&a, "lto-%03d", n);
        c.name = arena_sprintf(&a, "Limited time offer %03d", n);
        c.display_order = 1000 + n;
      }
      Menu__V1__CreateCategoryRequest req = MENU__V1__CREATE_CATEGORY_REQUEST__INIT;
      req.category = &c;
      Menu__V1__CreateCategoryResponse resp = MENU__V1__CREATE_CATEGORY_RESPONSE__INIT;
      bool ok = count(t, dyn_category_create(s, &call, &req, &resp), c.id);
      arena_free(&a);
      if (!ok) return false;
    }
  }
  return true;
}

static bool seed_swaps(dyn_svc *s, tally *t) {
  for (size_t p = 0; p < sizeof swap_plan / sizeof swap_plan[0]; p++) {
    for (int i = 0; i < swap_plan[p].count; i++) {
      arena a;
      arena_init(&a);
      dyn_call call = {&a, ddb_deadline_in(SEED_TIMEOUT_MS)};
      Menu__V1__GhostSwap g = MENU__V1__GHOST_SWAP__INIT;
      g.channel = swap_plan[p].ch;
      g.product_code = arena_sprintf(&a, "P%04d", swap_plan[p].from + i);
      g.swap_product_code = arena_sprintf(&a, "P%04d", swap_plan[p].to + i);
      Menu__V1__PutGhostSwapRequest req = MENU__V1__PUT_GHOST_SWAP_REQUEST__INIT;
      req.ghost_swap = &g;
      Menu__V1__PutGhostSwapResponse resp = MENU__V1__PUT_GHOST_SWAP_RESPONSE__INIT;
      bool ok = count(t, dyn_ghost_swap_put(s, &call, &req, &resp), g.product_code);
      arena_free(&a);
      if (!ok) return false;
    }
  }
  return true;
}

static bool seed_collections(dyn_svc *s, tally *t) {
  for (unsigned ch = MENU__V1__CHANNEL__CHANNEL_KIOSK; ch <= MENU__V1__CHANNEL__CHANNEL_DELIVERY;
       ch++) {
    for (size_t p = 0; p < sizeof collection_plan / sizeof collection_plan[0]; p++) {
      arena a;
      arena_init(&a);
      dyn_call call = {&a, ddb_deadline_in(SEED_TIMEOUT_MS)};
      Menu__V1__ProductCollection c = MENU__V1__PRODUCT_COLLECTION__INIT;
      c.channel = (Menu__V1__Channel)ch;
      c.id = (char *)collection_plan[p].id;
      c.name = (char *)collection_plan[p].name;
      c.n_product_codes = (size_t)collection_plan[p].count;
      c.product_codes = arena_alloc(&a, c.n_product_codes * sizeof *c.product_codes);
      for (size_t i = 0; i < c.n_product_codes; i++)
        c.product_codes[i] = arena_sprintf(&a, "P%04d", collection_plan[p].from + (int)i);
      Menu__V1__CreateProductCollectionRequest req =
          MENU__V1__CREATE_PRODUCT_COLLECTION_REQUEST__INIT;
      req.product_collection = &c;
      Menu__V1__CreateProductCollectionResponse resp =
          MENU__V1__CREATE_PRODUCT_COLLECTION_RESPONSE__INIT;
      bool ok = count(t, dyn_collection_create(s, &call, &req, &resp), c.id);
      arena_free(&a);
      if (!ok) return false;
    }
  }
  return true;
}

int dyn_seed_demo_main(void) {
  config c = {0};
  const char *level = config_str(&c, "LOG_LEVEL", "info");
  if (!log_init("dynamo-svc", level))
    config_error(&c, "LOG_LEVEL=%s: use debug, info, warn or error", level);
  dyn_svc *s = dyn_svc_create(&c, NULL);
  if (!config_ok(&c, "dynamo-svc")) {
    dyn_svc_destroy(s);
    return 2;
  }
  if (!s) return 1;
  tally t = {0};
  bool ok = seed_categories(s, &t) && seed_swaps(s, &t) && seed_collections(s, &t);
  log_line *l = log_begin(ok ? LOG_INFO : LOG_ERROR, ok ? "seed-demo done" : "seed-demo failed");
  log_int(l, "created", t.created);
  log_int(l, "already_present", t.existed);
  log_end(l);
  dyn_svc_destroy(s);
  return ok ? 0 : 1;
}
