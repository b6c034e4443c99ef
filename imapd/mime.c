/* MIME structure, BODYSTRUCTURE, ENVELOPE and sections of a message
 * held in memory (see mime.h). */
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "mime.h"

static size_t line_end(const char *h, size_t n, size_t i)
{
	const char *lf = memchr(h + i, '\n', n - i);

	return lf ? (size_t)(lf - h) + 1 : n;
}

static int blank_at(const char *h, size_t n, size_t i)
{
	return (i < n && h[i] == '\n') ||
	       (i + 1 < n && h[i] == '\r' && h[i + 1] == '\n');
}

/* The next field of a header at *i: its bytes fs..fe (continuation lines
 * included) and the length of its name. 0 at the end of the header. */
static int field_next(const char *h, size_t n, size_t *i, size_t *fs,
                      size_t *fe, size_t *nlen)
{
	while (*i < n && !blank_at(h, n, *i)) {
		size_t start = *i, e = line_end(h, n, *i), colon, k;

		while (e < n && (h[e] == ' ' || h[e] == '\t'))
			e = line_end(h, n, e);
		*i = e;
		if (h[start] == ' ' || h[start] == '\t')
			continue;
		colon = start + byte_chr(h + start, e - start, ':');
		if (colon == e)
			continue;
		for (k = colon; k > start && (h[k - 1] == ' ' || h[k - 1] == '\t');)
			k--;
		if (k == start)
			continue;
		*fs = start;
		*fe = e;
		*nlen = k - start;
		return 1;
	}
	return 0;
}

static int unfold(const char *p, size_t n, struct str *out)
{
	size_t i;

	out->len = 0;
	while (n && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	for (i = 0; i < n; i++)
		if (p[i] != '\r' && p[i] != '\n' && !str_catc(out, p[i]))
			return -1;
	while (out->len && (out->s[out->len - 1] == ' ' ||
	                    out->s[out->len - 1] == '\t'))
		out->len--;
	return 1;
}

int mime_header(const char *h, size_t n, const char *name, struct str *out)
{
	size_t i = 0, fs, fe, nl, want = strlen(name);

	while (field_next(h, n, &i, &fs, &fe, &nl))
		if (nl == want && case_eqb(h + fs, name, nl)) {
			size_t v = fs + byte_chr(h + fs, fe - fs, ':') + 1;

			return unfold(h + v, fe - v, out);
		}
	return 0;
}

int mime_fields(const char *h, size_t n, const char *names, size_t k,
                int keep, struct str *out)
{
	size_t i = 0, fs, fe, nl;

	while (field_next(h, n, &i, &fs, &fe, &nl)) {
		const char *w = names;
		size_t j;
		int hit = 0;

		for (j = 0; j < k; j++) {
			size_t wl = strlen(w);

			if (wl == nl && case_eqb(h + fs, w, nl))
				hit = 1;
			w += wl + 1;
		}
		if (hit == keep && !str_catb(out, h + fs, fe - fs))
			return 0;
		if (hit == keep && fe == n && h[fe - 1] != '\n' &&
		    !str_catb(out, "\r\n", 2))
			return 0;
	}
	return str_catb(out, "\r\n", 2);
}

/* -- Content-Type and friends ----------------------------------------- */

struct ctype {
	const char *type, *sub;
	size_t tlen, slen;
	const char *params;     /* after the subtype */
	size_t plen;
};

void mime_skip_cfws(const char *p, size_t n, size_t *i)
{
	int depth = 0;

	while (*i < n) {
		char c = p[*i];

		if (depth) {
			if (c == '\\' && *i + 1 < n)
				(*i)++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
		} else if (c == '(') {
			depth = 1;
		} else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
			return;
		}
		(*i)++;
	}
}

static int tspecial(char c)
{
	return strchr("()<>@,;:\\\"/[]?= \t\r\n", c) != 0;
}

static size_t token(const char *p, size_t n, size_t *i)
{
	size_t s = *i;

	while (*i < n && !tspecial(p[*i]) && (unsigned char)p[*i] > 0x20)
		(*i)++;
	return *i - s;
}

static void ctype_parse(const char *v, size_t n, struct ctype *ct)
{
	size_t i = 0, s;

	ct->type = ct->sub = 0;
	ct->tlen = ct->slen = 0;
	ct->params = v + n;
	ct->plen = 0;
	mime_skip_cfws(v, n, &i);
	s = i;
	if (!token(v, n, &i))
		return;
	ct->tlen = i - s;
	mime_skip_cfws(v, n, &i);
	if (i >= n || v[i] != '/')
		return;
	i++;
	mime_skip_cfws(v, n, &i);
	ct->sub = v + i;
	ct->slen = token(v, n, &i);
	if (!ct->slen)
		return;
	ct->type = v + s;
	ct->params = v + i;
	ct->plen = n - i;
}

