/* Tests for SEARCH's text decoding: charsets, encoded words, transfer
 * encodings, folding, whole messages, and hostile input cut at every
 * byte. */
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "mime.h"
#include "str.h"
#include "test.h"

#define B(s) s, sizeof s - 1

static int same(const struct str *s, const char *want)
{
	return s->len == strlen(want) && !memcmp(s->s, want, s->len);
}

static void test_charsets(void)
{
	static const struct {
		const char *name;
		int cs;
	} t[] = {
		{ "UTF-8", CS_UTF8 }, { "us-ascii", CS_UTF8 },
		{ "ISO-8859-1", CS_LATIN1 }, { "iso-8859-1*en", CS_LATIN1 },
		{ "Latin1", CS_LATIN1 }, { "ISO-8859-15", CS_LATIN9 },
		{ "windows-1252", CS_CP1252 }, { "KOI8-R", CS_OTHER },
		{ "", CS_OTHER }, { "utf-88", CS_OTHER },
	};
	size_t k;

	for (k = 0; k < sizeof t / sizeof t[0]; k++)
		CHECK(decode_charset(t[k].name, strlen(t[k].name)) == t[k].cs);
}

static void test_utf8(void)
{
	static const struct {
		const char *in;
		int cs;
		const char *want;
	} t[] = {
		{ "caf\xe9", CS_LATIN1, "caf\xc3\xa9" },
		{ "\xa4", CS_LATIN1, "\xc2\xa4" },
		{ "\xa4", CS_LATIN9, "\xe2\x82\xac" },
		{ "\x80 \x93q\x94", CS_CP1252, "\xe2\x82\xac \xe2\x80\x9cq\xe2\x80\x9d" },
		{ "\x81", CS_CP1252, "\xc2\x81" },
		{ "caf\xc3\xa9", CS_UTF8, "caf\xc3\xa9" },
		{ "\xff\xfe", CS_OTHER, "\xff\xfe" },
	};
	struct str o = STR_ZERO;
	size_t k;

	for (k = 0; k < sizeof t / sizeof t[0]; k++) {
		o.len = 0;
		CHECK(decode_utf8(&o, t[k].in, strlen(t[k].in), t[k].cs));
		CHECK(same(&o, t[k].want));
	}
	str_free(&o);
}

static void test_header(void)
{
	static const struct {
		const char *in, *want;
	} t[] = {
		{ "plain text", "plain text" },
		{ "=?UTF-8?B?w6lsw6h2ZQ==?=", "\xc3\xa9l\xc3\xa8ve" },
		{ "=?iso-8859-1?q?caf=E9_cr=E8me?=", "caf\xc3\xa9 cr\xc3\xa8me" },
		/* white space between encoded words goes, around them stays */
		{ "a =?utf-8?q?x?= =?utf-8?q?y?= b", "a xy b" },
		{ "=?utf-8?q?x?=\r\n =?utf-8?q?y?=", "xy" },
		/* folding */
		{ "long\r\n subject", "long subject" },
		{ "long\n\tsubject", "long\tsubject" },
		/* malformed words stay as written */
		{ "=?utf-8?x?abc?=", "=?utf-8?x?abc?=" },
		{ "=?utf-8?q?no end", "=?utf-8?q?no end" },
		{ "=??q?abc?=", "=??q?abc?=" },
		{ "=?utf-8?q?a b?=", "=?utf-8?q?a b?=" },
		{ "=?utf-8?b?!!!?=", "" },
		{ "=?", "=?" },
		{ "=", "=" },
		{ "=?utf-8*fr?Q?=C3=A0?=", "\xc3\xa0" },
		{ "raw \xc3\xa9t\xc3\xa9", "raw \xc3\xa9t\xc3\xa9" },
	};
	struct str o = STR_ZERO;
	size_t k;

	for (k = 0; k < sizeof t / sizeof t[0]; k++) {
		o.len = 0;
		CHECK(decode_header(&o, t[k].in, strlen(t[k].in)));
		CHECK(same(&o, t[k].want));
		if (!same(&o, t[k].want))
			printf("  header %zu: got [%.*s]\n", k, (int)o.len, o.s);
	}
	str_free(&o);
}

