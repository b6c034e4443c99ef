/* The quail-uidlist file and the directory stamps that let an
 * unchanged folder skip its rescan (see uidmap.h): the version 3 image,
 * checked and built; the version 1 and 2 text, parsed for the upgrade;
 * the file mapped (or read) from disk, and replaced. The syncing is in
 * uidmap.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>              /* rename */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "fmt.h"
#include "io.h"
#include "le.h"
#include "maildir.h"
#include "str.h"
#include "uidfile.h"
#include "uidmap.h"

#define UIDMAP_MAGIC "QUAIL-UIDLIST "
#define IMAGE_MAGIC "QUAIL-UIDLIST 3\n"
#define IMAGE_MAGIC_LEN 16
#define STAMP_NUMS 12
#define STAMP_AT 64             /* the stamp's offset in the header */
#define U32_MAX 0xffffffffUL

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

/* -- version 3 ------------------------------------------------------ */

int uidmap_is_image(const char *p, size_t n)
{
	return n >= IMAGE_MAGIC_LEN && !memcmp(p, IMAGE_MAGIC, IMAGE_MAGIC_LEN);
}

unsigned long uidmap_uid(const struct uidmap *m, size_t i)
{
	return le_get32(m->rec + i * UIDMAP_REC);
}

void uidmap_get(const struct uidmap *m, size_t i, struct uidmap_rec *r)
{
	const unsigned char *p = m->rec + i * UIDMAP_REC;
	unsigned fl = le_get32(p + 12);

	r->uid = le_get32(p);
	r->name = m->names + le_get32(p + 4);
	r->namelen = le_get16(p + 8);
	r->baselen = le_get16(p + 10);
	r->flags = fl & UIDMAP_FL_LETTERS;
	r->innew = (fl & UIDMAP_FL_NEW) != 0;
	r->recent = m->recent ? m->recent[i] : r->innew;
	r->modseq = le_get64(p + 16);
}

static int head_get(struct uidmap_head *h, const unsigned char *p, size_t n)
{
	int k;

	memset(h, 0, sizeof *h);
	if (!uidmap_is_image((const char *)p, n) || n < UIDMAP_HEAD ||
	    le_get32(p + 16) != UIDMAP_HEAD || le_get32(p + 20) != UIDMAP_REC ||
	    le_get32(p + 60) != 0)
		return 0;
	h->version = UIDMAP_VERSION;
	h->validity = le_get32(p + 24);
	h->next = le_get32(p + 28);
	h->modseq = le_get64(p + 32);
	h->n = le_get32(p + 40);
	h->nnew = le_get32(p + 44);
	h->unseen = le_get32(p + 48);
	h->firstunseen = le_get32(p + 52);
	h->nameslen = le_get32(p + 56);
	for (k = 0; k < STAMP_NUMS; k++) {
		unsigned long long v = le_get64(p + STAMP_AT + 8 * k);

		if (v > 0x7fffffffffffffffULL)
			return 0;
		stamp_set(&h->stamp, k, v);
	}
	return h->validity != 0 && h->next != 0 && h->modseq != 0;
}

/* Every record within bounds and in order, and the counts it implies
 * the header's. */
static int recs_check(const struct uidmap *m)
{
	const struct uidmap_head *h = &m->h;
	size_t i, nnew = 0, unseen = 0, first = 0;
	unsigned long last = 0;

	for (i = 0; i < h->n; i++) {
		const unsigned char *p = m->rec + i * UIDMAP_REC;
		unsigned long uid = le_get32(p);
		size_t off = le_get32(p + 4), nl = le_get16(p + 8);
		size_t bl = le_get16(p + 10);
		unsigned fl = le_get32(p + 12);
		unsigned long long ms = le_get64(p + 16);

		if (uid <= last || uid >= h->next || nl == 0 ||
		    nl > UIDMAP_NAME_MAX || bl == 0 || bl > nl ||
		    off >= h->nameslen || h->nameslen - off <= nl || ms == 0 ||
		    ms > h->modseq)
			return 0;
		nnew += (fl & UIDMAP_FL_NEW) != 0;
		if (!(fl & UIDMAP_FL_SEEN) && !unseen++)
			first = i + 1;
		last = uid;
	}
	return nnew == h->nnew && unseen == h->unseen && first == h->firstunseen;
}

