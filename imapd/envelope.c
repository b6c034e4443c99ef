/* ENVELOPE and BODYSTRUCTURE text (RFC 3501 7.4.2) from the structure
 * mime.c finds. */
#include <string.h>

#include "fmt.h"
#include "mime.h"

static int quotable(const char *p, size_t n)
{
	size_t i;

	if (n > 4096)
		return 0;
	for (i = 0; i < n; i++)
		if (p[i] == 0 || p[i] == '\r' || p[i] == '\n' ||
		    (unsigned char)p[i] >= 0x80)
			return 0;
	return 1;
}

int mime_nstring(struct str *out, const char *p, size_t n)
{
	size_t i;

	if (!p)
		return str_cats(out, "NIL");
	if (!quotable(p, n))
		return str_catc(out, '{') && str_catu(out, n) &&
		       str_catb(out, "}\r\n", 3) && str_catb(out, p, n);
	if (!str_catc(out, '"'))
		return 0;
	/* runs between the bytes to escape go in whole */
	for (i = 0; i < n; i++) {
		size_t k = i;

		while (k < n && p[k] != '"' && p[k] != '\\')
			k++;
		if (!str_catb(out, p + i, k - i))
			return 0;
		if (k < n && (!str_catc(out, '\\') || !str_catc(out, p[k])))
			return 0;
		i = k;
	}
	return str_catc(out, '"');
}

static int hdr_nstring(const char *h, size_t n, const char *name,
                       struct str *out, struct str *tmp)
{
	int r = mime_header(h, n, name, tmp);

	if (r < 0)
		return 0;
	return mime_nstring(out, r ? tmp->s ? tmp->s : "" : 0, tmp->len);
}

/* -- addresses -------------------------------------------------------- */

struct addr {
	struct str name, spec;  /* display name; local@domain */
};

/* A word (atom, quoted string, domain literal, or one special) appended
 * to w; returns the special char, or 0 for a word, or -1 at the end. */
static int word(const char *p, size_t n, size_t *i, struct str *w, int *ok)
{
	size_t start;
	char c;

	mime_skip_cfws(p, n, i);
	if (*i >= n)
		return -1;
	c = p[*i];
	if (strchr("<>,;:@.", c)) {
		(*i)++;
		return c;
	}
	if (c == '"') {
		for ((*i)++; *i < n && p[*i] != '"'; (*i)++) {
			if (p[*i] == '\\' && *i + 1 < n)
				(*i)++;
			if (!str_catc(w, p[*i]))
				*ok = 0;
		}
		if (*i < n)
			(*i)++;
		return 0;
	}
	if (c == '[') {
		while (*i < n && p[*i] != ']')
			if (!str_catc(w, p[(*i)++]))
				*ok = 0;
		if (*i < n && !str_catc(w, p[(*i)++]))
			*ok = 0;
		return 0;
	}
	start = *i;
	while (*i < n && !strchr("<>,;:@.\"()[] \t\r\n", p[*i]))
		(*i)++;
	if (!str_catb(w, p + start, *i - start))
		*ok = 0;
	if (c == ')' || c == ']')
		(*i)++;         /* stray: skip it */
	return 0;
}

static int put_addr(struct str *o, const char *name, size_t nl,
                    const char *spec, size_t sl)
{
	size_t at = sl;
	size_t k;

	for (k = sl; k > 0; k--)
		if (spec[k - 1] == '@') {
			at = k - 1;
			break;
		}
	return str_catc(o, '(') && mime_nstring(o, nl ? name : 0, nl) &&
	       str_cats(o, " NIL ") && mime_nstring(o, spec, at) &&
	       str_catc(o, ' ') &&
	       mime_nstring(o, at < sl ? spec + at + 1 : 0,
	                    at < sl ? sl - at - 1 : 0) &&
	       str_catc(o, ')');
}

/* Reads one mailbox, group start or group end; appends its address
 * text. */
