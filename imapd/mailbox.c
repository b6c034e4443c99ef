/* The selected folder: SELECT and EXAMINE, keeping the view in step
 * with the disk (untagged EXISTS, RECENT, EXPUNGE and FETCH FLAGS),
 * message flags as Maildir letters, STORE and EXPUNGE. What RFC 7162
 * adds to the replies is in condstore.c. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>              /* rename */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fetch.h"
#include "fmt.h"
#include "log.h"
#include "maildir.h"
#include "session.h"
#include "uidmap.h"

#define VIEW_POPULATE_MIN (1024 * 1024) /* bytes of view to map at once */

static const struct {
	unsigned bit;
	char letter;
	const char *name;
} flagtab[] = {
	{ FL_DRAFT, 'D', "\\Draft" },
	{ FL_FLAGGED, 'F', "\\Flagged" },
	{ FL_ANSWERED, 'R', "\\Answered" },
	{ FL_SEEN, 'S', "\\Seen" },
	{ FL_DELETED, 'T', "\\Deleted" },
};
#define NFLAGS (sizeof flagtab / sizeof flagtab[0])

_Static_assert(UIDMAP_FL_SEEN == FL_SEEN && FL_ALL == 31 &&
               (FL_KWALL & ~UIDMAP_FL_LETTERS) == 0,
               "uidmap.h keeps the FL_ bits");

unsigned msg_flags_of(const char *name)
{
	return uidmap_flags_of(name, strlen(name));
}

/* Flags and keywords, space separated; keyword letters the folder's
 * file does not name are left out. */
void put_flaglist(struct session *s, unsigned flags)
{
	size_t k;
	int sp = 0;

	for (k = 0; k < NFLAGS; k++)
		if (flags & flagtab[k].bit) {
			if (sp++)
				conn_puts(&s->c, " ");
			conn_puts(&s->c, flagtab[k].name);
		}
	for (k = 0; k < KW_MAX; k++)
		if ((flags & FL_KW(k)) && s->mb.kw.name[k]) {
			if (sp++)
				conn_puts(&s->c, " ");
			conn_puts(&s->c, s->mb.kw.name[k]);
		}
}

void put_flags(struct session *s, unsigned flags, int recent)
{
	conn_puts(&s->c, "FLAGS (");
	put_flaglist(s, flags);
	if (recent)
		conn_puts(&s->c, flags & (FL_ALL | FL_KWALL) ? " \\Recent" :
		          "\\Recent");
	conn_puts(&s->c, ")");
}

static int flag_one(const struct imap_arg *f, unsigned *flags,
                    struct kwmap *kw, const char *dir, int create)
{
	size_t k;
	int r;

	if (f->type != IMAP_ATOM)
		return 0;
	if (f->s[0] != '\\') {
		if (!kw_name_ok(f->s, f->len))
			return 0;
		r = !kw ? -3 : create ? kw_add(kw, dir, f->s, f->len) :
		    kw_find(kw, f->s, f->len);
		if (r >= 0)
			*flags |= FL_KW(r);
		return r >= 0 || r == -3 || (r == -1 && !create) ? 1 : r;
	}
	for (k = 0; k < NFLAGS; k++)
		if (imap_is_atom(f, flagtab[k].name))
			break;
	if (k == NFLAGS)
		return 0;
	*flags |= flagtab[k].bit;
	return 1;
}

/* \Recent can't be set. */
int parse_flags(struct session *s, const struct imap_arg *a,
                unsigned *flags, struct kwmap *kw, const char *dir,
                int create)
{
	const struct imap_arg *f = a;
	int r;

	*flags = 0;
	if (!a)
		return 0;
	if (a->type == IMAP_LIST)
		f = imap_child(&s->cmd, a);
	for (; f; f = a->type == IMAP_LIST ? imap_next(&s->cmd, f) : 0) {
		r = flag_one(f, flags, kw, dir, create);
		if (r != 1)
			return r;
	}
	return 1;
}

/* The letters for flags, in ASCII order (DFRST, then a-z), after the
 * letters of old that quail does not manage (P, ...). */
