/* FETCH and UID FETCH: items out of the view (FLAGS, UID, sizes and
 * dates from file names) and out of the message text (sections,
 * ENVELOPE, BODYSTRUCTURE), read once per message with CRLF line ends;
 * ENVELOPE, BODY and BODYSTRUCTURE out of the folder's cache (cache.h)
 * when it has them, so a warm FETCH opens no message. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "decode.h"
#include "fetch.h"
#include "fmt.h"
#include "log.h"
#include "maildir.h"
#include "mime.h"
#include "session.h"

/* Reads the file, each LF not already after a CR turned into CRLF. */
static int text_read(int fd, struct str *out)
{
	char buf[65536];
	int cr = 0;
	ssize_t k;

	out->len = 0;
	while ((k = read(fd, buf, sizeof buf)) != 0) {
		ssize_t i, start = 0;

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (out->len + (size_t)k > MSG_MAX + MSG_MAX / 2) {
			errno = EFBIG;
			return -1;
		}
		for (i = 0; i < k; i++) {
			if (buf[i] == '\n' && !(i ? buf[i - 1] == '\r' : cr)) {
				if (!str_catb(out, buf + start, (size_t)(i - start)) ||
				    !str_catc(out, '\r'))
					goto nomem;
				start = i;
			}
		}
		if (!str_catb(out, buf + start, (size_t)(k - start)))
			goto nomem;
		cr = buf[k - 1] == '\r';
	}
	return 0;
nomem:
	errno = ENOMEM;
	return -1;
}

int msg_load(struct session *s, size_t i)
{
	struct stat st;
	int fd, r, e;

	if (s->cache.uid == s->mb.m[i].uid)
		return 0;
	s->cache.uid = 0;
	if (!msg_path(s, &s->u, i))
		die_nomem();
	fd = open(s->u.s, O_RDONLY);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) == 0 && (unsigned long long)st.st_size > MSG_MAX) {
		close(fd);
		errno = EFBIG;
		return -1;
	}
	r = text_read(fd, &s->cache.text);
	e = errno;
	close(fd);
	errno = e;
	if (r == 0)
		s->cache.uid = s->mb.m[i].uid;
	return r;
}

/* -- the cache ---------------------------------------------------------- */

/* The selected folder's cache and the scratch for making entries. One
 * process serves one session, so this stands for a field of struct
 * session until session.h has one. */
static struct {
	struct cache c;
	struct mime m;
	struct str v;           /* the fields of an entry made */
	struct str hdrs;        /* the header fields it keeps */
	struct str h;           /* a header value */
	int warned;             /* a failed write was logged */
} fc;

static void fc_ready(struct session *s)
{
	if (cache_use(&fc.c, s->mb.dir, s->mb.validity) < 0)
		die_nomem();
}

/* The file's size, part of an entry's key: from ",S=" in the name, so a
 * warm FETCH makes no system call per message, else from stat(). */
static int msg_fsize(struct session *s, size_t i, unsigned long long *fsize)
{
	const struct msg *m = &s->mb.m[i];
	unsigned long long w;
	struct stat st;

	if (maildir_name_sizes(m->name, m->baselen, fsize, &w) & MAILDIR_HAS_S)
		return 0;
	if (!msg_path(s, &s->u, i))
		die_nomem();
	if (stat(s->u.s, &st) < 0)
		return -1;
	*fsize = (unsigned long long)st.st_size;
	return 0;
}

/* The header fields an entry keeps, NUL after each, for mime_fields. */
static const char *field_names(size_t *k)
{
	static struct str names;
	int f;

	*k = CF_N - CF_SUBJECT;
	if (names.len)
		return names.s;
	for (f = CF_SUBJECT; f < CF_N; f++)
		if (!str_cats(&names, cache_field_name(f)) ||
		    !str_catc(&names, 0))
			die_nomem();
	return names.s;
}

/* Appends field k of the entry made from the text in s->cache, hdrs the
 * header fields an entry keeps picked out of it: the same calls FETCH
 * and SEARCH make without a cache, so the answers are the same bytes (a
 * field's first occurrence is the same in hdrs as in the header). Leaves
 * e->f[k] an offset into fc.v until entry_make ends. */
/* A header value as SEARCH compares it (decode.h), appended to out. */
static int field_decode(const char *v, size_t n, struct str *out)
{
	static struct str d;

	d.len = 0;
	return decode_header(&d, v, n) && decode_fold(out, d.s ? d.s : "", d.len);
}

