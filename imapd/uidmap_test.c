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

/* Record i of m. */
static struct uidmap_rec R(const struct uidmap *m, size_t i)
{
	struct uidmap_rec r;

	memset(&r, 0, sizeof r);
	if (i < m->h.n)
		uidmap_get(m, i, &r);
	return r;
}

/* The folder's file, checked as a sync checks it, into f (which owns a
 * copy): 1 sound, 0 not. */
static int file_image(struct uidmap *f)
{
	static char buf[1 << 20];
	char p[512];
	ssize_t k;
	int fd;

	memset(f, 0, sizeof *f);
	snprintf(p, sizeof p, "%s/%s", dir, UIDMAP_FILE);
	fd = open(p, O_RDONLY);
	if (fd < 0)
		return 0;
	k = read(fd, buf, sizeof buf);
	close(fd);
	return k > 0 && uidmap_image_check(f, (unsigned char *)buf, (size_t)k);
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
	struct uidmap m = UIDMAP_ZERO, f;
	unsigned long validity;
	unsigned long long ms;
	char from[512], to[512];
	struct uidmap_rec r;

	fresh();
	put("new", "20.M5P1Q1.h,S=2,W=3");
	put("new", "10.M5P1Q2.h,S=2,W=3");
	put("new", "10.M7P1Q3.h,S=2,W=3");
	put("cur", "5.M1P1Q4.h:2,S");
	CHECK(uidmap_sync(dir, &m, 1) == 0);
	CHECK(m.h.n == 4 && m.h.next == 5 && m.changed);
	/* arrival order: by time in the name */
	CHECK(!strcmp(R(&m, 0).name, "5.M1P1Q4.h:2,S") && !R(&m, 0).recent);
	CHECK(!strcmp(R(&m, 1).name, "10.M5P1Q2.h,S=2,W=3:2,") && R(&m, 1).recent);
	CHECK(!strcmp(R(&m, 2).name, "10.M7P1Q3.h,S=2,W=3:2,") && R(&m, 2).uid == 3);
	CHECK(!strcmp(R(&m, 3).name, "20.M5P1Q1.h,S=2,W=3:2,") && R(&m, 3).uid == 4);
	CHECK(R(&m, 0).flags == UIDMAP_FL_SEEN && R(&m, 1).flags == 0 &&
	      R(&m, 1).namelen == 22 && R(&m, 1).baselen == 19);
	CHECK(m.h.unseen == 3 && m.h.firstunseen == 2 && m.h.nnew == 0);
	validity = m.h.validity;
	CHECK(file_image(&f) && f.h.n == 4 && R(&f, 1).uid == 2 &&
	      !strcmp(R(&f, 1).name, "10.M5P1Q2.h,S=2,W=3:2,"));
	/* a flag rename keeps the UID, and moves the modseq */
	ms = m.h.modseq;
	snprintf(from, sizeof from, "%s/cur/10.M5P1Q2.h,S=2,W=3:2,", dir);
	snprintf(to, sizeof to, "%s/cur/10.M5P1Q2.h,S=2,W=3:2,FS", dir);
	CHECK(rename(from, to) == 0);
	CHECK(uidmap_sync(dir, &m, 1) == 0);
	r = R(&m, 1);
	CHECK(m.h.n == 4 && r.uid == 2 && !strcmp(r.name,
	      "10.M5P1Q2.h,S=2,W=3:2,FS") && m.changed && !r.recent &&
	      r.flags == (UIDMAP_FL_SEEN | 2) && r.modseq == ms + 1 &&
	      m.h.modseq == ms + 1 && R(&m, 0).modseq <= ms);
	/* the same again: nothing moved, nothing written */
	CHECK(uidmap_sync(dir, &m, 1) == 0 && !m.changed &&
	      m.h.modseq == ms + 1);
	/* the last one goes (the highest modseq moves); a new one never
	 * gets its UID */
	snprintf(from, sizeof from, "%s/cur/20.M5P1Q1.h,S=2,W=3:2,", dir);
	CHECK(unlink(from) == 0);
	CHECK(uidmap_sync(dir, &m, 1) == 0);
	CHECK(m.h.n == 3 && m.h.next == 5 && m.changed && m.h.modseq == ms + 2);
	put("new", "1.M1P1Q9.h");
	/* without take_new, new/ is seen in place: a UID, recent, innew */
	CHECK(uidmap_sync(dir, &m, 0) == 0);
	r = R(&m, 3);
	CHECK(m.h.n == 4 && r.uid == 5 && r.innew && r.recent &&
	      !strcmp(r.name, "1.M1P1Q9.h") && !R(&m, 0).innew &&
	      r.modseq == ms + 3 && m.h.nnew == 1);
	snprintf(from, sizeof from, "%s/new/1.M1P1Q9.h", dir);
	CHECK(access(from, F_OK) == 0);
	/* taken later, it keeps the UID and is recent for the taker */
	CHECK(uidmap_sync(dir, &m, 1) == 0);
	r = R(&m, 3);
	CHECK(m.h.n == 4 && r.uid == 5 && m.h.next == 6 && r.recent &&
	      !r.innew && access(from, F_OK) < 0 && m.h.validity == validity &&
	      uidmap_find(&m, B("1.M1P1Q9.h"), &r) && r.uid == 5 &&
	      !uidmap_find(&m, B("1.M1P1Q"), &r));
	/* caught in new/ and cur/ at once (moved between the reads): one */
	put("new", "1.M1P1Q9.h");
	CHECK(uidmap_sync(dir, &m, 0) == 0 && m.h.n == 4 && !R(&m, 3).innew);
	CHECK(unlink(from) == 0);
	/* files starting with '.' are not messages */
	put("cur", ".hidden");
	CHECK(uidmap_sync(dir, &m, 1) == 0 && m.h.n == 4);
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
	struct uidmap m = UIDMAP_ZERO, f;
	struct timespec old[2];
	struct stat st;
	char from[512], to[512];

	fresh();
	put("cur", "1.M1P1Q1.h:2,S");
	put("new", "2.M1P1Q2.h");
	CHECK(uidmap_sync(dir, &m, 1) == 0 && m.h.n == 2 && !m.skipped);
	/* just changed: read again, and again, until the folder is idle */
	CHECK(uidmap_sync(dir, &m, 1) == 0 && !m.skipped);
	age();
	CHECK(uidmap_sync(dir, &m, 1) == 0 && !m.skipped && m.changed);
	CHECK(uidmap_sync(dir, &m, 1) == 0 && m.skipped && !m.changed &&
	      m.mapped && m.h.n == 2 && R(&m, 1).uid == 2 && !R(&m, 1).recent &&
	      !strcmp(R(&m, 1).name, "2.M1P1Q2.h:2,") && R(&m, 1).baselen == 10 &&
	      !strcmp(R(&m, 0).name, "1.M1P1Q1.h:2,S"));
	/* a delivery changes new/: always seen */
	put("new", "3.M1P1Q3.h");
	CHECK(uidmap_sync(dir, &m, 1) == 0 && !m.skipped && m.h.n == 3 &&
	      R(&m, 2).uid == 3 && R(&m, 2).recent);
	age();
	CHECK(uidmap_sync(dir, &m, 1) == 0 && !m.skipped);
	CHECK(uidmap_sync(dir, &m, 1) == 0 && m.skipped && m.h.n == 3);
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
	      !strcmp(R(&m, 0).name, "1.M1P1Q1.h:2,FS"));
	/* an mtime of now is not trusted, however it got into the file */
	old[0].tv_nsec = old[1].tv_nsec = UTIME_NOW;
	CHECK(utimensat(AT_FDCWD, from, old, 0) == 0);
	CHECK(uidmap_sync(dir, &m, 1) == 0 && !m.skipped && !m.changed);
	CHECK(uidmap_sync(dir, &m, 1) == 0 && !m.skipped);
	/* EXAMINE: new/ left alone, and skipped while unchanged; SELECT
	 * must still take it */
	put("new", "4.M1P1Q4.h");
	age();
	CHECK(uidmap_sync(dir, &m, 0) == 0 && !m.skipped && m.h.n == 4 &&
	      R(&m, 3).innew);
	CHECK(file_image(&f) && f.h.nnew == 1 && R(&f, 3).innew &&
	      !strcmp(R(&f, 3).name, "4.M1P1Q4.h"));
	CHECK(uidmap_sync(dir, &m, 0) == 0 && m.skipped && m.h.n == 4 &&
	      R(&m, 3).innew && R(&m, 3).recent &&
	      !strcmp(R(&m, 3).name, "4.M1P1Q4.h"));
	CHECK(uidmap_sync(dir, &m, 1) == 0 && !m.skipped && m.h.n == 4 &&
	      !R(&m, 3).innew && R(&m, 3).recent && R(&m, 3).uid == 4);
	/* lazy: an unchanged folder's records are checked when asked */
	age();
	CHECK(uidmap_sync(dir, &m, UIDMAP_TAKE_NEW) == 0 && m.checked);
	CHECK(uidmap_sync(dir, &m, UIDMAP_TAKE_NEW | UIDMAP_LAZY) == 0 &&
	      m.skipped && !m.checked && m.h.n == 4 && uidmap_check(&m) &&
	      m.checked && R(&m, 3).uid == 4);
	uidmap_free(&m);
}

