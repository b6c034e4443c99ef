/* Unit tests for the queue layout and envelope files. */
#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fs.h>

#include "exitcode.h"
#include "qfile.h"
#include "test.h"

/* Strings with NULs in them: the length travels with the bytes. */
#define B(s) s, sizeof s - 1

static char *repeat(char c, size_t n)
{
	char *p = malloc(n + 1);

	if (!p)
		abort();
	memset(p, c, n);
	p[n] = 0;
	return p;
}

static void test_path(void)
{
	static const struct {
		enum qfile_kind kind;
		unsigned long long id;
		const char *want;
	} t[] = {
		{ QFILE_MESS, 1, "mess/01/1" },
		{ QFILE_ENV, 32, "env/00/32" },
		{ QFILE_ENV, 63, "env/31/63" },
		{ QFILE_MESS, 10953669, "mess/05/10953669" },
		{ QFILE_MESS, 18446744073709551615ULL,
		  "mess/31/18446744073709551615" },
	};
	char buf[QFILE_PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		CHECK(qfile_path(buf, t[i].kind, t[i].id) == strlen(t[i].want));
		CHECK(strcmp(buf, t[i].want) == 0);
	}
	CHECK(qfile_subdir(buf, QFILE_TMP, 7) == 3 && !strcmp(buf, "tmp"));
	CHECK(qfile_subdir(buf, QFILE_ENV, 9) == 6 && !strcmp(buf, "env/09"));
}

static void test_id(void)
{
	static const struct {
		const char *name;
		int ok;
		unsigned long long id;
	} t[] = {
		{ "1", 1, 1 },
		{ "10953669", 1, 10953669 },
		{ "18446744073709551615", 1, 18446744073709551615ULL },
		{ "18446744073709551616", 0, 0 },
		{ "0", 0, 0 },
		{ "01", 0, 0 },
		{ "", 0, 0 },
		{ "12a", 0, 0 },
		{ "-1", 0, 0 },
		{ " 1", 0, 0 },
		{ "1.env", 0, 0 },
	};
	unsigned long long id;
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		id = 0;
		CHECK(qfile_id(t[i].name, &id) == t[i].ok);
		if (t[i].ok)
			CHECK(id == t[i].id);
	}
}

static void test_dir(void)
{
	unsetenv("QUAIL_QUEUE");
	CHECK(strcmp(qfile_dir(), QUEUEDIR) == 0);
	setenv("QUAIL_QUEUE", "", 1);
	CHECK(strcmp(qfile_dir(), QUEUEDIR) == 0);
	setenv("QUAIL_QUEUE", "/tmp/q", 1);
	CHECK(strcmp(qfile_dir(), "/tmp/q") == 0);
	unsetenv("QUAIL_QUEUE");
}

static void test_env_build(void)
{
	char *a1003 = repeat('a', QFILE_ADDR_MAX);
	struct str s = STR_ZERO;
	static const char want[] =
		"Q1700000000 2048 3\nFa@b\nT-c@d\nTDe@f\nTBg\n";

	CHECK(qfile_env_head(&s, 1700000000, 2048, 3, B("a@b")) == 0);
	CHECK(qfile_env_rcpt(&s, B("c@d"), QFILE_PENDING) == 0);
	CHECK(qfile_env_rcpt(&s, B("e@f"), QFILE_DONE) == 0);
	CHECK(qfile_env_rcpt(&s, B("g"), QFILE_BOUNCED) == 0);
	CHECK(s.len == sizeof want - 1 && !memcmp(s.s, want, s.len));
	/* each failure leaves the text as it was */
	CHECK(qfile_env_rcpt(&s, B("x\ny"), '-') == QQ_ENVELOPE);
	CHECK(qfile_env_rcpt(&s, B("x\0y"), '-') == QQ_ENVELOPE);
	CHECK(qfile_env_rcpt(&s, B(""), '-') == QQ_ENVELOPE);
	CHECK(qfile_env_rcpt(&s, B("x"), 'X') == QQ_ENVELOPE);
	CHECK(qfile_env_rcpt(&s, B("x"), 0) == QQ_ENVELOPE);
	CHECK(qfile_env_rcpt(&s, a1003, QFILE_ADDR_MAX + 1, '-') ==
	      QQ_ADDR_TOOLONG);
	CHECK(qfile_env_head(&s, 1, 1, 1, B("a\nb")) == QQ_ENVELOPE);
	CHECK(qfile_env_head(&s, 1, 1, 1, a1003, QFILE_ADDR_MAX + 1) ==
	      QQ_ADDR_TOOLONG);
	CHECK(s.len == sizeof want - 1);
	CHECK(qfile_env_rcpt(&s, a1003, QFILE_ADDR_MAX, '-') == 0);
	s.len = 0;
	CHECK(qfile_env_head(&s, 0, 0, 0, B("")) == 0);
	CHECK(s.len == 9 && !memcmp(s.s, "Q0 0 0\nF\n", 9));
	str_free(&s);
	free(a1003);
}