static void test_body(void)
{
	static const struct {
		const char *hdr, *body, *want;
	} t[] = {
		{ "", "plain\r\n", "plain\r\n" },
		{ "Content-Transfer-Encoding: quoted-printable\r\n"
		  "Content-Type: text/plain; charset=\"iso-8859-1\"\r\n",
		  "caf=E9 soft=\r\nbreak pad= \r\nx =ZZ=4", "caf\xc3\xa9 softbreak padx =ZZ=4" },
		{ "Content-Transfer-Encoding: BASE64\r\n"
		  "Content-Type: text/plain; charset=utf-8\r\n",
		  "aGVs\r\nbG8g\r\nd29y bGQ=\r\n", "hello world" },
		{ "Content-Transfer-Encoding: base64\r\n", "!!!!", "" },
		{ "Content-Type: text/plain; format=flowed; charset=windows-1252\r\n",
		  "\x93q\x94", "\xe2\x80\x9cq\xe2\x80\x9d" },
		{ "Content-Transfer-Encoding: 8bit\r\n", "\xc3\xa9", "\xc3\xa9" },
	};
	struct str o = STR_ZERO;
	size_t k;

	for (k = 0; k < sizeof t / sizeof t[0]; k++) {
		o.len = 0;
		CHECK(decode_body(&o, t[k].hdr, strlen(t[k].hdr), t[k].body,
		                  strlen(t[k].body)));
		CHECK(same(&o, t[k].want));
		if (!same(&o, t[k].want))
			printf("  body %zu: got [%.*s]\n", k, (int)o.len, o.s);
	}
	str_free(&o);
}

static void test_fold(void)
{
	static const struct {
		const char *in, *want;
	} t[] = {
		{ "ABC xyz 123", "abc xyz 123" },
		{ "\xc3\x89T\xc3\x89", "\xc3\xa9t\xc3\xa9" },           /* ÉTÉ */
		{ "\xc3\x97\xc3\x9f", "\xc3\x97\xc3\x9f" },             /* × ß */
		{ "\xc5\x81\xc3\xb3" "d\xc5\xba", "\xc5\x82\xc3\xb3" "d\xc5\xba" },
		{ "\xc4\x8c", "\xc4\x8d" },                             /* Č */
		{ "\xc3", "\xc3" },                                     /* cut */
		{ "\xe2\x82\xac", "\xe2\x82\xac" },
	};
	struct str o = STR_ZERO;
	size_t k;

	for (k = 0; k < sizeof t / sizeof t[0]; k++) {
		o.len = 0;
		CHECK(decode_fold(&o, t[k].in, strlen(t[k].in)));
		CHECK(same(&o, t[k].want));
	}
	str_free(&o);
}

static const char message[] =
	"Subject: =?iso-8859-1?q?R=E9union?=\r\n"
	"Content-Type: multipart/mixed; boundary=b\r\n"
	"\r\n"
	"--b\r\n"
	"Content-Type: text/plain; charset=iso-8859-1\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"Ordre du JOUR: caf=E9\r\n"
	"--b\r\n"
	"Content-Type: application/octet-stream\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"c2VjcmV0\r\n"
	"--b\r\n"
	"Content-Type: message/rfc822\r\n"
	"\r\n"
	"Subject: =?utf-8?b?SW5uZXI=?=\r\n"
	"\r\n"
	"inner BODY\r\n"
	"--b--\r\n";

static int has(const struct str *s, const char *needle)
{
	return memmem(s->s, s->len, needle, strlen(needle)) != 0;
}

static void test_message(void)
{
	struct mime m = MIME_ZERO;
	struct str o = STR_ZERO;

	CHECK(mime_parse(&m, B(message)) == 0);
	CHECK(decode_message(&o, &m, 1));
	CHECK(has(&o, "r\xc3\xa9union"));
	CHECK(has(&o, "ordre du jour: caf\xc3\xa9"));
	CHECK(has(&o, "inner body"));
	CHECK(has(&o, "subject: inner"));
	CHECK(!has(&o, "secret"));      /* not a text part */
	o.len = 0;
	CHECK(decode_message(&o, &m, 0));
	CHECK(!has(&o, "r\xc3\xa9union"));
	CHECK(has(&o, "caf\xc3\xa9"));
	mime_free(&m);
	str_free(&o);
}

/* Every prefix of hostile input decodes without a crash (the sanitizer
 * build checks the bounds). */
static void test_cut(void)
{
	static const char *const in[] = {
		"=?utf-8?q?=E9=?= =?utf-8?b?w6k=?=\r\n =?x?q?_?=",
		"=?iso-8859-1?Q?=?=",
		message,
	};
	struct mime m = MIME_ZERO;
	struct str o = STR_ZERO;
	size_t k, n;

	for (k = 0; k < sizeof in / sizeof in[0]; k++)
		for (n = 0; n <= strlen(in[k]); n++) {
			char *p = malloc(n ? n : 1);

			CHECK(p != 0);
			memcpy(p, in[k], n);
			o.len = 0;
			CHECK(decode_header(&o, p, n));
			CHECK(decode_body(&o, p, n, p, n));
			CHECK(mime_parse(&m, p, n) == 0);
			CHECK(decode_message(&o, &m, 1));
			mime_free(&m);
			memset(&m, 0, sizeof m);
			free(p);
		}
	str_free(&o);
}

int main(void)
{
	RUN(test_charsets);
	RUN(test_utf8);
	RUN(test_header);
	RUN(test_body);
	RUN(test_fold);
	RUN(test_message);
	RUN(test_cut);
	return test_done();
}
