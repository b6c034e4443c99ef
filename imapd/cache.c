/* The per-folder cache of ENVELOPE, BODYSTRUCTURE and the header fields
 * SEARCH compares (see cache.h): the file's format, reading it lazily
 * through a window, new entries held in memory, and the rewrite through
 * a unique file in the folder's tmp/ renamed over quail-cache. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>              /* rename */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "fmt.h"
#include "io.h"
#include "le.h"
#include "uniq.h"

#define CACHE_IDX 8             /* bytes of an index record */
#define CACHE_U32 0xffffffffUL

static const char *const field_names[CF_N] = {
	0, 0, 0, "Subject", "From", "To", "Cc", "Bcc", "Date", "Message-ID"
};

const char *cache_field_name(int k)
{
	return k >= CF_SUBJECT && k < CF_N ? field_names[k] : 0;
}

int cache_field_find(const char *name, size_t n)
{
	int k;

	for (k = CF_SUBJECT; k < CF_N; k++)
		if (strlen(field_names[k]) == n && case_eqb(name, field_names[k], n))
			return k;
	return -1;
}

/* -- bytes ------------------------------------------------------------- */

static size_t file_max(const struct cache *c)
{
	return c->filemax ? c->filemax : CACHE_FILE_MAX;
}

/* Not cryptographic: it catches a damaged file (the file is not fsync'd,
 * so a crash may leave blocks of zeros), not a forged one, which its
 * owner could as well write into the messages. Eight bytes a step keeps
 * it a small part of reading an entry. */
