/* Tests for the SMTP command-line parser: line endings and bad bytes,
 * every verb in any case (AUTH too, whose argument smtpd/auth.c takes
 * apart), MAIL and RCPT arguments and parameters, and each line cut
 * short. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "cmd.h"
#include "test.h"

#define B(s) s, sizeof s - 1    /* a literal with its length, NULs kept */

static const struct {
	const char *in;
	size_t n;
	int code;
	size_t len;             /* on CMD_OK */
} lines[] = {
	{ B("NOOP\r\n"), CMD_OK, 4 },
	{ B("NOOP\n"), CMD_OK, 4 },             /* bare LF ends a command */
	{ B("\r\n"), CMD_OK, 0 },
	{ B("\n"), CMD_OK, 0 },
	{ B("NOOP"), CMD_E_NOLF, 0 },
	{ B("NOOP\r"), CMD_E_NOLF, 0 },
	{ B(""), CMD_E_NOLF, 0 },
	{ B("NO\0OP\r\n"), CMD_E_BYTES, 0 },
	{ B("\0\r\n"), CMD_E_BYTES, 0 },
	{ B("NOOP\r\r\n"), CMD_E_BYTES, 0 },
	{ B("NO\rOP\r\n"), CMD_E_BYTES, 0 },
	{ B("\r\n\n"), CMD_E_BYTES, 0 },        /* the caller splits at LF */
	{ B("MAIL FROM:<\xff\xfe@x>\r\n"), CMD_OK, 16 },
};

static void test_line(void)
{
	size_t i, len;

	for (i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		len = 999;
		CHECK(cmd_line(lines[i].in, lines[i].n, &len) == lines[i].code);
		if (lines[i].code == CMD_OK)
			CHECK(len == lines[i].len);
	}
}

static const struct {
	const char *in;
	int verb;
	int code;
	const char *arg;
} verbs[] = {
	{ "HELO a.example", CMD_HELO, CMD_OK, "a.example" },
	{ "helo a.example", CMD_HELO, CMD_OK, "a.example" },
	{ "EHLO a.example", CMD_EHLO, CMD_OK, "a.example" },
	{ "eHlO  a.example  ", CMD_EHLO, CMD_OK, "a.example" },
	{ "EHLO\ta.example\t", CMD_EHLO, CMD_OK, "a.example" },
	{ "EHLO", CMD_EHLO, CMD_OK, "" },
	{ "EHLO   ", CMD_EHLO, CMD_OK, "" },
	{ "MAIL FROM:<a@b>", CMD_MAIL, CMD_OK, "FROM:<a@b>" },
	{ "mail from:<>", CMD_MAIL, CMD_OK, "from:<>" },
	{ "RCPT TO:<a@b> X=1", CMD_RCPT, CMD_OK, "TO:<a@b> X=1" },
	{ "rcpt TO:<a@b>", CMD_RCPT, CMD_OK, "TO:<a@b>" },
	{ "DATA", CMD_DATA, CMD_OK, "" },
	{ "data", CMD_DATA, CMD_OK, "" },
	{ "DATA ", CMD_DATA, CMD_OK, "" },
	{ "DATA x", CMD_DATA, CMD_E_ARGS, "x" },
	{ "RSET", CMD_RSET, CMD_OK, "" },
	{ "rset now", CMD_RSET, CMD_E_ARGS, "now" },
	{ "NOOP", CMD_NOOP, CMD_OK, "" },
	{ "noop anything at all", CMD_NOOP, CMD_OK, "anything at all" },
	{ "VRFY postmaster", CMD_VRFY, CMD_OK, "postmaster" },
	{ "vrfy", CMD_VRFY, CMD_OK, "" },
	{ "HELP", CMD_HELP, CMD_OK, "" },
	{ "help DATA", CMD_HELP, CMD_OK, "DATA" },
	{ "QUIT", CMD_QUIT, CMD_OK, "" },
	{ "Quit", CMD_QUIT, CMD_OK, "" },
	{ "QUIT now", CMD_QUIT, CMD_E_ARGS, "now" },
	{ "", CMD_UNKNOWN, CMD_OK, "" },
	{ " NOOP", CMD_UNKNOWN, CMD_OK, "NOOP" },
	{ "XYZZY", CMD_UNKNOWN, CMD_OK, "" },
	{ "MAILFROM:<a@b>", CMD_UNKNOWN, CMD_OK, "" },
	{ "NOOPS", CMD_UNKNOWN, CMD_OK, "" },
	{ "NOO", CMD_UNKNOWN, CMD_OK, "" },
	{ "EXPN list", CMD_UNKNOWN, CMD_OK, "list" },
	{ "STARTTLS", CMD_STARTTLS, CMD_OK, "" },
	{ "starttls", CMD_STARTTLS, CMD_OK, "" },
	{ "STARTTLS now", CMD_STARTTLS, CMD_E_ARGS, "now" },
	{ "STARTTL", CMD_UNKNOWN, CMD_OK, "" },
	{ "STARTTLSX", CMD_UNKNOWN, CMD_OK, "" },
	{ "AUTH PLAIN", CMD_AUTH, CMD_OK, "PLAIN" },
	{ "auth login", CMD_AUTH, CMD_OK, "login" },
	{ "Auth PLAIN AGFsaWNlAHNlY3JldA==", CMD_AUTH, CMD_OK,
	  "PLAIN AGFsaWNlAHNlY3JldA==" },
	{ "AUTH  PLAIN \t=\t ", CMD_AUTH, CMD_OK, "PLAIN \t=" },
	{ "AUTH", CMD_AUTH, CMD_OK, "" },
	{ "AUTH ", CMD_AUTH, CMD_OK, "" },
	{ "AUTHPLAIN", CMD_UNKNOWN, CMD_OK, "" },
	{ "AUT PLAIN", CMD_UNKNOWN, CMD_OK, "PLAIN" },
	{ "\xff\xfe\x01", CMD_UNKNOWN, CMD_OK, "" },
};

