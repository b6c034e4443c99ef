/* The Maildir as a POP3 maildrop (see maildrop.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>              /* renameat only */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fmt.h"
#include "io.h"
#include "maildir.h"
#include "maildrop.h"
#include "popcmd.h"

#define SIZE_BUF 65536          /* reads when counting a size */
#define NAME_MAX_LEN 1024       /* longer names are skipped */

const char *maildrop_name(const struct maildrop *d, size_t i)
{
	return d->names.s + d->m[i].name;
}

/* The CRLF size of a file without ",W=": read it once. */
static int count_size(int dir, const char *name, unsigned long long *size)
{
	char buf[SIZE_BUF];
	struct pop_size s;
	ssize_t r;
	int fd = openat(dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return -1;
	pop_size_init(&s);
	while ((r = read(fd, buf, sizeof buf)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		pop_size_add(&s, buf, (size_t)r);
	}
	close(fd);
	*size = pop_size_end(&s);
	return 0;
}

static int add(struct maildrop *d, const char *name, size_t n)
{
	unsigned long long s, w;
	struct maildrop_msg *m;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 256;

		if (cap > MAILDROP_MAX) {
			errno = EFBIG;
			return -1;
		}
		m = realloc(d->m, cap * sizeof *m);
		if (!m)
			return -1;
		d->m = m;
		d->cap = cap;
	}
	m = &d->m[d->n];
	if (maildir_name_sizes(name, n, &s, &w) & MAILDIR_HAS_W)
		m->size = w;
	else if (count_size(d->cur, name, &m->size) < 0)
		/* gone already (another session took it): not ours to list */
		return errno == ENOENT ? 0 : -1;
	m->name = d->names.len;
	m->deleted = 0;
	m->retrieved = 0;
	if (!str_catb(&d->names, name, n + 1)) {
		errno = ENOMEM;
		return -1;
	}
	if (__builtin_add_overflow(d->total, m->size, &d->total)) {
		errno = EFBIG;
		return -1;
	}
	d->n++;
	return 0;
}

/* One directory is read at a time: one buffer serves them all. */
static struct io_dir dirbuf;

static int skip(const char *name, size_t n)
{
	return name[0] == '.' || n == 0 || n > NAME_MAX_LEN;
}

/* new/NAME -> cur/NAME:2, ; a name another session moved first is
 * fine: it shows up in cur/. */
static int take_new(struct maildrop *d, int top)
{
	struct str to = STR_ZERO;
	const char *name;
	size_t n;
	int ok = 0;

	if (io_dir_open(&dirbuf, top, "new") < 0)
		return -1;
	while ((name = io_dir_next(&dirbuf, &n)) != 0) {
		if (skip(name, n))
			continue;
		if (!str_copyb(&to, name, n) ||
		    (!memchr(name, ':', n) && !str_cats(&to, ":2,")) ||
		    !str_0(&to)) {
			errno = ENOMEM;
			ok = -1;
			break;
		}
		if (renameat(dirbuf.fd, name, d->cur, to.s) < 0 &&
		    errno != ENOENT) {
			ok = -1;
			break;
		}
	}
	if (ok == 0 && errno)
		ok = -1;
	str_free(&to);
	io_dir_close(&dirbuf);
	return ok;
}

static int scan_cur(struct maildrop *d)
{
	const char *name;
	size_t n;
	int ok = 0;

	if (io_dir_open(&dirbuf, d->cur, ".") < 0)
		return -1;
	while ((name = io_dir_next(&dirbuf, &n)) != 0) {
		if (skip(name, n))
			continue;
		if (add(d, name, n) < 0) {
			ok = -1;
			break;
		}
	}
	if (ok == 0 && errno)
		ok = -1;
	io_dir_close(&dirbuf);
	return ok;
}

/* Oldest first without a stat per file: unique names start with the
 * delivery time in seconds; ties (and other names) by name. */
static int cmp(const char *x, const char *y)
{
	size_t xn = 0, yn = 0;

	while (x[xn] >= '0' && x[xn] <= '9')
		xn++;
	while (y[yn] >= '0' && y[yn] <= '9')
		yn++;
	if (xn && yn) {
		size_t xs = 0, ys = 0;

		while (xs < xn - 1 && x[xs] == '0')
			xs++;
		while (ys < yn - 1 && y[ys] == '0')
			ys++;
		if (xn - xs != yn - ys)
			return xn - xs < yn - ys ? -1 : 1;
		if (memcmp(x + xs, y + ys, xn - xs))
			return memcmp(x + xs, y + ys, xn - xs);
	}
	return strcmp(x, y);
}

/* The sort works on (time, message) pairs, the time parsed once per
 * name: NOTIME where there is none (or it is too long for 64 bits),
 * and cmp decides. */
#define NOTIME (~0ULL)

struct ord {
	unsigned long long t;
	size_t i;
};

static unsigned long long name_time(const char *x)
{
	unsigned long long t = 0;
	size_t n;

	for (n = 0; x[n] >= '0' && x[n] <= '9'; n++) {
		if (n == 19)
			return NOTIME;
		t = t * 10 + (unsigned long long)(x[n] - '0');
	}
	return n ? t : NOTIME;
}

static int ord_le(const struct maildrop *d, const struct ord *a,
                  const struct ord *b)
{
	if (a->t != NOTIME && b->t != NOTIME && a->t != b->t)
		return a->t < b->t;
	return cmp(maildrop_name(d, a->i), maildrop_name(d, b->i)) <= 0;
}

/* A bottom-up merge sort of d->m (qsort's cost varies too much between
 * C libraries on 100,000 names): 0, or -1 out of memory. */
static int sort(struct maildrop *d)
{
	struct ord *a = malloc(d->n * sizeof *a), *b = malloc(d->n * sizeof *b);
	struct maildrop_msg *m = malloc(d->n * sizeof *m);
	size_t w, i, l, r, lend, rend, k;
	struct ord *t;

	if (!a || !b || !m) {
		free(a);
		free(b);
		free(m);
		errno = ENOMEM;
		return -1;
	}
	for (i = 0; i < d->n; i++) {
		a[i].t = name_time(maildrop_name(d, i));
		a[i].i = i;
	}
	for (w = 1; w < d->n; w *= 2) {
		for (i = 0; i < d->n; i += 2 * w) {
			l = i;
			lend = r = i + w < d->n ? i + w : d->n;
			rend = r + w < d->n ? r + w : d->n;
			for (k = i; k < rend; k++)
				b[k] = l < lend && (r == rend ||
				                    ord_le(d, &a[l], &a[r])) ?
				       a[l++] : a[r++];
		}
		t = a, a = b, b = t;
	}
	for (i = 0; i < d->n; i++)
		m[i] = d->m[a[i].i];
	free(d->m);
	d->m = m;
	d->cap = d->n;
	free(a);
	free(b);
	return 0;
}

int maildrop_open(struct maildrop *d, const char *path, const char **what)
{
	int top, r;

	*what = "open";
	top = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (top < 0)
		return -1;
	*what = "cur";
	d->cur = openat(top, "cur", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->cur >= 0)
		*what = "new";
	r = d->cur < 0 ? -1 : take_new(d, top);
	close(top);
	if (r < 0)
		return -1;
	*what = "scan";
	if (scan_cur(d) < 0)
		return -1;
	*what = "sort";
	return d->n > 1 ? sort(d) : 0;
}

/* Message i vanished under its name: look for the same unique part
 * under another one (new flags) and adopt that name. */
static int find_renamed(struct maildrop *d, size_t i)
{
	const char *old = maildrop_name(d, i), *name;
	size_t base = maildir_name_base(old, strlen(old)), n;
	int found = -1;

	if (io_dir_open(&dirbuf, d->cur, ".") < 0)
		return -1;
	while ((name = io_dir_next(&dirbuf, &n)) != 0) {
		if (skip(name, n) || maildir_name_base(name, n) != base ||
		    memcmp(name, old, base) != 0)
			continue;
		if (str_catb(&d->names, name, n + 1)) {
			d->m[i].name = d->names.len - n - 1;
			found = 0;
		}
		break;
	}
	io_dir_close(&dirbuf);
	errno = ENOENT;
	return found;
}

int maildrop_msgopen(struct maildrop *d, size_t i)
{
	int fd = openat(d->cur, maildrop_name(d, i),
	                O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd >= 0 || errno != ENOENT)
		return fd;
	if (find_renamed(d, i) < 0)
		return -1;
	return openat(d->cur, maildrop_name(d, i),
	              O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
}

void maildrop_dele(struct maildrop *d, size_t i)
{
	if (d->m[i].deleted)
		return;
	d->m[i].deleted = 1;
	d->ndeleted++;
	d->total -= d->m[i].size;
}

void maildrop_rset(struct maildrop *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (d->m[i].deleted) {
			d->m[i].deleted = 0;
			d->total += d->m[i].size;
		}
	d->ndeleted = 0;
}

size_t maildrop_commit(struct maildrop *d, size_t *removed)
{
	size_t i, failed = 0;
	int err = 0;

	*removed = 0;
	for (i = 0; i < d->n; i++) {
		if (!d->m[i].deleted)
			continue;
		if (unlinkat(d->cur, maildrop_name(d, i), 0) == 0)
			(*removed)++;
		else if (errno == ENOENT && find_renamed(d, i) == 0 &&
		         unlinkat(d->cur, maildrop_name(d, i), 0) == 0)
			(*removed)++;
		else if (errno != ENOENT) {
			failed++;
			err = errno;
		}
	}
	errno = err;
	return failed;
}

void maildrop_free(struct maildrop *d)
{
	if (d->cur >= 0)
		close(d->cur);
	d->cur = -1;
	str_free(&d->names);
	free(d->m);
	d->m = 0;
	d->n = d->cap = 0;
}