/* A version 1 or 2 file keeps its UIDs (and UIDVALIDITY) and is
 * replaced by version 3 once trusted; its messages start at modseq 1. */
static const struct {
	const char *text;
} olds[] = {
	{ "QUAIL-UIDLIST 1 55 9\n7 2.M1P1Q2.h\n8 1.M1P1Q1.h\n" },
	{ "QUAIL-UIDLIST 2 55 9" Z12 "7 2.M1P1Q2.h:2,\n8 1.M1P1Q1.h:2,S\n" },
	/* a stale stamp and names: the folder is read, the UIDs kept */
	{ "QUAIL-UIDLIST 2 55 9 1 2 3 4 5 6 7 8 9 10 11 12\n"
	  "7 new/2.M1P1Q2.h\n8 1.M1P1Q1.h:2,\n" },
};

static void test_upgrade(void)
{
	struct uidmap m = UIDMAP_ZERO, f;
	char p[512];
	size_t i;
	int fd;

	for (i = 0; i < sizeof olds / sizeof olds[0]; i++) {
		size_t n = strlen(olds[i].text);

		fresh();
		put("cur", "1.M1P1Q1.h:2,S");
		put("cur", "2.M1P1Q2.h:2,");
		snprintf(p, sizeof p, "%s/%s", dir, UIDMAP_FILE);
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		CHECK(fd >= 0 && write(fd, olds[i].text, n) == (ssize_t)n);
		close(fd);
		age();
		CHECK(uidmap_sync(dir, &m, 1) == 0 && m.h.n == 2 &&
		      m.h.validity == 55 && m.h.next == 9 && R(&m, 0).uid == 7 &&
		      R(&m, 1).uid == 8 && m.changed);
		CHECK(R(&m, 0).modseq == 1 && R(&m, 1).modseq == 1 &&
		      m.h.modseq == 1 && m.h.unseen == 1 && m.h.firstunseen == 1);
		CHECK(file_image(&f) && f.h.validity == 55 && f.h.n == 2);
		CHECK(uidmap_sync(dir, &m, 1) == 0 && m.skipped &&
		      R(&m, 1).uid == 8 && !strcmp(R(&m, 1).name,
		                                   "1.M1P1Q1.h:2,S"));
		if (test_failed_now)
			printf("upgrade %zu\n", i);
	}
	uidmap_free(&m);
}

