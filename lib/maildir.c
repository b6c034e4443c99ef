/* Maildir delivery, message names and Maildir++ quota (see maildir.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>              /* renameat only */
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fmt.h"
#include "io.h"
#include "maildir.h"
#include "uniq.h"

#define COPY_BUF 16384

static void close_keep_errno(int fd)
{
	int e = errno;

	close(fd);
	errno = e;
}

static void str_free_keep_errno(struct str *x)
{
	int e = errno;

	str_free(x);
	errno = e;
}

/* p = a + b, NUL-terminated; ENOMEM when that fails. */
static int path2(struct str *p, const char *a, const char *b)
{
	if (!str_copys(p, a) || !str_cats(p, b) || !str_0(p)) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* mkdir p unless it exists: 1 made (and fsync'd, so its own first block
 * is on disk), 0 there already, -1 error. */
static int mkdir_missing(const char *p, mode_t mode)
{
	if (mkdir(p, mode) == 0)
		return io_fsync_dir(AT_FDCWD, p) == -1 ? -1 : 1;
	return errno == EEXIST ? 0 : -1;
}

/* What it makes is fsync'd, with the directories naming it: a delivery
 * right after must not be lost with a Maildir a power cut took back. */
int maildir_make(const char *path, mode_t mode)
{
	static const char *const sub[] = { "/tmp", "/new", "/cur" };
	struct str p = STR_ZERO;
	size_t i;
	int r, made = 0;

	r = mkdir_missing(path, mode);
	if (r == 1 && io_fsync_parent(path) == -1)
		r = -1;
	for (i = 0; i < sizeof sub / sizeof sub[0] && r >= 0; i++) {
		if (path2(&p, path, sub[i]) == -1)
			r = -1;
		else if ((r = mkdir_missing(p.s, mode)) == 1)
			made = 1;
	}
	if (r >= 0 && made && io_fsync_dir(AT_FDCWD, path) == -1)
		r = -1;
	str_free_keep_errno(&p);
	return r < 0 ? -1 : 0;
}

struct counts {
	unsigned long long bytes, lf;
};

static int count_add(struct counts *c, const char *p, size_t n)
{
	size_t i;
	unsigned long long lf = 0;

	for (i = 0; i < n; i++)
		if (p[i] == '\n')
			lf++;
	if (__builtin_add_overflow(c->bytes, n, &c->bytes) ||
	    __builtin_add_overflow(c->lf, lf, &c->lf)) {
		errno = EFBIG;
		return -1;
	}
	return 0;
}

/* Copies hdr, then fd to EOF, into out, counting bytes and LFs. */
static int copy_counting(int out, const char *hdr, size_t hdrlen, int in,
                         struct counts *c)
{
	char buf[COPY_BUF];
	ssize_t r;

	if (count_add(c, hdr, hdrlen) == -1 ||
	    io_writeall(out, hdr, hdrlen) == -1)
		return -1;
	for (;;) {
		r = read(in, buf, sizeof buf);
		if (r == 0)
			return 0;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (count_add(c, buf, (size_t)r) == -1 ||
		    io_writeall(out, buf, (size_t)r) == -1)
			return -1;
	}
}

/* Creates tmp/<unique> with O_EXCL; tmp gets "tmp/<unique>", u the
 * unique part. */
static int tmp_create(int dfd, struct str *tmp, struct str *u)
{
	int i, fd;

	for (i = 0; i < MAILDIR_CREATE_TRIES; i++) {
		u->len = 0;
		if (!uniq_name(u) || path2(tmp, "tmp/", "") == -1 ||
		    !str_catb(tmp, u->s, u->len) || !str_0(tmp)) {
			errno = ENOMEM;
			return -1;
		}
		fd = openat(dfd, tmp->s, O_WRONLY | O_CREAT | O_EXCL |
		            O_CLOEXEC | O_NOFOLLOW, MAILDIR_FILE_MODE);
		if (fd != -1 || errno != EEXIST)
			return fd;
	}
	return -1;
}

/* Writes and fsyncs; the caller closes. */
static int tmp_fill(int fd, const char *hdr, size_t hdrlen, int in,
                    struct counts *c)
{
	if (copy_counting(fd, hdr, hdrlen, in, c) == -1)
		return -1;
	return fsync(fd);
}

static int name_sized(struct str *name, const struct str *u,
                      const struct counts *c)
{
	unsigned long long w;

	if (__builtin_add_overflow(c->bytes, c->lf, &w)) {
		errno = EFBIG;
		return -1;
	}
	if (!str_copyb(name, u->s, u->len) || !str_cats(name, ",S=") ||
	    !str_catu(name, c->bytes) || !str_cats(name, ",W=") ||
	    !str_catu(name, w)) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* Names the finished file new/<name>: by a hard link from tmp/ (tmp
 * set), or from the unnamed fd with a fresh unique part for each try, as
 * tmp_create does for a named one. */
static int link_new(int dfd, int fd, const struct str *tmp, struct str *u,
                    struct str *name, const struct counts *c,
                    struct str *fin)
{
	int i;

	for (i = 0; i < MAILDIR_CREATE_TRIES; i++) {
		if (!tmp->len) {
			u->len = 0;
			if (!uniq_name(u)) {
				errno = ENOMEM;
				return -1;
			}
		}
		if (name_sized(name, u, c) == -1 ||
		    path2(fin, "new/", "") == -1 ||
		    !str_catb(fin, name->s, name->len) || !str_0(fin))
			return -1;
		if (tmp->len)
			return linkat(dfd, tmp->s, dfd, fin->s, 0);
		if (io_tmplink(fd, dfd, fin->s) == 0)
			return 0;
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

/* Writes the message into the Maildir: an unnamed file (io_tmpfile) in
 * tmp/, where the filesystem allows, so a crash leaves nothing there;
 * else tmp/<unique>. Either way it is written and fsync'd before it has
 * a name in new/, fsync'd again once it has (its link count), and new/
 * is fsync'd before success. */
static int deliver_at(int dfd, const char *hdr, size_t hdrlen, int in,
                      struct str *name, unsigned long long *size)
{
	struct str tmp = STR_ZERO, u = STR_ZERO, fin = STR_ZERO;
	struct counts c = { 0, 0 };
	int fd, linked = 0, r = -1;

	fd = io_tmpfile(dfd, "tmp", MAILDIR_FILE_MODE);
	if (fd == -1)
		fd = tmp_create(dfd, &tmp, &u);
	if (fd == -1)
		goto out;
	if (tmp_fill(fd, hdr, hdrlen, in, &c) == -1 ||
	    link_new(dfd, fd, &tmp, &u, name, &c, &fin) == -1)
		goto unlink;
	linked = 1;
	/* The link raised the file's link count (0 to 1 unnamed, 1 to 2
	 * from tmp/), in its inode, which new/'s fsync does not write:
	 * without a journal a power cut could leave new/ naming an inode
	 * the disk calls free, or a tmp/ name whose removal frees it. */
	if (fsync(fd) == -1)
		goto unlink;
	r = close(fd);          /* checked: NFS reports errors there */
	fd = -1;
	/* the message is in new/ only once new/ itself is on disk */
	if (r == -1 || io_fsync_dir(dfd, "new") == -1) {
		r = -1;
		goto unlink;
	}
	if (tmp.len)
		unlinkat(dfd, tmp.s, 0);
	*size = c.bytes;
	goto out;
unlink:
	{
		int e = errno;

		if (fd != -1)
			close(fd);
		if (linked)
			unlinkat(dfd, fin.s, 0);
		if (tmp.len)
			unlinkat(dfd, tmp.s, 0);
		errno = e ? e : EIO;
	}
out:
	str_free_keep_errno(&tmp);
	str_free_keep_errno(&u);
	str_free_keep_errno(&fin);
	return r;
}

int maildir_deliver(const char *dir, const char *hdr, size_t hdrlen, int fd,
                    struct str *name, unsigned long long *size)
{
	int dfd, r;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1)
		return -1;
	r = deliver_at(dfd, hdr, hdrlen, fd, name, size);
	close_keep_errno(dfd);
	return r;
}

size_t maildir_name_base(const char *name, size_t n)
{
	return byte_chr(name, n, ':');
}

int maildir_name_sizes(const char *name, size_t n, unsigned long long *s,
                       unsigned long long *w)
{
	size_t b = maildir_name_base(name, n), i, j;
	int got = 0;

	i = byte_chr(name, b, ',');
	while (i < b) {
		i++;
		j = i + byte_chr(name + i, b - i, ',');
		if (j - i > 2 && name[i + 1] == '=') {
			if (name[i] == 'S' && scan_ulong(name + i + 2, j - i - 2, s))
				got |= MAILDIR_HAS_S;
			if (name[i] == 'W' && scan_ulong(name + i + 2, j - i - 2, w))
				got |= MAILDIR_HAS_W;
		}
		i = j;
	}
	return got;
}

const char *maildir_name_flags(const char *name, size_t n, size_t *flen)
{
	size_t b = maildir_name_base(name, n);

	if (n - b < 3 || name[b + 1] != '2' || name[b + 2] != ',')
		return 0;
	*flen = n - b - 3;
	return name + b + 3;
}

int maildir_name_hasflag(const char *name, size_t n, char c)
{
	size_t flen;
	const char *f = maildir_name_flags(name, n, &flen);

	return f && byte_chr(f, flen, c) < flen;
}

static int flag_ok(unsigned char c)
{
	return c > 32 && c < 127 && c != '/' && c != ':' && c != ',';
}

int maildir_name_setflags(struct str *out, const char *name, size_t n,
                          const char *flags, size_t flen)
{
	unsigned char set[128];
	size_t i;

	memset(set, 0, sizeof set);
	for (i = 0; i < flen; i++) {
		if (!flag_ok((unsigned char)flags[i])) {
			errno = EINVAL;
			return -1;
		}
		set[(unsigned char)flags[i]] = 1;
	}
	if (!str_copyb(out, name, maildir_name_base(name, n)) ||
	    !str_cats(out, ":2,")) {
		errno = ENOMEM;
		return -1;
	}
	for (i = 0; i < sizeof set; i++)
		if (set[i] && !str_catc(out, (char)i)) {
			errno = ENOMEM;
			return -1;
		}
	return 0;
}

int maildir_quota_parse(const char *spec, size_t n, struct maildir_quota *q)
{
	size_t i = 0, j;
	unsigned long long v;
	int seen_s = 0, seen_c = 0;

	q->bytes = q->count = 0;
	while (i < n) {
		j = i + byte_chr(spec + i, n - i, ',');
		if (j - i < 2 || !scan_ulong(spec + i, j - i - 1, &v))
			return 0;
		if (spec[j - 1] == 'S' && !seen_s++)
			q->bytes = v;
		else if (spec[j - 1] == 'C' && !seen_c++)
			q->count = v;
		else
			return 0;
		i = j + 1;
		if (j + 1 == n)
			return 0;       /* a trailing comma */
	}
	return 1;
}

int maildir_quota_fmt(struct str *out, const struct maildir_quota *q)
{
	out->len = 0;
	if (q->bytes && (!str_catu(out, q->bytes) || !str_catc(out, 'S')))
		goto nomem;
	if (q->bytes && q->count && !str_catc(out, ','))
		goto nomem;
	if (q->count && (!str_catu(out, q->count) || !str_catc(out, 'C')))
		goto nomem;
	return 0;
nomem:
	errno = ENOMEM;
	return -1;
}

/* A signed decimal in p[*i..n), spaces before it skipped. */
static int scan_signed(const char *p, size_t n, size_t *i, long long *out)
{
	size_t k;
	int neg = 0;
	unsigned long long u;

	while (*i < n && p[*i] == ' ')
		(*i)++;
	if (*i < n && p[*i] == '-') {
		neg = 1;
		(*i)++;
	}
	k = *i;
	while (k < n && p[k] >= '0' && p[k] <= '9')
		k++;
	if (!scan_ulong(p + *i, k - *i, &u) || u > (unsigned long long)LLONG_MAX)
		return 0;
	*out = neg ? -(long long)u : (long long)u;
	*i = k;
	return 1;
}

static int usage_line(const char *p, size_t n, struct maildir_usage *u)
{
	size_t i = 0;
	long long b, c;

	if (!scan_signed(p, n, &i, &b) || i >= n || p[i] != ' ' ||
	    !scan_signed(p, n, &i, &c))
		return 0;
	while (i < n && p[i] == ' ')
		i++;
	if (i != n)
		return 0;
	if (__builtin_add_overflow(u->bytes, b, &u->bytes) ||
	    __builtin_add_overflow(u->count, c, &u->count))
		return 0;
	return 1;
}

int maildirsize_parse(const char *p, size_t n, struct maildir_quota *q,
                      struct maildir_usage *u)
{
	size_t i, j;

	u->bytes = u->count = 0;
	i = byte_chr(p, n, '\n');
	if (i == n || !maildir_quota_parse(p, i, q))
		return 0;
	/* a line without its LF is a torn append: recalculate */
	for (i++; i < n; i = j + 1) {
		j = i + byte_chr(p + i, n - i, '\n');
		if (j == n || !usage_line(p + i, j - i, u))
			return 0;
	}
	return u->bytes >= 0 && u->count >= 0;
}

static int usage_add(struct maildir_usage *u, unsigned long long bytes)
{
	if (bytes > (unsigned long long)LLONG_MAX ||
	    __builtin_add_overflow(u->bytes, (long long)bytes, &u->bytes) ||
	    __builtin_add_overflow(u->count, 1, &u->count)) {
		errno = EOVERFLOW;
		return -1;
	}
	return 0;
}

/* Adds up the messages in one new/ or cur/ directory; a missing one is
 * empty. Names starting with '.' are not messages. */
static int sum_dir(const char *path, struct maildir_usage *u)
{
	DIR *d = opendir(path);
	struct dirent *de;
	struct stat st;
	unsigned long long s, w;
	size_t n;

	if (!d)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
	for (errno = 0; (de = readdir(d)) != 0; errno = 0) {
		if (de->d_name[0] == '.')
			continue;
		n = strlen(de->d_name);
		if (!(maildir_name_sizes(de->d_name, n, &s, &w) & MAILDIR_HAS_S)) {
			/* moved or expunged meanwhile: not there to count */
			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
				if (errno == ENOENT)
					continue;
				break;
			}
			s = (unsigned long long)st.st_size;
		}
		if (usage_add(u, s) == -1)
			break;
	}
	if (errno) {
		int e = errno;

		closedir(d);
		errno = e;
		return -1;
	}
	return closedir(d);
}

static int sum_folder(struct str *p, const char *dir, const char *folder,
                      struct maildir_usage *u)
{
	static const char *const sub[] = { "/new", "/cur" };
	size_t i;

	for (i = 0; i < 2; i++) {
		if (!str_copys(p, dir) || !str_cats(p, folder) ||
		    !str_cats(p, sub[i]) || !str_0(p)) {
			errno = ENOMEM;
			return -1;
		}
		if (sum_dir(p->s, u) == -1)
			return -1;
	}
	return 0;
}

/* Maildir++ folders are ".Name" directories at the top. */
static int is_folder(const char *name)
{
	return name[0] == '.' && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0 && strcmp(name, ".Trash") != 0;
}

static int sum_all(const char *dir, struct maildir_usage *u)
{
	struct str p = STR_ZERO, f = STR_ZERO;
	DIR *d;
	struct dirent *de;
	int r = -1, e;

	u->bytes = u->count = 0;
	if (sum_folder(&p, dir, "", u) == -1 || !(d = opendir(dir)))
		goto out;
	for (errno = 0; (de = readdir(d)) != 0; errno = 0) {
		if (!is_folder(de->d_name))
			continue;
		if (path2(&f, "/", de->d_name) == -1 ||
		    sum_folder(&p, dir, f.s, u) == -1)
			break;
	}
	e = errno;
	closedir(d);
	errno = e;
	if (!e)
		r = 0;
out:
	str_free_keep_errno(&p);
	str_free_keep_errno(&f);
	return r;
}

static int file_put(const char *path, const char *dir, const struct str *c)
{
	struct str tmp = STR_ZERO, u = STR_ZERO;
	int dfd, fd = -1, r = -1;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1)
		return -1;
	fd = tmp_create(dfd, &tmp, &u);
	if (fd == -1)
		goto out;
	if (io_writeall(fd, c->s, c->len) == -1 || fsync(fd) == -1) {
		close_keep_errno(fd);
		goto unlink;
	}
	if (close(fd) == -1 || renameat(dfd, tmp.s, AT_FDCWD, path) == -1)
		goto unlink;
	r = 0;
	goto out;
unlink:
	{
		int e = errno;

		unlinkat(dfd, tmp.s, 0);
		errno = e;
	}
out:
	close_keep_errno(dfd);
	str_free_keep_errno(&tmp);
	str_free_keep_errno(&u);
	return r;
}

int maildir_quota_recalc(const char *dir, const struct maildir_quota *q,
                         struct maildir_usage *u)
{
	struct str c = STR_ZERO, path = STR_ZERO;
	int r = -1;

	if (sum_all(dir, u) == -1)
		return -1;
	if (maildir_quota_fmt(&c, q) == -1)
		goto out;
	if (!str_catc(&c, '\n') || !str_catu(&c, (unsigned long long)u->bytes) ||
	    !str_catc(&c, ' ') || !str_catu(&c, (unsigned long long)u->count) ||
	    !str_catc(&c, '\n')) {
		errno = ENOMEM;
		goto out;
	}
	if (path2(&path, dir, "/maildirsize") == -1)
		goto out;
	r = file_put(path.s, dir, &c);
out:
	str_free_keep_errno(&c);
	str_free_keep_errno(&path);
	return r;
}

/* Reads a maildirsize of at most MAILDIRSIZE_MAX bytes: 1 read, 0 needs
 * recalculating (missing or too long), -1 error. */
static int size_file_read(const char *path, char *buf, size_t *n)
{
	struct stat st;
	ssize_t r;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	*n = 0;
	if (fd == -1)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) == -1) {
		close_keep_errno(fd);
		return -1;
	}
	if (st.st_size > MAILDIRSIZE_MAX) {
		close(fd);
		return 0;
	}
	while (*n < MAILDIRSIZE_MAX) {
		r = read(fd, buf + *n, MAILDIRSIZE_MAX - *n);
		if (r == 0)
			break;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			close_keep_errno(fd);
			return -1;
		}
		*n += (size_t)r;
	}
	close(fd);
	return *n < MAILDIRSIZE_MAX;    /* grew meanwhile: recalculate */
}

