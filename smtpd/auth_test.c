/* Tests for SMTP AUTH: PLAIN and LOGIN exchanges as tables of lines and
 * results (initial responses, cancels, malformed base64, authzid rules,
 * limits), the replies, the Received comment, SENDERAUTH, the
 * checkpassword run, and RCPT checks against a userdb made here. */
#include <cdb.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "base64.h"
#include "test.h"

#define B64_ALICE "AGFsaWNlQHguaW8Ac2VjcmV0"        /* \0alice@x.io\0secret */
#define B64_USER "YWxpY2VAeC5pbw=="                 /* alice@x.io */
#define B64_PASS "c2VjcmV0"                         /* secret */

static const struct {
	const char *lines[4];   /* the AUTH argument, then responses */
	int results[4];         /* after each line */
	const char *user;       /* on AUTH_CHECK */
	const char *reason;     /* on AUTH_REFUSED */
} exchanges[] = {
	/* PLAIN with an initial response, any case, spaces before it */
	{ { "PLAIN " B64_ALICE }, { AUTH_CHECK }, "alice@x.io", 0 },
	{ { "plain " B64_ALICE }, { AUTH_CHECK }, "alice@x.io", 0 },
	{ { "PLAIN \t " B64_ALICE }, { AUTH_CHECK }, "alice@x.io", 0 },
	/* PLAIN with an empty challenge first */
	{ { "PLAIN", B64_ALICE }, { AUTH_CHALLENGE, AUTH_CHECK }, "alice@x.io", 0 },
	/* authzid: empty or the authcid itself, exactly */
	{ { "PLAIN YWxpY2VAeC5pbwBhbGljZUB4LmlvAHNlY3JldA==" }, { AUTH_CHECK },
	  "alice@x.io", 0 },
	{ { "PLAIN Ym9iQHguaW8AYWxpY2VAeC5pbwBzZWNyZXQ=" }, { AUTH_REFUSED },
	  0, "authzid" },
	{ { "PLAIN QUxJQ0VAeC5pbwBhbGljZUB4LmlvAHNlY3JldA==" }, { AUTH_REFUSED },
	  0, "authzid" },
	/* not a PLAIN message: one NUL, none, three */
	{ { "PLAIN YWxpY2VAeC5pbwBzZWNyZXQ=" }, { AUTH_MALFORMED }, 0, 0 },
	{ { "PLAIN " B64_USER }, { AUTH_MALFORMED }, 0, 0 },
	{ { "PLAIN AGFsaWNlQHguaW8Ac2VjAHJldA==" }, { AUTH_MALFORMED }, 0, 0 },
	/* "=" is an empty initial response, and empty is no PLAIN message */
	{ { "PLAIN =" }, { AUTH_MALFORMED }, 0, 0 },
	{ { "PLAIN", "" }, { AUTH_CHALLENGE, AUTH_MALFORMED }, 0, 0 },
	/* empty authcid or password */
	{ { "PLAIN AABzZWNyZXQ=" }, { AUTH_REFUSED }, 0, "empty" },
	{ { "PLAIN AGFsaWNlQHguaW8A" }, { AUTH_REFUSED }, 0, "empty" },
	/* cancels */
	{ { "PLAIN", "*" }, { AUTH_CHALLENGE, AUTH_CANCEL }, 0, 0 },
	{ { "LOGIN", "*" }, { AUTH_CHALLENGE, AUTH_CANCEL }, 0, 0 },
	{ { "LOGIN", B64_USER, "*" },
	  { AUTH_CHALLENGE, AUTH_CHALLENGE, AUTH_CANCEL }, 0, 0 },
	{ { "PLAIN *" }, { AUTH_CANCEL }, 0, 0 },
	{ { "PLAIN", "**" }, { AUTH_CHALLENGE, AUTH_BASE64 }, 0, 0 },
	/* LOGIN, with and without the user as initial response */
	{ { "LOGIN", B64_USER, B64_PASS },
	  { AUTH_CHALLENGE, AUTH_CHALLENGE, AUTH_CHECK }, "alice@x.io", 0 },
	{ { "login " B64_USER, B64_PASS }, { AUTH_CHALLENGE, AUTH_CHECK },
	  "alice@x.io", 0 },
	{ { "LOGIN =", B64_PASS }, { AUTH_CHALLENGE, AUTH_REFUSED }, 0, "empty" },
	{ { "LOGIN", B64_USER, "" },
	  { AUTH_CHALLENGE, AUTH_CHALLENGE, AUTH_REFUSED }, 0, "empty" },
	{ { "LOGIN", "YWwAaWNl", B64_PASS },
	  { AUTH_CHALLENGE, AUTH_CHALLENGE, AUTH_REFUSED }, 0, "nul" },
	{ { "LOGIN", B64_USER, "YWwAaWNl" },
	  { AUTH_CHALLENGE, AUTH_CHALLENGE, AUTH_REFUSED }, 0, "nul" },
	/* malformed base64: bad bytes, padding, white space, length */
	{ { "PLAIN AGFs!" }, { AUTH_BASE64 }, 0, 0 },
	{ { "PLAIN " B64_ALICE " x" }, { AUTH_BASE64 }, 0, 0 },
	{ { "PLAIN", "Zg" }, { AUTH_CHALLENGE, AUTH_BASE64 }, 0, 0 },
	{ { "PLAIN", "Zg=a" }, { AUTH_CHALLENGE, AUTH_BASE64 }, 0, 0 },
	{ { "PLAIN", " " B64_ALICE }, { AUTH_CHALLENGE, AUTH_BASE64 }, 0, 0 },
	{ { "LOGIN", "YWxpY2U=\t" }, { AUTH_CHALLENGE, AUTH_BASE64 }, 0, 0 },
	{ { "LOGIN YWxpY2VAeC5pbw" }, { AUTH_BASE64 }, 0, 0 },
	/* mechanisms */
	{ { "" }, { AUTH_SYNTAX }, 0, 0 },
	{ { "CRAM-MD5" }, { AUTH_MECH }, 0, 0 },
	{ { "PLAINX " B64_ALICE }, { AUTH_MECH }, 0, 0 },
	{ { "PLAI" }, { AUTH_MECH }, 0, 0 },
	{ { "XOAUTH2 abc" }, { AUTH_MECH }, 0, 0 },
};

