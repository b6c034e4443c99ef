/* Commands that change messages: STORE, EXPUNGE (and UID EXPUNGE),
 * COPY, MOVE, and STATUS, which reads another folder. APPEND is in
 * append.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>              /* rename */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fmt.h"
#include "io.h"
#include "log.h"
#include "maildir.h"
#include "session.h"
#include "store.h"
#include "uidmap.h"
#include "uniq.h"

static int need_rw(struct session *s)
{
	if (!s->selected) {
		reply_bad(s, "No mailbox selected");
		return 0;
	}
	if (s->mb.readonly) {
		reply(s, "NO [READ-ONLY] The mailbox is read-only");
		return 0;
	}
	return 1;
}

/* parse_flags, with the reply when it fails: 1 ok, 0 replied. */
int store_flags_arg(struct session *s, const struct imap_arg *a,
                    unsigned *flags, struct kwmap *kw, const char *dir,
                    int create)
{
	int r = parse_flags(s, a, flags, kw, dir, create);

	if (r == 0)
		reply_bad(s, "bad flag");
	else if (r == -2)
		reply(s, "NO [LIMIT] Too many keywords in this mailbox");
	else if (r < 0)
		reply_errno(s, "keyword");
	return r == 1;
}

/* STORE's (UNCHANGEDSINCE n) modifier (RFC 7162 3.1.3): 1 ok, 0 bad. */
static int store_mods(struct session *s, const struct imap_arg *l,
                      unsigned long long *unch)
{
	const struct imap_arg *a = imap_child(&s->cmd, l);

	if (!imap_is_atom(a, "UNCHANGEDSINCE"))
		return 0;
	a = imap_next(&s->cmd, a);
	return modseq_arg(a, unch) && !imap_next(&s->cmd, a);
}

/* The item: 1 and mode (+1, -1, 0) and silent, else 0. */
static int store_item(const struct imap_arg *op, int *mode, int *silent)
{
	const char *w = op->s;
	size_t wn = op->len;

	*mode = (w[0] == '+') ? 1 : (w[0] == '-') ? -1 : 0;
	if (*mode) {
		w++;
		wn--;
	}
	*silent = wn == 12 && case_eqb(w, "FLAGS.SILENT", 12);
	return *silent || (wn == 5 && case_eqb(w, "FLAGS", 5));
}

/* The flags of a STORE, keywords named as needed: 1 ok, 0 replied. */
static int store_flags(struct session *s, const struct imap_arg *fl,
                       int mode, unsigned *flags)
{
	if (fl->type == IMAP_LIST && imap_next(&s->cmd, fl)) {
		reply_bad(s, "junk after the flag list");
		return 0;
	}
	*flags = 0;
	for (; fl; fl = imap_next(&s->cmd, fl)) {
		unsigned one;

		if (!store_flags_arg(s, fl, &one, &s->mb.kw, s->mb.dir, mode >= 0))
			return 0;
		*flags |= one;
	}
	if (s->mb.kw.n != s->mb.kwsent)
		put_flaglists(s);
	return 1;
}

/* Changes the selected messages, sel[i] becoming 2 for those whose
 * flags changed and 0 for those left alone: the ones modified since
 * unch (their seq or UID into mod[*nmod]) and failures. 1 when one
 * failed. */
static int store_apply(struct session *s, unsigned char *sel, size_t n,
                       int mode, unsigned flags, unsigned long long unch,
                       unsigned long *mod, size_t *nmod)
{
	int failed = 0;
	size_t i;
	unsigned nf;

	for (i = 0; i < n; i++) {
		struct msg *m = &s->mb.m[i];

		if (!sel[i] || m->gone) {
			sel[i] = 0;
			continue;
		}
		if (m->modseq > unch) {
			mod[(*nmod)++] = s->cmd.uid ? m->uid : i + 1;
			sel[i] = 0;
			continue;
		}
		nf = mode > 0 ? m->flags | flags :
		     mode < 0 ? m->flags & ~flags : flags;
		if (nf == m->flags)
			continue;
		/* msg_setflags may sync and grow the view: sel covers only n */
		if (msg_setflags(s, i, nf) < 0) {
			failed = 1;
			sel[i] = 0;
			continue;
		}
		sel[i] = 2;
	}
	return failed;
}

/* STORE set [(UNCHANGEDSINCE n)] (+|-)FLAGS[.SILENT] flags. Under
 * CONDSTORE the changed messages' new modseqs come from a sync after
 * the renames, and even .SILENT reports them (RFC 7162 3.1.3). */
