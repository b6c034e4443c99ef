/* Parsing dot-qmail delivery instructions and finding which .qmail file
 * applies to an address extension (see dotqmail.h). */
#include <string.h>

#include "dotqmail.h"
#include "fmt.h"

void dotqmail_init(struct dotqmail *d, const char *p, size_t n)
{
	d->p = p;
	d->n = n;
	d->pos = 0;
	d->line = 0;
	d->error = DQ_OK;
}

static int is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

static int has_control(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] < 32 && p[i] != '\t')
			return 1;
	return 0;
}

static int bad(struct dotqmail *d, int error)
{
	d->error = error;
	return -1;
}

/* Sorts one line (trailing blanks gone, n > 0) into *out:
 * 1 instruction, 0 comment, -1 bad. */
static int classify(struct dotqmail *d, const char *p, size_t n,
                    struct dotqmail_line *out)
{
	if (p[0] == '#')
		return 0;
	if (has_control(p, n))
		return bad(d, DQ_CONTROL);
	out->arg = p;
	out->len = n;
	if (p[0] == '|') {
		out->type = DQ_PROGRAM;
		out->arg++;
		out->len--;
	} else if (p[0] == '&') {
		out->type = DQ_FORWARD;
		out->arg++;
		out->len--;
		while (out->len && (out->arg[0] == ' ' || out->arg[0] == '\t')) {
			out->arg++;
			out->len--;
		}
	} else if (p[0] == '/' || p[0] == '.')
		out->type = p[n - 1] == '/' ? DQ_MAILDIR : DQ_MBOX;
	else if (is_alnum(p[0]))
		out->type = DQ_FORWARD;
	else
		return bad(d, DQ_BAD_LINE);
	if (!out->len)
		return bad(d, DQ_EMPTY);
	return 1;
}

int dotqmail_next(struct dotqmail *d, struct dotqmail_line *out)
{
	const char *p;
	size_t n;
	int r;

	while (d->pos < d->n) {
		p = d->p + d->pos;
		n = byte_chr(p, d->n - d->pos, '\n');
		d->pos += n < d->n - d->pos ? n + 1 : n;
		d->line++;
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (!n) {
			/* a blank first line is a half-written file */
			if (d->line == 1)
				return bad(d, DQ_BLANK_FIRST);
			continue;
		}
		r = classify(d, p, n, out);
		if (r == 0)
			continue;
		out->line = d->line;
		return r;
	}
	return 0;
}

const char *dotqmail_error(int e)
{
	switch (e) {
	case DQ_OK:
		return "no error";
	case DQ_BLANK_FIRST:
		return "first line of .qmail file is blank";
	case DQ_BAD_LINE:
		return "line is not a comment, program, forward, mbox or maildir";
	case DQ_EMPTY:
		return "program or forward line has nothing after | or &";
	case DQ_CONTROL:
		return "line has a control character";
	default:
		return "unknown error";
	}
}

int dotqmail_safeext(struct str *out, const char *ext, size_t n)
{
	size_t i;

	if (!str_copyb(out, ext, n))
		return 0;
	case_lowerb(out->s, out->len);
	for (i = 0; i < out->len; i++)
		if (out->s[i] == '.' || out->s[i] == '/')
			out->s[i] = ':';
	return 1;
}

static int name_build(struct str *name, const char *dash, const char *ext,
                      size_t n, int deflt)
{
	if (!str_copys(name, ".qmail") || !str_cats(name, dash) ||
	    !str_catb(name, ext, n) ||
	    (deflt && !str_cats(name, "default")) || !str_0(name))
		return -1;
	return 1;
}

/* The length of the prefix behind the k-th "-default" candidate (k from
 * 1): prefixes end at a '-' or are empty, longest first. */
static int default_prefix(const struct str *e, size_t k, size_t *len)
{
	size_t i = e->len + 1;

	while (i-- > 0)
		if (i == 0 || e->s[i - 1] == '-')
			if (--k == 0) {
				*len = i;
				return 1;
			}
	return 0;
}

int dotqmail_candidate(struct str *name, const char *dash,
                       const struct str *safeext, size_t k, long *def)
{
	size_t len;

	*def = -1;
	if (k == 0) {
		/* an exact ".qmail-foo-default" for ext "foo-default" still
		 * gives DEFAULT, as in qmail-local */
		if (safeext->len >= 7 &&
		    !memcmp(safeext->s + safeext->len - 7, "default", 7))
			*def = (long)(safeext->len - 7);
		return name_build(name, dash, safeext->s, safeext->len, 0);
	}
	if (!*dash || !default_prefix(safeext, k, &len))
		return 0;
	*def = (long)len;
	return name_build(name, dash, safeext->s, len, 1);
}
