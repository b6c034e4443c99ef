/* quail-send's table of remote destinations (see dest.h). */
#include <stdlib.h>
#include <string.h>

#include "dest.h"
#include "fmt.h"

#define DEST_HASH 1024

static struct dest *table[DEST_HASH];

static unsigned dest_hash(const char *p, size_t n)
{
	unsigned h = 5381;
	size_t i;

	for (i = 0; i < n; i++)
		h = h * 33 + (unsigned char)case_lower(p[i]);
	return h % DEST_HASH;
}

struct dest *dest_get(const char *domain, size_t len)
{
	struct dest **slot = &table[dest_hash(domain, len)], *d;

	for (d = *slot; d; d = d->next)
		if (strlen(d->name) == len && case_eqb(d->name, domain, len))
			return d;
	d = calloc(1, sizeof *d);
	if (!d || !(d->name = malloc(len + 1))) {
		free(d);
		return 0;
	}
	memcpy(d->name, domain, len);
	d->name[len] = 0;
	case_lowerb(d->name, len);
	d->next = *slot;
	*slot = d;
	return d;
}

void dest_result(struct dest *d, int ok, long long now)
{
	long long rest = DEST_BACKOFF_MIN;
	unsigned i;

	if (ok) {
		d->fails = 0;
		d->until = 0;
		return;
	}
	d->fails++;
	for (i = 1; i < d->fails && rest < DEST_BACKOFF_MAX; i++)
		rest *= 2;
	d->until = now + (rest < DEST_BACKOFF_MAX ? rest : DEST_BACKOFF_MAX);
}

void dest_sweep(long long now)
{
	struct dest **p, *d;
	size_t i;

	for (i = 0; i < DEST_HASH; i++)
		for (p = &table[i]; (d = *p) != 0;) {
			if (d->running || d->until > now) {
				p = &d->next;
				continue;
			}
			*p = d->next;
			free(d->name);
			free(d);
		}
}
