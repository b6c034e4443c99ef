/* Tests for hdr: each header is parsed whole, byte by byte, and through
 * hdr_read on a file with a tiny buffer; all three must agree. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hdr.h"
#include "test.h"

#define S(x) x, sizeof x - 1

struct hcase {
	const char *in;
	size_t inlen;
	int result;
	const char *fields;     /* "name=value|..."; folds show as LF */
	size_t flen;
	int blank;
	const char *body;       /* all that follows the header */
	size_t blen;
};

static const struct hcase hcases[] = {
	{ S("Subject: hi\n\nbody\n"), HDR_DONE, S("Subject= hi"), 1, S("body\n") },
	{ S("Subject: hi\r\nTo: a@b\r\n\r\nbody\r\n"), HDR_DONE,
	  S("Subject= hi|To= a@b"), 1, S("body\r\n") },
	{ S("Subject: a\n b\n\tc\nX: y\n\n"), HDR_DONE,
	  S("Subject= a\n b\n\tc|X= y"), 1, S("") },
	{ S("Subject: a\r\n b\r\n\r\n"), HDR_DONE, S("Subject= a\n b"), 1, S("") },
	{ S("Subject: a\n"), HDR_DONE, S("Subject= a"), 0, S("") },
	{ S("Subject: a"), HDR_DONE, S("Subject= a"), 0, S("") },
	{ S("Subject: a\r"), HDR_DONE, S("Subject= a"), 0, S("") },
	{ S("A: 1\n 2"), HDR_DONE, S("A= 1\n 2"), 0, S("") },
	{ S(""), HDR_DONE, S(""), 0, S("") },
	{ S("\nbody"), HDR_DONE, S(""), 1, S("body") },
	{ S("\r\nbody"), HDR_DONE, S(""), 1, S("body") },
	{ S("\n\n"), HDR_DONE, S(""), 1, S("\n") },
	{ S("Subject: a\nthis is body\nmore\n"), HDR_DONE, S("Subject= a"), 0,
	  S("this is body\nmore\n") },
	{ S("From foo@bar Mon\nSubject: x\n\n"), HDR_DONE, S(""), 0,
	  S("From foo@bar Mon\nSubject: x\n\n") },
	{ S(" x\nA: b\n"), HDR_DONE, S(""), 0, S(" x\nA: b\n") },
	{ S("Subject : a\n\n"), HDR_DONE, S("Subject= a"), 1, S("") },
	{ S("Subject \t: a\n\n"), HDR_DONE, S("Subject= a"), 1, S("") },
	{ S("Sub ject: a\n\n"), HDR_DONE, S(""), 0, S("Sub ject: a\n\n") },
	{ S("X:\n\n"), HDR_DONE, S("X="), 1, S("") },
	{ S("X: \xff\0z\n\nb\0"), HDR_DONE, S("X= \xff\0z"), 1, S("b\0") },
	{ S("X: a\rb\n\n"), HDR_DONE, S("X= a\rb"), 1, S("") },
	{ S("X: a\n\rb\n"), HDR_DONE, S("X= a"), 0, S("\rb\n") },
	{ S("X: a\nfoo\r\n"), HDR_DONE, S("X= a"), 0, S("foo\n") },
	{ S("X: a\nfoo"), HDR_DONE, S("X= a"), 0, S("foo") },
	{ S("X: a\nfoo\r"), HDR_DONE, S("X= a"), 0, S("foo\n") },
	{ S("X: a\nfoo\rb"), HDR_DONE, S("X= a"), 0, S("foo\rb") },
	{ S(":x\n\n"), HDR_DONE, S(""), 0, S(":x\n\n") },
	{ S("\xc3\xa4: x\n\n"), HDR_DONE, S(""), 0, S("\xc3\xa4: x\n\n") },
	{ S("A: 1\n \nB: 2\n\n"), HDR_DONE, S("A= 1\n |B= 2"), 1, S("") },
	{ S(".\nA: b\n"), HDR_DONE, S(""), 0, S(".\nA: b\n") },
	{ S("A: 1\r\n\r\n\r\nx"), HDR_DONE, S("A= 1"), 1, S("\r\nx") },
};

