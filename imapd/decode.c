/* Text decoding for SEARCH: RFC 2047 encoded words, quoted-printable and
 * base64 bodies, a few 8-bit charsets to UTF-8, and case folding. See
 * decode.h. */
#include <string.h>

#include "base64.h"
#include "decode.h"
#include "fmt.h"

/* An encoded word longer than this is taken as plain text. RFC 2047
 * allows 75 bytes; mail in the wild runs longer, never this long. */
#define DECODE_WORD_MAX 2048
#define DECODE_CHUNK 512        /* bytes decoded before each append */

/* Windows-1252's 0x80-0x9F (0: undefined, kept as the C1 control). */
static const unsigned short cp1252[32] = {
	0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017d, 0,
	0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0, 0x017e, 0x0178,
};

/* Where ISO-8859-15 differs from ISO-8859-1. */
static const struct {
	unsigned char byte;
	unsigned short cp;
} latin9[] = {
	{ 0xa4, 0x20ac }, { 0xa6, 0x0160 }, { 0xa8, 0x0161 }, { 0xb4, 0x017d },
	{ 0xb8, 0x017e }, { 0xbc, 0x0152 }, { 0xbd, 0x0153 }, { 0xbe, 0x0178 },
};

static const struct {
	const char *name;
	int cs;
} charsets[] = {
	{ "us-ascii", CS_UTF8 }, { "ascii", CS_UTF8 }, { "utf-8", CS_UTF8 },
	{ "utf8", CS_UTF8 }, { "iso-8859-1", CS_LATIN1 },
	{ "iso8859-1", CS_LATIN1 }, { "iso_8859-1", CS_LATIN1 },
	{ "latin1", CS_LATIN1 }, { "iso-8859-15", CS_LATIN9 },
	{ "iso8859-15", CS_LATIN9 }, { "iso_8859-15", CS_LATIN9 },
	{ "latin9", CS_LATIN9 }, { "windows-1252", CS_CP1252 },
	{ "cp1252", CS_CP1252 },
};

int decode_charset(const char *name, size_t n)
{
	size_t k;

	n = byte_chr(name, n, '*');     /* RFC 2231 language */
	for (k = 0; k < sizeof charsets / sizeof charsets[0]; k++)
		if (strlen(charsets[k].name) == n &&
		    case_eqb(name, charsets[k].name, n))
			return charsets[k].cs;
	return CS_OTHER;
}

