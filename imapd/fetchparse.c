/* FETCH item parsing (see fetch.h). */
#include <string.h>

#include "fetch.h"
#include "fmt.h"

static struct fitem *item_new(struct fetch *f, int kind)
{
	struct fitem *it;

	if (f->n >= FETCH_ITEMS_MAX)
		return 0;
	it = &f->it[f->n++];
	memset(it, 0, sizeof *it);
	it->kind = kind;
	return it;
}

static int simple(struct fetch *f, int kind)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (f->it[i].kind == kind)
			return 1;       /* once is enough */
	return item_new(f, kind) != 0;
}

/* "(name name ...)" after HEADER.FIELDS[.NOT] */
static int names_parse(struct fitem *it, const char *p, size_t n)
{
	size_t i = 0;

	if (n < 3 || p[0] != ' ' || p[1] != '(' || p[n - 1] != ')')
		return 0;
	p += 2;
	n -= 3;
	while (i < n) {
		size_t s = i;

		if (p[i] == '"') {
			s = ++i;
			while (i < n && p[i] != '"')
				i++;
			if (i >= n)
				return 0;
		} else {
			while (i < n && p[i] != ' ')
				i++;
		}
		if (i == s || memchr(p + s, 0, i - s))
			return 0;
		if (!str_catb(&it->names, p + s, i - s) ||
		    !str_catc(&it->names, 0))
			return -1;
		it->nnames++;
		if (i < n && p[i] == '"')
			i++;
		if (i < n) {
			if (p[i] != ' ' || i + 1 == n)
				return 0;
			i++;
		}
	}
	return it->nnames > 0;
}

static int word_is(const char *p, size_t n, const char *w)
{
	return n == strlen(w) && case_eqb(p, w, n);
}

/* The text between the brackets: part path, then a specifier. */
static int section_parse(struct fitem *it, const char *p, size_t n)
{
	size_t i = 0, k;

	while (i < n && p[i] >= '0' && p[i] <= '9') {
		unsigned long long v = 0;
		size_t s = i;

		while (i < n && p[i] >= '0' && p[i] <= '9' && i - s < 9)
			v = v * 10 + (unsigned long long)(p[i++] - '0');
		if (v == 0 || (i < n && p[i] >= '0' && p[i] <= '9') ||
		    it->depth >= MIME_PATH_MAX)
			return 0;
		it->path[it->depth++] = (unsigned)v;
		if (i == n)
			return 1;
		if (p[i] != '.' || i + 1 == n)
			return 0;
		i++;
	}
	p += i;
	n -= i;
	if (n == 0) {
		it->spec = SEC_ALL;
		return 1;
	}
	if (word_is(p, n, "HEADER"))
		it->spec = SEC_HEADER;
	else if (word_is(p, n, "TEXT"))
		it->spec = SEC_TEXT;
	else if (word_is(p, n, "MIME") && it->depth)
		it->spec = SEC_MIME;
	else {
		k = byte_chr(p, n, ' ');
		if (word_is(p, k, "HEADER.FIELDS"))
			it->spec = SEC_FIELDS;
		else if (word_is(p, k, "HEADER.FIELDS.NOT"))
			it->spec = SEC_FIELDS_NOT;
		else
			return 0;
		return names_parse(it, p + k, n - k);
	}
	return 1;
}

/* "<start.count>" */
static int partial_parse(struct fitem *it, const char *p, size_t n)
{
	size_t dot;

	if (n < 5 || p[0] != '<' || p[n - 1] != '>')
		return 0;
	p++;
	n -= 2;
	dot = byte_chr(p, n, '.');
	if (dot == n || dot > 10 || n - dot - 1 > 10 ||
	    !scan_ulong(p, dot, &it->pstart) ||
	    !scan_ulong(p + dot + 1, n - dot - 1, &it->plen) ||
	    it->plen == 0 || it->pstart > 0xffffffffULL ||
	    it->plen > 0xffffffffULL)
		return 0;
	it->partial = 1;
	return 1;
}

