/* Tests for buffered, timed I/O: lines split every way across reads,
 * overlong lines, EOF part way, timeouts and deadlines, and the writer's
 * buffering. Writers that must run concurrently are child processes. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "test.h"

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* A child writes p[0..n) to fd in pieces of chunk bytes, pausing between
 * them so each piece is a read of its own, then closes fd (EOF). */
static pid_t writer(int fd, int other, const char *p, size_t n,
                    size_t chunk, long pause)
{
	pid_t pid = fork();
	size_t k;

	if (pid != 0)
		return pid;
	close(other);
	while (n) {
		k = n < chunk ? n : chunk;
		if (io_writeall(fd, p, k) != 0)
			_exit(1);
		p += k;
		n -= k;
		if (pause)
			pause_ms(pause);
	}
	_exit(0);
}

static int reaped(pid_t pid)
{
	int status;

	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0;
}

static const char lines[] =
	"EHLO client.example\r\n"
	"MAIL FROM:<a@b>\r\n"
	"\n"
	"a line longer than the tiny buffer the reader gets\r\n"
	"x\n"
	"last\r\n";

/* Reads lines with a buffer of cap bytes and checks each against lines. */
static int read_all(int fd, size_t cap, size_t max)
{
	char *buf = malloc(cap);
	struct str line = STR_ZERO;
	struct rd r;
	const char *want = lines;
	size_t n;
	int ok = buf != 0, got;

	if (buf)
		rd_init(&r, fd, buf, cap, 5000);
	while (ok && *want) {
		n = strchr(want, '\n') + 1 - want;
		got = rd_line(&r, &line, max);
		ok = got == RD_OK && str_eqb(&line, want, n);
		want += n;
	}
	if (ok)
		ok = rd_line(&r, &line, max) == RD_EOF;
	str_free(&line);
	free(buf);
	return ok;
}

static void split_case(size_t chunk, long pause, size_t cap)
{
	int sv[2];
	pid_t pid;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	pid = writer(sv[1], sv[0], lines, sizeof lines - 1, chunk, pause);
	CHECK(pid > 0);
	close(sv[1]);
	CHECK(read_all(sv[0], cap, 1000));
	close(sv[0]);
	CHECK(reaped(pid));
}

/* Whole reads from an offset; fewer bytes only at the end; errors. */
static void test_preadall(void)
{
	char path[] = "/tmp/io_test.XXXXXX", buf[100000], *big;
	size_t i, n = sizeof buf;
	int fd = mkstemp(path);

	CHECK(fd >= 0 && unlink(path) == 0);
	big = malloc(n);
	CHECK(big != 0);
	for (i = 0; i < n; i++)
		big[i] = (char)(i * 7);
	CHECK(io_writeall(fd, big, n) == 0);
	CHECK(io_preadall(fd, buf, n, 0) == (ssize_t)n && !memcmp(buf, big, n));
	CHECK(io_preadall(fd, buf, 10, 500) == 10 && !memcmp(buf, big + 500, 10));
	CHECK(io_preadall(fd, buf, 100, (off_t)n - 40) == 40 &&
	      !memcmp(buf, big + n - 40, 40));
	CHECK(io_preadall(fd, buf, 10, (off_t)n + 5) == 0);
	close(fd);
	errno = 0;
	CHECK(io_preadall(fd, buf, 10, 0) == -1 && errno == EBADF);
	free(big);
}

static void test_lines_whole(void)
{
	split_case(sizeof lines, 0, 4096);
	split_case(sizeof lines, 0, 1);
	split_case(sizeof lines, 0, 7);
}

static void test_lines_split(void)
{
	split_case(5, 2, 4096);
	split_case(13, 2, 8);
	split_case(21, 2, 21);
}

static void test_lines_bytewise(void)
{
	split_case(1, 1, 4096);
	split_case(1, 0, 3);
}

/* Over a pipe too, and with CRLF split between reads. */
static void test_pipe(void)
{
	struct str line = STR_ZERO;
	char buf[64];
	struct rd r;
	int fd[2];
	pid_t pid;

	CHECK(pipe(fd) == 0);
	pid = writer(fd[1], fd[0], "ab\r\ncd\r\n", 8, 3, 2);
	close(fd[1]);
	rd_init(&r, fd[0], buf, sizeof buf, -1);
	CHECK(rd_line(&r, &line, 100) == RD_OK && str_eqb(&line, "ab\r\n", 4));
	CHECK(rd_line(&r, &line, 100) == RD_OK && str_eqb(&line, "cd\r\n", 4));
	CHECK(rd_line(&r, &line, 100) == RD_EOF);
	CHECK(rd_line(&r, &line, 100) == RD_EOF);
	close(fd[0]);
	CHECK(reaped(pid));
	str_free(&line);
}

