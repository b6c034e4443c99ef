#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "le.h"
#include "test.h"

#define VALIDITY 1700000001UL

static char dir[64];

/* An entry with every field: the envelope and structure as a literal
 * would appear, headers with and without a value. */
static void ent_fill(struct cache_ent *e, unsigned long uid, const char *base)
{
	static const char *const v[CF_N] = {
		"(\"Mon, 1 Jan 2024 00:00:00 +0000\" \"hi\" NIL NIL NIL NIL NIL "
		"NIL NIL \"<1@x>\")",
		"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 5 "
		"1 NIL NIL NIL NIL)",
		"(\"text\" \"plain\" NIL NIL NIL \"7BIT\" 5 1)",
		"{4}\r\n\xc3\xa4\x00x", "A <a@x>", "", "c@x", "d@x",
		"Mon, 1 Jan 2024 00:00:00 +0000", "<1@x>"
	};
	int k;

	memset(e, 0, sizeof *e);
	e->uid = uid;
	e->base = base;
	e->baselen = strlen(base);
	e->fsize = 1000 + uid;
	e->csize = 1100 + uid;
	e->known = CF_ALL;
	e->absent = CF_BIT(CF_BCC);
	for (k = 0; k < CF_N; k++) {
		e->f[k] = v[k];
		e->flen[k] = k == CF_SUBJECT ? 9 : strlen(v[k]);
	}
}

static int ent_eq(const struct cache_ent *a, const struct cache_ent *b)
{
	int k;

	if (a->uid != b->uid || a->fsize != b->fsize || a->csize != b->csize ||
	    a->known != b->known || a->absent != b->absent ||
	    !cache_ent_matches(a, b->base, b->baselen, b->fsize))
		return 0;
	for (k = 0; k < CF_N; k++) {
		if (!(a->known & CF_BIT(k)) || (a->absent & CF_BIT(k)))
			continue;
		if (a->flen[k] != b->flen[k] ||
		    memcmp(a->f[k], b->f[k], a->flen[k]) != 0)
			return 0;
	}
	return 1;
}

static void path(char *out, size_t n, const char *name)
{
	if ((size_t)snprintf(out, n, "%s/%s", dir, name) >= n)
		abort();
}

static void file_put(const char *p, size_t n)
{
	char f[128];
	int fd;

	path(f, sizeof f, CACHE_FILE);
	fd = open(f, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, p, n) != (ssize_t)n || close(fd) < 0)
		abort();
}

/* The cache file as bytes, into out (NUL not added). */
static size_t file_get(char *out, size_t cap)
{
	char f[128];
	ssize_t k;
	int fd;

	path(f, sizeof f, CACHE_FILE);
	fd = open(f, O_RDONLY);
	if (fd < 0)
		return 0;
	k = read(fd, out, cap);
	close(fd);
	return k < 0 ? 0 : (size_t)k;
}

static void file_rm(void)
{
	char f[128];

	path(f, sizeof f, CACHE_FILE);
	unlink(f);
}

/* A file holding entries for uids first, first+step, ... (count). */
static void file_make(unsigned long first, unsigned long step, size_t count)
{
	struct cache c;
	struct cache_ent e;
	char base[32];
	size_t k;

	memset(&c, 0, sizeof c);
	if (cache_use(&c, dir, VALIDITY) < 0)
		abort();
	for (k = 0; k < count; k++) {
		snprintf(base, sizeof base, "17000.M%zuP1.h", k);
		ent_fill(&e, first + k * step, base);
		if (cache_put(&c, &e) != 1)
			abort();
	}
	if (cache_flush(&c, 0, 0, 0) != 1)
		abort();
	cache_free(&c);
}

static void test_encode_roundtrip(void)
{
	static const unsigned masks[][2] = {
		{ CF_ALL, 0 }, { CF_DEFAULT, CF_BIT(CF_CC) },
		{ CF_BIT(CF_ENVELOPE), 0 }, { CF_HEADERS, CF_HEADERS },
		{ 0, 0 },
	};
	struct cache_ent e, d;
	struct str s = STR_ZERO;
	size_t k;

	for (k = 0; k < sizeof masks / sizeof masks[0]; k++) {
		ent_fill(&e, 7 + k, "1700000000.M1P2Q3.host,S=1007");
		e.known = masks[k][0];
		e.absent = masks[k][1];
		s.len = 0;
		CHECK(cache_ent_encode(&s, &e));
		CHECK(cache_ent_decode(s.s, s.len, 7 + k, &d));
		CHECK(ent_eq(&d, &e));
		CHECK(!cache_ent_decode(s.s, s.len, 8 + k, &d));
	}
	/* absent only of known header fields; base names have a limit */
	ent_fill(&e, 1, "b");
	e.absent = CF_BIT(CF_ENVELOPE);
	CHECK(!cache_ent_encode(&s, &e));
	ent_fill(&e, 1, "b");
	e.uid = 0;
	CHECK(!cache_ent_encode(&s, &e));
	str_free(&s);
}

