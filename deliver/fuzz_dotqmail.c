/* libFuzzer target: the dot-qmail parser and the .qmail file search must
 * stay inside their input and keep their promises for any bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dotqmail.h"

static void check_lines(const char *p, size_t n)
{
	struct dotqmail d;
	struct dotqmail_line l;
	unsigned long last = 0;
	int r;

	dotqmail_init(&d, p, n);
	while ((r = dotqmail_next(&d, &l)) == 1) {
		if (l.arg < p || l.arg + l.len > p + n || !l.len ||
		    l.line <= last || l.type < DQ_PROGRAM || l.type > DQ_MBOX)
			abort();
		if (memchr(l.arg, '\n', l.len) || memchr(l.arg, 0, l.len))
			abort();
		last = l.line;
	}
	if (r == -1 && d.error == DQ_OK)
		abort();
	if (d.pos > n)
		abort();
}

static void check_candidates(const char *p, size_t n)
{
	struct str safe = STR_ZERO, name = STR_ZERO;
	size_t k;
	long def;

	if (!dotqmail_safeext(&safe, p, n))
		abort();
	if (memchr(safe.s ? safe.s : "", '/', safe.len) ||
	    memchr(safe.s ? safe.s : "", '.', safe.len))
		abort();
	for (k = 0; dotqmail_candidate(&name, "-", &safe, k, &def) == 1; k++)
		if (def > (long)safe.len || k > n + 1)
			abort();
	str_free(&safe);
	str_free(&name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_lines((const char *)data, size);
	if (size <= 256)
		check_candidates((const char *)data, size);
	return 0;
}
