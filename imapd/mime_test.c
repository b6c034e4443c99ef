/* Tests for the MIME parser: BODYSTRUCTURE and ENVELOPE text for simple,
 * multipart, nested and broken messages, sections by part path, header
 * field selection, and every message cut at every byte. */
#include <stdlib.h>
#include <string.h>

#include "mime.h"
#include "str.h"
#include "test.h"

#define B(s) s, sizeof s - 1

static const char simple[] =
	"From: \"Ann B.\" <ann@a.example>\r\n"
	"To: bob@b.example, Team: c@c.example, <@relay:d@d.example>;\r\n"
	"Subject: hi \"there\"\r\n"
	"Date: Mon, 2 Mar 2026 10:00:00 +0000\r\n"
	"Message-ID: <1@a.example>\r\n"
	"\r\n"
	"body line\r\n";

static const char multi[] =
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
	"\r\n"
	"pre\r\n"
	"--b1\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"\r\n"
	"one\r\n"
	"--b1\r\n"
	"Content-Type: multipart/alternative; boundary=b2\r\n"
	"\r\n"
	"--b2\r\n"
	"\r\n"
	"two a\r\n"
	"--b2\r\n"
	"Content-Type: text/html\r\n"
	"\r\n"
	"<b>two b</b>\r\n"
	"--b2--\r\n"
	"--b1\r\n"
	"Content-Type: message/rfc822\r\n"
	"Content-Disposition: attachment; filename=m.eml\r\n"
	"\r\n"
	"Subject: inner\r\n"
	"\r\n"
	"inner body\r\n"
	"--b1--\r\n";

static int bs_is(const char *msg, size_t n, int ext, const char *want)
{
	struct mime m = MIME_ZERO;
	struct str o = STR_ZERO;
	int ok;

	ok = mime_parse(&m, msg, n) == 0 &&
	     mime_bodystructure(&m, 0, ext, &o) == 1 &&
	     str_eqb(&o, want, strlen(want));
	if (!ok && o.s) {
		str_0(&o);
		printf("  got %s\n", o.s);
	}
	mime_free(&m);
	str_free(&o);
	return ok;
}

static void test_bodystructure(void)
{
	CHECK(bs_is(B(simple), 1, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") "
	            "NIL NIL \"7BIT\" 11 1 NIL NIL NIL NIL)"));
	CHECK(bs_is(B(simple), 0, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") "
	            "NIL NIL \"7BIT\" 11 1)"));
	CHECK(bs_is(B(multi), 0,
	            "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7BIT\" 3 1)"
	            "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 5 1)"
	            "(\"text\" \"html\" NIL NIL NIL \"7BIT\" 12 1) \"alternative\")"
	            "(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 28 (NIL \"inner\" NIL "
	            "NIL NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" "
	            "\"us-ascii\") NIL NIL \"7BIT\" 10 1) 3) \"mixed\")"));
	/* no boundary: one text part; no parts: the same */
	CHECK(bs_is(B("Content-Type: multipart/mixed\r\n\r\nx\r\n"), 0,
	            "(\"multipart\" \"mixed\" NIL NIL NIL \"7BIT\" 3)"));
	CHECK(bs_is(B("Content-Type: multipart/mixed; boundary=z\r\n\r\nx\r\n"), 0,
	            "(\"multipart\" \"mixed\" (\"boundary\" \"z\") NIL NIL \"7BIT\" 3)"));
	/* a missing close delimiter ends the part at the end */
	CHECK(bs_is(B("Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n"
	              "\r\nx\r\n"), 0, "((\"text\" \"plain\" (\"charset\" "
	            "\"us-ascii\") NIL NIL \"7BIT\" 3 1) \"mixed\")"));
	CHECK(bs_is(B(""), 0, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL "
	            "NIL \"7BIT\" 0 0)"));
}

static void test_envelope(void)
{
	struct mime m = MIME_ZERO;
	struct str o = STR_ZERO;
	const char *want =
		"(\"Mon, 2 Mar 2026 10:00:00 +0000\" \"hi \\\"there\\\"\" "
		"((\"Ann B.\" NIL \"ann\" \"a.example\")) "
		"((\"Ann B.\" NIL \"ann\" \"a.example\")) "
		"((\"Ann B.\" NIL \"ann\" \"a.example\")) "
		"((NIL NIL \"bob\" \"b.example\")(NIL NIL \"Team\" NIL)"
		"(NIL NIL \"c\" \"c.example\")(NIL NIL \"d\" \"d.example\")"
		"(NIL NIL NIL NIL)) NIL NIL NIL \"<1@a.example>\")";

	CHECK(mime_parse(&m, B(simple)) == 0);
	CHECK(mime_envelope(simple, m.e[0].hdrlen, &o) == 1);
	if (!str_eqb(&o, want, strlen(want))) {
		str_0(&o);
		printf("  got %s\n", o.s);
		CHECK(0);
	}
	mime_free(&m);
	str_free(&o);
}

