/* SMTP command lines: endings, verbs, MAIL and RCPT arguments. No I/O. */
#include <limits.h>
#include <string.h>

#include "addr.h"
#include "cmd.h"
#include "fmt.h"

static const struct {
	const char *name;
	int verb;
	int noargs;             /* RFC 5321 4.1.1: these take none */
} verbs[] = {
	{ "HELO", CMD_HELO, 0 },
	{ "EHLO", CMD_EHLO, 0 },
	{ "MAIL", CMD_MAIL, 0 },
	{ "RCPT", CMD_RCPT, 0 },
	{ "DATA", CMD_DATA, 1 },
	{ "RSET", CMD_RSET, 1 },
	{ "NOOP", CMD_NOOP, 0 },
	{ "VRFY", CMD_VRFY, 0 },
	{ "HELP", CMD_HELP, 0 },
	{ "QUIT", CMD_QUIT, 1 },
	{ "AUTH", CMD_AUTH, 0 },
	{ "STARTTLS", CMD_STARTTLS, 1 },
};

static int is_space(char c)
{
	return c == ' ' || c == '\t';
}

static size_t skip_space(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && is_space(p[i]))
		i++;
	return i;
}

int cmd_line(const char *line, size_t n, size_t *len)
{
	size_t i;

	if (n == 0 || line[n - 1] != '\n')
		return CMD_E_NOLF;
	n--;
	if (n && line[n - 1] == '\r')
		n--;
	/* A CR inside a command could end the line for one reader and not
	 * another; refuse it along with NUL. */
	for (i = 0; i < n; i++)
		if (line[i] == 0 || line[i] == '\r')
			return CMD_E_BYTES;
	*len = n;
	return CMD_OK;
}

int cmd_parse(const char *line, size_t n, struct cmd *out)
{
	size_t v = 0, i, k;

	while (v < n && !is_space(line[v]))
		v++;
	i = v + skip_space(line + v, n - v);
	while (n > i && is_space(line[n - 1]))
		n--;
	out->verb = CMD_UNKNOWN;
	out->arg = line + i;
	out->arglen = n - i;
	for (k = 0; k < sizeof verbs / sizeof verbs[0]; k++) {
		if (v != strlen(verbs[k].name) || !case_eqb(line, verbs[k].name, v))
			continue;
		out->verb = verbs[k].verb;
		if (verbs[k].noargs && out->arglen)
			return CMD_E_ARGS;
		return CMD_OK;
	}
	return CMD_OK;
}

/* RFC 5321 4.1.2 esmtp-keyword: ALPHA / DIGIT, then also "-". */
static int keyword_ok(const char *p, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		char c = p[i];
		int alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		            (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || c != '-'))
			return 0;
	}
	return 1;
}

/* esmtp-value: %d33-60 / %d62-126, at least one. */
static int value_ok(const char *p, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (p[i] < 33 || p[i] > 126 || p[i] == '=')
			return 0;
	return 1;
}

static int param_size(const char *v, size_t n, struct cmd_path *out)
{
	size_t i;

	if (out->has_size || n == 0 || n > 20)
		return CMD_E_SYNTAX;
	for (i = 0; i < n; i++)
		if (v[i] < '0' || v[i] > '9')
			return CMD_E_SYNTAX;
	if (!scan_ulong(v, n, &out->size))
		out->size = ULLONG_MAX;         /* 20 digits may overflow */
	out->has_size = 1;
	return CMD_OK;
}

static int param_body(const char *v, size_t n, struct cmd_path *out)
{
	if (out->body != CMD_BODY_NONE)
		return CMD_E_SYNTAX;
	if (n == 4 && case_eqb(v, "7BIT", 4))
		out->body = CMD_BODY_7BIT;
	else if (n == 8 && case_eqb(v, "8BITMIME", 8))
		out->body = CMD_BODY_8BITMIME;
	else
		return CMD_E_PARAM;
	return CMD_OK;
}

/* One "keyword[=value]" in p[0..n). */
static int param_one(const char *p, size_t n, struct cmd_path *out, int mail)
{
	size_t k = byte_chr(p, n, '=');
	const char *v = p + k + 1;
	size_t vn = k < n ? n - k - 1 : 0;

	if (!keyword_ok(p, k) || (k < n && !value_ok(v, vn)))
		return CMD_E_SYNTAX;
	if (!mail)
		return CMD_E_PARAM;
	if (k == 4 && case_eqb(p, "SIZE", 4))
		return k < n ? param_size(v, vn, out) : CMD_E_SYNTAX;
	if (k == 4 && case_eqb(p, "BODY", 4))
		return k < n ? param_body(v, vn, out) : CMD_E_SYNTAX;
	return CMD_E_PARAM;
}

/* The parameters after the path: SP-separated, p[0..n) begins just after
 * the '>'. */
static int params(const char *p, size_t n, struct cmd_path *out, int mail)
{
	size_t i = 0, j;
	int r;

	if (n && !is_space(p[0]))
		return CMD_E_SYNTAX;
	for (;;) {
		i += skip_space(p + i, n - i);
		if (i == n)
			return CMD_OK;
		for (j = i; j < n && !is_space(p[j]); j++)
			;
		r = param_one(p + i, j - i, out, mail);
		if (r != CMD_OK)
			return r;
		i = j;
	}
}

/* "FROM:" or "TO:", then the path (spaces after the colon are tolerated,
 * as many clients send them), then parameters. */
static int path_args(const char *arg, size_t n, const char *prefix,
                     struct cmd_path *out, int mail)
{
	size_t i, used = 0;
	int r;

	out->addr.len = 0;
	out->has_domain = 0;
	out->addr_err = 0;
	out->has_size = 0;
	out->size = 0;
	out->body = CMD_BODY_NONE;
	if (!case_startb(arg, n, prefix))
		return CMD_E_SYNTAX;
	for (i = 0; prefix[i]; i++)
		;
	i += skip_space(arg + i, n - i);
	r = addr_parse_path(arg + i, n - i, &out->addr, &used, &out->has_domain);
	if (r == ADDR_NOMEM)
		return CMD_E_NOMEM;
	if (r != ADDR_OK) {
		out->addr_err = r;
		return CMD_E_PATH;
	}
	if (used > n - i)
		return CMD_E_SYNTAX;
	return params(arg + i + used, n - i - used, out, mail);
}

int cmd_mail(const char *arg, size_t n, struct cmd_path *out)
{
	return path_args(arg, n, "FROM:", out, 1);
}

int cmd_rcpt(const char *arg, size_t n, struct cmd_path *out)
{
	int r = path_args(arg, n, "TO:", out, 0);

	if (r == CMD_OK && out->addr.len == 0) {
		out->addr_err = ADDR_SYNTAX;    /* <> is only a sender */
		return CMD_E_PATH;
	}
	return r;
}
