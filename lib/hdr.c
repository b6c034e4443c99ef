/* RFC 5322 headers: a push parser for the fields and an address-list
 * parser for To, Cc, Bcc and the like. See hdr.h for what is accepted. */
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "hdr.h"

enum { S_BOL, S_NAME, S_NAMEWSP, S_VALUE, S_DONE };

/* What one byte did to the header: taken, ended it (taken), or ended it
 * by starting the body (not taken). Errors are HDR_ codes >= HDR_TOOBIG. */
enum { STEP_OK = -1, STEP_END = -2, STEP_BODY = -3 };

void hdr_init(struct hdr *h)
{
	memset(h, 0, sizeof *h);
	h->max = HDR_MAX;
	h->maxfields = HDR_FIELDS_MAX;
	h->state = S_BOL;
}

void hdr_free(struct hdr *h)
{
	str_free(&h->text);
	free(h->field);
	h->field = 0;
	h->nfield = h->fcap = 0;
}

static int is_ftext(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

static int is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static int put(struct hdr *h, char c)
{
	if (h->text.len >= h->max)
		return HDR_TOOBIG;
	if (!str_catc(&h->text, c))
		return HDR_NOMEM;
	return STEP_OK;
}

static int field_new(struct hdr *h)
{
	struct hdr_field *f;
	size_t cap, bytes;

	if (h->nfield >= h->maxfields)
		return HDR_TOOMANY;
	if (h->nfield == h->fcap) {
		cap = h->fcap ? h->fcap : 16;
		if (__builtin_mul_overflow(cap, 2, &cap) ||
		    __builtin_mul_overflow(cap, sizeof *f, &bytes))
			return HDR_NOMEM;
		f = realloc(h->field, bytes);
		if (!f)
			return HDR_NOMEM;
		h->field = f;
		h->fcap = cap;
	}
	f = &h->field[h->nfield++];
	f->pos = h->line;
	f->namelen = h->state == S_NAME ? h->text.len - h->line : h->nlen;
	f->value = h->text.len + 1;
	f->valuelen = 0;
	f->len = f->value - f->pos;
	return STEP_OK;
}

static int body(struct hdr *h)
{
	h->len = h->line;
	h->state = S_DONE;
	return STEP_BODY;
}

static int bol(struct hdr *h, char c)
{
	h->line = h->text.len;
	if (c == '\n') {
		h->blank = 1;
		h->len = h->text.len;
		h->state = S_DONE;
		return STEP_END;
	}
	if (is_wsp(c) && h->nfield) {
		h->state = S_VALUE;
		return put(h, c);
	}
	if (!is_ftext((unsigned char)c))
		return body(h);
	h->state = S_NAME;
	return put(h, c);
}

static int step(struct hdr *h, char c)
{
	struct hdr_field *f;
	int r;

	switch (h->state) {
	case S_BOL:
		return bol(h, c);
	case S_NAME:
		if (is_ftext((unsigned char)c) && h->text.len - h->line < HDR_NAME_MAX)
			return put(h, c);
		if (is_wsp(c)) {
			h->nlen = h->text.len - h->line;
			h->state = S_NAMEWSP;
			return put(h, c);
		}
		break;
	case S_NAMEWSP:
		if (is_wsp(c))
			return put(h, c);
		break;
	case S_VALUE:
		if ((r = put(h, c)) != STEP_OK)
			return r;
		if (c == '\n') {
			f = &h->field[h->nfield - 1];
			f->len = h->text.len - f->pos;
			f->valuelen = h->text.len - 1 - f->value;
			h->state = S_BOL;
			h->line = h->text.len;
		}
		return STEP_OK;
	default:
		return STEP_END;
	}
	if (c != ':')
		return body(h);
	if ((r = field_new(h)) != STEP_OK || (r = put(h, c)) != STEP_OK)
		return r;
	h->state = S_VALUE;
	return STEP_OK;
}

/* A CR was held back to see whether LF follows; c is not LF, so the CR
 * was a lone one and counts as an ordinary byte. When it starts the body
 * it has to go into text, since the caller consumed it earlier. */
static int lone_cr(struct hdr *h)
{
	int r = step(h, '\r');

	if (r == STEP_BODY && !str_catc(&h->text, '\r'))
		return HDR_NOMEM;
	return r;
}

static int fail(struct hdr *h, int err)
{
	h->err = err;
	return err;
}

int hdr_feed(struct hdr *h, const char *p, size_t n, size_t *used)
{
	size_t i;
	int r;

	*used = 0;
	if (h->err)
		return h->err;
	if (h->state == S_DONE)
		return HDR_DONE;
	for (i = 0; i < n; i++) {
		char c = p[i];

		if (h->cr) {
			h->cr = 0;
			if (c != '\n') {
				r = lone_cr(h);
				if (r == STEP_BODY) {
					*used = i;
					return HDR_DONE;
				}
				if (r >= 0)
					return fail(h, r);
			}
		}
		if (c == '\r') {
			h->cr = 1;
			continue;
		}
		r = step(h, c);
		if (r == STEP_OK)
			continue;
		if (r >= 0)
			return fail(h, r);
		/* a body that starts with the LF of a CRLF loses the CR:
		 * the same as storing the CRLF as LF */
		*used = r == STEP_END ? i + 1 : i;
		return HDR_DONE;
	}
	*used = n;
	return HDR_MORE;
}

int hdr_end(struct hdr *h)
{
	int r;

	if (h->err)
		return h->err;
	if (h->cr) {
		/* a CR at the very end stands for the line end it began */
		h->cr = 0;
		r = step(h, '\n');
		if (r == STEP_BODY && !str_catc(&h->text, '\n'))
			r = HDR_NOMEM;
		if (r >= 0)
			return fail(h, r);
	}
	switch (h->state) {
	case S_NAME:
	case S_NAMEWSP:
		body(h);
		break;
	case S_VALUE:
		if ((r = step(h, '\n')) >= 0)
			return fail(h, r);
		/* fall through */
	case S_BOL:
		h->len = h->text.len;
		h->state = S_DONE;
		break;
	}
	return HDR_DONE;
}

int hdr_parse(struct hdr *h, const char *p, size_t n, size_t *used)
{
	int r = hdr_feed(h, p, n, used);

	return r == HDR_MORE ? hdr_end(h) : r;
}

int hdr_read(struct hdr *h, struct rd *r)
{
	size_t used;
	ssize_t got;
	int st;

	for (;;) {
		if (!rd_avail(r)) {
			got = rd_fill(r);
			if (got == 0)
				return hdr_end(h);
			if (got < 0)
				return HDR_IO;
		}
		st = hdr_feed(h, r->buf + r->pos, rd_avail(r), &used);
		r->pos += used;
		if (st != HDR_MORE)
			return st;
	}
}

const char *hdr_error(int e)
{
	switch (e) {
	case HDR_DONE:
		return "ok";
	case HDR_MORE:
		return "header incomplete";
	case HDR_TOOBIG:
		return "header too large";
	case HDR_TOOMANY:
		return "too many header fields";
	case HDR_NOMEM:
		return "out of memory";
	case HDR_IO:
		return "read error";
	}
	return "unknown error";
}

int hdr_is(const struct hdr *h, size_t i, const char *name)
{
	const struct hdr_field *f = &h->field[i];
	size_t n = strlen(name);

	return f->namelen == n && case_eqb(h->text.s + f->pos, name, n);
}

size_t hdr_find(const struct hdr *h, const char *name, size_t from)
{
	for (; from < h->nfield; from++)
		if (hdr_is(h, from, name))
			return from;
	return h->nfield;
}

int hdr_unfold(const struct hdr *h, size_t i, struct str *out)
{
	const char *v = h->text.s + h->field[i].value;
	size_t n = h->field[i].valuelen, a = 0, k;

	out->len = 0;
	while (a < n && (is_wsp(v[a]) || v[a] == '\n'))
		a++;
	while (n > a && (is_wsp(v[n - 1]) || v[n - 1] == '\n'))
		n--;
	while (a < n) {
		/* every LF inside a value is a fold: it is followed by WSP */
		k = a + byte_chr(v + a, n - a, '\n');
		if (!str_catb(out, v + a, k - a))
			return 0;
		a = k + 1;
	}
	return 1;
}

/* Address lists. A small lexer turns the value into tokens, skipping
 * white space, line breaks and comments; the parser works on tokens. */

enum { T_END, T_ATOM, T_QUOTED, T_LITERAL, T_SPECIAL, T_BAD };

struct lex {
	const char *p;
	size_t n, i;
};

struct tok {
	int type;
	char c;                 /* T_SPECIAL */
	size_t pos, len;        /* T_ATOM; T_QUOTED inside the quotes;
	                         * T_LITERAL with the brackets */
};

static int is_atext(unsigned char c)
{
	if (c >= 0x80)
		return 1;
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c && strchr("!#$%&'*+-/=?^_`{|}~", c) != 0;
}

/* Skips white space and comments: 1 ok, 0 an unclosed comment. */
static int lex_cfws(struct lex *l)
{
	size_t depth;

	while (l->i < l->n) {
		char c = l->p[l->i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			l->i++;
			continue;
		}
		if (c != '(')
			return 1;
		depth = 0;
		do {
			c = l->p[l->i++];
			if (c == '\\')
				l->i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
		} while (depth && l->i < l->n);
		if (depth || l->i > l->n)
			return 0;
	}
	return 1;
}

/* Scans a quoted string or domain literal from its opening byte to the
 * closing one; quoted-pairs only in quoted strings. */
static int lex_span(struct lex *l, struct tok *t, char close, int type)
{
	size_t j = l->i + 1;

	for (; j < l->n && l->p[j] != close; j++) {
		if (l->p[j] == 0)
			return T_BAD;
		if (type == T_QUOTED && l->p[j] == '\\')
			j++;
		else if (type == T_LITERAL && (l->p[j] == '[' || l->p[j] == '\\'))
			return T_BAD;
	}
	if (j >= l->n)
		return T_BAD;
	if (type == T_QUOTED) {
		t->pos = l->i + 1;
		t->len = j - t->pos;
	} else {
		t->pos = l->i;
		t->len = j + 1 - t->pos;
	}
	l->i = j + 1;
	return type;
}

static int lex_next(struct lex *l, struct tok *t)
{
	unsigned char c;
	size_t j;

	t->type = T_BAD;
	if (!lex_cfws(l))
		return T_BAD;
	if (l->i >= l->n)
		return t->type = T_END;
	c = (unsigned char)l->p[l->i];
	if (c == '"')
		return t->type = lex_span(l, t, '"', T_QUOTED);
	if (c == '[')
		return t->type = lex_span(l, t, ']', T_LITERAL);
	if (c && strchr("<>:;,@.", c)) {
		t->c = (char)c;
		l->i++;
		return t->type = T_SPECIAL;
	}
	if (!is_atext(c))
		return T_BAD;
	for (j = l->i; j < l->n && is_atext((unsigned char)l->p[j]); j++)
		;
	t->pos = l->i;
	t->len = j - l->i;
	l->i = j;
	return t->type = T_ATOM;
}

static int is_special(const struct tok *t, char c)
{
	return t->type == T_SPECIAL && t->c == c;
}

/* The parser's state: where it reads and where it writes. */
struct alist {
	struct lex l;
	struct str *out;
	size_t count;
	struct str local;       /* scratch: a local part being built */
};

/* 1 when p[0..n) is a dot-atom: atext runs joined by single dots. */
static int is_dot_atom(const char *p, size_t n)
{
	size_t i;

	if (!n || p[0] == '.' || p[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		if (p[i] == '.' && p[i + 1] == '.')
			return 0;
		if (p[i] != '.' && !is_atext((unsigned char)p[i]))
			return 0;
	}
	return 1;
}

/* Appends word t of a local part, decoded, to a->local. */
static int local_word(struct alist *a, const struct tok *t)
{
	const char *p = a->l.p + t->pos;
	size_t i;

	if (t->type == T_ATOM)
		return str_catb(&a->local, p, t->len) ? HDR_ADDR_OK : HDR_ADDR_NOMEM;
	for (i = 0; i < t->len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\\')
			c = (unsigned char)p[++i];
		else if (c == '\r' || c == '\n')
			continue;       /* folding inside the quotes */
		/* an envelope address carries no control bytes */
		if (c < 32 || c == 127)
			return HDR_ADDR_SYNTAX;
		if (!str_catc(&a->local, (char)c))
			return HDR_ADDR_NOMEM;
	}
	return HDR_ADDR_OK;
}

/* Writes a->local to out as a dot-atom, or quoted when it is not one. */
static int local_put(struct alist *a)
{
	const struct str *s = &a->local;
	size_t i;
	int ok = 1;

	if (is_dot_atom(s->s, s->len))
		return str_catb(a->out, s->s, s->len);
	ok = str_catc(a->out, '"');
	for (i = 0; ok && i < s->len; i++) {
		if (s->s[i] == '"' || s->s[i] == '\\')
			ok = str_catc(a->out, '\\');
		ok = ok && str_catc(a->out, s->s[i]);
	}
	return ok && str_catc(a->out, '"');
}

/* domain = dot-atom / domain-literal, after the '@'. Leaves in *t the
 * token after it. */
static int domain_put(struct alist *a, struct tok *t)
{
	const char *p;
	size_t i;

	if (lex_next(&a->l, t) == T_LITERAL) {
		p = a->l.p + t->pos;
		for (i = 0; i < t->len; i++) {
			unsigned char c = (unsigned char)p[i];

			if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
				continue;
			if (c < 32 || c >= 127)
				return HDR_ADDR_SYNTAX;
			if (!str_catc(a->out, (char)c))
				return HDR_ADDR_NOMEM;
		}
		lex_next(&a->l, t);
		return HDR_ADDR_OK;
	}
	for (;;) {
		if (t->type != T_ATOM)
			return HDR_ADDR_SYNTAX;
		if (!str_catb(a->out, a->l.p + t->pos, t->len))
			return HDR_ADDR_NOMEM;
		if (lex_next(&a->l, t) != T_SPECIAL || t->c != '.')
			return HDR_ADDR_OK;
		if (!str_catc(a->out, '.'))
			return HDR_ADDR_NOMEM;
		lex_next(&a->l, t);
	}
}

/* addr-spec = local-part ["@" domain], the first token in *t; leaves in
 * *t the token after it and appends the address and its NUL to out. */
static int addr_spec(struct alist *a, struct tok *t)
{
	size_t start = a->out->len;
	int r;

	a->local.len = 0;
	for (;;) {
		if (t->type != T_ATOM && t->type != T_QUOTED)
			return HDR_ADDR_SYNTAX;
		if ((r = local_word(a, t)) != HDR_ADDR_OK)
			return r;
		if (lex_next(&a->l, t) != T_SPECIAL || t->c != '.')
			break;
		if (!str_catc(&a->local, '.'))
			return HDR_ADDR_NOMEM;
		lex_next(&a->l, t);
	}
	if (!a->local.len || !local_put(a))
		return a->local.len ? HDR_ADDR_NOMEM : HDR_ADDR_SYNTAX;
	if (is_special(t, '@')) {
		if (!str_catc(a->out, '@'))
			return HDR_ADDR_NOMEM;
		if ((r = domain_put(a, t)) != HDR_ADDR_OK)
			return r;
	}
	if (a->out->len - start > HDR_ADDR_MAX)
		return HDR_ADDR_LONG;
	if (!str_catc(a->out, 0))
		return HDR_ADDR_NOMEM;
	a->count++;
	return HDR_ADDR_OK;
}

/* After '<': [route ":"] addr-spec ">". The route ("@a,@b:") is dropped,
 * as RFC 5321 C allows. Leaves in *t the token after '>'. */
static int angle_addr(struct alist *a, struct tok *t)
{
	size_t mark;
	int r;

	lex_next(&a->l, t);
	if (is_special(t, '@')) {
		mark = a->out->len;
		for (;;) {
			/* parse each hop as a domain, then forget it */
			if ((r = domain_put(a, t)) != HDR_ADDR_OK)
				return r;
			a->out->len = mark;
			while (is_special(t, ','))
				lex_next(&a->l, t);
			if (!is_special(t, '@'))
				break;
		}
		if (!is_special(t, ':'))
			return HDR_ADDR_SYNTAX;
		lex_next(&a->l, t);
	}
	if ((r = addr_spec(a, t)) != HDR_ADDR_OK)
		return r;
	if (!is_special(t, '>'))
		return HDR_ADDR_SYNTAX;
	lex_next(&a->l, t);
	return HDR_ADDR_OK;
}

/* What ends the phrase (display name) at the lexer's position, without
 * moving it: '<', ':' or something else. Phrases are lenient: words,
 * dots and even '@' ("a@b <a@b>", seen in the wild) may make them up. */
static char phrase_end(struct alist *a)
{
	struct lex save = a->l;
	struct tok t;
	int n = 0;

	for (;;) {
		lex_next(&a->l, &t);
		if (t.type == T_ATOM || t.type == T_QUOTED ||
		    t.type == T_LITERAL || is_special(&t, '.') ||
		    is_special(&t, '@')) {
			n++;
			continue;
		}
		break;
	}
	a->l = save;
	if (is_special(&t, '<'))
		return '<';
	if (is_special(&t, ':') && n)
		return ':';
	return 0;
}

/* mailbox = name-addr / addr-spec, starting at the lexer's position;
 * leaves in *t the token after it. */
static int mailbox(struct alist *a, struct tok *t, int ingroup, int *group)
{
	char end = phrase_end(a);

	*group = 0;
	if (end == ':' && ingroup)
		return HDR_ADDR_SYNTAX;         /* groups do not nest */
	if (end) {
		do
			lex_next(&a->l, t);
		while (!is_special(t, end));
		if (end == ':') {
			*group = 1;     /* the caller reads on after the ':' */
			return HDR_ADDR_OK;
		}
		return angle_addr(a, t);
	}
	lex_next(&a->l, t);
	return addr_spec(a, t);
}

static int group_list(struct alist *a, struct tok *t)
{
	size_t at;
	int r, g;

	for (;;) {
		at = a->l.i;
		lex_next(&a->l, t);
		/* a group may lack its ';' at the very end ("To: list:"),
		 * as many mailers write it */
		if (t->type == T_END)
			return HDR_ADDR_OK;
		if (is_special(t, ','))
			continue;
		if (t->type == T_BAD)
			return HDR_ADDR_SYNTAX;
		if (!is_special(t, ';')) {
			a->l.i = at;
			if ((r = mailbox(a, t, 1, &g)) != HDR_ADDR_OK)
				return r;
			if (t->type == T_END)
				return HDR_ADDR_OK;
			if (is_special(t, ','))
				continue;
			if (!is_special(t, ';'))
				return HDR_ADDR_SYNTAX;
		}
		lex_next(&a->l, t);
		return HDR_ADDR_OK;
	}
}

static int list(struct alist *a)
{
	struct tok t;
	size_t at;
	int r, g;

	for (;;) {
		at = a->l.i;
		lex_next(&a->l, &t);
		if (t.type == T_END)
			return HDR_ADDR_OK;
		if (is_special(&t, ','))
			continue;
		if (t.type == T_BAD)
			return HDR_ADDR_SYNTAX;
		a->l.i = at;
		if ((r = mailbox(a, &t, 0, &g)) != HDR_ADDR_OK)
			return r;
		if (g && (r = group_list(a, &t)) != HDR_ADDR_OK)
			return r;
		if (t.type == T_END)
			return HDR_ADDR_OK;
		if (!is_special(&t, ','))
			return HDR_ADDR_SYNTAX;
	}
}

int hdr_addrlist(const char *v, size_t n, struct str *out, size_t *count)
{
	struct alist a;
	size_t mark = out->len;
	int r;

	a.l.p = v;
	a.l.n = n;
	a.l.i = 0;
	a.out = out;
	a.count = 0;
	a.local.s = 0;
	a.local.len = a.local.cap = 0;
	r = list(&a);
	str_free(&a.local);
	if (r != HDR_ADDR_OK) {
		out->len = mark;
		return r;
	}
	*count += a.count;
	return HDR_ADDR_OK;
}

const char *hdr_addr_error(int e)
{
	switch (e) {
	case HDR_ADDR_OK:
		return "ok";
	case HDR_ADDR_SYNTAX:
		return "address list syntax error";
	case HDR_ADDR_LONG:
		return "address too long";
	case HDR_ADDR_NOMEM:
		return "out of memory";
	}
	return "unknown error";
}
