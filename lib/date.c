/* RFC 5322 dates, without stdio or locale. */
#include <string.h>

#include "date.h"
#include "fmt.h"

static size_t two(char *p, int v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
	return 2;
}

size_t date_rfc822(char buf[DATE_RFC822], time_t t)
{
	static const char days[] = "SunMonTueWedThuFriSat";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct tm tm;
	long off;
	size_t n = 0;

	/* a time no calendar can show (or a year past 9999) prints as the
	 * epoch rather than overflow buf */
	if ((!localtime_r(&t, &tm) && !gmtime_r(&t, &tm)) ||
	    tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) {
		t = 0;
		gmtime_r(&t, &tm);
	}
	off = tm.tm_gmtoff / 60;
	memcpy(buf, days + 3 * tm.tm_wday, 3);
	n = 3;
	buf[n++] = ',';
	buf[n++] = ' ';
	n += fmt_ulong(buf + n, (unsigned long long)tm.tm_mday);
	buf[n++] = ' ';
	memcpy(buf + n, months + 3 * tm.tm_mon, 3);
	n += 3;
	buf[n++] = ' ';
	n += fmt_ulong(buf + n, (unsigned long long)(tm.tm_year + 1900));
	buf[n++] = ' ';
	n += two(buf + n, tm.tm_hour);
	buf[n++] = ':';
	n += two(buf + n, tm.tm_min);
	buf[n++] = ':';
	n += two(buf + n, tm.tm_sec);
	buf[n++] = ' ';
	buf[n++] = off < 0 ? '-' : '+';
	if (off < 0)
		off = -off;
	n += two(buf + n, (int)(off / 60));
	n += two(buf + n, (int)(off % 60));
	return n;
}
