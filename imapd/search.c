/* SEARCH and UID SEARCH (RFC 3501 6.4.4). The keys are checked once
 * without looking at any message, so a bad key is a BAD before any
 * output; then each message is tested, its file read only when a key
 * needs the text: the header fields the folder's cache holds (Subject,
 * From, To, Cc, Bcc, Date, Message-ID) come from there, already decoded.
 * Text matches are substrings of decoded text (decode.h: encoded words,
 * transfer encodings and 8-bit charsets undone, Latin letters folded),
 * the search string folded the same way. */
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "decode.h"
#include "fetch.h"
#include "fmt.h"
#include "log.h"
#include "mime.h"
#include "session.h"

#define SEARCH_DEPTH_MAX 64     /* NOT/OR/list nesting */

struct ctx {
	struct session *s;
	size_t i;               /* the message; (size_t)-1 for the check */
	int bad;
	int depth;
	int modseq;             /* a MODSEQ key was used */
	struct str v;
	struct str nd;          /* the search string, folded */
	const char *ndsrc;      /* the string nd was folded from */
	struct str dec;         /* a decoded header value */
	struct str hay;         /* decoded, folded text of the message */
	struct mime m;
	struct imap_seq q;
	const struct imap_arg *qarg;    /* the set parsed into q */
};

static int checking(const struct ctx *c)
{
	return c->i == (size_t)-1;
}

static const char *text(struct ctx *c, size_t *n)
{
	if (msg_load(c->s, c->i) < 0) {
		*n = 0;
		return "";
	}
	*n = c->s->cache.text.len;
	return c->s->cache.text.s ? c->s->cache.text.s : "";
}

static size_t hdr_len(const char *t, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i++)
		if (t[i] == '\n' && (t[i + 1] == '\n' ||
		                     (t[i + 1] == '\r' && i + 2 < n && t[i + 2] == '\n')))
			return i + 1;
	return n;
}

/* The value of header field, from the cache when it keeps that field:
 * 1 found, 0 not there (or the message can't be read). */
static int hdr_value(struct ctx *c, const char *field, const char **v,
                     size_t *vn)
{
	int k = cache_field_find(field, strlen(field)), r;
	struct cache_ent e;
	const char *t;
	size_t tn;

	if (k >= 0) {
		if (msg_cached(c->s, c->i, CF_BIT(k), &e) < 0 ||
		    (e.absent & CF_BIT(k)))
			return 0;
		*v = e.f[k];
		*vn = e.flen[k];
		return 1;
	}
	t = text(c, &tn);
	r = mime_header(t, hdr_len(t, tn), field, &c->v);
	if (r < 0)
		die_nomem();
	*v = c->v.s ? c->v.s : "";
	*vn = c->v.len;
	return r > 0;
}

/* The search string s[0..n) folded into c->nd; the keys are walked
 * again for every message, so the last one folded is kept. */
static void needle(struct ctx *c, const char *s, size_t n)
{
	if (c->ndsrc == s && c->nd.len == n)
		return;
	c->nd.len = 0;
	if (!decode_fold(&c->nd, s, n))
		die_nomem();
	c->ndsrc = s;
}

static int found(const struct ctx *c, const char *h, size_t hn)
{
	return c->nd.len == 0 || memmem(h, hn, c->nd.s, c->nd.len) != 0;
}

/* The cache keeps the fields SEARCH reads decoded and folded already
 * (all but Date, which the SENT* keys parse); others are done here. */
static int hdr_has(struct ctx *c, const char *field, const char *s, size_t n)
{
	int k = cache_field_find(field, strlen(field));
	const char *v;
	size_t vn;

	if (!hdr_value(c, field, &v, &vn))
		return 0;
	needle(c, s, n);
	if (k >= 0 && k != CF_DATE)
		return found(c, v, vn);
	c->dec.len = 0;
	c->hay.len = 0;
	if (!decode_header(&c->dec, v, vn) ||
	    !decode_fold(&c->hay, c->dec.s ? c->dec.s : "", c->dec.len))
		die_nomem();
	return found(c, c->hay.s, c->hay.len);
}

static long msg_day(struct ctx *c)
{
	time_t t = msg_date(c->s, c->i);

	return (long)(t / 86400);
}

static size_t skip_sp(const char *v, size_t n, size_t i)
{
	while (i < n && (v[i] == ' ' || v[i] == '\t'))
		i++;
	return i;
}

static size_t digits(const char *v, size_t n, size_t i, size_t max)
{
	size_t k = 0;

	while (i + k < n && k < max && v[i + k] >= '0' && v[i + k] <= '9')
		k++;
	return k;
}

