/* SMTP reply parser for quail-remote: see remote_reply.h. */
#include <string.h>

#include "fmt.h"
#include "remote_reply.h"

#define JOIN " / "

void reply_reset(struct reply *r)
{
	r->code = 0;
	r->text.len = 0;
	r->line.len = 0;
	r->nlines = 0;
	r->done = 0;
}

void reply_free(struct reply *r)
{
	str_free(&r->text);
	str_free(&r->line);
	reply_reset(r);
}

const char *reply_error(int err)
{
	switch (err) {
	case REPLY_ELONG: return "reply line too long";
	case REPLY_EMANY: return "reply has too many lines";
	case REPLY_ESYNTAX: return "malformed reply";
	case REPLY_ECODE: return "reply lines disagree on the code";
	case REPLY_ENOMEM: return "out of memory";
	default: return "reply error";
	}
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Appends p[0..n) to the kept text, sanitised, up to REPLY_TEXT_MAX. */
static int text_add(struct str *t, const char *p, size_t n)
{
	size_t i;
	char c;

	for (i = 0; i < n && t->len < REPLY_TEXT_MAX; i++) {
		c = p[i];
		if ((unsigned char)c < 0x20 || (unsigned char)c > 0x7e)
			c = '?';
		if (!str_catc(t, c))
			return 0;
	}
	return 1;
}

/* One whole line, without its terminator: 1 the reply goes on, 0 it
 * ended here, or an error. */
static int line_take(struct reply *r, const char *p, size_t n)
{
	int code;

	if (n < 3 || !is_digit(p[0]) || !is_digit(p[1]) || !is_digit(p[2]))
		return REPLY_ESYNTAX;
	if (n > 3 && p[3] != ' ' && p[3] != '-')
		return REPLY_ESYNTAX;
	code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	if (code < 200 || code > 599)
		return REPLY_ESYNTAX;
	if (r->nlines && code != r->code)
		return REPLY_ECODE;
	if (++r->nlines > REPLY_LINES_MAX)
		return REPLY_EMANY;
	r->code = code;
	if (r->nlines > 1 && !text_add(&r->text, JOIN, sizeof JOIN - 1))
		return REPLY_ENOMEM;
	if (!text_add(&r->text, p, n))
		return REPLY_ENOMEM;
	if (r->ehlo && r->nlines > 1 && n > 4)
		ehlo_line(r->ehlo, p + 4, n - 4);
	return n > 3 && p[3] == '-';
}

int reply_feed(struct reply *r, const char *p, size_t n, size_t *used)
{
	size_t i = 0, k, len;
	int rc;

	while (i < n) {
		k = byte_chr(p + i, n - i, '\n');
		len = k;
		if (__builtin_add_overflow(r->line.len, len, &len) ||
		    len >= REPLY_LINE_MAX)
			return REPLY_ELONG;
		if (!str_catb(&r->line, p + i, k))
			return REPLY_ENOMEM;
		if (i + k == n) {
			*used = n;
			return REPLY_MORE;
		}
		i += k + 1;
		len = r->line.len;
		if (len && r->line.s[len - 1] == '\r')
			len--;
		rc = line_take(r, r->line.s, len);
		r->line.len = 0;
		if (rc < 0)
			return rc;
		if (rc == 0) {
			r->done = 1;
			*used = i;
			return REPLY_DONE;
		}
	}
	*used = n;
	return REPLY_MORE;
}

/* The first word of p[0..n) is kw, whole, ignoring case. */
static int word_is(const char *p, size_t n, const char *kw)
{
	size_t k = strlen(kw);

	return n >= k && case_eqb(p, kw, k) && (n == k || p[k] == ' ' ||
	                                        p[k] == '=');
}

static void ehlo_auth(struct ehlo *e, const char *p, size_t n)
{
	size_t i = 0, k;

	while (i < n) {
		while (i < n && (p[i] == ' ' || p[i] == '='))
			i++;
		k = i;
		while (k < n && p[k] != ' ')
			k++;
		if (k - i == 5 && case_eqb(p + i, "PLAIN", 5))
			e->auth_plain = 1;
		if (k - i == 5 && case_eqb(p + i, "LOGIN", 5))
			e->auth_login = 1;
		i = k;
	}
}

void ehlo_line(struct ehlo *e, const char *p, size_t n)
{
	unsigned long long v;

	if (word_is(p, n, "PIPELINING"))
		e->pipelining = 1;
	else if (word_is(p, n, "8BITMIME"))
		e->eightbit = 1;
	else if (word_is(p, n, "STARTTLS"))
		e->starttls = 1;
	else if (word_is(p, n, "AUTH"))
		ehlo_auth(e, p + 4, n - 4);
	else if (word_is(p, n, "SIZE")) {
		e->size = 1;
		if (n > 5 && scan_ulong(p + 5, n - 5, &v))
			e->size_max = v;
	}
}