/* The pass buffer, all of it, holds no byte of a secret. */
static int wiped(const struct auth *a)
{
	size_t i;

	for (i = 0; i < a->pass.cap; i++)
		if (a->pass.s[i] || (a->dec.s && i < a->dec.cap && a->dec.s[i]))
			return 0;
	return a->pass.len == 0;
}

static void test_exchanges(void)
{
	struct auth a = AUTH_ZERO;
	size_t i, k;
	int r;

	CHECK(auth_init(&a));
	for (i = 0; i < sizeof exchanges / sizeof exchanges[0]; i++) {
		const char *const *l = exchanges[i].lines;

		r = auth_begin(&a, l[0], strlen(l[0]));
		for (k = 0; r == exchanges[i].results[k] && r == AUTH_CHALLENGE;) {
			CHECK(auth_waiting(&a));
			k++;
			if (k == 4 || !l[k])
				break;
			r = auth_response(&a, l[k], strlen(l[k]));
		}
		if (r != exchanges[i].results[k])
			printf("  case %zu step %zu: got %d\n", i, k, r);
		CHECK(r == exchanges[i].results[k]);
		if (r == AUTH_CHALLENGE)
			continue;
		CHECK(!auth_waiting(&a));
		if (r == AUTH_CHECK) {
			CHECK(str_eqb(&a.user, exchanges[i].user,
			              strlen(exchanges[i].user)));
			CHECK(a.user.s[a.user.len] == 0);
			CHECK(str_eqb(&a.pass, "secret", 6));
		} else
			CHECK(wiped(&a));
		if (r == AUTH_REFUSED)
			CHECK(a.reason && !strcmp(a.reason, exchanges[i].reason));
		auth_wipe(&a);
		CHECK(wiped(&a));
	}
	auth_free(&a);
}

/* The challenges are base64 of the prompts clients expect. */
static void test_challenges(void)
{
	struct auth a = AUTH_ZERO;

	CHECK(auth_init(&a));
	CHECK(auth_begin(&a, "LOGIN", 5) == AUTH_CHALLENGE);
	CHECK(!strcmp(a.challenge, "VXNlcm5hbWU6"));
	CHECK(!strcmp(a.mech, "LOGIN"));
	CHECK(auth_response(&a, B64_USER, strlen(B64_USER)) == AUTH_CHALLENGE);
	CHECK(!strcmp(a.challenge, "UGFzc3dvcmQ6"));
	CHECK(auth_begin(&a, "PLAIN", 5) == AUTH_CHALLENGE);
	CHECK(!strcmp(a.challenge, ""));
	CHECK(!strcmp(a.mech, "PLAIN"));
	auth_wipe(&a);
	CHECK(auth_response(&a, B64_PASS, strlen(B64_PASS)) == AUTH_SYNTAX);
	auth_free(&a);
}

