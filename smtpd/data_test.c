/* Tests for the DATA state machine: a table of wire bytes and what is
 * stored, each fed whole, byte by byte, in random chunks and in place,
 * which must all give the same output, flags and end. */
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "test.h"

#define B(s) s, sizeof s - 1

#define LF DATA_BARE_LF
#define CR DATA_BARE_CR
#define LONG DATA_LONG_LINE
#define BIG DATA_TOO_BIG
#define OPEN ((size_t)-1)       /* the end is never reached */

static const struct {
	const char *in;
	size_t n;
	size_t maxline;
	unsigned long long maxbytes;
	const char *out;        /* NULL: not checked (rejected anyway) */
	size_t outn;
	int flags;
	size_t used;            /* bytes through the end; OPEN: none */
} cases[] = {
	/* ends, transparency */
	{ B(".\r\n"), 0, 0, B(""), 0, 3 },
	{ B("hello\r\n.\r\n"), 0, 0, B("hello\n"), 0, 10 },
	{ B("\r\n.\r\n"), 0, 0, B("\n"), 0, 5 },
	{ B("a\r\n\r\nb\r\n.\r\n"), 0, 0, B("a\n\nb\n"), 0, 11 },
	{ B("..\r\n.\r\n"), 0, 0, B(".\n"), 0, 7 },
	{ B("...\r\n.\r\n"), 0, 0, B("..\n"), 0, 8 },
	{ B(".x\r\n.\r\n"), 0, 0, B("x\n"), 0, 7 },
	{ B("..x\r\n.\r\n"), 0, 0, B(".x\n"), 0, 8 },
	{ B("a.\r\n .\r\n.\r\n"), 0, 0, B("a.\n .\n"), 0, 11 },
	{ B("a\r\n.\r\nMAIL FROM:<x@y>\r\n"), 0, 0, B("a\n"), 0, 6 },
	{ B("\0\xff\x80\r\n.\r\n"), 0, 0, B("\0\xff\x80\n"), 0, 8 },
	{ B("x.\r\n.\r\n"), 0, 0, B("x.\n"), 0, 7 },
	/* not yet the end */
	{ B(""), 0, 0, B(""), 0, OPEN },
	{ B("a\r\n."), 0, 0, B("a\n"), 0, OPEN },
	{ B("a\r\n.\r"), 0, 0, B("a\n"), 0, OPEN },
	{ B("a\r\n"), 0, 0, B("a\n"), 0, OPEN },
	{ B("a\r"), 0, 0, B("a"), 0, OPEN },
	{ B("a.\r\n"), 0, 0, B("a.\n"), 0, OPEN },
	/* smuggling: none of these end the data; each is a bare CR or LF */
	{ B("a\n.\nb\r\n.\r\n"), 0, 0, 0, 0, LF, 10 },
	{ B("a\r.\rb\r\n.\r\n"), 0, 0, 0, 0, CR, 10 },
	{ B("a\r\n.\nb\r\n.\r\n"), 0, 0, 0, 0, LF, 11 },
	{ B("a\n.\r\nb\r\n.\r\n"), 0, 0, 0, 0, LF, 11 },
	{ B("a\r.\r\nb\r\n.\r\n"), 0, 0, 0, 0, CR, 11 },
	{ B("a\r\n.\r.\r\n"), 0, 0, 0, 0, CR, OPEN },
	{ B("a\n.\n"), 0, 0, 0, 0, LF, OPEN },
	{ B("\n.\r\n"), 0, 0, 0, 0, LF, OPEN },
	{ B("a\r\r\n.\r\n"), 0, 0, 0, 0, CR, 7 },
	{ B("a\nb\r\n.\r\n"), 0, 0, 0, 0, LF, 8 },
	{ B("a\rb\r\n.\r\n"), 0, 0, 0, 0, CR, 8 },
	{ B(".\n.\r\n"), 0, 0, 0, 0, LF, OPEN },
	{ B("a\r\n\n.\r\n"), 0, 0, 0, 0, LF, OPEN },
	{ B("a\r\n\r\r\n.\r\n"), 0, 0, 0, 0, CR, 9 },
	/* line limit: bytes on the wire, CRLF included */
	{ B("12345678\r\n.\r\n"), 10, 0, B("12345678\n"), 0, 13 },
	{ B("123456789\r\n.\r\n"), 10, 0, 0, 0, LONG, 14 },
	{ B(".2345678\r\n.\r\n"), 10, 0, B("2345678\n"), 0, 13 },
	{ B("..345678\r\n.\r\n"), 10, 0, B(".345678\n"), 0, 13 },
	{ B("..3456789\r\n.\r\n"), 10, 0, 0, 0, LONG, 14 },
	{ B("12345678\r\n12345678\r\n.\r\n"), 10, 0,
	  B("12345678\n12345678\n"), 0, 23 },
	{ B("123456789012\r\n.\r\n"), 0, 0, B("123456789012\n"), 0, 17 },
	/* size limit: bytes as stored */
	{ B("abcd\r\n.\r\n"), 0, 5, B("abcd\n"), 0, 9 },
	{ B("abcde\r\n.\r\n"), 0, 5, 0, 0, BIG, 10 },
	{ B("..\r\n..\r\n..\r\n.\r\n"), 0, 6, B(".\n.\n.\n"), 0, 15 },
	{ B("..\r\n..\r\n..\r\nx\r\n.\r\n"), 0, 6, 0, 0, BIG, 18 },
	{ B("abcdef\nxy\r\n.\r\n"), 4, 5, 0, 0, LF | LONG | BIG, 14 },
};

