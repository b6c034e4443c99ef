/* Unit tests for popd/popcmd.c: tables of input and result; and the
 * order in which popd/maildrop.c lists a Maildir. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "maildrop.h"
#include "popcmd.h"
#include "test.h"

#define S(x) x, sizeof(x) - 1

static void test_line(void)
{
	static const struct {
		const char *in;
		size_t n;
		int ok;
		size_t len;
	} t[] = {
		{ S("QUIT\r\n"), 1, 4 },
		{ S("QUIT\n"), 1, 4 },
		{ S("QUIT"), 1, 4 },
		{ S("\r\n"), 1, 0 },
		{ S(""), 1, 0 },
		{ S("QU\rIT\r\n"), 0, 0 },
		{ S("QU\0IT\r\n"), 0, 0 },
		{ S("QUIT\r\r\n"), 0, 0 },
		{ S("PASS a b\r\n"), 1, 8 },
	};
	size_t i, len;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		len = 99;
		CHECK(pop_line(t[i].in, t[i].n, &len) == t[i].ok);
		if (t[i].ok)
			CHECK(len == t[i].len);
	}
}

static void test_parse(void)
{
	static const struct {
		const char *in;
		int verb;
		const char *arg;        /* NULL: none */
	} t[] = {
		{ "", POP_EMPTY, 0 },
		{ "QUIT", POP_QUIT, 0 },
		{ "quit", POP_QUIT, 0 },
		{ "QuIt", POP_QUIT, 0 },
		{ "QUITX", POP_UNKNOWN, 0 },
		{ "QUI", POP_UNKNOWN, 0 },
		{ "USER alice@example.org", POP_USER, "alice@example.org" },
		{ "PASS two words ", POP_PASS, "two words " },
		{ "PASS ", POP_PASS, "" },
		{ "top 1 10", POP_TOP, "1 10" },
		{ "TOP", POP_TOP, 0 },
		{ "LIST", POP_LIST, 0 },
		{ "uidl 3", POP_UIDL, "3" },
		{ "STLS", POP_STLS, 0 },
		{ "AUTH PLAIN AGFsaWNlAHNlY3JldA==", POP_AUTH,
		  "PLAIN AGFsaWNlAHNlY3JldA==" },
		{ " QUIT", POP_UNKNOWN, "QUIT" },
		{ "STAT", POP_STAT, 0 }, { "RETR 1", POP_RETR, "1" },
		{ "DELE 2", POP_DELE, "2" }, { "NOOP", POP_NOOP, 0 },
		{ "RSET", POP_RSET, 0 }, { "CAPA", POP_CAPA, 0 },
		{ "APOP a b", POP_APOP, "a b" },
	};
	struct pop_cmd c;
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		pop_parse(t[i].in, strlen(t[i].in), &c);
		CHECK(c.verb == t[i].verb);
		if (!t[i].arg)
			CHECK(c.arg == 0);
		else
			CHECK(c.arg && c.arglen == strlen(t[i].arg) &&
			      memcmp(c.arg, t[i].arg, c.arglen) == 0);
	}
}

static void test_num(void)
{
	static const struct {
		const char *in;
		unsigned long long max;
		int ok;
		unsigned long long v;
	} t[] = {
		{ "1", 10, 1, 1 },
		{ "10", 10, 1, 10 },
		{ "11", 10, 0, 0 },
		{ "0", 10, 1, 0 },
		{ "007", 10, 1, 7 },
		{ "", 10, 0, 0 },
		{ "-1", 10, 0, 0 },
		{ "+1", 10, 0, 0 },
		{ "1 ", 10, 0, 0 },
		{ "1a", 10, 0, 0 },
		{ "18446744073709551615", ~0ULL, 0, 0 },      /* 20 digits */
		{ "9999999999999999999", ~0ULL, 1, 9999999999999999999ULL },
	};
	unsigned long long v;
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		v = 12345;
		CHECK(pop_num(t[i].in, strlen(t[i].in), t[i].max, &v) == t[i].ok);
		if (t[i].ok)
			CHECK(v == t[i].v);
	}
}

static void test_two(void)
{
	static const struct {
		const char *in;
		int ok;
	} t[] = {
		{ "1 10", 1 }, { "1", 0 }, { "1 ", 0 }, { " 1", 0 },
		{ "1  10", 0 }, { "1 10 3", 0 }, { "", 0 }, { "a b", 1 },
	};
	const char *a, *b;
	size_t an, bn, i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++)
		CHECK(pop_two(t[i].in, strlen(t[i].in), &a, &an, &b, &bn) ==
		      t[i].ok);
	CHECK(pop_two(S("12 3"), &a, &an, &b, &bn) && an == 2 && bn == 1 &&
	      a[0] == '1' && b[0] == '3');
}