struct qq_case {
	const char *p;
	size_t n;
	int code;               /* a QQ_ code, or 0 */
	int done;
	size_t end, nrcpt;
};

static void qq_case_check(const struct qq_case *c)
{
	struct qfile_qq whole, bytes;
	size_t k;
	int r = 0;

	memset(&whole, 0, sizeof whole);
	CHECK(qfile_qq_check(&whole, c->p, c->n) == c->code);
	/* the same bytes one at a time, as from a slow pipe */
	memset(&bytes, 0, sizeof bytes);
	for (k = 1; k <= c->n && r == 0 && !bytes.done; k++)
		r = qfile_qq_check(&bytes, c->p, k);
	CHECK(r == c->code);
	if (c->code)
		return;
	CHECK(whole.done == c->done && bytes.done == c->done);
	if (c->done) {
		CHECK(whole.end == c->end && bytes.end == c->end);
		CHECK(whole.nrcpt == c->nrcpt && bytes.nrcpt == c->nrcpt);
	}
}

static void test_qq(void)
{
	static const struct qq_case t[] = {
		{ B("Fa@b\0Tc@d\0\0"), 0, 1, 11, 1 },
		{ B("F\0Tc@d\0Te\0\0trailing junk"), 0, 1, 11, 2 },
		{ B("F#@[]\0Tpostmaster\0\0"), 0, 1, 19, 1 },
		{ B(""), 0, 0, 0, 0 },
		{ B("F"), 0, 0, 0, 0 },
		{ B("Fa@b\0Tc@d\0"), 0, 0, 0, 0 },
		{ B("Fa@b\0Tc@d"), 0, 0, 0, 0 },
		{ B("Fa@b\0\0"), QQ_ENVELOPE, 0, 0, 0 },
		{ B("\0"), QQ_ENVELOPE, 0, 0, 0 },
		{ B("Xa\0Tb\0\0"), QQ_ENVELOPE, 0, 0, 0 },
		{ B("Fa\0Xc\0\0"), QQ_ENVELOPE, 0, 0, 0 },
		{ B("Fa\0Fc\0\0"), QQ_ENVELOPE, 0, 0, 0 },
		{ B("Fa\nb\0Tc\0\0"), QQ_ENVELOPE, 0, 0, 0 },
		{ B("Fa\0Tc\nd\0\0"), QQ_ENVELOPE, 0, 0, 0 },
		{ B("Fa\0T\0\0"), QQ_ENVELOPE, 0, 0, 0 },
		{ B("Fa\0Tb\0T\0\0"), QQ_ENVELOPE, 0, 0, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++)
		qq_case_check(&t[i]);
}

/* Addresses at and past the limit, and a hostile caller that never
 * sends the NUL: rejected as soon as the address is too long. */
static void test_qq_long(void)
{
	size_t max = QFILE_ADDR_MAX, n;
	char *p = malloc(3 * max + 64);
	struct qq_case c;

	if (!p)
		abort();
	n = 0;
	p[n++] = 'F';
	memset(p + n, 's', max);
	n += max;
	p[n++] = 0;
	p[n++] = 'T';
	memset(p + n, 'r', max);
	n += max;
	p[n++] = 0;
	p[n++] = 0;
	c = (struct qq_case){ p, n, 0, 1, n, 1 };
	qq_case_check(&c);

	/* sender one byte over, no NUL yet */
	c = (struct qq_case){ p, max + 2, QQ_ADDR_TOOLONG, 0, 0, 0 };
	memset(p + 1, 's', max + 1);
	qq_case_check(&c);

	/* recipient one byte over */
	n = 0;
	memcpy(p, "Fa\0T", 4);
	n = 4;
	memset(p + n, 'r', max + 1);
	n += max + 1;
	p[n++] = 0;
	p[n++] = 0;
	c = (struct qq_case){ p, n, QQ_ADDR_TOOLONG, 0, 0, 0 };
	qq_case_check(&c);
	free(p);
}

static void test_from_qq(void)
{
	static const struct {
		const char *p;
		size_t n;
		int code;
		const char *want;
	} t[] = {
		{ B("Fa@b\0Tc@d\0\0"), 0, "Q5 7 1\nFa@b\nT-c@d\n" },
		{ B("F\0Tc\0Td\0\0"), 0, "Q5 7 2\nF\nT-c\nT-d\n" },
		{ B("Fa@b\0Tc@d\0"), QQ_ENVELOPE, 0 },
		{ B("Fa@b\0Tc@d"), QQ_ENVELOPE, 0 },
		{ B("Fa@b\0\0"), QQ_ENVELOPE, 0 },
		{ B("Fa@b"), QQ_ENVELOPE, 0 },
		{ B(""), QQ_ENVELOPE, 0 },
		{ B("\0"), QQ_ENVELOPE, 0 },
		{ B("Ta\0Tc\0\0"), QQ_ENVELOPE, 0 },
		{ B("Fa\0Xc\0\0"), QQ_ENVELOPE, 0 },
		{ B("Fa\0Tc\nd\0\0"), QQ_ENVELOPE, 0 },
		{ B("Fa\0T\0\0"), QQ_ENVELOPE, 0 },
	};
	struct str s = STR_ZERO;
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		CHECK(str_copyb(&s, "x", 1));
		CHECK(qfile_env_from_qq(&s, t[i].p, t[i].n, 5, 7) == t[i].code);
		if (t[i].want)
			CHECK(s.len == 1 + strlen(t[i].want) &&
			      !memcmp(s.s + 1, t[i].want, s.len - 1));
		else
			CHECK(s.len == 1);
	}
	str_free(&s);
}