/* A response of user and password n bytes each, LOGIN-style. */
static int login_sized(struct auth *a, size_t un, size_t pn)
{
	struct str plain = STR_ZERO, enc = STR_ZERO;
	int r = -9;

	if (!str_catc(&plain, 0))
		return r;
	while (plain.len < un + 1)
		if (!str_catc(&plain, 'u'))
			goto out;
	if (!str_catc(&plain, 0))
		goto out;
	while (plain.len < un + pn + 2)
		if (!str_catc(&plain, 'p'))
			goto out;
	if (!base64_encode(plain.s, plain.len, &enc))
		goto out;
	r = auth_begin(a, "PLAIN", 5);
	if (r == AUTH_CHALLENGE)
		r = auth_response(a, enc.s, enc.len);
out:
	str_free(&plain);
	str_free(&enc);
	return r;
}

/* AUTH_CRED_MAX: "user\0pass\0\0" must fit checkpassword's 512 bytes;
 * AUTH_LINE_MAX: a response line, CRLF counted. */
static void test_limits(void)
{
	struct auth a = AUTH_ZERO;
	struct str line = STR_ZERO;
	size_t n = AUTH_LINE_MAX - 2;   /* without the CRLF */

	CHECK(auth_init(&a));
	CHECK(login_sized(&a, 300, AUTH_CRED_MAX - 3 - 300) == AUTH_CHECK);
	CHECK(login_sized(&a, 300, AUTH_CRED_MAX - 2 - 300) == AUTH_REFUSED);
	CHECK(!strcmp(a.reason, "toolong"));
	CHECK(login_sized(&a, 1, 1) == AUTH_CHECK);
	CHECK(login_sized(&a, 9000, 10) == AUTH_REFUSED);
	/* the longest response that fits (rounded down to whole groups)
	 * decodes; one byte more is too long whatever it holds */
	n -= n % 4;
	while (line.len < n)
		CHECK(str_catc(&line, 'A'));
	CHECK(auth_begin(&a, "LOGIN", 5) == AUTH_CHALLENGE);
	CHECK(auth_response(&a, line.s, line.len) == AUTH_CHALLENGE);
	CHECK(a.user.len == n / 4 * 3);
	CHECK(auth_response(&a, B64_PASS, 8) == AUTH_REFUSED);
	while (line.len < AUTH_LINE_MAX - 1)
		CHECK(str_catc(&line, 'A'));
	CHECK(auth_begin(&a, "LOGIN", 5) == AUTH_CHALLENGE);
	CHECK(auth_response(&a, line.s, line.len) == AUTH_TOOLONG);
	CHECK(!auth_waiting(&a));
	CHECK(auth_begin(&a, "PLAIN", 5) == AUTH_CHALLENGE);
	CHECK(auth_response(&a, line.s, line.len) == AUTH_TOOLONG);
	while (line.len < AUTH_LINE_MAX + 1)
		CHECK(str_catc(&line, 'A'));
	CHECK(auth_begin(&a, line.s, line.len) == AUTH_TOOLONG);
	str_free(&line);
	auth_free(&a);
}

/* Each response fed whole or cut short at every length: a cut one is
 * never taken for the whole. */
static void test_truncated(void)
{
	struct auth a = AUTH_ZERO;
	const char *ir = B64_ALICE;
	size_t n = strlen(ir), i;
	int r;

	CHECK(auth_init(&a));
	for (i = 0; i <= n; i++) {
		CHECK(auth_begin(&a, "PLAIN", 5) == AUTH_CHALLENGE);
		r = auth_response(&a, ir, i);
		if (i == n)
			CHECK(r == AUTH_CHECK);
		else
			CHECK(r != AUTH_CHECK || a.pass.len < 6);
		auth_wipe(&a);
	}
	auth_free(&a);
}

static void test_replies(void)
{
	static const struct {
		int r;
		const char *code;
	} t[] = {
		{ AUTH_CANCEL, "501 5.0.0" },
		{ AUTH_BASE64, "501 5.5.2" },
		{ AUTH_MALFORMED, "501 5.5.2" },
		{ AUTH_SYNTAX, "501 5.5.4" },
		{ AUTH_MECH, "504 5.5.4" },
		{ AUTH_TOOLONG, "500 5.5.6" },
		{ AUTH_REFUSED, "535 5.7.8" },
		{ AUTH_FAIL, "535 5.7.8" },
		{ AUTH_OK, "235 2.7.0" },
		{ AUTH_TEMP, "454 4.7.0" },
	};
	const char *code, *text;
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		auth_reply(t[i].r, &code, &text);
		CHECK(!strcmp(code, t[i].code));
		CHECK(text && *text);
	}
}

