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

#define UIDMAP_MAGIC "QUAIL-UIDLIST 1 "

static int path(struct str *p, const char *dir, const char *a, const char *b)
{
	p->len = 0;
	return str_cats(p, dir) && str_catc(p, '/') && str_cats(p, a) &&
	       (!b || str_cats(p, b)) && str_0(p);
}

static int num_at(const char *p, size_t n, size_t *i, char end,
                  unsigned long *v)
{
	size_t start = *i;
	unsigned long long x;

	while (*i < n && p[*i] >= '0' && p[*i] <= '9')
		(*i)++;
	if (*i == start || *i - start > 10 || *i >= n || p[*i] != end ||
	    !scan_ulong(p + start, *i - start, &x) || x == 0 ||
	    x > 0xffffffffULL)
		return 0;
	(*i)++;
	*v = (unsigned long)x;
	return 1;
}

int uidmap_parse(const char *p, size_t n, unsigned long *validity,
                 unsigned long *next,
                 int (*line)(void *, unsigned long, const char *, size_t),
                 void *arg)
{
	size_t i = sizeof UIDMAP_MAGIC - 1;
	unsigned long last = 0, uid;

	if (n < i || memcmp(p, UIDMAP_MAGIC, i))
		return 0;
	if (!num_at(p, n, &i, ' ', validity) || !num_at(p, n, &i, '\n', next))
		return 0;
	while (i < n) {
		size_t e;

		if (!num_at(p, n, &i, ' ', &uid) || uid <= last || uid >= *next)
			return 0;
		e = i + byte_chr(p + i, n - i, '\n');
		if (e == n || e == i || memchr(p + i, '/', e - i) ||
		    memchr(p + i, ':', e - i))
			return 0;
		if (!line(arg, uid, p + i, e - i))
			return 0;
		last = uid;
		i = e + 1;
	}
	return 1;
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
	size_t len;
	size_t ent;             /* matched entry + 1 */
};