/* Renders fields as "name=value|..." for comparison. */
static void render(const struct hdr *h, struct str *out)
{
	size_t i;

	out->len = 0;
	for (i = 0; i < h->nfield; i++) {
		const struct hdr_field *f = &h->field[i];

		if (i)
			str_catc(out, '|');
		str_catb(out, h->text.s + f->pos, f->namelen);
		str_catc(out, '=');
		str_catb(out, h->text.s + f->value, f->valuelen);
	}
}

/* Every field must sit in the header part of text and end in LF. */
static int well_formed(const struct hdr *h)
{
	size_t i, end = 0;

	for (i = 0; i < h->nfield; i++) {
		const struct hdr_field *f = &h->field[i];

		if (f->pos != end || f->pos + f->len > h->len ||
		    h->text.s[f->pos + f->len - 1] != '\n' ||
		    f->value + f->valuelen + 1 != f->pos + f->len ||
		    h->text.s[f->value - 1] != ':')
			return 0;
		end = f->pos + f->len;
	}
	return end == h->len && h->len <= h->text.len;
}

static int same(const struct hcase *c, struct hdr *h, int r,
                const char *rest, size_t restlen)
{
	struct str got = STR_ZERO;
	int ok;

	if (r != c->result)
		return 0;
	if (r != HDR_DONE)
		return 1;
	render(h, &got);
	ok = str_eqb(&got, c->fields, c->flen) && h->blank == c->blank &&
	     well_formed(h);
	got.len = 0;
	str_catb(&got, h->text.s + h->len, h->text.len - h->len);
	str_catb(&got, rest, restlen);
	ok = ok && str_eqb(&got, c->body, c->blen);
	str_free(&got);
	return ok;
}

static int run_whole(const struct hcase *c)
{
	struct hdr h;
	size_t used;
	int r, ok;

	hdr_init(&h);
	r = hdr_parse(&h, c->in, c->inlen, &used);
	ok = same(c, &h, r, c->in + used, c->inlen - used);
	hdr_free(&h);
	return ok;
}

static int run_bytes(const struct hcase *c)
{
	struct hdr h;
	size_t i, used = 0;
	int r = HDR_MORE, ok;

	hdr_init(&h);
	for (i = 0; i < c->inlen && r == HDR_MORE; i++)
		r = hdr_feed(&h, c->in + i, 1, &used);
	if (r == HDR_MORE)
		r = hdr_end(&h);
	else if (r == HDR_DONE)
		i = i - 1 + used;
	ok = same(c, &h, r, c->in + i, c->inlen - i);
	hdr_free(&h);
	return ok;
}

static int run_read(const struct hcase *c, size_t bufsize)
{
	char path[] = "/tmp/hdr_testXXXXXX", buf[16], rest[256];
	struct hdr h;
	struct rd r;
	size_t restlen;
	ssize_t n;
	int fd, st, ok;

	fd = mkstemp(path);
	if (fd < 0)
		return 0;
	unlink(path);
	if (write(fd, c->in, c->inlen) != (ssize_t)c->inlen ||
	    lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		return 0;
	}
	rd_init(&r, fd, buf, bufsize, -1);
	hdr_init(&h);
	st = hdr_read(&h, &r);
	restlen = rd_avail(&r);
	memcpy(rest, r.buf + r.pos, restlen);
	while ((n = read(fd, rest + restlen, sizeof rest - restlen)) > 0)
		restlen += (size_t)n;
	ok = same(c, &h, st, rest, restlen);
	hdr_free(&h);
	close(fd);
	return ok;
}

