/* Unit tests for the SMTP reply parser (remote_reply.c): a table of
 * server output and the reply or error it gives, fed whole and byte by
 * byte. */
#include <string.h>

#include "remote_reply.h"
#include "test.h"

struct rcase {
	const char *in;
	int rc;                 /* REPLY_DONE or an error */
	int code;
	const char *text;
	size_t used;            /* bytes of in that made the reply */
};

static const struct rcase cases[] = {
	{ "250 ok\r\n", REPLY_DONE, 250, "250 ok", 8 },
	{ "250 ok\n", REPLY_DONE, 250, "250 ok", 7 },
	{ "220\r\n", REPLY_DONE, 220, "220", 5 },
	{ "250-a\r\n250-b\r\n250 c\r\nNEXT", REPLY_DONE, 250,
	  "250-a / 250-b / 250 c", 21 },
	{ "550 5.1.1 no\x01such\xff user\r\n", REPLY_DONE, 550,
	  "550 5.1.1 no?such? user", 25 },
	{ "250-a\r\n251 b\r\n", REPLY_ECODE, 0, 0, 0 },
	{ "25 ok\r\n", REPLY_ESYNTAX, 0, 0, 0 },
	{ "250xok\r\n", REPLY_ESYNTAX, 0, 0, 0 },
	{ "hello\r\n", REPLY_ESYNTAX, 0, 0, 0 },
	{ "150 ok\r\n", REPLY_ESYNTAX, 0, 0, 0 },
	{ "650 ok\r\n", REPLY_ESYNTAX, 0, 0, 0 },
	{ "\r\n", REPLY_ESYNTAX, 0, 0, 0 },
	{ "250-partial", REPLY_MORE, 0, 0, 0 },
};

static void check_case(const struct rcase *c, int bytewise)
{
	struct reply r = REPLY_ZERO;
	size_t n = strlen(c->in), used = 0, u, i;
	int rc = REPLY_MORE;

	if (!bytewise) {
		rc = reply_feed(&r, c->in, n, &used);
	} else {
		for (i = 0; i < n && rc == REPLY_MORE; i++) {
			rc = reply_feed(&r, c->in + i, 1, &u);
			used += u;
		}
	}
	CHECK(rc == c->rc);
	if (rc == REPLY_DONE) {
		CHECK(r.code == c->code);
		CHECK(r.text.len == strlen(c->text) &&
		      !memcmp(r.text.s, c->text, r.text.len));
		CHECK(used == c->used);
	}
	reply_free(&r);
}

static void test_table(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_case(&cases[i], 0);
}

static void test_table_bytewise(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_case(&cases[i], 1);
}

/* A line one byte under the limit is taken; one at it is refused. */
static void test_line_limit(void)
{
	static char buf[REPLY_LINE_MAX + 8];
	struct reply r = REPLY_ZERO;
	size_t used;

	memset(buf, 'x', sizeof buf);
	memcpy(buf, "250 ", 4);
	memcpy(buf + REPLY_LINE_MAX - 1, "\n", 1);
	CHECK(reply_feed(&r, buf, REPLY_LINE_MAX, &used) == REPLY_DONE);
	CHECK(r.text.len == REPLY_TEXT_MAX);
	reply_reset(&r);
	memset(buf, 'x', sizeof buf);
	memcpy(buf, "250 ", 4);
	CHECK(reply_feed(&r, buf, REPLY_LINE_MAX + 1, &used) == REPLY_ELONG);
	reply_free(&r);
}

/* An endless multi-line reply stops at REPLY_LINES_MAX lines. */
static void test_lines_limit(void)
{
	struct reply r = REPLY_ZERO;
	size_t used, i;
	int rc = REPLY_MORE;

	for (i = 0; i < REPLY_LINES_MAX && rc == REPLY_MORE; i++)
		rc = reply_feed(&r, "250-x\r\n", 7, &used);
	CHECK(rc == REPLY_MORE);
	CHECK(reply_feed(&r, "250-x\r\n", 7, &used) == REPLY_EMANY);
	reply_free(&r);
}

static void test_ehlo(void)
{
	static const char in[] = "250-mx.test hi\r\n250-PIPELINING\r\n"
		"250-SIZE 1000\r\n250-8BITMIME\r\n250-STARTTLS\r\n"
		"250-AUTH=LOGIN\r\n250 AUTH CRAM-MD5 PLAIN\r\n";
	struct reply r = REPLY_ZERO;
	struct ehlo e;
	size_t used;

	memset(&e, 0, sizeof e);
	r.ehlo = &e;
	CHECK(reply_feed(&r, in, sizeof in - 1, &used) == REPLY_DONE);
	CHECK(e.pipelining && e.size && e.size_max == 1000 && e.eightbit);
	CHECK(e.starttls && e.auth_plain && e.auth_login);
	reply_reset(&r);
	memset(&e, 0, sizeof e);
	CHECK(reply_feed(&r, "250-x\r\n250-PIPELININGX\r\n250 SIZE\r\n", 34,
	                 &used) == REPLY_DONE);
	CHECK(!e.pipelining && e.size && e.size_max == 0 && !e.starttls);
	reply_free(&r);
}

int main(void)
{
	RUN(test_table);
	RUN(test_table_bytewise);
	RUN(test_line_limit);
	RUN(test_lines_limit);
	RUN(test_ehlo);
	return test_done();
}
