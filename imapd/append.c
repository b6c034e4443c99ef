/* APPEND (RFC 3501 6.3.11): the message is streamed into the folder's
 * tmp/ through a fixed buffer as the literal arrives (conn.h), after
 * everything that can refuse it was checked against the size the
 * literal announces; then fsync'd and linked into cur/ with its flags. */
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

#define APPEND_BUF 65536        /* bytes buffered on their way to the file */

/* An APPEND's message on its way to dir/tmp/: LF line ends (as
 * deliveries are stored), written through one fixed buffer whatever
 * the size, a CRLF split between two reads included. */
struct app_out {
	struct wr w;
	int fd;
	int cr;                 /* the last chunk ended in a CR, held back */
	int err;                /* errno of the first failed write, else 0 */
	int nul;                /* a NUL came: the command is BAD */
	unsigned long long out, lf;
	char buf[APPEND_BUF];
};

static void out_put(struct app_out *o, const char *p, size_t n)
{
	/* after a failed write the rest is still read, not written */
	if (o->err || !n)
		return;
	if (wr_put(&o->w, p, n) < 0)
		o->err = errno ? errno : EIO;
	o->out += n;
}

static void out_chunk(struct app_out *o, const char *p, size_t n)
{
	const char *nl;
	size_t k;

	if (!n)
		return;
	if (memchr(p, '\0', n))
		o->nul = 1;
	if (o->cr && p[0] != '\n')
		out_put(o, "\r", 1);
	o->cr = 0;
	while ((nl = memchr(p, '\n', n))) {
		k = (size_t)(nl - p);
		out_put(o, p, k - (k && p[k - 1] == '\r'));
		out_put(o, "\n", 1);
		o->lf++;
		p += k + 1;
		n -= k + 1;
	}
	if (n && p[n - 1] == '\r') {
		o->cr = 1;
		n--;
	}
	out_put(o, p, n);
}