int uidmap_image_head(struct uidmap *m, const unsigned char *p, size_t n)
{
	size_t want;

	m->checked = 0;
	if (!head_get(&m->h, p, n))
		return 0;
	/* the records and the names make up the rest exactly */
	if (__builtin_mul_overflow(m->h.n, (size_t)UIDMAP_REC, &want) ||
	    __builtin_add_overflow(want, (size_t)UIDMAP_HEAD, &want) ||
	    __builtin_add_overflow(want, m->h.nameslen, &want) || want != n)
		return 0;
	m->img = p;
	m->len = n;
	m->rec = p + UIDMAP_HEAD;
	m->names = (const char *)m->rec + m->h.n * UIDMAP_REC;
	/* a NUL at the very end bounds every name, whatever its offset */
	return !m->h.nameslen || !m->names[m->h.nameslen - 1];
}

int uidmap_check(struct uidmap *m)
{
	/* no name may hold a '/': it names a file in cur/ or new/ */
	if (!m->checked && !memchr(m->names, '/', m->h.nameslen) &&
	    recs_check(m))
		m->checked = 1;
	return m->checked;
}

int uidmap_image_check(struct uidmap *m, const unsigned char *p, size_t n)
{
	return uidmap_image_head(m, p, n) && uidmap_check(m);
}

int uidmap_build_begin(struct uidmap_build *b, const struct uidmap_head *h,
                       size_t n, size_t nameslen)
{
	size_t total;
	unsigned char *p;
	int k;

	if (__builtin_mul_overflow(n, (size_t)UIDMAP_REC, &total) ||
	    __builtin_add_overflow(total, (size_t)UIDMAP_HEAD, &b->names) ||
	    __builtin_add_overflow(b->names, nameslen, &total) ||
	    n > U32_MAX || nameslen > U32_MAX) {
		errno = EOVERFLOW;
		return -1;
	}
	b->img.len = 0;
	if (!str_ready(&b->img, total)) {
		errno = ENOMEM;
		return -1;
	}
	p = (unsigned char *)b->img.s;
	memset(p, 0, UIDMAP_HEAD);
	memcpy(p, IMAGE_MAGIC, IMAGE_MAGIC_LEN);
	le_put32(p + 16, UIDMAP_HEAD);
	le_put32(p + 20, UIDMAP_REC);
	le_put32(p + 24, (uint32_t)h->validity);
	le_put32(p + 28, (uint32_t)h->next);
	le_put64(p + 32, h->modseq);
	le_put32(p + 40, (uint32_t)n);
	le_put32(p + 56, (uint32_t)nameslen);
	for (k = 0; k < STAMP_NUMS; k++)
		le_put64(p + STAMP_AT + 8 * k, uidmap_stamp_get(&h->stamp, k));
	b->img.len = total;
	b->n = n;
	b->k = b->used = b->nnew = b->unseen = b->firstunseen = 0;
	b->last = 0;
	return 0;
}

