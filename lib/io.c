/* Buffered, timed I/O on file descriptors. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "fmt.h"
#include "io.h"

long long io_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int io_wait(int fd, short events, int timeout_ms, long long deadline)
{
	struct pollfd p;
	int t, r;

	for (;;) {
		t = timeout_ms;
		if (deadline) {
			long long left = deadline - io_now_ms();

			if (left <= 0)
				return 0;
			if (left > INT_MAX)
				left = INT_MAX;
			if (t < 0 || left < t)
				t = (int)left;
		}
		p.fd = fd;
		p.events = events;
		p.revents = 0;
		r = poll(&p, 1, t);
		if (r > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/* A blocking socket can time its own reads (SO_RCVTIMEO) and writes
 * (SO_SNDTIMEO): one system call instead of a poll and the call, and a
 * write larger than the room poll saw cannot block past the timeout.
 * Not for a non-blocking socket, whose EAGAIN means "not yet", not "too
 * late", nor for a pipe or file (setsockopt fails). 1 if set. */
static int kernel_timeout(int fd, int opt, int timeout_ms)
{
	struct timeval tv;
	int fl;

	if (timeout_ms <= 0)
		return 0;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (fl & O_NONBLOCK))
		return 0;
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv) == 0;
}

void io_untime(int fd)
{
	struct timeval none = { 0, 0 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none);
}

void rd_retime(struct rd *r)
{
	r->kernel = kernel_timeout(r->fd, SO_RCVTIMEO, r->timeout);
}

void wr_retime(struct wr *w)
{
	w->kernel = kernel_timeout(w->fd, SO_SNDTIMEO, w->timeout);
}

/* Whether to poll before a read or write: always without the socket's
 * own timeout; with it, only when the deadline comes first. */
static int must_poll(int timeout_ms, int kernel, long long deadline)
{
	if (!kernel)
		return timeout_ms >= 0 || deadline;
	return deadline && deadline - io_now_ms() <= timeout_ms;
}

void rd_init(struct rd *r, int fd, char *buf, size_t cap, int timeout_ms)
{
	r->fd = fd;
	r->timeout = timeout_ms;
	r->deadline = 0;
	r->kernel = kernel_timeout(fd, SO_RCVTIMEO, timeout_ms);
	r->buf = buf;
	r->pos = r->end = 0;
	r->cap = cap;
}

size_t rd_avail(const struct rd *r)
{
	return r->end - r->pos;
}

