/* Tests for control files and settings, in a temporary control directory
 * named by $QUAIL_CONTROL, and for cdb lookups (cdbf) on files made there
 * with tinycdb's cdb_make. */
#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdbf.h"
#include "control.h"
#include "test.h"

#ifndef CONTROLDIR
#define CONTROLDIR "/etc/quail/control"
#endif

static char dir[] = "/tmp/quail-control-test.XXXXXX";

/* dir/name, in a static buffer; names here are short. */
static const char *path(const char *name)
{
	static char buf[256];
	int n = snprintf(buf, sizeof buf, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= sizeof buf)
		abort();
	return buf;
}

static int put(const char *name, const char *p, size_t n)
{
	int fd = open(path(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int ok;

	if (fd < 0)
		return 0;
	ok = write(fd, p, n) == (ssize_t)n;
	return close(fd) == 0 && ok;
}

static int puts_file(const char *name, const char *s)
{
	return put(name, s, strlen(s));
}

static int same(const struct str *x, const char *s)
{
	return str_eqb(x, s, strlen(s)) && x->s[x->len] == 0;
}

static void test_dir(void)
{
	CHECK(strcmp(control_dir(), dir) == 0);
	CHECK(setenv("QUAIL_CONTROL", "", 1) == 0);
	CHECK(strcmp(control_dir(), CONTROLDIR) == 0);
	CHECK(unsetenv("QUAIL_CONTROL") == 0);
	CHECK(strcmp(control_dir(), CONTROLDIR) == 0);
	CHECK(setenv("QUAIL_CONTROL", dir, 1) == 0);
}

static void test_missing(void)
{
	struct str s = STR_ZERO;
	unsigned long long u = 1;

	CHECK(control_line("nosuch", &s, "fallback") == 0);
	CHECK(same(&s, "fallback"));
	CHECK(control_line("nosuch", &s, 0) == 0);
	CHECK(same(&s, ""));
	CHECK(control_ulong("nosuch", &u, 42) == 0 && u == 42);
	CHECK(control_lines("nosuch", &s) == 0 && s.len == 0);
	str_free(&s);
}

static void test_line(void)
{
	static const struct {
		const char *content, *want;
		int r;
	} t[] = {
		{ "mail.example.org\n", "mail.example.org", 1 },
		{ "mail.example.org", "mail.example.org", 1 },
		{ "mail.example.org  \t \n", "mail.example.org", 1 },
		{ "mail.example.org\r\n", "mail.example.org", 1 },
		{ "# the host\n\n   \nfirst\nsecond\n", "first", 1 },
		{ "#only a comment\n", "dflt", 0 },
		{ "\n\n\t\n", "dflt", 0 },
		{ "", "dflt", 0 },
		{ "a b  c \n", "a b  c", 1 },
		{ "value # not a comment\n", "value # not a comment", 1 },
		{ "x\n#y\n", "x", 1 },
	};
	struct str s = STR_ZERO;
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		CHECK(puts_file("me", t[i].content));
		CHECK(control_line("me", &s, "dflt") == t[i].r);
		CHECK(same(&s, t[i].want));
	}
	str_free(&s);
}

static void test_lines(void)
{
	static const char want[] = "one\0two words\0three\0";
	struct str s = STR_ZERO;

	CHECK(puts_file("rcpthosts",
	                "# domains we accept\none\n\ntwo words  \r\n#x\nthree"));
	CHECK(control_lines("rcpthosts", &s) == 1);
	CHECK(str_eqb(&s, want, sizeof want - 1));
	CHECK(puts_file("rcpthosts", "# nothing\n"));
	CHECK(control_lines("rcpthosts", &s) == 1 && s.len == 0);
	str_free(&s);
}

/* Files bigger than one read, and a line longer than one read. */
static void test_big(void)
{
	struct str s = STR_ZERO, want = STR_ZERO;
	size_t i, count = 0;

	for (i = 0; i < 3000; i++)
		CHECK(str_cats(&want, "host") && str_catu(&want, i) &&
		      str_cats(&want, ".example\n"));
	CHECK(put("big", want.s, want.len));
	CHECK(control_lines("big", &s) == 1);
	for (i = 0; i < s.len; i++)
		count += s.s[i] == 0;
	CHECK(count == 3000);
	CHECK(s.len == want.len);
	want.len = 0;
	for (i = 0; i < 10000; i++)
		CHECK(str_catc(&want, (char)('a' + i % 26)));
	CHECK(str_catc(&want, '\n'));
	CHECK(put("long", want.s, want.len));
	CHECK(control_line("long", &s, 0) == 1);
	CHECK(s.len == 10000 && memcmp(s.s, want.s, 10000) == 0);
	str_free(&s);
	str_free(&want);
}

static void test_ulong(void)
{
	static const struct {
		const char *content;
		int r, err;
		unsigned long long u;
	} t[] = {
		{ "1200\n", 1, 0, 1200 },
		{ "0\n", 1, 0, 0 },
		{ "# seconds\n60  \n", 1, 0, 60 },
		{ "18446744073709551615\n", 1, 0, 18446744073709551615ULL },
		{ "18446744073709551616\n", -1, EINVAL, 7 },
		{ "12x\n", -1, EINVAL, 7 },
		{ "ten\n", -1, EINVAL, 7 },
		{ "-1\n", -1, EINVAL, 7 },
		{ " 5\n", -1, EINVAL, 7 },
		{ "5 6\n", -1, EINVAL, 7 },
		{ "", 0, 0, 99 },
		{ "#\n", 0, 0, 99 },
	};
	unsigned long long u;
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		CHECK(puts_file("timeoutsmtpd", t[i].content));
		u = 7;
		errno = 0;
		CHECK(control_ulong("timeoutsmtpd", &u, 99) == t[i].r);
		CHECK(u == t[i].u);
		if (t[i].r < 0)
			CHECK(errno == t[i].err);
	}
}

