/* LIST and LSUB (RFC 3501), with LIST-EXTENDED (RFC 5258) and the
 * SPECIAL-USE selection (RFC 6154): the names come from the Maildir++
 * folders in the current directory (folders.c) and the subscriptions
 * file. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fmt.h"
#include "log.h"
#include "session.h"

#define FOLDERS_MAX 5000        /* folders listed */
#define PATTERN_MAX 1024        /* bytes of a LIST reference + pattern */

/* IMAP wildcards: '*' matches anything, '%' anything but the separator.
 * A set of pattern positions is carried along the name (an NFA), so a
 * pattern full of wildcards costs pattern x name steps, never more. */
static int match(const char *p, size_t pn, const char *s, size_t sn)
{
	unsigned char *base = calloc(2 * (pn + 1), 1), *cur = base, *nxt, *t;
	size_t i, k;
	int r;

	if (!base)
		die_nomem();
	nxt = base + pn + 1;
	cur[0] = 1;
	for (i = 0;; i++) {
		for (k = 0; k < pn; k++)        /* a wildcard matches nothing */
			if (cur[k] && (p[k] == '*' || p[k] == '%'))
				cur[k + 1] = 1;
		if (i == sn)
			break;
		memset(nxt, 0, pn + 1);
		for (k = 0; k < pn; k++) {
			if (!cur[k])
				continue;
			if (p[k] == '*' || (p[k] == '%' && s[i] != '.'))
				nxt[k] = 1;
			else if (p[k] == s[i])
				nxt[k + 1] = 1;
		}
		t = cur;
		cur = nxt;
		nxt = t;
	}
	r = cur[pn];
	free(base);
	return r;
}

/* A folder name's flags in a listing. */
#define NM_NOSELECT 1   /* a parent with no directory of its own */
#define NM_MISSING 2    /* subscribed, does not exist: \NonExistent */
#define NM_SUB 4        /* subscribed */

struct names {
	char **v;
	unsigned char *fl;
	size_t n, cap;
};

/* The index of name s[0..n) in l, or l->n. */
static size_t names_find(const struct names *l, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strlen(l->v[i]) == n && !memcmp(l->v[i], s, n))
			break;
	return i;
}

/* Adds s[0..n) with flags fl; a name already there loses NM_NOSELECT
 * and NM_MISSING unless fl has them, so the strongest claim wins. Returns
 * its index, or l->n when the list is full. */
static size_t names_add(struct names *l, const char *s, size_t n, int fl)
{
	size_t i = names_find(l, s, n);

	if (i < l->n) {
		l->fl[i] &= (unsigned char)(fl | NM_SUB);
		l->fl[i] |= (unsigned char)(fl & NM_SUB);
		return i;
	}
	if (l->n >= FOLDERS_MAX)
		return l->n;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		char **v = realloc(l->v, cap * sizeof *v);
		unsigned char *f;

		if (!v)
			die_nomem();
		l->v = v;
		f = realloc(l->fl, cap);
		if (!f)
			die_nomem();
		l->fl = f;
		l->cap = cap;
	}
	l->v[l->n] = strndup(s, n);
	if (!l->v[l->n])
		die_nomem();
	l->fl[l->n] = (unsigned char)fl;
	return l->n++;
}

static void names_free(struct names *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l->fl);
}

/* Every folder, and the parents they imply (\Noselect when they have no
 * directory of their own). */
static void names_load(struct names *l)
{
	struct dirent *d;
	DIR *dp = opendir(".");
	struct stat st;

	names_add(l, "INBOX", 5, 0);
	if (!dp)
		return;
	while ((d = readdir(dp))) {
		size_t n = strlen(d->d_name), k;

		if (d->d_name[0] != '.' || n < 2 ||
		    !imap_mailbox_ok(d->d_name + 1, n - 1))
			continue;
		if (!folder_exists(d->d_name) || stat(d->d_name, &st) < 0)
			continue;
		for (k = 1; k < n; k++)
			if (d->d_name[k] == '.')
				names_add(l, d->d_name + 1, k - 1, NM_NOSELECT);
		names_add(l, d->d_name + 1, n - 1, 0);
	}
	closedir(dp);
}

/* The subscriptions, flagged NM_SUB on the names there; with add, the
 * subscribed names that do not exist join as NM_MISSING. -1 when the
 * file cannot be read. */
static int names_subs(struct session *s, struct names *l, int add)
{
	size_t i, e, k;

	if (folders_subs_read(&s->u) < 0)
		return -1;
	for (i = 0; i < s->u.len; i = e + 1) {
		e = i + byte_chr(s->u.s + i, s->u.len - i, '\n');
		if (e == i)
			continue;
		k = names_find(l, s->u.s + i, e - i);
		if (k < l->n)
			l->fl[k] |= NM_SUB;
		else if (add)
			names_add(l, s->u.s + i, e - i,
			          NM_SUB | NM_MISSING | NM_NOSELECT);
	}
	return 0;
}