static uint32_t sum(const unsigned char *p, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		h = (h ^ le_get64(p + i)) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	for (; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	h ^= h >> 29;
	return (uint32_t)h;
}

/* All n bytes at off, or -1 (EIO: the file is shorter than its index
 * says). */
static int pread_all(int fd, void *buf, size_t n, size_t off)
{
	ssize_t k = io_preadall(fd, buf, n, (off_t)off);

	if (k >= 0 && (size_t)k != n)
		errno = EIO;
	return k >= 0 && (size_t)k == n ? 0 : -1;
}

/* -- entries ----------------------------------------------------------- */

static int ent_ok(const struct cache_ent *e)
{
	return e->uid && e->uid <= CACHE_U32 && e->baselen <= CACHE_BASE_MAX &&
	       !(e->known & ~CF_ALL) &&
	       !(e->absent & ~(e->known & CF_HEADERS));
}

int cache_ent_encode(struct str *out, const struct cache_ent *e)
{
	unsigned char h[CACHE_ENT_HEAD], l[4];
	unsigned present = e->known & ~e->absent;
	size_t start = out->len;
	int k;

	if (!ent_ok(e))
		return 0;
	memset(h, 0, sizeof h);
	le_put32(h, (uint32_t)e->uid);
	le_put64(h + 8, e->fsize);
	le_put64(h + 16, e->csize);
	le_put16(h + 24, (uint16_t)e->baselen);
	le_put16(h + 26, (uint16_t)e->known);
	le_put16(h + 28, (uint16_t)e->absent);
	if (!str_catb(out, (const char *)h, sizeof h) ||
	    !str_catb(out, e->base, e->baselen))
		goto fail;
	for (k = 0; k < CF_N; k++) {
		if (!(present & CF_BIT(k)))
			continue;
		if (e->flen[k] > CACHE_U32)
			goto fail;
		le_put32(l, (uint32_t)e->flen[k]);
		if (!str_catb(out, (const char *)l, 4) ||
		    !str_catb(out, e->f[k], e->flen[k]))
			goto fail;
	}
	le_put32((unsigned char *)out->s + start + 4,
	         sum((const unsigned char *)out->s + start + 8,
	             out->len - start - 8));
	return 1;
fail:
	out->len = start;
	return 0;
}

static int ent_fields(const char *p, size_t n, size_t i, struct cache_ent *e)
{
	const unsigned char *u = (const unsigned char *)p;
	unsigned present = e->known & ~e->absent;
	int k;

	for (k = 0; k < CF_N; k++) {
		size_t len;

		if (!(present & CF_BIT(k)))
			continue;
		if (n - i < 4)
			return 0;
		len = le_get32(u + i);
		i += 4;
		if (len > n - i)
			return 0;
		e->f[k] = p + i;
		e->flen[k] = len;
		i += len;
	}
	return i == n;
}

int cache_ent_decode(const char *p, size_t n, unsigned long uid,
                     struct cache_ent *e)
{
	const unsigned char *u = (const unsigned char *)p;

	if (n < CACHE_ENT_HEAD || uid == 0 || le_get32(u) != uid ||
	    le_get32(u + 4) != sum(u + 8, n - 8) || le_get16(u + 30) != 0)
		return 0;
	memset(e, 0, sizeof *e);
	e->uid = uid;
	e->fsize = le_get64(u + 8);
	e->csize = le_get64(u + 16);
	e->baselen = le_get16(u + 24);
	e->known = le_get16(u + 26);
	e->absent = le_get16(u + 28);
	if (!ent_ok(e) || e->baselen > n - CACHE_ENT_HEAD)
		return 0;
	e->base = p + CACHE_ENT_HEAD;
	return ent_fields(p, n, CACHE_ENT_HEAD + e->baselen, e);
}

int cache_ent_matches(const struct cache_ent *e, const char *base,
                      size_t baselen, unsigned long long fsize)
{
	return e->baselen == baselen && e->fsize == fsize &&
	       memcmp(e->base, base, baselen) == 0;
}

/* -- the file ---------------------------------------------------------- */

static void file_drop(struct cache *c)
{
	if (c->open)
		close(c->fd);
	c->open = 0;
	c->fd = -1;
	free(c->idx);
	c->idx = 0;
	c->n = c->total = 0;
	c->win.len = c->winoff = 0;
}

static unsigned long idx_uid(const struct cache *c, size_t i)
{
	return le_get32(c->idx + i * CACHE_IDX);
}

static size_t idx_off(const struct cache *c, size_t i)
{
	return i < c->n ? le_get32(c->idx + i * CACHE_IDX + 4) : c->total;
}

/* Entries follow the index without gaps, each at least a head long,
 * uids ascending: then every span read later lies inside the file. */
static int index_ok(const struct cache *c)
{
	size_t i, at = CACHE_HEAD + c->n * CACHE_IDX;
	unsigned long last = 0;

	for (i = 0; i < c->n; i++) {
		size_t off = idx_off(c, i), end = idx_off(c, i + 1);

		if (idx_uid(c, i) <= last || off != at || end < off ||
		    end - off < CACHE_ENT_HEAD)
			return 0;
		last = idx_uid(c, i);
		at = end;
	}
	return at == c->total;
}

static int head_ok(const unsigned char *h, const struct cache *c,
                   size_t size, size_t *n)
{
	*n = le_get32(h + 12);
	return memcmp(h, CACHE_MAGIC, 8) == 0 && c->validity <= CACHE_U32 &&
	       le_get32(h + 8) == c->validity && le_get32(h + 16) == size &&
	       le_get32(h + 20) == 0 && *n <= (size - CACHE_HEAD) / CACHE_IDX &&
	       *n <= CACHE_ENTRIES_MAX;
}

int cache_attach(struct cache *c, int fd)
{
	unsigned char h[CACHE_HEAD];
	struct stat st;
	size_t n, size;

	file_drop(c);
	c->looked = 1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size < CACHE_HEAD ||
	    (unsigned long long)st.st_size > file_max(c))
		goto bad;
	size = (size_t)st.st_size;
	if (pread_all(fd, h, CACHE_HEAD, 0) < 0 || !head_ok(h, c, size, &n))
		goto bad;
	c->idx = malloc(n ? n * CACHE_IDX : 1);
	if (!c->idx || pread_all(fd, c->idx, n * CACHE_IDX, CACHE_HEAD) < 0)
		goto bad;
	c->fd = fd;
	c->open = 1;
	c->n = n;
	c->total = size;
	if (index_ok(c))
		return 1;
	file_drop(c);
	return 0;
bad:
	free(c->idx);
	c->idx = 0;
	close(fd);
	return 0;
}

