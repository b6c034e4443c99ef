/* The queue layout: paths, the tree, envelope files (see qfile.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exitcode.h"
#include "fmt.h"
#include "io.h"
#include "log.h"
#include "qfile.h"

/* From linux/fs.h, which musl's headers lack. */
#ifndef FS_IOC_GETFLAGS
#define FS_IOC_GETFLAGS _IOR('f', 1, long)
#define FS_IOC_SETFLAGS _IOW('f', 2, long)
#endif
#ifndef FS_TOPDIR_FL
#define FS_TOPDIR_FL 0x00020000
#endif

const char *qfile_dir(void)
{
	const char *d = secure_getenv("QUAIL_QUEUE");

	return d && *d ? d : QUEUEDIR;
}

static size_t put(char *buf, size_t len, const char *s)
{
	size_t n = strlen(s);

	memcpy(buf + len, s, n);
	return len + n;
}

static const char *kind_name(enum qfile_kind kind)
{
	switch (kind) {
	case QFILE_MESS:
		return "mess";
	case QFILE_ENV:
		return "env";
	default:
		return "tmp";
	}
}

const char *qfile_dir_opt(int argc, char **argv, const char *usage)
{
	const char *dir = qfile_dir();
	int opt;

	while ((opt = getopt(argc, argv, "q:")) != -1) {
		if (opt != 'q')
			die_kv(EXIT_PERM, "event", "usage", "usage", usage, (char *)0);
		dir = optarg;
	}
	if (optind != argc)
		die_kv(EXIT_PERM, "event", "usage", "usage", usage, (char *)0);
	return dir;
}

size_t qfile_subdir(char buf[QFILE_PATH_MAX], enum qfile_kind kind, unsigned nn)
{
	size_t len = put(buf, 0, kind_name(kind));

	if (kind != QFILE_TMP) {
		nn %= QFILE_SPLIT;
		buf[len++] = '/';
		buf[len++] = (char)('0' + nn / 10);
		buf[len++] = (char)('0' + nn % 10);
	}
	buf[len] = 0;
	return len;
}

size_t qfile_path(char buf[QFILE_PATH_MAX], enum qfile_kind kind,
                  unsigned long long id)
{
	size_t len = qfile_subdir(buf, kind, (unsigned)(id % QFILE_SPLIT));

	buf[len++] = '/';
	len += fmt_ulong(buf + len, id);
	buf[len] = 0;
	return len;
}

int qfile_id(const char *name, unsigned long long *id)
{
	size_t n = strlen(name);

	/* canonical form only, so qfile_path(id) names the same file */
	if (n == 0 || n >= FMT_ULONG || name[0] == '0')
		return 0;
	return scan_ulong(name, n, id);
}

static void setpath(char path[QFILE_PATH_MAX], const char *s)
{
	path[put(path, 0, s)] = 0;
}

/* The tree: the root, tmp, mess and its NN, env and its NN, trigger. */
#define TREE_LEN (1 + 1 + 1 + QFILE_SPLIT + 1 + QFILE_SPLIT + 1)

int qfile_tree(size_t i, char path[QFILE_PATH_MAX], mode_t *mode, int *fifo)
{
	*fifo = 0;
	*mode = 0750;
	if (i >= TREE_LEN)
		return 0;
	if (i == 0) {
		setpath(path, ".");
	} else if (i == 1) {
		setpath(path, "tmp");
		*mode = 0700;
	} else if (i == 2 || i == 3 + QFILE_SPLIT) {
		setpath(path, i == 2 ? "mess" : "env");
	} else if (i < 3 + QFILE_SPLIT) {
		qfile_subdir(path, QFILE_MESS, (unsigned)(i - 3));
	} else if (i < 4 + 2 * QFILE_SPLIT) {
		qfile_subdir(path, QFILE_ENV, (unsigned)(i - 4 - QFILE_SPLIT));
	} else {
		setpath(path, "trigger");
		*mode = 0620;
		*fifo = 1;
	}
	return 1;
}

/* Marks a new directory as the top of a hierarchy for ext2/3/4's Orlov
 * allocator (chattr +T), so its subdirectories, and with them the files
 * they will hold, spread over the block groups instead of crowding the
 * parent's. Without a journal, ext4 makes every new inode skip past the
 * inodes its group freed in the last minute, so a busy queue that kept
 * all its files in one group paid for each new file a scan that grew
 * with the rate of mail. Best effort: other filesystems refuse it and
 * lose nothing. */