static void test_parse(void)
{
	struct cmd c;
	size_t i, n;

	for (i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
		n = strlen(verbs[i].in);
		CHECK(cmd_parse(verbs[i].in, n, &c) == verbs[i].code);
		CHECK(c.verb == verbs[i].verb);
		CHECK(c.arglen == strlen(verbs[i].arg));
		CHECK(!memcmp(c.arg, verbs[i].arg, c.arglen));
		CHECK(c.arg >= verbs[i].in && c.arg + c.arglen <= verbs[i].in + n);
	}
}

enum { MAIL, RCPT };

static const struct {
	int which;
	const char *in;
	int code;
	const char *addr;       /* on CMD_OK */
	int dom;
	int has_size;
	unsigned long long size;
	int body;
	int addr_err;           /* on CMD_E_PATH */
} args[] = {
	{ MAIL, "FROM:<a@b.example>", CMD_OK, "a@b.example", 1, 0, 0, 0, 0 },
	{ MAIL, "from:<a@b.example>", CMD_OK, "a@b.example", 1, 0, 0, 0, 0 },
	{ MAIL, "From: <a@b.example>", CMD_OK, "a@b.example", 1, 0, 0, 0, 0 },
	{ MAIL, "FROM:<>", CMD_OK, "", 0, 0, 0, 0, 0 },
	{ MAIL, "FROM:<postmaster>", CMD_OK, "postmaster", 0, 0, 0, 0, 0 },
	{ MAIL, "FROM:<a@b> SIZE=100", CMD_OK, "a@b", 1, 1, 100, 0, 0 },
	{ MAIL, "FROM:<a@b> size=0", CMD_OK, "a@b", 1, 1, 0, 0, 0 },
	{ MAIL, "FROM:<a@b>  SIZE=7   BODY=8BITMIME  ", CMD_OK, "a@b", 1, 1, 7,
	  CMD_BODY_8BITMIME, 0 },
	{ MAIL, "FROM:<a@b> body=7bit", CMD_OK, "a@b", 1, 0, 0,
	  CMD_BODY_7BIT, 0 },
	{ MAIL, "FROM:<a@b> BODY=8bitmime SIZE=5", CMD_OK, "a@b", 1, 1, 5,
	  CMD_BODY_8BITMIME, 0 },
	{ MAIL, "FROM:<a@b> SIZE=18446744073709551615", CMD_OK, "a@b", 1, 1,
	  ULLONG_MAX, 0, 0 },
	{ MAIL, "FROM:<a@b> SIZE=99999999999999999999", CMD_OK, "a@b", 1, 1,
	  ULLONG_MAX, 0, 0 },
	{ MAIL, "FROM:<a@b> SIZE=999999999999999999999", CMD_E_SYNTAX, 0, 0, 0, 0, 0, 0 },
	{ MAIL, "FROM:<a@b> SIZE=", CMD_E_SYNTAX, 0, 0, 0, 0, 0, 0 },
	{ MAIL, "FROM:<a@b> SIZE", CMD_E_SYNTAX, 0, 0, 0, 0, 0, 0 },
	{ MAIL, "FROM:<a@b> SIZE=12k", CMD_E_SYNTAX, 0, 0, 0, 0, 0, 0 },
	{ MAIL, "FROM:<a@b> SIZE=-1", CMD_E_SYNTAX, 0, 0, 0, 0, 0, 0 },
	{ MAIL, "FROM:<a@b> SIZE=1 SIZE=2", CMD_E_SYNTAX, 0, 0, 0, 0, 0, 0 },
	{ MAIL, "FROM:<a@b> BODY=7BIT BODY=7BIT", CMD_E_SYNTAX, 0, 0, 0, 0, 0, 0 },
	{ MAIL, "FROM:<a@b> BODY", CMD_E_SYNTAX, 0, 0, 0, 0, 0, 0 },
	{ MAIL, "FROM:<a@b> BODY=BINARYMIME", CMD_E_PARAM, 0, 0, 0, 0, 0, 0 },
	{ MAIL, "FROM:<a@b> SMTPUTF8", CMD_E_PARAM, 0, 0, 0, 0, 0, 0 },
	{ MAIL, "FROM:<a@b> AUTH=<>", CMD_E_PARAM, 0, 0, 0, 0, 0, 0 },
	{ MAIL, "FROM:<a@b> X-FOO=bar", CMD_E_PARAM, 0, 0, 0, 0, 0, 0 },
	{ MAIL, "FROM:<a@b> -X=1", CMD_E_SYNTAX, 0, 0, 0, 0, 0, 0 },
	{ MAIL, "FROM:<a@b> X==1", CMD_E_SYNTAX, 0, 0, 0, 0, 0, 0 },
	{ MAIL, "FROM:<a@b> X=\xff", CMD_E_SYNTAX, 0, 0, 0, 0, 0, 0 },
	{ MAIL, "FROM:<a@b>SIZE=1", CMD_E_SYNTAX, 0, 0, 0, 0, 0, 0 },
	{ MAIL, "FROM:<a@b>x", CMD_E_SYNTAX, 0, 0, 0, 0, 0, 0 },
	{ MAIL, "FROM <a@b>", CMD_E_SYNTAX, 0, 0, 0, 0, 0, 0 },
	{ MAIL, "TO:<a@b>", CMD_E_SYNTAX, 0, 0, 0, 0, 0, 0 },
	{ MAIL, "FRO", CMD_E_SYNTAX, 0, 0, 0, 0, 0, 0 },
	{ MAIL, "", CMD_E_SYNTAX, 0, 0, 0, 0, 0, 0 },
	{ MAIL, "FROM:", CMD_E_PATH, 0, 0, 0, 0, 0, ADDR_SYNTAX },
	{ MAIL, "FROM:a@b", CMD_E_PATH, 0, 0, 0, 0, 0, ADDR_SYNTAX },
	{ MAIL, "FROM:<a@b", CMD_E_PATH, 0, 0, 0, 0, 0, ADDR_SYNTAX },
	{ MAIL, "FROM:<a b@c>", CMD_E_PATH, 0, 0, 0, 0, 0, ADDR_SYNTAX },
	{ RCPT, "TO:<a@b.example>", CMD_OK, "a@b.example", 1, 0, 0, 0, 0 },
	{ RCPT, "to: <a@b.example>", CMD_OK, "a@b.example", 1, 0, 0, 0, 0 },
	{ RCPT, "TO:<Postmaster>", CMD_OK, "Postmaster", 0, 0, 0, 0, 0 },
	{ RCPT, "TO:<@relay.example:a@b.example>", CMD_OK, "a@b.example", 1,
	  0, 0, 0, 0 },
	{ RCPT, "TO:<a@b> ", CMD_OK, "a@b", 1, 0, 0, 0, 0 },
	{ RCPT, "TO:<>", CMD_E_PATH, 0, 0, 0, 0, 0, ADDR_SYNTAX },
	{ RCPT, "TO:<a@b> NOTIFY=NEVER", CMD_E_PARAM, 0, 0, 0, 0, 0, 0 },
	{ RCPT, "TO:<a@b> SIZE=1", CMD_E_PARAM, 0, 0, 0, 0, 0, 0 },
	{ RCPT, "TO:<a@b> =1", CMD_E_SYNTAX, 0, 0, 0, 0, 0, 0 },
	{ RCPT, "FROM:<a@b>", CMD_E_SYNTAX, 0, 0, 0, 0, 0, 0 },
	{ RCPT, "TO:a@b", CMD_E_PATH, 0, 0, 0, 0, 0, ADDR_SYNTAX },
};