static int addr_one(const char *p, size_t n, size_t *i, struct str *o,
                    int *ingroup, struct addr *a, int *count)
{
	struct str w = STR_ZERO;
	int c, ok = 1, angle = 0, r = 1;

	a->name.len = a->spec.len = 0;
	for (;;) {
		w.len = 0;
		c = word(p, n, i, &w, &ok);
		if (c == 0) {
			struct str *t = angle ? &a->spec : &a->name;

			if (t->len && !angle && !str_catc(t, ' '))
				ok = 0;
			if (!str_catb(t, w.s, w.len))
				ok = 0;
			continue;
		}
		if (c == '<') {
			angle = 1;
			continue;
		}
		if (angle && (c == '@' || c == '.')) {
			if (!str_catc(&a->spec, (char)c))
				ok = 0;
			continue;
		}
		if (angle && c == ':') {
			a->spec.len = 0;        /* "<@route:a@b>": drop the route */
			continue;
		}
		if (angle && c == '>') {
			angle = 2;
			continue;
		}
		if (!angle && (c == '@' || c == '.')) {
			/* an addr-spec without angles: the "name" is the spec */
			if (!str_catc(&a->name, (char)c))
				ok = 0;
			continue;
		}
		if (c == ':' && !*ingroup && !angle) {
			*ingroup = 1;
			r = ok && str_cats(o, "(NIL NIL ") &&
			    mime_nstring(o, a->name.s ? a->name.s : "", a->name.len) &&
			    str_cats(o, " NIL)");
			a->name.len = 0;
			continue;
		}
		break;
	}
	if (angle && ok)
		r = put_addr(o, a->name.s, a->name.len, a->spec.s, a->spec.len);
	else if (a->name.len && ok) {
		/* a bare addr-spec: the words were joined with spaces */
		struct str sp = STR_ZERO;
		size_t k;

		for (k = 0; k < a->name.len; k++)
			if (a->name.s[k] != ' ' && !str_catc(&sp, a->name.s[k]))
				ok = 0;
		r = ok && put_addr(o, 0, 0, sp.s, sp.len);
		str_free(&sp);
	} else {
		r = r && ok;
		(*count)--;
	}
	(*count)++;
	if (c == ';' && *ingroup) {
		*ingroup = 0;
		r = r && str_cats(o, "(NIL NIL NIL NIL)");
	}
	str_free(&w);
	return c < 0 ? (r ? -1 : 0) : r;
}

static int addr_list(const char *h, size_t n, const char *name,
                     struct str *o, struct str *tmp)
{
	struct addr a = { STR_ZERO, STR_ZERO };
	size_t i = 0, mark;
	int r = mime_header(h, n, name, tmp), ingroup = 0, count = 0;

	if (r < 0)
		return 0;
	if (r == 0 || tmp->len == 0)
		return str_cats(o, "NIL");
	if (!str_catc(o, '('))
		return 0;
	mark = o->len;
	for (;;) {
		r = addr_one(tmp->s, tmp->len, &i, o, &ingroup, &a, &count);
		if (r == 0) {
			str_free(&a.name);
			str_free(&a.spec);
			return 0;
		}
		if (r < 0 || i >= tmp->len)
			break;
	}
	str_free(&a.name);
	str_free(&a.spec);
	if (o->len == mark) {
		o->len = mark - 1;
		return str_cats(o, "NIL");
	}
	return str_catc(o, ')');
}

/* The fields an ENVELOPE is made of, NUL after each, for mime_fields. */
#define ENVELOPE_FIELDS "Date\0Subject\0From\0Sender\0Reply-To\0To\0Cc\0" \
	"Bcc\0In-Reply-To\0Message-ID"
#define ENVELOPE_NFIELDS 10

static int envelope_of(const char *h, size_t n, struct str *out)
{
	struct str t = STR_ZERO, tmp = STR_ZERO;
	int ok;
	const char *from;

	if (mime_header(h, n, "Sender", &tmp) > 0 && tmp.len)
		from = "Sender";
	else
		from = "From";
	ok = str_catc(out, '(') && hdr_nstring(h, n, "Date", out, &t) &&
	     str_catc(out, ' ') && hdr_nstring(h, n, "Subject", out, &t) &&
	     str_catc(out, ' ') && addr_list(h, n, "From", out, &t) &&
	     str_catc(out, ' ') && addr_list(h, n, from, out, &t) &&
	     str_catc(out, ' ');
	if (ok && mime_header(h, n, "Reply-To", &tmp) > 0 && tmp.len)
		ok = addr_list(h, n, "Reply-To", out, &t);
	else if (ok)
		ok = addr_list(h, n, "From", out, &t);
	ok = ok && str_catc(out, ' ') && addr_list(h, n, "To", out, &t) &&
	     str_catc(out, ' ') && addr_list(h, n, "Cc", out, &t) &&
	     str_catc(out, ' ') && addr_list(h, n, "Bcc", out, &t) &&
	     str_catc(out, ' ') && hdr_nstring(h, n, "In-Reply-To", out, &t) &&
	     str_catc(out, ' ') && hdr_nstring(h, n, "Message-ID", out, &t) &&
	     str_catc(out, ')');
	str_free(&t);
	str_free(&tmp);
	return ok;
}

