/* Tests for persistent UIDs: the file format, arrival order, UIDs kept
 * across flag renames and never reused, a damaged file, locks left by a
 * crash, and several processes syncing one folder at once. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "maildir.h"
#include "str.h"
#include "test.h"
#include "uidmap.h"
#include "uniq.h"

#define B(s) s, sizeof s - 1

static char dir[64];

static void put(const char *sub, const char *name)
{
	char p[512];
	int fd;

	snprintf(p, sizeof p, "%s/%s/%s", dir, sub, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		if (write(fd, "x\n", 2) != 2)
			CHECK(0);
		close(fd);
	}
}

static void fresh(void)
{
	char cmd[128];

	if (dir[0]) {
		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
		if (system(cmd) != 0)
			CHECK(0);
	}
	snprintf(dir, sizeof dir, "/tmp/uidmap_test.%d", (int)getpid());
	CHECK(maildir_make(dir, 0700) == 0);
}

static const char *file_text(void)
{
	static char buf[65536];
	char p[512];
	ssize_t k;
	int fd;

	snprintf(p, sizeof p, "%s/%s", dir, UIDMAP_FILE);
	fd = open(p, O_RDONLY);
	if (fd < 0)
		return "";
	k = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[k > 0 ? k : 0] = 0;
	return buf;
}

static int lines(void *arg, unsigned long uid, const char *b, size_t n,
                 int innew)
{
	(void)uid;
	(void)b;
	(void)n;
	(*(int *)arg) += innew ? 100 : 1;
	return 1;
}

#define Z12 " 0 0 0 0 0 0 0 0 0 0 0 0\n"

static const struct {
	const char *text;
	int ok, lines;
} parses[] = {
	{ "QUAIL-UIDLIST 1 77 5\n1 a\n3 b,S=1\n", 1, 2 },
	{ "QUAIL-UIDLIST 1 77 1\n", 1, 0 },
	{ "QUAIL-UIDLIST 1 77 3\n3 a\n", 0, 0 },
	{ "QUAIL-UIDLIST 1 77 9\n3 a\n2 b\n", 0, 0 },
	{ "QUAIL-UIDLIST 1 77 9\n3 a\n3 b\n", 0, 0 },
	{ "QUAIL-UIDLIST 1 77 9\n3 a:2,S\n", 0, 0 },
	{ "QUAIL-UIDLIST 1 77 9\n3 a", 0, 0 },
	{ "QUAIL-UIDLIST 1 77 9\n0 a\n", 0, 0 },
	{ "QUAIL-UIDLIST 1 0 9\n", 0, 0 },
	{ "QUAIL-UIDLIST 3 7 9\n", 0, 0 },
	{ "QUAIL-UIDLIST 1 7 9\n3 \n", 0, 0 },
	{ "", 0, 0 },
	/* version 2: full names, new/ marked, a stamp */
	{ "QUAIL-UIDLIST 2 77 9" Z12 "1 a:2,S\n4 new/b\n", 1, 101 },
	{ "QUAIL-UIDLIST 2 77 9" Z12 "1 new/\n", 0, 0 },
	{ "QUAIL-UIDLIST 2 77 9" Z12 "1 x/y\n", 0, 0 },
	{ "QUAIL-UIDLIST 2 77 9" Z12 "1 .x\n", 0, 0 },
	{ "QUAIL-UIDLIST 2 77 9 0 0 0 0 0 0 0 0 0 0 0\n", 0, 0 },
	{ "QUAIL-UIDLIST 2 77 9\n", 0, 0 },
	{ "QUAIL-UIDLIST 2 77 9 1 2 3 4 5 6 7 8 9 10 11 x\n", 0, 0 },
	{ "QUAIL-UIDLIST 2 77 9 1 2 3 4 5 6 7 8 9 10 11 "
	  "99999999999999999999\n", 0, 0 },
};

