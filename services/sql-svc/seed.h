/* Data for the local stack and for load/EXPLAIN checks: `sql-svc seed-demo` (a small,
 * hand-shaped data set exercising every rule scope) and `sql-svc generate` (a realistic large
 * one). Both only insert reference data that is missing and skip rules already seeded. */
#ifndef SQL_SEED_H
#define SQL_SEED_H

#include <mysql.h>

#include "common/status.h"

menu_status seed_demo(MYSQL *m);

typedef struct {
  int markets, regions, restaurants, products, rules;
} seed_sizes;

/* 30 markets, 120 regions, 2,000 restaurants, 5,000 products, 300,000 rules. */
void seed_sizes_default(seed_sizes *s);
menu_status seed_generate(MYSQL *m, const seed_sizes *s);

#endif
