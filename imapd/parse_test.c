/* Tests for the IMAP command parser and its helpers: commands whole and
 * as the tree they become, every way a command is BAD, literals, limits,
 * sequence sets, dates, mailbox names, FETCH items, SASL PLAIN. */
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "login.h"
#include "parse.h"
#include "str.h"
#include "test.h"

#define B(s) s, sizeof s - 1

/* The tree as text: atoms bare, quoted as "x", literals as {x}, lists
 * in parentheses; the tag and command first. */
static void render_args(const struct imap_cmd *c, const struct imap_arg *a,
                        struct str *o)
{
	int sp = 0;

	for (; a; a = imap_next(c, a)) {
		if (sp++)
			str_catc(o, ' ');
		if (a->type == IMAP_LIST) {
			str_catc(o, '(');
			render_args(c, imap_child(c, a), o);
			str_catc(o, ')');
		} else if (a->type == IMAP_QUOTED) {
			str_catc(o, '"');
			str_catb(o, a->s, a->len);
			str_catc(o, '"');
		} else if (a->type == IMAP_LITERAL) {
			str_catc(o, '{');
			str_catb(o, a->s, a->len);
			str_catc(o, '}');
		} else {
			str_catb(o, a->s, a->len);
		}
	}
}

static int parse_as(const char *in, size_t n, const char *want)
{
	struct imap_cmd c = IMAP_CMD_ZERO;
	struct str o = STR_ZERO;
	char *buf = malloc(n ? n : 1);
	int r, ok;

	memcpy(buf, in, n);
	r = imap_parse(&c, buf, n);
	if (r != IMAP_OK) {
		ok = want == 0;
	} else {
		str_catb(&o, c.tag, c.taglen);
		str_catc(&o, '|');
		if (c.uid)
			str_cats(&o, "UID ");
		str_catb(&o, c.name, c.namelen);
		str_catc(&o, '|');
		render_args(&c, imap_first(&c), &o);
		ok = want && str_eqb(&o, want, strlen(want));
		if (!ok && want) {
			str_0(&o);
			printf("  got %s\n", o.s);
		}
	}
	str_free(&o);
	imap_cmd_free(&c);
	free(buf);
	return ok;
}

static const struct {
	const char *in;
	size_t n;
	const char *want;       /* NULL: BAD */
} cmds[] = {
	{ B("a1 NOOP"), "a1|NOOP|" },
	{ B("a1 noop"), "a1|noop|" },
	{ B("x LOGIN alice \"pa ss\""), "x|LOGIN|alice \"pa ss\"" },
	{ B("x LOGIN \"a\\\"b\\\\c\" p"), "x|LOGIN|\"a\"b\\c\" p" },
	{ B("x LOGIN {5}\r\nalice {3+}\r\npwd"), "x|LOGIN|{alice} {pwd}" },
	{ B("x SELECT {0}\r\n"), "x|SELECT|{}" },
	{ B("x UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.10>)"),
	  "x|UID FETCH|1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.10>)" },
	{ B("x STORE 1 +FLAGS (\\Seen \\Deleted)"),
	  "x|STORE|1 +FLAGS (\\Seen \\Deleted)" },
	{ B("x LIST \"\" *"), "x|LIST|\"\" *" },
	{ B("x LIST \"\" %.x"), "x|LIST|\"\" %.x" },
	{ B("x SEARCH OR (FROM a) NOT (TO b)"), "x|SEARCH|OR (FROM a) NOT (TO b)" },
	{ B("x APPEND INBOX () \" 1-Jan-2020 00:00:00 +0000\" {1}\r\nz"),
	  "x|APPEND|INBOX () \" 1-Jan-2020 00:00:00 +0000\" {z}" },
	{ B("x X ((()))"), "x|X|((()))" },
	{ B("x X \\*"), "x|X|\\*" },
	{ B("x.y] NOOP"), "x.y]|NOOP|" },
	/* BAD */
	{ B(""), 0 },
	{ B("NOOP"), 0 },
	{ B(" a NOOP"), 0 },
	{ B("a  NOOP"), 0 },
	{ B("a NOOP "), 0 },
	{ B("a+ NOOP"), 0 },
	{ B("a* NOOP"), 0 },
	{ B("a{ NOOP"), 0 },
	{ B("a \"NOOP\""), 0 },
	{ B("a UID"), 0 },
	{ B("a UID "), 0 },
	{ B("a X (a"), 0 },
	{ B("a X a)"), 0 },
	{ B("a X (a  b)"), 0 },
	{ B("a X ( a)"), 0 },
	{ B("a X \"abc"), 0 },
	{ B("a X \"a\\bc\""), 0 },
	{ B("a X \"a\rb\""), 0 },
	{ B("a X {3}\r\nab"), 0 },
	{ B("a X {3}ab"), 0 },
	{ B("a X {}\r\n"), 0 },
	{ B("a X {99999999999999999999}\r\n"), 0 },
	{ B("a X {1}\r\n\0"), 0 },
	{ B("a X BODY[HEADER"), 0 },
	{ B("a X BODY[\r]"), 0 },
	{ B("a X \\"), 0 },
	{ B("a X \\("), 0 },
	{ B("a X ~{1}\r\nx"), 0 },
	{ B("a X a\"b"), 0 },
	{ B("a X \x80"), 0 },
};

