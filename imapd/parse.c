/* The IMAP command parser: a whole command, literals included, taken
 * apart in place into a tree of arguments. Every check fails into
 * IMAP_BAD with a reason; nothing here reads past buf + n. */
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "parse.h"

struct pstate {
	struct imap_cmd *c;
	char *p;
	size_t n, i;
	size_t literals;        /* bytes of literals so far */
};

static int bad(struct pstate *ps, const char *why)
{
	ps->c->err = why;
	return IMAP_BAD;
}

/* RFC 3501 ATOM-CHAR: any CHAR except atom-specials; '%' and '*'
 * (list-wildcards, sequence sets) and ']' (resp-specials, ASTRING-CHAR)
 * are let through here and judged by the command that takes them. */
static int atom_char(unsigned char ch)
{
	if (ch <= 0x20 || ch >= 0x7f)
		return 0;
	return ch != '(' && ch != ')' && ch != '{' && ch != '"' && ch != '\\';
}

static int tag_char(unsigned char ch)
{
	return atom_char(ch) && ch != '+' && ch != '%' && ch != '*';
}

static int arg_new(struct pstate *ps, int type, size_t *idx)
{
	struct imap_cmd *c = ps->c;

	if (c->narg >= IMAP_ARGS_MAX)
		return bad(ps, "too many arguments");
	if (c->narg == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct imap_arg *a;

		if (cap > IMAP_ARGS_MAX)
			cap = IMAP_ARGS_MAX;
		a = realloc(c->arg, cap * sizeof *a);
		if (!a)
			return IMAP_NOMEM;
		c->arg = a;
		c->cap = cap;
	}
	memset(&c->arg[c->narg], 0, sizeof c->arg[0]);
	c->arg[c->narg].type = type;
	*idx = c->narg++;
	return IMAP_OK;
}

/* An atom, with a "[...]" part taken whole (spaces and parentheses
 * included) as fetch items such as BODY[HEADER.FIELDS (From)]<0.10>
 * need. */
static int atom_read(struct pstate *ps, size_t idx)
{
	size_t start = ps->i;

	if (ps->i < ps->n && ps->p[ps->i] == '\\') {
		ps->i++;                /* a flag: \Seen, or \* */
		if (ps->i < ps->n && ps->p[ps->i] == '*') {
			ps->i++;
			goto done;
		}
		if (ps->i == ps->n || !atom_char((unsigned char)ps->p[ps->i]))
			return bad(ps, "bad flag");
	}
	while (ps->i < ps->n) {
		unsigned char ch = (unsigned char)ps->p[ps->i];

		if (ch == '[') {
			ps->i++;
			while (ps->i < ps->n && ps->p[ps->i] != ']') {
				ch = (unsigned char)ps->p[ps->i];
				if (ch < 0x20 || ch == 0x7f)
					return bad(ps, "control character in brackets");
				ps->i++;
			}
			if (ps->i == ps->n)
				return bad(ps, "missing ]");
			ps->i++;
			continue;
		}
		if (!atom_char(ch))
			break;
		ps->i++;
	}
	if (ps->i == start)
		return bad(ps, "bad atom");
done:
	ps->c->arg[idx].s = ps->p + start;
	ps->c->arg[idx].len = ps->i - start;
	return IMAP_OK;
}

static int quoted_read(struct pstate *ps, size_t idx)
{
	char *out;
	size_t start;

	ps->i++;                        /* the opening quote */
	start = ps->i;
	out = ps->p + start;
	for (;;) {
		unsigned char ch;

		if (ps->i >= ps->n)
			return bad(ps, "unterminated quoted string");
		ch = (unsigned char)ps->p[ps->i++];
		if (ch == '"')
			break;
		if (ch == '\0' || ch == '\r' || ch == '\n')
			return bad(ps, "bad character in quoted string");
		if (ch == '\\') {
			if (ps->i >= ps->n)
				return bad(ps, "unterminated quoted string");
			ch = (unsigned char)ps->p[ps->i++];
			if (ch != '"' && ch != '\\')
				return bad(ps, "bad escape in quoted string");
		}
		*out++ = (char)ch;
	}
	ps->c->arg[idx].s = ps->p + start;
	ps->c->arg[idx].len = (size_t)(out - (ps->p + start));
	return IMAP_OK;
}