/* The next "attr=value" of a parameter list: value unquoted into val. */
static int param_next(const char *p, size_t n, size_t *i, const char **a,
                      size_t *al, struct str *val)
{
	size_t s;

	for (;;) {
		mime_skip_cfws(p, n, i);
		if (*i >= n)
			return 0;
		if (p[*i] != ';') {
			(*i)++;         /* junk: skip a byte and look again */
			continue;
		}
		(*i)++;
		mime_skip_cfws(p, n, i);
		s = *i;
		if (!token(p, n, i))
			continue;
		*a = p + s;
		*al = *i - s;
		mime_skip_cfws(p, n, i);
		if (*i >= n || p[*i] != '=')
			continue;
		(*i)++;
		mime_skip_cfws(p, n, i);
		val->len = 0;
		if (*i < n && p[*i] == '"') {
			for ((*i)++; *i < n && p[*i] != '"'; (*i)++) {
				if (p[*i] == '\\' && *i + 1 < n)
					(*i)++;
				if (p[*i] != '\r' && p[*i] != '\n' &&
				    !str_catc(val, p[*i]))
					return -1;
			}
			if (*i < n)
				(*i)++;
		} else {
			s = *i;
			token(p, n, i);
			if (!str_catb(val, p + s, *i - s))
				return -1;
		}
		return 1;
	}
}

static int param_get(const char *p, size_t n, const char *name,
                     struct str *val)
{
	size_t i = 0, al;
	const char *a;
	int r;

	while ((r = param_next(p, n, &i, &a, &al, val)) > 0)
		if (al == strlen(name) && case_eqb(a, name, al))
			return 1;
	return r;
}

/* -- parsing ---------------------------------------------------------- */

static int ent_new(struct mime *m, size_t *idx)
{
	if (m->ne >= MIME_PARTS_MAX)
		return 0;
	if (m->ne == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 8;
		struct mime_ent *e = realloc(m->e, cap * sizeof *e);

		if (!e)
			return -1;
		m->e = e;
		m->cap = cap;
	}
	memset(&m->e[m->ne], 0, sizeof m->e[0]);
	*idx = m->ne++;
	return 1;
}

static size_t find_hdr_end(const char *t, size_t start, size_t end)
{
	size_t i = start;

	if (blank_at(t, end, start))
		return line_end(t, end, start);
	while (i < end) {
		i = line_end(t, end, i);
		if (blank_at(t, end, i))
			return line_end(t, end, i);
	}
	return end;
}

/* A delimiter line at i: "--boundary" then "--" or white space to the
 * line end. 1 delimiter, 2 close delimiter, 0 neither. */
static int delim_at(const char *t, size_t end, size_t i, const char *b,
                    size_t bl)
{
	size_t k;
	int close = 0;

	if (end - i < bl + 2 || t[i] != '-' || t[i + 1] != '-' ||
	    memcmp(t + i + 2, b, bl))
		return 0;
	k = i + 2 + bl;
	if (end - k >= 2 && t[k] == '-' && t[k + 1] == '-') {
		close = 1;
		k += 2;
	}
	while (k < end && (t[k] == ' ' || t[k] == '\t'))
		k++;
	if (k < end && t[k] != '\r' && t[k] != '\n')
		return 0;
	return close ? 2 : 1;
}

/* Appends entity child to idx's children; *prev is the last one + 1. */
static void child_link(struct mime *m, size_t idx, size_t *prev, size_t child)
{
	if (*prev)
		m->e[*prev - 1].next = child + 1;
	else
		m->e[idx].child = child + 1;
	*prev = child + 1;
	m->e[idx].nchild++;
}

static int ent_parse(struct mime *m, size_t start, size_t end, int depth,
                     int digest, size_t *idx);

/* Children of multipart idx: 1 with at least one part, 0 none, -1 nomem */
static int multi_parse(struct mime *m, size_t idx, const char *b, size_t bl,
                       int depth, int digest)
{
	size_t i = m->e[idx].body, end = i + m->e[idx].bodylen;
	size_t pstart = 0, prev = 0, child;
	int inpart = 0, d, r;

	while (i < end) {
		size_t le = line_end(m->t, end, i);

		d = delim_at(m->t, end, i, b, bl);
		if (d) {
			if (inpart) {
				/* the CRLF before a delimiter is the delimiter's */
				size_t pe = i;

				if (pe > pstart && m->t[pe - 1] == '\n')
					pe--;
				if (pe > pstart && m->t[pe - 1] == '\r')
					pe--;
				r = ent_parse(m, pstart, pe, depth + 1, digest, &child);
				if (r < 0)
					return -1;
				if (r > 0)
					child_link(m, idx, &prev, child);
			}
			if (d == 2)
				return m->e[idx].nchild > 0;
			inpart = 1;
			pstart = le;
		}
		i = le;
	}
	if (inpart) {
		r = ent_parse(m, pstart, end, depth + 1, digest, &child);
		if (r < 0)
			return -1;
		if (r > 0)
			child_link(m, idx, &prev, child);
	}
	return m->e[idx].nchild > 0;
}