static void test_setting(void)
{
	unsigned long long u;

	CHECK(puts_file("databytes", "1000\n"));
	CHECK(unsetenv("DATABYTES") == 0);
	u = 0;
	CHECK(setting_ulong("DATABYTES", "databytes", &u, 5) == 1 && u == 1000);
	CHECK(setenv("DATABYTES", "2000", 1) == 0);
	CHECK(setting_ulong("DATABYTES", "databytes", &u, 5) == 1 && u == 2000);
	CHECK(setenv("DATABYTES", "0", 1) == 0);
	CHECK(setting_ulong("DATABYTES", "databytes", &u, 5) == 1 && u == 0);
	CHECK(setenv("DATABYTES", "lots", 1) == 0);
	u = 3;
	errno = 0;
	CHECK(setting_ulong("DATABYTES", "databytes", &u, 5) == -1);
	CHECK(errno == EINVAL);
	CHECK(setenv("DATABYTES", "99999999999999999999", 1) == 0);
	errno = 0;
	CHECK(setting_ulong("DATABYTES", "databytes", &u, 5) == -1 &&
	      errno == EINVAL);
	CHECK(unsetenv("DATABYTES") == 0);
	CHECK(setting_ulong("DATABYTES", "nosuch", &u, 5) == 0 && u == 5);
	CHECK(setting_ulong(0, "databytes", &u, 5) == 1 && u == 1000);
	CHECK(puts_file("databytes", "big\n"));
	errno = 0;
	CHECK(setting_ulong("DATABYTES", "databytes", &u, 5) == -1 &&
	      errno == EINVAL);
}

/* A control file that cannot be read is an error, not a default. */
static void test_unreadable(void)
{
	struct str s = STR_ZERO;
	unsigned long long u = 7;

	CHECK(mkdir(path("adir"), 0755) == 0);
	errno = 0;
	CHECK(control_line("adir", &s, "dflt") == -1 && errno == EISDIR);
	CHECK(control_ulong("adir", &u, 5) == -1 && u == 7);
	CHECK(puts_file("notadir", "x\n"));
	errno = 0;
	CHECK(control_line("notadir/me", &s, "dflt") == -1 && errno == ENOTDIR);
	CHECK(rmdir(path("adir")) == 0);
	CHECK(unlink(path("notadir")) == 0);
	str_free(&s);
}

/* --- cdbf --- */

struct kv {
	const char *k, *v;
	size_t klen, vlen;              /* 0: strlen */
};

static const struct kv records[] = {
	{ "example.org", "local", 0, 0 },
	{ "alice@example.org", "alice:1001:1001:/home/alice", 0, 0 },
	{ "empty", "", 0, 0 },
	{ "bin\0key", "bin\0value", 7, 9 },
	{ "a", "1", 0, 0 },
};

#define NRECORDS (sizeof records / sizeof records[0])

static size_t len_or(const char *s, size_t n)
{
	return n ? n : strlen(s);
}

/* Writes name.cdb from the records plus one big value, by rename as a
 * real builder would. */