/* Every truncation and every flipped byte of an entry is refused. */
static void test_decode_damage(void)
{
	struct cache_ent e, d;
	struct str s = STR_ZERO;
	size_t k;

	ent_fill(&e, 42, "1700000000.M1P2Q3.host");
	CHECK(cache_ent_encode(&s, &e));
	for (k = 0; k < s.len; k++)
		CHECK(!cache_ent_decode(s.s, k, 42, &d));
	for (k = 0; k < s.len; k++) {
		s.s[k] ^= 0x5a;
		CHECK(!cache_ent_decode(s.s, s.len, 42, &d));
		s.s[k] ^= 0x5a;
	}
	CHECK(cache_ent_decode(s.s, s.len, 42, &d));
	str_free(&s);
}

static void test_stale_key(void)
{
	struct cache_ent e;

	ent_fill(&e, 5, "1700000000.M1P2Q3.host");
	CHECK(cache_ent_matches(&e, "1700000000.M1P2Q3.host", 22, 1005));
	CHECK(!cache_ent_matches(&e, "1700000000.M1P2Q4.host", 22, 1005));
	CHECK(!cache_ent_matches(&e, "1700000000.M1P2Q3.hos", 21, 1005));
	CHECK(!cache_ent_matches(&e, "1700000000.M1P2Q3.host", 22, 1006));
}

static void test_field_names(void)
{
	CHECK(cache_field_find("SUBJECT", 7) == CF_SUBJECT);
	CHECK(cache_field_find("message-id", 10) == CF_MESSAGEID);
	CHECK(cache_field_find("Subject ", 8) == -1);
	CHECK(cache_field_find("Received", 8) == -1);
	CHECK(cache_field_name(CF_BCC) && !strcmp(cache_field_name(CF_BCC), "Bcc"));
	CHECK(cache_field_name(CF_ENVELOPE) == 0);
}

static void test_file_roundtrip(void)
{
	struct cache c;
	struct cache_ent e, d;
	char base[32];
	size_t k;

	file_rm();
	file_make(3, 2, 500);
	memset(&c, 0, sizeof c);
	CHECK(cache_use(&c, dir, VALIDITY) == 0);
	for (k = 0; k < 500; k++) {
		snprintf(base, sizeof base, "17000.M%zuP1.h", k);
		ent_fill(&e, 3 + 2 * k, base);
		CHECK(cache_get(&c, 3 + 2 * k, &d) && ent_eq(&d, &e));
		CHECK(!cache_get(&c, 4 + 2 * k, &d));
	}
	CHECK(!cache_get(&c, 1, &d));
	CHECK(!cache_get(&c, 2000, &d));
	cache_free(&c);
	/* another uidvalidity: the uids are other messages */
	memset(&c, 0, sizeof c);
	CHECK(cache_use(&c, dir, VALIDITY + 1) == 0);
	CHECK(!cache_get(&c, 3, &d));
	cache_free(&c);
}

/* New entries replace the file's, keep drops entries, and nothing is
 * written until enough is new. */
static int keep_even(void *arg, unsigned long uid)
{
	(void)arg;
	return uid % 2 == 0;
}

static void test_merge(void)
{
	struct cache c;
	struct cache_ent e, d;

	file_rm();
	file_make(1, 1, 100);
	memset(&c, 0, sizeof c);
	CHECK(cache_use(&c, dir, VALIDITY) == 0);
	ent_fill(&e, 10, "replaced");
	CHECK(cache_put(&c, &e) == 1);
	ent_fill(&e, 200, "new");
	CHECK(cache_put(&c, &e) == 1);
	CHECK(cache_flush(&c, 8, keep_even, 0) == 0);    /* 2 < 100/8 */
	CHECK(cache_get(&c, 10, &d) && cache_ent_matches(&d, "replaced", 8,
	                                                  d.fsize));
	CHECK(cache_flush(&c, 0, keep_even, 0) == 1);
	CHECK(cache_get(&c, 10, &d) && cache_ent_matches(&d, "replaced", 8,
	                                                  d.fsize));
	CHECK(cache_get(&c, 200, &d) && cache_ent_matches(&d, "new", 3, d.fsize));
	CHECK(cache_get(&c, 12, &d) && !cache_get(&c, 11, &d));
	CHECK(cache_flush(&c, 0, 0, 0) == 0);    /* nothing new */
	cache_free(&c);
}

