/* `dynamo-svc seed-demo`: the demo chain's menu structure on every channel, over the products
 * of demo/products.h (the list sql-svc's seed-demo creates, P1000..): categories a person
 * recognises holding fitting products in menu order, ghost swaps between like products (a
 * drink for a drink, a side for a side) and a few product collections. Fixed ids, create-only:
 * a second run changes nothing (ALREADY_EXISTS). The large generated data sets of the tests
 * and benchmarks are made by them, not here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "demo/products.h"
#include "services/dynamo-svc/dynamo.h"

#define SEED_TIMEOUT_MS 10000

#define KIOSK (1u << MENU__V1__CHANNEL__CHANNEL_KIOSK)
#define WEB (1u << MENU__V1__CHANNEL__CHANNEL_WEB)
#define APP (1u << MENU__V1__CHANNEL__CHANNEL_APP)
#define DRIVE_THRU (1u << MENU__V1__CHANNEL__CHANNEL_DRIVE_THRU)
#define DELIVERY (1u << MENU__V1__CHANNEL__CHANNEL_DELIVERY)
#define ALL (KIOSK | WEB | APP | DRIVE_THRU | DELIVERY)

typedef struct {
  const char *code, *name, *category;
} demo_product;

static const demo_product products[] = {
#define X(code, name, category, note) {code, name, category},
    DEMO_PRODUCTS(X)
#undef X
};
#define N_PRODUCTS (sizeof products / sizeof products[0])

/* A category holds either every product of its `group` in demo/products.h (in list order) or
 * the hand-picked `codes`. */
static const struct {
  const char *id, *name, *group;
  const char *codes[8];
  int display_order;
  unsigned channels;
} categories[] = {
    {"popular", "Popular", NULL, {"P1001", "P1005", "P1014", "P1018", "P1026"}, 5, ALL},
    {"specials", "Specials", NULL, {"P1035", "P1038", "P1036", "P1037"}, 8, ALL},
    {"breakfast", "Breakfast", "BREAKFAST", {NULL}, 10, ALL & ~DELIVERY},
    {"burgers", "Burgers", "BURGERS", {NULL}, 20, ALL},
    {"chicken", "Chicken", "CHICKEN", {NULL}, 30, ALL},
    {"salads", "Salads", "SALADS", {NULL}, 40, ALL & ~DRIVE_THRU},
    {"sides", "Sides", "SIDES", {NULL}, 50, ALL},
    {"drinks", "Drinks", "DRINKS", {NULL}, 60, ALL},
    {"desserts", "Desserts & Shakes", "DESSERTS", {NULL}, 70, ALL},
    {"kids-meals",
     "Kids Meals",
     NULL,
     {"P1007", "P1013", "P1016", "P1021", "P1029"},
     80,
     KIOSK | WEB | APP},
};

/* Like for like: the swap target is what a guest would accept instead. */
static const struct {
  const char *from, *to;
  unsigned channels;
} swaps[] = {
    {"P1000", "P1035", ALL},                /* Classic Burger -> Green Chile Burger (US-WEST) */
    {"P1015", "P1017", ALL},                /* Onion Rings -> Mozzarella Sticks */
    {"P1022", "P1021", ALL},                /* Iced Tea -> Lemonade */
    {"P1019", "P1020", KIOSK | APP},        /* Diet Cola -> Lemon-Lime Soda */
    {"P1026", "P1039", ALL},                /* Chocolate Shake -> Vanilla Shake (APP, DELIVERY) */
    {"P1031", "P1032", ALL & ~DELIVERY},    /* Breakfast Muffin -> Sausage Biscuit */
    {"P1007", "P1008", KIOSK | DRIVE_THRU}, /* Nuggets (6 pc) -> Nuggets (10 pc) */
};

static const struct {
  const char *id, *name;
  const char *codes[8];
} collections[] = {
    {"combo-sides", "Combo sides", {"P1013", "P1014", "P1015", "P1016"}},
    {"combo-drinks", "Combo drinks", {"P1018", "P1019", "P1020", "P1021", "P1022", "P1025"}},
    {"kids-favourites", "Kids favourites", {"P1007", "P1016", "P1021", "P1029"}},
    {"breakfast-favourites", "Breakfast favourites", {"P1030", "P1031", "P1033"}},
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

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
  log_error("seed-demo failed", "item", what, "error", menu_status_diagnosis(&st), NULL);
  return false;
}

/* The NULL-terminated codes as a protobuf repeated field (arena memory). */
static char **codes_of(arena *a, const char *const *codes, size_t max, size_t *n) {
  char **out = arena_alloc(a, (max + 1) * sizeof *out);
  for (*n = 0; *n < max && codes[*n]; (*n)++) out[*n] = (char *)codes[*n];
  return out;
}

static char **group_codes(arena *a, const char *group, size_t *n) {
  char **out = arena_alloc(a, (N_PRODUCTS + 1) * sizeof *out);
  *n = 0;
  for (size_t i = 0; i < N_PRODUCTS; i++)
    if (!strcmp(products[i].category, group)) out[(*n)++] = (char *)products[i].code;
  return out;
}

static bool seed_categories(dyn_svc *s, tally *t) {
  for (unsigned ch = MENU__V1__CHANNEL__CHANNEL_KIOSK; ch <= MENU__V1__CHANNEL__CHANNEL_DELIVERY;
       ch++) {
    for (size_t i = 0; i < N_OF(categories); i++) {
      if (!(categories[i].channels & (1u << ch))) continue;
      arena a;
      arena_init(&a);
      dyn_call call = {&a, ddb_deadline_in(SEED_TIMEOUT_MS), NULL};
      Menu__V1__Category c = MENU__V1__CATEGORY__INIT;
      c.channel = (Menu__V1__Channel)ch;
      c.id = (char *)categories[i].id;
      c.name = (char *)categories[i].name;
      c.display_order = categories[i].display_order;
      c.product_codes =
          categories[i].group
              ? group_codes(&a, categories[i].group, &c.n_product_codes)
              : codes_of(&a, categories[i].codes, N_OF(categories[i].codes), &c.n_product_codes);
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
  for (unsigned ch = MENU__V1__CHANNEL__CHANNEL_KIOSK; ch <= MENU__V1__CHANNEL__CHANNEL_DELIVERY;
       ch++) {
    for (size_t i = 0; i < N_OF(swaps); i++) {
      if (!(swaps[i].channels & (1u << ch))) continue;
      arena a;
      arena_init(&a);
      dyn_call call = {&a, ddb_deadline_in(SEED_TIMEOUT_MS), NULL};
      Menu__V1__GhostSwap g = MENU__V1__GHOST_SWAP__INIT;
      g.channel = (Menu__V1__Channel)ch;
      g.product_code = (char *)swaps[i].from;
      g.swap_product_code = (char *)swaps[i].to;
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
    for (size_t i = 0; i < N_OF(collections); i++) {
      arena a;
      arena_init(&a);
      dyn_call call = {&a, ddb_deadline_in(SEED_TIMEOUT_MS), NULL};
      Menu__V1__ProductCollection c = MENU__V1__PRODUCT_COLLECTION__INIT;
      c.channel = (Menu__V1__Channel)ch;
      c.id = (char *)collections[i].id;
      c.name = (char *)collections[i].name;
      c.product_codes =
          codes_of(&a, collections[i].codes, N_OF(collections[i].codes), &c.n_product_codes);
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