/* The day of a Date field, "[Day,] d Mon yyyy ...", time and zone
 * disregarded (RFC 3501 6.4.4): 1 ok, 0 not a date. Two- and
 * three-digit years are read as RFC 5322 4.3 says. */
static int sent_day(const char *v, size_t n, long *day)
{
	char b[16];
	size_t i = skip_sp(v, n, 0), dl, yl, bl = 0;
	unsigned long long y;

	while (i < n && ((v[i] | 0x20) >= 'a' && (v[i] | 0x20) <= 'z'))
		i++;
	i = skip_sp(v, n, i);
	if (i < n && v[i] == ',')
		i = skip_sp(v, n, i + 1);
	dl = digits(v, n, i, 2);
	if (!dl || i + dl + 5 > n)
		return 0;
	memcpy(b, v + i, dl);
	bl = dl;
	b[bl++] = '-';
	i = skip_sp(v, n, i + dl);
	if (i + 3 > n)
		return 0;
	memcpy(b + bl, v + i, 3);
	bl += 3;
	b[bl++] = '-';
	i = skip_sp(v, n, i + 3);
	yl = digits(v, n, i, 4);
	if (yl < 2 || !scan_ulong(v + i, yl, &y))
		return 0;
	if (yl == 2)
		y += y < 50 ? 2000 : 1900;
	else if (yl == 3)
		y += 1900;
	bl += fmt_ulong(b + bl, y);
	return imap_date_parse(b, bl, day);
}

/* The Date field's day, else (none, or not a date) INTERNALDATE's. */
static long sent_msg_day(struct ctx *c)
{
	const char *v;
	size_t vn;
	long day;

	if (hdr_value(c, "Date", &v, &vn) && sent_day(v, vn, &day))
		return day;
	return msg_day(c);
}

static int arg_str(struct ctx *c, const struct imap_arg **a, const char **s,
                   size_t *n)
{
	*a = imap_next(&c->s->cmd, *a);
	if (!imap_astring(*a, s, n) && !imap_string(*a, s, n)) {
		c->bad = 1;
		return 0;
	}
	return 1;
}

static int key(struct ctx *c, const struct imap_arg **a);

static int flag_key(struct ctx *c, const struct imap_arg *a, int *m)
{
	static const struct {
		const char *name;
		unsigned bit;
		int set;
	} t[] = {
		{ "ANSWERED", FL_ANSWERED, 1 }, { "DELETED", FL_DELETED, 1 },
		{ "DRAFT", FL_DRAFT, 1 }, { "FLAGGED", FL_FLAGGED, 1 },
		{ "SEEN", FL_SEEN, 1 }, { "UNANSWERED", FL_ANSWERED, 0 },
		{ "UNDELETED", FL_DELETED, 0 }, { "UNDRAFT", FL_DRAFT, 0 },
		{ "UNFLAGGED", FL_FLAGGED, 0 }, { "UNSEEN", FL_SEEN, 0 },
	};
	size_t k;

	for (k = 0; k < sizeof t / sizeof t[0]; k++)
		if (imap_is_atom(a, t[k].name)) {
			if (!checking(c))
				*m = !(c->s->mb.m[c->i].flags & t[k].bit) == !t[k].set;
			return 1;
		}
	return 0;
}

static int date_key(struct ctx *c, const struct imap_arg **a, int *m)
{
	const char *s;
	size_t n;
	long day, d;
	int which, sent = 0;

	if (imap_is_atom(*a, "SENTBEFORE") || imap_is_atom(*a, "SENTON") ||
	    imap_is_atom(*a, "SENTSINCE"))
		sent = 1;
	if (imap_is_atom(*a, sent ? "SENTBEFORE" : "BEFORE"))
		which = -1;
	else if (imap_is_atom(*a, sent ? "SENTON" : "ON"))
		which = 0;
	else if (imap_is_atom(*a, sent ? "SENTSINCE" : "SINCE"))
		which = 1;
	else
		return 0;
	if (!arg_str(c, a, &s, &n))
		return 1;
	if (!imap_date_parse(s, n, &day)) {
		c->bad = 1;
		return 1;
	}
	if (!checking(c)) {
		d = sent ? sent_msg_day(c) : msg_day(c);
		*m = which < 0 ? d < day : which == 0 ? d == day : d >= day;
	}
	return 1;
}