static int has_children(const struct names *l, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < l->n; i++)
		if (!(l->fl[i] & NM_MISSING) && strlen(l->v[i]) > n + 1 &&
		    !memcmp(l->v[i], name, n) && l->v[i][n] == '.')
			return 1;
	return 0;
}

/* LIST-EXTENDED (RFC 5258) selection and return options, and RFC 6154's
 * SPECIAL-USE for both. */
#define SEL_SUBSCRIBED 1
#define SEL_RECURSIVE 2
#define SEL_SPECIAL 4
#define RET_SUBSCRIBED 1
#define RET_CHILDREN 2
#define RET_SPECIAL 4

/* A list-mailbox (RFC 3501): an astring that may hold the wildcards. */
static int list_pattern(const struct imap_arg *a, const char **s, size_t *n)
{
	if (!a || a->type == IMAP_LIST)
		return 0;
	*s = a->s;
	*n = a->len;
	return 1;
}

struct listreq {
	unsigned sel, ret;
	const struct imap_arg *ref, *pat;   /* pat: an astring or a list */
};

/* Whether name i meets the selection criteria. */
static int selected(const struct listreq *q, const struct names *l, size_t i)
{
	if ((q->sel & SEL_SUBSCRIBED) && !(l->fl[i] & NM_SUB))
		return 0;
	if ((q->sel & SEL_SPECIAL) &&
	    ((l->fl[i] & NM_MISSING) || !folder_special_attr(l->v[i])))
		return 0;
	return 1;
}

/* Whether a descendant of name i meets the selection criteria. */
static int child_selected(const struct listreq *q, const struct names *l,
                          size_t i)
{
	size_t k, n = strlen(l->v[i]);

	for (k = 0; k < l->n; k++)
		if (strlen(l->v[k]) > n + 1 && !memcmp(l->v[k], l->v[i], n) &&
		    l->v[k][n] == '.' && selected(q, l, k))
			return 1;
	return 0;
}

static void list_one(struct session *s, const struct names *l, size_t i,
                     const struct listreq *q, int lsub, int childinfo)
{
	const char *name = l->v[i], *attr;
	const char *sep = "";

	conn_puts(&s->c, lsub ? "* LSUB (" : "* LIST (");
	if (!lsub && (l->fl[i] & NM_MISSING)) {
		conn_puts(&s->c, "\\NonExistent");
		sep = " ";
	} else if (!lsub) {
		if (l->fl[i] & NM_NOSELECT)
			conn_puts(&s->c, "\\Noselect ");
		conn_puts(&s->c, has_children(l, name) ? "\\HasChildren" :
		          "\\HasNoChildren");
		sep = " ";
		attr = folder_special_attr(name);
		if (attr) {
			conn_puts(&s->c, " ");
			conn_puts(&s->c, attr);
		}
	}
	if (!lsub && (q->sel & SEL_SUBSCRIBED || q->ret & RET_SUBSCRIBED) &&
	    (l->fl[i] & NM_SUB)) {
		conn_puts(&s->c, sep);
		conn_puts(&s->c, "\\Subscribed");
	}
	conn_puts(&s->c, ") \".\" ");
	conn_string(&s->c, name, strlen(name));
	if (childinfo) {
		conn_puts(&s->c, " (\"CHILDINFO\" (");
		if (q->sel & SEL_SUBSCRIBED)
			conn_puts(&s->c, q->sel & SEL_SPECIAL ?
			          "\"SUBSCRIBED\" \"SPECIAL-USE\"" :
			          "\"SUBSCRIBED\"");
		else
			conn_puts(&s->c, "\"SPECIAL-USE\"");
		conn_puts(&s->c, "))");
	}
	conn_puts(&s->c, "\r\n");
}

/* Options in list a into *bits; 0 for an unknown one. */
static int list_options(struct session *s, const struct imap_arg *a,
                        const char *const *words, unsigned *bits)
{
	const struct imap_arg *o;
	size_t k;

	for (o = imap_child(&s->cmd, a); o; o = imap_next(&s->cmd, o)) {
		for (k = 0; words[k]; k++)
			if (imap_is_atom(o, words[k]))
				break;
		if (!words[k])
			return 0;
		*bits |= 1U << k;
	}
	return 1;
}

/* LIST [(selection)] reference pattern-or-(patterns) [RETURN (options)],
 * LSUB reference pattern: 1 and q filled, or 0 after a BAD reply. */