int uidmap_build_add(struct uidmap_build *b, const struct uidmap_rec *r)
{
	unsigned char *p = (unsigned char *)b->img.s + UIDMAP_HEAD +
	                   b->k * UIDMAP_REC;
	size_t room = b->img.len - b->names - b->used;

	if (b->k >= b->n || r->namelen > UIDMAP_NAME_MAX || r->namelen == 0 ||
	    r->baselen > r->namelen || r->uid <= b->last ||
	    r->uid > U32_MAX || room <= r->namelen) {
		errno = EINVAL;
		return -1;
	}
	le_put32(p, (uint32_t)r->uid);
	le_put32(p + 4, (uint32_t)b->used);
	le_put16(p + 8, (uint16_t)r->namelen);
	le_put16(p + 10, (uint16_t)r->baselen);
	le_put32(p + 12, (r->flags & UIDMAP_FL_LETTERS) |
	                 (r->innew ? UIDMAP_FL_NEW : 0));
	le_put64(p + 16, r->modseq);
	memcpy(b->img.s + b->names + b->used, r->name, r->namelen);
	b->img.s[b->names + b->used + r->namelen] = 0;
	b->used += r->namelen + 1;
	b->nnew += r->innew != 0;
	if (!(r->flags & UIDMAP_FL_SEEN) && !b->unseen++)
		b->firstunseen = b->k + 1;
	b->last = r->uid;
	b->k++;
	return 0;
}

int uidmap_build_end(struct uidmap_build *b)
{
	unsigned char *p = (unsigned char *)b->img.s;

	if (b->k != b->n || b->names + b->used != b->img.len) {
		errno = EINVAL;
		return -1;
	}
	le_put32(p + 44, (uint32_t)b->nnew);
	le_put32(p + 48, (uint32_t)b->unseen);
	le_put32(p + 52, (uint32_t)b->firstunseen);
	return 0;
}

/* The letters quail manages, in FL_ bit order (session.h). */
unsigned uidmap_flags_of(const char *name, size_t n)
{
	static const char sys[] = "DFRST";
	size_t fl, i;
	const char *f = maildir_name_flags(name, n, &fl);
	unsigned bits = 0;
	const char *c;

	for (i = 0; f && i < fl; i++) {
		if (f[i] >= 'a' && f[i] <= 'z')
			bits |= 1u << (5 + (f[i] - 'a'));
		else if (f[i] && (c = memchr(sys, f[i], 5)))
			bits |= 1u << (c - sys);
	}
	return bits;
}

/* -- the file on disk ----------------------------------------------- */

static struct uidfile_rec *rec_new(struct uidfile *u)
{
	if (u->nf == u->fcap) {
		size_t cap = u->fcap ? u->fcap * 2 : 1024;
		struct uidfile_rec *f = reallocarray(u->f, cap, sizeof *f);

		if (!f)
			return 0;
		u->f = f;
		u->fcap = cap;
	}
	return &u->f[u->nf++];
}

/* A version 1 or 2 line: the flags are the name's, the modseq 1. */
static int file_line(void *arg, unsigned long uid, const char *b, size_t n,
                     int innew)
{
	struct uidfile *u = arg;
	struct uidfile_rec *f = rec_new(u);

	if (!f)
		return 0;
	f->uid = uid;
	f->base = b;
	f->len = byte_chr(b, n, ':');
	f->namelen = n;
	f->innew = innew;
	f->flags = uidmap_flags_of(b, n);
	f->modseq = 1;
	f->ent = 0;
	return 1;
}

int uidfile_recs(struct uidfile *u)
{
	struct uidmap_rec r;
	size_t i;

	u->nf = 0;
	for (i = 0; i < u->img.h.n; i++) {
		struct uidfile_rec *f = rec_new(u);

		if (!f)
			return -1;
		uidmap_get(&u->img, i, &r);
		f->uid = r.uid;
		f->base = r.name;
		f->len = r.baselen;
		f->namelen = r.namelen;
		f->innew = r.innew;
		f->flags = r.flags;
		f->modseq = r.modseq;
		f->ent = 0;
	}
	return 0;
}

/* On a network filesystem a mapped file replaced by another client may
 * vanish from under the mapping (SIGBUS): there the file is read. */