static int literal_read(struct pstate *ps, size_t idx)
{
	unsigned long long v = 0;
	size_t digits = 0;

	ps->i++;                        /* '{' */
	while (ps->i < ps->n && ps->p[ps->i] >= '0' && ps->p[ps->i] <= '9') {
		if (++digits > 19)
			return bad(ps, "literal too big");
		v = v * 10 + (unsigned long long)(ps->p[ps->i++] - '0');
	}
	if (!digits)
		return bad(ps, "bad literal");
	if (ps->i < ps->n && ps->p[ps->i] == '+')
		ps->i++;
	if (ps->n - ps->i < 3 || memcmp(ps->p + ps->i, "}\r\n", 3))
		return bad(ps, "bad literal");
	ps->i += 3;
	if (v > ps->n - ps->i)
		return bad(ps, "literal longer than the command");
	if (memchr(ps->p + ps->i, '\0', (size_t)v))
		return bad(ps, "NUL in literal");
	ps->literals += (size_t)v;
	ps->c->arg[idx].s = ps->p + ps->i;
	ps->c->arg[idx].len = (size_t)v;
	ps->i += (size_t)v;
	return IMAP_OK;
}

static int args_read(struct pstate *ps, size_t *first, int depth);

static int arg_read(struct pstate *ps, size_t *idx, int depth)
{
	char ch = ps->p[ps->i];
	size_t child;
	int r;

	if (ch == '(') {
		if (depth >= IMAP_DEPTH_MAX)
			return bad(ps, "lists nested too deeply");
		if ((r = arg_new(ps, IMAP_LIST, idx)) != IMAP_OK)
			return r;
		ps->i++;
		/* not straight into arg[*idx]: the array may move meanwhile */
		if ((r = args_read(ps, &child, depth + 1)))
			return r;
		ps->c->arg[*idx].child = child;
		if (ps->i >= ps->n || ps->p[ps->i] != ')')
			return bad(ps, "missing )");
		ps->i++;
		return IMAP_OK;
	}
	if (ch == '"') {
		if ((r = arg_new(ps, IMAP_QUOTED, idx)) != IMAP_OK)
			return r;
		return quoted_read(ps, *idx);
	}
	if (ch == '{') {
		if ((r = arg_new(ps, IMAP_LITERAL, idx)) != IMAP_OK)
			return r;
		return literal_read(ps, *idx);
	}
	if ((r = arg_new(ps, IMAP_ATOM, idx)) != IMAP_OK)
		return r;
	return atom_read(ps, *idx);
}

/* Arguments separated by single spaces, up to the end or a ')' (which is
 * left for the caller). *first gets index + 1 of the first, 0 if none. */
static int args_read(struct pstate *ps, size_t *first, int depth)
{
	size_t prev = 0, idx;
	int r;

	*first = 0;
	if (ps->i >= ps->n || ps->p[ps->i] == ')')
		return IMAP_OK;
	for (;;) {
		if (ps->p[ps->i] == ' ' || ps->p[ps->i] == ')')
			return bad(ps, "unexpected space or )");
		if ((r = arg_read(ps, &idx, depth)) != IMAP_OK)
			return r;
		if (prev)
			ps->c->arg[prev - 1].next = idx + 1;
		else
			*first = idx + 1;
		prev = idx + 1;
		if (ps->i >= ps->n || ps->p[ps->i] == ')')
			return IMAP_OK;
		if (ps->p[ps->i] != ' ')
			return bad(ps, "missing space between arguments");
		ps->i++;
		if (ps->i >= ps->n)
			return bad(ps, "trailing space");
	}
}

static int word_read(struct pstate *ps, char **s, size_t *len)
{
	size_t start = ps->i;

	while (ps->i < ps->n) {
		char ch = ps->p[ps->i];

		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
			break;
		ps->i++;
	}
	if (ps->i == start || ps->i - start > 32)
		return bad(ps, "bad command name");
	*s = ps->p + start;
	*len = ps->i - start;
	return IMAP_OK;
}