/* The limit counts the LF: max bytes pass, max + 1 do not, and the line
 * after an overlong one is read whole, however the reads fall. */
static void long_case(size_t chunk, size_t cap)
{
	char in[4000];
	struct str line = STR_ZERO;
	char *buf = malloc(cap);
	struct rd r;
	size_t n = 0;
	int sv[2];
	pid_t pid;

	memset(in, 'a', 10);            /* exactly 10 with its LF */
	in[9] = '\n';
	n = 10;
	memset(in + n, 'b', 11);        /* 11: too long */
	n += 11;
	in[n - 1] = '\n';
	memset(in + n, 'c', 3000);      /* far too long */
	n += 3000;
	in[n - 1] = '\n';
	memcpy(in + n, "ok\n", 3);
	n += 3;
	memset(in + n, 'd', 50);        /* too long and cut by EOF */
	n += 50;

	CHECK(buf != 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	pid = writer(sv[1], sv[0], in, n, chunk, chunk < 100 ? 1 : 0);
	close(sv[1]);
	rd_init(&r, sv[0], buf, cap, 5000);
	CHECK(rd_line(&r, &line, 10) == RD_OK && line.len == 10);
	CHECK(rd_line(&r, &line, 10) == RD_LONG);
	CHECK(rd_line(&r, &line, 10) == RD_LONG);
	CHECK(rd_line(&r, &line, 10) == RD_OK && str_eqb(&line, "ok\n", 3));
	CHECK(rd_line(&r, &line, 10) == RD_EOF);
	close(sv[0]);
	CHECK(reaped(pid));
	str_free(&line);
	free(buf);
}

static void test_long_line(void)
{
	long_case(5000, 4096);
	long_case(5000, 16);
	long_case(7, 4096);
	long_case(7, 3);
	long_case(1000, 1);
}

static void test_eof_partial(void)
{
	struct str line = STR_ZERO;
	char buf[16];
	struct rd r;
	int fd[2];

	CHECK(pipe(fd) == 0);
	CHECK(io_writeall(fd[1], "one\ntwo", 7) == 0);
	close(fd[1]);
	rd_init(&r, fd[0], buf, sizeof buf, 1000);
	CHECK(rd_line(&r, &line, 100) == RD_OK && str_eqb(&line, "one\n", 4));
	CHECK(rd_line(&r, &line, 100) == RD_EOF);
	CHECK(rd_line(&r, &line, 100) == RD_EOF);
	close(fd[0]);

	/* nothing at all */
	CHECK(pipe(fd) == 0);
	close(fd[1]);
	rd_init(&r, fd[0], buf, sizeof buf, 1000);
	CHECK(rd_line(&r, &line, 100) == RD_EOF);
	close(fd[0]);
	str_free(&line);
}

/* Timeouts on a pipe (poll before each read) and on a socket (its own
 * SO_RCVTIMEO, no poll): the same behaviour. */
static void timeouts(int sock)
{
	struct str line = STR_ZERO;
	char buf[64];
	struct rd r;
	long long t0, t;
	int fd[2];

	CHECK((sock ? socketpair(AF_UNIX, SOCK_STREAM, 0, fd) : pipe(fd)) == 0);
	CHECK(io_writeall(fd[1], "partial", 7) == 0);
	rd_init(&r, fd[0], buf, sizeof buf, 100);
	CHECK(r.kernel == sock);
	t0 = io_now_ms();
	errno = 0;
	CHECK(rd_line(&r, &line, 100) == RD_ERR);
	CHECK(errno == ETIMEDOUT);
	t = io_now_ms() - t0;
	CHECK(t >= 90 && t < 2000);

	/* the same through a deadline, with no per-read timeout */
	rd_init(&r, fd[0], buf, sizeof buf, -1);
	r.deadline = io_now_ms() + 100;
	t0 = io_now_ms();
	errno = 0;
	CHECK(rd_line(&r, &line, 100) == RD_ERR && errno == ETIMEDOUT);
	t = io_now_ms() - t0;
	CHECK(t >= 90 && t < 2000);

	/* a deadline already past fails at once */
	r.deadline = io_now_ms() - 1;
	errno = 0;
	CHECK(rd_fill(&r) == -1 && errno == ETIMEDOUT);

	/* the deadline wins over a longer timeout */
	rd_init(&r, fd[0], buf, sizeof buf, 10000);
	r.deadline = io_now_ms() + 100;
	t0 = io_now_ms();
	CHECK(rd_fill(&r) == -1 && errno == ETIMEDOUT);
	CHECK(io_now_ms() - t0 < 2000);

	/* a timeout shorter than a far deadline still ends the read */
	rd_init(&r, fd[0], buf, sizeof buf, 100);
	r.deadline = io_now_ms() + 60000;
	t0 = io_now_ms();
	CHECK(rd_fill(&r) == -1 && errno == ETIMEDOUT);
	t = io_now_ms() - t0;
	CHECK(t >= 90 && t < 2000);
	close(fd[0]);
	close(fd[1]);
	str_free(&line);
}

static void test_timeout(void)
{
	timeouts(0);
	timeouts(1);
}

/* A deadline further off than an int of milliseconds (24.8 days) must
 * not wrap into a short poll: the wait has to go on until data comes. */
static void test_far_deadline(void)
{
	int fd[2], status;
	pid_t pid;

	CHECK(pipe(fd) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int w = io_wait(fd[0], POLLIN, -1,
		                io_now_ms() + ((long long)1 << 32) + 100);

		_exit(w == 0 ? 2 : 0);
	}
	pause_ms(400);
	/* still waiting is right; having returned "timed out" is the bug */
	CHECK(waitpid(pid, &status, WNOHANG) == 0);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	close(fd[0]);
	close(fd[1]);
}

/* With the buffer full and nothing consumed, rd_fill reports it. */
static void test_fill_full(void)
{
	char buf[4];
	struct rd r;
	int fd[2];

	CHECK(pipe(fd) == 0);
	CHECK(io_writeall(fd[1], "abcdef", 6) == 0);
	rd_init(&r, fd[0], buf, sizeof buf, 1000);
	CHECK(rd_fill(&r) == 4 && rd_avail(&r) == 4);
	errno = 0;
	CHECK(rd_fill(&r) == -1 && errno == ENOBUFS);
	r.pos = 2;                      /* consume two: room again */
	CHECK(rd_fill(&r) == 2 && rd_avail(&r) == 4);
	CHECK(memcmp(buf, "cdef", 4) == 0);
	close(fd[0]);
	close(fd[1]);
}

/* 1 when nothing is waiting on fd. */
static int quiet(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, 0) == 0;
}

