/* Persistent UIDs per Maildir folder (see uidmap.h for the file): the
 * sync, which matches the file (read and written in uidfile.c) against
 * the directories. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>              /* rename */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "fmt.h"
#include "log.h"
#include "str.h"
#include "uidfile.h"
#include "uidmap.h"

int uidmap_path(struct str *p, const char *dir, const char *a, const char *b)
{
	p->len = 0;
	return str_cats(p, dir) && str_catc(p, '/') && str_cats(p, a) &&
	       (!b || str_cats(p, b)) && str_0(p);
}

/* -- the sync ------------------------------------------------------- */

struct ent {
	char *name;
	size_t baselen;
	int recent;
	int innew;              /* left in new/ (a sync without take_new) */
	size_t rec;             /* matched file record + 1, 0 none */
};

struct sync {
	const char *dir;
	struct str p, q;
	struct uidfile file;    /* as it was read */
	unsigned long validity, next;
	struct uidmap_stamp disk; /* new/ and cur/ before they were read */
	int trusted;            /* disk is old enough to be written */
	int renamed;            /* a known message's name differs */
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

static int hash_build(struct sync *s)
{
	const struct uidfile *u = &s->file;
	size_t i, cap = 64;

	while (cap < u->nf * 2 + 1)
		cap *= 2;
	free(s->hash);
	s->hash = calloc(cap, sizeof *s->hash);
	if (!s->hash)
		return -1;
	s->hcap = cap;
	for (i = 0; i < u->nf; i++) {
		size_t h = hash_b(u->f[i].base, u->f[i].len) & (cap - 1);

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
		const struct uidfile_rec *f = &s->file.f[s->hash[h] - 1];

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
	struct uidfile *u = &s->file;
	size_t i, missing = 0;

	for (i = 0; i < u->nf; i++)
		u->f[i].ent = 0;
	for (i = 0; i < s->ne; i++) {
		size_t r = hash_find(s, s->e[i].name, s->e[i].baselen);

		s->e[i].rec = 0;
		if (r && !u->f[r - 1].ent) {
			const struct uidfile_rec *f = &u->f[r - 1];

			u->f[r - 1].ent = i + 1;
			s->e[i].rec = r;
			if (f->innew != s->e[i].innew ||
			    strlen(s->e[i].name) != f->namelen ||
			    memcmp(s->e[i].name, f->base, f->namelen))
				s->renamed = 1;
		}
	}
	for (i = 0; i < u->nf; i++)
		missing += !u->f[i].ent;
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

/* Where one message of the result comes from. */
struct out {
	unsigned long uid;
	const struct ent *e;
	const struct uidfile_rec *f;        /* NULL: new */
	size_t namelen;
	unsigned flags;
};

static int out_add(struct out *o, unsigned long uid, const struct ent *e,
                   const struct uidfile_rec *f)
{
	o->uid = uid;
	o->e = e;
	o->f = f;
	o->namelen = strlen(e->name);
	o->flags = uidmap_flags_of(e->name, o->namelen);
	return 1;
}

/* The result: known messages in file order, then the unknown ones in
 * arrival order with new UIDs; l[0..*n), *known of them known. */
static int result_list(struct sync *s, struct out **l, size_t *n,
                       size_t *known)
{
	struct ent **u;
	size_t i, nu = 0, k = 0;

	for (i = 0; i < s->ne; i++)
		nu += s->e[i].rec == 0;
	*l = reallocarray(0, s->ne + 1, sizeof **l);
	u = reallocarray(0, nu + 1, sizeof *u);
	if (!*l || !u) {
		free(u);
		return -1;
	}
	for (i = 0; i < s->file.nf; i++) {
		const struct uidfile_rec *f = &s->file.f[i];

		if (f->ent)
			k += out_add(&(*l)[k], f->uid, &s->e[f->ent - 1], f);
	}
	*known = k;
	for (i = 0, nu = 0; i < s->ne; i++)
		if (s->e[i].rec == 0)
			u[nu++] = &s->e[i];
	qsort(u, nu, sizeof *u, arrival_cmp);
	for (i = 0; i < nu; i++) {
		if (s->next >= 0xffffffffUL) {
			free(u);
			errno = EOVERFLOW;
			return -1;
		}
		k += out_add(&(*l)[k], s->next++, u[i], 0);
	}
	free(u);
	*n = k;
	return 0;
}

/* A version 1 or 2 file has no modseqs: its messages start at 1. */
static int out_moved(const struct sync *s, const struct out *o)
{
	return !o->f ||
	       (s->file.h.version == UIDMAP_VERSION && o->f->flags != o->flags);
}

/* The image of the result, modseqs raised as RFC 7162 wants: a new
 * message gets the next one, as does one whose flags changed, and an
 * expunge raises the highest. Returns whether a modseq moved. */
static int result_build(struct sync *s, struct uidmap_build *b,
                        const struct out *l, size_t n, size_t known)
{
	struct uidmap_head h = s->file.h;
	unsigned long long ms = s->file.valid ? s->file.h.modseq : 0;
	struct uidmap_rec r;
	size_t i, names = 0, bumps = 0;

	for (i = 0; i < n; i++) {
		bumps += out_moved(s, &l[i]);
		if (__builtin_add_overflow(names, l[i].namelen + 1, &names))
			goto overflow;
	}
	ms += known < s->file.nf;
	h.validity = s->validity;
	h.next = s->next;
	if (__builtin_add_overflow(ms, bumps, &h.modseq))
		goto overflow;
	if (h.modseq == 0)
		h.modseq = 1;
	if (s->trusted)
		h.stamp = s->disk;
	else
		memset(&h.stamp, 0, sizeof h.stamp);
	if (uidmap_build_begin(b, &h, n, names) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		r.uid = l[i].uid;
		r.name = l[i].e->name;
		r.namelen = l[i].namelen;
		r.baselen = l[i].e->baselen;
		r.flags = l[i].flags;
		r.innew = l[i].e->innew;
		r.modseq = out_moved(s, &l[i]) ? ++ms : l[i].f->modseq;
		if (uidmap_build_add(b, &r) < 0)
			return -1;
	}
	return uidmap_build_end(b) < 0 ? -1 : bumps > 0 || known < s->file.nf;
overflow:
	errno = EOVERFLOW;
	return -1;
}

/* Per record whether it is recent, when this sync moved any from new/
 * (otherwise recent is innew). */
static int result_recent(struct uidmap *m, const struct out *l, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (l[i].e->recent != l[i].e->innew)
			break;
	if (i == n)
		return 0;
	m->recent = malloc(n);
	if (!m->recent)
		return -1;
	for (i = 0; i < n; i++)
		m->recent[i] = (unsigned char)l[i].e->recent;
	return 0;
}

/* m takes the built image, checked as a file would be. */
static int result_adopt(struct uidmap *m, struct uidmap_build *b)
{
	if (!uidmap_image_check(m, (const unsigned char *)b->img.s,
	                        b->img.len)) {
		errno = EINVAL;
		return -1;
	}
	m->buf = b->img.s;
	b->img.s = 0;
	b->img.len = b->img.cap = 0;
	return 0;
}

/* UIDs must be kept whenever the set changed, modseqs whenever one
 * moved; a new stamp and the names are worth writing only once the
 * stamp can be trusted. */
static int result(struct sync *s, struct uidmap *m)
{
	struct uidmap_build b;
	struct out *l = 0;
	size_t n = 0, known = 0;
	int moved = -1, e;

	memset(&b, 0, sizeof b);
	if (result_list(s, &l, &n, &known) == 0)
		moved = result_build(s, &b, l, n, known);
	if (moved >= 0 && result_recent(m, l, n) < 0)
		moved = -1;
	free(l);
	if (moved < 0)
		goto fail;
	m->changed = moved || n != s->file.nf || !s->file.valid ||
	             (s->trusted &&
	              (s->renamed || s->file.h.version != UIDMAP_VERSION ||
	               !uidmap_stamp_eq(&s->disk, &s->file.h.stamp)));
	if (m->changed && uidfile_write(&s->file, &b.img) < 0)
		goto fail;
	if (result_adopt(m, &b) < 0)
		goto fail;
	return 0;
fail:
	e = errno;
	str_free(&b.img);
	errno = e;
	return -1;
}

static void sync_free(struct sync *s)
{
	ents_free(s);
	free(s->e);
	uidfile_free(&s->file);
	free(s->hash);
	str_free(&s->p);
	str_free(&s->q);
	str_free(&s->moved);
}

void uidmap_free(struct uidmap *m)
{
	if (m->mapped)
		munmap(m->mapped, m->len);
	free(m->buf);
	free(m->recent);
	memset(m, 0, sizeof *m);
}

/* 1 when the file stands for the folder as it is (and there is nothing
 * in new/ to take), 0 when the directories must be read, -1 error. */
static int can_skip(struct sync *s, int takenew)
{
	struct uidmap_stamp disk;
	struct timespec now;

	if (!s->file.valid || s->file.h.version != UIDMAP_VERSION ||
	    (takenew && s->file.h.nnew))
		return 0;
	if (uidmap_stamp_take(s->dir, &disk) < 0)
		return errno == ENOENT ? 0 : -1;
	if (clock_gettime(CLOCK_REALTIME, &now) < 0 ||
	    !uidmap_may_skip(&s->file.h.stamp, &disk, &now))
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

/* The time, unless a lost map had that UIDVALIDITY (or a later one):
 * a client must see it change. */
static unsigned long new_validity(unsigned long lost)
{
	unsigned long v = (unsigned long)time(0) & 0xffffffffUL;

	if (lost && v <= lost)
		v = lost < 0xffffffffUL ? lost + 1 : 1;
	return v ? v : 1;
}

static int sync_full(struct sync *s, struct uidmap *m, int takenew)
{
	if (s->file.damaged)
		log_kv("warn", "event", "uidlist_damaged", "dir", s->dir, NULL);
	if (s->file.valid) {
		s->validity = s->file.h.validity;
		s->next = s->file.h.next;
	} else {
		s->validity = new_validity(s->file.lost);
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
	return mark_recent(s) < 0 || result(s, m) < 0 ? -1 : 0;
}

/* locked 0: only the skip is tried; 1 means the lock is needed. */
static int sync_run(const char *dir, struct uidmap *m, int how, int locked)
{
	int takenew = how & UIDMAP_TAKE_NEW;
	struct sync s;
	int r, e;

	memset(&s, 0, sizeof s);
	s.dir = dir;
	uidmap_free(m);
	r = uidfile_read(&s.file, dir, !locked && (how & UIDMAP_LAZY));
	if (r == 0)
		r = can_skip(&s, takenew);
	if (r == 1) {
		/* the mapped file as it is: no directory read, no copy */
		uidfile_give(&s.file, m);
		m->skipped = 1;
		r = 0;
	} else if (r == 0 && !locked) {
		r = 1;
	} else if (r == 0) {
		r = s.file.h.version == UIDMAP_VERSION ?
		    uidfile_recs(&s.file) : 0;
		if (r == 0)
			r = sync_full(&s, m, takenew);
	}
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
int uidmap_sync(const char *dir, struct uidmap *m, int how)
{
	int r, e;

	r = sync_run(dir, m, how, 0);
	if (r <= 0)
		return r;
	if (uidmap_lock(dir) < 0)
		return -1;
	r = uidmap_sync_locked(dir, m, how & UIDMAP_TAKE_NEW);
	e = errno;
	uidmap_unlock(dir);
	errno = e;
	return r;
}

int uidmap_find(const struct uidmap *m, const char *base, size_t n,
                struct uidmap_rec *r)
{
	size_t i;

	for (i = m->h.n; i-- > 0;) {
		uidmap_get(m, i, r);
		if (r->baselen == n && !memcmp(r->name, base, n))
			return 1;
	}
	return 0;
}