void cmd_store(struct session *s)
{
	const struct imap_arg *set = imap_first(&s->cmd);
	const struct imap_arg *op = imap_next(&s->cmd, set), *fl;
	unsigned long long unch = MODSEQ_MAX;
	unsigned long *mod;
	unsigned flags;
	unsigned char *sel;
	int mode, silent, failed, changed = 0, hasmod = 0;
	size_t i, n, nmod = 0;

	if (!need_rw(s))
		return;
	if (op && op->type == IMAP_LIST) {
		if (!store_mods(s, op, &unch)) {
			reply_bad(s, "bad STORE modifier");
			return;
		}
		hasmod = 1;
		op = imap_next(&s->cmd, op);
	}
	fl = imap_next(&s->cmd, op);
	if (!set || set->type != IMAP_ATOM || !op || op->type != IMAP_ATOM ||
	    !fl) {
		reply_bad(s, "STORE takes a set, an item and flags");
		return;
	}
	if (!store_item(op, &mode, &silent)) {
		reply_bad(s, "STORE item must be FLAGS, +FLAGS or -FLAGS");
		return;
	}
	if (!store_flags(s, fl, mode, &flags))
		return;
	if (hasmod) {
		/* the test needs the modseqs as they are now */
		s->condstore = 1;
		if (mb_sync(s, 0) < 0) {
			reply_errno(s, "STORE");
			return;
		}
	}
	sel = seq_select(s, set, s->cmd.uid);
	if (!sel)
		return;
	n = s->mb.n;
	mod = reallocarray(0, n + 1, sizeof *mod);
	if (!mod)
		die_nomem();
	failed = store_apply(s, sel, n, mode, flags, unch, mod, &nmod);
	for (i = 0; i < n; i++)
		changed |= sel[i] == 2;
	if (s->condstore && changed) {
		if (mb_sync(s, 0) < 0)
			failed = 1;
		s->autosync = 0;        /* that sync reported the rest */
	}
	for (i = 0; i < n; i++)
		if (sel[i] && (!silent || (sel[i] == 2 && s->condstore)))
			put_fetch_flags(s, i, s->cmd.uid, !silent);
	free(sel);
	if (failed) {
		reply(s, "NO Some flags could not be stored");
	} else if (nmod) {
		conn_put(&s->c, s->cmd.tag, s->cmd.taglen);
		conn_puts(&s->c, " OK [MODIFIED ");
		put_uidset(s, mod, nmod);
		conn_puts(&s->c, "] Conditional STORE failed\r\n");
	} else {
		reply(s, "OK STORE completed");
	}
	free(mod);
}

/* Removes the \Deleted messages (of sel, when given); the view learns
 * of it by the sync that follows. */
static void expunge_files(struct session *s, const unsigned char *sel)
{
	long long bytes = 0, count = 0;
	unsigned long long sz, w;
	size_t i;

	for (i = 0; i < s->mb.n; i++) {
		struct msg *m = &s->mb.m[i];

		if (!(m->flags & FL_DELETED) || (sel && !sel[i]) || m->gone)
			continue;
		if (!msg_path(s, &s->u, i))
			die_nomem();
		if (unlink(s->u.s) < 0) {
			if (errno != ENOENT)
				log_kv("warn", "event", "expunge", "file", s->u.s,
				       "error", strerror(errno), NULL);
			continue;
		}
		if (maildir_name_sizes(m->name, m->baselen, &sz, &w) &
		    MAILDIR_HAS_S)
			bytes += (long long)sz;
		count++;
	}
	if (count && strcmp(s->mb.dir, "./.Trash"))
		maildir_quota_add(".", -bytes, -count);
}

/* "OK [HIGHESTMODSEQ n] text" under CONDSTORE, so a client that just
 * expunged knows where it stands (RFC 7162 3.2.10); else "OK text".
 * The caller has just synced: the sync in reply() would find nothing. */
static void reply_highest(struct session *s, unsigned long long highest,
                          const char *text)
{
	char b[FMT_ULONG];

	s->autosync = 0;
	s->t.len = 0;
	if (!str_cats(&s->t, "OK ") ||
	    (s->condstore && (!str_cats(&s->t, "[HIGHESTMODSEQ ") ||
	                      !str_catb(&s->t, b, fmt_ulong(b, highest)) ||
	                      !str_cats(&s->t, "] "))) ||
	    !str_cats(&s->t, text) || !str_0(&s->t))
		die_nomem();
	reply(s, s->t.s);
}