/* Appends code point cp (below 0x10000) in UTF-8 to b, returns bytes. */
static size_t utf8_put(char *b, unsigned cp)
{
	if (cp < 0x80) {
		b[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		b[0] = (char)(0xc0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	b[0] = (char)(0xe0 | cp >> 12);
	b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
	b[2] = (char)(0x80 | (cp & 0x3f));
	return 3;
}

static unsigned code_point(unsigned char c, int cs)
{
	size_t k;

	if (cs == CS_CP1252 && c >= 0x80 && c < 0xa0 && cp1252[c - 0x80])
		return cp1252[c - 0x80];
	if (cs == CS_LATIN9)
		for (k = 0; k < sizeof latin9 / sizeof latin9[0]; k++)
			if (latin9[k].byte == c)
				return latin9[k].cp;
	return c;
}

int decode_utf8(struct str *out, const char *p, size_t n, int cs)
{
	char b[DECODE_CHUNK + 3];
	size_t i, k = 0;

	if (cs == CS_UTF8 || cs == CS_OTHER)
		return str_catb(out, p, n);
	for (i = 0; i < n; i++) {
		k += utf8_put(b + k, code_point((unsigned char)p[i], cs));
		if (k >= DECODE_CHUNK) {
			if (!str_catb(out, b, k))
				return 0;
			k = 0;
		}
	}
	return str_catb(out, b, k);
}

static int hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Quoted-printable (RFC 2045 6.7); in a header's Q words (RFC 2047
 * 4.2) '_' is a space. A bad escape stays as written. */
static int qp_decode(struct str *out, const char *p, size_t n, int q)
{
	char b[DECODE_CHUNK];
	size_t i = 0, k = 0, j;

	while (i < n) {
		if (k == sizeof b) {
			if (!str_catb(out, b, k))
				return 0;
			k = 0;
		}
		if (q && p[i] == '_') {
			b[k++] = ' ';
			i++;
		} else if (p[i] != '=') {
			b[k++] = p[i++];
		} else if (i + 2 < n && hex(p[i + 1]) >= 0 && hex(p[i + 2]) >= 0) {
			b[k++] = (char)(hex(p[i + 1]) << 4 | hex(p[i + 2]));
			i += 3;
		} else {
			/* a soft line break, maybe with transport padding */
			for (j = i + 1; j < n && wsp(p[j]); j++)
				;
			if (j < n && p[j] == '\r')
				j++;
			if (j < n && p[j] == '\n') {
				i = j + 1;
			} else {
				b[k++] = '=';
				i++;
			}
		}
	}
	return str_catb(out, b, k);
}

/* Base64 as MIME bodies carry it: line breaks and other bytes outside
 * the alphabet skipped (RFC 2045 6.8), stop at the padding. */
static int b64_decode(struct str *out, const char *p, size_t n)
{
	char b[DECODE_CHUNK];
	unsigned long acc = 0;
	size_t i, k = 0;
	int bits = 0, v;

	for (i = 0; i < n && p[i] != '='; i++) {
		v = base64_value((unsigned char)p[i]);
		if (v < 0)
			continue;
		acc = (acc << 6 | (unsigned long)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			b[k++] = (char)(acc >> bits);
			if (k == sizeof b) {
				if (!str_catb(out, b, k))
					return 0;
				k = 0;
			}
		}
	}
	return str_catb(out, b, k);
}

/* An encoded word "=?charset?B|Q?text?=" at the start of p[0..n): its
 * length, with the text decoded into w and its charset in *cs; 0 when
 * p does not start with a well-formed one. */
static size_t word_parse(const char *p, size_t n, struct str *w, int *cs,
                         int *nomem)
{
	size_t c, t, e;
	char enc;

	if (n > DECODE_WORD_MAX)
		n = DECODE_WORD_MAX;
	if (n < 8 || p[0] != '=' || p[1] != '?')
		return 0;
	for (c = 2; c < n && p[c] != '?'; c++)
		if (wsp(p[c]) || p[c] == '\r' || p[c] == '\n')
			return 0;
	if (c == 2 || c + 3 >= n || p[c + 2] != '?')
		return 0;
	enc = p[c + 1];
	if (enc != 'B' && enc != 'b' && enc != 'Q' && enc != 'q')
		return 0;
	t = c + 3;
	for (e = t; e + 1 < n && !(p[e] == '?' && p[e + 1] == '='); e++)
		if (wsp(p[e]) || p[e] == '\r' || p[e] == '\n' || p[e] == '?')
			return 0;
	if (e + 1 >= n)
		return 0;
	w->len = 0;
	if (!(enc == 'B' || enc == 'b' ? b64_decode(w, p + t, e - t) :
	      qp_decode(w, p + t, e - t, 1))) {
		*nomem = 1;
		return 0;
	}
	*cs = decode_charset(p + 2, c - 2);
	return e + 2;
}

/* The white space (unfolded) from i: its end. */
static size_t space_end(const char *v, size_t n, size_t i)
{
	while (i < n && (wsp(v[i]) || v[i] == '\r' || v[i] == '\n'))
		i++;
	return i;
}

int decode_header(struct str *out, const char *v, size_t n)
{
	struct str w = STR_ZERO;
	size_t i = 0, len, j;
	int cs, after = 0, nomem = 0, r = 0;

	while (i < n) {
		if (v[i] == '=' &&
		    (len = word_parse(v + i, n - i, &w, &cs, &nomem)) != 0) {
			if (!decode_utf8(out, w.s, w.len, cs))
				goto out;
			i += len;
			after = 1;
			continue;
		}
		if (nomem)
			goto out;
		if (after && (wsp(v[i]) || v[i] == '\r' || v[i] == '\n')) {
			/* dropped between two encoded words (RFC 2047 6.2) */
			j = space_end(v, n, i);
			if (j < n && word_parse(v + j, n - j, &w, &cs, &nomem)) {
				i = j;
				continue;
			}
		}
		after = 0;
		if (v[i] == '\r' && i + 2 < n && v[i + 1] == '\n' &&
		    wsp(v[i + 2])) {
			i += 2;         /* folding */
			continue;
		}
		if (v[i] == '\n' && i + 1 < n && wsp(v[i + 1])) {
			i++;
			continue;
		}
		if (!str_catc(out, v[i]))
			goto out;
		i++;
	}
	r = 1;
out:
	str_free(&w);
	return r;
}

/* Parameter name's value in a Content-Type value v[0..n) (unfolded), or
 * NULL: quotes and backslash escapes are kept, the charset names that
 * matter here have neither. */
static const char *param(const char *v, size_t n, const char *name,
                         size_t *vn)
{
	size_t i = byte_chr(v, n, ';'), nl = strlen(name), e;

	while (i < n) {
		i++;
		while (i < n && wsp(v[i]))
			i++;
		if (n - i > nl && case_eqb(v + i, name, nl) &&
		    (v[i + nl] == '=' || v[i + nl] == '*')) {
			i += nl;
			i += byte_chr(v + i, n - i, '=');
			if (i < n)
				i++;
			if (i < n && v[i] == '"')
				i++;
			for (e = i; e < n && v[e] != '"' && v[e] != ';' &&
			     !wsp(v[e]); e++)
				;
			*vn = e - i;
			return v + i;
		}
		i += byte_chr(v + i, n - i, ';');
	}
	return 0;
}

/* 1 when the entity with header h[0..hn) is text: text/anything, or no
 * Content-Type at all (RFC 2045 5.2: text/plain). */
static int is_text(const char *h, size_t hn, struct str *t, int *cs)
{
	const char *c;
	size_t cn;
	int r = mime_header(h, hn, "Content-Type", t);

	*cs = CS_UTF8;
	if (r < 0)
		return -1;
	if (r == 0)
		return 1;
	c = param(t->s, t->len, "charset", &cn);
	if (c)
		*cs = decode_charset(c, cn);
	cn = 0;
	while (cn < t->len && wsp(t->s[cn]))
		cn++;
	return case_startb(t->s + cn, t->len - cn, "text/");
}

static int body_decode(struct str *out, const char *h, size_t hn,
                       const char *b, size_t bn, int cs, struct str *t)
{
	struct str d = STR_ZERO;
	size_t i = 0;
	int r = mime_header(h, hn, "Content-Transfer-Encoding", t), ok;

	if (r < 0)
		return 0;
	while (r && i < t->len && wsp(t->s[i]))
		i++;
	if (r && case_startb(t->s + i, t->len - i, "quoted-printable"))
		ok = qp_decode(&d, b, bn, 0);
	else if (r && case_startb(t->s + i, t->len - i, "base64"))
		ok = b64_decode(&d, b, bn);
	else
		return decode_utf8(out, b, bn, cs);
	ok = ok && decode_utf8(out, d.s ? d.s : "", d.len, cs);
	str_free(&d);
	return ok;
}

int decode_body(struct str *out, const char *h, size_t hn, const char *b,
                size_t bn)
{
	struct str t = STR_ZERO;
	int cs, r = is_text(h, hn, &t, &cs);

	if (r >= 0)
		r = body_decode(out, h, hn, b, bn, cs, &t);
	str_free(&t);
	return r > 0;
}

/* Folds the two-byte UTF-8 sequence at p (Latin-1 Supplement and Latin
 * Extended-A capitals to small letters, same length) into q. */
static void fold2(const unsigned char *p, unsigned char *q)
{
	unsigned cp = (unsigned)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);

	if ((cp >= 0xc0 && cp <= 0xde && cp != 0xd7))
		cp += 0x20;
	else if ((cp >= 0x100 && cp <= 0x137 && !(cp & 1)) ||
	         (cp >= 0x139 && cp <= 0x148 && (cp & 1)) ||
	         (cp >= 0x14a && cp <= 0x177 && !(cp & 1)) ||
	         (cp >= 0x179 && cp <= 0x17e && (cp & 1)))
		cp += 1;
	q[0] = (unsigned char)(0xc0 | cp >> 6);
	q[1] = (unsigned char)(0x80 | (cp & 0x3f));
}

int decode_fold(struct str *out, const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;
	unsigned char *q;
	size_t i;

	if (!str_ready(out, n))
		return 0;
	q = (unsigned char *)out->s + out->len;
	for (i = 0; i < n; i++) {
		if (u[i] >= 'A' && u[i] <= 'Z') {
			q[i] = (unsigned char)(u[i] + 32);
		} else if ((u[i] == 0xc3 || u[i] == 0xc4 || u[i] == 0xc5) &&
		           i + 1 < n && (u[i + 1] & 0xc0) == 0x80) {
			fold2(u + i, q + i);
			i++;
		} else {
			q[i] = u[i];
		}
	}
	out->len += n;
	return 1;
}

int decode_message(struct str *out, const struct mime *m, int headers)
{
	struct str text = STR_ZERO, t = STR_ZERO;
	const struct mime_ent *e;
	size_t i, c;
	int cs, ok = 1, r;

	if (headers && m->ne)
		ok = decode_header(&text, m->t + m->e[0].start,
		                   m->e[0].hdrlen);
	for (i = 0; ok && i < m->ne; i++) {
		e = &m->e[i];
		if (e->kind == MIME_MESSAGE && e->child) {
			c = e->child - 1;
			ok = str_catc(&text, '\n') &&
			     decode_header(&text, m->t + m->e[c].start,
			                   m->e[c].hdrlen);
		}
		if (!ok || e->kind != MIME_LEAF)
			continue;
		r = is_text(m->t + e->start, e->hdrlen, &t, &cs);
		if (r < 0)
			ok = 0;
		else if (r)
			ok = str_catc(&text, '\n') &&
			     body_decode(&text, m->t + e->start, e->hdrlen,
			                 m->t + e->body, e->bodylen, cs, &t);
	}
	ok = ok && decode_fold(out, text.s ? text.s : "", text.len);
	str_free(&text);
	str_free(&t);
	return ok;
}
