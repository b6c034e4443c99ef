/* Tests for the RFC 5321 path parser: a table of paths and results, the
 * limits at their boundaries, and every valid path cut short. */
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "test.h"

struct pcase {
	const char *in;
	size_t n;               /* 0: strlen(in) */
	int code;
	const char *out;        /* on ADDR_OK */
	size_t used;            /* on ADDR_OK; 0: all of in */
	int dom;                /* has_domain on ADDR_OK */
};

static const struct pcase cases[] = {
	/* plain and canonical */
	{ "<user@example.org>", 0, ADDR_OK, "user@example.org", 0, 1 },
	{ "<a@b>", 0, ADDR_OK, "a@b", 0, 1 },
	{ "<First.Last@Mail.Example.ORG>", 0, ADDR_OK,
	  "First.Last@Mail.Example.ORG", 0, 1 },
	{ "<a.b.c@x.y.z.example>", 0, ADDR_OK, "a.b.c@x.y.z.example", 0, 1 },
	{ "<user+tag@example.org>", 0, ADDR_OK, "user+tag@example.org", 0, 1 },
	{ "<!#$%&'*+-/=?^_`{|}~@example.org>", 0, ADDR_OK,
	  "!#$%&'*+-/=?^_`{|}~@example.org", 0, 1 },
	{ "<a@x-y.example>", 0, ADDR_OK, "a@x-y.example", 0, 1 },
	{ "<a@x--y.example>", 0, ADDR_OK, "a@x--y.example", 0, 1 },
	{ "<a@123.example>", 0, ADDR_OK, "a@123.example", 0, 1 },
	{ "<a@1.2.3.4>", 0, ADDR_OK, "a@1.2.3.4", 0, 1 },
	{ "<a@localhost>", 0, ADDR_OK, "a@localhost", 0, 1 },
	/* null path and bare local parts */
	{ "<>", 0, ADDR_OK, "", 0, 0 },
	{ "<postmaster>", 0, ADDR_OK, "postmaster", 0, 0 },
	{ "<Postmaster>", 0, ADDR_OK, "Postmaster", 0, 0 },
	{ "<\"post master\">", 0, ADDR_OK, "\"post master\"", 0, 0 },
	/* quoted local parts */
	{ "<\"user\"@example.org>", 0, ADDR_OK, "user@example.org", 0, 1 },
	{ "<\"a.b\"@example.org>", 0, ADDR_OK, "a.b@example.org", 0, 1 },
	{ "<\"a b\"@example.org>", 0, ADDR_OK, "\"a b\"@example.org", 0, 1 },
	{ "<\"a\\ b\"@example.org>", 0, ADDR_OK, "\"a b\"@example.org", 0, 1 },
	{ "<\"\\a\\b\"@example.org>", 0, ADDR_OK, "ab@example.org", 0, 1 },
	{ "<\"a\\\"b\"@example.org>", 0, ADDR_OK, "\"a\\\"b\"@example.org", 0, 1 },
	{ "<\"a\\\\b\"@example.org>", 0, ADDR_OK, "\"a\\\\b\"@example.org", 0, 1 },
	{ "<\"a@b\"@example.org>", 0, ADDR_OK, "\"a@b\"@example.org", 0, 1 },
	{ "<\"a..b\"@example.org>", 0, ADDR_OK, "\"a..b\"@example.org", 0, 1 },
	{ "<\".a\"@example.org>", 0, ADDR_OK, "\".a\"@example.org", 0, 1 },
	{ "<\"a,b:c\"@example.org>", 0, ADDR_OK, "\"a,b:c\"@example.org", 0, 1 },
	{ "<\"a>b\"@example.org>", 0, ADDR_OK, "\"a>b\"@example.org", 0, 1 },
	{ "<\" \"@example.org>", 0, ADDR_OK, "\" \"@example.org", 0, 1 },
	{ "<\"~\"@example.org>", 0, ADDR_OK, "~@example.org", 0, 1 },
	/* source routes are dropped */
	{ "<@relay.example:user@example.org>", 0, ADDR_OK, "user@example.org", 0, 1 },
	{ "<@a.example,@b.example:user@example.org>", 0, ADDR_OK,
	  "user@example.org", 0, 1 },
	{ "<@a,@b,@c:\"x y\"@[10.0.0.1]>", 0, ADDR_OK, "\"x y\"@[10.0.0.1]", 0, 1 },
	/* address literals */
	{ "<a@[192.0.2.1]>", 0, ADDR_OK, "a@[192.0.2.1]", 0, 1 },
	{ "<a@[0.0.0.0]>", 0, ADDR_OK, "a@[0.0.0.0]", 0, 1 },
	{ "<a@[255.255.255.255]>", 0, ADDR_OK, "a@[255.255.255.255]", 0, 1 },
	{ "<a@[010.001.000.255]>", 0, ADDR_OK, "a@[010.001.000.255]", 0, 1 },
	{ "<a@[IPv6:2001:db8::1]>", 0, ADDR_OK, "a@[IPv6:2001:db8::1]", 0, 1 },
	{ "<a@[ipv6:::1]>", 0, ADDR_OK, "a@[ipv6:::1]", 0, 1 },
	{ "<a@[IPv6:1:2:3:4:5:6:7:8]>", 0, ADDR_OK, "a@[IPv6:1:2:3:4:5:6:7:8]", 0, 1 },
	{ "<a@[IPv6:::ffff:192.0.2.1]>", 0, ADDR_OK, "a@[IPv6:::ffff:192.0.2.1]", 0, 1 },
	/* what follows '>' is the caller's */
	{ "<a@b> SIZE=100", 0, ADDR_OK, "a@b", 5, 1 },
	{ "<a@b>>", 0, ADDR_OK, "a@b", 5, 1 },
	{ "<>junk", 0, ADDR_OK, "", 2, 0 },
	{ "<a@b>\0x", 7, ADDR_OK, "a@b", 5, 1 },

	/* not paths */
	{ "", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "a@b", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "a@b>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<a@b", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ " <a@b>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<<a@b>>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "< a@b>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<a@b >", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<a @b>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<a b@c>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<\"a@b>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<a\"b@c>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<a(b)@c>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<a;b@c>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<a@b@c>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	/* empty and badly dotted local parts */
	{ "<@b>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<\"\"@b>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<a..b@c>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<.a@c>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<a.@c>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<.@c>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<.>", 0, ADDR_SYNTAX, 0, 0, 0 },
	/* quoted strings */
	{ "<\"a\tb\"@c>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<\"a\\\tb\"@c>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<\"a\\\"@c>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<\"a\"b@c>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<a\"b\"@c>", 0, ADDR_SYNTAX, 0, 0, 0 },
	/* domains */
	{ "<a@>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@.b>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@b.>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@b..c>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@-b.c>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@b-.c>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@b.c->", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@b.-c>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@->", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@b_c.d>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@b,c>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@b:c>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@\"b\">", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	/* address literals */
	{ "<a@[]>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@[1.2.3]>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@[1.2.3.4.5]>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@[1.2.3.256]>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@[1.2.3.0001]>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@[1..2.3]>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@[1.2.3.4.]>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@[1.2.3.4>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@1.2.3.4]>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@[1.2.3.4]x>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@[IPv6:1.2.3.4]>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@[IPv6:]>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@[IPv6:2001:db8::1::2]>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@[IPv6:1:2:3:4:5:6:7:8:9]>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@[IPv6:fe80::1%eth0]>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@[2001:db8::1]>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@[x-tag:content]>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<a@[1.2.3.4 ]>", 0, ADDR_SYNTAX, 0, 0, 0 },
	/* source routes */
	{ "<@a:>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<@a>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<@a,b:c@d>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<@a,@b,c@d>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<@:c@d>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<@-a:c@d>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<@[1.2.3.4]:c@d>", 0, ADDR_BAD_DOMAIN, 0, 0, 0 },
	{ "<@a:@b:c@d>", 0, ADDR_SYNTAX, 0, 0, 0 },
	/* bytes that never belong in a path */
	{ "<a\0b@c>", 7, ADDR_SYNTAX, 0, 0, 0 },
	{ "<a@b\0c>", 7, ADDR_SYNTAX, 0, 0, 0 },
	{ "<a@b\0", 5, ADDR_SYNTAX, 0, 0, 0 },
	{ "<\"a\0b\"@c>", 9, ADDR_SYNTAX, 0, 0, 0 },
	{ "<a\r\nb@c>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<a@b\r\n>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<a@b\n.c>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<a@b\x7f>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<j\xc3\xb6rg@example.org>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<a@b\xc3\xb6.example>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<\"\xc3\xb6\"@example.org>", 0, ADDR_SYNTAX, 0, 0, 0 },
	{ "<\"\\\xc3\"@example.org>", 0, ADDR_SYNTAX, 0, 0, 0 },
};

#define NCASES (sizeof cases / sizeof cases[0])

static size_t case_len(const struct pcase *t)
{
	return t->n ? t->n : strlen(t->in);
}

/* Runs one case; 1 when the result is as expected. */
static int check_case(const struct pcase *t)
{
	struct str out = STR_ZERO;
	size_t n = case_len(t), used = 12345;
	int dom = -1, r, ok;

	r = addr_parse_path(t->in, n, &out, &used, &dom);
	ok = r == t->code;
	if (ok && r == ADDR_OK)
		ok = str_eqb(&out, t->out, strlen(t->out)) &&
		     used == (t->used ? t->used : n) && dom == t->dom;
	if (!ok)
		printf("  case \"%s\": got %d used %zu out \"%.*s\"\n", t->in, r,
		       used, (int)out.len, out.s ? out.s : "");
	str_free(&out);
	return ok;
}

static void test_table(void)
{
	size_t i;

	CHECK(NCASES >= 60);
	for (i = 0; i < NCASES; i++)
		CHECK(check_case(&cases[i]));
}

/* The parse of a copy of exactly n bytes in its own allocation, so ASan
 * sees any read past the end. */
static int parse_copy(const char *p, size_t n, struct str *out, size_t *used,
                      int *dom)
{
	char *q = malloc(n ? n : 1);
	int r;

	if (!q)
		return -1;
	memcpy(q, p, n);
	r = addr_parse_path(q, n, out, used, dom);
	free(q);
	return r;
}

/* A valid path cut anywhere before its '>' is never valid. */
static void test_truncated(void)
{
	struct str out = STR_ZERO;
	size_t i, k, n, used;
	int dom, r;

	for (i = 0; i < NCASES; i++) {
		if (cases[i].code != ADDR_OK)
			continue;
		n = cases[i].used ? cases[i].used : case_len(&cases[i]);
		for (k = 0; k < n; k++) {
			r = parse_copy(cases[i].in, k, &out, &used, &dom);
			CHECK(r != ADDR_OK && r != -1);
			CHECK(out.len == 0);
		}
		r = parse_copy(cases[i].in, n, &out, &used, &dom);
		CHECK(r == ADDR_OK && used == n);
	}
	str_free(&out);
}

/* Fills the first n bytes of buf with a repeating pattern of letters. */
static void fill(char *buf, size_t n, char c)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf[i] = c;
}

static int parse_parts(const char *local, size_t llen, const char *domain,
                       size_t dlen, struct str *out)
{
	char buf[1024];
	size_t n = 0, used;
	int dom;

	buf[n++] = '<';
	memcpy(buf + n, local, llen);
	n += llen;
	buf[n++] = '@';
	memcpy(buf + n, domain, dlen);
	n += dlen;
	buf[n++] = '>';
	return parse_copy(buf, n, out, &used, &dom);
}

/* A domain of labels of 63 bytes and dots, total length n. */
static void make_domain(char *d, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		d[i] = (i % 64 == 63) ? '.' : 'd';
	if (d[n - 1] == '.')
		d[n - 1] = 'e';
}

static void test_local_limit(void)
{
	struct str out = STR_ZERO;
	char l[ADDR_LOCAL_MAX + 2];

	fill(l, sizeof l, 'l');
	CHECK(parse_parts(l, ADDR_LOCAL_MAX, "b", 1, &out) == ADDR_OK);
	CHECK(out.len == ADDR_LOCAL_MAX + 2);
	CHECK(parse_parts(l, ADDR_LOCAL_MAX + 1, "b", 1, &out) == ADDR_LOCAL_LONG);
	CHECK(parse_parts(l, ADDR_LOCAL_MAX + 2, "b", 1, &out) == ADDR_LOCAL_LONG);
	/* quoted: the limit counts the quotes */
	l[0] = '"';
	l[ADDR_LOCAL_MAX - 1] = '"';
	l[5] = ' ';
	CHECK(parse_parts(l, ADDR_LOCAL_MAX, "b", 1, &out) == ADDR_OK);
	CHECK(out.len == ADDR_LOCAL_MAX + 2);
	l[ADDR_LOCAL_MAX - 1] = 'l';
	l[ADDR_LOCAL_MAX] = '"';
	CHECK(parse_parts(l, ADDR_LOCAL_MAX + 1, "b", 1, &out) ==
	      ADDR_LOCAL_LONG);
	/* an escape straddling the limit */
	l[ADDR_LOCAL_MAX - 1] = '\\';
	l[ADDR_LOCAL_MAX] = 'x';
	l[ADDR_LOCAL_MAX + 1] = '"';
	CHECK(parse_parts(l, ADDR_LOCAL_MAX + 2, "b", 1, &out) ==
	      ADDR_LOCAL_LONG);
	/* a quoted string that unquotes to a dot-string */
	fill(l, sizeof l, 'q');
	l[0] = '"';
	l[ADDR_LOCAL_MAX - 1] = '"';
	CHECK(parse_parts(l, ADDR_LOCAL_MAX, "b", 1, &out) == ADDR_OK);
	CHECK(out.len == ADDR_LOCAL_MAX - 2 + 2);
	str_free(&out);
}

static void test_label_limit(void)
{
	struct str out = STR_ZERO;
	char d[70];

	fill(d, sizeof d, 'x');
	memcpy(d + 63, ".org", 4);
	CHECK(parse_parts("a", 1, d, 67, &out) == ADDR_OK);
	fill(d, sizeof d, 'x');
	memcpy(d + 64, ".org", 4);
	CHECK(parse_parts("a", 1, d, 68, &out) == ADDR_BAD_DOMAIN);
	str_free(&out);
}

static void test_domain_limit(void)
{
	struct str out = STR_ZERO;
	char d[ADDR_DOMAIN_MAX + 2];
	size_t longest = ADDR_PATH_MAX - 4;     /* "<a@" and ">" */

	make_domain(d, longest);
	CHECK(parse_parts("a", 1, d, longest, &out) == ADDR_OK);
	CHECK(out.len == ADDR_PATH_MAX - 2);
	make_domain(d, longest + 1);
	CHECK(parse_parts("a", 1, d, longest + 1, &out) == ADDR_PATH_LONG);
	make_domain(d, ADDR_DOMAIN_MAX);
	CHECK(parse_parts("a", 1, d, ADDR_DOMAIN_MAX, &out) == ADDR_PATH_LONG);
	make_domain(d, ADDR_DOMAIN_MAX + 1);
	CHECK(parse_parts("a", 1, d, ADDR_DOMAIN_MAX + 1, &out) ==
	      ADDR_DOMAIN_LONG);
	make_domain(d, ADDR_DOMAIN_MAX + 2);
	CHECK(parse_parts("a", 1, d, ADDR_DOMAIN_MAX + 2, &out) ==
	      ADDR_DOMAIN_LONG);
	CHECK(out.len == 0);
	str_free(&out);
}

static void test_path_limit(void)
{
	struct str out = STR_ZERO;
	char l[ADDR_LOCAL_MAX], d[ADDR_DOMAIN_MAX];
	size_t dl = ADDR_PATH_MAX - 3 - ADDR_LOCAL_MAX;

	fill(l, sizeof l, 'l');
	make_domain(d, dl);
	CHECK(parse_parts(l, ADDR_LOCAL_MAX, d, dl, &out) == ADDR_OK);
	make_domain(d, dl + 1);
	CHECK(parse_parts(l, ADDR_LOCAL_MAX, d, dl + 1, &out) == ADDR_PATH_LONG);
	str_free(&out);
}

/* A route of many short hops stops at the path limit. */
static void test_route_limit(void)
{
	struct str out = STR_ZERO;
	char buf[2048];
	size_t n, used, hops;
	int dom, r;

	for (hops = 1; hops < 400; hops += 7) {
		size_t i;

		n = 0;
		buf[n++] = '<';
		for (i = 0; i < hops; i++) {
			if (i)
				buf[n++] = ',';
			buf[n++] = '@';
			buf[n++] = 'r';
		}
		memcpy(buf + n, ":a@b>", 5);
		n += 5;
		r = parse_copy(buf, n, &out, &used, &dom);
		if (n <= ADDR_PATH_MAX)
			CHECK(r == ADDR_OK && used == n && str_eqb(&out, "a@b", 3));
		else
			CHECK(r == ADDR_PATH_LONG);
	}
	/* and without its end, still no further than the limit */
	buf[0] = '<';
	for (n = 1; n + 3 <= sizeof buf; n += 3)
		memcpy(buf + n, "@r,", 3);
	CHECK(parse_copy(buf, n, &out, &used, &dom) == ADDR_PATH_LONG);
	/* one hop as long as a domain may be, unterminated */
	memset(buf + 2, 'r', sizeof buf - 2);
	CHECK(parse_copy(buf, sizeof buf, &out, &used, &dom) == ADDR_DOMAIN_LONG);
	str_free(&out);
}

/* out is reset on every call, and its old content does not leak in. */
static void test_out_reset(void)
{
	struct str out = STR_ZERO;
	size_t used;
	int dom;

	CHECK(str_copys(&out, "stale"));
	CHECK(addr_parse_path("<x@y>", 5, &out, &used, &dom) == ADDR_OK);
	CHECK(str_eqb(&out, "x@y", 3));
	CHECK(addr_parse_path("<x@-y>", 6, &out, &used, &dom) == ADDR_BAD_DOMAIN);
	CHECK(out.len == 0);
	CHECK(addr_parse_path("<>", 2, &out, &used, &dom) == ADDR_OK);
	CHECK(out.len == 0 && used == 2 && dom == 0);
	str_free(&out);
}

static void test_error_text(void)
{
	int i;

	for (i = ADDR_OK; i <= ADDR_NOMEM; i++)
		CHECK(addr_error(i) && *addr_error(i));
	CHECK(strcmp(addr_error(ADDR_LOCAL_LONG), "local part too long") == 0);
	CHECK(addr_error(-1) && addr_error(999));
	CHECK(strcmp(addr_error(ADDR_OK), addr_error(ADDR_SYNTAX)) != 0);
}

static void test_domain_part(void)
{
	static const struct {
		const char *addr, *domain;
	} t[] = {
		{ "a@b.example", "b.example" },
		{ "\"x@y\"@b.example", "b.example" },
		{ "postmaster", "" },
		{ "", "" },
		{ "a@", "" },
		{ "@b", "b" },
	};
	size_t i, dlen;
	const char *d;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		d = addr_domain(t[i].addr, strlen(t[i].addr), &dlen);
		CHECK(dlen == strlen(t[i].domain));
		CHECK(memcmp(d, t[i].domain, dlen) == 0);
	}
	/* the length bounds the search, not a NUL */
	d = addr_domain("a@b@c", 3, &dlen);
	CHECK(dlen == 1 && d[0] == 'b');
}

