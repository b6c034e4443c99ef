/* The quail-uidlist file format and the directory stamps that let an
 * unchanged folder skip its rescan (see uidmap.h). Pure parsing and
 * stat calls; the syncing is in uidmap.c. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fmt.h"
#include "str.h"
#include "uidmap.h"

#define UIDMAP_MAGIC "QUAIL-UIDLIST "
#define STAMP_NUMS 12

static int dec_at(const char *p, size_t n, size_t *i, char end,
                  unsigned long long max, unsigned long long *v)
{
	size_t start = *i;

	while (*i < n && p[*i] >= '0' && p[*i] <= '9')
		(*i)++;
	if (*i == start || *i - start > 20 || *i >= n || p[*i] != end ||
	    !scan_ulong(p + start, *i - start, v) || *v > max)
		return 0;
	(*i)++;
	return 1;
}

static int num_at(const char *p, size_t n, size_t *i, char end,
                  unsigned long *v)
{
	unsigned long long x;

	if (!dec_at(p, n, i, end, 0xffffffffULL, &x) || x == 0)
		return 0;
	*v = (unsigned long)x;
	return 1;
}

/* The stamp's fields in file order. */
unsigned long long uidmap_stamp_get(const struct uidmap_stamp *st, int k)
{
	const struct uidmap_dirstamp *d = &st->d[k / 6];

	switch (k % 6) {
	case 0: return (unsigned long long)d->msec;
	case 1: return (unsigned long long)d->mnsec;
	case 2: return (unsigned long long)d->csec;
	case 3: return (unsigned long long)d->cnsec;
	case 4: return d->size;
	default: return d->ino;
	}
}

static void stamp_set(struct uidmap_stamp *st, int k, unsigned long long v)
{
	struct uidmap_dirstamp *d = &st->d[k / 6];

	switch (k % 6) {
	case 0: d->msec = (long long)v; break;
	case 1: d->mnsec = (long long)v; break;
	case 2: d->csec = (long long)v; break;
	case 3: d->cnsec = (long long)v; break;
	case 4: d->size = v; break;
	default: d->ino = v; break;
	}
}

static int head_parse(const char *p, size_t n, size_t *i,
                      struct uidmap_head *h)
{
	unsigned long long v;
	int k;

	memset(h, 0, sizeof *h);
	*i = sizeof UIDMAP_MAGIC - 1;
	if (n < *i + 2 || memcmp(p, UIDMAP_MAGIC, *i) ||
	    (p[*i] != '1' && p[*i] != '2') || p[*i + 1] != ' ')
		return 0;
	h->version = p[*i] - '0';
	*i += 2;
	if (!num_at(p, n, i, ' ', &h->validity))
		return 0;
	if (h->version == 1)
		return num_at(p, n, i, '\n', &h->next);
	if (!num_at(p, n, i, ' ', &h->next))
		return 0;
	for (k = 0; k < STAMP_NUMS; k++) {
		if (!dec_at(p, n, i, k < STAMP_NUMS - 1 ? ' ' : '\n',
		            0x7fffffffffffffffULL, &v))
			return 0;
		stamp_set(&h->stamp, k, v);
	}
	return 1;
}

int uidmap_parse(const char *p, size_t n, struct uidmap_head *h,
                 int (*line)(void *, unsigned long, const char *, size_t,
                             int),
                 void *arg)
{
	size_t i;
	unsigned long last = 0, uid;

	if (!head_parse(p, n, &i, h))
		return 0;
	while (i < n) {
		size_t e;
		int innew = 0;

		if (!num_at(p, n, &i, ' ', &uid) || uid <= last || uid >= h->next)
			return 0;
		if (h->version == 2 && n - i > 4 && !memcmp(p + i, "new/", 4)) {
			innew = 1;
			i += 4;
		}
		e = i + byte_chr(p + i, n - i, '\n');
		if (e == n || e == i || e - i > UIDMAP_NAME_MAX ||
		    memchr(p + i, '/', e - i) || memchr(p + i, 0, e - i) ||
		    p[i] == '.' ||
		    (h->version == 1 && memchr(p + i, ':', e - i)))
			return 0;
		if (!line(arg, uid, p + i, e - i, innew))
			return 0;
		last = uid;
		i = e + 1;
	}
	return 1;
}