static int head_read(struct pstate *ps)
{
	struct imap_cmd *c = ps->c;
	size_t start = 0;
	int r;

	while (ps->i < ps->n && tag_char((unsigned char)ps->p[ps->i]))
		ps->i++;
	if (ps->i == start || ps->i > IMAP_TAG_MAX ||
	    ps->i >= ps->n || ps->p[ps->i] != ' ')
		return bad(ps, "bad tag");
	c->tag = ps->p;
	c->taglen = ps->i;
	ps->i++;
	if ((r = word_read(ps, &c->name, &c->namelen)) != IMAP_OK)
		return r;
	if (c->namelen == 3 && case_eqb(c->name, "UID", 3)) {
		if (ps->i >= ps->n || ps->p[ps->i] != ' ')
			return bad(ps, "UID needs a command");
		ps->i++;
		c->uid = 1;
		if ((r = word_read(ps, &c->name, &c->namelen)) != IMAP_OK)
			return r;
	}
	return IMAP_OK;
}

int imap_parse(struct imap_cmd *c, char *buf, size_t n)
{
	struct pstate ps;
	int r;

	c->tag = c->name = 0;
	c->taglen = c->namelen = 0;
	c->uid = 0;
	c->narg = 0;
	c->first = 0;
	c->err = 0;
	ps.c = c;
	ps.p = buf;
	ps.n = n;
	ps.i = 0;
	ps.literals = 0;
	if ((r = head_read(&ps)) != IMAP_OK)
		return r;
	if (ps.i == n)
		return IMAP_OK;
	if (ps.p[ps.i] != ' ')
		return bad(&ps, "bad command name");
	ps.i++;
	if (ps.i == n)
		return bad(&ps, "trailing space");
	if ((r = args_read(&ps, &c->first, 0)) != IMAP_OK)
		return r;
	if (ps.i != n)
		return bad(&ps, "unbalanced )");
	return IMAP_OK;
}

void imap_cmd_free(struct imap_cmd *c)
{
	free(c->arg);
	c->arg = 0;
	c->narg = c->cap = 0;
}

int imap_literal_end(const char *line, size_t n, unsigned long long *size,
                     int *sync)
{
	unsigned long long v = 0;
	size_t i, digits;

	if (n < 3 || line[n - 1] != '}')
		return 0;
	i = n - 1;
	*sync = 1;
	if (line[i - 1] == '+') {
		*sync = 0;
		i--;
	}
	digits = 0;
	while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9') {
		i--;
		digits++;
	}
	if (!digits || i == 0 || line[i - 1] != '{')
		return 0;
	if (digits > 19)
		return -1;
	for (; digits; digits--, i++)
		v = v * 10 + (unsigned long long)(line[i] - '0');
	*size = v;
	return 1;
}

const struct imap_arg *imap_arg_at(const struct imap_cmd *c, size_t i)
{
	return i ? &c->arg[i - 1] : 0;
}

const struct imap_arg *imap_first(const struct imap_cmd *c)
{
	return imap_arg_at(c, c->first);
}

const struct imap_arg *imap_next(const struct imap_cmd *c,
                                 const struct imap_arg *a)
{
	return a ? imap_arg_at(c, a->next) : 0;
}

const struct imap_arg *imap_child(const struct imap_cmd *c,
                                  const struct imap_arg *a)
{
	return a && a->type == IMAP_LIST ? imap_arg_at(c, a->child) : 0;
}

size_t imap_nargs(const struct imap_cmd *c)
{
	const struct imap_arg *a;
	size_t k = 0;

	for (a = imap_first(c); a; a = imap_next(c, a))
		k++;
	return k;
}

int imap_is_atom(const struct imap_arg *a, const char *word)
{
	size_t n = strlen(word);

	return a && a->type == IMAP_ATOM && a->len == n &&
	       case_eqb(a->s, word, n);
}

