/* Days from a civil date: H. Hinnant's days_from_civil (eras of 400 years, March-based years
 * so that the leap day ends the year). */
#include "common/civil_time.h"

int64_t civil_to_unix_seconds(int64_t year, unsigned month, unsigned day, unsigned hour,
                              unsigned minute, unsigned second) {
  int64_t y = year - (month <= 2);
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;                                                 /* [0, 399] */
  int64_t doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1; /* [0, 365] */
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;                         /* [0, 146096] */
  int64_t days = era * 146097 + doe - 719468;
  return days * 86400 + (int64_t)hour * 3600 + (int64_t)minute * 60 + (int64_t)second;
}
