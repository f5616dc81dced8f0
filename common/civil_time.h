/* UTC calendar arithmetic without the C library's time-zone machinery: the proleptic
 * Gregorian calendar as timegm counts it, in a handful of integer operations (timegm normalises
 * through mktime's search and costs as much as the rest of mapping a row). Pure: thread-safe. */
#ifndef MENU_CIVIL_TIME_H
#define MENU_CIVIL_TIME_H

#include <stdint.h>

/* Seconds since 1970-01-01T00:00:00Z of a UTC date and time. month is 1-12; day, hour,
 * minute and second carry into the next unit when past their range (day 31 of a 30-day month
 * is the 1st of the next, second 60 the next minute), as timegm does. */
int64_t civil_to_unix_seconds(int64_t year, unsigned month, unsigned day, unsigned hour,
                              unsigned minute, unsigned second);

#endif