static int text_key(struct ctx *c, const struct imap_arg **a, int *m)
{
	static const char *const hdrs[] = { "BCC", "CC", "FROM", "SUBJECT",
	                                     "TO" };
	const char *s, *field = 0;
	size_t n, k, tn;
	const char *t;

	for (k = 0; k < sizeof hdrs / sizeof hdrs[0]; k++)
		if (imap_is_atom(*a, hdrs[k]))
			field = hdrs[k];
	if (field) {
		if (arg_str(c, a, &s, &n) && !checking(c))
			*m = hdr_has(c, field, s, n);
		return 1;
	}
	if (imap_is_atom(*a, "HEADER")) {
		const char *f;
		size_t fn;

		if (!arg_str(c, a, &f, &fn) || !arg_str(c, a, &s, &n))
			return 1;
		if (checking(c))
			return 1;
		if (!str_copyb(&c->v, f, fn) || !str_0(&c->v))
			die_nomem();
		{
			char *name = strdup(c->v.s);

			if (!name)
				die_nomem();
			*m = hdr_has(c, name, s, n);
			free(name);
		}
		return 1;
	}
	if (imap_is_atom(*a, "BODY") || imap_is_atom(*a, "TEXT")) {
		int body = imap_is_atom(*a, "BODY");

		if (!arg_str(c, a, &s, &n) || checking(c))
			return 1;
		t = text(c, &tn);
		mime_free(&c->m);
		memset(&c->m, 0, sizeof c->m);
		c->hay.len = 0;
		if (mime_parse(&c->m, t, tn) < 0 ||
		    !decode_message(&c->hay, &c->m, !body))
			die_nomem();
		needle(c, s, n);
		*m = found(c, c->hay.s, c->hay.len);
		return 1;
	}
	return 0;
}

static int size_key(struct ctx *c, const struct imap_arg **a, int *m)
{
	unsigned long long v, size;
	int larger = imap_is_atom(*a, "LARGER");

	if (!larger && !imap_is_atom(*a, "SMALLER"))
		return 0;
	*a = imap_next(&c->s->cmd, *a);
	if (!imap_number(*a, &v)) {
		c->bad = 1;
		return 1;
	}
	if (!checking(c)) {
		if (msg_size(c->s, c->i, &size) < 0)
			size = 0;
		*m = larger ? size > v : size < v;
	}
	return 1;
}

static int set_key(struct ctx *c, const struct imap_arg *a, int uid, int *m)
{
	struct mailbox *mb = &c->s->mb;
	unsigned long max = uid ? (mb->n ? mb->m[mb->n - 1].uid : 0) :
	                    (unsigned long)mb->n;
	int r;

	if (!a || a->type != IMAP_ATOM) {
		c->bad = 1;
		return 1;
	}
	if (c->qarg != a || checking(c)) {
		r = imap_seq_parse(&c->q, a->s, a->len);
		if (r < 0)
			die_nomem();
		if (r == 0) {
			c->bad = 1;
			return 1;
		}
		c->qarg = checking(c) ? 0 : a;
		if (!checking(c))
			imap_seq_resolve(&c->q, max);
	}
	if (!checking(c)) {
		*m = imap_seq_has(&c->q, uid ? mb->m[c->i].uid :
		                  (unsigned long)c->i + 1);
	}
	return 1;
}

/* MODSEQ [entry-name entry-type] n (RFC 7162 3.1.5): quail keeps one
 * modseq per message, so the entry, a flag's name and priv, shared or
 * all, is checked and ignored. */
static int modseq_key(struct ctx *c, const struct imap_arg **a, int *m)
{
	const char *e;
	size_t n;
	unsigned long long v;

	if (!imap_is_atom(*a, "MODSEQ"))
		return 0;
	*a = imap_next(&c->s->cmd, *a);
	if (imap_string(*a, &e, &n)) {
		*a = imap_next(&c->s->cmd, *a);
		if (!imap_is_atom(*a, "PRIV") && !imap_is_atom(*a, "SHARED") &&
		    !imap_is_atom(*a, "ALL")) {
			c->bad = 1;
			return 1;
		}
		*a = imap_next(&c->s->cmd, *a);
	}
	if (!modseq_arg(*a, &v))
		c->bad = 1;
	else if (!checking(c))
		*m = c->s->mb.m[c->i].modseq >= v;
	c->modseq = 1;
	return 1;
}