static void test_size_limits(void)
{
	static char big[CACHE_ENTRY_MAX], name[CACHE_BASE_MAX + 2];
	struct cache c;
	struct cache_ent e, d;
	char f[CACHE_HEAD + 64];
	size_t n;

	memset(big, 'x', sizeof big);
	memset(name, 'n', sizeof name);
	memset(&c, 0, sizeof c);
	CHECK(cache_use(&c, dir, VALIDITY) == 0);
	ent_fill(&e, 1, "a");
	e.f[CF_STRUCTURE] = big;
	e.flen[CF_STRUCTURE] = sizeof big;
	CHECK(cache_put(&c, &e) == 0);
	CHECK(!cache_get(&c, 1, &d));
	e.flen[CF_STRUCTURE] = sizeof big - 1000;
	CHECK(cache_put(&c, &e) == 1);
	ent_fill(&e, 2, "a");
	e.base = name;
	e.baselen = CACHE_BASE_MAX + 1;
	CHECK(cache_put(&c, &e) == 0);
	e.baselen = CACHE_BASE_MAX;
	CHECK(cache_put(&c, &e) == 1);
	cache_free(&c);

	/* a file limit keeps the newest entries; what is held in memory
	 * obeys it too */
	file_rm();
	memset(&c, 0, sizeof c);
	c.filemax = 4000;
	CHECK(cache_use(&c, dir, VALIDITY) == 0);
	for (n = 1; n <= 40; n++) {
		ent_fill(&e, n, "b");
		CHECK(cache_put(&c, &e) == 1);
		CHECK(cache_flush(&c, 0, 0, 0) == 1);
	}
	for (n = 1; n <= 30 && cache_put(&c, &e) == 1; n++)
		e.uid++;
	CHECK(n < 30);
	CHECK(cache_get(&c, 40, &d) && d.uid == 40);
	CHECK(cache_get(&c, 35, &d) && d.uid == 35);
	CHECK(!cache_get(&c, 1, &d));
	n = file_get(f, sizeof f);
	CHECK(n >= CACHE_HEAD);
	cache_free(&c);
	/* ... and a file past the limit is not read */
	memset(&c, 0, sizeof c);
	c.filemax = 1000;
	CHECK(cache_use(&c, dir, VALIDITY) == 0);
	CHECK(!cache_get(&c, 40, &d));
	cache_free(&c);
}

/* Reads the file there is: every answer is right or absent. */
static size_t file_try_keep(unsigned long maxuid)
{
	struct cache c;
	struct cache_ent e, d;
	char base[32];
	unsigned long u;
	size_t found = 0;

	memset(&c, 0, sizeof c);
	if (cache_use(&c, dir, VALIDITY) < 0)
		abort();
	for (u = 1; u <= maxuid; u++) {
		if (!cache_get(&c, u, &d))
			continue;
		snprintf(base, sizeof base, "17000.M%luP1.h", u - 1);
		ent_fill(&e, u, base);
		CHECK(ent_eq(&d, &e));
		found++;
	}
	cache_free(&c);
	return found;
}

/* Reads a file of p[0..n). */
static size_t file_try(const char *p, size_t n, unsigned long maxuid)
{
	file_put(p, n);
	return file_try_keep(maxuid);
}

static void put32(char *p, unsigned long v)
{
	le_put32((unsigned char *)p, (uint32_t)v);
}

