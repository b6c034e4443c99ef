/*
 * mbox: appends one message to an mbox file for quail-local, the
 * qmail-local way, with mboxrd quoting of "From " lines.
 *
 * Reads the message from the fd it is given, from its current offset to
 * EOF. Writes the mbox file named by the .qmail line: opened O_APPEND
 * (created 0600), flock'd exclusively for up to MBOX_LOCK_WAIT seconds,
 * written, fsync'd; on any error it is truncated back to its old length.
 * Logs a failed truncate as a key=value warning on fd 2. Returns the
 * result line in a struct str; the caller prints it and exits 111.
 * Runs as the mailbox owner, inside quail-local.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "fmt.h"
#include "io.h"
#include "log.h"
#include "mbox.h"

#define MBOX_BUF 16384

/* mboxrd quoting: a line that matches ^>*From gets one more '>'. The
 * state survives across buffers: gt '>'s and the first fm bytes of
 * "From " seen at the start of the current line. */
struct mbq {
	struct wr w;
	int bol;
	unsigned long long gt;
	size_t fm;
	char last;
};

static int mbq_gts(struct mbq *m, unsigned long long n)
{
	static const char gts[] = ">>>>>>>>>>>>>>>>";
	size_t k;

	while (n) {
		k = n < sizeof gts - 1 ? (size_t)n : sizeof gts - 1;
		if (wr_put(&m->w, gts, k) == -1)
			return -1;
		n -= k;
	}
	return 0;
}

/* The held-back start of a line, quoted or not. */
static int mbq_flush(struct mbq *m, int quote)
{
	if ((quote && wr_put(&m->w, ">", 1) == -1) || mbq_gts(m, m->gt) == -1 ||
	    wr_put(&m->w, "From ", m->fm) == -1)
		return -1;
	m->bol = 0;
	m->gt = 0;
	m->fm = 0;
	return 0;
}

static int mbq_put(struct mbq *m, const char *p, size_t n)
{
	size_t i = 0, k;

	while (i < n) {
		if (m->bol) {
			char c = p[i];

			if (!m->fm && c == '>') {
				m->gt++;
				i++;
				continue;
			}
			if (c == "From "[m->fm]) {
				i++;
				if (++m->fm == 5 && mbq_flush(m, 1) == -1)
					return -1;
				continue;
			}
			if (mbq_flush(m, 0) == -1)
				return -1;
		}
		k = byte_chr(p + i, n - i, '\n');
		if (k < n - i) {
			k++;
			m->bol = 1;
		}
		if (wr_put(&m->w, p + i, k) == -1)
			return -1;
		i += k;
	}
	if (n)
		m->last = p[n - 1];
	return 0;
}

static int mbox_write(int fd, int msgfd, const char *head, size_t headlen)
{
	char out[MBOX_BUF], in[MBOX_BUF];
	struct mbq m;
	ssize_t r;

	memset(&m, 0, sizeof m);
	wr_init(&m.w, fd, out, sizeof out, -1);
	m.bol = 1;
	m.last = '\n';
	if (wr_put(&m.w, head, headlen) == -1)
		return -1;
	for (;;) {
		r = read(msgfd, in, sizeof in);
		if (r == 0)
			break;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (mbq_put(&m, in, (size_t)r) == -1)
			return -1;
	}
	if (m.bol && (m.gt || m.fm) && mbq_flush(&m, 0) == -1)
		return -1;
	/* the message ends in LF, then a blank line separates it */
	if ((m.last != '\n' && wr_put(&m.w, "\n", 1) == -1) ||
	    wr_put(&m.w, "\n", 1) == -1 || wr_flush(&m.w) == -1)
		return -1;
	return fsync(fd);
}

static int mbox_lock(int fd)
{
	int i;

	for (i = 0; i < MBOX_LOCK_WAIT; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		sleep(1);
	}
	errno = ETIMEDOUT;
	return -1;
}

/* err = what path: strerror(e). (#4.3.0); empty when out of memory. */
static int mbox_fail(struct str *err, const char *what, const char *path,
                     int e)
{
	err->len = 0;
	if (!str_cats(err, what) || !str_cats(err, path) ||
	    !str_cats(err, ": ") || !str_cats(err, strerror(e)) ||
	    !str_cats(err, ". (#4.3.0)") || !str_0(err))
		err->len = 0;
	return MBOX_TEMP;
}

static int mbox_fail_locked(struct str *err)
{
	char num[FMT_ULONG];

	err->len = 0;
	if (!str_cats(err, "File has been locked for ") ||
	    !str_cats(err, fmt_u(num, MBOX_LOCK_WAIT)) ||
	    !str_cats(err, " seconds straight. (#4.3.0)") || !str_0(err))
		err->len = 0;
	return MBOX_TEMP;
}

int mbox_deliver(const char *path, int msgfd, const char *head,
                 size_t headlen, struct str *err)
{
	off_t pos;
	int fd, e;

	/* O_NONBLOCK: a FIFO in the .qmail line must not hang delivery */
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK,
	          0600);
	if (fd == -1)
		return mbox_fail(err, "Unable to open ", path, errno);
	if (mbox_lock(fd) == -1) {
		e = errno;
		close(fd);
		if (e == ETIMEDOUT)
			return mbox_fail_locked(err);
		return mbox_fail(err, "Unable to lock ", path, e);
	}
	pos = lseek(fd, 0, SEEK_END);
	if (pos == -1) {
		e = errno;
		close(fd);
		return mbox_fail(err, "Unable to seek ", path, e);
	}
	if (mbox_write(fd, msgfd, head, headlen) == -1) {
		e = errno;
		/* never leave half a message for the next one to join */
		if (ftruncate(fd, pos) == -1)
			log_kv("warn", "event", "mbox_truncate", "file", path,
			       "error", strerror(errno), NULL);
		close(fd);
		return mbox_fail(err, "Unable to write ", path, e);
	}
	if (close(fd) == -1)
		return mbox_fail(err, "Unable to write ", path, errno);
	return MBOX_OK;
}