/* A dozen lookups each walk the header: walk it once to pick out the
 * fields they can find, then look them up in that. The first field of
 * each name is the same there, so the answer is too. */
int mime_envelope(const char *h, size_t n, struct str *out)
{
	struct str f = STR_ZERO;
	int ok = mime_fields(h, n, ENVELOPE_FIELDS, ENVELOPE_NFIELDS, 1, &f) &&
	         envelope_of(f.s, f.len, out);

	str_free(&f);
	return ok;
}

/* -- BODYSTRUCTURE ---------------------------------------------------- */

static size_t lines(const char *p, size_t n)
{
	const char *e = p + n, *q = p;
	size_t k = 0;

	/* memchr: a large body's line count is most of BODYSTRUCTURE */
	while (q < e && (q = memchr(q, '\n', (size_t)(e - q))) != 0) {
		k++;
		q++;
	}
	return k + (n && p[n - 1] != '\n');
}

struct ct {
	struct str v;           /* the unfolded Content-Type */
	const char *type, *sub, *params;
	size_t tlen, slen, plen;
};

/* "type/subtype; params" split; defaults text/plain (or message/rfc822
 * in a digest is not tracked here: the parser already chose the kind). */
static int ct_read(const char *h, size_t n, const char *field, struct ct *c)
{
	size_t i = 0, s;
	int r = mime_header(h, n, field, &c->v);

	c->type = c->sub = c->params = 0;
	c->tlen = c->slen = c->plen = 0;
	if (r <= 0)
		return r < 0 ? -1 : 0;
	mime_skip_cfws(c->v.s, c->v.len, &i);
	s = i;
	while (i < c->v.len && !strchr("/; \t", c->v.s[i]))
		i++;
	c->type = c->v.s + s;
	c->tlen = i - s;
	if (i < c->v.len && c->v.s[i] == '/') {
		s = ++i;
		while (i < c->v.len && !strchr("; \t(", c->v.s[i]))
			i++;
		c->sub = c->v.s + s;
		c->slen = i - s;
	}
	c->params = c->v.s + i;
	c->plen = c->v.len - i;
	return 1;
}

/* ("attr" "value" ...) or NIL */
static int put_params(struct str *o, const char *p, size_t n)
{
	size_t i = 0, mark = o->len;
	int any = 0;

	if (!str_catc(o, '('))
		return 0;
	while (i < n) {
		size_t as, ae, vs;
		struct str v = STR_ZERO;

		while (i < n && p[i] != ';')
			i++;
		if (i >= n)
			break;
		i++;
		mime_skip_cfws(p, n, &i);
		as = i;
		while (i < n && !strchr("=; \t", p[i]))
			i++;
		ae = i;
		mime_skip_cfws(p, n, &i);
		if (ae == as || i >= n || p[i] != '=')
			continue;
		i++;
		mime_skip_cfws(p, n, &i);
		vs = i;
		if (i < n && p[i] == '"') {
			for (i++; i < n && p[i] != '"'; i++) {
				if (p[i] == '\\' && i + 1 < n)
					i++;
				if (!str_catc(&v, p[i]))
					return 0;
			}
			if (i < n)
				i++;
		} else {
			while (i < n && !strchr("; \t", p[i]))
				i++;
			if (!str_catb(&v, p + vs, i - vs))
				return 0;
		}
		if ((any++ && !str_catc(o, ' ')) ||
		    !mime_nstring(o, p + as, ae - as) || !str_catc(o, ' ') ||
		    !mime_nstring(o, v.s ? v.s : "", v.len)) {
			str_free(&v);
			return 0;
		}
		str_free(&v);
	}
	if (!any) {
		o->len = mark;
		return str_cats(o, "NIL");
	}
	return str_catc(o, ')');
}