void cmd_expunge(struct session *s)
{
	const struct imap_arg *set = imap_first(&s->cmd);
	unsigned char *sel = 0;

	if (!need_rw(s))
		return;
	if (s->cmd.uid) {
		if (!set || set->type != IMAP_ATOM || imap_next(&s->cmd, set)) {
			reply_bad(s, "UID EXPUNGE takes a set of UIDs");
			return;
		}
		sel = seq_select(s, set, 1);
		if (!sel)
			return;
	} else if (set) {
		reply_bad(s, "EXPUNGE takes no arguments");
		return;
	}
	expunge_files(s, sel);
	free(sel);
	if (mb_sync(s, 1) < 0) {
		reply_errno(s, "EXPUNGE");
		return;
	}
	reply_highest(s, s->mb.highest, "EXPUNGE completed");
}

/* CLOSE expunges without telling; the highest modseq after it comes
 * from the uid list, as the view is not brought up to date. */
void cmd_close(struct session *s)
{
	struct uidmap map = UIDMAP_ZERO;
	unsigned long long highest = s->mb.highest;

	if (!s->mb.readonly) {
		expunge_files(s, 0);
		if (s->condstore && uidmap_sync(s->mb.dir, &map, UIDMAP_LAZY) == 0)
			highest = map.h.modseq;
		uidmap_free(&map);
	}
	mb_close(s);
	reply_highest(s, highest, "CLOSE completed");
}

/* A new unique name whose leading seconds are t, so the message's
 * INTERNALDATE (see msg_date) is t. */
int store_dated_name(struct str *out, time_t t)
{
	size_t k = 0;
	char b[FMT_ULONG];
	struct str u = STR_ZERO;

	if (!uniq_name(&u))
		return 0;
	while (k < u.len && u.s[k] >= '0' && u.s[k] <= '9')
		k++;
	out->len = 0;
	if (t < 1000000000)
		t = time(0);
	if (!str_catb(out, b, fmt_ulong(b, (unsigned long long)t)) ||
	    !str_catb(out, u.s + k, u.len - k)) {
		str_free(&u);
		return 0;
	}
	str_free(&u);
	return 1;
}

/* After files were put in dir's cur/ under the lock: their UIDs. */
int store_new_uids(const char *dir, struct str *bases, size_t count,
                   unsigned long *uids, unsigned long *validity)
{
	struct uidmap map = UIDMAP_ZERO;
	struct uidmap_rec r;
	size_t i, off = 0;

	if (uidmap_sync_locked(dir, &map, 0) < 0)
		return -1;
	for (i = 0; i < count; i++) {
		const char *b = bases->s + off;
		size_t bl = strlen(b);

		uids[i] = uidmap_find(&map, b, bl, &r) ? r.uid : 0;
		off += bl + 1;
	}
	*validity = map.h.validity;
	uidmap_free(&map);
	return 0;
}

/* One message of the selected folder put into dir: a hard link (the
 * file never changes once written), or a rename for MOVE. The base
 * name stays when it is free there, so MOVE keeps the file as it is. */
static int copy_one(struct session *s, size_t i, const char *dir, int move,
                    struct str *bases, const int *xlat)
{
	struct msg *m = &s->mb.m[i];
	struct str to = STR_ZERO, nb = STR_ZERO;
	const char *info = m->name[m->baselen] ? m->name + m->baselen : ":2,";
	const char *sizes = memchr(m->name, ',', m->baselen);
	int r;

	/* keyword letters mean what the target folder's file says */
	if (xlat && (m->flags & FL_KWALL)) {
		if (name_withflags(&s->t, m->name, kw_apply(m->flags, xlat)) < 0)
			return -1;
		info = s->t.s + m->baselen;
	}

	if (!store_dated_name(&nb, msg_date(s, i)) ||
	    (sizes && !str_catb(&nb, sizes, m->baselen -
	                        (size_t)(sizes - m->name))) ||
	    !str_cats(&to, dir) || !str_cats(&to, "/cur/") ||
	    !str_catb(&to, nb.s, nb.len) || !str_cats(&to, info) || !str_0(&to) ||
	    !msg_path(s, &s->u, i))
		die_nomem();
	r = move ? rename(s->u.s, to.s) : link(s->u.s, to.s);
	if (r == 0 && (!str_catb(bases, nb.s, nb.len) || !str_catc(bases, 0)))
		die_nomem();
	str_free(&to);
	str_free(&nb);
	return r;
}