/* Parses a copy of text: the result, with e filled in. */
static int parse(struct qfile_env *e, const char *text, size_t n)
{
	if (!str_copyb(&e->text, text, n))
		abort();
	return qfile_env_parse(e);
}

static void test_parse_good(void)
{
	static const char text[] =
		"Q1700000000 2048 3\nFa@b\nT-c@d\nTDe@f\nTBg\n";
	struct qfile_env e = QFILE_ENV_ZERO;

	CHECK(parse(&e, B(text)) == 1);
	CHECK(e.birth == 1700000000 && e.bytes == 2048);
	CHECK(e.senderlen == 3 && !strcmp(e.sender, "a@b"));
	CHECK(e.nrcpt == 3 && e.pending == 1);
	CHECK(e.rcpt[0].state == '-' && e.rcpt[0].len == 3 &&
	      !strcmp(e.rcpt[0].addr, "c@d") && text[e.rcpt[0].off] == '-');
	CHECK(e.rcpt[1].state == 'D' && !strcmp(e.rcpt[1].addr, "e@f") &&
	      text[e.rcpt[1].off] == 'D');
	CHECK(e.rcpt[2].state == 'B' && !strcmp(e.rcpt[2].addr, "g") &&
	      text[e.rcpt[2].off] == 'B' && e.rcpt[2].len == 1);
	CHECK(parse(&e, B("Q0 0 1\nF\nT-x\n")) == 1);
	CHECK(e.senderlen == 0 && !strcmp(e.sender, "") && e.nrcpt == 1);
	qfile_env_free(&e);
}