static int make_cdb(const char *name, size_t bigsize)
{
	char tmp[300];
	struct cdb_make m;
	char *big;
	size_t i;
	int fd, ok = 1;

	if (snprintf(tmp, sizeof tmp, "%s.tmp", path(name)) >= (int)sizeof tmp)
		return 0;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || cdb_make_start(&m, fd) != 0)
		return 0;
	for (i = 0; i < NRECORDS; i++)
		ok &= cdb_make_add(&m, records[i].k,
		                   (unsigned)len_or(records[i].k, records[i].klen),
		                   records[i].v,
		                   (unsigned)len_or(records[i].v, records[i].vlen)) == 0;
	big = malloc(bigsize ? bigsize : 1);
	if (!big)
		return 0;
	memset(big, 'B', bigsize);
	ok &= cdb_make_add(&m, "big", 3, big, (unsigned)bigsize) == 0;
	free(big);
	ok &= cdb_make_finish(&m) == 0;
	ok &= close(fd) == 0;
	return ok && rename(tmp, path(name)) == 0;
}

static void test_cdbf_found(void)
{
	struct str v = STR_ZERO;
	size_t i;

	CHECK(make_cdb("users.cdb", 100000));
	for (i = 0; i < NRECORDS; i++) {
		CHECK(str_copys(&v, "stale"));
		CHECK(cdbf_lookup(path("users.cdb"), records[i].k,
		                  len_or(records[i].k, records[i].klen), &v) == 1);
		CHECK(str_eqb(&v, records[i].v, len_or(records[i].v, records[i].vlen)));
	}
	CHECK(cdbf_lookup(path("users.cdb"), "big", 3, &v) == 1);
	CHECK(v.len == 100000 && v.s[0] == 'B' && v.s[99999] == 'B');
	/* without a place for the value */
	CHECK(cdbf_lookup(path("users.cdb"), "a", 1, 0) == 1);
	str_free(&v);
}

static void test_cdbf_notfound(void)
{
	static const struct {
		const char *k;
		size_t n;
	} t[] = {
		{ "nosuch", 6 },
		{ "", 0 },
		{ "Example.org", 11 },  /* keys are bytes: the caller folds case */
		{ "example.or", 10 },
		{ "example.orgx", 12 },
		{ "bin", 3 },           /* "bin\0key" is longer */
		{ "a\0", 2 },
	};
	struct str v = STR_ZERO;
	size_t i;

	CHECK(make_cdb("users.cdb", 10));
	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		CHECK(str_copys(&v, "stale"));
		CHECK(cdbf_lookup(path("users.cdb"), t[i].k, t[i].n, &v) == 0);
	}
	/* no such file is "not found" too */
	CHECK(cdbf_lookup(path("nosuch.cdb"), "a", 1, &v) == 0);
	str_free(&v);
}

static void test_cdbf_errors(void)
{
	char junk[4096];
	struct str v = STR_ZERO;
	size_t i;

	/* too short to be a cdb */
	CHECK(puts_file("empty.cdb", ""));
	errno = 0;
	CHECK(cdbf_lookup(path("empty.cdb"), "a", 1, &v) == -1 && errno != 0);
	CHECK(puts_file("short.cdb", "not a cdb\n"));
	errno = 0;
	CHECK(cdbf_lookup(path("short.cdb"), "a", 1, &v) == -1 && errno != 0);
	/* a table of slots pointing past the end of the file */
	for (i = 0; i < sizeof junk; i++)
		junk[i] = (char)0xff;
	CHECK(put("junk.cdb", junk, sizeof junk));
	errno = 0;
	CHECK(cdbf_lookup(path("junk.cdb"), "a", 1, &v) == -1 && errno != 0);
	/* tables in bounds, a record claiming more than the file holds */
	CHECK(make_cdb("rec.cdb", 5));
	{
		int fd = open(path("rec.cdb"), O_WRONLY);

		CHECK(fd >= 0 && pwrite(fd, "\xff\xff\xff\x7f", 4, 2048) == 4);
		close(fd);
	}
	errno = 0;
	CHECK(cdbf_lookup(path("rec.cdb"), "example.org", 11, &v) == -1 &&
	      errno == EPROTO);
	CHECK(unlink(path("rec.cdb")) == 0);
	/* not a file; a path through a file */
	CHECK(mkdir(path("dir.cdb"), 0755) == 0);
	CHECK(cdbf_lookup(path("dir.cdb"), "a", 1, &v) == -1);
	CHECK(rmdir(path("dir.cdb")) == 0);
	errno = 0;
	CHECK(cdbf_lookup(path("junk.cdb/x"), "a", 1, &v) == -1 &&
	      errno == ENOTDIR);
	CHECK(unlink(path("empty.cdb")) == 0 && unlink(path("short.cdb")) == 0 &&
	      unlink(path("junk.cdb")) == 0);
	str_free(&v);
}

