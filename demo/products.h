/* The demo chain's products (a small quick-service chain, no trademarks): code, display name,
 * the menu category it belongs in, and how sql-svc's demo rules make it available. The one
 * list both seeds use: sql-svc's `seed-demo` creates the products and their rules from it,
 * dynamo-svc's `seed-demo` places the codes in categories, collections and ghost swaps. The
 * integration tests read it too (tests/integration/demo_data.py parses the X(...) lines, one
 * per line: keep that shape). Codes are fixed: people type them (README, grpcurl examples).
 *
 * Usage: #define X(code, name, category, note) ... DEMO_PRODUCTS(X) #undef X
 * Categories: BREAKFAST BURGERS CHICKEN SALADS SIDES DRINKS DESSERTS.
 * Menu types: BREAKFAST items need a store serving BREAKFAST on the channel, LUNCH items one
 * serving LUNCH; "all day" items need neither. Stores (sql demo): R001 US/US-WEST, R002
 * US/US-EAST, R003 CA/CA-ON, R004 UK/UK-LDN, R005 US/US-WEST. */
#ifndef DEMO_PRODUCTS_H
#define DEMO_PRODUCTS_H

/* clang-format off */
#define DEMO_PRODUCTS(X)                                                                           \
  X("P1000", "Classic Burger",              "BURGERS",   "lunch")                                  \
  X("P1001", "Cheeseburger",                "BURGERS",   "lunch")                                  \
  X("P1002", "Double Cheeseburger",         "BURGERS",   "lunch")                                  \
  X("P1003", "Bacon Burger",                "BURGERS",   "lunch")                                  \
  X("P1004", "Veggie Burger",               "BURGERS",   "lunch")                                  \
  X("P1005", "Crispy Chicken Sandwich",     "CHICKEN",   "lunch")                                  \
  X("P1006", "Spicy Chicken Sandwich",      "CHICKEN",   "lunch; an R001 deny that expired")       \
  X("P1007", "Chicken Nuggets (6 pc)",      "CHICKEN",   "lunch; an R001 deny from 2099")          \
  X("P1008", "Chicken Nuggets (10 pc)",     "CHICKEN",   "lunch")                                  \
  X("P1009", "Grilled Chicken Wrap",        "CHICKEN",   "lunch")                                  \
  X("P1010", "Garden Salad",                "SALADS",    "lunch")                                  \
  X("P1011", "Caesar Salad",                "SALADS",    "lunch")                                  \
  X("P1012", "Grilled Chicken Salad",       "SALADS",    "lunch; denied in region US-EAST")        \
  X("P1013", "Small Fries",                 "SIDES",     "all day")                                \
  X("P1014", "Large Fries",                 "SIDES",     "all day")                                \
  X("P1015", "Onion Rings",                 "SIDES",     "lunch; store R002 denies it")            \
  X("P1016", "Apple Slices",                "SIDES",     "all day")                                \
  X("P1017", "Mozzarella Sticks",           "SIDES",     "lunch")                                  \
  X("P1018", "Cola",                        "DRINKS",    "all day")                                \
  X("P1019", "Diet Cola",                   "DRINKS",    "all day")                                \
  X("P1020", "Lemon-Lime Soda",             "DRINKS",    "all day")                                \
  X("P1021", "Lemonade",                    "DRINKS",    "all day")                                \
  X("P1022", "Iced Tea",                    "DRINKS",    "all day; market UK denies it")           \
  X("P1023", "Orange Juice",                "DRINKS",    "all day")                                \
  X("P1024", "Coffee",                      "DRINKS",    "all day")                                \
  X("P1025", "Bottled Water",               "DRINKS",    "all day; hidden at R001")                \
  X("P1026", "Chocolate Shake",             "DESSERTS",  "all day")                                \
  X("P1027", "Apple Pie",                   "DESSERTS",  "all day")                                \
  X("P1028", "Vanilla Sundae",              "DESSERTS",  "all day")                                \
  X("P1029", "Chocolate Chip Cookie",       "DESSERTS",  "all day")                                \
  X("P1030", "Pancakes",                    "BREAKFAST", "breakfast")                              \
  X("P1031", "Breakfast Muffin",            "BREAKFAST", "breakfast")                              \
  X("P1032", "Sausage Biscuit",             "BREAKFAST", "breakfast")                              \
  X("P1033", "Hash Brown",                  "BREAKFAST", "breakfast")                              \
  X("P1034", "Breakfast Burrito",           "BREAKFAST", "breakfast")                              \
  X("P1035", "Green Chile Burger",          "BURGERS",   "regional special: US-WEST only")         \
  X("P1036", "Poutine",                     "SIDES",     "market CA only")                         \
  X("P1037", "Strawberry Shortcake Sundae", "DESSERTS",  "promotion: from 7 days after seed")      \
  X("P1038", "Buffalo Chicken Wrap",        "CHICKEN",   "regional special: US-EAST only")         \
  X("P1039", "Vanilla Shake",               "DESSERTS",  "all day; APP and DELIVERY only")
/* clang-format on */

#endif