/* Content-Disposition, Content-Language, Content-Location */
static int put_ext(struct str *o, const char *h, size_t n)
{
	struct ct d = { STR_ZERO, 0, 0, 0, 0, 0, 0 };
	struct str t = STR_ZERO;
	int r = ct_read(h, n, "Content-Disposition", &d), ok = 1;

	if (r < 0)
		ok = 0;
	else if (r == 0 || !d.tlen)
		ok = str_cats(o, " NIL");
	else
		ok = str_cats(o, " (") && mime_nstring(o, d.type, d.tlen) &&
		     str_catc(o, ' ') && put_params(o, d.params, d.plen) &&
		     str_catc(o, ')');
	ok = ok && str_catc(o, ' ') &&
	     hdr_nstring(h, n, "Content-Language", o, &t) &&
	     str_catc(o, ' ') && hdr_nstring(h, n, "Content-Location", o, &t);
	str_free(&d.v);
	str_free(&t);
	return ok;
}

static int leaf(const struct mime *m, size_t i, int ext, struct str *o)
{
	const struct mime_ent *e = &m->e[i];
	const char *h = m->t + e->start;
	struct ct c = { STR_ZERO, 0, 0, 0, 0, 0, 0 };
	struct str t = STR_ZERO;
	int ok, text;

	if (ct_read(h, e->hdrlen, "Content-Type", &c) < 0)
		return 0;
	if (!c.tlen || !c.slen) {
		c.type = e->kind == MIME_MESSAGE ? "message" : "text";
		c.tlen = strlen(c.type);
		c.sub = e->kind == MIME_MESSAGE ? "rfc822" : "plain";
		c.slen = strlen(c.sub);
		if (e->kind != MIME_MESSAGE && !c.plen) {
			c.params = "; charset=us-ascii";
			c.plen = strlen(c.params);
		}
	}
	text = c.tlen == 4 && case_eqb(c.type, "text", 4);
	ok = str_catc(o, '(') && mime_nstring(o, c.type, c.tlen) &&
	     str_catc(o, ' ') && mime_nstring(o, c.sub, c.slen) &&
	     str_catc(o, ' ') && put_params(o, c.params, c.plen) &&
	     str_catc(o, ' ') && hdr_nstring(h, e->hdrlen, "Content-ID", o, &t) &&
	     str_catc(o, ' ') &&
	     hdr_nstring(h, e->hdrlen, "Content-Description", o, &t) &&
	     str_catc(o, ' ');
	if (ok && mime_header(h, e->hdrlen, "Content-Transfer-Encoding", &t) > 0 &&
	    t.len)
		ok = mime_nstring(o, t.s, t.len);
	else if (ok)
		ok = str_cats(o, "\"7BIT\"");
	ok = ok && str_catc(o, ' ') && str_catu(o, e->bodylen);
	if (ok && e->kind == MIME_MESSAGE) {
		const struct mime_ent *c2 = &m->e[e->child - 1];

		ok = str_catc(o, ' ') &&
		     mime_envelope(m->t + c2->start, c2->hdrlen, o) &&
		     str_catc(o, ' ') &&
		     mime_bodystructure(m, e->child - 1, ext, o) &&
		     str_catc(o, ' ') && str_catu(o, lines(m->t + e->body, e->bodylen));
	} else if (ok && text) {
		ok = str_catc(o, ' ') && str_catu(o, lines(m->t + e->body, e->bodylen));
	}
	if (ok && ext)
		ok = str_cats(o, " NIL") && put_ext(o, h, e->hdrlen);
	ok = ok && str_catc(o, ')');
	str_free(&c.v);
	str_free(&t);
	return ok;
}

int mime_bodystructure(const struct mime *m, size_t i, int ext,
                       struct str *o)
{
	const struct mime_ent *e = &m->e[i];
	const char *h = m->t + e->start;
	struct ct c = { STR_ZERO, 0, 0, 0, 0, 0, 0 };
	size_t k;
	int ok;

	if (e->kind != MIME_MULTI)
		return leaf(m, i, ext, o);
	ok = str_catc(o, '(');
	for (k = e->child; ok && k; k = m->e[k - 1].next)
		ok = mime_bodystructure(m, k - 1, ext, o);
	ok = ok && ct_read(h, e->hdrlen, "Content-Type", &c) >= 0 &&
	     str_catc(o, ' ') &&
	     mime_nstring(o, c.slen ? c.sub : "mixed", c.slen ? c.slen : 5);
	if (ok && ext)
		ok = str_catc(o, ' ') && put_params(o, c.params, c.plen) &&
		     put_ext(o, h, e->hdrlen);
	ok = ok && str_catc(o, ')');
	str_free(&c.v);
	return ok;
}