static void test_parse(void)
{
	struct uidmap_head h;
	size_t i;
	int k;

	for (i = 0; i < sizeof parses / sizeof parses[0]; i++) {
		k = 0;
		if (uidmap_parse(parses[i].text, strlen(parses[i].text), &h, lines,
		                 &k) != parses[i].ok ||
		    (parses[i].ok && k != parses[i].lines)) {
			printf("parse %zu\n", i);
			CHECK(0);
		}
	}
	CHECK(uidmap_parse(B("QUAIL-UIDLIST 2 77 9 1 2 3 4 5 6 7 8 9 10 11 12\n"),
	                   &h, lines, &k) == 1 && h.version == 2 &&
	      h.validity == 77 && h.next == 9 && h.stamp.d[0].msec == 1 &&
	      h.stamp.d[0].mnsec == 2 && h.stamp.d[0].ino == 6 &&
	      h.stamp.d[1].msec == 7 && h.stamp.d[1].size == 11 &&
	      h.stamp.d[1].ino == 12);
}

static void test_arrival(void)
{
	CHECK(uidmap_arrival_cmp("9.M1P1.h", "10.M0P1.h") < 0);
	CHECK(uidmap_arrival_cmp("10.M20P1.h", "10.M3P1.h") > 0);
	CHECK(uidmap_arrival_cmp("10.M3P1.h", "10.M3P2.h") < 0);
	CHECK(uidmap_arrival_cmp("10.1.h", "10.2.h") < 0);
	CHECK(uidmap_arrival_cmp("x", "x") == 0);
}

static void test_sync(void)
{
	struct uidmap m = UIDMAP_ZERO;
	unsigned long validity;
	char from[512], to[512];

	fresh();
	put("new", "20.M5P1Q1.h,S=2,W=3");
	put("new", "10.M5P1Q2.h,S=2,W=3");
	put("new", "10.M7P1Q3.h,S=2,W=3");
	put("cur", "5.M1P1Q4.h:2,S");
	CHECK(uidmap_sync(dir, &m, 1) == 0);
	CHECK(m.n == 4 && m.next == 5 && m.changed);
	/* arrival order: by time in the name */
	CHECK(!strcmp(m.r[0].name, "5.M1P1Q4.h:2,S") && !m.r[0].recent);
	CHECK(!strcmp(m.r[1].name, "10.M5P1Q2.h,S=2,W=3:2,") && m.r[1].recent);
	CHECK(!strcmp(m.r[2].name, "10.M7P1Q3.h,S=2,W=3:2,") && m.r[2].uid == 3);
	CHECK(!strcmp(m.r[3].name, "20.M5P1Q1.h,S=2,W=3:2,") && m.r[3].uid == 4);
	validity = m.validity;
	CHECK(strstr(file_text(), "\n2 10.M5P1Q2.h,S=2,W=3:2,\n") != 0);
	/* a flag rename keeps the UID; an unchanged folder is not rewritten */
	snprintf(from, sizeof from, "%s/cur/10.M5P1Q2.h,S=2,W=3:2,", dir);
	snprintf(to, sizeof to, "%s/cur/10.M5P1Q2.h,S=2,W=3:2,FS", dir);
	CHECK(rename(from, to) == 0);
	CHECK(uidmap_sync(dir, &m, 1) == 0);
	CHECK(m.n == 4 && m.r[1].uid == 2 && !strcmp(m.r[1].name,
	      "10.M5P1Q2.h,S=2,W=3:2,FS") && !m.changed && !m.r[1].recent);
	/* the last one goes; a new one never gets its UID */
	snprintf(from, sizeof from, "%s/cur/20.M5P1Q1.h,S=2,W=3:2,", dir);
	CHECK(unlink(from) == 0);
	CHECK(uidmap_sync(dir, &m, 1) == 0);
	CHECK(m.n == 3 && m.next == 5 && m.changed);
	put("new", "1.M1P1Q9.h");
	/* without take_new, new/ is seen in place: a UID, recent, innew */
	CHECK(uidmap_sync(dir, &m, 0) == 0);
	CHECK(m.n == 4 && m.r[3].uid == 5 && m.r[3].innew && m.r[3].recent &&
	      !strcmp(m.r[3].name, "1.M1P1Q9.h") && !m.r[0].innew);
	snprintf(from, sizeof from, "%s/new/1.M1P1Q9.h", dir);
	CHECK(access(from, F_OK) == 0);
	/* taken later, it keeps the UID and is recent for the taker */
	CHECK(uidmap_sync(dir, &m, 1) == 0);
	CHECK(m.n == 4 && m.r[3].uid == 5 && m.next == 6 && m.r[3].recent &&
	      !m.r[3].innew && access(from, F_OK) < 0 &&
	      m.validity == validity && uidmap_find(&m, B("1.M1P1Q9.h")) ==
	      &m.r[3]);
	/* caught in new/ and cur/ at once (moved between the reads): one */
	put("new", "1.M1P1Q9.h");
	CHECK(uidmap_sync(dir, &m, 0) == 0 && m.n == 4 && !m.r[3].innew);
	CHECK(unlink(from) == 0);
	/* files starting with '.' are not messages */
	put("cur", ".hidden");
	CHECK(uidmap_sync(dir, &m, 1) == 0 && m.n == 4);
	uidmap_free(&m);
}