static void test_parse_bad(void)
{
	static const struct {
		const char *p;
		size_t n;
	} t[] = {
		{ B("") },
		{ B("\n") },
		{ B("Q1 2 1\nFa@b\n") },
		{ B("Q1 2\nFa\nT-c\n") },
		{ B("Q12 1\nFa\nT-c\n") },
		{ B("Q 2 1\nFa\nT-c\n") },
		{ B("Q1  1\nFa\nT-c\n") },
		{ B("Q1 2 \nFa\nT-c\n") },
		{ B("Q1 2 1 \nFa\nT-c\n") },
		{ B("Qx 2 1\nFa\nT-c\n") },
		{ B("Q1 2 1 3\nFa\nT-c\n") },
		{ B("Q1 99999999999999999999 1\nFa\nT-c\n") },
		{ B("q1 2 1\nFa\nT-c\n") },
		{ B("Q1 2 0\nFa\nT-c\n") },
		{ B("Q1 2 2\nFa\nT-c\n") },
		{ B("Q1 2 0\nFa\n") },
		{ B("Q1 2 1\nT-c\n") },
		{ B("Q1 2 1\nFa\nTXc\n") },
		{ B("Q1 2 1\nFa\nT-\n") },
		{ B("Q1 2 1\nFa\nT\n") },
		{ B("Q1 2 1\nFa\nT-c\nX\n") },
		{ B("Q1 2 1\nFa\nT-c\n\n") },
		{ B("Q1 2 1\nFa\nT-c") },
		{ B("Q1 2 1\nFa\0b\nT-c\n") },
		{ B("Q1 2 1\nFa\nT-c\0d\n") },
		{ B("Q1 2 1\nFa\nFb\nT-c\n") },
	};
	struct qfile_env e = QFILE_ENV_ZERO;
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		CHECK(parse(&e, t[i].p, t[i].n) == 0);
		/* a rejected text is left as it was */
		CHECK(e.text.len == t[i].n &&
		      !memcmp(e.text.s, t[i].p, t[i].n));
	}
	qfile_env_free(&e);
}

/* Every proper prefix of a good file, as a crash or a short read would
 * leave it, is rejected. */
static void test_parse_truncated(void)
{
	static const char text[] = "Q1700000000 2048 2\nFa@b\nT-c@d\nTDe@f\n";
	struct qfile_env e = QFILE_ENV_ZERO;
	size_t k;

	for (k = 0; k < sizeof text - 1; k++)
		CHECK(parse(&e, text, k) == 0);
	CHECK(parse(&e, B(text)) == 1);
	qfile_env_free(&e);
}

static void test_parse_long(void)
{
	char *a = repeat('a', QFILE_ADDR_MAX + 1);
	struct qfile_env e = QFILE_ENV_ZERO;
	struct str s = STR_ZERO;

	CHECK(qfile_env_head(&s, 1, 2, 1, a, QFILE_ADDR_MAX) == 0);
	CHECK(qfile_env_rcpt(&s, a, QFILE_ADDR_MAX, '-') == 0);
	CHECK(parse(&e, s.s, s.len) == 1);
	CHECK(e.senderlen == QFILE_ADDR_MAX && e.rcpt[0].len == QFILE_ADDR_MAX);
	/* one byte more in the sender, then in the recipient */
	s.len = 0;
	CHECK(str_cats(&s, "Q1 2 1\nF") && str_cats(&s, a) &&
	      str_cats(&s, "\nT-b\n"));
	CHECK(parse(&e, s.s, s.len) == 0);
	s.len = 0;
	CHECK(str_cats(&s, "Q1 2 1\nF\nT-") && str_cats(&s, a) &&
	      str_catc(&s, '\n'));
	CHECK(parse(&e, s.s, s.len) == 0);
	qfile_env_free(&e);
	str_free(&s);
	free(a);
}

/* Many recipients: the recipient array grows past its first size, and a
 * reused qfile_env sees only the latest file. */