int imap_astring(const struct imap_arg *a, const char **s, size_t *n)
{
	if (!a || a->type == IMAP_LIST)
		return 0;
	if (a->type == IMAP_ATOM) {
		size_t i;

		/* ASTRING-CHAR: no wildcards, no brackets, no flags */
		for (i = 0; i < a->len; i++)
			if (a->s[i] == '%' || a->s[i] == '*' || a->s[i] == '[' ||
			    a->s[i] == '\\')
				return 0;
	}
	*s = a->s;
	*n = a->len;
	return 1;
}

int imap_string(const struct imap_arg *a, const char **s, size_t *n)
{
	if (!a || (a->type != IMAP_QUOTED && a->type != IMAP_LITERAL))
		return 0;
	*s = a->s;
	*n = a->len;
	return 1;
}

int imap_number(const struct imap_arg *a, unsigned long long *out)
{
	if (!a || a->type != IMAP_ATOM || a->len > 10 ||
	    !scan_ulong(a->s, a->len, out) || *out > 0xffffffffULL)
		return 0;
	return 1;
}

/* seq-number: nz-number or '*' */
static int seq_num(const char *s, size_t n, size_t *i, unsigned long *v)
{
	unsigned long long x = 0;
	size_t start = *i;

	if (*i < n && s[*i] == '*') {
		(*i)++;
		*v = IMAP_STAR;
		return 1;
	}
	if (*i >= n || s[*i] < '1' || s[*i] > '9')
		return 0;
	while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
		x = x * 10 + (unsigned long long)(s[*i] - '0');
		if (x >= IMAP_STAR || *i - start >= 10)
			return 0;
		(*i)++;
	}
	*v = (unsigned long)x;
	return 1;
}

int imap_seq_parse(struct imap_seq *q, const char *s, size_t n)
{
	size_t i = 0;

	q->n = 0;
	for (;;) {
		struct imap_range r;

		if (!seq_num(s, n, &i, &r.lo))
			return 0;
		r.hi = r.lo;
		if (i < n && s[i] == ':') {
			i++;
			if (!seq_num(s, n, &i, &r.hi))
				return 0;
		}
		if (q->n >= IMAP_SEQ_MAX)
			return 0;
		if (q->n == q->cap) {
			size_t cap = q->cap ? q->cap * 2 : 8;
			struct imap_range *nr = realloc(q->r, cap * sizeof *nr);

			if (!nr)
				return -1;
			q->r = nr;
			q->cap = cap;
		}
		q->r[q->n++] = r;
		if (i == n)
			return 1;
		if (s[i] != ',')
			return 0;
		i++;
	}
}

void imap_seq_resolve(struct imap_seq *q, unsigned long max)
{
	size_t k;

	for (k = 0; k < q->n; k++) {
		struct imap_range *r = &q->r[k];

		if (r->lo == IMAP_STAR)
			r->lo = max;
		if (r->hi == IMAP_STAR)
			r->hi = max;
		if (r->lo > r->hi) {
			unsigned long t = r->lo;

			r->lo = r->hi;
			r->hi = t;
		}
	}
}

int imap_seq_has(const struct imap_seq *q, unsigned long v)
{
	size_t k;

	for (k = 0; k < q->n; k++)
		if (v >= q->r[k].lo && v <= q->r[k].hi)
			return 1;
	return 0;
}

void imap_seq_free(struct imap_seq *q)
{
	free(q->r);
	q->r = 0;
	q->n = q->cap = 0;
}

static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