static void test_parse_table(void)
{
	size_t i;

	for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		int ok = parse_as(cmds[i].in, cmds[i].n, cmds[i].want);

		if (!ok)
			printf("  case %zu: %s\n", i, cmds[i].in);
		CHECK(ok);
	}
}

static void test_parse_depth(void)
{
	char buf[200];
	struct imap_cmd c = IMAP_CMD_ZERO;
	size_t d, n;

	for (d = 30; d <= 34; d++) {
		memcpy(buf, "a X ", 4);
		n = 4;
		memset(buf + n, '(', d);
		n += d;
		memset(buf + n, ')', d);
		n += d;
		CHECK((imap_parse(&c, buf, n) == IMAP_OK) == (d <= IMAP_DEPTH_MAX));
	}
	imap_cmd_free(&c);
}

static void test_parse_args_max(void)
{
	size_t n = 4 + 2 * (IMAP_ARGS_MAX + 1), i;
	char *buf = malloc(n);
	struct imap_cmd c = IMAP_CMD_ZERO;

	memcpy(buf, "a X ", 4);
	for (i = 4; i < n; i += 2) {
		buf[i] = 'x';
		buf[i + 1] = ' ';
	}
	CHECK(imap_parse(&c, buf, n - 1) == IMAP_BAD);
	CHECK(imap_parse(&c, buf, n - 3) == IMAP_OK);
	CHECK(c.narg == IMAP_ARGS_MAX);
	imap_cmd_free(&c);
	free(buf);
}

static void test_literal_end(void)
{
	unsigned long long n = 0;
	int sync = -1;

	CHECK(imap_literal_end(B("a LOGIN {5}"), &n, &sync) == 1 && n == 5 &&
	      sync == 1);
	CHECK(imap_literal_end(B("a LOGIN {12+}"), &n, &sync) == 1 && n == 12 &&
	      sync == 0);
	CHECK(imap_literal_end(B("a LOGIN {0}"), &n, &sync) == 1 && n == 0);
	CHECK(imap_literal_end(B("a LOGIN x"), &n, &sync) == 0);
	CHECK(imap_literal_end(B("a LOGIN {}"), &n, &sync) == 0);
	CHECK(imap_literal_end(B("a LOGIN {+}"), &n, &sync) == 0);
	CHECK(imap_literal_end(B("5}"), &n, &sync) == 0);
	CHECK(imap_literal_end(B("}"), &n, &sync) == 0);
	CHECK(imap_literal_end(B("{99999999999999999999}"), &n, &sync) == -1);
}

static void test_seq(void)
{
	struct imap_seq q = { 0, 0, 0 };

	CHECK(imap_seq_parse(&q, B("1:4,7,9:*")) == 1 && q.n == 3);
	imap_seq_resolve(&q, 20);
	CHECK(imap_seq_has(&q, 1) && imap_seq_has(&q, 4) && !imap_seq_has(&q, 5));
	CHECK(imap_seq_has(&q, 7) && imap_seq_has(&q, 20) && !imap_seq_has(&q, 8));
	CHECK(imap_seq_parse(&q, B("*:3")) == 1);
	imap_seq_resolve(&q, 10);
	CHECK(q.r[0].lo == 3 && q.r[0].hi == 10);
	CHECK(imap_seq_parse(&q, B("4294967295")) == 0);
	CHECK(imap_seq_parse(&q, B("4294967294")) == 1);
	CHECK(imap_seq_parse(&q, B("0")) == 0);
	CHECK(imap_seq_parse(&q, B("01")) == 0);
	CHECK(imap_seq_parse(&q, B("1,")) == 0);
	CHECK(imap_seq_parse(&q, B(",1")) == 0);
	CHECK(imap_seq_parse(&q, B("1:2:3")) == 0);
	CHECK(imap_seq_parse(&q, B("1::2")) == 0);
	CHECK(imap_seq_parse(&q, B("")) == 0);
	CHECK(imap_seq_parse(&q, B("$")) == 0);
	imap_seq_free(&q);
}

static void test_seq_max(void)
{
	struct imap_seq q = { 0, 0, 0 };
	struct str s = STR_ZERO;
	size_t i;

	for (i = 0; i < IMAP_SEQ_MAX; i++)
		str_cats(&s, i ? ",1" : "1");
	CHECK(imap_seq_parse(&q, s.s, s.len) == 1);
	str_cats(&s, ",1");
	CHECK(imap_seq_parse(&q, s.s, s.len) == 0);
	imap_seq_free(&q);
	str_free(&s);
}