static int list_parse(struct session *s, struct listreq *q, int lsub)
{
	/* the bit of each word is its index: SEL_* and RET_* above; REMOTE
	 * (we have no remote mailboxes) selects nothing more */
	static const char *const sel[] = { "SUBSCRIBED", "RECURSIVEMATCH",
	                                   "SPECIAL-USE", "REMOTE", 0 };
	static const char *const ret[] = { "SUBSCRIBED", "CHILDREN",
	                                   "SPECIAL-USE", 0 };
	const struct imap_arg *a = imap_first(&s->cmd), *p;
	const char *x;
	size_t n;

	memset(q, 0, sizeof *q);
	if (!lsub && a && a->type == IMAP_LIST) {
		if (!list_options(s, a, sel, &q->sel))
			goto bad;
		q->sel &= SEL_SUBSCRIBED | SEL_RECURSIVE | SEL_SPECIAL;
		/* RFC 5258: RECURSIVEMATCH alone is an error */
		if (q->sel == SEL_RECURSIVE)
			goto bad;
		a = imap_next(&s->cmd, a);
	}
	q->ref = a;
	q->pat = a ? imap_next(&s->cmd, a) : 0;
	if (!q->ref || !q->pat || !list_pattern(q->ref, &x, &n))
		goto bad;
	if (q->pat->type == IMAP_LIST && !lsub) {
		if (!imap_child(&s->cmd, q->pat))
			goto bad;
		for (p = imap_child(&s->cmd, q->pat); p; p = imap_next(&s->cmd, p))
			if (!list_pattern(p, &x, &n))
				goto bad;
	} else if (!list_pattern(q->pat, &x, &n)) {
		goto bad;
	}
	a = imap_next(&s->cmd, q->pat);
	if (a && !lsub && imap_is_atom(a, "RETURN")) {
		a = imap_next(&s->cmd, a);
		if (!a || a->type != IMAP_LIST || imap_next(&s->cmd, a) ||
		    !list_options(s, a, ret, &q->ret))
			goto bad;
		a = 0;
	}
	if (!a)
		return 1;
bad:
	reply_bad(s, lsub ? "LSUB takes a reference and a pattern" :
	          "LIST takes [(options)] a reference, a pattern or "
	          "(patterns) and [RETURN (options)]");
	return 0;
}

/* Whether name nm matches pattern p under the reference in s->t (which
 * holds the reference; p is appended and removed). */
static int list_match(struct session *s, size_t rn, const struct imap_arg *p,
                      const char *nm)
{
	size_t n = strlen(nm), pn = 0;
	const char *ps = "";
	int ok;

	list_pattern(p, &ps, &pn);
	s->t.len = rn;
	if (!str_catb(&s->t, ps, pn))
		die_nomem();
	/* INBOX matches in any case */
	ok = match(s->t.s, s->t.len, nm, n) ||
	     (folder_is_inbox(nm, n) && s->t.len == 5 && folder_is_inbox(s->t.s, 5));
	s->t.len = rn;
	return ok;
}

/* Whether name nm matches one of the request's patterns. */
static int list_matches(struct session *s, const struct listreq *q,
                        size_t rn, const char *nm)
{
	const struct imap_arg *p;

	if (q->pat->type != IMAP_LIST)
		return list_match(s, rn, q->pat, nm);
	for (p = imap_child(&s->cmd, q->pat); p; p = imap_next(&s->cmd, p))
		if (list_match(s, rn, p, nm))
			return 1;
	return 0;
}

/* 1 when the request's patterns are just "" (the separator query). */
static int list_root_query(const struct listreq *q)
{
	const char *x;
	size_t n;

	return list_pattern(q->pat, &x, &n) && n == 0;
}

void cmd_list(struct session *s, int lsub)
{
	struct listreq q;
	struct names l;
	const char *r = "";
	size_t rn = 0, i, plen = 0;
	const struct imap_arg *p;
	int sel, kids;

	if (!list_parse(s, &q, lsub))
		return;
	memset(&l, 0, sizeof l);
	list_pattern(q.ref, &r, &rn);
	if (!lsub && list_root_query(&q)) {
		conn_puts(&s->c, "* LIST (\\Noselect) \".\" \"\"\r\n");
		reply(s, "OK LIST completed");
		return;
	}
	if (q.pat->type == IMAP_LIST)
		for (p = imap_child(&s->cmd, q.pat); p; p = imap_next(&s->cmd, p))
			plen = plen > p->len ? plen : p->len;
	else
		plen = q.pat->len;
	if (rn + plen > PATTERN_MAX) {
		reply_bad(s, "pattern too long");
		return;
	}
	s->t.len = 0;
	if (!str_catb(&s->t, r, rn))
		die_nomem();
	if (lsub) {
		if (folders_subs_read(&s->u) < 0) {
			reply_errno(s, "subscriptions");
			return;
		}
		for (i = 0; i < s->u.len;) {
			size_t e = i + byte_chr(s->u.s + i, s->u.len - i, '\n');

			names_add(&l, s->u.s + i, e - i, 0);
			i = e + 1;
		}
	} else {
		names_load(&l);
		if ((q.sel & SEL_SUBSCRIBED || q.ret & RET_SUBSCRIBED) &&
		    names_subs(s, &l, q.sel & SEL_SUBSCRIBED) < 0) {
			names_free(&l);
			reply_errno(s, "subscriptions");
			return;
		}
	}
	for (i = 0; i < l.n; i++) {
		if (!list_matches(s, &q, rn, l.v[i]))
			continue;
		sel = lsub || selected(&q, &l, i);
		kids = !lsub && (q.sel & SEL_RECURSIVE) &&
		       child_selected(&q, &l, i);
		if (sel || kids)
			list_one(s, &l, i, &q, lsub, kids);
	}
	names_free(&l);
	reply(s, lsub ? "OK LSUB completed" : "OK LIST completed");
}
