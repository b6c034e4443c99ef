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

static int lines(void *arg, unsigned long uid, const char *b, size_t n)
{
	(void)uid;
	(void)b;
	(void)n;
	(*(int *)arg)++;
	return 1;
}

static void test_parse(void)
{
	unsigned long v, n;
	int k = 0;

	CHECK(uidmap_parse(B("QUAIL-UIDLIST 1 77 5\n1 a\n3 b,S=1\n"), &v, &n,
	                   lines, &k) == 1 && v == 77 && n == 5 && k == 2);
	CHECK(uidmap_parse(B("QUAIL-UIDLIST 1 77 1\n"), &v, &n, lines, &k) == 1);
	CHECK(!uidmap_parse(B("QUAIL-UIDLIST 1 77 3\n3 a\n"), &v, &n, lines, &k));
	CHECK(!uidmap_parse(B("QUAIL-UIDLIST 1 77 9\n3 a\n2 b\n"), &v, &n, lines,
	                    &k));
	CHECK(!uidmap_parse(B("QUAIL-UIDLIST 1 77 9\n3 a\n3 b\n"), &v, &n, lines,
	                    &k));
	CHECK(!uidmap_parse(B("QUAIL-UIDLIST 1 77 9\n3 a:2,S\n"), &v, &n, lines,
	                    &k));
	CHECK(!uidmap_parse(B("QUAIL-UIDLIST 1 77 9\n3 a"), &v, &n, lines, &k));
	CHECK(!uidmap_parse(B("QUAIL-UIDLIST 1 77 9\n0 a\n"), &v, &n, lines, &k));
	CHECK(!uidmap_parse(B("QUAIL-UIDLIST 1 0 9\n"), &v, &n, lines, &k));
	CHECK(!uidmap_parse(B("QUAIL-UIDLIST 2 7 9\n"), &v, &n, lines, &k));
	CHECK(!uidmap_parse(B("QUAIL-UIDLIST 1 7 9\n3 \n"), &v, &n, lines, &k));
	CHECK(!uidmap_parse(B(""), &v, &n, lines, &k));
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
	CHECK(strstr(file_text(), "\n2 10.M5P1Q2.h,S=2,W=3\n") != 0);
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
	RUN(test_damaged);
	RUN(test_stale_lock);
	RUN(test_concurrent);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return test_done();
}
