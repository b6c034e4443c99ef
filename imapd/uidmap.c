/* Persistent UIDs per Maildir folder (see uidmap.h for the file). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
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

static void nap(void)
{
	struct timespec ts = { 0, 20 * 1000000L };

	nanosleep(&ts, 0);
}

/* A stale lock is moved aside before it is removed, and only removed
 * when what was moved is the file that was judged stale: two sessions
 * breaking the same lock must not remove a fresh one. */
static void lock_break(const char *lock, const struct stat *old,
                       struct str *aside)
{
	struct stat st;

	if (!str_cats(aside, ".stale") || !str_0(aside))
		return;
	if (rename(lock, aside->s) < 0)
		return;
	if (stat(aside->s, &st) == 0 && st.st_ino == old->st_ino &&
	    st.st_dev == old->st_dev) {
		unlink(aside->s);
		log_kv("warn", "event", "lock_broken", "file", lock, NULL);
		return;
	}
	if (link(aside->s, lock) == 0)
		unlink(aside->s);
}

static int lock_try(const char *tmp, const char *lock, struct str *aside)
{
	struct stat st;

	if (link(tmp, lock) == 0)
		return 1;
	/* NFS may report a failure for a link that was made */
	if (stat(tmp, &st) == 0 && st.st_nlink == 2)
		return 1;
	if (errno != EEXIST)
		return -1;
	if (stat(lock, &st) == 0 &&
	    time(0) - st.st_mtime > UIDMAP_LOCK_STALE) {
		aside->len = 0;
		if (str_cats(aside, tmp))
			lock_break(lock, &st, aside);
	}
	return 0;
}

int uidmap_lock(const char *dir)
{
	struct str tmp = STR_ZERO, lock = STR_ZERO, u = STR_ZERO, aside = STR_ZERO;
	long long end = io_now_ms() + UIDMAP_LOCK_WAIT;
	char num[FMT_ULONG];
	int fd, r = -1, e;

	if (!uniq_name(&u) || !str_0(&u) || !path(&tmp, dir, "tmp/", u.s) ||
	    !path(&lock, dir, UIDMAP_LOCK, 0)) {
		errno = ENOMEM;
		goto out;
	}
	fd = open(tmp.s, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		goto out;
	fmt_u(num, (unsigned long long)getpid());
	if (io_writeall(fd, num, strlen(num)) < 0 || close(fd) < 0) {
		unlink(tmp.s);
		goto out;
	}
	for (;;) {
		r = lock_try(tmp.s, lock.s, &aside);
		if (r != 0)
			break;
		if (io_now_ms() > end) {
			errno = EAGAIN;
			r = -1;
			break;
		}
		nap();
	}
	e = errno;
	unlink(tmp.s);
	errno = e;
	r = r > 0 ? 0 : -1;
out:
	e = errno;
	str_free(&tmp);
	str_free(&lock);
	str_free(&u);
	str_free(&aside);
	errno = e;
	return r;
}

void uidmap_unlock(const char *dir)
{
	struct str lock = STR_ZERO;

	if (path(&lock, dir, UIDMAP_LOCK, 0))
		unlink(lock.s);
	str_free(&lock);
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
		    (!d->d_name[bl] && (!(s->q.len--, str_cats(&s->q, ":2,")) ||
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

static int ent_add(struct sync *s, const char *name)
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
	e->recent = 0;
	e->rec = 0;
	s->ne++;
	return 0;
}

static int scan_cur(struct sync *s)
{
	struct dirent *d;
	DIR *dp;

	ents_free(s);
	if (!path(&s->p, s->dir, "cur", 0))
		return -1;
	dp = opendir(s->p.s);
	if (!dp)
		return -1;
	errno = 0;
	while ((d = readdir(dp))) {
		if (name_ok(d->d_name) && ent_add(s, d->d_name) < 0) {
			closedir(dp);
			errno = ENOMEM;
			return -1;
		}
	}
	closedir(dp);
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

static void mark_recent(struct sync *s)
{
	size_t i, k;

	if (!s->moved.len)
		return;
	for (k = 0; k < s->moved.len; k += strlen(s->moved.s + k) + 1) {
		size_t bl = strlen(s->moved.s + k);

		for (i = 0; i < s->ne; i++)
			if (s->e[i].baselen == bl &&
			    !memcmp(s->e[i].name, s->moved.s + k, bl))
				s->e[i].recent = 1;
	}
}