static void spread(int dfd, const char *path)
{
	int fd = openat(dfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fl;

	if (fd < 0)
		return;
	if (ioctl(fd, FS_IOC_GETFLAGS, &fl) == 0 && !(fl & FS_TOPDIR_FL)) {
		fl |= FS_TOPDIR_FL;
		(void)ioctl(fd, FS_IOC_SETFLAGS, &fl);
	}
	close(fd);
}

int qfile_mkentry(int dfd, const char *path, mode_t mode, int fifo)
{
	int r = fifo ? mkfifoat(dfd, path, mode) : mkdirat(dfd, path, mode);

	if (r < 0)
		return errno == EEXIST ? 0 : -1;
	if (!strcmp(path, "mess") || !strcmp(path, "env"))
		spread(dfd, path);              /* before its NN exist */
	return fchmodat(dfd, path, mode, 0);
}

int qfile_mkqueue(const char *dir, const char **failed)
{
	char path[QFILE_PATH_MAX];
	mode_t mode;
	int fifo, dfd, saved;
	size_t i;

	if (failed)
		*failed = dir;
	if (mkdir(dir, 0750) == 0) {
		if (chmod(dir, 0750) < 0)
			return -1;
	} else if (errno != EEXIST) {
		return -1;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	for (i = 1; qfile_tree(i, path, &mode, &fifo); i++)
		if (qfile_mkentry(dfd, path, mode, fifo) < 0) {
			static char where[QFILE_PATH_MAX];

			saved = errno;
			memcpy(where, path, sizeof where);
			if (failed)
				*failed = where;
			close(dfd);
			errno = saved;
			return -1;
		}
	close(dfd);
	return 0;
}

static int scan_dir(int qfd, const char *sub, int nn, qfile_scan_fn *fn,
                    void *arg)
{
	struct dirent *d;
	DIR *dir;
	int fd, r = 0, saved;

	fd = openat(qfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	dir = fdopendir(fd);
	if (!dir) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	for (;;) {
		errno = 0;
		d = readdir(dir);
		if (!d) {
			r = errno ? -1 : 0;
			break;
		}
		if (d->d_name[0] == '.' && (!d->d_name[1] ||
		    (d->d_name[1] == '.' && !d->d_name[2])))
			continue;
		r = fn(arg, nn, d->d_name);
		if (r)
			break;
	}
	saved = errno;
	closedir(dir);
	errno = saved;
	return r;
}

int qfile_scan(int qfd, enum qfile_kind kind, qfile_scan_fn *fn, void *arg)
{
	char sub[QFILE_PATH_MAX];
	unsigned nn;
	int r;

	if (kind == QFILE_TMP)
		return scan_dir(qfd, "tmp", -1, fn, arg);
	for (nn = 0; nn < QFILE_SPLIT; nn++) {
		qfile_subdir(sub, kind, nn);
		r = scan_dir(qfd, sub, (int)nn, fn, arg);
		if (r)
			return r;
	}
	return 0;
}

/* 0, or why the address can't go in an envelope file. */
static int addr_check(const char *a, size_t len)
{
	if (len > QFILE_ADDR_MAX)
		return QQ_ADDR_TOOLONG;
	if (memchr(a, '\n', len) || memchr(a, 0, len))
		return QQ_ENVELOPE;
	return 0;
}

int qfile_env_head(struct str *out, unsigned long long birth,
                   unsigned long long bytes, size_t nrcpt,
                   const char *sender, size_t len)
{
	size_t old = out->len;
	int r = addr_check(sender, len);

	if (r)
		return r;
	if (str_catc(out, 'Q') && str_catu(out, birth) && str_catc(out, ' ') &&
	    str_catu(out, bytes) && str_catc(out, ' ') &&
	    str_catu(out, nrcpt) && str_catb(out, "\nF", 2) &&
	    str_catb(out, sender, len) && str_catc(out, '\n'))
		return 0;
	out->len = old;
	return QQ_NOMEM;
}

static int state_ok(char state)
{
	return state == QFILE_PENDING || state == QFILE_DONE ||
	       state == QFILE_BOUNCED;
}

int qfile_env_rcpt(struct str *out, const char *addr, size_t len, char state)
{
	size_t old = out->len;
	int r = addr_check(addr, len);

	if (r)
		return r;
	if (len == 0 || !state_ok(state))
		return QQ_ENVELOPE;
	if (str_catc(out, 'T') && str_catc(out, state) &&
	    str_catb(out, addr, len) && str_catc(out, '\n'))
		return 0;
	out->len = old;
	return QQ_NOMEM;
}

int qfile_qq_check(struct qfile_qq *q, const char *p, size_t n)
{
	const char *z;
	size_t len;

	while (!q->done && q->pos < n) {
		if (q->pos > 0 && p[q->pos] == 0) {
			if (q->nrcpt == 0)
				return QQ_ENVELOPE;  /* nothing to deliver */
			q->done = 1;
			q->end = q->pos + 1;
			break;
		}
		if (p[q->pos] != (q->pos == 0 ? 'F' : 'T'))
			return QQ_ENVELOPE;
		z = memchr(p + q->pos + 1, 0, n - q->pos - 1);
		len = (z ? (size_t)(z - p) : n) - q->pos - 1;
		if (len > QFILE_ADDR_MAX)
			return QQ_ADDR_TOOLONG;
		if (!z)
			break;
		if (memchr(p + q->pos + 1, '\n', len))
			return QQ_ENVELOPE;
		if (q->pos > 0) {
			if (len == 0)
				return QQ_ENVELOPE;
			q->nrcpt++;
		}
		q->pos += len + 2;
	}
	return 0;
}

/* The number of recipients in a qmail-queue envelope: the items after
 * the first, up to the empty one. */
static size_t qq_count(const char *p, size_t n)
{
	size_t i = 0, count = 0;

	while (i < n && (i == 0 || p[i])) {
		if (i)
			count++;
		i += byte_chr(p + i, n - i, 0) + 1;
	}
	return count;
}

int qfile_env_from_qq(struct str *out, const char *p, size_t n,
                      unsigned long long birth, unsigned long long bytes)
{
	size_t old = out->len, i = 0, len, nrcpt = 0, want;
	int r = 0;

	want = qq_count(p, n);
	for (;;) {
		if (i >= n) {
			r = QQ_ENVELOPE;        /* no final NUL */
			break;
		}
		if (i > 0 && p[i] == 0)
			break;
		len = byte_chr(p + i + 1, n - i - 1, 0);
		if (i + 1 + len == n) {
			r = QQ_ENVELOPE;        /* an item without its NUL */
			break;
		}
		if (i == 0) {
			r = p[i] != 'F' ? QQ_ENVELOPE :
			    qfile_env_head(out, birth, bytes, want, p + 1, len);
		} else {
			r = p[i] != 'T' ? QQ_ENVELOPE :
			    qfile_env_rcpt(out, p + i + 1, len, QFILE_PENDING);
			nrcpt++;
		}
		if (r)
			break;
		i += len + 2;
	}
	if (r == 0 && nrcpt == 0)
		r = QQ_ENVELOPE;
	if (r)
		out->len = old;
	return r;
}

/* Finds the LF ending the line at t[i]: 1 with *lf set, 0 when the line
 * has no LF or holds a NUL. */
static int line_at(const char *t, size_t n, size_t i, size_t *lf)
{
	size_t k = byte_chr(t + i, n - i, '\n');

	if (i + k == n || memchr(t + i, 0, k))
		return 0;
	*lf = i + k;
	return 1;
}

/* Room for one recipient per line left in t[i..n): 1 ok, 0 no memory. */
static int rcpt_room(struct qfile_env *e, const char *t, size_t n, size_t i)
{
	struct qfile_rcpt *r;
	size_t want = 0, bytes;

	for (; i < n; i++)
		if (t[i] == '\n')
			want++;
	if (want <= e->rcap)
		return 1;
	if (__builtin_mul_overflow(want, sizeof *r, &bytes))
		return 0;
	r = realloc(e->rcpt, bytes);
	if (!r)
		return 0;
	e->rcpt = r;
	e->rcap = want;
	return 1;
}

/* A decimal number and what follows it: the end of the number in *end,
 * which must be at the separator sep or at lf. */
static int scan_field(const char *t, size_t i, size_t lf,
                      unsigned long long *out, size_t *end)
{
	size_t k = i + byte_chr(t + i, lf - i, ' ');

	*end = k;
	return scan_ulong(t + i, k - i, out);
}

/* "Q<birth> <bytes> <nrcpt>" ending at lf. */
static int parse_q(struct qfile_env *e, const char *t, size_t lf,
                   unsigned long long *nrcpt)
{
	size_t k;

	return lf >= 1 && t[0] == 'Q' &&
	       scan_field(t, 1, lf, &e->birth, &k) && k < lf &&
	       scan_field(t, k + 1, lf, &e->bytes, &k) && k < lf &&
	       scan_field(t, k + 1, lf, nrcpt, &k) && k == lf;
}

/* "T<state><addr>" from t[i] to lf. */
static int parse_t(struct qfile_env *e, const char *t, size_t i, size_t lf)
{
	struct qfile_rcpt *r;

	if (lf - i < 3 || t[i] != 'T' || !state_ok(t[i + 1]) ||
	    lf - i - 2 > QFILE_ADDR_MAX)
		return 0;
	r = &e->rcpt[e->nrcpt++];
	r->off = i + 1;
	r->state = t[i + 1];
	r->addr = t + i + 2;
	r->len = lf - i - 2;
	if (r->state == QFILE_PENDING)
		e->pending++;
	return 1;
}

int qfile_env_parse(struct qfile_env *e)
{
	char *t = e->text.s;
	size_t n = e->text.len, i, lf;
	unsigned long long want;

	e->nrcpt = e->pending = 0;
	e->sender = 0;
	e->senderlen = 0;
	if (!t || !line_at(t, n, 0, &lf) || !parse_q(e, t, lf, &want))
		return 0;
	i = lf + 1;
	if (i >= n || t[i] != 'F' || !line_at(t, n, i, &lf) ||
	    lf - i - 1 > QFILE_ADDR_MAX)
		return 0;
	e->sender = t + i + 1;
	e->senderlen = lf - i - 1;
	i = lf + 1;
	if (!rcpt_room(e, t, n, i)) {
		errno = ENOMEM;
		return -1;
	}
	for (; i < n; i = lf + 1)
		if (!line_at(t, n, i, &lf) || !parse_t(e, t, i, lf))
			return 0;
	if (e->nrcpt == 0 || e->nrcpt != want)
		return 0;
	/* only now, so a rejected text is left as it was */
	for (i = 0; i < n; i++)
		if (t[i] == '\n')
			t[i] = 0;
	return 1;
}

int qfile_env_read(struct qfile_env *e, int fd)
{
	struct str *x = &e->text;
	size_t room;
	ssize_t k;

	x->len = 0;
	do {
		if (!str_ready(x, 4096)) {
			errno = ENOMEM;
			return -1;
		}
		room = x->cap - x->len - 1;
		k = io_preadall(fd, x->s + x->len, room, (off_t)x->len);
		if (k < 0)
			return -1;
		x->len += (size_t)k;
		if (x->len > QFILE_ENV_MAX)
			return 0;
	} while ((size_t)k == room);    /* fewer: the end of the file */
	return qfile_env_parse(e);
}

int qfile_env_load(struct qfile_env *e, int qfd, unsigned long long id,
                   const char **step)
{
	char path[QFILE_PATH_MAX];
	int fd, r, saved;

	qfile_path(path, QFILE_ENV, id);
	*step = "open";
	fd = openat(qfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	*step = "read";
	r = qfile_env_read(e, fd);
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}

void qfile_env_free(struct qfile_env *e)
{
	free(e->rcpt);
	e->rcpt = 0;
	e->nrcpt = e->rcap = e->pending = 0;
	e->sender = 0;
	str_free(&e->text);
}

int qfile_env_mark(struct qfile_env *e, int fd, size_t i, char state)
{
	struct qfile_rcpt *r;
	ssize_t k;

	if (i >= e->nrcpt || !state_ok(state)) {
		errno = EINVAL;
		return -1;
	}
	r = &e->rcpt[i];
	do
		k = pwrite(fd, &state, 1, (off_t)r->off);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return -1;
	if (k != 1) {
		errno = EIO;
		return -1;
	}
	if (r->state == QFILE_PENDING && state != QFILE_PENDING)
		e->pending--;
	else if (r->state != QFILE_PENDING && state == QFILE_PENDING)
		e->pending++;
	r->state = state;
	e->text.s[r->off] = state;
	return 0;
}

int qfile_env_sync(int fd)
{
	return fdatasync(fd);
}