static void test_dates(void)
{
	char b[IMAP_DATETIME];
	time_t t = 0;
	long d = 0;

	CHECK(imap_date_parse(B("1-Jan-1970"), &d) && d == 0);
	CHECK(imap_date_parse(B("02-feb-1970"), &d) && d == 32);
	CHECK(imap_date_parse(B("29-Feb-2024"), &d));
	CHECK(!imap_date_parse(B("29-Feb-2023"), &d));
	CHECK(!imap_date_parse(B("32-Jan-2020"), &d));
	CHECK(!imap_date_parse(B("1-Foo-2020"), &d));
	CHECK(!imap_date_parse(B("1-Jan-20"), &d));
	CHECK(!imap_date_parse(B("1-Jan-2020x"), &d));
	CHECK(imap_datetime_parse(B("14-Nov-2023 22:13:20 +0000"), &t) &&
	      t == 1700000000);
	CHECK(imap_datetime_parse(B(" 5-Nov-2023 22:13:20 +0100"), &t) &&
	      t == 1700000000 - 9 * 86400 - 3600);
	CHECK(imap_datetime_parse(B("14-Nov-2023 23:13:20 +0100"), &t) &&
	      t == 1700000000);
	CHECK(!imap_datetime_parse(B("14-Nov-2023 24:00:00 +0000"), &t));
	CHECK(!imap_datetime_parse(B("14-Nov-2023 22:13:20"), &t));
	CHECK(!imap_datetime_parse(B("14-Nov-2023 22:13:20 0000"), &t));
	CHECK(imap_datetime_fmt(b, 1700000000) == 26 &&
	      !memcmp(b, "14-Nov-2023 22:13:20 +0000", 26));
}

static void test_mailbox_names(void)
{
	CHECK(imap_mailbox_ok(B("Sent")));
	CHECK(imap_mailbox_ok(B("a.b.c")));
	CHECK(imap_mailbox_ok(B("&AOQ-bc")));
	CHECK(!imap_mailbox_ok(B("")));
	CHECK(!imap_mailbox_ok(B(".a")));
	CHECK(!imap_mailbox_ok(B("a.")));
	CHECK(!imap_mailbox_ok(B("a..b")));
	CHECK(!imap_mailbox_ok(B("a/b")));
	CHECK(!imap_mailbox_ok(B("a*")));
	CHECK(!imap_mailbox_ok(B("a%")));
	CHECK(!imap_mailbox_ok(B("a\nb")));
}

static int fetch_as(const char *in, int ok, size_t items)
{
	struct imap_cmd c = IMAP_CMD_ZERO;
	static struct fetch f;
	char buf[512];
	size_t n = strlen(in);
	int r;

	memcpy(buf, "a FETCH 1 ", 10);
	memcpy(buf + 10, in, n);
	if (imap_parse(&c, buf, n + 10) != IMAP_OK) {
		imap_cmd_free(&c);
		return !ok;
	}
	r = fetch_parse(&f, &c, imap_next(&c, imap_first(&c)));
	r = ok ? r == 1 && f.n == items : r == 0;
	fetch_free(&f);
	imap_cmd_free(&c);
	return r;
}