static void field_make(struct session *s, int k, const struct str *hdrs,
                       struct cache_ent *e)
{
	const char *t = s->cache.text.s ? s->cache.text.s : "";
	size_t start = fc.v.len;
	int ok = 1, r;

	if (k == CF_ENVELOPE)
		ok = mime_envelope(t, s->cache.text.len, &fc.v);
	else if (k == CF_STRUCTURE || k == CF_BODY)
		ok = mime_bodystructure(&fc.m, 0, k == CF_STRUCTURE, &fc.v);
	else {
		r = mime_header(hdrs->s, hdrs->len, cache_field_name(k), &fc.h);
		if (r < 0)
			die_nomem();
		if (r == 0)
			e->absent |= CF_BIT(k);
		else if (k == CF_DATE)  /* parsed by SENT*, not matched */
			ok = str_catb(&fc.v, fc.h.s, fc.h.len);
		else
			ok = field_decode(fc.h.s, fc.h.len, &fc.v);
	}
	if (!ok)
		die_nomem();
	e->known |= CF_BIT(k);
	e->f[k] = 0;
	e->flen[k] = fc.v.len - start;
}

/* Only what asks for the MIME structure pays for parsing all of it. */
static void entry_make(struct session *s, size_t i, unsigned want,
                       unsigned long long fsize, struct cache_ent *e)
{
	const struct msg *m = &s->mb.m[i];
	const char *t = s->cache.text.s ? s->cache.text.s : "";
	size_t off = 0, nk;
	const char *names = field_names(&nk);
	int k;

	memset(e, 0, sizeof *e);
	if ((want & (CF_BIT(CF_STRUCTURE) | CF_BIT(CF_BODY))) &&
	    mime_parse(&fc.m, t, s->cache.text.len) < 0)
		die_nomem();
	fc.hdrs.len = 0;
	if (!mime_fields(t, s->cache.text.len, names, nk, 1, &fc.hdrs))
		die_nomem();
	fc.v.len = 0;
	for (k = 0; k < CF_N; k++)
		if (want & CF_BIT(k))
			field_make(s, k, &fc.hdrs, e);
	for (k = 0; k < CF_N; k++) {
		if (!(e->known & CF_BIT(k)) || (e->absent & CF_BIT(k)))
			continue;
		e->f[k] = fc.v.s + off;
		off += e->flen[k];
	}
	e->uid = m->uid;
	e->base = m->name;
	e->baselen = m->baselen;
	e->fsize = fsize;
	e->csize = s->cache.text.len;
}

int msg_cached(struct session *s, size_t i, unsigned need,
               struct cache_ent *e)
{
	const struct msg *m = &s->mb.m[i];
	unsigned long long fsize;
	unsigned had = 0;

	fc_ready(s);
	if (msg_fsize(s, i, &fsize) < 0)
		return -1;
	if (cache_get(&fc.c, m->uid, e) &&
	    cache_ent_matches(e, m->name, m->baselen, fsize)) {
		if ((e->known & need) == need)
			return 1;
		had = e->known;         /* the new entry holds these too */
	}
	if (msg_load(s, i) < 0)
		return -1;
	entry_make(s, i, CF_DEFAULT | had | need, fsize, e);
	/* an entry too large to keep is still the answer */
	if (cache_put(&fc.c, e) < 0)
		die_nomem();
	return 1;
}

/* Entries of messages no longer in the view are not written again. */
static int keep_uid(void *arg, unsigned long uid)
{
	const struct mailbox *mb = &((struct session *)arg)->mb;
	size_t i = msg_find_uid(mb, uid);

	return i < mb->n && mb->m[i].uid == uid && !mb->m[i].gone;
}

static void fc_flush(struct session *s, size_t ratio)
{
	if (cache_flush(&fc.c, ratio, keep_uid, s) < 0 && !fc.warned) {
		fc.warned = 1;
		log_kv("warn", "event", "cache", "dir", fc.c.dir,
		       "error", strerror(errno), NULL);
	}
}

static int fc_current(const struct session *s)
{
	return s->selected && fc.c.dir && strcmp(fc.c.dir, s->mb.dir) == 0 &&
	       fc.c.validity == s->mb.validity;
}

void msg_cache_done(struct session *s)
{
	if (fc_current(s))
		fc_flush(s, CACHE_REWRITE_RATIO);
}