static void test_received(void)
{
	static const struct {
		const char *user, *out;
	} t[] = {
		{ "alice@x.io", " (authenticated as alice@x.io)" },
		{ "a(b)c\\d", " (authenticated as a?b?c?d)" },
		{ "a b\r\n\tc", " (authenticated as a?b???c)" },
		{ "\xc3\xa9", " (authenticated as ?" "?)" },     /* not a trigraph */
	};
	struct str h = STR_ZERO;
	char big[AUTH_RECEIVED_MAX + 50];
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		h.len = 0;
		CHECK(auth_received(&h, t[i].user, strlen(t[i].user)));
		CHECK(str_eqb(&h, t[i].out, strlen(t[i].out)));
	}
	memset(big, 'x', sizeof big);
	h.len = 0;
	CHECK(auth_received(&h, big, sizeof big));
	CHECK(h.len == 19 + AUTH_RECEIVED_MAX + 1);
	str_free(&h);
}

static void test_sender(void)
{
	static const struct {
		const char *login, *sender;
		int ok;
	} t[] = {
		{ "alice@x.io", "alice@x.io", 1 },
		{ "alice@x.io", "alice@X.IO", 1 },
		{ "alice@X.io", "alice@x.IO", 1 },
		{ "alice@x.io", "Alice@x.io", 0 },      /* local parts as given */
		{ "alice@x.io", "alice-ext@x.io", 0 },
		{ "alice@x.io", "bob@x.io", 0 },
		{ "alice@x.io", "alice@y.io", 0 },
		{ "alice@x.io", "", 0 },                /* <> */
		{ "alice", "alice", 0 },                /* no domain */
		{ "alice@x.io", "alice@x.io.evil", 0 },
		{ "a@b@x.io", "a@b@X.IO", 1 },          /* the last '@' splits */
	};
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++)
		CHECK(auth_sender_ok(t[i].login, strlen(t[i].login), t[i].sender,
		                     strlen(t[i].sender)) == t[i].ok);
}

/* A checkpassword program made of sh: what it gets on fd 3 and in its
 * environment, and what each exit status means. */
static void test_run(void)
{
	static const struct {
		const char *script;
		unsigned timeout;
		int r;
		const char *reason;
	} t[] = {
		{ "exit 0", 5, AUTH_OK, 0 },
		{ "exit 1", 5, AUTH_FAIL, "password" },
		{ "exit 2", 5, AUTH_TEMP, "exit" },
		{ "exit 111", 5, AUTH_TEMP, "temporary" },
		{ "kill -9 $$", 5, AUTH_TEMP, "signal" },
		{ "test \"$(tr '\\0' : <&3)\" = alice@x.io:secret::", 5, AUTH_OK, 0 },
		{ "test \"$QUAIL_SERVICE\" = smtp", 5, AUTH_OK, 0 },
		{ "test \"$(cat)\" = \"\"", 5, AUTH_OK, 0 },    /* fd 0: /dev/null */
		{ "exec 3<&-; exit 1", 5, AUTH_FAIL, "password" },
		{ "sleep 30", 1, AUTH_TEMP, "timeout" },
	};
	char *argv[4] = { "/bin/sh", "-c", 0, 0 };
	char *none[2] = { "/nonexistent/checkpassword", 0 };
	struct auth a = AUTH_ZERO;
	size_t i;

	CHECK(auth_init(&a));
	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		CHECK(auth_begin(&a, "PLAIN " B64_ALICE, 30) == AUTH_CHECK);
		argv[2] = (char *)t[i].script;
		CHECK(auth_run(argv, &a, t[i].timeout) == t[i].r);
		if (t[i].reason)
			CHECK(!strcmp(a.reason, t[i].reason));
		auth_wipe(&a);
	}
	CHECK(auth_begin(&a, "PLAIN " B64_ALICE, 30) == AUTH_CHECK);
	CHECK(auth_run(none, &a, 5) == AUTH_TEMP);
	auth_free(&a);
}

