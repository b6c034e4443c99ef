/* The IMAP client connection: whole commands in, buffered replies out. */
#include <errno.h>
#include <string.h>

#include "conn.h"
#include "fmt.h"
#include "parse.h"

void conn_init(struct conn *c, int rfd, int wfd, int timeout_ms)
{
	rd_init(&c->r, rfd, c->rbuf, sizeof c->rbuf, timeout_ms);
	wr_init(&c->w, wfd, c->wbuf, sizeof c->wbuf, timeout_ms);
	c->cmd.len = 0;
	c->line.len = 0;
	c->werr = 0;
}

static void line_strip(struct str *l)
{
	if (l->len && l->s[l->len - 1] == '\n')
		l->len--;
	if (l->len && l->s[l->len - 1] == '\r')
		l->len--;
}

/* APPEND takes big literals; the command name is the second word. */
static int is_append(const struct str *cmd)
{
	size_t i = byte_chr(cmd->s, cmd->len, ' ');

	return cmd->len - i > 7 && case_eqb(cmd->s + i + 1, "APPEND ", 7);
}

static int literal_take(struct conn *c, size_t n)
{
	while (n) {
		size_t k = rd_avail(&c->r);
		ssize_t got;

		if (k) {
			if (k > n)
				k = n;
			if (!str_catb(&c->cmd, c->r.buf + c->r.pos, k))
				return CONN_NOMEM;
			c->r.pos += k;
			n -= k;
			continue;
		}
		got = rd_fill(&c->r);
		if (got == 0)
			return CONN_EOF;
		if (got < 0)
			return CONN_ERR;
	}
	return CONN_OK;
}

int conn_command(struct conn *c)
{
	unsigned long long size, lits = 0, max = 0;
	size_t text = 0;
	int r, sync;

	c->cmd.len = 0;
	for (;;) {
		r = rd_line(&c->r, &c->line, IMAP_LINE_MAX - text + 2);
		if (r == RD_EOF)
			return CONN_EOF;
		if (r == RD_LONG)
			return CONN_LONG;
		if (r != RD_OK)
			return errno == ENOMEM ? CONN_NOMEM : CONN_ERR;
		line_strip(&c->line);
		text += c->line.len;
		if (text > IMAP_LINE_MAX)
			return CONN_LONG;
		if (!str_catb(&c->cmd, c->line.s, c->line.len))
			return CONN_NOMEM;
		r = imap_literal_end(c->line.s, c->line.len, &size, &sync);
		if (r == 0)
			return CONN_OK;
		if (!max)
			max = is_append(&c->cmd) ? IMAP_APPEND_MAX
			                         : IMAP_LITERAL_MAX;
		if (r < 0 || size > max - lits)
			return sync ? CONN_BIG : CONN_LONG;
		lits += size;
		if (sync) {
			conn_puts(c, "+ OK\r\n");
			if (conn_flush(c) < 0)
				return CONN_ERR;
		}
		if (!str_catb(&c->cmd, "\r\n", 2))
			return CONN_NOMEM;
		if ((r = literal_take(c, (size_t)size)) != CONN_OK)
			return r;
	}
}

int conn_line(struct conn *c, size_t max)
{
	int r = rd_line(&c->r, &c->line, max);

	if (r == RD_EOF)
		return CONN_EOF;
	if (r == RD_LONG)
		return CONN_LONG;
	if (r != RD_OK)
		return CONN_ERR;
	line_strip(&c->line);
	return CONN_OK;
}

void conn_discard(struct conn *c)
{
	c->r.pos = c->r.end = 0;
}

void conn_put(struct conn *c, const char *p, size_t n)
{
	if (!c->werr && wr_put(&c->w, p, n) < 0)
		c->werr = 1;
}

void conn_puts(struct conn *c, const char *s)
{
	conn_put(c, s, strlen(s));
}

void conn_putu(struct conn *c, unsigned long long u)
{
	char b[FMT_ULONG];

	conn_put(c, b, fmt_ulong(b, u));
}

static int quotable(const char *p, size_t n)
{
	size_t i;

	if (n > 1024)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch == 0 || ch == '\r' || ch == '\n' || ch >= 0x80)
			return 0;
	}
	return 1;
}

void conn_string(struct conn *c, const char *p, size_t n)
{
	size_t i, start;

	if (!quotable(p, n)) {
		conn_put(c, "{", 1);
		conn_putu(c, n);
		conn_put(c, "}\r\n", 3);
		conn_put(c, p, n);
		return;
	}
	conn_put(c, "\"", 1);
	for (i = start = 0; i < n; i++)
		if (p[i] == '"' || p[i] == '\\') {
			conn_put(c, p + start, i - start);
			conn_put(c, "\\", 1);
			start = i;
		}
	conn_put(c, p + start, n - start);
	conn_put(c, "\"", 1);
}

void conn_nstring(struct conn *c, const char *p, size_t n)
{
	if (!p)
		conn_put(c, "NIL", 3);
	else
		conn_string(c, p, n);
}

void conn_tagged(struct conn *c, const char *tag, size_t taglen,
                 const char *text)
{
	if (tag)
		conn_put(c, tag, taglen);
	else
		conn_put(c, "*", 1);
	conn_put(c, " ", 1);
	conn_puts(c, text);
	conn_put(c, "\r\n", 2);
}

void conn_bad(struct conn *c, const char *tag, size_t taglen,
              const char *why)
{
	if (tag)
		conn_put(c, tag, taglen);
	else
		conn_put(c, "*", 1);
	conn_puts(c, " BAD ");
	conn_puts(c, why ? why : "syntax error");
	conn_put(c, "\r\n", 2);
}

int conn_flush(struct conn *c)
{
	if (!c->werr && wr_flush(&c->w) < 0)
		c->werr = 1;
	return c->werr ? -1 : 0;
}