static void test_plain(void)
{
	static const struct {
		const char *in;
		size_t n;
		int ok;
		const char *user, *pass;
	} t[] = {
		{ S("\0alice\0secret"), 1, "alice", "secret" },
		{ S("alice\0alice\0secret"), 1, "alice", "secret" },
		{ S("bob\0alice\0secret"), 0, 0, 0 },
		{ S("\0alice\0"), 0, 0, 0 },
		{ S("\0\0secret"), 0, 0, 0 },
		{ S("\0alice"), 0, 0, 0 },
		{ S("alice"), 0, 0, 0 },
		{ S(""), 0, 0, 0 },
		{ S("\0alice\0sec\0ret"), 0, 0, 0 },
		{ S("\0alice\0pass word"), 1, "alice", "pass word" },
	};
	struct str u = STR_ZERO, p = STR_ZERO;
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		CHECK(pop_plain(t[i].in, t[i].n, &u, &p) == t[i].ok);
		if (t[i].ok)
			CHECK(str_eqb(&u, t[i].user, strlen(t[i].user)) &&
			      str_eqb(&p, t[i].pass, strlen(t[i].pass)));
	}
	str_free(&u);
	str_free(&p);
}

static void test_uidl(void)
{
	static const struct {
		const char *in, *out;
	} t[] = {
		{ "1700000000.M1P2Q3.host,S=10,W=12:2,S", "1700000000.M1P2Q3.host" },
		{ "1700000000.M1P2Q3.host:2,", "1700000000.M1P2Q3.host" },
		{ "1700000000.M1P2Q3.host", "1700000000.M1P2Q3.host" },
		{ "123.456.host,W=5", "123.456.host" },
		{ "a,b:2,", "a,b" },
		{ "a,S=1,W=2,X=3", "a" },
	};
	char out[POP_UIDL_MAX], out2[POP_UIDL_MAX];
	char longname[200];
	size_t i, n, n2;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		n = pop_uidl(t[i].in, strlen(t[i].in), out);
		CHECK(n == strlen(t[i].out) && memcmp(out, t[i].out, n) == 0);
	}
	/* too long, bad bytes, empty: a hash, the same each time */
	memset(longname, 'a', sizeof longname);
	n = pop_uidl(longname, sizeof longname, out);
	CHECK(n == 17 && out[0] == 'X');
	n2 = pop_uidl(longname, sizeof longname, out2);
	CHECK(n2 == n && memcmp(out, out2, n) == 0);
	longname[5] = 'b';
	n2 = pop_uidl(longname, sizeof longname, out2);
	CHECK(n2 == 17 && memcmp(out, out2, n) != 0);
	n = pop_uidl(S("a b:2,"), out);
	CHECK(n == 17 && out[0] == 'X');
	n = pop_uidl(S(":2,"), out);
	CHECK(n == 17 && out[0] == 'X');
	n = pop_uidl(S("caf\xc3\xa9"), out);
	CHECK(n == 17);
	n = pop_uidl(longname, POP_UIDL_MAX, out);
	CHECK(n == POP_UIDL_MAX);
}

/* Transforms whole, byte by byte and in pieces of 7; all must agree. */
static size_t xf_all(const char *in, size_t n, int top, unsigned long long l,
                     char *out, size_t step)
{
	struct pop_xf x;
	size_t i = 0, o = 0, k;

	pop_xf_init(&x, top, l);
	while (i < n) {
		k = step && n - i > step ? step : n - i;
		o += pop_xf(&x, in + i, k, out + o);
		i += k;
	}
	return o + pop_xf_end(&x, out + o);
}

static void test_xf(void)
{
	static const struct {
		const char *in;
		size_t n;
		int top;
		unsigned long long lines;
		const char *out;
	} t[] = {
		{ S(""), 0, 0, ".\r\n" },
		{ S("a\n"), 0, 0, "a\r\n.\r\n" },
		{ S("a"), 0, 0, "a\r\n.\r\n" },
		{ S(".\n"), 0, 0, "..\r\n.\r\n" },
		{ S("a\n.b\n..\n"), 0, 0, "a\r\n..b\r\n...\r\n.\r\n" },
		{ S("a\r\nb\n"), 0, 0, "a\r\r\nb\r\n.\r\n" },
		{ S("x. y\n"), 0, 0, "x. y\r\n.\r\n" },
		{ S("H: 1\n\nb1\nb2\nb3\n"), 1, 0, "H: 1\r\n\r\n.\r\n" },
		{ S("H: 1\n\nb1\nb2\nb3\n"), 1, 2,
		  "H: 1\r\n\r\nb1\r\nb2\r\n.\r\n" },
		{ S("H: 1\n\nb1\nb2\nb3\n"), 1, 9,
		  "H: 1\r\n\r\nb1\r\nb2\r\nb3\r\n.\r\n" },
		{ S("H: 1\n\n.b1\nb2"), 1, 1, "H: 1\r\n\r\n..b1\r\n.\r\n" },
		{ S("H: 1\nH: 2\n"), 1, 0, "H: 1\r\nH: 2\r\n.\r\n" },
		{ S("H: 1\n\r\nb1\n"), 1, 0, "H: 1\r\n\r\r\n.\r\n" },
		{ S("\nb1\nb2\n"), 1, 1, "\r\nb1\r\n.\r\n" },
		{ S("a\n\n"), 0, 0, "a\r\n\r\n.\r\n" },
	};
	char out[256];
	static const size_t steps[] = { 0, 1, 7 };
	size_t i, s, n;

	for (i = 0; i < sizeof t / sizeof t[0]; i++)
		for (s = 0; s < 3; s++) {
			n = xf_all(t[i].in, t[i].n, t[i].top, t[i].lines, out,
			           steps[s]);
			CHECK(n == strlen(t[i].out) && memcmp(out, t[i].out, n) == 0);
		}
}