/* Stamps of new/ and cur/ against now: skip only when equal, not none
 * and old enough. */
static void test_may_skip(void)
{
	struct timespec now = { 100000, 500000000 };
	struct uidmap_stamp a, b;
	static const struct {
		long long msec, mnsec;  /* cur/'s mtime */
		int k, field;           /* field of d[k] changed in disk */
		int skip;
	} t[] = {
		{ 90000, 0, -1, 0, 1 },
		{ 99998, 500000000, -1, 0, 1 },     /* exactly 2 s */
		{ 99998, 500000001, -1, 0, 0 },     /* too recent */
		{ 99999, 999999999, -1, 0, 0 },
		{ 100000, 500000000, -1, 0, 0 },    /* now */
		{ 100001, 0, -1, 0, 0 },            /* future */
		{ 90000, 0, 1, 1, 0 },              /* nsec differs */
		{ 90000, 0, 0, 0, 0 },              /* new/ mtime differs */
		{ 90000, 0, 1, 2, 0 },              /* ctime differs */
		{ 90000, 0, 1, 3, 0 },              /* size differs */
		{ 90000, 0, 0, 4, 0 },              /* inode differs */
	};
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		memset(&a, 0, sizeof a);
		a.d[0].msec = a.d[0].csec = 50000;
		a.d[0].ino = 7;
		a.d[1].msec = t[i].msec;
		a.d[1].mnsec = t[i].mnsec;
		a.d[1].csec = 50000;
		a.d[1].size = 4096;
		a.d[1].ino = 8;
		b = a;
		if (t[i].k >= 0) {
			struct uidmap_dirstamp *d = &b.d[t[i].k];

			switch (t[i].field) {
			case 0: d->msec++; break;
			case 1: d->mnsec++; break;
			case 2: d->cnsec++; break;
			case 3: d->size++; break;
			default: d->ino++; break;
			}
		}
		if (uidmap_may_skip(&a, &b, &now) != t[i].skip) {
			printf("may_skip %zu\n", i);
			CHECK(0);
		}
	}
	memset(&a, 0, sizeof a);
	CHECK(!uidmap_may_skip(&a, &a, &now));  /* none */
}

/* Sets new/ and cur/ mtimes well into the past, as an idle folder. */
static void age(void)
{
	struct timespec old[2];
	char p[512];
	const char *sub[2] = { "new", "cur" };
	int k;

	old[0].tv_sec = old[1].tv_sec = time(0) - 100;
	old[0].tv_nsec = old[1].tv_nsec = 123456789;
	for (k = 0; k < 2; k++) {
		snprintf(p, sizeof p, "%s/%s", dir, sub[k]);
		CHECK(utimensat(AT_FDCWD, p, old, 0) == 0);
	}
}