static int fs_remote(int fd)
{
	static const long remote[] = {
		0x6969,                 /* NFS */
		0xff534d42, 0xfe534d42, 0x517b, /* CIFS, SMB2, SMB */
		0x65735546,             /* FUSE */
		0x00c36400,             /* Ceph */
	};
	struct statfs sf;
	size_t k;

	if (fstatfs(fd, &sf) < 0)
		return 1;
	for (k = 0; k < sizeof remote / sizeof remote[0]; k++)
		if ((unsigned long)sf.f_type == (unsigned long)remote[k])
			return 1;
	return 0;
}

static int file_slurp(struct uidfile *u, int fd, size_t n)
{
	ssize_t got;

	u->buf = malloc(n);
	if (!u->buf)
		return -1;
	got = io_preadall(fd, u->buf, n, 0);
	if (got < 0)
		return -1;
	u->maplen = (size_t)got;
	return 0;
}

/* The file mapped (or read): it is replaced by rename, never written in
 * place, so what is mapped stays what was read. */
static int file_map(struct uidfile *u, int fd)
{
	struct stat st;
	void *p;

	if (fstat(fd, &st) < 0)
		return -1;
	if (st.st_size <= 0 || (unsigned long long)st.st_size > SIZE_MAX)
		return 0;
	if (fs_remote(fd))
		return file_slurp(u, fd, (size_t)st.st_size);
	p = mmap(0, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return -1;
	u->map = p;
	u->maplen = (size_t)st.st_size;
	return 0;
}

/* lazy: a version 3 file's records are left to uidmap_check. */
static int file_parse(struct uidfile *u, int lazy)
{
	const char *p = u->map ? u->map : u->buf;
	const unsigned char *b = (const unsigned char *)p;

	if (uidmap_is_image(p, u->maplen)) {
		if (lazy ? !uidmap_image_head(&u->img, b, u->maplen) :
		           !uidmap_image_check(&u->img, b, u->maplen))
			return 0;
		u->h = u->img.h;
		return 1;
	}
	u->nf = 0;
	if (!uidmap_parse(p, u->maplen, &u->h, file_line, u))
		return 0;
	u->h.modseq = 1;
	return 1;
}

int uidfile_read(struct uidfile *u, const char *dir, int lazy)
{
	int fd, r, e;

	u->dir = dir;
	if (!uidmap_path(&u->path, dir, UIDMAP_FILE, 0))
		return -1;
	fd = open(u->path.s, O_RDONLY);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	r = file_map(u, fd);
	e = errno;
	close(fd);
	errno = e;
	if (r < 0)
		return -1;
	if ((!u->map && !u->buf) || !file_parse(u, lazy)) {
		u->damaged = 1;
		u->nf = 0;
		u->lost = u->img.h.validity ? u->img.h.validity : u->h.validity;
		memset(&u->h, 0, sizeof u->h);
		return 0;
	}
	u->valid = 1;
	return 0;
}

void uidfile_give(struct uidfile *u, struct uidmap *m)
{
	*m = u->img;
	m->mapped = u->map;
	m->buf = u->buf;
	u->map = 0;
	u->buf = 0;
}

int uidfile_write(struct uidfile *u, const struct str *img)
{
	int fd, e;

	if (!uidmap_path(&u->tmp, u->dir, UIDMAP_FILE, ".tmp") ||
	    !uidmap_path(&u->path, u->dir, UIDMAP_FILE, 0)) {
		errno = ENOMEM;
		return -1;
	}
	fd = open(u->tmp.s, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	/* fsync before rename: a crash leaves the old file or the new one */
	if (io_writeall(fd, img->s, img->len) < 0 || fsync(fd) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	if (close(fd) < 0 || rename(u->tmp.s, u->path.s) < 0)
		return -1;
	return 0;
}

void uidfile_free(struct uidfile *u)
{
	free(u->f);
	if (u->map)
		munmap(u->map, u->maplen);
	free(u->buf);
	str_free(&u->path);
	str_free(&u->tmp);
}
