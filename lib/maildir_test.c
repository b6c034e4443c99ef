/* Tables for Maildir names and Maildir++ quota; real deliveries into a
 * temporary Maildir, and onto a full tmpfs when run as root. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exitcode.h"
#include "maildir.h"
#include "test.h"

static const struct {
	const char *name;
	int mask;
	unsigned long long s, w;
	size_t base;
} size_cases[] = {
	{ "1.M2P3Q4.host", 0, 0, 0, 13 },
	{ "1.M2P3Q4.host,S=120", MAILDIR_HAS_S, 120, 0, 19 },
	{ "1.M2P3Q4.host,S=120,W=124", MAILDIR_HAS_S | MAILDIR_HAS_W, 120, 124, 25 },
	{ "1.M2P3Q4.host,W=124,S=120:2,S", MAILDIR_HAS_S | MAILDIR_HAS_W, 120, 124, 25 },
	{ "1.M2P3Q4.host,S=:2,", 0, 0, 0, 16 },
	{ "1.M2P3Q4.host,S=12x", 0, 0, 0, 19 },
	{ "1.M2P3Q4.host,S=99999999999999999999999", 0, 0, 0, 39 },
	{ "1.M2P3Q4.host:2,S,W=5", 0, 0, 0, 13 },       /* after ':' is info */
	{ "1.M2P3Q4.host,X=1,S=7", MAILDIR_HAS_S, 7, 0, 21 },
	{ "a,S=1,S=2", MAILDIR_HAS_S, 2, 0, 9 },
	{ ",S=5", MAILDIR_HAS_S, 5, 0, 4 },
	{ "", 0, 0, 0, 0 },
	{ ":", 0, 0, 0, 0 },
};

static void test_name_sizes(void)
{
	size_t i, n;
	unsigned long long s, w;
	int m;

	for (i = 0; i < sizeof size_cases / sizeof size_cases[0]; i++) {
		n = strlen(size_cases[i].name);
		s = w = 0;
		m = maildir_name_sizes(size_cases[i].name, n, &s, &w);
		CHECK(m == size_cases[i].mask);
		if (m & MAILDIR_HAS_S)
			CHECK(s == size_cases[i].s);
		if (m & MAILDIR_HAS_W)
			CHECK(w == size_cases[i].w);
		CHECK(maildir_name_base(size_cases[i].name, n) == size_cases[i].base);
	}
}

static const struct {
	const char *name, *flags;       /* flags NULL: no ":2," */
} flag_cases[] = {
	{ "u", 0 },
	{ "u:2,", "" },
	{ "u:2,FRS", "FRS" },
	{ "u,S=1:2,S", "S" },
	{ "u:1,S", 0 },
	{ "u:2", 0 },
	{ "u:", 0 },
	{ "u:2,ab:c", "ab:c" },
};

static void test_name_flags(void)
{
	size_t i, n, flen;
	const char *f;

	for (i = 0; i < sizeof flag_cases / sizeof flag_cases[0]; i++) {
		n = strlen(flag_cases[i].name);
		f = maildir_name_flags(flag_cases[i].name, n, &flen);
		if (!flag_cases[i].flags) {
			CHECK(f == 0);
			continue;
		}
		CHECK(f && flen == strlen(flag_cases[i].flags) &&
		      !memcmp(f, flag_cases[i].flags, flen));
	}
	CHECK(maildir_name_hasflag("u:2,FRS", 7, 'R'));
	CHECK(!maildir_name_hasflag("u:2,FRS", 7, 'T'));
	CHECK(!maildir_name_hasflag("uS", 2, 'S'));
}

static const struct {
	const char *name, *flags, *want;        /* want NULL: EINVAL */
} set_cases[] = {
	{ "u", "S", "u:2,S" },
	{ "u:2,S", "SRF", "u:2,FRS" },
	{ "u,S=5,W=6:2,FS", "", "u,S=5,W=6:2," },
	{ "u", "TSRPFD", "u:2,DFPRST" },
	{ "u", "SSS", "u:2,S" },
	{ "u", "baS", "u:2,Sab" },
	{ "u:1,x", "D", "u:2,D" },
	{ "u", "S:", 0 },
	{ "u", "S,", 0 },
	{ "u", "/", 0 },
	{ "u", " ", 0 },
	{ "u", "\x80", 0 },
};