static void test_wr_buffer(void)
{
	char wbuf[16], in[64];
	struct wr w;
	int fd[2];

	CHECK(pipe(fd) == 0);
	wr_init(&w, fd[1], wbuf, sizeof wbuf, 1000);
	CHECK(wr_puts(&w, "hello ") == 0);
	CHECK(wr_put(&w, "world", 5) == 0);
	CHECK(quiet(fd[0]));
	CHECK(wr_flush(&w) == 0);
	CHECK(read(fd[0], in, sizeof in) == 11 && memcmp(in, "hello world", 11) == 0);
	CHECK(wr_flush(&w) == 0);       /* nothing buffered: nothing written */
	CHECK(quiet(fd[0]));
	/* filling exactly to capacity stays buffered */
	CHECK(wr_put(&w, "0123456789abcdef", 16) == 0);
	CHECK(quiet(fd[0]));
	/* one byte more pushes the full buffer out first */
	CHECK(wr_put(&w, "!", 1) == 0);
	CHECK(read(fd[0], in, sizeof in) == 16 && memcmp(in, "0123456789abcdef", 16) == 0);
	CHECK(quiet(fd[0]));
	/* a write bigger than the buffer goes out in order, straight away */
	CHECK(wr_put(&w, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", 26) == 0);
	CHECK(read(fd[0], in, sizeof in) == 27 &&
	      memcmp(in, "!ABCDEFGHIJKLMNOPQRSTUVWXYZ", 27) == 0);
	CHECK(wr_put(&w, "", 0) == 0);
	CHECK(quiet(fd[0]));
	close(fd[0]);
	close(fd[1]);
}

/* 4 MB in writes of odd sizes through a 4 KB buffer, read back by a
 * child that checks the pattern. */
static void test_wr_big(void)
{
	size_t total = 4 << 20, sent = 0, k, i, step = 0;
	static char chunk[70000 + 251];
	char wbuf[4096];
	struct wr w;
	int sv[2];
	pid_t pid;

	for (i = 0; i < sizeof chunk; i++)
		chunk[i] = (char)(i % 251);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		char in[8192];
		size_t got = 0;
		ssize_t n;

		close(sv[1]);
		while ((n = read(sv[0], in, sizeof in)) > 0)
			for (i = 0; i < (size_t)n; i++, got++)
				if (in[i] != (char)(got % 251))
					_exit(1);
		_exit(n == 0 && got == total ? 0 : 2);
	}
	close(sv[0]);
	wr_init(&w, sv[1], wbuf, sizeof wbuf, 5000);
	while (sent < total) {
		static const size_t sizes[] = { 1, 7, 4095, 4096, 4097, 65536,
		                                13, 69999 };

		k = sizes[step++ % (sizeof sizes / sizeof sizes[0])];
		if (k > total - sent)
			k = total - sent;
		/* keep the pattern continuous: start where the last write ended */
		CHECK(k + sent % 251 <= sizeof chunk);
		CHECK(wr_put(&w, chunk + sent % 251, k) == 0);
		sent += k;
	}
	CHECK(wr_flush(&w) == 0);
	close(sv[1]);
	CHECK(reaped(pid));
}

/* A peer that never reads: the writer times out rather than hang. */
static void test_wr_timeout(void)
{
	static char big[1 << 16];
	char wbuf[512];
	struct wr w;
	long long t0;
	int sv[2], r = 0, i;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	wr_init(&w, sv[1], wbuf, sizeof wbuf, 100);
	t0 = io_now_ms();
	for (i = 0; i < 1000 && r == 0; i++)
		r = wr_put(&w, big, sizeof big);
	CHECK(r == -1 && errno == ETIMEDOUT);
	CHECK(io_now_ms() - t0 < 5000);
	close(sv[0]);
	close(sv[1]);
}

/* One write far bigger than the socket's buffer, to a peer that never
 * reads: poll sees room for some of it, and a blocking write of the rest
 * would wait for ever; the socket's own timeout ends it. The writer is a
 * child, so a hang is a failure here, not a stuck test. */
static void test_wr_timeout_big(void)
{
	static char big[4 << 20];
	char wbuf[512];
	struct wr w;
	int sv[2], status = 0, i;
	pid_t pid;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		wr_init(&w, sv[1], wbuf, sizeof wbuf, 100);
		_exit(w.kernel && wr_put(&w, big, sizeof big) == -1 &&
		      errno == ETIMEDOUT ? 0 : 1);
	}
	for (i = 0; i < 50 && waitpid(pid, &status, WNOHANG) == 0; i++)
		pause_ms(100);
	if (i == 50) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	CHECK(i < 50);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(sv[0]);
	close(sv[1]);
}