static int sec_is(const unsigned *path, size_t depth, int spec,
                  const char *want)
{
	struct mime m = MIME_ZERO;
	size_t off = 0, len = 0;
	int ok;

	ok = mime_parse(&m, B(multi)) == 0;
	if (!want)
		ok = ok && !mime_section(&m, path, depth, spec, &off, &len);
	else
		ok = ok && mime_section(&m, path, depth, spec, &off, &len) &&
		     len == strlen(want) && !memcmp(multi + off, want, len);
	mime_free(&m);
	return ok;
}

static void test_sections(void)
{
	static const unsigned p1[] = { 1 }, p21[] = { 2, 1 }, p22[] = { 2, 2 },
		p3[] = { 3 }, p31[] = { 3, 1 }, p4[] = { 4 }, p11[] = { 1, 1 };

	CHECK(sec_is(p1, 1, SEC_ALL, "one"));
	CHECK(sec_is(p1, 1, SEC_MIME,
	             "Content-Type: text/plain; charset=utf-8\r\n\r\n"));
	CHECK(sec_is(p21, 2, SEC_ALL, "two a"));
	CHECK(sec_is(p22, 2, SEC_ALL, "<b>two b</b>"));
	CHECK(sec_is(p3, 1, SEC_HEADER, "Subject: inner\r\n\r\n"));
	CHECK(sec_is(p3, 1, SEC_TEXT, "inner body"));
	CHECK(sec_is(p31, 2, SEC_ALL, "inner body"));
	CHECK(sec_is(p3, 1, SEC_ALL, "Subject: inner\r\n\r\ninner body"));
	CHECK(sec_is(p4, 1, SEC_ALL, 0));
	CHECK(sec_is(p11, 2, SEC_ALL, 0));
	CHECK(sec_is(p1, 1, SEC_HEADER, 0));
	CHECK(sec_is(p1, 0, SEC_MIME, 0));
}

static void test_fields(void)
{
	const char h[] = "A: 1\r\nB: 2\r\n 2b\r\na: 3\r\n\r\n";
	struct str o = STR_ZERO;

	CHECK(mime_fields(h, sizeof h - 1, "a\0", 1, 1, &o) &&
	      str_eqb(&o, B("A: 1\r\na: 3\r\n\r\n")));
	o.len = 0;
	CHECK(mime_fields(h, sizeof h - 1, "a\0", 1, 0, &o) &&
	      str_eqb(&o, B("B: 2\r\n 2b\r\n\r\n")));
	o.len = 0;
	CHECK(mime_header(h, sizeof h - 1, "b", &o) == 1 && str_eqb(&o, B("2 2b")));
	CHECK(mime_header(h, sizeof h - 1, "c", &o) == 0);
	str_free(&o);
}

/* Every prefix of each message parses and renders (ASan watches). */
static void test_truncated(void)
{
	const char *msgs[] = { simple, multi };
	size_t k, n;

	for (k = 0; k < 2; k++)
		for (n = 0; n <= strlen(msgs[k]); n++) {
			struct mime m = MIME_ZERO;
			struct str o = STR_ZERO;
			char *copy = malloc(n ? n : 1);

			memcpy(copy, msgs[k], n);
			CHECK(mime_parse(&m, copy, n) == 0);
			CHECK(mime_bodystructure(&m, 0, 1, &o) == 1);
			CHECK(mime_envelope(copy, m.e[0].hdrlen, &o) == 1);
			mime_free(&m);
			str_free(&o);
			free(copy);
		}
}

/* Nesting past MIME_DEPTH_MAX stops, it doesn't recurse forever. */
static void test_deep(void)
{
	struct str t = STR_ZERO, o = STR_ZERO;
	struct mime m = MIME_ZERO;
	int i;

	for (i = 0; i < 200; i++)
		str_cats(&t, "Content-Type: message/rfc822\r\n\r\n");
	str_cats(&t, "x");
	CHECK(mime_parse(&m, t.s, t.len) == 0);
	CHECK(m.ne <= MIME_DEPTH_MAX + 1);
	CHECK(mime_bodystructure(&m, 0, 1, &o) == 1);
	mime_free(&m);
	str_free(&t);
	str_free(&o);
}

int main(void)
{
	RUN(test_bodystructure);
	RUN(test_envelope);
	RUN(test_sections);
	RUN(test_fields);
	RUN(test_truncated);
	RUN(test_deep);
	return test_done();
}