static void test_fields(void)
{
	size_t i;

	for (i = 0; i < sizeof hcases / sizeof hcases[0]; i++) {
		const struct hcase *c = &hcases[i];

		if (!run_whole(c) || !run_bytes(c) || !run_read(c, 1) ||
		    !run_read(c, 7) || !run_read(c, 16)) {
			printf("# header case %zu\n", i);
			CHECK(0);
		}
	}
}

static void test_limits(void)
{
	struct hdr h;
	struct str big = STR_ZERO;
	size_t used, n;

	hdr_init(&h);
	h.max = 10;             /* "A: 12345\n" is 9 bytes */
	CHECK(hdr_parse(&h, S("A: 12345\n\nbody"), &used) == HDR_DONE);
	hdr_free(&h);
	hdr_init(&h);
	h.max = 10;
	CHECK(hdr_parse(&h, S("A: 123456\n\n"), &used) == HDR_DONE);
	hdr_free(&h);
	hdr_init(&h);
	h.max = 10;
	CHECK(hdr_parse(&h, S("A: 1234567\n\n"), &used) == HDR_TOOBIG);
	/* the error sticks */
	CHECK(hdr_feed(&h, S("\n"), &used) == HDR_TOOBIG);
	CHECK(hdr_end(&h) == HDR_TOOBIG);
	hdr_free(&h);

	hdr_init(&h);
	h.maxfields = 2;
	CHECK(hdr_parse(&h, S("A: 1\nB: 2\n\n"), &used) == HDR_DONE);
	hdr_free(&h);
	hdr_init(&h);
	h.maxfields = 2;
	CHECK(hdr_parse(&h, S("A: 1\nB: 2\nC: 3\n\n"), &used) == HDR_TOOMANY);
	CHECK(h.nfield == 2);   /* what was read stays usable */
	CHECK(hdr_find(&h, "b", 0) == 1);
	hdr_free(&h);

	/* the default limits: exactly HDR_MAX bytes pass, one more fails */
	str_cats(&big, "X: ");
	while (big.len < HDR_MAX - 1)
		str_catc(&big, 'x');
	str_cats(&big, "\n\n");
	hdr_init(&h);
	CHECK(hdr_parse(&h, big.s, big.len, &used) == HDR_DONE);
	CHECK(h.len == HDR_MAX && used == big.len);
	hdr_free(&h);
	big.len = 0;
	str_cats(&big, "X: ");
	while (big.len < HDR_MAX)
		str_catc(&big, 'x');
	str_cats(&big, "\n\n");
	hdr_init(&h);
	CHECK(hdr_parse(&h, big.s, big.len, &used) == HDR_TOOBIG);
	hdr_free(&h);

	big.len = 0;
	for (n = 0; n <= HDR_FIELDS_MAX; n++)
		str_cats(&big, "A: 1\n");
	hdr_init(&h);
	CHECK(hdr_parse(&h, big.s, big.len, &used) == HDR_TOOMANY);
	CHECK(h.nfield == HDR_FIELDS_MAX);
	hdr_free(&h);
	big.len -= 5;
	hdr_init(&h);
	CHECK(hdr_parse(&h, big.s, big.len, &used) == HDR_DONE);
	hdr_free(&h);

	/* a name may be HDR_NAME_MAX bytes; past that the line is body */
	big.len = 0;
	while (big.len < HDR_NAME_MAX)
		str_catc(&big, 'n');
	str_cats(&big, ": v\n\n");
	hdr_init(&h);
	CHECK(hdr_parse(&h, big.s, big.len, &used) == HDR_DONE);
	CHECK(h.nfield == 1 && h.field[0].namelen == HDR_NAME_MAX && h.blank);
	hdr_free(&h);
	big.len = 0;
	while (big.len < HDR_MAX + 10)
		str_catc(&big, 'n');
	hdr_init(&h);
	CHECK(hdr_parse(&h, big.s, big.len, &used) == HDR_DONE);
	CHECK(h.nfield == 0 && h.len == 0 && !h.blank);
	CHECK(h.text.len == HDR_NAME_MAX && used == HDR_NAME_MAX);
	hdr_free(&h);
	str_free(&big);
	CHECK(strcmp(hdr_error(HDR_TOOBIG), "header too large") == 0);
}

