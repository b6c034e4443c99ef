#ifndef QUAIL_DATE_H
#define QUAIL_DATE_H

#include <stddef.h>
#include <time.h>

/* "Wed, 25 Nov 2026 13:42:54 +0000" (RFC 5322 date-time), local time with
 * its offset. Returns the length; no NUL. */
#define DATE_RFC822 40
size_t date_rfc822(char buf[DATE_RFC822], time_t);

#endif