/* One search key at *a; leaves *a on its last argument. */
static int key(struct ctx *c, const struct imap_arg **a)
{
	int m = 1;

	if (!*a || ++c->depth > SEARCH_DEPTH_MAX) {
		c->bad = 1;
		return 0;
	}
	if ((*a)->type == IMAP_LIST) {
		const struct imap_arg *x = imap_child(&c->s->cmd, *a);

		if (!x)
			c->bad = 1;
		for (; x && !c->bad; x = imap_next(&c->s->cmd, x))
			m &= key(c, &x);
	} else if (imap_is_atom(*a, "ALL")) {
		m = 1;
	} else if (imap_is_atom(*a, "NOT")) {
		*a = imap_next(&c->s->cmd, *a);
		m = !key(c, a);
	} else if (imap_is_atom(*a, "OR")) {
		int x;

		*a = imap_next(&c->s->cmd, *a);
		x = key(c, a);
		*a = imap_next(&c->s->cmd, *a);
		m = key(c, a) || x;
	} else if (imap_is_atom(*a, "NEW") || imap_is_atom(*a, "OLD") ||
	           imap_is_atom(*a, "RECENT")) {
		if (!checking(c)) {
			const struct msg *g = &c->s->mb.m[c->i];

			m = imap_is_atom(*a, "OLD") ? !g->recent :
			    imap_is_atom(*a, "RECENT") ? g->recent :
			    g->recent && !(g->flags & FL_SEEN);
		}
	} else if (imap_is_atom(*a, "KEYWORD") || imap_is_atom(*a, "UNKEYWORD")) {
		int un = imap_is_atom(*a, "UNKEYWORD");

		*a = imap_next(&c->s->cmd, *a);
		if (!*a || (*a)->type != IMAP_ATOM || !kw_name_ok((*a)->s, (*a)->len))
			c->bad = 1;
		else if (!checking(c)) {
			/* a keyword the folder never named is set nowhere */
			int k = kw_find(&c->s->mb.kw, (*a)->s, (*a)->len);

			m = k >= 0 && (c->s->mb.m[c->i].flags & FL_KW(k));
			m = un ? !m : m;
		}
	} else if (imap_is_atom(*a, "UID")) {
		*a = imap_next(&c->s->cmd, *a);
		set_key(c, *a, 1, &m);
	} else if (flag_key(c, *a, &m) || date_key(c, a, &m) ||
	           text_key(c, a, &m) || size_key(c, a, &m) ||
	           modseq_key(c, a, &m)) {
		;
	} else if ((*a)->type == IMAP_ATOM && (((*a)->s[0] >= '0' &&
	           (*a)->s[0] <= '9') || (*a)->s[0] == '*')) {
		set_key(c, *a, 0, &m);
	} else {
		c->bad = 1;
	}
	c->depth--;
	return m && !c->bad;
}

static int all_keys(struct ctx *c, const struct imap_arg *first)
{
	const struct imap_arg *a;
	int m = 1;

	for (a = first; a && !c->bad; a = imap_next(&c->s->cmd, a))
		if (!key(c, &a))
			m = 0;
	return m && !c->bad;
}

static void search_free(struct ctx *c)
{
	str_free(&c->v);
	str_free(&c->nd);
	str_free(&c->dec);
	str_free(&c->hay);
	mime_free(&c->m);
	imap_seq_free(&c->q);
}

void cmd_search(struct session *s)
{
	const struct imap_arg *a = imap_first(&s->cmd);
	struct ctx c;
	unsigned long long top = 0;
	size_t i;

	memset(&c, 0, sizeof c);
	c.s = s;
	if (imap_is_atom(a, "CHARSET")) {
		const char *cs;
		size_t n;

		a = imap_next(&s->cmd, a);
		if (!imap_astring(a, &cs, &n)) {
			reply_bad(s, "bad CHARSET");
			return;
		}
		if (!(n == 8 && case_eqb(cs, "US-ASCII", 8)) &&
		    !(n == 5 && case_eqb(cs, "UTF-8", 5))) {
			reply(s, "NO [BADCHARSET (US-ASCII UTF-8)] Unknown charset");
			return;
		}
		a = imap_next(&s->cmd, a);
	}
	c.i = (size_t)-1;
	all_keys(&c, a);
	if (!a || c.bad) {
		search_free(&c);
		reply_bad(s, "bad search key");
		return;
	}
	if (c.modseq)
		s->condstore = 1;       /* RFC 7162 3.1: an enabling command */
	conn_puts(&s->c, "* SEARCH");
	for (i = 0; i < s->mb.n; i++) {
		if (s->mb.m[i].gone)
			continue;
		c.i = i;
		c.depth = 0;
		if (all_keys(&c, a)) {
			conn_puts(&s->c, " ");
			conn_putu(&s->c, s->cmd.uid ? s->mb.m[i].uid : i + 1);
			if (top < s->mb.m[i].modseq)
				top = s->mb.m[i].modseq;
		}
	}
	/* RFC 7162 3.1.5: the highest modseq of what was found */
	if (c.modseq && top) {
		conn_puts(&s->c, " (MODSEQ ");
		conn_putu(&s->c, top);
		conn_puts(&s->c, ")");
	}
	conn_puts(&s->c, "\r\n");
	search_free(&c);
	msg_cache_done(s);
	reply(s, "OK SEARCH completed");
}