static void test_lookup(void)
{
	struct hdr h;
	struct str v = STR_ZERO;
	size_t used;

	hdr_init(&h);
	CHECK(hdr_parse(&h, S("To: a\nSUBJECT:  x\n\ty \nto: b\nTo2: c\n\n"),
	                &used) == HDR_DONE);
	CHECK(h.nfield == 4);
	CHECK(hdr_is(&h, 0, "to") && hdr_is(&h, 1, "Subject"));
	CHECK(!hdr_is(&h, 3, "to"));
	CHECK(hdr_find(&h, "TO", 0) == 0 && hdr_find(&h, "to", 1) == 2);
	CHECK(hdr_find(&h, "to", 3) == 4 && hdr_find(&h, "cc", 0) == 4);
	CHECK(hdr_unfold(&h, 1, &v) && str_eqb(&v, S("x\ty")));
	CHECK(hdr_unfold(&h, 0, &v) && str_eqb(&v, S("a")));
	hdr_free(&h);
	hdr_init(&h);
	CHECK(hdr_parse(&h, S("E:\n \n"), &used) == HDR_DONE);
	CHECK(hdr_unfold(&h, 0, &v) && v.len == 0);
	hdr_free(&h);
	str_free(&v);
}

struct acase {
	const char *in;
	size_t inlen;
	int result;
	const char *out;        /* addresses joined by '|' */
};