static void test_hostile_files(void)
{
	static char good[65536], bad[65536];
	size_t n, k;

	file_rm();
	file_make(1, 1, 20);
	n = file_get(good, sizeof good);
	CHECK(n > CACHE_HEAD && file_try(good, n, 25) == 20);
	/* truncated anywhere: the length in the head no longer matches */
	for (k = 0; k < n; k++)
		CHECK(file_try(good, k, 25) == 0);
	/* any byte changed: refused whole, or its entry refused */
	for (k = 0; k < n; k += 7) {
		memcpy(bad, good, n);
		bad[k] ^= 0x21;
		file_try(bad, n, 25);
	}
	/* heads and indexes that lie */
	memcpy(bad, good, n);
	memcpy(bad, "QCACHE9\n", 8);
	CHECK(file_try(bad, n, 25) == 0);
	memcpy(bad, good, n);
	put32(bad + 12, 0xffffffffUL);          /* count */
	CHECK(file_try(bad, n, 25) == 0);
	memcpy(bad, good, n);
	put32(bad + CACHE_HEAD + 8, 1);         /* uids not ascending */
	CHECK(file_try(bad, n, 25) == 0);
	memcpy(bad, good, n);
	put32(bad + CACHE_HEAD + 12, 0xfffffff0UL); /* offset outside */
	CHECK(file_try(bad, n, 25) == 0);
	memcpy(bad, good, n);
	put32(bad + CACHE_HEAD + 4, CACHE_HEAD + 20 * 8 + 1); /* a gap */
	CHECK(file_try(bad, n, 25) == 0);
	/* an index entry naming another uid than its entry: the entries
	 * before it are still right, then the file is dropped */
	memcpy(bad, good, n);
	put32(bad + CACHE_HEAD + 19 * 8, 30);
	CHECK(file_try(bad, n, 35) == 19);
	/* more entries than CACHE_ENTRIES_MAX: refused before the index
	 * is read (a sparse file, so the test stays small) */
	{
		char f[128], h[CACHE_HEAD];
		size_t size = CACHE_HEAD + (CACHE_ENTRIES_MAX + 1) * 8UL + 64;
		int fd;

		memcpy(h, good, CACHE_HEAD);
		put32(h + 12, CACHE_ENTRIES_MAX + 1);
		put32(h + 16, size);
		path(f, sizeof f, CACHE_FILE);
		fd = open(f, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		CHECK(fd >= 0 && write(fd, h, sizeof h) == sizeof h &&
		      ftruncate(fd, (off_t)size) == 0 && close(fd) == 0);
		CHECK(file_try_keep(25) == 0);
	}
	CHECK(file_try("", 0, 3) == 0);
	CHECK(file_try("QCACHE1\n", 8, 3) == 0);     /* raw header values */
	memset(bad, 0, sizeof bad);
	CHECK(file_try(bad, n, 25) == 0);
	file_rm();
}

/* The file is a directory, a FIFO, or a link: ignored, never waited on. */
static void test_odd_files(void)
{
	struct cache c;
	struct cache_ent d, e;
	char f[128];

	path(f, sizeof f, CACHE_FILE);
	file_rm();
	CHECK(mkfifo(f, 0600) == 0);
	memset(&c, 0, sizeof c);
	CHECK(cache_use(&c, dir, VALIDITY) == 0);
	CHECK(!cache_get(&c, 1, &d));
	/* written over it by rename, whatever it was */
	ent_fill(&e, 1, "x");
	CHECK(cache_put(&c, &e) == 1 && cache_flush(&c, 0, 0, 0) == 1);
	CHECK(cache_get(&c, 1, &d) && ent_eq(&d, &e));
	cache_free(&c);
	file_rm();
	CHECK(symlink("/dev/zero", f) == 0);
	memset(&c, 0, sizeof c);
	CHECK(cache_use(&c, dir, VALIDITY) == 0);
	CHECK(!cache_get(&c, 1, &d));
	cache_free(&c);
	file_rm();
}

/* Leaving a folder writes what it learnt; a write that fails (no tmp/)
 * loses only the cache. */
static void test_switch_and_failure(void)
{
	struct cache c;
	struct cache_ent e, d;
	char t[128];

	file_rm();
	memset(&c, 0, sizeof c);
	CHECK(cache_use(&c, dir, VALIDITY) == 0);
	ent_fill(&e, 9, "y");
	CHECK(cache_put(&c, &e) == 1);
	CHECK(cache_use(&c, "/nonexistent", VALIDITY) == 0);
	CHECK(cache_use(&c, dir, VALIDITY) == 0);
	CHECK(cache_get(&c, 9, &d) && ent_eq(&d, &e));
	path(t, sizeof t, "tmp");
	CHECK(rmdir(t) == 0);
	ent_fill(&e, 10, "z");
	CHECK(cache_put(&c, &e) == 1);
	CHECK(cache_flush(&c, 0, 0, 0) == -1);
	CHECK(cache_get(&c, 9, &d) && !cache_get(&c, 10, &d));
	CHECK(mkdir(t, 0700) == 0);
	cache_free(&c);
	file_rm();
}

int main(void)
{
	char t[128];

	snprintf(dir, sizeof dir, "/tmp/cache_test.XXXXXX");
	if (!mkdtemp(dir))
		return 111;
	path(t, sizeof t, "tmp");
	if (mkdir(t, 0700) < 0)
		return 111;
	RUN(test_encode_roundtrip);
	RUN(test_decode_damage);
	RUN(test_stale_key);
	RUN(test_field_names);
	RUN(test_file_roundtrip);
	RUN(test_merge);
	RUN(test_size_limits);
	RUN(test_hostile_files);
	RUN(test_odd_files);
	RUN(test_switch_and_failure);
	file_rm();
	rmdir(t);
	rmdir(dir);
	return test_done();
}