static long timeo(int fd, int opt)
{
	struct timeval tv = { -1, -1 };
	socklen_t n = sizeof tv;

	if (getsockopt(fd, SOL_SOCKET, opt, &tv, &n) < 0)
		return -1;
	return tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* rd_init and wr_init put the timeouts on the socket; io_untime takes
 * them off for the program exec'd next; the retimes put them back. */
static void test_untime(void)
{
	char rbuf[16], wbuf[16];
	struct rd r;
	struct wr w;
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	rd_init(&r, sv[0], rbuf, sizeof rbuf, 2500);
	wr_init(&w, sv[0], wbuf, sizeof wbuf, 1500);
	CHECK(r.kernel && w.kernel);
	CHECK(timeo(sv[0], SO_RCVTIMEO) == 2500);
	CHECK(timeo(sv[0], SO_SNDTIMEO) == 1500);
	io_untime(sv[0]);
	CHECK(timeo(sv[0], SO_RCVTIMEO) == 0);
	CHECK(timeo(sv[0], SO_SNDTIMEO) == 0);
	rd_retime(&r);
	wr_retime(&w);
	CHECK(r.kernel && w.kernel);
	CHECK(timeo(sv[0], SO_RCVTIMEO) == 2500);
	CHECK(timeo(sv[0], SO_SNDTIMEO) == 1500);
	io_untime(sv[1]);               /* a socket without them: no harm */
	CHECK(timeo(sv[1], SO_RCVTIMEO) == 0);
	close(sv[0]);
	close(sv[1]);
}

static void test_writeall(void)
{
	char in[16];
	int fd[2];

	CHECK(pipe(fd) == 0);
	CHECK(io_writeall(fd[1], "abc", 3) == 0);
	CHECK(io_writeall(fd[1], "", 0) == 0);
	CHECK(read(fd[0], in, sizeof in) == 3 && memcmp(in, "abc", 3) == 0);
	close(fd[0]);
	errno = 0;
	CHECK(io_writeall(fd[1], "abc", 3) == -1 && errno == EPIPE);
	close(fd[1]);
	errno = 0;
	CHECK(io_writeall(fd[1], "abc", 3) == -1 && errno == EBADF);
}

/* An unnamed file gets its name only when linked, never over another. */
static void test_tmplink(void)
{
	char dir[] = "/tmp/io_test.XXXXXX", buf[8];
	int fd, dfd, rfd;

	if (!mkdtemp(dir)) {
		CHECK(0);
		return;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(dfd >= 0);
	fd = io_tmpfile(dfd, ".", 0600);
	CHECK(fd >= 0);
	if (fd < 0 || dfd < 0)
		return;
	CHECK(write(fd, "abc", 3) == 3);
	CHECK(faccessat(dfd, "a", F_OK, 0) == -1);
	CHECK(io_tmplink(fd, dfd, "a") == 0);
	CHECK(io_tmplink(fd, dfd, "a") == -1 && errno == EEXIST);
	CHECK(io_tmplink(fd, dfd, "none/b") == -1 && errno == ENOENT);
	rfd = openat(dfd, "a", O_RDONLY | O_CLOEXEC);
	CHECK(rfd >= 0 && read(rfd, buf, sizeof buf) == 3 &&
	      memcmp(buf, "abc", 3) == 0);
	close(rfd);
	close(fd);
	CHECK(unlinkat(dfd, "a", 0) == 0);
	close(dfd);
	CHECK(rmdir(dir) == 0);
}

/* Directories are fsync'd; anything else is refused with its errno. */
static void test_fsync_dir(void)
{
	char dir[] = "/tmp/io_test.XXXXXX", path[64];
	int fd;

	if (!mkdtemp(dir)) {
		CHECK(0);
		return;
	}
	snprintf(path, sizeof path, "%s/f", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	close(fd);
	CHECK(io_fsync_dir(AT_FDCWD, dir) == 0);
	CHECK(io_fsync_dir(AT_FDCWD, path) == -1 && errno == ENOTDIR);
	CHECK(io_fsync_dir(AT_FDCWD, "/nonexistent/x") == -1 &&
	      errno == ENOENT);
	CHECK(io_fsync_parent(path) == 0);
	snprintf(path, sizeof path, "%s/f//", dir);     /* trailing slashes */
	CHECK(io_fsync_parent(path) == 0);
	CHECK(io_fsync_parent("f") == 0);               /* "." */
	CHECK(io_fsync_parent("/") == 0);
	CHECK(io_fsync_parent("/nonexistent/x") == -1 && errno == ENOENT);
	snprintf(path, sizeof path, "%s/f", dir);
	CHECK(unlink(path) == 0 && rmdir(dir) == 0);
}

int main(void)
{
	/* a closed peer must give EPIPE, as in every quail program */
	signal(SIGPIPE, SIG_IGN);
	RUN(test_preadall);
	RUN(test_lines_whole);
	RUN(test_lines_split);
	RUN(test_lines_bytewise);
	RUN(test_pipe);
	RUN(test_long_line);
	RUN(test_eof_partial);
	RUN(test_timeout);
	RUN(test_far_deadline);
	RUN(test_fill_full);
	RUN(test_wr_buffer);
	RUN(test_wr_big);
	RUN(test_wr_timeout);
	RUN(test_wr_timeout_big);
	RUN(test_untime);
	RUN(test_writeall);
	RUN(test_tmplink);
	RUN(test_fsync_dir);
	return test_done();
}