static int body_item(struct fetch *f, const char *p, size_t n)
{
	size_t lb = byte_chr(p, n, '['), rb;
	struct fitem *it;
	int r;

	if (lb == n)
		return 0;
	rb = lb + 1 + byte_chr(p + lb + 1, n - lb - 1, ']');
	if (rb == n)
		return 0;
	if (!word_is(p, lb, "BODY") && !word_is(p, lb, "BODY.PEEK"))
		return 0;
	it = item_new(f, FI_SECTION);
	if (!it)
		return 0;
	it->peek = lb == 9;
	it->body = 1;
	it->sec = p + lb + 1;
	it->seclen = rb - lb - 1;
	r = section_parse(it, it->sec, it->seclen);
	if (r <= 0)
		return r;
	if (rb + 1 < n && !partial_parse(it, p + rb + 1, n - rb - 1))
		return 0;
	f->need_text = 1;
	if (it->depth)
		f->need_mime = 1;
	if (!it->peek)
		f->sets_seen = 1;
	return 1;
}

static int rfc822_item(struct fetch *f, const char *label, int spec,
                       int peek)
{
	struct fitem *it = item_new(f, FI_SECTION);

	if (!it)
		return 0;
	it->label = label;
	it->labellen = strlen(label);
	it->spec = spec;
	it->peek = peek;
	f->need_text = 1;
	if (!peek)
		f->sets_seen = 1;
	return 1;
}

static int att_one(struct fetch *f, const struct imap_arg *a)
{
	const char *p = a->s;
	size_t n = a->len;

	if (a->type != IMAP_ATOM)
		return 0;
	if (word_is(p, n, "UID"))
		return simple(f, FI_UID);
	if (word_is(p, n, "FLAGS"))
		return simple(f, FI_FLAGS);
	if (word_is(p, n, "INTERNALDATE"))
		return simple(f, FI_DATE);
	if (word_is(p, n, "RFC822.SIZE"))
		return simple(f, FI_SIZE);
	if (word_is(p, n, "MODSEQ"))
		return simple(f, FI_MODSEQ);
	if (word_is(p, n, "ENVELOPE")) {
		f->need_text = 1;
		return simple(f, FI_ENVELOPE);
	}
	if (word_is(p, n, "BODY") || word_is(p, n, "BODYSTRUCTURE")) {
		f->need_text = f->need_mime = 1;
		return simple(f, n == 4 ? FI_BODY : FI_STRUCTURE);
	}
	if (word_is(p, n, "RFC822"))
		return rfc822_item(f, "RFC822", SEC_ALL, 0);
	if (word_is(p, n, "RFC822.HEADER"))
		return rfc822_item(f, "RFC822.HEADER", SEC_HEADER, 1);
	if (word_is(p, n, "RFC822.TEXT"))
		return rfc822_item(f, "RFC822.TEXT", SEC_TEXT, 0);
	return body_item(f, p, n);
}

int fetch_parse(struct fetch *f, const struct imap_cmd *c,
                const struct imap_arg *a)
{
	const struct imap_arg *x;
	int r;

	f->n = 0;
	f->need_text = f->need_mime = f->sets_seen = 0;
	if (!a)
		return 0;
	if (a->type == IMAP_ATOM) {
		if (word_is(a->s, a->len, "ALL") || word_is(a->s, a->len, "FAST") ||
		    word_is(a->s, a->len, "FULL")) {
			if (!simple(f, FI_FLAGS) || !simple(f, FI_DATE) ||
			    !simple(f, FI_SIZE))
				return 0;
			if (a->len == 4 && a->s[1] == 'U') {
				/* FULL */
				f->need_text = f->need_mime = 1;
				return simple(f, FI_ENVELOPE) && simple(f, FI_BODY);
			}
			if (a->len == 3 && (a->s[0] == 'A' || a->s[0] == 'a')) {
				f->need_text = 1;
				return simple(f, FI_ENVELOPE);
			}
			return 1;
		}
		return att_one(f, a);
	}
	if (a->type != IMAP_LIST || !imap_child(c, a))
		return 0;
	for (x = imap_child(c, a); x; x = imap_next(c, x))
		if ((r = att_one(f, x)) <= 0)
			return r;
	return 1;
}

void fetch_free(struct fetch *f)
{
	size_t i;

	for (i = 0; i < FETCH_ITEMS_MAX; i++)
		str_free(&f->it[i].names);
	f->n = 0;
}