int name_withflags(struct str *out, const char *name, unsigned flags)
{
	size_t fl = 0, k, n = 0, len = strlen(name);
	const char *old = maildir_name_flags(name, len, &fl);
	char letters[64 + NFLAGS + KW_MAX];

	for (k = 0; old && k < fl && n < 64; k++)
		if (!strchr("DFRST", old[k]) && !(old[k] >= 'a' && old[k] <= 'z'))
			letters[n++] = old[k];
	for (k = 0; k < NFLAGS; k++)
		if (flags & flagtab[k].bit)
			letters[n++] = flagtab[k].letter;
	for (k = 0; k < KW_MAX; k++)
		if (flags & FL_KW(k))
			letters[n++] = (char)('a' + k);
	if (maildir_name_setflags(out, name, len, letters, n) < 0)
		return -1;
	if (!str_0(out))
		die_nomem();
	return 0;
}

/* The selected folder's uid map. The view's names point into it, so a
 * SELECT copies none; a name of the view's own (set by a STORE, or kept
 * for a message that is gone) is malloc'd. It lives here rather than in
 * struct mailbox only because that struct is shared in session.h: a
 * process has one selected folder. */
static struct uidmap held;
/* SELECT of an unchanged folder answers from held's header alone, its
 * records unchecked and no view built: the view is built (mb_ready) when
 * a command first needs it. */
static int pending;

static int name_borrowed(const char *p)
{
	const char *img = (const char *)held.img;

	return img && p >= img && p < img + held.len;
}

static void msg_name_set(struct msg *m, char *name)
{
	if (m->name && !name_borrowed(m->name))
		free(m->name);
	m->name = name;
}

static void msg_clear(struct msg *m)
{
	msg_name_set(m, 0);
}

static void view_free(struct mailbox *mb)
{
	size_t i;

	for (i = 0; i < mb->n; i++)
		msg_clear(&mb->m[i]);
	pending = 0;
	uidmap_free(&held);
	free(mb->m);
	free(mb->dir);
	free(mb->name);
	kw_free(&mb->kw);
	memset(mb, 0, sizeof *mb);
}