static void test_parse_many(void)
{
	struct qfile_env e = QFILE_ENV_ZERO;
	struct str s = STR_ZERO;
	size_t i;

	CHECK(qfile_env_head(&s, 1, 2, 5000, "", 0) == 0);
	for (i = 0; i < 5000; i++)
		CHECK(qfile_env_rcpt(&s, "r@x", 3, i % 2 ? 'D' : '-') == 0);
	CHECK(parse(&e, s.s, s.len) == 1);
	CHECK(e.nrcpt == 5000 && e.pending == 2500);
	CHECK(parse(&e, B("Q1 2 1\nF\nT-a\n")) == 1);
	CHECK(e.nrcpt == 1 && e.pending == 1);
	qfile_env_free(&e);
	str_free(&s);
}

static int tmpfile_with(const char *text, size_t n)
{
	char name[] = "/tmp/qfile_test.XXXXXX";
	int fd = mkstemp(name);

	if (fd < 0 || unlink(name) < 0 || write(fd, text, n) != (ssize_t)n)
		abort();
	return fd;
}

/* An envelope many times the first read's buffer: read whole. */
static void test_read_big(void)
{
	static char text[50000];
	struct qfile_env e = QFILE_ENV_ZERO;
	size_t n = 0;
	int i, fd;

	n += (size_t)snprintf(text, sizeof text, "Q5 6 2000\nFs\n");
	for (i = 0; i < 2000; i++)
		n += (size_t)snprintf(text + n, sizeof text - n,
		                      "T-r%04d@example.org\n", i);
	fd = tmpfile_with(text, n);
	CHECK(n > 30000);
	CHECK(qfile_env_read(&e, fd) == 1 && e.nrcpt == 2000 &&
	      e.pending == 2000 &&
	      !strcmp(e.rcpt[1999].addr, "r1999@example.org"));
	qfile_env_free(&e);
	close(fd);
}

static void test_read_mark(void)
{
	static const char text[] = "Q5 6 3\nFs\nT-a\nT-b\nTDc\n";
	struct qfile_env e = QFILE_ENV_ZERO, f = QFILE_ENV_ZERO;
	int fd = tmpfile_with(B(text));

	CHECK(qfile_env_read(&e, fd) == 1);
	CHECK(e.nrcpt == 3 && e.pending == 2 && e.birth == 5 && e.bytes == 6);
	CHECK(qfile_env_mark(&e, fd, 1, QFILE_DONE) == 0);
	CHECK(qfile_env_mark(&e, fd, 0, QFILE_BOUNCED) == 0);
	CHECK(e.pending == 0 && e.rcpt[1].state == 'D');
	CHECK(qfile_env_mark(&e, fd, 2, QFILE_PENDING) == 0);
	CHECK(e.pending == 1);
	CHECK(qfile_env_sync(fd) == 0);
	errno = 0;
	CHECK(qfile_env_mark(&e, fd, 3, QFILE_DONE) < 0 && errno == EINVAL);
	errno = 0;
	CHECK(qfile_env_mark(&e, fd, 0, 'X') < 0 && errno == EINVAL);
	CHECK(qfile_env_read(&f, fd) == 1);
	CHECK(f.nrcpt == 3 && f.pending == 1);
	CHECK(f.rcpt[0].state == 'B' && f.rcpt[1].state == 'D' &&
	      f.rcpt[2].state == '-' && !strcmp(f.rcpt[2].addr, "c"));
	/* the file is the same size: only state bytes changed */
	CHECK(lseek(fd, 0, SEEK_END) == (off_t)sizeof text - 1);
	close(fd);
	qfile_env_free(&e);
	qfile_env_free(&f);
}

static void test_read_bad(void)
{
	struct qfile_env e = QFILE_ENV_ZERO;
	int fd = tmpfile_with(B("Q5 6 1\nFs\nT-a"));

	CHECK(qfile_env_read(&e, fd) == 0);
	close(fd);
	/* over QFILE_ENV_MAX (a sparse file): rejected, not parsed */
	fd = tmpfile_with(B("Q5 6 1\nFs\nT-a\n"));
	CHECK(ftruncate(fd, (off_t)QFILE_ENV_MAX + 1) == 0);
	CHECK(qfile_env_read(&e, fd) == 0);
	close(fd);
	errno = 0;
	CHECK(qfile_env_read(&e, -1) < 0 && errno == EBADF);
	qfile_env_free(&e);
}