static void test_name_setflags(void)
{
	struct str out = STR_ZERO;
	size_t i;
	int r;

	for (i = 0; i < sizeof set_cases / sizeof set_cases[0]; i++) {
		errno = 0;
		r = maildir_name_setflags(&out, set_cases[i].name,
		                          strlen(set_cases[i].name),
		                          set_cases[i].flags,
		                          strlen(set_cases[i].flags));
		if (!set_cases[i].want) {
			CHECK(r == -1 && errno == EINVAL);
			continue;
		}
		CHECK(r == 0 && str_eqb(&out, set_cases[i].want,
		                        strlen(set_cases[i].want)));
	}
	str_free(&out);
}

static const struct {
	const char *spec;
	int ok;
	unsigned long long bytes, count;
	const char *fmt;
} quota_cases[] = {
	{ "", 1, 0, 0, "" },
	{ "1000S", 1, 1000, 0, "1000S" },
	{ "50C", 1, 0, 50, "50C" },
	{ "1000S,50C", 1, 1000, 50, "1000S,50C" },
	{ "50C,1000S", 1, 1000, 50, "1000S,50C" },
	{ "0S,0C", 1, 0, 0, "" },
	{ "1000", 0, 0, 0, 0 },
	{ "S", 0, 0, 0, 0 },
	{ "1000S,", 0, 0, 0, 0 },
	{ ",1000S", 0, 0, 0, 0 },
	{ "1000S,2000S", 0, 0, 0, 0 },
	{ "1000X", 0, 0, 0, 0 },
	{ "10 00S", 0, 0, 0, 0 },
	{ "-5S", 0, 0, 0, 0 },
	{ "99999999999999999999999S", 0, 0, 0, 0 },
	{ "18446744073709551615S", 1, 18446744073709551615ULL, 0,
	  "18446744073709551615S" },
};

static void test_quota_parse(void)
{
	struct maildir_quota q;
	struct str f = STR_ZERO;
	size_t i;

	for (i = 0; i < sizeof quota_cases / sizeof quota_cases[0]; i++) {
		int ok = maildir_quota_parse(quota_cases[i].spec,
		                             strlen(quota_cases[i].spec), &q);

		CHECK(ok == quota_cases[i].ok);
		if (!ok)
			continue;
		CHECK(q.bytes == quota_cases[i].bytes);
		CHECK(q.count == quota_cases[i].count);
		CHECK(maildir_quota_fmt(&f, &q) == 0);
		CHECK(str_eqb(&f, quota_cases[i].fmt, strlen(quota_cases[i].fmt)));
	}
	str_free(&f);
}

static const struct {
	const char *in;
	int ok;
	long long bytes, count;
} size_file_cases[] = {
	{ "1000S,10C\n", 1, 0, 0 },
	{ "1000S,10C\n100 1\n", 1, 100, 1 },
	{ "1000S,10C\n100 1\n200 2\n-50 -1\n", 1, 250, 2 },
	{ "1000S\n   12345     3\n     1    1\n", 1, 12346, 4 },
	{ "\n5 1\n", 1, 5, 1 },
	{ "1000S,10C", 0, 0, 0 },               /* no LF after quota */
	{ "", 0, 0, 0 },
	{ "1000S\n100 1", 0, 0, 0 },             /* torn append */
	{ "1000S\n100\n", 0, 0, 0 },
	{ "1000S\n100 1 2\n", 0, 0, 0 },
	{ "1000S\nabc 1\n", 0, 0, 0 },
	{ "1000S\n\n", 0, 0, 0 },
	{ "1000S\n100 -1\n", 0, 0, 0 },          /* negative total */
	{ "1000S\n-100 1\n", 0, 0, 0 },
	{ "1000S\n100  1 \n", 1, 100, 1 },
	{ "1000S\n100\t1\n", 0, 0, 0 },
	{ "1000S\n9223372036854775807 1\n1 1\n", 0, 0, 0 },  /* overflow */
	{ "1000S\n9223372036854775808 1\n", 0, 0, 0 },
	{ "bogus\n1 1\n", 0, 0, 0 },
	{ "1000S\n- 1\n", 0, 0, 0 },
};

static void test_size_file(void)
{
	struct maildir_quota q;
	struct maildir_usage u;
	size_t i;

	for (i = 0; i < sizeof size_file_cases / sizeof size_file_cases[0]; i++) {
		int ok = maildirsize_parse(size_file_cases[i].in,
		                           strlen(size_file_cases[i].in), &q, &u);

		if (ok != size_file_cases[i].ok)
			printf("  case %zu: got %d\n", i, ok);
		CHECK(ok == size_file_cases[i].ok);
		if (ok)
			CHECK(u.bytes == size_file_cases[i].bytes &&
			      u.count == size_file_cases[i].count);
	}
}