static void test_size(void)
{
	static const struct {
		const char *in;
		size_t n;
		unsigned long long size;
	} t[] = {
		{ S(""), 0 }, { S("a\n"), 3 }, { S("a"), 3 },
		{ S("a\nb\n"), 6 }, { S(".\n"), 3 }, { S("\n\n"), 4 },
	};
	struct pop_size s;
	size_t i, k;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		pop_size_init(&s);
		pop_size_add(&s, t[i].in, t[i].n);
		CHECK(pop_size_end(&s) == t[i].size);
		pop_size_init(&s);
		for (k = 0; k < t[i].n; k++)
			pop_size_add(&s, t[i].in + k, 1);
		CHECK(pop_size_end(&s) == t[i].size);
	}
}

/* A Maildir under a fresh temporary directory with these files in cur/
 * (made in the order given); its path is left in dir. */
static int make_box(char *dir, const char *const *names, size_t n)
{
	char path[512];
	size_t i;
	int fd;

	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof path, "%s/cur", dir);
	if (mkdir(path, 0700) < 0)
		return -1;
	snprintf(path, sizeof path, "%s/new", dir);
	if (mkdir(path, 0700) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/cur/%s", dir, names[i]);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd < 0 || write(fd, "x\n", 2) != 2 || close(fd) < 0)
			return -1;
	}
	return 0;
}

static void remove_box(const char *dir, const struct maildrop *d)
{
	char path[512];
	size_t i;

	for (i = 0; i < d->n; i++) {
		snprintf(path, sizeof path, "%s/cur/%s", dir, maildrop_name(d, i));
		unlink(path);
	}
	snprintf(path, sizeof path, "%s/cur", dir);
	rmdir(path);
	snprintf(path, sizeof path, "%s/new", dir);
	rmdir(path);
	rmdir(dir);
}

/* Oldest first by the leading number (however many digits, leading
 * zeros or not), ties and names without one by name. */
static void test_order(void)
{
	static const char *const made[] = {
		"abc", "1000.b", "12345678901234567890123.x", "999.b", "0999.a",
		"1000.a", "999.a", "18446744073709551615.y", "2.z",
	};
	static const char *const want[] = {
		"2.z", "0999.a", "999.a", "999.b", "1000.a", "1000.b",
		"18446744073709551615.y", "12345678901234567890123.x", "abc",
	};
	struct maildrop d = MAILDROP_ZERO;
	char dir[] = "/tmp/quail-maildrop.XXXXXX";
	const char *what;
	size_t i;

	CHECK(make_box(dir, made, sizeof made / sizeof made[0]) == 0);
	CHECK(maildrop_open(&d, dir, &what) == 0);
	CHECK(d.n == sizeof want / sizeof want[0]);
	for (i = 0; i < d.n && i < sizeof want / sizeof want[0]; i++)
		CHECK(strcmp(maildrop_name(&d, i), want[i]) == 0);
	remove_box(dir, &d);
	maildrop_free(&d);
}

/* Enough names, made in a scrambled order, for many merge passes (and
 * more than one directory read): they come back in time order. */
static void test_order_many(void)
{
	enum { N = 3001 };
	static char names[N][32];
	static const char *made[N];
	struct maildrop d = MAILDROP_ZERO;
	char dir[] = "/tmp/quail-maildrop.XXXXXX";
	const char *what;
	size_t i, k;

	for (i = 0; i < N; i++) {
		k = (i * 1237) % N;     /* 1237 is prime to 3001: a permutation */
		snprintf(names[i], sizeof names[i], "%zu.M%zuP7.host", 1700000000 + k, k);
		made[i] = names[i];
	}
	CHECK(make_box(dir, made, N) == 0);
	CHECK(maildrop_open(&d, dir, &what) == 0);
	CHECK(d.n == N);
	for (i = 0; i < d.n; i++)
		CHECK(strtoull(maildrop_name(&d, i), 0, 10) == 1700000000 + i);
	remove_box(dir, &d);
	maildrop_free(&d);
}

int main(void)
{
	RUN(test_line);
	RUN(test_parse);
	RUN(test_num);
	RUN(test_two);
	RUN(test_plain);
	RUN(test_uidl);
	RUN(test_xf);
	RUN(test_size);
	RUN(test_order);
	RUN(test_order_many);
	return test_done();
}