static void test_skip(void)
{
	struct uidmap m = UIDMAP_ZERO;
	struct timespec old[2];
	struct stat st;
	char from[512], to[512];

	fresh();
	put("cur", "1.M1P1Q1.h:2,S");
	put("new", "2.M1P1Q2.h");
	CHECK(uidmap_sync(dir, &m, 1) == 0 && m.n == 2 && !m.skipped);
	/* just changed: read again, and again, until the folder is idle */
	CHECK(uidmap_sync(dir, &m, 1) == 0 && !m.skipped);
	age();
	CHECK(uidmap_sync(dir, &m, 1) == 0 && !m.skipped && m.changed);
	CHECK(uidmap_sync(dir, &m, 1) == 0 && m.skipped && !m.changed &&
	      m.n == 2 && m.r[1].uid == 2 && !m.r[1].recent &&
	      !strcmp(m.r[1].name, "2.M1P1Q2.h:2,") && m.r[1].baselen == 10 &&
	      !strcmp(m.r[0].name, "1.M1P1Q1.h:2,S"));
	/* a delivery changes new/: always seen */
	put("new", "3.M1P1Q3.h");
	CHECK(uidmap_sync(dir, &m, 1) == 0 && !m.skipped && m.n == 3 &&
	      m.r[2].uid == 3 && m.r[2].recent);
	age();
	CHECK(uidmap_sync(dir, &m, 1) == 0 && !m.skipped);
	CHECK(uidmap_sync(dir, &m, 1) == 0 && m.skipped && m.n == 3);
	/* flags set by another session, even with cur/'s mtime put back:
	 * its ctime moved */
	snprintf(from, sizeof from, "%s/cur", dir);
	CHECK(stat(from, &st) == 0);
	snprintf(from, sizeof from, "%s/cur/1.M1P1Q1.h:2,S", dir);
	snprintf(to, sizeof to, "%s/cur/1.M1P1Q1.h:2,FS", dir);
	CHECK(rename(from, to) == 0);
	old[0] = st.st_atim;
	old[1] = st.st_mtim;
	snprintf(from, sizeof from, "%s/cur", dir);
	CHECK(utimensat(AT_FDCWD, from, old, 0) == 0);
	CHECK(uidmap_sync(dir, &m, 1) == 0 && !m.skipped &&
	      !strcmp(m.r[0].name, "1.M1P1Q1.h:2,FS"));
	/* an mtime of now is not trusted, however it got into the file */
	old[0].tv_nsec = old[1].tv_nsec = UTIME_NOW;
	CHECK(utimensat(AT_FDCWD, from, old, 0) == 0);
	CHECK(uidmap_sync(dir, &m, 1) == 0 && !m.skipped && !m.changed);
	CHECK(uidmap_sync(dir, &m, 1) == 0 && !m.skipped);
	/* EXAMINE: new/ left alone, and skipped while unchanged; SELECT
	 * must still take it */
	put("new", "4.M1P1Q4.h");
	age();
	CHECK(uidmap_sync(dir, &m, 0) == 0 && !m.skipped && m.n == 4 &&
	      m.r[3].innew);
	CHECK(strstr(file_text(), "\n4 new/4.M1P1Q4.h\n") != 0);
	CHECK(uidmap_sync(dir, &m, 0) == 0 && m.skipped && m.n == 4 &&
	      m.r[3].innew && m.r[3].recent &&
	      !strcmp(m.r[3].name, "4.M1P1Q4.h"));
	CHECK(uidmap_sync(dir, &m, 1) == 0 && !m.skipped && m.n == 4 &&
	      !m.r[3].innew && m.r[3].recent && m.r[3].uid == 4);
	uidmap_free(&m);
}

/* A version 1 file keeps its UIDs and is replaced once trusted. */
static void test_v1(void)
{
	struct uidmap m = UIDMAP_ZERO;
	char p[512];
	int fd;

	fresh();
	put("cur", "1.M1P1Q1.h:2,S");
	put("cur", "2.M1P1Q2.h:2,");
	snprintf(p, sizeof p, "%s/%s", dir, UIDMAP_FILE);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0 && write(fd, B("QUAIL-UIDLIST 1 55 9\n7 2.M1P1Q2.h\n"
	                           "8 1.M1P1Q1.h\n")) == 47);
	close(fd);
	age();
	CHECK(uidmap_sync(dir, &m, 1) == 0 && m.n == 2 && m.validity == 55 &&
	      m.r[0].uid == 7 && m.changed);
	CHECK(!strncmp(file_text(), "QUAIL-UIDLIST 2 55 9 ", 21));
	CHECK(uidmap_sync(dir, &m, 1) == 0 && m.skipped && m.r[1].uid == 8 &&
	      !strcmp(m.r[1].name, "1.M1P1Q1.h:2,S"));
	uidmap_free(&m);
}