static void test_quota_over(void)
{
	struct maildir_quota q = { 1000, 10 };
	struct maildir_quota none = { 0, 0 };
	struct maildir_usage u = { 900, 5 };

	CHECK(!maildir_quota_over(&q, &u, 100, 1));
	CHECK(maildir_quota_over(&q, &u, 101, 1));
	u.count = 10;
	CHECK(maildir_quota_over(&q, &u, 1, 1));
	CHECK(!maildir_quota_over(&none, &u, 1ULL << 62, 1000));
	u.bytes = 0;
	CHECK(maildir_quota_over(&q, &u, ~0ULL, 0));
}

/* A fresh directory under /tmp, removed with rm -rf at the end. */
static char tmpdir[64];

static void tmp_setup(void)
{
	memcpy(tmpdir, "/tmp/maildir_test.XXXXXX", 25);
	if (!mkdtemp(tmpdir)) {
		printf("mkdtemp failed\n");
		exit(1);
	}
}

static void tmp_cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		printf("cleanup of %s failed\n", tmpdir);
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)) != 0)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int msg_fd(const char *body, size_t n)
{
	char path[128];
	int fd;

	snprintf(path, sizeof path, "%s/msg", tmpdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd == -1 || write(fd, body, n) != (ssize_t)n ||
	    lseek(fd, 0, SEEK_SET) != 0)
		return -1;
	return fd;
}

static int file_is(const char *path, const char *want, size_t n)
{
	char buf[4096];
	int fd = open(path, O_RDONLY);
	ssize_t r;

	if (fd == -1)
		return 0;
	r = read(fd, buf, sizeof buf);
	close(fd);
	return r == (ssize_t)n && !memcmp(buf, want, n);
}

static void test_deliver(void)
{
	static const char hdr[] = "Return-Path: <a@b>\nDelivered-To: c@d\n";
	static const char body[] = "Subject: x\n\nline\n\nno newline at end";
	char md[128], path[512], want[256];
	struct str name = STR_ZERO;
	unsigned long long s, w, size;
	int fd;

	snprintf(md, sizeof md, "%s/Maildir", tmpdir);
	CHECK(maildir_make(md, 0700) == 0);
	CHECK(maildir_make(md, 0700) == 0);       /* existing is fine */
	fd = msg_fd(body, sizeof body - 1);
	CHECK(fd != -1);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	CHECK(maildir_deliver(md, hdr, sizeof hdr - 1, fd, &name, &size) == 0);
	CHECK(size == sizeof hdr - 1 + sizeof body - 1);
	CHECK(maildir_name_sizes(name.s, name.len, &s, &w) ==
	      (MAILDIR_HAS_S | MAILDIR_HAS_W));
	CHECK(s == size && w == size + 6);        /* 2 + 4 LFs */
	CHECK(memchr(name.s, '/', name.len) == 0 && memchr(name.s, ':', name.len) == 0);
	snprintf(path, sizeof path, "%s/new/%.*s", md, (int)name.len, name.s);
	snprintf(want, sizeof want, "%s%s", hdr, body);
	CHECK(file_is(path, want, strlen(want)));
	snprintf(path, sizeof path, "%s/tmp", md);
	CHECK(count_entries(path) == 0);
	snprintf(path, sizeof path, "%s/new", md);
	CHECK(count_entries(path) == 1);

	/* from the fd's current offset, and an empty header */
	CHECK(lseek(fd, 12, SEEK_SET) == 12);
	CHECK(maildir_deliver(md, "", 0, fd, &name, &size) == 0);
	CHECK(size == sizeof body - 1 - 12);
	CHECK(count_entries(path) == 2);
	close(fd);

	/* no Maildir there: an error, nothing created */
	snprintf(path, sizeof path, "%s/none", tmpdir);
	fd = msg_fd(body, sizeof body - 1);
	CHECK(maildir_deliver(path, "", 0, fd, &name, &size) == -1);
	CHECK(errno == ENOENT);
	/* unreadable message: nothing left behind */
	close(fd);
	fd = open("/dev/null", O_WRONLY);
	CHECK(maildir_deliver(md, hdr, sizeof hdr - 1, fd, &name, &size) == -1);
	CHECK(errno == EBADF);
	close(fd);
	snprintf(path, sizeof path, "%s/tmp", md);
	CHECK(count_entries(path) == 0);
	snprintf(path, sizeof path, "%s/new", md);
	CHECK(count_entries(path) == 2);
	str_free(&name);
}