static const struct acase acases[] = {
	{ S("a@b.example"), HDR_ADDR_OK, "a@b.example" },
	{ S("Ann <a@b>"), HDR_ADDR_OK, "a@b" },
	{ S("<a@b>"), HDR_ADDR_OK, "a@b" },
	{ S("\"Ann, B.\" <a@b>"), HDR_ADDR_OK, "a@b" },
	{ S("a@b, c@d"), HDR_ADDR_OK, "a@b|c@d" },
	{ S("a@b (Ann), (x) c@d (y)"), HDR_ADDR_OK, "a@b|c@d" },
	{ S("(comment (nested) \\) ) a@b"), HDR_ADDR_OK, "a@b" },
	{ S("team: a@b, C <c@d>;, e@f"), HDR_ADDR_OK, "a@b|c@d|e@f" },
	{ S("team: a@b;"), HDR_ADDR_OK, "a@b" },
	{ S("\"the team\": a@b ;, x@y"), HDR_ADDR_OK, "a@b|x@y" },
	{ S("undisclosed-recipients:;"), HDR_ADDR_OK, "" },
	{ S("undisclosed-recipients:"), HDR_ADDR_OK, "" },
	{ S("list: a@b"), HDR_ADDR_OK, "a@b" },
	{ S("g: ,a@b,,;"), HDR_ADDR_OK, "a@b" },
	{ S("<@r1,@r2:a@b>"), HDR_ADDR_OK, "a@b" },
	{ S("Ann <@r1:a@b>"), HDR_ADDR_OK, "a@b" },
	{ S("\"a b\"@c"), HDR_ADDR_OK, "\"a b\"@c" },
	{ S("\"ab\"@c"), HDR_ADDR_OK, "ab@c" },
	{ S("\"a\".\"b\"@c"), HDR_ADDR_OK, "a.b@c" },
	{ S("\"a\\\"b\"@c"), HDR_ADDR_OK, "\"a\\\"b\"@c" },
	{ S("\"a\\\\b\"@c"), HDR_ADDR_OK, "\"a\\\\b\"@c" },
	{ S("\"a\r\n b\"@c"), HDR_ADDR_OK, "\"a b\"@c" },
	{ S("\".a\"@c"), HDR_ADDR_OK, "\".a\"@c" },
	{ S("joe"), HDR_ADDR_OK, "joe" },
	{ S("joe, Ann <ann>"), HDR_ADDR_OK, "joe|ann" },
	{ S("a@[1.2.3.4]"), HDR_ADDR_OK, "a@[1.2.3.4]" },
	{ S("a@[ IPv6:::1 ]"), HDR_ADDR_OK, "a@[IPv6:::1]" },
	{ S(",,a@b,,"), HDR_ADDR_OK, "a@b" },
	{ S("J. Smith <j@x>"), HDR_ADDR_OK, "j@x" },
	{ S("a@b <a@b>"), HDR_ADDR_OK, "a@b" },
	{ S("a . b @ c . d"), HDR_ADDR_OK, "a.b@c.d" },
	{ S("a@b,\n c@d,\r\n\te@f"), HDR_ADDR_OK, "a@b|c@d|e@f" },
	{ S("j\xc3\xb6rg@x.example"), HDR_ADDR_OK, "j\xc3\xb6rg@x.example" },
	{ S("\"J\xc3\xb6rg\" <j@x>"), HDR_ADDR_OK, "j@x" },
	{ S("!#$%&'*+-/=?^_`{}~@x"), HDR_ADDR_OK, "!#$%&'*+-/=?^_`{}~@x" },
	{ S(""), HDR_ADDR_OK, "" },
	{ S("  (only a comment) "), HDR_ADDR_OK, "" },
	{ S("a@b c@d"), HDR_ADDR_SYNTAX, 0 },
	{ S("Ann Lee"), HDR_ADDR_SYNTAX, 0 },
	{ S("<a@b"), HDR_ADDR_SYNTAX, 0 },
	{ S("a@b>"), HDR_ADDR_SYNTAX, 0 },
	{ S("Ann <a@b> x"), HDR_ADDR_SYNTAX, 0 },
	{ S("Ann <a@b>>"), HDR_ADDR_SYNTAX, 0 },
	{ S("<<a@b>>"), HDR_ADDR_SYNTAX, 0 },
	{ S("\"unterminated"), HDR_ADDR_SYNTAX, 0 },
	{ S("\"a\\"), HDR_ADDR_SYNTAX, 0 },
	{ S("(unclosed a@b"), HDR_ADDR_SYNTAX, 0 },
	{ S("a@b (x\\"), HDR_ADDR_SYNTAX, 0 },
	{ S("a@"), HDR_ADDR_SYNTAX, 0 },
	{ S("@b"), HDR_ADDR_SYNTAX, 0 },
	{ S("a@b.."), HDR_ADDR_SYNTAX, 0 },
	{ S("a@b.c."), HDR_ADDR_SYNTAX, 0 },
	{ S("a@.b"), HDR_ADDR_SYNTAX, 0 },
	{ S("a..b@c"), HDR_ADDR_SYNTAX, 0 },
	{ S(".a@c"), HDR_ADDR_SYNTAX, 0 },
	{ S("a.@c"), HDR_ADDR_SYNTAX, 0 },
	{ S("a@b@c"), HDR_ADDR_SYNTAX, 0 },
	{ S("<>"), HDR_ADDR_SYNTAX, 0 },
	{ S("Ann <>"), HDR_ADDR_SYNTAX, 0 },
	{ S("<@r1 a@b>"), HDR_ADDR_SYNTAX, 0 },
	{ S("g1: g2: a@b;;"), HDR_ADDR_SYNTAX, 0 },
	{ S("a@b;"), HDR_ADDR_SYNTAX, 0 },
	{ S(":;"), HDR_ADDR_SYNTAX, 0 },
	{ S("g: a@b; c@d"), HDR_ADDR_SYNTAX, 0 },
	{ S("a@[1.2[3]"), HDR_ADDR_SYNTAX, 0 },
	{ S("a@[1.2.3.4"), HDR_ADDR_SYNTAX, 0 },
	{ S("a@[1.2\\]"), HDR_ADDR_SYNTAX, 0 },
	{ S("a\0b@c"), HDR_ADDR_SYNTAX, 0 },
	{ S("\"a\\\0\"@b"), HDR_ADDR_SYNTAX, 0 },
	{ S("\"a\0\"@b"), HDR_ADDR_SYNTAX, 0 },
	{ S("\"a\tb\"@c"), HDR_ADDR_SYNTAX, 0 },
	{ S("a\x01@b"), HDR_ADDR_SYNTAX, 0 },
	{ S("a@b\x7f"), HDR_ADDR_SYNTAX, 0 },
	{ S("a@b)"), HDR_ADDR_SYNTAX, 0 },
	{ S("a\\b@c"), HDR_ADDR_SYNTAX, 0 },
	{ S("[a]@b"), HDR_ADDR_SYNTAX, 0 },
};