/* Damaged files of either kind: a new UIDVALIDITY, never a crash. */
static void test_damaged(void)
{
	struct uidmap m = UIDMAP_ZERO;
	unsigned long validity;
	char p[512];
	int fd;

	fresh();
	put("cur", "1.M1P1.h:2,");
	CHECK(uidmap_sync(dir, &m, 1) == 0);
	validity = m.h.validity;
	snprintf(p, sizeof p, "%s/%s", dir, UIDMAP_FILE);
	fd = open(p, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0 && write(fd, "QUAIL-UIDLIST 3\ngarbage\n", 24) == 24);
	close(fd);
	sleep(1);
	CHECK(uidmap_sync(dir, &m, 1) == 0);
	/* a lost map means new UIDs: UIDVALIDITY must change */
	CHECK(m.h.n == 1 && m.h.validity != validity && m.changed);
	/* an empty file too */
	validity = m.h.validity;
	fd = open(p, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0);
	close(fd);
	sleep(1);
	CHECK(uidmap_sync(dir, &m, 1) == 0 && m.h.n == 1 &&
	      m.h.validity != validity);
	uidmap_free(&m);
}

/* A sound image of three messages: validity 77, next 10. */
static size_t image_make(struct str *img)
{
	static const struct uidmap_rec recs[] = {
		{ 2, "1.M1P1.h:2,S", 12, 8, UIDMAP_FL_SEEN, 0, 0, 3 },
		{ 5, "2.M1P1.h", 8, 8, 0, 1, 1, 1 },
		{ 9, "3.M1P1.h:2,", 11, 8, 0, 0, 0, 4 },
	};
	struct uidmap_build b;
	struct uidmap_head h;
	size_t i;

	memset(&h, 0, sizeof h);
	memset(&b, 0, sizeof b);
	h.validity = 77;
	h.next = 10;
	h.modseq = 4;
	h.stamp.d[1].ino = 42;
	CHECK(uidmap_build_begin(&b, &h, 3, 13 + 9 + 12) == 0);
	for (i = 0; i < 3; i++)
		CHECK(uidmap_build_add(&b, &recs[i]) == 0);
	CHECK(uidmap_build_add(&b, &recs[2]) < 0);      /* one too many */
	CHECK(uidmap_build_end(&b) == 0);
	*img = b.img;
	return img->len;
}