/* A users cdb with a domain marker, a user and a catch-all domain. */
static int make_userdb(const char *path)
{
	static const char *const kv[][2] = {
		{ "%x.io", "" },
		{ "alice@x.io", "1000:1000:/home/alice:./Maildir/:::" },
		{ "%all.io", "" },
		{ "@all.io", "1000:1000:/home/all:./Maildir/:::" },
		{ "%broken.io", "" },
		{ "bob@broken.io", "not a record" },
	};
	struct cdb_make m;
	size_t i;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || cdb_make_start(&m, fd) < 0)
		return 0;
	for (i = 0; i < sizeof kv / sizeof kv[0]; i++)
		if (cdb_make_add(&m, kv[i][0], (unsigned)strlen(kv[i][0]),
		                 kv[i][1], (unsigned)strlen(kv[i][1])) < 0)
			return 0;
	return cdb_make_finish(&m) == 0 && close(fd) == 0;
}

static void test_rcpt(void)
{
	static const struct {
		const char *addr;
		int check, r;
	} t[] = {
		{ "alice@x.io", 1, AUTH_RCPT_OK },
		{ "alice-ext@x.io", 1, AUTH_RCPT_OK },
		{ "nobody@x.io", 1, AUTH_RCPT_UNKNOWN },
		{ "nobody@x.io", 0, AUTH_RCPT_OK },
		{ "anyone@all.io", 1, AUTH_RCPT_OK },
		{ "alice@elsewhere.io", 1, AUTH_RCPT_NOTOURS },
		{ "bob@broken.io", 1, AUTH_RCPT_TEMP },
	};
	char path[] = "/tmp/quail-auth-test-XXXXXX";
	int fd = mkstemp(path);
	size_t i, dn;

	CHECK(fd >= 0 && close(fd) == 0);
	CHECK(make_userdb(path));
	CHECK(setenv("QUAIL_USERDB", path, 1) == 0);
	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		const char *a = t[i].addr, *d = strrchr(a, '@') + 1;

		dn = strlen(d);
		CHECK(auth_rcpt(a, strlen(a), d, dn, t[i].check) == t[i].r);
	}
	/* no users.cdb at all: no userdb domains (lib/userdb.h) */
	CHECK(unlink(path) == 0);
	CHECK(auth_rcpt("alice@x.io", 10, "x.io", 4, 1) == AUTH_RCPT_NOTOURS);
}

static void test_config(void)
{
	char dir[] = "/tmp/quail-auth-ctl-XXXXXX";
	char *argv[] = { "quail-smtpd", "checkpw", "/bin/true", 0 };
	struct auth_cfg c;
	const char *bad = 0;

	CHECK(mkdtemp(dir) != 0);
	CHECK(setenv("QUAIL_CONTROL", dir, 1) == 0);
	CHECK(setenv("QUAIL_USERDB", "/nonexistent/users.cdb", 1) == 0);
	CHECK(setenv("SMTPAUTH", "!", 1) == 0);
	CHECK(setenv("AUTHPLAINTEXT", "1", 1) == 0);
	CHECK(setenv("MAXAUTHFAIL", "5", 1) == 0);
	CHECK(auth_config(&c, 3, argv, &bad) == 1);
	CHECK(c.checkpw == argv + 1 && c.plaintext && c.submission);
	CHECK(c.maxauthfail == 5 && c.timeout == AUTH_TIMEOUT);
	CHECK(c.senderauth == 0 && c.rcptcheck == 1);
	CHECK(unsetenv("QUAIL_USERDB") == 0 && unsetenv("AUTHPLAINTEXT") == 0);
	CHECK(setenv("SMTPAUTH", "", 1) == 0 && unsetenv("MAXAUTHFAIL") == 0);
	CHECK(auth_config(&c, 1, argv, &bad) == 1);
	CHECK(!c.checkpw && !c.plaintext && !c.submission);
	CHECK(c.maxauthfail == AUTH_MAXFAIL);
	CHECK(setenv("SENDERAUTH", "yes", 1) == 0);
	CHECK(auth_config(&c, 1, argv, &bad) == 0);
	CHECK(bad && !strcmp(bad, "senderauth"));
	CHECK(unsetenv("SENDERAUTH") == 0 && rmdir(dir) == 0);
}

int main(void)
{
	RUN(test_exchanges);
	RUN(test_challenges);
	RUN(test_limits);
	RUN(test_truncated);
	RUN(test_replies);
	RUN(test_received);
	RUN(test_sender);
	RUN(test_run);
	RUN(test_rcpt);
	RUN(test_config);
	return test_done();
}