long imap_days(long y, unsigned m, unsigned d)
{
	/* Howard Hinnant's days_from_civil */
	long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (long)(m + (m > 2 ? -3 : 9)) + 2) / 5 + (long)d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int month_days(long y, unsigned m)
{
	static const unsigned char md[] =
		{ 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return md[m - 1];
}

static int digits(const char *s, size_t n, size_t *i, size_t k,
                  unsigned long *v)
{
	*v = 0;
	if (n - *i < k)
		return 0;
	for (; k; k--, (*i)++) {
		if (s[*i] < '0' || s[*i] > '9')
			return 0;
		*v = *v * 10 + (unsigned long)(s[*i] - '0');
	}
	return 1;
}

/* "d-Mon-yyyy" from s + *i, with a leading space allowed for the day
 * when sp is set (date-day-fixed). */
static int date_at(const char *s, size_t n, size_t *i, int sp, long *days)
{
	unsigned long d, y;
	unsigned m;

	if (sp && *i < n && s[*i] == ' ')
		(*i)++;
	if (!digits(s, n, i, 1, &d))
		return 0;
	if (*i < n && s[*i] >= '0' && s[*i] <= '9')
		d = d * 10 + (unsigned long)(s[(*i)++] - '0');
	if (n - *i < 5 || s[*i] != '-' || s[*i + 4] != '-')
		return 0;
	for (m = 0; m < 12; m++)
		if (case_eqb(s + *i + 1, months + 3 * m, 3))
			break;
	if (m == 12)
		return 0;
	*i += 5;
	if (!digits(s, n, i, 4, &y) || y < 1900)
		return 0;
	if (d < 1 || d > (unsigned long)month_days((long)y, m + 1))
		return 0;
	*days = imap_days((long)y, m + 1, (unsigned)d);
	return 1;
}

int imap_date_parse(const char *s, size_t n, long *days)
{
	size_t i = 0;

	return date_at(s, n, &i, 0, days) && i == n;
}

int imap_datetime_parse(const char *s, size_t n, time_t *t)
{
	unsigned long hh, mm, ss, zh, zm;
	size_t i = 0;
	long days, off;
	int neg;

	if (!date_at(s, n, &i, 1, &days) || i >= n || s[i++] != ' ')
		return 0;
	if (!digits(s, n, &i, 2, &hh) || i >= n || s[i++] != ':' ||
	    !digits(s, n, &i, 2, &mm) || i >= n || s[i++] != ':' ||
	    !digits(s, n, &i, 2, &ss) || i >= n || s[i++] != ' ')
		return 0;
	if (i >= n || (s[i] != '+' && s[i] != '-'))
		return 0;
	neg = s[i++] == '-';
	if (!digits(s, n, &i, 2, &zh) || !digits(s, n, &i, 2, &zm) || i != n)
		return 0;
	if (hh > 23 || mm > 59 || ss > 60 || zh > 23 || zm > 59)
		return 0;
	off = (long)(zh * 3600 + zm * 60);
	*t = (time_t)days * 86400 + (time_t)(hh * 3600 + mm * 60 + ss) -
	     (neg ? -off : off);
	return 1;
}

static void two(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10 % 10);
	p[1] = (char)('0' + v % 10);
}

size_t imap_datetime_fmt(char buf[IMAP_DATETIME], time_t t)
{
	struct tm tm;
	unsigned y;

	if (!gmtime_r(&t, &tm) || tm.tm_year < 0 || tm.tm_year > 8099) {
		t = 0;
		gmtime_r(&t, &tm);
	}
	y = (unsigned)tm.tm_year + 1900;
	two(buf, (unsigned)tm.tm_mday);
	buf[2] = '-';
	memcpy(buf + 3, months + 3 * tm.tm_mon, 3);
	buf[6] = '-';
	two(buf + 7, y / 100);
	two(buf + 9, y % 100);
	buf[11] = ' ';
	two(buf + 12, (unsigned)tm.tm_hour);
	buf[14] = ':';
	two(buf + 15, (unsigned)tm.tm_min);
	buf[17] = ':';
	two(buf + 18, (unsigned)tm.tm_sec);
	memcpy(buf + 20, " +0000", 6);
	buf[26] = 0;
	return 26;
}

int imap_mailbox_ok(const char *s, size_t n)
{
	size_t i, level = 0;

	if (n == 0 || n > IMAP_MAILBOX_MAX)
		return 0;
	for (i = 0; i <= n; i++) {
		unsigned char ch = i < n ? (unsigned char)s[i] : '.';

		if (ch == '.') {
			if (level == 0)
				return 0;
			level = 0;
			continue;
		}
		if (ch < 0x20 || ch == 0x7f || ch == '/' || ch == '%' ||
		    ch == '*')
			return 0;
		level++;
	}
	return 1;
}