static void test_image(void)
{
	struct str img = STR_ZERO;
	struct uidmap m;
	struct uidmap_rec r;
	size_t n = image_make(&img);

	CHECK(n == UIDMAP_HEAD + 3 * UIDMAP_REC + 34);
	memset(&m, 0, sizeof m);
	CHECK(uidmap_image_check(&m, (unsigned char *)img.s, n));
	CHECK(m.h.version == 3 && m.h.validity == 77 && m.h.next == 10 &&
	      m.h.modseq == 4 && m.h.n == 3 && m.h.nnew == 1 &&
	      m.h.unseen == 2 && m.h.firstunseen == 2 &&
	      m.h.stamp.d[1].ino == 42);
	uidmap_get(&m, 1, &r);
	CHECK(r.uid == 5 && !strcmp(r.name, "2.M1P1.h") && r.innew &&
	      r.recent && r.modseq == 1 && r.namelen == 8);
	CHECK(uidmap_uid(&m, 2) == 9);
	CHECK(uidmap_find(&m, B("3.M1P1.h"), &r) && r.uid == 9 &&
	      r.modseq == 4 && !r.recent);
	CHECK(uidmap_flags_of(B("x:2,DFRSTaz")) == (31u | 1u << 5 | 1u << 30));
	CHECK(uidmap_flags_of(B("x:2,P")) == 0 && uidmap_flags_of(B("x")) == 0);
	str_free(&img);
}