void msg_cache_close(struct session *s)
{
	if (fc_current(s))
		fc_flush(s, CACHE_CLOSE_RATIO);
	else
		cache_flush(&fc.c, CACHE_CLOSE_RATIO, 0, 0);
	cache_free(&fc.c);
	mime_free(&fc.m);
	str_free(&fc.v);
	str_free(&fc.hdrs);
	str_free(&fc.h);
}

/* -- responses ----------------------------------------------------------- */

static void put_date(struct session *s, size_t i)
{
	char b[IMAP_DATETIME];

	conn_puts(&s->c, "INTERNALDATE \"");
	conn_put(&s->c, b, imap_datetime_fmt(b, msg_date(s, i)));
	conn_puts(&s->c, "\"");
}

/* A section's bytes, partial applied, as a literal. */
static void put_bytes(struct session *s, const struct fitem *it,
                      const char *p, size_t n)
{
	if (it->partial) {
		unsigned long long st = it->pstart, len = it->plen;

		if (st > n)
			st = n;
		if (len > n - st)
			len = n - st;
		p += st;
		n = (size_t)len;
	}
	conn_puts(&s->c, "{");
	conn_putu(&s->c, n);
	conn_puts(&s->c, "}\r\n");
	conn_put(&s->c, p, n);
}

static void put_label(struct session *s, const struct fitem *it)
{
	if (it->body) {
		conn_puts(&s->c, "BODY[");
		conn_put(&s->c, it->sec, it->seclen);
		conn_puts(&s->c, "]");
		if (it->partial) {
			conn_puts(&s->c, "<");
			conn_putu(&s->c, it->pstart);
			conn_puts(&s->c, ">");
		}
	} else {
		conn_put(&s->c, it->label, it->labellen);
	}
	conn_puts(&s->c, " ");
}

static void put_section(struct session *s, const struct fitem *it,
                        const struct mime *m)
{
	const char *t = s->cache.text.s;
	size_t off = 0, len = 0;

	put_label(s, it);
	if (!mime_section(m, it->path, it->depth,
	                  it->spec == SEC_FIELDS_NOT ? SEC_FIELDS : it->spec,
	                  &off, &len)) {
		put_bytes(s, it, "", 0);
		return;
	}
	if (it->spec == SEC_FIELDS || it->spec == SEC_FIELDS_NOT) {
		s->t.len = 0;
		if (!mime_fields(t + off, len, it->names.s, it->nnames,
		                 it->spec == SEC_FIELDS, &s->t))
			die_nomem();
		put_bytes(s, it, s->t.s ? s->t.s : "", s->t.len);
		return;
	}
	put_bytes(s, it, t + off, len);
}

/* The CF_ fields a FETCH wants, when the cache can answer all it needs
 * the text for; else 0. */
static unsigned fetch_cache_need(const struct fetch *f)
{
	unsigned need = 0;
	size_t k;

	for (k = 0; k < f->n; k++) {
		if (f->it[k].kind == FI_SECTION)
			return 0;
		if (f->it[k].kind == FI_ENVELOPE)
			need |= CF_BIT(CF_ENVELOPE);
		else if (f->it[k].kind == FI_BODY)
			need |= CF_BIT(CF_BODY);
		else if (f->it[k].kind == FI_STRUCTURE)
			need |= CF_BIT(CF_STRUCTURE);
	}
	return need;
}

/* ENVELOPE, BODY or BODYSTRUCTURE, from the entry when there is one. */
static void put_computed(struct session *s, int kind, const struct mime *m,
                         const struct cache_ent *e)
{
	int k = kind == FI_ENVELOPE ? CF_ENVELOPE :
	        kind == FI_BODY ? CF_BODY : CF_STRUCTURE;

	conn_puts(&s->c, kind == FI_ENVELOPE ? "ENVELOPE " :
	          kind == FI_BODY ? "BODY " : "BODYSTRUCTURE ");
	if (e) {
		conn_put(&s->c, e->f[k], e->flen[k]);
		return;
	}
	s->t.len = 0;
	if (kind == FI_ENVELOPE ?
	    !mime_envelope(s->cache.text.s, m->e[0].hdrlen, &s->t) :
	    !mime_bodystructure(m, 0, kind == FI_STRUCTURE, &s->t))
		die_nomem();
	conn_put(&s->c, s->t.s, s->t.len);
}