/* Canonical output parses again, wrapped in <>, to itself. */
static void test_reparse(void)
{
	struct str out = STR_ZERO, again = STR_ZERO, wrapped = STR_ZERO;
	size_t i, used;
	int dom, dom2;

	for (i = 0; i < NCASES; i++) {
		if (cases[i].code != ADDR_OK)
			continue;
		CHECK(addr_parse_path(cases[i].in, case_len(&cases[i]), &out,
		                      &used, &dom) == ADDR_OK);
		wrapped.len = 0;
		CHECK(str_catc(&wrapped, '<') && str_catb(&wrapped, out.s, out.len) &&
		      str_catc(&wrapped, '>'));
		CHECK(addr_parse_path(wrapped.s, wrapped.len, &again, &used,
		                      &dom2) == ADDR_OK);
		CHECK(str_eqb(&again, out.s, out.len) && dom == dom2);
		CHECK(used == wrapped.len);
	}
	str_free(&out);
	str_free(&again);
	str_free(&wrapped);
}

int main(void)
{
	RUN(test_table);
	RUN(test_truncated);
	RUN(test_local_limit);
	RUN(test_label_limit);
	RUN(test_domain_limit);
	RUN(test_path_limit);
	RUN(test_route_limit);
	RUN(test_out_reset);
	RUN(test_error_text);
	RUN(test_domain_part);
	RUN(test_reparse);
	return test_done();
}