void mb_close(struct session *s)
{
	msg_cache_close(s);     /* while the view still names the folder */
	view_free(&s->mb);
	s->selected = 0;
	s->cache.uid = 0;
	s->cache.text.len = 0;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  /* Linux 5.14; C libraries may lack it */
#endif

/* A large view is about to be written whole: one call maps its pages,
 * rather than a fault for each. Only a hint; older kernels refuse it. */
static void view_populate(void *p, size_t n)
{
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = ((uintptr_t)p + pg - 1) & ~(pg - 1);
	uintptr_t b = ((uintptr_t)p + n) & ~(pg - 1);

	if (n >= VIEW_POPULATE_MIN && b > a)
		madvise((void *)a, b - a, MADV_POPULATE_WRITE);
}

/* Room for more messages; the first sync of a view asks for all at once. */
static void view_reserve(struct mailbox *mb, size_t more)
{
	struct msg *m;
	size_t cap;

	if (mb->cap - mb->n >= more)
		return;
	if (__builtin_add_overflow(mb->n, more, &cap))
		die_nomem();
	if (cap < mb->cap * 2)
		cap = mb->cap * 2;
	m = reallocarray(mb->m, cap, sizeof *m);
	if (!m)
		die_nomem();
	mb->m = m;
	mb->cap = cap;
	/* only what was asked for: spare room stays unmapped */
	view_populate(m + mb->n, more * sizeof *m);
}

static void msg_append(struct mailbox *mb, const struct uidmap_rec *r)
{
	struct msg *m;

	view_reserve(mb, 1);
	m = &mb->m[mb->n++];
	memset(m, 0, sizeof *m);
	m->uid = r->uid;
	m->name = (char *)r->name;
	m->baselen = r->baselen;
	m->flags = r->flags;
	m->recent = (unsigned char)r->recent;
	m->innew = (unsigned char)r->innew;
	m->modseq = r->modseq;
}

static void mtimes(const char *dir, struct timespec *n, struct timespec *c,
                   struct str *p)
{
	struct stat st;

	memset(n, 0, sizeof *n);
	memset(c, 0, sizeof *c);
	p->len = 0;
	if (str_cats(p, dir) && str_cats(p, "/new") && str_0(p) &&
	    stat(p->s, &st) == 0)
		*n = st.st_mtim;
	p->len = 0;
	if (str_cats(p, dir) && str_cats(p, "/cur") && str_0(p) &&
	    stat(p->s, &st) == 0)
		*c = st.st_mtim;
}

static int ts_eq(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* A directory changed within the last two seconds may change again in
 * the same timestamp tick, so it always counts as changed. */
int mb_changed(struct session *s)
{
	struct timespec n, c;
	time_t now = time(0);

	mtimes(s->mb.dir, &n, &c, &s->u);
	return !ts_eq(&n, &s->mb.mt_new) || !ts_eq(&c, &s->mb.mt_cur) ||
	       now - n.tv_sec < 2 || now - c.tv_sec < 2;
}

/* RFC 7162 3.1.4: once CONDSTORE is on, every FETCH of flags carries
 * the UID and MODSEQ, whoever caused it. */
void put_fetch_flags(struct session *s, size_t i, int uid, int flags)
{
	const struct msg *m = &s->mb.m[i];
	int sp = 0;

	conn_puts(&s->c, "* ");
	conn_putu(&s->c, i + 1);
	conn_puts(&s->c, " FETCH (");
	if (uid || s->condstore) {
		conn_puts(&s->c, "UID ");
		conn_putu(&s->c, m->uid);
		sp = 1;
	}
	if (flags) {
		conn_puts(&s->c, sp++ ? " " : "");
		put_flags(s, m->flags, m->recent);
	}
	if (s->condstore) {
		conn_puts(&s->c, sp ? " " : "");
		put_modseq(s, m);
	}
	conn_puts(&s->c, ")\r\n");
}

/* Messages the disk no longer has: gone now, EXPUNGE when allowed. The
 * others take their names from map, and FETCH FLAGS when those changed.
 * Returns how many are gone. */
static size_t merge_known(struct session *s, const struct uidmap *map,
                          size_t *j)
{
	struct mailbox *mb = &s->mb;
	struct uidmap_rec r;
	size_t i, gone = 0;

	for (i = 0; i < mb->n; i++) {
		struct msg *m = &mb->m[i];
		int renamed;

		while (*j < map->h.n && uidmap_uid(map, *j) < m->uid)
			(*j)++;
		if (*j >= map->h.n || uidmap_uid(map, *j) != m->uid) {
			m->gone = 1;
			gone++;
			continue;
		}
		uidmap_get(map, (*j)++, &r);
		m->modseq = r.modseq;
		renamed = m->innew != r.innew || strcmp(m->name, r.name);
		msg_name_set(m, (char *)r.name);
		if (!renamed)
			continue;
		m->innew = (unsigned char)r.innew;
		m->baselen = r.baselen;
		if (r.flags != m->flags && !m->gone) {
			m->flags = r.flags;
			put_fetch_flags(s, i, 1, 1);
		}
	}
	return gone;
}

/* Before the old map goes: the messages that are gone keep their
 * names, for the FETCH and SEARCH that may still see them. */
static void keep_gone_names(struct mailbox *mb)
{
	size_t i;

	for (i = 0; i < mb->n; i++) {
		struct msg *m = &mb->m[i];

		if (m->gone && name_borrowed(m->name)) {
			m->name = strdup(m->name);
			if (!m->name)
				die_nomem();
		}
	}
}

/* The view brought to map, which it keeps: known messages merged, new
 * ones appended. Returns how many of those are recent. */
static size_t view_merge(struct session *s, struct uidmap *map)
{
	struct mailbox *mb = &s->mb;
	unsigned long top = mb->n ? mb->m[mb->n - 1].uid : 0;
	struct uidmap_rec r;
	size_t j = 0, recent = 0;

	if (!mb->n)
		view_reserve(mb, map->h.n);
	if (merge_known(s, map, &j))
		keep_gone_names(mb);
	for (; j < map->h.n; j++) {
		uidmap_get(map, j, &r);
		if (r.uid > top) {
			msg_append(mb, &r);
			recent += (size_t)r.recent;
		}
	}
	uidmap_free(&held);
	held = *map;
	return recent;
}

static void expunge_gone(struct session *s)
{
	struct mailbox *mb = &s->mb;
	size_t i = mb->n;

	if (s->qresync)
		put_vanished(s);
	while (i-- > 0) {
		if (!mb->m[i].gone)
			continue;
		if (!s->qresync) {
			conn_puts(&s->c, "* ");
			conn_putu(&s->c, i + 1);
			conn_puts(&s->c, " EXPUNGE\r\n");
		}
		if (mb->m[i].recent && mb->recent)
			mb->recent--;
		msg_clear(&mb->m[i]);
		memmove(&mb->m[i], &mb->m[i + 1], (mb->n - i - 1) * sizeof mb->m[0]);
		mb->n--;
		if (mb->exists)
			mb->exists--;
		s->cache.uid = 0;
	}
}

/* The view of held, which SELECT left pending. Records that fail their
 * check make the file lost, as in any sync: the session then ends with
 * BYE [UIDVALIDITY]. */
void mb_ready(struct session *s)
{
	struct uidmap_rec r;
	size_t i;

	if (!pending)
		return;
	pending = 0;
	if (!uidmap_check(&held)) {
		log_kv("warn", "event", "uidlist_damaged", "dir", s->mb.dir, NULL);
		if (mb_sync(s, 0) == 0)
			return;
		conn_puts(&s->c, "* BYE The folder can't be read\r\n");
		conn_flush(&s->c);
		log_kv("warn", "event", "sync", "folder", s->mb.dir, "error",
		       strerror(errno), NULL);
		exit(0);
	}
	view_reserve(&s->mb, held.h.n);
	for (i = 0; i < held.h.n; i++) {
		uidmap_get(&held, i, &r);
		msg_append(&s->mb, &r);
	}
}

static void validity_lost(struct session *s, struct uidmap *map)
{
	uidmap_free(map);
	conn_puts(&s->c, "* BYE [UIDVALIDITY] The folder's UIDs were "
	          "lost and renumbered\r\n");
	conn_flush(&s->c);
	log_kv("warn", "event", "uidvalidity_changed", "folder", s->mb.dir,
	       NULL);
	exit(0);
}

/* EXISTS and RECENT, when they changed. */
static void put_counts(struct session *s, size_t n, size_t recent)
{
	struct mailbox *mb = &s->mb;

	if (n != mb->exists) {
		conn_puts(&s->c, "* ");
		conn_putu(&s->c, n);
		conn_puts(&s->c, " EXISTS\r\n");
		mb->exists = n;
	}
	if (recent != mb->recent) {
		conn_puts(&s->c, "* ");
		conn_putu(&s->c, recent);
		conn_puts(&s->c, " RECENT\r\n");
		mb->recent = recent;
	}
}

int mb_sync(struct session *s, int allow_expunge)
{
	struct mailbox *mb = &s->mb;
	struct uidmap map = UIDMAP_ZERO;
	size_t appended;
	/* EXAMINE leaves new/ alone: its messages stay \Recent for the
	 * session that selects the folder. SELECT needs no records. */
	int how = (mb->readonly ? 0 : UIDMAP_TAKE_NEW) |
	          (mb->exists == (size_t)-1 ? UIDMAP_LAZY : 0);

	mb_ready(s);
	mtimes(mb->dir, &mb->mt_new, &mb->mt_cur, &s->u);
	if (uidmap_sync(mb->dir, &map, how) < 0)
		return -1;
	if (kw_load(&mb->kw, mb->dir) < 0)
		log_kv("warn", "event", "keywords", "folder", mb->dir, "error",
		       strerror(errno), NULL);
	if (mb->validity && mb->kw.n != mb->kwsent)
		put_flaglists(s);
	if (mb->validity && map.h.validity != mb->validity)
		validity_lost(s, &map);
	mb->validity = map.h.validity;
	mb->next = map.h.next;
	mb->highest = map.h.modseq;
	if (!map.checked) {
		/* an unchanged folder: in new/ only when left there */
		uidmap_free(&held);
		held = map;
		pending = 1;
		put_counts(s, held.h.n, held.h.nnew);
		return 0;
	}
	appended = view_merge(s, &map);
	if (allow_expunge)
		expunge_gone(s);
	/* mb->recent counts the view's \Recent (expunge_gone keeps it so) */
	put_counts(s, mb->n,
	           (mb->recent == (size_t)-1 ? 0 : mb->recent) + appended);
	return 0;
}

/* FLAGS and PERMANENTFLAGS: at SELECT, and again when keywords are
 * added. \\* (new keywords) only while letters are left. */
void put_flaglists(struct session *s)
{
	struct mailbox *mb = &s->mb;
	unsigned all = FL_ALL | FL_KWALL;

	conn_puts(&s->c, "* FLAGS (");
	put_flaglist(s, all);
	conn_puts(&s->c, ")\r\n* OK [PERMANENTFLAGS (");
	if (!mb->readonly) {
		put_flaglist(s, all);
		if (mb->kw.n < KW_MAX)
			conn_puts(&s->c, " \\*");
	}
	conn_puts(&s->c, ")] Flags kept\r\n");
	mb->kwsent = mb->kw.n;
}

static void select_replies(struct session *s)
{
	struct mailbox *mb = &s->mb;
	size_t i;

	put_flaglists(s);
	if (pending) {
		i = held.h.firstunseen ? held.h.firstunseen - 1 : held.h.n;
	} else {
		for (i = 0; i < mb->n; i++)
			if (!(mb->m[i].flags & FL_SEEN))
				break;
	}
	if (i < (pending ? held.h.n : mb->n)) {
		conn_puts(&s->c, "* OK [UNSEEN ");
		conn_putu(&s->c, i + 1);
		conn_puts(&s->c, "] First unseen\r\n");
	}
	conn_puts(&s->c, "* OK [UIDVALIDITY ");
	conn_putu(&s->c, mb->validity);
	conn_puts(&s->c, "] UIDs valid\r\n* OK [UIDNEXT ");
	conn_putu(&s->c, mb->next);
	conn_puts(&s->c, "] Predicted next UID\r\n");
}

int mb_select(struct session *s, const char *name, size_t n, int readonly,
              const struct select_opts *o)
{
	struct mailbox *mb = &s->mb;

	if (s->selected) {
		mb_close(s);
		conn_puts(&s->c, "* OK [CLOSED] Previous mailbox closed\r\n");
	}
	if (!folder_dir(&s->t, name, n) || !str_0(&s->t)) {
		reply(s, "NO [NONEXISTENT] No such mailbox");
		return -1;
	}
	if (!folder_exists(s->t.s)) {
		reply(s, "NO [NONEXISTENT] No such mailbox");
		return -1;
	}
	mb->dir = strdup(s->t.s);
	mb->name = malloc(n + 1);
	if (!mb->dir || !mb->name)
		die_nomem();
	memcpy(mb->name, name, n);
	mb->name[n] = 0;
	mb->readonly = readonly;
	/* SELECT always answers EXISTS and RECENT, even for an empty folder */
	mb->exists = mb->recent = (size_t)-1;
	if (mb_sync(s, 1) < 0) {
		view_free(mb);
		reply_errno(s, "SELECT");
		return -1;
	}
	s->selected = 1;
	select_replies(s);
	condstore_select_replies(s, o);
	reply(s, readonly ? "OK [READ-ONLY] EXAMINE completed"
	                  : "OK [READ-WRITE] SELECT completed");
	return 0;
}

size_t msg_find_uid(const struct mailbox *mb, unsigned long uid)
{
	size_t lo = 0, hi = mb->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (mb->m[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Ranges are walked with a binary search for their start, so a set such
 * as 1:* costs one pass however large the folder. */
static int seq_mark(struct session *s, const char *set, size_t n, int uid,
                    unsigned char *sel)
{
	struct mailbox *mb = &s->mb;
	unsigned long max;
	size_t k, i;
	int r;

	r = imap_seq_parse(&s->seq, set, n);
	if (r < 0)
		die_nomem();
	if (r == 0)
		return 0;
	max = uid ? (mb->n ? mb->m[mb->n - 1].uid : 0) : (unsigned long)mb->n;
	imap_seq_resolve(&s->seq, max);
	memset(sel, 0, mb->n);
	for (k = 0; k < s->seq.n; k++) {
		unsigned long lo = s->seq.r[k].lo, hi = s->seq.r[k].hi;

		if (!uid) {
			if (lo == 0 || hi > mb->n)
				return 0;   /* RFC 3501 6.4.8: a bad number */
			memset(sel + lo - 1, 1, hi - lo + 1);
			continue;
		}
		for (i = msg_find_uid(mb, lo); i < mb->n && mb->m[i].uid <= hi;
		     i++)
			sel[i] = 1;
	}
	return 1;
}

unsigned char *seq_select(struct session *s, const struct imap_arg *set,
                          int uid)
{
	unsigned char *sel = malloc(s->mb.n ? s->mb.n : 1);

	if (!sel)
		die_nomem();
	if (!seq_mark(s, set->s, set->len, uid, sel)) {
		free(sel);
		reply_bad(s, "bad sequence set");
		return 0;
	}
	return sel;
}

int msg_path(struct session *s, struct str *out, size_t i)
{
	out->len = 0;
	return str_cats(out, s->mb.dir) &&
	       str_cats(out, s->mb.m[i].innew ? "/new/" : "/cur/") &&
	       str_cats(out, s->mb.m[i].name) && str_0(out);
}

int msg_size(struct session *s, size_t i, unsigned long long *size)
{
	struct msg *m = &s->mb.m[i];
	unsigned long long ss, w;

	if (!m->sized) {
		if (maildir_name_sizes(m->name, m->baselen, &ss, &w) &
		    MAILDIR_HAS_W) {
			m->size = w;
		} else {
			if (msg_load(s, i) < 0)
				return -1;
			m->size = s->cache.text.len;
		}
		m->sized = 1;
	}
	*size = m->size;
	return 0;
}

/* The unique name's leading seconds ("1700000000.M1P2.host"), else the
 * file's mtime. */
time_t msg_date(struct session *s, size_t i)
{
	struct msg *m = &s->mb.m[i];
	unsigned long long v = 0;
	size_t k = 0;
	struct stat st;

	if (m->dated)
		return m->date;
	while (m->name[k] >= '0' && m->name[k] <= '9' && k < 12)
		v = v * 10 + (unsigned long long)(m->name[k++] - '0');
	if (k >= 9 && m->name[k] == '.')
		m->date = (time_t)v;
	else if (msg_path(s, &s->u, i) && stat(s->u.s, &st) == 0)
		m->date = st.st_mtime;
	else
		m->date = 0;
	m->dated = 1;
	return m->date;
}

static int rename_to(struct session *s, size_t i, const struct str *name)
{
	struct str to = STR_ZERO;
	int r, e;

	if (!msg_path(s, &s->u, i) || !str_cats(&to, s->mb.dir) ||
	    !str_cats(&to, "/cur/") || !str_catb(&to, name->s, name->len) ||
	    !str_0(&to))
		die_nomem();
	r = strcmp(s->u.s, to.s) ? rename(s->u.s, to.s) : 0;
	e = errno;
	str_free(&to);
	errno = e;
	return r;
}

int msg_setflags(struct session *s, size_t i, unsigned flags)
{
	int tries;

	for (tries = 0; tries < 2; tries++) {
		struct msg *m = &s->mb.m[i];
		char *nm;

		if (name_withflags(&s->t, m->name, flags) < 0)
			return -1;
		if (rename_to(s, i, &s->t) == 0) {
			nm = strdup(s->t.s);
			if (!nm)
				die_nomem();
			msg_name_set(m, nm);
			m->flags = flags;
			return 0;
		}
		if (errno != ENOENT || tries)
			return -1;
		/* renamed by someone else meanwhile: learn its name, retry */
		if (mb_sync(s, 0) < 0)
			return -1;
		if (s->mb.m[i].gone) {
			errno = ENOENT;
			return -1;
		}
	}
	return -1;
}