ssize_t rd_fill(struct rd *r)
{
	ssize_t n;
	int w;

	if (r->pos == r->end)
		r->pos = r->end = 0;
	if (r->end == r->cap) {
		memmove(r->buf, r->buf + r->pos, r->end - r->pos);
		r->end -= r->pos;
		r->pos = 0;
	}
	if (r->end == r->cap) {
		errno = ENOBUFS;
		return -1;
	}
	for (;;) {
		if (must_poll(r->timeout, r->kernel, r->deadline)) {
			w = io_wait(r->fd, POLLIN, r->timeout, r->deadline);
			if (w == 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			if (w < 0)
				return -1;
		}
		n = read(r->fd, r->buf + r->end, r->cap - r->end);
		if (n >= 0)
			break;
		if (errno == EAGAIN && r->kernel) {
			errno = ETIMEDOUT;
			return -1;
		}
		/* a non-blocking fd with no timeout: wait, never spin */
		if (errno == EAGAIN && r->timeout < 0 && !r->deadline &&
		    io_wait(r->fd, POLLIN, -1, 0) < 0)
			return -1;
		if (errno != EINTR && errno != EAGAIN)
			return -1;
	}
	r->end += (size_t)n;
	return n;
}

int rd_line(struct rd *r, struct str *line, size_t max)
{
	int toolong = 0;
	size_t i, take;
	ssize_t n;

	line->len = 0;
	for (;;) {
		for (i = r->pos; i < r->end; i++)
			if (r->buf[i] == '\n')
				break;
		take = (i < r->end ? i + 1 : i) - r->pos;
		if (!toolong) {
			if (line->len + take > max)
				toolong = 1;
			else if (!str_catb(line, r->buf + r->pos, take))
				return RD_ERR;
		}
		r->pos += take;
		if (i < r->end)
			return toolong ? RD_LONG : RD_OK;
		n = rd_fill(r);
		if (n == 0)
			return RD_EOF;
		if (n < 0)
			return RD_ERR;
	}
}

void wr_init(struct wr *w, int fd, char *buf, size_t cap, int timeout_ms)
{
	w->fd = fd;
	w->timeout = timeout_ms;
	w->deadline = 0;
	w->kernel = kernel_timeout(fd, SO_SNDTIMEO, timeout_ms);
	w->buf = buf;
	w->len = 0;
	w->cap = cap;
}

static int wr_raw(struct wr *w, const char *p, size_t n)
{
	ssize_t k;
	int ok;

	while (n) {
		if (must_poll(w->timeout, w->kernel, w->deadline)) {
			ok = io_wait(w->fd, POLLOUT, w->timeout, w->deadline);
			if (ok == 0)
				errno = ETIMEDOUT;
			if (ok <= 0)
				return -1;
		}
		k = write(w->fd, p, n);
		if (k < 0 && errno == EAGAIN && w->kernel) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (k < 0) {
			if (errno == EAGAIN && w->timeout < 0 && !w->deadline &&
			    io_wait(w->fd, POLLOUT, -1, 0) < 0)
				return -1;
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

int wr_flush(struct wr *w)
{
	size_t n = w->len;

	w->len = 0;
	return wr_raw(w, w->buf, n);
}

int wr_put(struct wr *w, const char *p, size_t n)
{
	if (n > w->cap - w->len) {
		if (wr_flush(w) < 0)
			return -1;
		if (n >= w->cap)
			return wr_raw(w, p, n);
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
	return 0;
}

int wr_puts(struct wr *w, const char *s)
{
	return wr_put(w, s, strlen(s));
}

int io_writeall(int fd, const char *p, size_t n)
{
	struct wr w;

	wr_init(&w, fd, 0, 0, -1);
	return wr_raw(&w, p, n);
}

ssize_t io_preadall(int fd, void *buf, size_t n, off_t off)
{
	char *p = buf;
	size_t got = 0;
	ssize_t k;

	while (got < n) {
		k = pread(fd, p + got, n - got, off + (off_t)got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

#ifndef PROC_SUPER_MAGIC
#define PROC_SUPER_MAGIC 0x9fa0 /* linux/magic.h */
#endif

int io_tmpfile(int dfd, const char *dir, mode_t mode)
{
	static int proc = -1;   /* /proc is there: asked once */
	struct statfs sf;

	/* statfs, not access("/proc/self/fd"): a new process walking into
	 * /proc/self makes the kernel build its /proc/PID entries */
	if (proc < 0)
		proc = statfs("/proc", &sf) == 0 &&
		       sf.f_type == PROC_SUPER_MAGIC;
	if (!proc) {
		errno = ENOENT;
		return -1;
	}
	return openat(dfd, dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
}

int io_tmplink(int fd, int dfd, const char *path)
{
	char proc[sizeof "/proc/self/fd/" + FMT_ULONG];

	/* Linux 6.10 and later let anyone link a file they opened, by its
	 * fd; before, only CAP_DAC_READ_SEARCH may (else ENOENT) */
	if (linkat(fd, "", dfd, path, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno != ENOENT && errno != EPERM && errno != EINVAL)
		return -1;
	memcpy(proc, "/proc/self/fd/", 14);
	fmt_u(proc + 14, (unsigned long long)fd);
	return linkat(AT_FDCWD, proc, dfd, path, AT_SYMLINK_FOLLOW);
}

int io_fsync_dir(int dfd, const char *path)
{
	int fd = openat(dfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), e;

	if (fd < 0)
		return -1;
	if (fsync(fd) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return close(fd);
}

int io_fsync_parent(const char *path)
{
	size_t n = strlen(path);
	char *dir;
	int r;

	while (n > 1 && path[n - 1] == '/')
		n--;
	while (n && path[n - 1] != '/')
		n--;
	if (!n)
		return io_fsync_dir(AT_FDCWD, ".");
	dir = malloc(n + 1);
	if (!dir) {
		errno = ENOMEM;
		return -1;
	}
	memcpy(dir, path, n);
	dir[n] = 0;
	r = io_fsync_dir(AT_FDCWD, dir);
	free(dir);
	return r;
}

/* The kernel's record (linux/dirent.h); not in every libc's headers. */
struct dirent64_ {
	unsigned long long ino;
	long long off;
	unsigned short reclen;
	unsigned char type;
	char name[];
};

int io_dir_open(struct io_dir *d, int dfd, const char *path)
{
	d->pos = d->len = 0;
	d->fd = openat(dfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return d->fd < 0 ? -1 : 0;
}

const char *io_dir_next(struct io_dir *d, size_t *len)
{
	const struct dirent64_ *e;
	long n;

	if (d->pos >= d->len) {
		do
			n = syscall(SYS_getdents64, d->fd, d->buf,
			            sizeof d->buf);
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			if (n == 0)
				errno = 0;
			return 0;
		}
		d->pos = 0;
		d->len = (size_t)n;
	}
	e = (const struct dirent64_ *)(d->buf + d->pos);
	d->pos += e->reclen;
	*len = strlen(e->name);
	return e->name;
}

void io_dir_close(struct io_dir *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}