static int path_make(struct str *p, const char *dir, const char *a,
                     const char *b)
{
	p->len = 0;
	return str_cats(p, dir) && str_catc(p, '/') && str_cats(p, a) &&
	       str_cats(p, b) && str_0(p);
}

/* Opens the file the first time it is wanted. Trouble only means no
 * cache; the next rewrite replaces whatever is there. */
static void file_load(struct cache *c)
{
	struct str p = STR_ZERO;
	int fd;

	c->looked = 1;
	if (!path_make(&p, c->dir, CACHE_FILE, "")) {
		str_free(&p);
		return;
	}
	/* not a FIFO or a link someone left there to hang or fool us */
	fd = open(p.s, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	str_free(&p);
	if (fd >= 0)
		cache_attach(c, fd);
}

/* The first of n ascending uids at(c, 0..n) not below uid. */
static size_t uid_bound(const struct cache *c, size_t n, unsigned long uid,
                        unsigned long (*at)(const struct cache *, size_t))
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (at(c, mid) < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int idx_find(const struct cache *c, unsigned long uid, size_t *i)
{
	*i = uid_bound(c, c->n, uid, idx_uid);
	return *i < c->n && idx_uid(c, *i) == uid;
}

/* off..off+len of the file through the window: NULL on a read error. */
static const char *file_bytes(struct cache *c, size_t off, size_t len)
{
	size_t want;

	if (off >= c->winoff && len <= c->win.len &&
	    off - c->winoff <= c->win.len - len)
		return c->win.s + (off - c->winoff);
	want = c->total - off;
	if (want > CACHE_WINDOW)
		want = CACHE_WINDOW;
	if (want < len)
		want = len;
	c->win.len = 0;
	if (!str_ready(&c->win, want) ||
	    pread_all(c->fd, c->win.s, want, off) < 0)
		return 0;
	c->winoff = off;
	c->win.len = want;
	return c->win.s;
}

/* -- new entries ------------------------------------------------------- */

static unsigned long new_uid(const struct cache *c, size_t i)
{
	return c->nw[i].uid;
}

static int new_find(const struct cache *c, unsigned long uid, size_t *i)
{
	/* entries mostly come in ascending order: try the end first */
	if (c->nn && c->nw[c->nn - 1].uid < uid) {
		*i = c->nn;
		return 0;
	}
	*i = uid_bound(c, c->nn, uid, new_uid);
	return *i < c->nn && c->nw[*i].uid == uid;
}

static int new_grow(struct cache *c)
{
	struct cache_new *p;
	size_t cap;

	if (c->nn < c->ncap)
		return 1;
	cap = c->ncap ? c->ncap : 256;
	if (c->ncap && __builtin_mul_overflow(c->ncap, 2, &cap))
		return 0;
	if (cap > SIZE_MAX / sizeof *p)
		return 0;
	p = realloc(c->nw, cap * sizeof *p);
	if (!p)
		return 0;
	c->nw = p;
	c->ncap = cap;
	return 1;
}

int cache_put(struct cache *c, const struct cache_ent *e)
{
	size_t start = c->add.len, len, i;

	if (!ent_ok(e))
		return 0;
	if (!cache_ent_encode(&c->add, e))
		return -1;
	len = c->add.len - start;
	/* what is held in memory obeys the file's limit too */
	if (len > CACHE_ENTRY_MAX || c->add.len > file_max(c)) {
		c->add.len = start;
		return 0;
	}
	if (new_find(c, e->uid, &i)) {
		c->nw[i].off = start;   /* the old bytes stay, unused */
		c->nw[i].len = len;
		return 1;
	}
	if (c->nn >= CACHE_ENTRIES_MAX) {
		c->add.len = start;
		return 0;
	}
	if (!new_grow(c)) {
		c->add.len = start;
		return -1;
	}
	memmove(c->nw + i + 1, c->nw + i, (c->nn - i) * sizeof *c->nw);
	c->nw[i].uid = e->uid;
	c->nw[i].off = start;
	c->nw[i].len = len;
	c->nn++;
	return 1;
}

/* Freed, not kept for reuse: after a FETCH of a large folder they hold
 * megabytes an idle session should not. */
static void new_drop(struct cache *c)
{
	str_free(&c->add);
	free(c->nw);
	c->nw = 0;
	c->nn = c->ncap = 0;
}

int cache_get(struct cache *c, unsigned long uid, struct cache_ent *e)
{
	size_t i, off, len;
	const char *p;

	if (new_find(c, uid, &i))
		return cache_ent_decode(c->add.s + c->nw[i].off, c->nw[i].len,
		                        uid, e);
	if (!c->looked && c->dir)
		file_load(c);
	if (!c->open || !idx_find(c, uid, &i))
		return 0;
	off = idx_off(c, i);
	len = idx_off(c, i + 1) - off;
	if (len <= CACHE_ENTRY_MAX && (p = file_bytes(c, off, len)) &&
	    cache_ent_decode(p, len, uid, e))
		return 1;
	/* one bad entry and the rest of the file is suspect too */
	file_drop(c);
	return 0;
}

/* -- writing ----------------------------------------------------------- */

/* The entries of the file to write: file and new ones merged by uid (a
 * new entry replaces the file's), those keep refuses left out. */
struct merge {
	size_t i, j;            /* next in the file, in the new entries */
	unsigned long uid;
	size_t len;
	int isnew;
	size_t at;              /* index in the file or the new entries */
};

static int merge_next(struct cache *c, struct merge *m, cache_keep_fn *keep,
                      void *arg)
{
	for (;;) {
		int f = m->i < c->n, nw = m->j < c->nn;
		unsigned long fu = f ? idx_uid(c, m->i) : 0;

		if (!f && !nw)
			return 0;
		if (nw && (!f || c->nw[m->j].uid <= fu)) {
			if (f && c->nw[m->j].uid == fu)
				m->i++;
			m->isnew = 1;
			m->at = m->j++;
			m->uid = c->nw[m->at].uid;
			m->len = c->nw[m->at].len;
		} else {
			m->isnew = 0;
			m->at = m->i++;
			m->uid = fu;
			m->len = idx_off(c, m->at + 1) - idx_off(c, m->at);
		}
		/* an oversized file entry would only be refused when read */
		if (m->len <= CACHE_ENTRY_MAX && (!keep || keep(arg, m->uid)))
			return 1;
	}
}

/* How many of the first merged entries to leave out so the file stays
 * within its limits (the oldest go), and the count and bytes left. */
static void merge_plan(struct cache *c, cache_keep_fn *keep, void *arg,
                       size_t *skip, size_t *count, size_t *bytes)
{
	struct merge m = { 0, 0, 0, 0, 0, 0 };
	size_t total = CACHE_HEAD;

	*skip = *count = 0;
	while (merge_next(c, &m, keep, arg)) {
		(*count)++;
		/* no overflow: file and new entries are each at most
		 * file_max() bytes in all */
		total += CACHE_IDX + m.len;
	}
	memset(&m, 0, sizeof m);
	while ((total > file_max(c) || *count > CACHE_ENTRIES_MAX) &&
	       merge_next(c, &m, keep, arg)) {
		total -= CACHE_IDX + m.len;
		(*skip)++;
		(*count)--;
	}
	*bytes = total;
}

static int write_head(struct wr *w, const struct cache *c, size_t count,
                      size_t bytes)
{
	unsigned char h[CACHE_HEAD];

	memcpy(h, CACHE_MAGIC, 8);
	le_put32(h + 8, (uint32_t)c->validity);
	le_put32(h + 12, (uint32_t)count);
	le_put32(h + 16, (uint32_t)bytes);
	le_put32(h + 20, 0);
	return wr_put(w, (const char *)h, sizeof h);
}

static int write_index(struct wr *w, struct cache *c, cache_keep_fn *keep,
                       void *arg, size_t skip, size_t count)
{
	struct merge m = { 0, 0, 0, 0, 0, 0 };
	size_t k, off = CACHE_HEAD + count * CACHE_IDX;
	unsigned char r[CACHE_IDX];

	for (k = 0; k < skip + count && merge_next(c, &m, keep, arg); k++) {
		if (k < skip)
			continue;
		le_put32(r, (uint32_t)m.uid);
		le_put32(r + 4, (uint32_t)off);
		if (wr_put(w, (const char *)r, sizeof r) < 0)
			return -1;
		off += m.len;
	}
	return 0;
}

static int write_entries(struct wr *w, struct cache *c, cache_keep_fn *keep,
                         void *arg, size_t skip, size_t count)
{
	struct merge m = { 0, 0, 0, 0, 0, 0 };
	size_t k;

	for (k = 0; k < skip + count && merge_next(c, &m, keep, arg); k++) {
		const char *p;

		if (k < skip)
			continue;
		if (m.isnew)
			p = c->add.s + c->nw[m.at].off;
		else if (!(p = file_bytes(c, idx_off(c, m.at), m.len)))
			return -1;
		if (wr_put(w, p, m.len) < 0)
			return -1;
	}
	return 0;
}

int cache_write_fd(struct cache *c, int fd, cache_keep_fn *keep, void *arg)
{
	char buf[CACHE_WINDOW];
	struct wr w;
	size_t skip, count, bytes;

	wr_init(&w, fd, buf, sizeof buf, -1);
	merge_plan(c, keep, arg, &skip, &count, &bytes);
	if (write_head(&w, c, count, bytes) < 0 ||
	    write_index(&w, c, keep, arg, skip, count) < 0 ||
	    write_entries(&w, c, keep, arg, skip, count) < 0 ||
	    wr_flush(&w) < 0)
		return -1;
	return 0;
}

/* Written to a unique name in tmp/ (where a crash's leftover is cleaned
 * up like any other) and renamed into place: readers see the old file
 * or the new one, never a part. */
static int file_replace(struct cache *c, cache_keep_fn *keep, void *arg)
{
	struct str u = STR_ZERO, tmp = STR_ZERO, path = STR_ZERO;
	int fd, r = -1, e;

	if (!uniq_name(&u) || !str_cats(&u, ".quail-cache") || !str_0(&u) ||
	    !path_make(&tmp, c->dir, "tmp/", u.s) ||
	    !path_make(&path, c->dir, CACHE_FILE, "")) {
		errno = ENOMEM;
		goto out;
	}
	fd = open(tmp.s, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out;
	r = cache_write_fd(c, fd, keep, arg);
	e = errno;
	/* NFS may report a failed write only at close */
	if (close(fd) < 0 && r == 0) {
		r = -1;
		e = errno;
	}
	if (r == 0 && rename(tmp.s, path.s) < 0) {
		r = -1;
		e = errno;
	}
	if (r < 0)
		unlink(tmp.s);
	errno = e;
out:
	str_free(&u);
	str_free(&tmp);
	str_free(&path);
	return r;
}

int cache_flush(struct cache *c, size_t ratio, cache_keep_fn *keep,
                void *arg)
{
	int r;

	if (!c->dir || !c->nn)
		return 0;
	if (!c->looked)
		file_load(c);
	if (ratio && c->nn < c->n / ratio)
		return 0;
	r = file_replace(c, keep, arg);
	/* either way the new entries go: on file now, or to be made again
	 * rather than retried after every command */
	new_drop(c);
	if (r < 0)
		return -1;
	file_drop(c);
	c->looked = 0;          /* the next get reads the new file */
	return 1;
}

/* -- life -------------------------------------------------------------- */

void cache_free(struct cache *c)
{
	file_drop(c);
	new_drop(c);
	str_free(&c->win);
	free(c->dir);
	memset(c, 0, sizeof *c);
	c->fd = -1;
}

int cache_use(struct cache *c, const char *dir, unsigned long validity)
{
	size_t filemax = c->filemax;

	if (c->dir && strcmp(c->dir, dir) == 0 && c->validity == validity)
		return 0;
	/* another folder: what this one learnt is kept if worth a write;
	 * another validity: its uids mean other messages, nothing is kept */
	if (c->dir && strcmp(c->dir, dir) != 0)
		cache_flush(c, CACHE_CLOSE_RATIO, 0, 0);
	cache_free(c);
	c->dir = strdup(dir);
	if (!c->dir)
		return -1;
	c->validity = validity;
	c->filemax = filemax;
	return 0;
}