struct sync {
	const char *dir;
	struct str text, p, q;
	unsigned long validity, next;
	int valid;
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

static int file_line(void *arg, unsigned long uid, const char *b, size_t n)
{
	struct sync *s = arg;

	if (s->nf == s->fcap) {
		size_t cap = s->fcap ? s->fcap * 2 : 256;
		struct filerec *f = realloc(s->f, cap * sizeof *f);

		if (!f)
			return 0;
		s->f = f;
		s->fcap = cap;
	}
	s->f[s->nf].uid = uid;
	s->f[s->nf].base = b;
	s->f[s->nf].len = n;
	s->f[s->nf].ent = 0;
	s->nf++;
	return 1;
}

static int file_read(struct sync *s)
{
	char buf[65536];
	ssize_t k;
	int fd;

	if (!path(&s->p, s->dir, UIDMAP_FILE, 0))
		return -1;
	fd = open(s->p.s, O_RDONLY);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	s->text.len = 0;
	while ((k = read(fd, buf, sizeof buf)) != 0) {
		if (k < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		if (!str_catb(&s->text, buf, (size_t)k)) {
			close(fd);
			errno = ENOMEM;
			return -1;
		}
	}
	close(fd);
	s->nf = 0;
	if (!uidmap_parse(s->text.s, s->text.len, &s->validity, &s->next,
	                  file_line, s)) {
		log_kv("warn", "event", "uidlist_damaged", "file", s->p.s, NULL);
		s->nf = 0;
		return 0;
	}
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

	if (!path(&s->p, s->dir, "new", 0))
		return -1;
	dp = opendir(s->p.s);
	if (!dp)
		return errno == ENOENT ? 0 : -1;
	while ((d = readdir(dp))) {
		size_t bl;

		if (!name_ok(d->d_name))
			continue;
		bl = byte_chr(d->d_name, strlen(d->d_name), ':');
		if (!path(&s->p, s->dir, "new/", d->d_name) ||
		    !path(&s->q, s->dir, "cur/", d->d_name) ||
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

	if (!path(&s->p, s->dir, sub, 0))
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
			s->f[r - 1].ent = i + 1;
			s->e[i].rec = r;
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

static int rec_add(struct uidmap *m, unsigned long uid, struct ent *e)
{
	struct uidmap_rec *r;

	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 256;

		r = realloc(m->r, cap * sizeof *r);
		if (!r)
			return -1;
		m->r = r;
		m->cap = cap;
	}
	r = &m->r[m->n++];
	r->uid = uid;
	r->name = e->name;
	r->baselen = e->baselen;
	r->recent = e->recent;
	r->innew = e->innew;
	e->name = 0;            /* now m's */
	return 0;
}

/* The result: known messages in file order, then the unknown ones in
 * arrival order with new UIDs. */
static int result(struct sync *s, struct uidmap *m)
{
	struct ent **u = 0;
	size_t i, nu = 0;

	for (i = 0; i < s->nf; i++)
		if (s->f[i].ent &&
		    rec_add(m, s->f[i].uid, &s->e[s->f[i].ent - 1]) < 0)
			return -1;
	for (i = 0; i < s->ne; i++)
		nu += s->e[i].rec == 0 && s->e[i].name;
	if (nu) {
		u = malloc(nu * sizeof *u);
		if (!u)
			return -1;
		for (i = 0, nu = 0; i < s->ne; i++)
			if (s->e[i].rec == 0 && s->e[i].name)
				u[nu++] = &s->e[i];
		qsort(u, nu, sizeof *u, arrival_cmp);
	}
	for (i = 0; i < nu; i++) {
		if (s->next >= 0xffffffffUL) {
			free(u);
			errno = EOVERFLOW;
			return -1;
		}
		if (rec_add(m, s->next++, u[i]) < 0) {
			free(u);
			return -1;
		}
	}
	free(u);
	m->changed = nu > 0 || m->n != s->nf || !s->valid;
	return 0;
}

static int file_write(struct sync *s, const struct uidmap *m)
{
	struct str t = STR_ZERO;
	size_t i;
	int fd, e;

	if (!str_cats(&t, UIDMAP_MAGIC) || !str_catu(&t, m->validity) ||
	    !str_catc(&t, ' ') || !str_catu(&t, m->next) || !str_catc(&t, '\n'))
		goto nomem;
	for (i = 0; i < m->n; i++)
		if (!str_catu(&t, m->r[i].uid) || !str_catc(&t, ' ') ||
		    !str_catb(&t, m->r[i].name, m->r[i].baselen) ||
		    !str_catc(&t, '\n'))
			goto nomem;
	if (!path(&s->p, s->dir, UIDMAP_FILE, ".tmp") ||
	    !path(&s->q, s->dir, UIDMAP_FILE, 0))
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
	size_t i;

	for (i = 0; i < m->n; i++)
		free(m->r[i].name);
	free(m->r);
	m->r = 0;
	m->n = m->cap = 0;
}

static int sync_run(struct sync *s, struct uidmap *m, int takenew)
{
	if (file_read(s) < 0)
		return -1;
	if (!s->valid) {
		s->validity = (unsigned long)time(0);
		s->next = 1;
	}
	if (hash_build(s) < 0)
		return -1;
	if (takenew && take_new(s) < 0)
		return -1;
	if (scan_cur(s, takenew) < 0)
		return -1;
	/* a rename for flags by another program while cur/ was read may
	 * have hidden a file: look once more before calling it gone */
	if (match(s) && (scan_cur(s, takenew) < 0 || (match(s), 0)))
		return -1;
	if (mark_recent(s) < 0 || result(s, m) < 0)
		return -1;
	m->validity = s->validity;
	m->next = s->next;
	if (m->changed && file_write(s, m) < 0)
		return -1;
	return 0;
}

int uidmap_sync_locked(const char *dir, struct uidmap *m, int takenew)
{
	struct sync s;
	int r, e;

	memset(&s, 0, sizeof s);
	s.dir = dir;
	uidmap_free(m);
	m->changed = 0;
	r = sync_run(&s, m, takenew);
	e = errno;
	sync_free(&s);
	if (r < 0) {
		uidmap_free(m);
		errno = e;
	}
	return r;
}

int uidmap_sync(const char *dir, struct uidmap *m, int takenew)
{
	int r, e;

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