static void test_fetch_items(void)
{
	static struct fetch f;
	struct imap_cmd c = IMAP_CMD_ZERO;
	char buf[] = "a FETCH 1 BODY.PEEK[1.2.HEADER.FIELDS.NOT (A \"B c\")]<7.9>";

	CHECK(fetch_as("FLAGS", 1, 1));
	CHECK(fetch_as("ALL", 1, 4));
	CHECK(fetch_as("FAST", 1, 3));
	CHECK(fetch_as("FULL", 1, 5));
	CHECK(fetch_as("(UID FLAGS UID)", 1, 2));
	CHECK(fetch_as("BODY[]", 1, 1));
	CHECK(fetch_as("(BODY[TEXT] BODY[1.MIME] RFC822 RFC822.TEXT)", 1, 4));
	CHECK(fetch_as("BODY[HEADER.FIELDS (From)]", 1, 1));
	CHECK(fetch_as("BODY[]<0.1>", 1, 1));
	CHECK(fetch_as("BODY[MIME]", 0, 0));
	CHECK(fetch_as("BODY[0]", 0, 0));
	CHECK(fetch_as("BODY[1.]", 0, 0));
	CHECK(fetch_as("BODY[HEADER.FIELDS ()]", 0, 0));
	CHECK(fetch_as("BODY[HEADER.FIELDS]", 0, 0));
	CHECK(fetch_as("BODY[HEADER.FIELDS (a  b)]", 0, 0));
	CHECK(fetch_as("BODY[TEXT]<0.0>", 0, 0));
	CHECK(fetch_as("BODY[TEXT]<1>", 0, 0));
	CHECK(fetch_as("BODY[TEXT]x", 0, 0));
	CHECK(fetch_as("BINARY[]", 0, 0));
	CHECK(fetch_as("()", 0, 0));
	CHECK(fetch_as("(FLAGS (UID))", 0, 0));
	CHECK(fetch_as("\"FLAGS\"", 0, 0));
	CHECK(fetch_as("MODSEQ", 1, 1));
	CHECK(fetch_as("modseq", 1, 1));
	CHECK(fetch_as("(MODSEQ)", 1, 1));
	CHECK(fetch_as("(FLAGS MODSEQ UID MODSEQ)", 1, 3));
	CHECK(fetch_as("(MODSEQ BODY[])", 1, 2));
	CHECK(fetch_as("MODSEQ.X", 0, 0));
	CHECK(fetch_as("MODSEQ[]", 0, 0));
	CHECK(fetch_as("\"MODSEQ\"", 0, 0));
	CHECK(fetch_as("(MODSEQ (UID))", 0, 0));
	CHECK(imap_parse(&c, buf, sizeof buf - 1) == IMAP_OK);
	CHECK(fetch_parse(&f, &c, imap_next(&c, imap_first(&c))) == 1);
	CHECK(f.n == 1 && f.it[0].peek && f.it[0].depth == 2 &&
	      f.it[0].path[0] == 1 && f.it[0].path[1] == 2 &&
	      f.it[0].spec == SEC_FIELDS_NOT && f.it[0].nnames == 2 &&
	      !memcmp(f.it[0].names.s, "A\0B c\0", 6) && f.it[0].partial &&
	      f.it[0].pstart == 7 && f.it[0].plen == 9 && f.need_mime &&
	      !f.sets_seen);
	fetch_free(&f);
	imap_cmd_free(&c);
}

/* MODSEQ is an item of its own that needs no message text. */
static void test_fetch_modseq(void)
{
	static struct fetch f;
	struct imap_cmd c = IMAP_CMD_ZERO;
	char buf[] = "a FETCH 1 (UID MODSEQ)";

	CHECK(imap_parse(&c, buf, sizeof buf - 1) == IMAP_OK);
	CHECK(fetch_parse(&f, &c, imap_next(&c, imap_first(&c))) == 1);
	CHECK(f.n == 2 && f.it[0].kind == FI_UID &&
	      f.it[1].kind == FI_MODSEQ && !f.need_text && !f.need_mime &&
	      !f.sets_seen);
	fetch_free(&f);
	imap_cmd_free(&c);
}

static void test_sasl_plain(void)
{
	const char *u, *p;
	size_t un, pn;

	CHECK(login_sasl_plain(B("\0alice\0pw"), &u, &un, &p, &pn) &&
	      un == 5 && !memcmp(u, "alice", 5) && pn == 2 && !memcmp(p, "pw", 2));
	CHECK(login_sasl_plain(B("alice\0alice\0pw"), &u, &un, &p, &pn));
	CHECK(!login_sasl_plain(B("bob\0alice\0pw"), &u, &un, &p, &pn));
	CHECK(!login_sasl_plain(B("\0alice\0"), &u, &un, &p, &pn));
	CHECK(!login_sasl_plain(B("\0\0pw"), &u, &un, &p, &pn));
	CHECK(!login_sasl_plain(B("\0alice"), &u, &un, &p, &pn));
	CHECK(!login_sasl_plain(B("\0alice\0p\0w"), &u, &un, &p, &pn));
	CHECK(!login_sasl_plain(B(""), &u, &un, &p, &pn));
}

static void test_hex(void)
{
	struct str a = STR_ZERO, b = STR_ZERO;

	CHECK(login_hex_encode(&a, B("a\0\xff\r\n")) && str_eqb(&a, B("6100ff0d0a")));
	CHECK(login_hex_decode(&b, a.s, a.len) && str_eqb(&b, B("a\0\xff\r\n")));
	CHECK(!login_hex_decode(&b, B("6")));
	CHECK(!login_hex_decode(&b, B("6g")));
	CHECK(!login_hex_decode(&b, B("6A")));
	str_free(&a);
	str_free(&b);
}

int main(void)
{
	RUN(test_parse_table);
	RUN(test_parse_depth);
	RUN(test_parse_args_max);
	RUN(test_literal_end);
	RUN(test_seq);
	RUN(test_seq_max);
	RUN(test_dates);
	RUN(test_mailbox_names);
	RUN(test_fetch_items);
	RUN(test_fetch_modseq);
	RUN(test_sasl_plain);
	RUN(test_hex);
	return test_done();
}