/* maildirsize counts every folder but Trash (as Courier does): a copy
 * adds, a move changes the total only when it enters or leaves Trash. */
static void quota_moved(const char *from, const char *to, int move,
                        long long bytes, long long count)
{
	int ft = !strcmp(from, "./.Trash"), tt = !strcmp(to, "./.Trash");

	if (!count)
		return;
	if (!move && !tt)
		maildir_quota_add(".", bytes, count);
	else if (move && ft != tt)
		maildir_quota_add(".", tt ? -bytes : bytes, tt ? -count : count);
}

int store_dest_dir(struct session *s, const struct imap_arg *a,
                   struct str *dir)
{
	const char *name;
	size_t n;

	if (!imap_astring(a, &name, &n)) {
		reply_bad(s, "bad mailbox name");
		return 0;
	}
	if (!folder_dir(dir, name, n) || !str_0(dir) || !folder_exists(dir->s)) {
		reply(s, "NO [TRYCREATE] No such mailbox");
		return 0;
	}
	return 1;
}

/* What a copy adds to the quota: every copy but one into Trash; a move
 * only out of Trash (see quota_moved). */
static int copy_refused(struct session *s, const unsigned char *sel,
                        const char *dir, int move)
{
	unsigned long long bytes = 0, count = 0, sz;
	size_t i;

	if (move && strcmp(s->mb.dir, "./.Trash"))
		return 0;
	for (i = 0; i < s->mb.n; i++) {
		if (!sel[i] || s->mb.m[i].gone || msg_size(s, i, &sz) < 0)
			continue;
		bytes += sz;
		count++;
	}
	return quota_refuses(s, dir, bytes, count);
}

void cmd_copy(struct session *s, int move)
{
	const struct imap_arg *set = imap_first(&s->cmd);
	const struct imap_arg *box = imap_next(&s->cmd, set);
	struct str dir = STR_ZERO, bases = STR_ZERO;
	unsigned long *src = 0, *dst = 0, validity = 0;
	unsigned long long sz, w;
	long long bytes = 0;
	unsigned char *sel;
	size_t i, n = 0;
	int failed = 0, xlat[KW_MAX], *xl = 0;
	unsigned used = 0;
	struct kwmap dkw = KWMAP_ZERO;

	if (move ? !need_rw(s) : !s->selected) {
		if (!move)
			reply_bad(s, "No mailbox selected");
		return;
	}
	if (!set || set->type != IMAP_ATOM || !box || imap_next(&s->cmd, box)) {
		reply_bad(s, "takes a set and a mailbox");
		return;
	}
	sel = seq_select(s, set, s->cmd.uid);
	if (!sel)
		return;
	if (!store_dest_dir(s, box, &dir))
		goto out;
	src = malloc((s->mb.n + 1) * sizeof *src);
	dst = malloc((s->mb.n + 1) * sizeof *dst);
	if (!src || !dst)
		die_nomem();
	for (i = 0; i < s->mb.n; i++)
		if (sel[i] && !s->mb.m[i].gone)
			used |= s->mb.m[i].flags & FL_KWALL;
	if (copy_refused(s, sel, dir.s, move))
		goto out;
	if (used && strcmp(dir.s, s->mb.dir)) {
		if (kw_load(&dkw, dir.s) == 0)
			kw_xlat(used, &s->mb.kw, &dkw, dir.s, xlat);
		else
			memset(xlat, 0xff, sizeof xlat);  /* all -1 */
		xl = xlat;
	}
	if (uidmap_lock(dir.s) < 0) {
		reply_errno(s, move ? "MOVE" : "COPY");
		goto out;
	}
	for (i = 0; i < s->mb.n; i++) {
		if (!sel[i] || s->mb.m[i].gone)
			continue;
		if (copy_one(s, i, dir.s, move, &bases, xl) < 0) {
			failed = 1;
			break;
		}
		if (maildir_name_sizes(s->mb.m[i].name, s->mb.m[i].baselen, &sz,
		                       &w) & MAILDIR_HAS_S)
			bytes += (long long)sz;
		src[n++] = s->mb.m[i].uid;
	}
	quota_moved(s->mb.dir, dir.s, move, bytes, (long long)n);
	if (store_new_uids(dir.s, &bases, n, dst, &validity) < 0)
		failed = 1;
	uidmap_unlock(dir.s);
	if (failed && !move) {
		reply_errno(s, "COPY");
		goto out;
	}
	if (move && n) {
		conn_puts(&s->c, "* OK [COPYUID ");
		conn_putu(&s->c, validity);
		conn_puts(&s->c, " ");
		put_uidset(s, src, n);
		conn_puts(&s->c, " ");
		put_uidset(s, dst, n);
		conn_puts(&s->c, "] Moved\r\n");
		if (mb_sync(s, 1) < 0)
			failed = 1;
	}
	conn_put(&s->c, s->cmd.tag, s->cmd.taglen);
	if (!move && n) {
		conn_puts(&s->c, " OK [COPYUID ");
		conn_putu(&s->c, validity);
		conn_puts(&s->c, " ");
		put_uidset(s, src, n);
		conn_puts(&s->c, " ");
		put_uidset(s, dst, n);
		conn_puts(&s->c, "] COPY completed\r\n");
	} else {
		conn_puts(&s->c, failed ? " NO MOVE failed part way\r\n" :
		          move ? " OK MOVE completed\r\n" : " OK COPY completed\r\n");
	}
out:
	free(sel);
	free(src);
	free(dst);
	str_free(&dir);
	str_free(&bases);
	kw_free(&dkw);
}