static int run_args(int which, const char *p, size_t n, struct cmd_path *out)
{
	return which == MAIL ? cmd_mail(p, n, out) : cmd_rcpt(p, n, out);
}

static void test_args(void)
{
	struct cmd_path p = CMD_PATH_ZERO;
	size_t i;
	int r;

	for (i = 0; i < sizeof args / sizeof args[0]; i++) {
		r = run_args(args[i].which, args[i].in, strlen(args[i].in), &p);
		CHECK(r == args[i].code);
		if (r != args[i].code)
			printf("  case %zu: %s: got %d\n", i, args[i].in, r);
		if (r == CMD_E_PATH)
			CHECK(p.addr_err == args[i].addr_err);
		if (r != CMD_OK)
			continue;
		CHECK(str_eqb(&p.addr, args[i].addr, strlen(args[i].addr)));
		CHECK(p.has_domain == args[i].dom);
		CHECK(p.has_size == args[i].has_size);
		CHECK(p.size == args[i].size);
		CHECK(p.body == args[i].body);
	}
	str_free(&p.addr);
}

/* Every argument cut at every length, from a heap copy of just that many
 * bytes, so ASan sees any read past the end. */
static void test_args_cut(void)
{
	struct cmd_path p = CMD_PATH_ZERO;
	size_t i, k, n;
	char *b;

	for (i = 0; i < sizeof args / sizeof args[0]; i++) {
		n = strlen(args[i].in);
		for (k = 0; k <= n; k++) {
			b = malloc(k ? k : 1);
			CHECK(b != 0);
			if (!b)
				break;
			memcpy(b, args[i].in, k);
			run_args(args[i].which, b, k, &p);
			free(b);
		}
	}
	str_free(&p.addr);
}

