/* Persistent UIDs per Maildir folder (see uidmap.h for the file). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>              /* rename */
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fmt.h"
#include "io.h"
#include "log.h"
#include "str.h"
#include "uidmap.h"
#include "uniq.h"

#define UIDMAP_MAGIC "QUAIL-UIDLIST "
#define STAMP_NUMS 12

int uidmap_path(struct str *p, const char *dir, const char *a, const char *b)
{
	p->len = 0;
	return str_cats(p, dir) && str_catc(p, '/') && str_cats(p, a) &&
	       (!b || str_cats(p, b)) && str_0(p);
}

/* A decimal number up to max, then end. */

/* -- the sync ------------------------------------------------------- */

struct ent {
	char *name;
	size_t baselen;
	int recent;
	int innew;              /* left in new/ (a sync without take_new) */
	size_t rec;             /* matched file record + 1, 0 none */
};

struct filerec {
	unsigned long uid;
	const char *base;       /* into the file's text */
	size_t len;             /* of the base */
	size_t namelen;         /* of the whole name */
	int innew;
	size_t ent;             /* matched entry + 1 */
};

struct sync {
	const char *dir;
	struct str text, p, q;
	struct uidmap_head h;   /* from the file */
	unsigned long validity, next;
	int valid;
	struct uidmap_stamp disk; /* new/ and cur/ before they were read */
	int trusted;            /* disk is old enough to be written */
	int renamed;            /* a known message's name differs */
	int damaged;
	struct filerec *f;
	size_t nf, fcap;
	size_t *hash;           /* file record + 1, open addressing */
	size_t hcap;
	struct ent *e;
	size_t ne, ecap;
	struct str moved;       /* bases moved from new/, NUL after each */
};

static uint32_t hash_b(const char *p, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ (unsigned char)*p++) * 16777619u;
	return h;
}

static int file_line(void *arg, unsigned long uid, const char *b, size_t n,
                     int innew)
{
	struct sync *s = arg;
	struct filerec *f;

	if (s->nf == s->fcap) {
		size_t cap = s->fcap ? s->fcap * 2 : 1024;

		f = reallocarray(s->f, cap, sizeof *f);
		if (!f)
			return 0;
		s->f = f;
		s->fcap = cap;
	}
	f = &s->f[s->nf++];
	f->uid = uid;
	f->base = b;
	f->len = byte_chr(b, n, ':');
	f->namelen = n;
	f->innew = innew;
	f->ent = 0;
	return 1;
}

/* The whole file in one read: its size is known, and it is replaced by
 * rename, never written in place. */