/* rm -r of a test's scratch tree, without a shell */
static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void remove_tree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void put_at(int qfd, const char *path, const char *text, size_t n)
{
	int fd = openat(qfd, path, O_CREAT | O_WRONLY | O_TRUNC, 0600);

	CHECK(fd >= 0 && write(fd, text, n) == (ssize_t)n);
	close(fd);
}

/* qfile_env_load: found, damaged, gone, a symlink, unreadable; step
 * names the call that failed. */
static void test_env_load(void)
{
	static const struct {
		unsigned long long id;
		int r, err;
		const char *step;
	} t[] = {
		{ 33, 1, 0, 0 },
		{ 34, 0, 0, 0 },
		{ 37, -1, ENOENT, "open" },
		{ 35, -1, ELOOP, "open" },
		{ 36, -1, EISDIR, "read" },
	};
	char dir[] = "/tmp/qfile_loadXXXXXX", root[64];
	struct qfile_env e = QFILE_ENV_ZERO;
	const char *step;
	size_t i;
	int qfd;

	CHECK(mkdtemp(dir) != 0);
	memcpy(root, dir, sizeof dir - 1);
	memcpy(root + sizeof dir - 1, "/q", 3);
	CHECK(qfile_mkqueue(root, 0) == 0);
	qfd = open(root, O_RDONLY | O_DIRECTORY);
	CHECK(qfd >= 0);
	put_at(qfd, "env/01/33", B("Q5 6 1\nFs\nT-a\n"));
	put_at(qfd, "env/02/34", B("Q5 6 1\nFs\nT-a"));
	CHECK(symlinkat("../01/33", qfd, "env/03/35") == 0);
	CHECK(mkdirat(qfd, "env/04/36", 0700) == 0);
	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		step = 0;
		errno = 0;
		CHECK(qfile_env_load(&e, qfd, t[i].id, &step) == t[i].r);
		if (t[i].r < 0)
			CHECK(errno == t[i].err && step && !strcmp(step, t[i].step));
	}
	CHECK(qfile_env_load(&e, qfd, 33, &step) == 1 && e.nrcpt == 1 &&
	      !strcmp(e.rcpt[0].addr, "a"));
	CHECK(unlinkat(qfd, "env/01/33", 0) == 0);
	CHECK(unlinkat(qfd, "env/02/34", 0) == 0);
	CHECK(unlinkat(qfd, "env/03/35", 0) == 0);
	CHECK(unlinkat(qfd, "env/04/36", AT_REMOVEDIR) == 0);
	close(qfd);
	qfile_env_free(&e);
	remove_tree(dir);
}

static int count(void *arg, int nn, const char *name)
{
	size_t *n = arg;

	(void)name;
	(void)nn;
	(*n)++;
	return 0;
}

static int stop(void *arg, int nn, const char *name)
{
	(void)arg;
	(void)name;
	return nn == -1 ? 7 : 9;
}