/* 1 when process pid holds an open file that has no name under dir:
 * Linux shows an unnamed (O_TMPFILE) file as "DIR/#INODE (deleted)". */
static int holds_unnamed(pid_t pid, const char *dir)
{
	char fds[64], link[600], target[600];
	struct dirent *d;
	DIR *dp;
	ssize_t n;
	int found = 0;

	snprintf(fds, sizeof fds, "/proc/%d/fd", (int)pid);
	dp = opendir(fds);
	if (!dp)
		return 0;
	while (!found && (d = readdir(dp))) {
		snprintf(link, sizeof link, "%s/%s", fds, d->d_name);
		n = readlink(link, target, sizeof target - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		found = !strncmp(target, dir, strlen(dir)) &&
		        target[strlen(dir)] == '/' &&
		        target[strlen(dir) + 1] == '#';
	}
	closedir(dp);
	return found;
}

/* While a delivery is under way, tmp/ holds nothing by name where
 * unnamed files can be linked (/proc is there), and tmp/<unique> where
 * they cannot (tests/test_crash.py runs this without /proc): so a crash
 * then leaves nothing, or something quail-qcheck-like cleaners know. */
static void test_deliver_in_flight(void)
{
	char md[128], tmp[160];
	struct str name = STR_ZERO;
	unsigned long long size;
	int p[2], i, st, unnamed = access("/proc/self/fd", X_OK) == 0;
	pid_t pid;

	snprintf(md, sizeof md, "%s/Inflight", tmpdir);
	snprintf(tmp, sizeof tmp, "%s/tmp", md);
	CHECK(maildir_make(md, 0700) == 0);
	CHECK(pipe(p) == 0);
	pid = fork();
	CHECK(pid != -1);
	if (pid == 0) {
		close(p[1]);
		_exit(maildir_deliver(md, "", 0, p[0], &name, &size) == 0 ?
		      0 : 1);
	}
	close(p[0]);
	CHECK(write(p[1], "Subject: in flight\n\n", 20) == 20);
	/* the child has its file once it shows, by either sign */
	for (i = 0; i < 500; i++) {
		if (count_entries(tmp) > 0 ||
		    (unnamed && holds_unnamed(pid, tmp)))
			break;
		usleep(10000);
	}
	CHECK(i < 500);
	CHECK(count_entries(tmp) == (unnamed ? 0 : 1));
	close(p[1]);
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	      WEXITSTATUS(st) == 0);
	CHECK(count_entries(tmp) == 0);
	str_free(&name);
}

static void put_file(const char *path, const char *c)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd == -1 || write(fd, c, strlen(c)) != (ssize_t)strlen(c))
		CHECK(0);
	close(fd);
}