/* STATUS mailbox (items): new/ is seen, not taken, so the messages
 * stay \Recent for the session that selects the folder. */
void cmd_status(struct session *s)
{
	const struct imap_arg *box = imap_first(&s->cmd);
	const struct imap_arg *items = imap_next(&s->cmd, box), *it;
	struct uidmap map = UIDMAP_ZERO;
	struct str dir = STR_ZERO;
	const char *name;
	size_t nlen;
	int sp = 0;

	if (!imap_astring(box, &name, &nlen) || !items ||
	    items->type != IMAP_LIST || imap_next(&s->cmd, items) ||
	    !imap_child(&s->cmd, items)) {
		reply_bad(s, "STATUS takes a mailbox and a list of items");
		return;
	}
	for (it = imap_child(&s->cmd, items); it; it = imap_next(&s->cmd, it))
		if (!imap_is_atom(it, "MESSAGES") && !imap_is_atom(it, "RECENT") &&
		    !imap_is_atom(it, "UIDNEXT") && !imap_is_atom(it, "UIDVALIDITY") &&
		    !imap_is_atom(it, "UNSEEN") &&
		    !imap_is_atom(it, "HIGHESTMODSEQ")) {
			reply_bad(s, "unknown STATUS item");
			return;
		}
	if (!folder_dir(&dir, name, nlen) || !str_0(&dir) ||
	    !folder_exists(dir.s)) {
		reply(s, "NO [NONEXISTENT] No such mailbox");
		str_free(&dir);
		return;
	}
	if (uidmap_sync(dir.s, &map, UIDMAP_LAZY) < 0) {
		reply_errno(s, "STATUS");
		str_free(&dir);
		return;
	}
	conn_puts(&s->c, "* STATUS ");
	conn_string(&s->c, name, nlen);
	conn_puts(&s->c, " (");
	for (it = imap_child(&s->cmd, items); it; it = imap_next(&s->cmd, it)) {
		unsigned long long v;

		/* RFC 7162 3.1: a CONDSTORE enabling command */
		if (imap_is_atom(it, "HIGHESTMODSEQ"))
			s->condstore = 1;
		/* the counts are the map's, kept in the file's header */
		if (imap_is_atom(it, "MESSAGES"))
			v = map.h.n;
		else if (imap_is_atom(it, "RECENT"))
			v = map.h.nnew;
		else if (imap_is_atom(it, "UIDNEXT"))
			v = map.h.next;
		else if (imap_is_atom(it, "UIDVALIDITY"))
			v = map.h.validity;
		else if (imap_is_atom(it, "HIGHESTMODSEQ"))
			v = map.h.modseq;
		else
			v = map.h.unseen;
		if (sp++)
			conn_puts(&s->c, " ");
		conn_put(&s->c, it->s, it->len);
		conn_puts(&s->c, " ");
		conn_putu(&s->c, v);
	}
	conn_puts(&s->c, ")\r\n");
	reply(s, "OK STATUS completed");
	uidmap_free(&map);
	str_free(&dir);
}
