/* The IMAP client connection: whole commands in (an APPEND's message
 * left to be streamed), buffered replies out. */
#include <errno.h>
#include <string.h>

#include "conn.h"
#include "fmt.h"
#include "log.h"
#include "parse.h"

void conn_init(struct conn *c, int rfd, int wfd, int timeout_ms)
{
	rd_init(&c->r, rfd, c->rbuf, sizeof c->rbuf, timeout_ms);
	wr_init(&c->w, wfd, c->wbuf, sizeof c->wbuf, timeout_ms);
	c->cmd.len = 0;
	c->line.len = 0;
	c->werr = 0;
	c->lit.state = LIT_NONE;
}

static void line_strip(struct str *l)
{
	if (l->len && l->s[l->len - 1] == '\n')
		l->len--;
	if (l->len && l->s[l->len - 1] == '\r')
		l->len--;
}

/* An APPEND's first literal right after "tag APPEND " is the mailbox
 * name; a later one is the message (see conn.h). mark is where the
 * literal's marker starts in cmd. */
static int is_message(const struct str *cmd, size_t mark)
{
	size_t i = byte_chr(cmd->s, cmd->len, ' ');

	return cmd->len - i > 7 && case_eqb(cmd->s + i + 1, "APPEND ", 7) &&
	       mark > i + 8;
}

/* Reads n bytes of a literal, into c->cmd when keep, else dropped. */
static int literal_take(struct conn *c, unsigned long long n, int keep)
{
	while (n) {
		size_t k = rd_avail(&c->r);
		ssize_t got;

		if (k) {
			if (k > n)
				k = (size_t)n;
			if (keep && !str_catb(&c->cmd, c->r.buf + c->r.pos, k))
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

/* One line of a command into c->line, stripped; *text counts the
 * command's bytes outside literals. */
static int line_next(struct conn *c, size_t *text)
{
	int r = rd_line(&c->r, &c->line, IMAP_LINE_MAX - *text + 2);

	if (r == RD_EOF)
		return CONN_EOF;
	if (r == RD_LONG)
		return CONN_LONG;
	if (r != RD_OK)
		return errno == ENOMEM ? CONN_NOMEM : CONN_ERR;
	line_strip(&c->line);
	*text += c->line.len;
	return *text > IMAP_LINE_MAX ? CONN_LONG : CONN_OK;
}

/* The line just added to c->cmd ends in a literal marker: when it is an
 * APPEND's message, the marker becomes "{0}" and the bytes stay unread
 * for the handler. 1 deferred, 0 not a message. */
static int message_defer(struct conn *c, unsigned long long size, int sync)
{
	const char *brace = memrchr(c->line.s, '{', c->line.len);
	size_t mark = c->cmd.len - (c->line.len - (size_t)(brace - c->line.s));

	if (!is_message(&c->cmd, mark))
		return 0;
	c->cmd.len = mark;
	if (!str_catb(&c->cmd, "{0}\r\n", 5))
		die_nomem();
	c->lit.state = LIT_PENDING;
	c->lit.sync = sync;
	c->lit.size = c->lit.left = size;
	return 1;
}

int conn_command(struct conn *c)
{
	unsigned long long size, lits = 0;
	size_t text = 0;
	int r, sync;

	if ((r = conn_literal_drop(c)) != CONN_OK)
		return r;
	c->cmd.len = 0;
	for (;;) {
		if ((r = line_next(c, &text)) != CONN_OK)
			return r;
		if (!str_catb(&c->cmd, c->line.s, c->line.len))
			return CONN_NOMEM;
		r = imap_literal_end(c->line.s, c->line.len, &size, &sync);
		if (r == 0)
			return CONN_OK;
		if (r > 0 && message_defer(c, size, sync))
			return CONN_OK;
		if (r < 0 || size > IMAP_LITERAL_MAX - lits)
			return sync ? CONN_BIG : CONN_LONG;
		lits += size;
		if (sync) {
			conn_puts(c, "+ OK\r\n");
			if (conn_flush(c) < 0)
				return CONN_ERR;
		}
		if (!str_catb(&c->cmd, "\r\n", 2))
			return CONN_NOMEM;
		if ((r = literal_take(c, size, 1)) != CONN_OK)
			return r;
	}
}

int conn_literal_start(struct conn *c)
{
	c->lit.state = LIT_READING;
	if (!c->lit.sync)
		return CONN_OK;
	conn_puts(c, "+ OK\r\n");
	return conn_flush(c) < 0 ? CONN_ERR : CONN_OK;
}

int conn_literal_chunk(struct conn *c, const char **p, size_t *n)
{
	size_t k = rd_avail(&c->r);

	if (!k) {
		ssize_t got = rd_fill(&c->r);

		if (got == 0)
			return CONN_EOF;
		if (got < 0)
			return CONN_ERR;
		k = rd_avail(&c->r);
	}
	if (k > c->lit.left)
		k = (size_t)c->lit.left;
	*p = c->r.buf + c->r.pos;
	*n = k;
	c->r.pos += k;
	c->lit.left -= k;
	return CONN_OK;
}

/* The rest of a command after a literal, thrown away, with the
 * non-synchronising literals the client sends without waiting. A
 * synchronising one ends it: the command was answered, so the client
 * sends no more of it. *more is set when anything followed. */
static int rest_drop(struct conn *c, unsigned long long total, int *more)
{
	unsigned long long size;
	size_t text = 0;
	int r, sync;

	for (;;) {
		if ((r = line_next(c, &text)) != CONN_OK)
			return r;
		if (c->line.len)
			*more = 1;
		r = imap_literal_end(c->line.s, c->line.len, &size, &sync);
		if (r == 0 || sync)
			return CONN_OK;
		if (r < 0 || total > CONN_DISCARD_MAX ||
		    size > CONN_DISCARD_MAX - total)
			return CONN_LONG;
		total += size;
		if ((r = literal_take(c, size, 0)) != CONN_OK)
			return r;
	}
}

int conn_literal_end(struct conn *c)
{
	int more = 0, r = rest_drop(c, c->lit.size, &more);

	c->lit.state = LIT_NONE;
	if (r != CONN_OK)
		return r;
	return more ? CONN_MORE : CONN_OK;
}

int conn_literal_drop(struct conn *c)
{
	int more = 0, r;

	if (c->lit.state == LIT_NONE)
		return CONN_OK;
	if (c->lit.state == LIT_PENDING && c->lit.sync) {
		/* refused before "+": the client sends nothing more */
		c->lit.state = LIT_NONE;
		return CONN_OK;
	}
	c->lit.state = LIT_NONE;
	if (c->lit.left > CONN_DISCARD_MAX)
		return CONN_LONG;
	if ((r = literal_take(c, c->lit.left, 0)) != CONN_OK)
		return r;
	return rest_drop(c, c->lit.size, &more);
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
	c->lit.state = LIT_NONE;
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