struct result {
	char *out;
	size_t outn, used;
	int flags, done;
};

/* Feeds in[0..n) in chunks: step 0 whole, k > 0 chunks of k bytes, and
 * k < 0 random chunk sizes from seed -k; in place or not. */
static void run(const char *in, size_t n, size_t maxline,
                unsigned long long maxbytes, long k, int inplace,
                struct result *r)
{
	struct data d;
	char *buf = malloc(n + 1), *out = malloc(n + 1);
	size_t i = 0, c, used, on;

	r->out = malloc(n + 1);
	r->outn = r->used = 0;
	if (!buf || !out || !r->out)
		abort();
	memcpy(buf, in, n);
	srand((unsigned)-k);
	data_init(&d, maxline, maxbytes);
	while (i < n && !data_done(&d)) {
		c = k == 0 ? n - i : k > 0 ? (size_t)k : (size_t)rand() % 7 + 1;
		if (c > n - i)
			c = n - i;
		used = data_feed(&d, buf + i, c, inplace ? buf + i : out, &on);
		memcpy(r->out + r->outn, inplace ? buf + i : out, on);
		CHECK(on <= used && used <= c);
		CHECK(used == c || data_done(&d));
		r->outn += on;
		i += used;
	}
	r->used = i;
	r->flags = d.flags;
	r->done = data_done(&d);
	free(buf);
	free(out);
}

static void check_case(size_t t, long k, int inplace)
{
	struct result r;

	run(cases[t].in, cases[t].n, cases[t].maxline, cases[t].maxbytes, k,
	    inplace, &r);
	CHECK(r.flags == cases[t].flags);
	if (cases[t].used == OPEN)
		CHECK(!r.done && r.used == cases[t].n);
	else
		CHECK(r.done && r.used == cases[t].used);
	if (cases[t].out)
		CHECK(r.outn == cases[t].outn &&
		      !memcmp(r.out, cases[t].out, r.outn));
	if (test_failed_now)
		printf("  case %zu, chunks %ld, in place %d\n", t, k, inplace);
	free(r.out);
}

static void test_table(void)
{
	size_t t;
	long k;

	for (t = 0; t < sizeof cases / sizeof cases[0] && !test_failed_now; t++)
		for (k = -20; k <= 4; k++) {
			check_case(t, k, 0);
			check_case(t, k, 1);
		}
}

/* A big message of random lines (some with dots, some long, a few bare
 * CRs and LFs) gives identical results for any chunking. */
static void test_random_splits(void)
{
	size_t n = 0, cap = 300000, j;
	char *in = malloc(cap + 16);
	struct result whole, part;
	long k;
	int round;

	for (round = 0; round < 4 && in; round++) {
		srand(1000 + (unsigned)round);
		n = 0;
		while (n < cap) {
			size_t len = (size_t)rand() % (round == 3 ? 1200 : 200);

			/* a dot line never alone, which would end the data */
			if (rand() % 10 == 0) {
				in[n++] = '.';
				in[n++] = 'd';
			}
			for (j = 0; j < len && n < cap; j++)
				in[n++] = (char)(rand() % 4 ? 'a' + rand() % 26 :
				                 rand() % 256);
			if (round == 2 && rand() % 50 == 0)
				in[n++] = rand() % 2 ? '\n' : '\r';
			in[n++] = '\r';
			in[n++] = '\n';
		}
		memcpy(in + n, ".\r\n", 3);
		n += 3;
		run(in, n, 1000, 0, 0, 0, &whole);
		CHECK(whole.done && whole.used == n);
		for (k = -3; k <= 3; k++) {
			run(in, n, 1000, 0, k ? k : 1, k % 2, &part);
			CHECK(part.done == whole.done && part.used == whole.used &&
			      part.flags == whole.flags &&
			      part.outn == whole.outn &&
			      !memcmp(part.out, whole.out, whole.outn));
			free(part.out);
		}
		free(whole.out);
	}
	free(in);
}

/* Unlimited settings take anything; 0 means no limit. */
static void test_unlimited(void)
{
	size_t n = 100000;
	char *in = malloc(n + 5);
	struct result r;

	if (!in)
		abort();
	memset(in, 'x', n);
	memcpy(in + n, "\r\n.\r\n", 5);
	run(in, n + 5, 0, 0, 4096, 1, &r);
	CHECK(r.flags == 0 && r.done && r.outn == n + 1);
	free(r.out);
	run(in, n + 5, 1000, 0, 4096, 1, &r);
	CHECK(r.flags == DATA_LONG_LINE && r.done);
	free(r.out);
	run(in, n + 5, 0, 1000, 4096, 1, &r);
	CHECK(r.flags == DATA_TOO_BIG && r.done);
	free(r.out);
	free(in);
}

int main(void)
{
	RUN(test_table);
	RUN(test_random_splits);
	RUN(test_unlimited);
	return test_done();
}