int maildir_quota_read(const char *dir, const struct maildir_quota *q,
                       struct maildir_usage *u)
{
	char buf[MAILDIRSIZE_MAX];
	struct str path = STR_ZERO;
	struct maildir_quota fq;
	size_t n;
	int r;

	if (path2(&path, dir, "/maildirsize") == -1)
		return -1;
	r = size_file_read(path.s, buf, &n);
	str_free_keep_errno(&path);
	if (r == -1)
		return -1;
	fq.bytes = fq.count = 0;
	if (r == 1 && maildirsize_parse(buf, n, &fq, u) &&
	    (!q || (fq.bytes == q->bytes && fq.count == q->count)))
		return 0;
	return maildir_quota_recalc(dir, q ? q : &fq, u);
}

static int over_one(unsigned long long limit, long long used,
                    unsigned long long more)
{
	unsigned long long total;

	if (!limit)
		return 0;
	if (used < 0)
		used = 0;
	if (__builtin_add_overflow((unsigned long long)used, more, &total))
		return 1;
	return total > limit;
}

int maildir_quota_over(const struct maildir_quota *q,
                       const struct maildir_usage *u,
                       unsigned long long bytes, unsigned long long count)
{
	return over_one(q->bytes, u->bytes, bytes) ||
	       over_one(q->count, u->count, count);
}