/* A line of every byte value goes through without harm. */
static void test_binary(void)
{
	char line[258];
	struct cmd c;
	struct cmd_path p = CMD_PATH_ZERO;
	size_t i, len;

	for (i = 0; i < 256; i++)
		line[i] = (char)(255 - i);
	line[256] = '\r';
	line[257] = '\n';
	CHECK(cmd_line(line, sizeof line, &len) == CMD_E_BYTES);
	CHECK(cmd_parse(line, 256, &c) == CMD_OK && c.verb == CMD_UNKNOWN);
	CHECK(cmd_mail(line, 256, &p) == CMD_E_SYNTAX);
	CHECK(cmd_rcpt(line, 256, &p) == CMD_E_SYNTAX);
	str_free(&p.addr);
}

/* An overlong path is an address error, not a crash. */
static void test_long(void)
{
	struct cmd_path p = CMD_PATH_ZERO;
	char buf[2000];
	size_t n;

	memcpy(buf, "TO:<", 4);
	memset(buf + 4, 'x', 1000);
	memcpy(buf + 1004, "@example.org>", 13);
	n = 1017;
	CHECK(cmd_rcpt(buf, n, &p) == CMD_E_PATH);
	CHECK(p.addr_err != ADDR_OK);
	str_free(&p.addr);
}

int main(void)
{
	RUN(test_line);
	RUN(test_parse);
	RUN(test_args);
	RUN(test_args_cut);
	RUN(test_binary);
	RUN(test_long);
	return test_done();
}