/* RFC822.SIZE as msg_size() finds it, without reading the file when its
 * name lacks ",W=": the entry has the size reading it would find. A name
 * with ",W=" keeps its word, as msg_size() takes it. */
static void size_from_entry(struct msg *m, const struct cache_ent *e)
{
	unsigned long long sz, w;

	if (m->sized ||
	    (maildir_name_sizes(m->name, m->baselen, &sz, &w) & MAILDIR_HAS_W))
		return;
	m->size = e->csize;
	m->sized = 1;
}

/* One message's response, need the CF_ fields to take from the cache
 * (0: none): 0 ok, -1 its file is gone. */
static int fetch_one(struct session *s, struct fetch *f, size_t i,
                     struct mime *m, unsigned need, int modseq)
{
	struct msg *msg = &s->mb.m[i];
	int flags_done = 0, uid_done = 0, sp = 0;
	unsigned long long size;
	struct cache_ent ce, *e = 0;
	size_t k;

	if (need) {
		if (msg_cached(s, i, need, &ce) < 0)
			return -1;
		e = &ce;
		size_from_entry(msg, e);
	} else if (f->need_text) {
		if (msg_load(s, i) < 0)
			return -1;
		if (mime_parse(m, s->cache.text.s ? s->cache.text.s : "",
		               s->cache.text.len) < 0)
			die_nomem();
	}
	if (f->sets_seen && !s->mb.readonly && !(msg->flags & FL_SEEN) &&
	    msg_setflags(s, i, msg->flags | FL_SEEN) < 0)
		log_kv("warn", "event", "seen", "error", strerror(errno), NULL);
	msg = &s->mb.m[i];
	conn_puts(&s->c, "* ");
	conn_putu(&s->c, i + 1);
	conn_puts(&s->c, " FETCH (");
	for (k = 0; k < f->n; k++) {
		const struct fitem *it = &f->it[k];

		/* MODSEQ goes last, after the UID and FLAGS added below */
		if (it->kind == FI_MODSEQ)
			continue;
		if (sp++)
			conn_puts(&s->c, " ");
		switch (it->kind) {
		case FI_UID:
			conn_puts(&s->c, "UID ");
			conn_putu(&s->c, msg->uid);
			uid_done = 1;
			break;
		case FI_FLAGS:
			put_flags(s, msg->flags, msg->recent);
			flags_done = 1;
			break;
		case FI_DATE:
			put_date(s, i);
			break;
		case FI_SIZE:
			if (msg_size(s, i, &size) < 0)
				size = 0;
			conn_puts(&s->c, "RFC822.SIZE ");
			conn_putu(&s->c, size);
			break;
		case FI_ENVELOPE:
		case FI_BODY:
		case FI_STRUCTURE:
			put_computed(s, it->kind, m, e);
			break;
		default:
			put_section(s, it, m);
		}
	}
	if (s->cmd.uid && !uid_done) {
		conn_puts(&s->c, sp++ ? " UID " : "UID ");
		conn_putu(&s->c, msg->uid);
	}
	if (f->sets_seen && !s->mb.readonly && !flags_done) {
		conn_puts(&s->c, sp++ ? " " : "");
		put_flags(s, msg->flags, msg->recent);
		flags_done = 1;
	}
	/* RFC 7162 3.1.4.1: under CONDSTORE FLAGS go with MODSEQ */
	if (modseq || (s->condstore && flags_done)) {
		conn_puts(&s->c, sp ? " " : "");
		put_modseq(s, msg);
	}
	conn_puts(&s->c, ")\r\n");
	return 0;
}

/* What RFC 7162 adds to one FETCH. */
struct fetch_cs {
	int modseq;             /* MODSEQ asked for, or implied */
	int changed;            /* (CHANGEDSINCE since) */
	unsigned long long since;
	int vanished;           /* (VANISHED): UID FETCH under QRESYNC */
};

/* 1 when the parsed items include kind. */
static int fetch_wants(const struct fetch *f, int kind)
{
	size_t k;

	for (k = 0; k < f->n; k++)
		if (f->it[k].kind == kind)
			return 1;
	return 0;
}

/* The modifier list: CHANGEDSINCE n, and VANISHED, which needs it,
 * QRESYNC and UID FETCH (RFC 7162 3.2.6). 1 ok, 0 bad. */
static int fetch_mods(struct session *s, const struct imap_arg *l,
                      struct fetch_cs *cs)
{
	const struct imap_arg *a;