static int ent_kind(struct mime *m, size_t idx, int depth, int digest)
{
	struct str v = STR_ZERO, b = STR_ZERO;
	struct ctype ct;
	int r = 0, got;
	size_t child;

	got = mime_header(m->t + m->e[idx].start, m->e[idx].hdrlen,
	                  "Content-Type", &v);
	if (got < 0)
		return -1;
	if (got)
		ctype_parse(v.s, v.len, &ct);
	if (depth >= MIME_DEPTH_MAX)
		goto out;
	if (got && ct.type && ct.tlen == 9 && case_eqb(ct.type, "multipart", 9)) {
		r = param_get(ct.params, ct.plen, "boundary", &b);
		if (r > 0 && b.len > 0 && b.len <= 200) {
			m->e[idx].kind = MIME_MULTI;
			r = multi_parse(m, idx, b.s, b.len, depth,
			                ct.slen == 6 && case_eqb(ct.sub, "digest", 6));
			if (r == 0) {
				m->e[idx].kind = MIME_LEAF;
				m->e[idx].child = 0;
			}
		}
	} else if ((got && ct.type && ct.tlen == 7 &&
	            case_eqb(ct.type, "message", 7) && ct.slen == 6 &&
	            case_eqb(ct.sub, "rfc822", 6)) || (!got && digest)) {
		r = ent_parse(m, m->e[idx].body, m->e[idx].body + m->e[idx].bodylen,
		              depth + 1, 0, &child);
		if (r > 0) {
			m->e[idx].kind = MIME_MESSAGE;
			m->e[idx].child = child + 1;
			m->e[idx].nchild = 1;
		}
	}
out:
	str_free(&v);
	str_free(&b);
	return r < 0 ? -1 : 0;
}

static int ent_parse(struct mime *m, size_t start, size_t end, int depth,
                     int digest, size_t *idx)
{
	size_t he;
	int r = ent_new(m, idx);

	if (r <= 0)
		return r;
	he = find_hdr_end(m->t, start, end);
	m->e[*idx].start = start;
	m->e[*idx].hdrlen = he - start;
	m->e[*idx].body = he;
	m->e[*idx].bodylen = end - he;
	if (ent_kind(m, *idx, depth, digest) < 0)
		return -1;
	return 1;
}

int mime_parse(struct mime *m, const char *t, size_t n)
{
	size_t idx;

	m->t = t;
	m->n = n;
	m->ne = 0;
	return ent_parse(m, 0, n, 0, 0, &idx) < 0 ? -1 : 0;
}

void mime_free(struct mime *m)
{
	free(m->e);
	m->e = 0;
	m->ne = m->cap = 0;
}

/* -- sections --------------------------------------------------------- */

static size_t nth_child(const struct mime *m, size_t i, unsigned k)
{
	size_t c = m->e[i].child;

	while (c && --k)
		c = m->e[c - 1].next;
	return c;
}

int mime_section(const struct mime *m, const unsigned *path, size_t depth,
                 int spec, size_t *off, size_t *len)
{
	size_t e = 0, d;
	int msg = 1;            /* e is a message: the top, or one inside */

	for (d = 0; d < depth; d++) {
		if (d > 0 && m->e[e].kind == MIME_MESSAGE) {
			e = m->e[e].child - 1;
			msg = 1;
		}
		if (m->e[e].kind == MIME_MULTI) {
			size_t c = nth_child(m, e, path[d]);

			if (!c || path[d] == 0)
				return 0;
			e = c - 1;
		} else if (!msg || path[d] != 1) {
			/* only a message that is not multipart has a part 1,
			 * its body */
			return 0;
		}
		msg = 0;
	}
	if (spec == SEC_MIME) {
		if (!depth)
			return 0;
		*off = m->e[e].start;
		*len = m->e[e].hdrlen;
		return 1;
	}
	if (spec != SEC_ALL && depth) {
		if (m->e[e].kind != MIME_MESSAGE)
			return 0;
		e = m->e[e].child - 1;
	}
	if (spec == SEC_ALL && !depth) {
		*off = 0;
		*len = m->n;
	} else if (spec == SEC_ALL || spec == SEC_TEXT) {
		*off = m->e[e].body;
		*len = m->e[e].bodylen;
	} else {
		*off = m->e[e].start;
		*len = m->e[e].hdrlen;
	}
	return 1;
}