/* Many keys, so tables have long probe runs and wrap around: every key
 * tinycdb wrote is found with its own value, and near misses are not. */
static void test_cdbf_many(void)
{
	char k[32], val[32], tmp[300];
	struct cdb_make m;
	struct cdbf c;
	const char *v;
	size_t vn;
	int i, fd, ok = 1;

	snprintf(tmp, sizeof tmp, "%s.tmp", path("users.cdb"));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0 && cdb_make_start(&m, fd) == 0);
	for (i = 0; i < 20000; i++) {
		snprintf(k, sizeof k, "user%d@example.org", i);
		snprintf(val, sizeof val, "%d", i * 7);
		ok &= cdb_make_add(&m, k, (unsigned)strlen(k), val,
		                   (unsigned)strlen(val)) == 0;
	}
	CHECK(ok && cdb_make_finish(&m) == 0 && close(fd) == 0);
	CHECK(rename(tmp, path("users.cdb")) == 0);
	CHECK(cdbf_open(&c, path("users.cdb")) == 0);
	for (i = 0; i < 20000; i++) {
		snprintf(k, sizeof k, "user%d@example.org", i);
		snprintf(val, sizeof val, "%d", i * 7);
		CHECK(cdbf_get(&c, k, strlen(k), &v, &vn) == 1 &&
		      vn == strlen(val) && !memcmp(v, val, vn));
		snprintf(k, sizeof k, "user%d@example.orgx", i);
		CHECK(cdbf_get(&c, k, strlen(k), &v, &vn) == 0);
	}
	cdbf_close(&c);
	CHECK(unlink(path("users.cdb")) == 0);
}

/* A rebuilt file renamed over the old one is seen by the next lookup. */
static void test_cdbf_rebuild(void)
{
	struct str v = STR_ZERO;

	CHECK(make_cdb("users.cdb", 5));
	CHECK(cdbf_lookup(path("users.cdb"), "big", 3, &v) == 1 && v.len == 5);
	CHECK(make_cdb("users.cdb", 7));
	CHECK(cdbf_lookup(path("users.cdb"), "big", 3, &v) == 1 && v.len == 7);
	CHECK(unlink(path("users.cdb")) == 0);
	CHECK(cdbf_lookup(path("users.cdb"), "big", 3, &v) == 0);
	str_free(&v);
}

/* Many lookups leave no descriptor behind. */
static void test_cdbf_fds(void)
{
	struct str v = STR_ZERO;
	int i, fd, before;

	CHECK(make_cdb("users.cdb", 5));
	before = open("/dev/null", O_RDONLY);
	CHECK(before >= 0);
	close(before);
	for (i = 0; i < 2000; i++)
		CHECK(cdbf_lookup(path("users.cdb"), i % 2 ? "a" : "zz", i % 2 ? 1 : 2,
		                  &v) == i % 2);
	CHECK(puts_file("bad.cdb", "x"));
	for (i = 0; i < 100; i++)
		CHECK(cdbf_lookup(path("bad.cdb"), "a", 1, &v) == -1);
	fd = open("/dev/null", O_RDONLY);
	CHECK(fd == before);
	close(fd);
	CHECK(unlink(path("users.cdb")) == 0 && unlink(path("bad.cdb")) == 0);
	str_free(&v);
}

/* Removes what the tests made; the names are known, so no tree walk. */
static void cleanup(void)
{
	static const char *const names[] = {
		"me", "rcpthosts", "big", "long", "timeoutsmtpd", "databytes",
		"users.cdb",
	};
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		unlink(path(names[i]));
	if (rmdir(dir) != 0)
		printf("FAIL cleanup: %s left behind\n", dir);
}

int main(void)
{
	if (!mkdtemp(dir) || setenv("QUAIL_CONTROL", dir, 1) != 0) {
		printf("FAIL setup: %s\n", strerror(errno));
		return 1;
	}
	RUN(test_dir);
	RUN(test_missing);
	RUN(test_line);
	RUN(test_lines);
	RUN(test_big);
	RUN(test_ulong);
	RUN(test_setting);
	RUN(test_unreadable);
	RUN(test_cdbf_found);
	RUN(test_cdbf_notfound);
	RUN(test_cdbf_errors);
	RUN(test_cdbf_many);
	RUN(test_cdbf_rebuild);
	RUN(test_cdbf_fds);
	cleanup();
	return test_done();
}