	if (l->type != IMAP_LIST || !imap_child(&s->cmd, l))
		return 0;
	for (a = imap_child(&s->cmd, l); a; a = imap_next(&s->cmd, a)) {
		if (imap_is_atom(a, "CHANGEDSINCE") && !cs->changed) {
			a = imap_next(&s->cmd, a);
			if (!modseq_arg(a, &cs->since))
				return 0;
			cs->changed = cs->modseq = 1;
		} else if (imap_is_atom(a, "VANISHED") && !cs->vanished) {
			cs->vanished = 1;
		} else {
			return 0;
		}
	}
	return cs->changed && (!cs->vanished || (s->qresync && s->cmd.uid));
}

/* The items and modifiers: 1 ok, 0 replied BAD. */
static int fetch_args(struct session *s, const struct imap_arg *att,
                      struct fetch *f, struct fetch_cs *cs)
{
	const struct imap_arg *mods = imap_next(&s->cmd, att);
	int r;

	memset(cs, 0, sizeof *cs);
	if (mods && (imap_next(&s->cmd, mods) || !fetch_mods(s, mods, cs))) {
		reply_bad(s, "bad FETCH modifier");
		return 0;
	}
	r = fetch_parse(f, &s->cmd, att);
	if (r < 0)
		die_nomem();
	if (r == 0) {
		fetch_free(f);
		reply_bad(s, "bad FETCH data item");
		return 0;
	}
	cs->modseq |= fetch_wants(f, FI_MODSEQ);
	if (cs->modseq)
		s->condstore = 1;       /* RFC 7162 3.1: an enabling command */
	return 1;
}

/* Under CONDSTORE the FETCH that sets \Seen reports the new modseq,
 * which a sync after the renames learns: they go first, in one pass. */
static void fetch_set_seen(struct session *s, const unsigned char *sel,
                           size_t n)
{
	size_t i;
	int changed = 0;

	for (i = 0; i < n; i++) {
		struct msg *m = &s->mb.m[i];

		if (!sel[i] || m->gone || (m->flags & FL_SEEN))
			continue;
		if (msg_setflags(s, i, m->flags | FL_SEEN) < 0)
			log_kv("warn", "event", "seen", "error", strerror(errno),
			       NULL);
		else
			changed = 1;
	}
	if (changed && mb_sync(s, 0) < 0)
		log_kv("warn", "event", "sync", "error", strerror(errno), NULL);
}

/* UID FETCH (VANISHED): the UIDs of the set that are gone. */
static void fetch_vanished(struct session *s, const struct imap_arg *set)
{
	struct imap_seq q = { 0, 0, 0 };
	int r = imap_seq_parse(&q, set->s, set->len);

	if (r < 0)
		die_nomem();
	if (r > 0)
		put_vanished_earlier(s, &q);
	imap_seq_free(&q);
}

void cmd_fetch(struct session *s)
{
	const struct imap_arg *set = imap_first(&s->cmd);
	const struct imap_arg *att = imap_next(&s->cmd, set);
	static struct fetch f;
	struct fetch_cs cs;
	struct mime m = MIME_ZERO;
	unsigned char *sel;
	unsigned need;
	int gone = 0;
	size_t i, n;

	if (!set || set->type != IMAP_ATOM || !att) {
		reply_bad(s, "FETCH takes a set and data items");
		return;
	}
	if (!fetch_args(s, att, &f, &cs))
		return;
	sel = seq_select(s, set, s->cmd.uid);
	if (!sel) {
		fetch_free(&f);
		return;
	}
	need = fetch_cache_need(&f);
	n = s->mb.n;
	if (cs.vanished)
		fetch_vanished(s, set);
	/* setting \Seen may sync and grow the view: sel covers only n */
	if (f.sets_seen && s->condstore && !s->mb.readonly)
		fetch_set_seen(s, sel, n);
	for (i = 0; i < n && !s->c.werr; i++) {
		if (!sel[i] || (cs.changed && s->mb.m[i].modseq <= cs.since))
			continue;
		if (s->mb.m[i].gone ||
		    fetch_one(s, &f, i, &m, need, cs.modseq) < 0)
			gone = 1;
	}
	if (need)
		msg_cache_done(s);
	free(sel);
	mime_free(&m);
	fetch_free(&f);
	reply(s, gone ? "NO [EXPUNGEISSUED] Some messages no longer exist" :
	      "OK FETCH completed");
}