static int file_slurp(struct sync *s, int fd)
{
	struct stat st;
	size_t want;
	ssize_t k;

	if (fstat(fd, &st) < 0)
		return -1;
	want = (size_t)st.st_size + 1;
	s->text.len = 0;
	for (;;) {
		if (s->text.cap - s->text.len < want && !str_ready(&s->text, want)) {
			errno = ENOMEM;
			return -1;
		}
		k = read(fd, s->text.s + s->text.len, s->text.cap - s->text.len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (k == 0)
			return 0;
		s->text.len += (size_t)k;
		want = 65536;
	}
}

static int file_read(struct sync *s)
{
	int fd, r, e;

	if (!uidmap_path(&s->p, s->dir, UIDMAP_FILE, 0))
		return -1;
	fd = open(s->p.s, O_RDONLY);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	r = file_slurp(s, fd);
	e = errno;
	close(fd);
	errno = e;
	if (r < 0)
		return -1;
	s->nf = 0;
	if (!uidmap_parse(s->text.s, s->text.len, &s->h, file_line, s)) {
		s->damaged = 1;
		s->nf = 0;
		return 0;
	}
	s->validity = s->h.validity;
	s->next = s->h.next;
	s->valid = 1;
	return 0;
}

static int hash_build(struct sync *s)
{
	size_t i, cap = 64;

	while (cap < s->nf * 2 + 1)
		cap *= 2;
	free(s->hash);
	s->hash = calloc(cap, sizeof *s->hash);
	if (!s->hash)
		return -1;
	s->hcap = cap;
	for (i = 0; i < s->nf; i++) {
		size_t h = hash_b(s->f[i].base, s->f[i].len) & (cap - 1);

		while (s->hash[h])
			h = (h + 1) & (cap - 1);
		s->hash[h] = i + 1;
	}
	return 0;
}

static size_t hash_find(const struct sync *s, const char *b, size_t n)
{
	size_t h = hash_b(b, n) & (s->hcap - 1);

	while (s->hash[h]) {
		const struct filerec *f = &s->f[s->hash[h] - 1];

		if (f->len == n && !memcmp(f->base, b, n))
			return s->hash[h];
		h = (h + 1) & (s->hcap - 1);
	}
	return 0;
}

static int name_ok(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && n > 0 && n <= UIDMAP_NAME_MAX &&
	       !memchr(name, '\n', n);
}

/* Moves every message in new/ to cur/ with an empty ":2," info. */
static int take_new(struct sync *s)
{
	struct dirent *d;
	DIR *dp;

	if (!uidmap_path(&s->p, s->dir, "new", 0))
		return -1;
	dp = opendir(s->p.s);
	if (!dp)
		return errno == ENOENT ? 0 : -1;
	while ((d = readdir(dp))) {
		size_t bl;

		if (!name_ok(d->d_name))
			continue;
		bl = byte_chr(d->d_name, strlen(d->d_name), ':');
		if (!uidmap_path(&s->p, s->dir, "new/", d->d_name) ||
		    !uidmap_path(&s->q, s->dir, "cur/", d->d_name) ||
		    (!d->d_name[bl] && (!str_cats(&s->q, ":2,") ||
		                        !str_0(&s->q))))
			goto nomem;
		if (rename(s->p.s, s->q.s) < 0) {
			if (errno != ENOENT)
				log_kv("warn", "event", "rename", "file", s->p.s,
				       "error", strerror(errno), NULL);
			continue;
		}
		if (!str_catb(&s->moved, d->d_name, bl) ||
		    !str_catc(&s->moved, 0))
			goto nomem;
	}
	closedir(dp);
	return 0;
nomem:
	closedir(dp);
	errno = ENOMEM;
	return -1;
}

static void ents_free(struct sync *s)
{
	size_t i;

	for (i = 0; i < s->ne; i++)
		free(s->e[i].name);
	s->ne = 0;
}

static int ent_add(struct sync *s, const char *name, int innew)
{
	struct ent *e;

	if (s->ne == s->ecap) {
		size_t cap = s->ecap ? s->ecap * 2 : 256;

		e = realloc(s->e, cap * sizeof *e);
		if (!e)
			return -1;
		s->e = e;
		s->ecap = cap;
	}
	e = &s->e[s->ne];
	e->name = strdup(name);
	if (!e->name)
		return -1;
	e->baselen = byte_chr(name, strlen(name), ':');
	e->recent = innew;
	e->innew = innew;
	e->rec = 0;
	s->ne++;
	return 0;
}

static int scan_dir(struct sync *s, const char *sub, int innew)
{
	struct dirent *d;
	DIR *dp;

	if (!uidmap_path(&s->p, s->dir, sub, 0))
		return -1;
	dp = opendir(s->p.s);
	if (!dp)
		return innew && errno == ENOENT ? 0 : -1;
	while ((d = readdir(dp))) {
		if (name_ok(d->d_name) && ent_add(s, d->d_name, innew) < 0) {
			closedir(dp);
			errno = ENOMEM;
			return -1;
		}
	}
	closedir(dp);
	return 0;
}

static int bkey_cmp(const void *a, const void *b);

struct bkey {
	const char *s;
	size_t n;
	int twin;               /* cur/ has it too */
};

/* Drops the new/ entries (from index first on) that cur/ also has: a
 * message moved between the two directory reads. */
static int drop_twins(struct sync *s, size_t first)
{
	struct bkey *k, key;
	size_t i, nk = s->ne - first, j;

	if (!nk)
		return 0;
	k = malloc(nk * sizeof *k);
	if (!k)
		return -1;
	for (i = 0; i < nk; i++) {
		k[i].s = s->e[first + i].name;
		k[i].n = s->e[first + i].baselen;
		k[i].twin = 0;
	}
	qsort(k, nk, sizeof *k, bkey_cmp);
	for (i = 0; i < first; i++) {
		struct bkey *hit;

		key.s = s->e[i].name;
		key.n = s->e[i].baselen;
		hit = bsearch(&key, k, nk, sizeof *k, bkey_cmp);
		if (hit)
			hit->twin = 1;
	}
	for (i = first, j = first; i < s->ne; i++) {
		struct bkey *hit;

		key.s = s->e[i].name;
		key.n = s->e[i].baselen;
		hit = bsearch(&key, k, nk, sizeof *k, bkey_cmp);
		if (!hit || !hit->twin)
			s->e[j++] = s->e[i];
		else
			free(s->e[i].name);
	}
	s->ne = j;
	free(k);
	return 0;
}

/* cur/, and without take_new new/ as well, its messages left there:
 * EXAMINE and STATUS must not move them (they stay \Recent for the
 * next SELECT) but still see them. */
static int scan_cur(struct sync *s, int takenew)
{
	size_t first;

	ents_free(s);
	if (scan_dir(s, "cur", 0) < 0)
		return -1;
	first = s->ne;
	if (takenew)
		return 0;
	if (scan_dir(s, "new", 1) < 0 || drop_twins(s, first) < 0)
		return -1;
	return 0;
}

/* Matches entries to file records; returns how many records are left
 * without a file. */
static size_t match(struct sync *s)
{
	size_t i, missing = 0;

	for (i = 0; i < s->nf; i++)
		s->f[i].ent = 0;
	for (i = 0; i < s->ne; i++) {
		size_t r = hash_find(s, s->e[i].name, s->e[i].baselen);

		s->e[i].rec = 0;
		if (r && !s->f[r - 1].ent) {
			const struct filerec *f = &s->f[r - 1];

			s->f[r - 1].ent = i + 1;
			s->e[i].rec = r;
			if (f->innew != s->e[i].innew ||
			    strlen(s->e[i].name) != f->namelen ||
			    memcmp(s->e[i].name, f->base, f->namelen))
				s->renamed = 1;
		}
	}
	for (i = 0; i < s->nf; i++)
		missing += !s->f[i].ent;
	return missing;
}

static int bkey_cmp(const void *a, const void *b)
{
	const struct bkey *x = a, *y = b;
	size_t n = x->n < y->n ? x->n : y->n;
	int c = memcmp(x->s, y->s, n);

	return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* Entries this sync moved from new/ are recent (known to the file too,
 * when EXAMINE or STATUS saw them there): the moved bases sorted, each
 * entry looked up. */
static int mark_recent(struct sync *s)
{
	struct bkey *k, key;
	size_t i, nk = 0, off;

	if (!s->moved.len)
		return 0;
	for (off = 0; off < s->moved.len; off += strlen(s->moved.s + off) + 1)
		nk++;
	k = malloc(nk * sizeof *k);
	if (!k)
		return -1;
	for (i = 0, off = 0; i < nk; i++) {
		k[i].s = s->moved.s + off;
		k[i].n = strlen(k[i].s);
		off += k[i].n + 1;
	}
	qsort(k, nk, sizeof *k, bkey_cmp);
	for (i = 0; i < s->ne; i++) {
		key.s = s->e[i].name;
		key.n = s->e[i].baselen;
		if (bsearch(&key, k, nk, sizeof *k, bkey_cmp))
			s->e[i].recent = 1;
	}
	free(k);
	return 0;
}

static int arrival_cmp(const void *a, const void *b)
{
	const struct ent *x = *(const struct ent *const *)a;
	const struct ent *y = *(const struct ent *const *)b;

	return uidmap_arrival_cmp(x->name, y->name);
}

static int rec_add(struct uidmap *m, unsigned long uid, const char *name,
                   size_t baselen, int recent, int innew)
{
	struct uidmap_rec *r;

	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 256;

		r = reallocarray(m->r, cap, sizeof *r);
		if (!r)
			return -1;
		m->r = r;
		m->cap = cap;
	}
	r = &m->r[m->n++];
	r->uid = uid;
	r->name = name;
	r->baselen = baselen;
	r->recent = recent;
	r->innew = innew;
	return 0;
}

/* The names copied into one buffer m owns. */
static int names_keep(struct uidmap *m)
{
	size_t i, total = 0, k;
	char *b;

	for (i = 0; i < m->n; i++)
		if (__builtin_add_overflow(total, strlen(m->r[i].name) + 1, &total))
			return -1;
	b = malloc(total ? total : 1);
	if (!b)
		return -1;
	for (i = 0, total = 0; i < m->n; i++) {
		k = strlen(m->r[i].name) + 1;
		memcpy(b + total, m->r[i].name, k);
		m->r[i].name = b + total;
		total += k;
	}
	m->buf = b;
	return 0;
}

/* The result: known messages in file order, then the unknown ones in
 * arrival order with new UIDs. */
static int result(struct sync *s, struct uidmap *m)
{
	struct ent **u = 0, *e;
	size_t i, nu = 0;

	for (i = 0; i < s->nf; i++) {
		if (!s->f[i].ent)
			continue;
		e = &s->e[s->f[i].ent - 1];
		if (rec_add(m, s->f[i].uid, e->name, e->baselen, e->recent,
		            e->innew) < 0)
			return -1;
	}
	for (i = 0; i < s->ne; i++)
		nu += s->e[i].rec == 0;
	if (nu) {
		u = malloc(nu * sizeof *u);
		if (!u)
			return -1;
		for (i = 0, nu = 0; i < s->ne; i++)
			if (s->e[i].rec == 0)
				u[nu++] = &s->e[i];
		qsort(u, nu, sizeof *u, arrival_cmp);
	}
	for (i = 0; i < nu; i++) {
		if (s->next >= 0xffffffffUL) {
			free(u);
			errno = EOVERFLOW;
			return -1;
		}
		if (rec_add(m, s->next++, u[i]->name, u[i]->baselen,
		            u[i]->recent, u[i]->innew) < 0) {
			free(u);
			return -1;
		}
	}
	free(u);
	if (names_keep(m) < 0)
		return -1;
	/* UIDs must be kept whenever the set changed; a new stamp and the
	 * names are worth writing only once the stamp can be trusted */
	m->changed = nu > 0 || m->n != s->nf || !s->valid ||
	             (s->trusted && (s->renamed || s->h.version != 2 ||
	                             !uidmap_stamp_eq(&s->disk, &s->h.stamp)));
	return 0;
}

static int head_put(struct str *t, const struct uidmap *m,
                    const struct uidmap_stamp *st)
{
	int k;

	if (!str_cats(t, UIDMAP_MAGIC) || !str_cats(t, "2 ") ||
	    !str_catu(t, m->validity) || !str_catc(t, ' ') ||
	    !str_catu(t, m->next))
		return 0;
	for (k = 0; k < STAMP_NUMS; k++)
		if (!str_catc(t, ' ') || !str_catu(t, uidmap_stamp_get(st, k)))
			return 0;
	return str_catc(t, '\n');
}

static int file_write(struct sync *s, const struct uidmap *m)
{
	struct uidmap_stamp none;
	struct str t = STR_ZERO;
	size_t i;
	int fd, e;

	memset(&none, 0, sizeof none);
	if (!head_put(&t, m, s->trusted ? &s->disk : &none))
		goto nomem;
	for (i = 0; i < m->n; i++)
		if (!str_catu(&t, m->r[i].uid) || !str_catc(&t, ' ') ||
		    (m->r[i].innew && !str_cats(&t, "new/")) ||
		    !str_cats(&t, m->r[i].name) || !str_catc(&t, '\n'))
			goto nomem;
	if (!uidmap_path(&s->p, s->dir, UIDMAP_FILE, ".tmp") ||
	    !uidmap_path(&s->q, s->dir, UIDMAP_FILE, 0))
		goto nomem;
	fd = open(s->p.s, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		goto fail;
	/* fsync before rename: a crash leaves the old file or the new one */
	if (io_writeall(fd, t.s, t.len) < 0 || fsync(fd) < 0) {
		e = errno;
		close(fd);
		errno = e;
		goto fail;
	}
	if (close(fd) < 0 || rename(s->p.s, s->q.s) < 0)
		goto fail;
	str_free(&t);
	return 0;
nomem:
	errno = ENOMEM;
fail:
	e = errno;
	str_free(&t);
	errno = e;
	return -1;
}

static void sync_free(struct sync *s)
{
	ents_free(s);
	free(s->e);
	free(s->f);
	free(s->hash);
	str_free(&s->text);
	str_free(&s->p);
	str_free(&s->q);
	str_free(&s->moved);
}

void uidmap_free(struct uidmap *m)
{
	free(m->r);
	free(m->buf);
	m->r = 0;
	m->buf = 0;
	m->n = m->cap = 0;
}

/* The file's records as they are, names NUL-terminated in its text,
 * which m takes: no directory read, no copy. */
static int from_file(struct sync *s, struct uidmap *m)
{
	size_t i;

	m->r = reallocarray(0, s->nf ? s->nf : 1, sizeof *m->r);
	if (!m->r)
		return -1;
	m->cap = s->nf ? s->nf : 1;
	for (i = 0; i < s->nf; i++) {
		const struct filerec *f = &s->f[i];
		char *name = s->text.s + (f->base - s->text.s);

		name[f->namelen] = 0;   /* was the '\n' */
		rec_add(m, f->uid, name, f->len, f->innew, f->innew);
	}
	m->buf = s->text.s;
	s->text.s = 0;
	s->text.len = s->text.cap = 0;
	m->validity = s->validity;
	m->next = s->next;
	m->skipped = 1;
	return 0;
}

/* 1 when the file stands for the folder as it is (and there is nothing
 * in new/ to take), 0 when the directories must be read, -1 error. */
static int can_skip(struct sync *s, int takenew)
{
	struct uidmap_stamp disk;
	struct timespec now;
	size_t i;

	if (!s->valid || s->h.version != 2)
		return 0;
	if (uidmap_stamp_take(s->dir, &disk) < 0)
		return errno == ENOENT ? 0 : -1;
	if (clock_gettime(CLOCK_REALTIME, &now) < 0 ||
	    !uidmap_may_skip(&s->h.stamp, &disk, &now))
		return 0;
	if (takenew)
		for (i = 0; i < s->nf; i++)
			if (s->f[i].innew)
				return 0;
	return 1;
}

/* The stamp of the directories about to be read: taken after take_new,
 * which changes them, and before the reads, so a change during them
 * shows as a different stamp next time. */
static void stamp_before_scan(struct sync *s)
{
	struct timespec now;

	s->trusted = uidmap_stamp_take(s->dir, &s->disk) == 0 &&
	             clock_gettime(CLOCK_REALTIME, &now) == 0 &&
	             uidmap_stamp_trusted(&s->disk, &now);
}

static int sync_full(struct sync *s, struct uidmap *m, int takenew)
{
	if (s->damaged)
		log_kv("warn", "event", "uidlist_damaged", "dir", s->dir, NULL);
	if (!s->valid) {
		s->validity = (unsigned long)time(0);
		s->next = 1;
	}
	if (hash_build(s) < 0)
		return -1;
	if (takenew && take_new(s) < 0)
		return -1;
	stamp_before_scan(s);
	if (scan_cur(s, takenew) < 0)
		return -1;
	/* a rename for flags by another program while cur/ was read may
	 * have hidden a file: look once more before calling it gone */
	if (match(s)) {
		s->renamed = 0;
		if (scan_cur(s, takenew) < 0)
			return -1;
		match(s);
	}
	if (mark_recent(s) < 0 || result(s, m) < 0)
		return -1;
	m->validity = s->validity;
	m->next = s->next;
	if (m->changed && file_write(s, m) < 0)
		return -1;
	return 0;
}

/* locked 0: only the skip is tried; 1 means the lock is needed. */
static int sync_run(const char *dir, struct uidmap *m, int takenew,
                    int locked)
{
	struct sync s;
	int r, e;

	memset(&s, 0, sizeof s);
	s.dir = dir;
	uidmap_free(m);
	m->changed = m->skipped = 0;
	r = file_read(&s);
	if (r == 0)
		r = can_skip(&s, takenew);
	if (r == 1)
		r = from_file(&s, m);
	else if (r == 0)
		r = locked ? sync_full(&s, m, takenew) : 1;
	e = errno;
	sync_free(&s);
	if (r < 0) {
		uidmap_free(m);
		errno = e;
	}
	return r;
}

int uidmap_sync_locked(const char *dir, struct uidmap *m, int takenew)
{
	return sync_run(dir, m, takenew, 1);
}

/* An unchanged folder needs no lock: the file is replaced by rename, so
 * it is read whole, and the stamp check says it is still the folder. */
int uidmap_sync(const char *dir, struct uidmap *m, int takenew)
{
	int r, e;

	r = sync_run(dir, m, takenew, 0);
	if (r <= 0)
		return r;
	if (uidmap_lock(dir) < 0)
		return -1;
	r = uidmap_sync_locked(dir, m, takenew);
	e = errno;
	uidmap_unlock(dir);
	errno = e;
	return r;
}

const struct uidmap_rec *uidmap_find(const struct uidmap *m,
                                     const char *base, size_t n)
{
	size_t i;

	for (i = m->n; i-- > 0;)
		if (m->r[i].baselen == n && !memcmp(m->r[i].name, base, n))
			return &m->r[i];
	return 0;
}