static void dirstamp_of(struct uidmap_dirstamp *d, const struct stat *st)
{
	d->msec = (long long)st->st_mtim.tv_sec;
	d->mnsec = st->st_mtim.tv_nsec;
	d->csec = (long long)st->st_ctim.tv_sec;
	d->cnsec = st->st_ctim.tv_nsec;
	d->size = (unsigned long long)st->st_size;
	d->ino = (unsigned long long)st->st_ino;
}

int uidmap_stamp_take(const char *dir, struct uidmap_stamp *st)
{
	static const char *const sub[2] = { "new", "cur" };
	struct str p = STR_ZERO;
	struct stat sb;
	int k, e;

	memset(st, 0, sizeof *st);
	for (k = 0; k < 2; k++) {
		if (!uidmap_path(&p, dir, sub[k], 0)) {
			str_free(&p);
			errno = ENOMEM;
			return -1;
		}
		if (stat(p.s, &sb) < 0) {
			e = errno;
			str_free(&p);
			memset(st, 0, sizeof *st);
			errno = e;
			return -1;
		}
		dirstamp_of(&st->d[k], &sb);
	}
	str_free(&p);
	return 0;
}

/* t is at least UIDMAP_TRUST_SECS before now. */
static int time_old(long long sec, long long nsec, const struct timespec *now)
{
	long long ns = ((long long)now->tv_sec - sec) * 1000000000LL +
	               ((long long)now->tv_nsec - nsec);

	return sec > 0 && (long long)now->tv_sec - sec < 1000000000LL &&
	       ns >= UIDMAP_TRUST_SECS * 1000000000LL;
}

int uidmap_stamp_trusted(const struct uidmap_stamp *st,
                         const struct timespec *now)
{
	int k;

	/* ctime need only match: once mtime is old, any change sets it */
	for (k = 0; k < 2; k++)
		if (!st->d[k].ino ||
		    !time_old(st->d[k].msec, st->d[k].mnsec, now) ||
		    st->d[k].csec <= 0)
			return 0;
	return 1;
}

int uidmap_stamp_eq(const struct uidmap_stamp *a, const struct uidmap_stamp *b)
{
	int k;

	for (k = 0; k < 2; k++)
		if (a->d[k].msec != b->d[k].msec || a->d[k].mnsec != b->d[k].mnsec ||
		    a->d[k].csec != b->d[k].csec || a->d[k].cnsec != b->d[k].cnsec ||
		    a->d[k].size != b->d[k].size || a->d[k].ino != b->d[k].ino)
			return 0;
	return 1;
}

int uidmap_may_skip(const struct uidmap_stamp *file,
                    const struct uidmap_stamp *disk,
                    const struct timespec *now)
{
	return uidmap_stamp_eq(file, disk) && uidmap_stamp_trusted(disk, now);
}

static unsigned long long lead_num(const char *s, size_t *i)
{
	unsigned long long v = 0;

	while (s[*i] >= '0' && s[*i] <= '9' && v < 1000000000000ULL)
		v = v * 10 + (unsigned long long)(s[(*i)++] - '0');
	return v;
}

int uidmap_arrival_cmp(const char *a, const char *b)
{
	size_t i = 0, j = 0;
	unsigned long long sa = lead_num(a, &i), sb = lead_num(b, &j);
	unsigned long long ua = 0, ub = 0;

	if (sa != sb)
		return sa < sb ? -1 : 1;
	if (a[i] == '.' && a[i + 1] == 'M') {
		i += 2;
		ua = lead_num(a, &i);
	}
	if (b[j] == '.' && b[j + 1] == 'M') {
		j += 2;
		ub = lead_num(b, &j);
	}
	if (ua != ub)
		return ua < ub ? -1 : 1;
	return strcmp(a, b);
}