/* One change to a sound image, at an offset: each must be refused. */
static const struct {
	size_t off;
	unsigned char byte;
	const char *what;
} hostile[] = {
	{ 14, '2', "version" },
	{ 16, 0x9f, "header size" },
	{ 20, 25, "record size" },
	{ 24, 0, "validity 0" },
	{ 28, 9, "uidnext at the last uid" },
	{ 32, 3, "highest modseq below a record's" },
	{ 40, 4, "count" },
	{ 40 + 3, 0x40, "count overflowing" },
	{ 44, 0, "in new/" },
	{ 48, 1, "unseen" },
	{ 52, 3, "first unseen" },
	{ 56, 35, "names size" },
	{ 60, 1, "reserved" },
	{ 64 + 7, 0x80, "stamp out of range" },
	{ UIDMAP_HEAD + 0, 9, "uid order" },
	{ UIDMAP_HEAD + UIDMAP_REC, 2, "uid repeated" },
	{ UIDMAP_HEAD + 4 + 3, 0x80, "name offset" },
	{ UIDMAP_HEAD + 2 * UIDMAP_REC + 4, 30, "name past the end" },
	{ UIDMAP_HEAD + 8, 0, "empty name" },
	{ UIDMAP_HEAD + 9, 0x40, "name too long" },
	{ UIDMAP_HEAD + 10, 13, "base longer than name" },
	{ UIDMAP_HEAD + 10, 0, "empty base" },
	{ UIDMAP_HEAD + 16, 0, "modseq 0" },
	{ UIDMAP_HEAD + 16, 5, "modseq above the highest" },
	{ UIDMAP_HEAD + 12, 0, "flags against the unseen count" },
	{ UIDMAP_HEAD + 12 + 3, 0x80, "in new/ against the count" },
	{ UIDMAP_HEAD + 3 * UIDMAP_REC + 1, '/', "a '/' in a name" },
	{ UIDMAP_HEAD + 3 * UIDMAP_REC + 33, 'x', "no NUL at the end" },
};

static void test_hostile(void)
{
	struct str img = STR_ZERO;
	struct uidmap m;
	unsigned char *bad;
	size_t n = image_make(&img), i, k;

	bad = malloc(n + 1);
	CHECK(bad != 0);
	if (!bad)
		return;
	for (i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
		memcpy(bad, img.s, n);
		bad[hostile[i].off] = hostile[i].byte;
		memset(&m, 0, sizeof m);
		if (uidmap_image_check(&m, bad, n)) {
			printf("hostile %zu: %s accepted\n", i, hostile[i].what);
			CHECK(0);
		}
	}
	/* cut short at every length, and one byte long */
	for (k = 0; k < n; k++) {
		memcpy(bad, img.s, k);
		CHECK(!uidmap_image_check(&m, bad, k));
	}
	memcpy(bad, img.s, n);
	bad[n] = 0;
	CHECK(!uidmap_image_check(&m, bad, n + 1));
	/* every single byte flipped: refused, or read within bounds */
	for (k = 0; k < n; k++) {
		memcpy(bad, img.s, n);
		bad[k] ^= 0xff;
		if (uidmap_image_check(&m, bad, n))
			for (i = 0; i < m.h.n; i++) {
				struct uidmap_rec r;

				uidmap_get(&m, i, &r);
				CHECK(r.name >= (char *)bad && r.name + r.namelen <
				      (char *)bad + n && strlen(r.name) < n);
			}
	}
	free(bad);
	str_free(&img);
}

/* A hostile file in a folder: treated as lost, the folder still read. */
static void test_hostile_file(void)
{
	struct uidmap m = UIDMAP_ZERO;
	struct str img = STR_ZERO;
	size_t n = image_make(&img);
	char p[512];
	int fd;

	fresh();
	put("cur", "1.M1P1.h:2,S");
	img.s[UIDMAP_HEAD + 2 * UIDMAP_REC + 4] = 30;
	snprintf(p, sizeof p, "%s/%s", dir, UIDMAP_FILE);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0 && write(fd, img.s, n) == (ssize_t)n);
	close(fd);
	age();
	CHECK(uidmap_sync(dir, &m, 1) == 0 && m.h.n == 1 &&
	      m.h.validity != 77 && R(&m, 0).uid == 1 && m.changed);
	str_free(&img);
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
	CHECK(m.h.n == 200 && m.h.next == 201 && m.h.modseq >= 200);
	for (i = 1; i < (int)m.h.n; i++)
		CHECK(R(&m, i).uid > R(&m, i - 1).uid);
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
	RUN(test_upgrade);
	RUN(test_damaged);
	RUN(test_image);
	RUN(test_hostile);
	RUN(test_hostile_file);
	RUN(test_stale_lock);
	RUN(test_concurrent);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return test_done();
}