static void test_damaged(void)
{
	struct uidmap m = UIDMAP_ZERO;
	unsigned long validity;
	char p[512];
	int fd;

	fresh();
	put("cur", "1.M1P1.h:2,");
	CHECK(uidmap_sync(dir, &m, 1) == 0);
	validity = m.validity;
	snprintf(p, sizeof p, "%s/%s", dir, UIDMAP_FILE);
	fd = open(p, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0 && write(fd, "garbage\n", 8) == 8);
	close(fd);
	sleep(1);
	CHECK(uidmap_sync(dir, &m, 1) == 0);
	/* a lost map means new UIDs: UIDVALIDITY must change */
	CHECK(m.n == 1 && m.validity != validity && m.changed);
	uidmap_free(&m);
}

static void test_stale_lock(void)
{
	struct uidmap m = UIDMAP_ZERO;
	struct timespec old[2];
	char p[512], body[300];
	pid_t pid;
	int fd, st;

	fresh();
	/* a lock from a process of this host that died: broken at once */
	pid = fork();
	if (pid == 0)
		_exit(0);
	waitpid(pid, &st, 0);
	snprintf(p, sizeof p, "%s/%s", dir, UIDMAP_LOCK);
	snprintf(body, sizeof body, "%d %s", (int)pid, uniq_host());
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0 && write(fd, body, strlen(body)) == (ssize_t)strlen(body));
	close(fd);
	CHECK(uidmap_sync(dir, &m, 1) == 0);
	CHECK(access(p, F_OK) != 0);
	/* a lock of a live process elsewhere, old enough: broken */
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0 && write(fd, "1 otherhost", 11) == 11);
	close(fd);
	old[0].tv_sec = old[1].tv_sec = time(0) - UIDMAP_LOCK_STALE - 10;
	old[0].tv_nsec = old[1].tv_nsec = 0;
	CHECK(utimensat(AT_FDCWD, p, old, 0) == 0);
	CHECK(uidmap_sync(dir, &m, 1) == 0);
	CHECK(access(p, F_OK) != 0);
	uidmap_free(&m);
}

/* Four processes sync while new messages arrive: every message ends with
 * one UID, UIDs unique and increasing with the file order. */
static void test_concurrent(void)
{
	struct uidmap m = UIDMAP_ZERO;
	pid_t kids[4];
	int i, k, st, ok = 1;
	char name[64];

	fresh();
	for (k = 0; k < 4; k++) {
		kids[k] = fork();
		if (kids[k] == 0) {
			struct uidmap mine = UIDMAP_ZERO;

			for (i = 0; i < 40; i++)
				if (uidmap_sync(dir, &mine, 1) < 0)
					_exit(1);
			_exit(0);
		}
	}
	for (i = 0; i < 200; i++) {
		snprintf(name, sizeof name, "%d.M%dP9Q%d.h", 100 + i, i, i);
		put("new", name);
	}
	for (k = 0; k < 4; k++) {
		waitpid(kids[k], &st, 0);
		ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	CHECK(ok);
	CHECK(uidmap_sync(dir, &m, 1) == 0);
	CHECK(m.n == 200 && m.next == 201);
	for (i = 1; i < (int)m.n; i++)
		CHECK(m.r[i].uid > m.r[i - 1].uid);
	uidmap_free(&m);
}

int main(void)
{
	char cmd[128];

	RUN(test_parse);
	RUN(test_arrival);
	RUN(test_sync);
	RUN(test_may_skip);
	RUN(test_skip);
	RUN(test_v1);
	RUN(test_damaged);
	RUN(test_stale_lock);
	RUN(test_concurrent);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return test_done();
}