static void join(const char *p, size_t n, struct str *out)
{
	size_t i;

	out->len = 0;
	for (i = 0; i < n; i++)
		str_catc(out, p[i] ? p[i] : '|');
	if (out->len)
		out->len--;     /* the last NUL */
}

/* How many addresses "a|b|c" names. */
static size_t addrs(const char *s)
{
	size_t n = *s != 0;

	for (; *s; s++)
		n += *s == '|';
	return n;
}

static void test_addrlist(void)
{
	struct str out = STR_ZERO, j = STR_ZERO;
	size_t i, count;

	for (i = 0; i < sizeof acases / sizeof acases[0]; i++) {
		const struct acase *c = &acases[i];
		int r;

		out.len = 0;
		count = 0;
		r = hdr_addrlist(c->in, c->inlen, &out, &count);
		join(out.s, out.len, &j);
		if (r != c->result ||
		    (c->out && (!str_eqb(&j, c->out, strlen(c->out)) ||
		                count != addrs(c->out))) ||
		    (r != HDR_ADDR_OK && (out.len || count))) {
			printf("# address case %zu: %s got %d \"%.*s\"\n", i,
			       c->in, r, (int)j.len, j.s ? j.s : "");
			CHECK(0);
		}
	}
	str_free(&out);
	str_free(&j);
}

static void test_addr_count(void)
{
	struct str out = STR_ZERO;
	size_t count = 5;

	CHECK(str_cats(&out, "keep") && str_catc(&out, 0));
	CHECK(hdr_addrlist(S("a@b, g: c@d, e;"), &out, &count) == HDR_ADDR_OK);
	CHECK(count == 8);
	CHECK(out.len == 5 + 4 + 4 + 2);
	CHECK(memcmp(out.s, "keep\0a@b\0c@d\0e\0", out.len) == 0);
	/* a failure leaves out and count alone */
	CHECK(hdr_addrlist(S("x@y, bad bad"), &out, &count) == HDR_ADDR_SYNTAX);
	CHECK(count == 8 && out.len == 15);
	str_free(&out);
}

static void test_addr_long(void)
{
	struct str in = STR_ZERO, out = STR_ZERO;
	size_t count = 0;

	while (in.len < HDR_ADDR_MAX - 2)
		str_catc(&in, 'a');
	str_cats(&in, "@b");    /* exactly HDR_ADDR_MAX bytes */
	CHECK(hdr_addrlist(in.s, in.len, &out, &count) == HDR_ADDR_OK);
	CHECK(count == 1 && out.len == HDR_ADDR_MAX + 1);
	str_catc(&in, 'c');
	out.len = 0;
	CHECK(hdr_addrlist(in.s, in.len, &out, &count) == HDR_ADDR_LONG);
	CHECK(count == 1 && out.len == 0);
	CHECK(strcmp(hdr_addr_error(HDR_ADDR_LONG), "address too long") == 0);
	str_free(&in);
	str_free(&out);
}

int main(void)
{
	RUN(test_fields);
	RUN(test_limits);
	RUN(test_lookup);
	RUN(test_addrlist);
	RUN(test_addr_count);
	RUN(test_addr_long);
	return test_done();
}