static void test_tree(void)
{
	char dir[] = "/tmp/qfile_test.XXXXXX", root[64], path[QFILE_PATH_MAX];
	const char *failed = 0;
	struct stat st;
	mode_t mode, old = umask(022);
	size_t i, n = 0;
	int fifo, qfd;

	CHECK(mkdtemp(dir) != 0);
	CHECK(strlen(dir) + 3 < sizeof root);
	memcpy(root, dir, strlen(dir));
	memcpy(root + strlen(dir), "/q", 3);
	CHECK(qfile_mkqueue(root, &failed) == 0);
	CHECK(qfile_mkqueue(root, &failed) == 0);   /* again: no change */
	umask(old);
	qfd = open(root, O_RDONLY | O_DIRECTORY);
	CHECK(qfd >= 0);
	for (i = 0; qfile_tree(i, path, &mode, &fifo); i++) {
		CHECK(fstatat(qfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0);
		CHECK((st.st_mode & 07777) == mode);
		CHECK(fifo ? S_ISFIFO(st.st_mode) : S_ISDIR(st.st_mode));
	}
	CHECK(i == 3 + 2 * (1 + QFILE_SPLIT));
	CHECK(qfile_tree(1, path, &mode, &fifo) && !strcmp(path, "tmp") &&
	      mode == 0700);

	/* where the filesystem has inode flags (ext4 does, tmpfs not),
	 * mess/ and env/ are tops of hierarchies and tmp/ is not */
	if (ioctl(qfd, FS_IOC_GETFLAGS, &fifo) == 0) {
		static const char *const top[] = { "mess", "env", "tmp" };
		int fd, fl;

		for (i = 0; i < 3; i++) {
			fd = openat(qfd, top[i], O_RDONLY | O_DIRECTORY);
			CHECK(fd >= 0 && ioctl(fd, FS_IOC_GETFLAGS, &fl) == 0);
			CHECK(!(fl & FS_TOPDIR_FL) == (i == 2));
			close(fd);
		}
	}

	/* scanning: every NN, names numeric or not, stop values */
	CHECK(close(openat(qfd, "env/00/32", O_CREAT | O_WRONLY, 0600)) == 0);
	CHECK(close(openat(qfd, "env/31/63", O_CREAT | O_WRONLY, 0600)) == 0);
	CHECK(close(openat(qfd, "env/05/junk", O_CREAT | O_WRONLY, 0600)) == 0);
	CHECK(close(openat(qfd, "tmp/x", O_CREAT | O_WRONLY, 0600)) == 0);
	CHECK(qfile_scan(qfd, QFILE_ENV, count, &n) == 0 && n == 3);
	n = 0;
	CHECK(qfile_scan(qfd, QFILE_MESS, count, &n) == 0 && n == 0);
	CHECK(qfile_scan(qfd, QFILE_TMP, count, &n) == 0 && n == 1);
	CHECK(qfile_scan(qfd, QFILE_TMP, stop, 0) == 7);
	CHECK(qfile_scan(qfd, QFILE_ENV, stop, 0) == 9);
	CHECK(unlinkat(qfd, "env/05/junk", 0) == 0);
	CHECK(unlinkat(qfd, "env/31/63", 0) == 0);
	CHECK(unlinkat(qfd, "env/00/32", 0) == 0);
	CHECK(unlinkat(qfd, "tmp/x", 0) == 0);
	CHECK(unlinkat(qfd, "env/17", AT_REMOVEDIR) == 0);
	errno = 0;
	CHECK(qfile_scan(qfd, QFILE_ENV, count, &n) == -1 && errno == ENOENT);
	close(qfd);

	/* a missing parent is not created; failed names the culprit */
	memcpy(root + strlen(dir), "/a/b", 5);
	CHECK(qfile_mkqueue(root, &failed) == -1 && errno == ENOENT &&
	      failed == root);
	memcpy(root + strlen(dir), "/q", 3);
	CHECK(qfile_mkqueue(root, &failed) == 0);   /* puts env/17 back */

	/* clean up */
	qfd = open(root, O_RDONLY | O_DIRECTORY);
	for (i = 3 + 2 * (1 + QFILE_SPLIT); i-- > 1;) {
		qfile_tree(i, path, &mode, &fifo);
		CHECK(unlinkat(qfd, path, fifo ? 0 : AT_REMOVEDIR) == 0);
	}
	close(qfd);
	CHECK(rmdir(root) == 0 && rmdir(dir) == 0);
}

int main(void)
{
	RUN(test_path);
	RUN(test_id);
	RUN(test_dir);
	RUN(test_env_build);
	RUN(test_qq);
	RUN(test_qq_long);
	RUN(test_from_qq);
	RUN(test_parse_good);
	RUN(test_parse_bad);
	RUN(test_parse_truncated);
	RUN(test_parse_long);
	RUN(test_parse_many);
	RUN(test_read_big);
	RUN(test_read_mark);
	RUN(test_read_bad);
	RUN(test_tree);
	RUN(test_env_load);
	return test_done();
}