static int size_file_stale(const char *dir)
{
	struct str path = STR_ZERO;
	struct stat st;
	int r;

	if (path2(&path, dir, "/maildirsize") == -1)
		return -1;
	r = stat(path.s, &st);
	str_free_keep_errno(&path);
	if (r == -1)
		return errno == ENOENT ? 1 : -1;
	return time(0) - st.st_mtime > MAILDIRSIZE_STALE;
}

int maildir_quota_check(const char *dir, const struct maildir_quota *q,
                        unsigned long long bytes, unsigned long long count)
{
	struct maildir_usage u;
	int stale;

	if (!q->bytes && !q->count)
		return 0;
	if (maildir_quota_read(dir, q, &u) == -1)
		return -1;
	if (!maildir_quota_over(q, &u, bytes, count))
		return 0;
	/* appended deltas drift (a reader crashed, a file was removed by
	 * hand): before refusing mail, count again if not done lately */
	stale = size_file_stale(dir);
	if (stale == -1)
		return -1;
	if (stale && maildir_quota_recalc(dir, q, &u) == -1)
		return -1;
	return maildir_quota_over(q, &u, bytes, count);
}

static int cat_signed(struct str *x, long long v)
{
	if (v < 0 && !str_catc(x, '-'))
		return 0;
	return str_catu(x, v < 0 ? -(unsigned long long)v : (unsigned long long)v);
}

int maildir_quota_add(const char *dir, long long bytes, long long count)
{
	struct str line = STR_ZERO, path = STR_ZERO;
	int fd, r = -1;
	ssize_t w;

	if (!cat_signed(&line, bytes) || !str_catc(&line, ' ') ||
	    !cat_signed(&line, count) || !str_catc(&line, '\n')) {
		errno = ENOMEM;
		goto out;
	}
	if (path2(&path, dir, "/maildirsize") == -1)
		goto out;
	fd = open(path.s, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1) {
		if (errno == ENOENT)
			r = 0;
		goto out;
	}
	/* one write, so concurrent appends never interleave within a line */
	w = write(fd, line.s, line.len);
	if (w != (ssize_t)line.len) {
		if (w >= 0)
			errno = EIO;
		close_keep_errno(fd);
		goto out;
	}
	r = close(fd);
out:
	str_free_keep_errno(&line);
	str_free_keep_errno(&path);
	return r;
}