static void test_quota_files(void)
{
	struct maildir_quota q = { 1000, 0 }, q2 = { 2000, 5 };
	struct maildir_usage u;
	char md[128], p[256];
	int fd;

	snprintf(md, sizeof md, "%s/Quota", tmpdir);
	CHECK(maildir_make(md, 0700) == 0);
	snprintf(p, sizeof p, "%s/.Sent", md);
	CHECK(maildir_make(p, 0700) == 0);
	snprintf(p, sizeof p, "%s/.Trash", md);
	CHECK(maildir_make(p, 0700) == 0);
	snprintf(p, sizeof p, "%s/new/1.a.h,S=100", md);
	put_file(p, "");
	snprintf(p, sizeof p, "%s/cur/2.b.h:2,S", md);
	put_file(p, "12345");                   /* no S=: stat says 5 */
	snprintf(p, sizeof p, "%s/cur/.hidden", md);
	put_file(p, "xxxxxxxx");                /* not a message */
	snprintf(p, sizeof p, "%s/.Sent/cur/3.c.h,S=40:2,S", md);
	put_file(p, "");
	snprintf(p, sizeof p, "%s/.Trash/cur/4.d.h,S=5000:2,T", md);
	put_file(p, "");

	/* missing maildirsize: counted and written */
	CHECK(maildir_quota_read(md, &q, &u) == 0);
	CHECK(u.bytes == 145 && u.count == 3);
	snprintf(p, sizeof p, "%s/maildirsize", md);
	CHECK(file_is(p, "1000S\n145 3\n", 12));

	/* appends are summed */
	CHECK(maildir_quota_add(md, 500, 1) == 0);
	CHECK(maildir_quota_add(md, -100, -1) == 0);
	CHECK(file_is(p, "1000S\n145 3\n500 1\n-100 -1\n", 26));
	CHECK(maildir_quota_read(md, &q, &u) == 0);
	CHECK(u.bytes == 545 && u.count == 3);
	CHECK(maildir_quota_check(md, &q, 455, 1) == 0);
	/* over, but the file is fresh: believed */
	CHECK(maildir_quota_check(md, &q, 456, 1) == 1);

	/* another quota: recalculated with the new quota line */
	CHECK(maildir_quota_read(md, &q2, &u) == 0);
	CHECK(u.bytes == 145 && u.count == 3);
	CHECK(file_is(p, "2000S,5C\n145 3\n", 15));

	/* malformed: recalculated */
	put_file(p, "2000S,5C\n145 3\n99");
	CHECK(maildir_quota_read(md, &q2, &u) == 0);
	CHECK(u.bytes == 145 && u.count == 3);

	/* stale and over: recalculated before refusing */
	put_file(p, "1000S\n999 1\n");
	{
		struct timespec old[2] = { { 1, 0 }, { 1, 0 } };

		CHECK(utimensat(AT_FDCWD, p, old, 0) == 0);
	}
	CHECK(maildir_quota_check(md, &q, 800, 1) == 0);
	CHECK(file_is(p, "1000S\n145 3\n", 12));

	/* too long: recalculated */
	fd = open(p, O_WRONLY | O_APPEND);
	CHECK(fd != -1);
	{
		int i;

		for (i = 0; i < 1500; i++)
			CHECK(write(fd, "0 0\n", 4) == 4);
	}
	close(fd);
	CHECK(maildir_quota_read(md, &q, &u) == 0);
	CHECK(file_is(p, "1000S\n145 3\n", 12));

	/* a reader without a quota of its own keeps the file's */
	put_file(p, "777S,9C\n145 3\n5 1\n");
	CHECK(maildir_quota_read(md, 0, &u) == 0);
	CHECK(u.bytes == 150 && u.count == 4);
	put_file(p, "777S,9C\n145 3\n5 1");
	CHECK(maildir_quota_read(md, 0, &u) == 0);
	CHECK(u.bytes == 145 && u.count == 3);
	CHECK(file_is(p, "777S,9C\n145 3\n", 14));

	/* no maildirsize: an append is a no-op */
	CHECK(unlink(p) == 0);
	CHECK(maildir_quota_add(md, 1, 1) == 0);
	CHECK(access(p, F_OK) == -1);
	snprintf(p, sizeof p, "%s/tmp", md);
	CHECK(count_entries(p) == 0);
}

/* As root: a 64k tmpfs, filled; the delivery fails temporarily and
 * leaves nothing in tmp/ or new/. */
static void test_full_disk(void)
{
	char mnt[128], md[160], path[256], big[16384];
	struct str name = STR_ZERO;
	unsigned long long size;
	int fd, i, r = 0;

	if (geteuid() != 0) {
		printf("  (not root: full-disk test skipped)\n");
		return;
	}
	snprintf(mnt, sizeof mnt, "%s/full", tmpdir);
	CHECK(mkdir(mnt, 0700) == 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=64k") == -1) {
		printf("  (mount failed: %s; full-disk test skipped)\n",
		       strerror(errno));
		return;
	}
	snprintf(md, sizeof md, "%s/Maildir", mnt);
	CHECK(maildir_make(md, 0700) == 0);
	memset(big, 'x', sizeof big);
	for (i = 0; i < (int)sizeof big; i += 64)
		big[i] = '\n';
	fd = msg_fd(big, sizeof big);
	for (i = 0; i < 10; i++) {
		CHECK(lseek(fd, 0, SEEK_SET) == 0);
		r = maildir_deliver(md, "", 0, fd, &name, &size);
		if (r == -1)
			break;
	}
	CHECK(r == -1 && errno == ENOSPC && errno_temporary(errno));
	close(fd);
	snprintf(path, sizeof path, "%s/tmp", md);
	CHECK(count_entries(path) == 0);
	snprintf(path, sizeof path, "%s/new", md);
	CHECK(count_entries(path) == i);
	CHECK(umount(mnt) == 0);
	str_free(&name);
}

int main(void)
{
	tmp_setup();
	RUN(test_name_sizes);
	RUN(test_name_flags);
	RUN(test_name_setflags);
	RUN(test_quota_parse);
	RUN(test_size_file);
	RUN(test_quota_over);
	RUN(test_deliver);
	RUN(test_deliver_in_flight);
	RUN(test_quota_files);
	RUN(test_full_disk);
	tmp_cleanup();
	return test_done();
}