static int out_open(struct app_out *o, const char *dir,
                    const struct str *base, struct str *tmp)
{
	tmp->len = 0;
	if (!str_cats(tmp, dir) || !str_cats(tmp, "/tmp/") ||
	    !str_catb(tmp, base->s, base->len) || !str_0(tmp))
		die_nomem();
	o->fd = open(tmp->s, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (o->fd < 0)
		return -1;
	wr_init(&o->w, o->fd, o->buf, sizeof o->buf, -1);
	o->cr = o->err = o->nul = 0;
	o->out = o->lf = 0;
	return 0;
}

/* Flushes and closes the file, which stays for the caller to unlink
 * on failure; the name gets ,S=<stored>,W=<CRLF size>. */
static int out_close(struct app_out *o, struct str *base)
{
	char b[FMT_ULONG];

	if (o->cr)
		out_put(o, "\r", 1);
	if (!o->err && wr_flush(&o->w) < 0)
		o->err = errno;
	/* fsync before the link into cur/: a crash leaves no half message */
	if (!o->err && fsync(o->fd) < 0)
		o->err = errno;
	if (close(o->fd) < 0 && !o->err)
		o->err = errno;
	o->fd = -1;
	if (o->err) {
		errno = o->err;
		return -1;
	}
	if (!str_cats(base, ",S=") || !str_catb(base, b, fmt_ulong(b, o->out)) ||
	    !str_cats(base, ",W=") ||
	    !str_catb(base, b, fmt_ulong(b, o->out + o->lf)))
		die_nomem();
	return 0;
}

/* The message literal into o: the one conn_command left unread (see
 * conn.h), else one read with the command. A CONN_ code. */
static int append_take(struct session *s, const struct imap_arg *msg,
                       struct app_out *o)
{
	struct conn *c = &s->c;
	const char *p;
	size_t n;
	int r;

	if (c->lit.state != LIT_PENDING) {
		out_chunk(o, msg->s, msg->len);
		return CONN_OK;
	}
	if ((r = conn_literal_start(c)) != CONN_OK)
		return r;
	while (c->lit.left) {
		if ((r = conn_literal_chunk(c, &p, &n)) != CONN_OK)
			return r;
		out_chunk(o, p, n);
	}
	return conn_literal_end(c);
}

/* The client went away or broke the stream mid-message: the session is
 * over, and the half message goes. */
static void append_lost(struct session *s, int r, const char *tmp)
{
	int e = errno;

	unlink(tmp);
	if (r == CONN_NOMEM)
		die_nomem();
	log_kv("info", "event", "append", "result", "aborted", "error",
	       r == CONN_EOF ? "eof" : r == CONN_LONG ? "line too long" :
	       strerror(e), NULL);
	if (r == CONN_LONG)
		conn_puts(&s->c, "* BYE Line too long\r\n");
	else if (r == CONN_ERR && e == ETIMEDOUT)
		conn_puts(&s->c, "* BYE Autologout; idle for too long\r\n");
	s->done = 1;
}

/* Writes the message to dir/tmp/: 0 done (fsync'd, in tmp), -1 failed
 * and answered, the file gone. */
static int append_write(struct session *s, const struct imap_arg *msg,
                        const char *dir, struct str *base, struct str *tmp)
{
	struct app_out o;
	int r;

	if (out_open(&o, dir, base, tmp) < 0) {
		reply_errno(s, "APPEND");
		return -1;
	}
	r = append_take(s, msg, &o);
	if (r != CONN_OK && r != CONN_MORE) {
		close(o.fd);
		append_lost(s, r, tmp->s);
		return -1;
	}
	if (r == CONN_MORE || o.nul) {
		close(o.fd);
		unlink(tmp->s);
		reply_bad(s, o.nul ? "NUL in literal" :
		          "APPEND takes a mailbox, flags, a date and a literal");
		return -1;
	}
	if (out_close(&o, base) < 0) {
		unlink(tmp->s);
		reply_errno(s, "APPEND");
		return -1;
	}
	return 0;
}

static int append_link(const char *dir, struct str *base, struct str *tmp,
                       unsigned flags, long long size)
{
	struct str to = STR_ZERO;
	int r, e;

	struct str nm = STR_ZERO;

	if (!str_0(base) || name_withflags(&nm, base->s, flags) < 0 ||
	    !str_cats(&to, dir) || !str_cats(&to, "/cur/") ||
	    !str_catb(&to, nm.s, nm.len) || !str_0(&to))
		die_nomem();
	str_free(&nm);
	r = link(tmp->s, to.s);
	e = errno;
	unlink(tmp->s);
	str_free(&to);
	if (r == 0 && strcmp(dir, "./.Trash"))
		maildir_quota_add(".", size, 1);
	errno = e;
	return r;
}

/* The arguments before the message: 1 ok, 0 answered BAD. */
static int append_args(struct session *s, const struct imap_arg **box,
                       const struct imap_arg **fl, time_t *date,
                       const struct imap_arg **msg)
{
	const struct imap_arg *a;

	*box = imap_first(&s->cmd);
	*fl = 0;
	*date = 0;
	a = imap_next(&s->cmd, *box);
	if (a && a->type == IMAP_LIST) {
		*fl = a;
		a = imap_next(&s->cmd, a);
	}
	if (a && a->type == IMAP_QUOTED && imap_next(&s->cmd, a)) {
		if (!imap_datetime_parse(a->s, a->len, date)) {
			reply_bad(s, "bad date-time");
			return 0;
		}
		a = imap_next(&s->cmd, a);
	}
	*msg = a;
	if (!*box || !a || a->type != IMAP_LITERAL || imap_next(&s->cmd, a)) {
		reply_bad(s, "APPEND takes a mailbox, flags, a date and a literal");
		return 0;
	}
	return 1;
}

/* APPEND mailbox [(flags)] ["date-time"] literal. Everything that can
 * refuse the message is checked before its continuation, so a client
 * whose literal is refused sends no byte of it; the bytes then go
 * straight to the file (see conn.h). An answer before the bytes were
 * read leaves them to conn_command, which drops them. */
void cmd_append(struct session *s)
{
	const struct imap_arg *box, *msg, *fl;
	struct str dir = STR_ZERO, base = STR_ZERO, tmp = STR_ZERO;
	struct kwmap kw = KWMAP_ZERO;
	unsigned long uid = 0, validity = 0;
	unsigned long long size;
	unsigned flags = 0;
	time_t date;

	if (!append_args(s, &box, &fl, &date, &msg))
		return;
	size = s->c.lit.state == LIT_PENDING ? s->c.lit.size : msg->len;
	if (size > IMAP_APPEND_MAX) {
		reply(s, "NO [TOOBIG] The message is too big");
		return;
	}
	if (!store_dest_dir(s, box, &dir))
		goto out;
	if (fl && kw_load(&kw, dir.s) < 0) {
		reply_errno(s, "APPEND");
		goto out;
	}
	if (fl && !store_flags_arg(s, fl, &flags, &kw, dir.s, 1))
		goto out;
	if (quota_refuses(s, dir.s, size, 1))
		goto out;
	if (!store_dated_name(&base, date ? date : time(0)))
		die_nomem();
	if (append_write(s, msg, dir.s, &base, &tmp) < 0)
		goto out;
	if (uidmap_lock(dir.s) < 0) {
		unlink(tmp.s);
		reply_errno(s, "APPEND");
		goto out;
	}
	if (append_link(dir.s, &base, &tmp, flags, (long long)size) < 0 ||
	    !str_catc(&base, 0) || store_new_uids(dir.s, &base, 1, &uid, &validity) < 0) {
		uidmap_unlock(dir.s);
		reply_errno(s, "APPEND");
		goto out;
	}
	uidmap_unlock(dir.s);
	if (s->selected && !strcmp(s->mb.dir, dir.s))
		mb_sync(s, 1);
	conn_put(&s->c, s->cmd.tag, s->cmd.taglen);
	conn_puts(&s->c, " OK [APPENDUID ");
	conn_putu(&s->c, validity);
	conn_puts(&s->c, " ");
	conn_putu(&s->c, uid);
	conn_puts(&s->c, "] APPEND completed\r\n");
out:
	kw_free(&kw);
	str_free(&dir);
	str_free(&base);
	str_free(&tmp);
}
