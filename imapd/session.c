/* The session stage of quail-imapd: started by checkpassword as the
 * mailbox owner, in the owner's home, with the login stage's pending tag
 * in QUAIL_IMAP_TAG. Answers that tag, then serves the Maildir
 * ($MAILDIR, else ./Maildir/) until LOGOUT, EOF or the idle timeout. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "control.h"
#include "exitcode.h"
#include "fetch.h"
#include "fmt.h"
#include "log.h"
#include "login.h"
#include "maildir.h"
#include "session.h"

#define IDLE_KEEPALIVE 120      /* s between "* OK Still here" in IDLE */
#define IDLE_POLL 2000          /* ms between checks without inotify */
#define IDLE_SETTLE 30          /* ms to let a burst of changes land */

void reply(struct session *s, const char *text)
{
	if (s->autosync && s->selected && mb_changed(s) &&
	    mb_sync(s, s->autoexpunge) < 0)
		log_kv("warn", "event", "sync", "folder", s->mb.dir, "error",
		       strerror(errno), NULL);
	conn_tagged(&s->c, s->cmd.tag, s->cmd.taglen, text);
}

void reply_bad(struct session *s, const char *why)
{
	conn_bad(&s->c, s->cmd.tag, s->cmd.taglen, why);
}

void reply_errno(struct session *s, const char *what)
{
	int e = errno;

	log_kv("warn", "event", "error", "op", what, "error", strerror(e), NULL);
	conn_put(&s->c, s->cmd.tag, s->cmd.taglen);
	if (e == ENOSPC || e == EDQUOT)
		conn_puts(&s->c, " NO [OVERQUOTA] ");
	else if (e == EAGAIN)
		conn_puts(&s->c, " NO [INUSE] ");
	else if (e == ENOENT)
		conn_puts(&s->c, " NO [NONEXISTENT] ");
	else
		conn_puts(&s->c, " NO [SERVERBUG] ");
	conn_puts(&s->c, what);
	conn_puts(&s->c, " failed: ");
	conn_puts(&s->c, strerror(e));
	conn_puts(&s->c, "\r\n");
}

static int need_selected(struct session *s)
{
	if (s->selected)
		return 1;
	reply_bad(s, "No mailbox selected");
	return 0;
}

/* A sequence set argument: 1 ok, 0 bad. */
static int set_arg(struct session *s, const struct imap_arg *a)
{
	int r;

	if (!a || a->type != IMAP_ATOM)
		return 0;
	r = imap_seq_parse(&s->seq, a->s, a->len);
	if (r < 0)
		die_nomem();
	return r;
}

/* QRESYNC (uidvalidity modseq [known-uids [(seqs uids)]]); the
 * seq-match-data only helps a server that keeps expunge history, so it
 * is checked and ignored. */
static int qresync_arg(struct session *s, const struct imap_arg *l,
                       struct select_opts *o)
{
	const struct imap_arg *a = imap_child(&s->cmd, l), *b;
	unsigned long long v;

	if (l->type != IMAP_LIST || !imap_number(a, &v) || v == 0)
		return 0;
	o->validity = (unsigned long)v;
	a = imap_next(&s->cmd, a);
	if (!modseq_arg(a, &o->modseq) || o->modseq == 0)
		return 0;
	a = imap_next(&s->cmd, a);
	if (a && a->type == IMAP_ATOM) {
		if (!set_arg(s, a))
			return 0;
		o->known = a->s;
		o->knownlen = a->len;
		a = imap_next(&s->cmd, a);
	}
	if (!a)
		return 1;
	b = imap_child(&s->cmd, a);
	if (a->type != IMAP_LIST || !set_arg(s, b) ||
	    !set_arg(s, imap_next(&s->cmd, b)) ||
	    imap_next(&s->cmd, imap_next(&s->cmd, b)))
		return 0;
	return !imap_next(&s->cmd, a);
}

/* SELECT's parameter list: (CONDSTORE) or (QRESYNC (...)). 1 ok, 0
 * bad (why in *err). */
static int select_params(struct session *s, const struct imap_arg *l,
                         struct select_opts *o, const char **err)
{
	const struct imap_arg *a;

	*err = "bad SELECT parameter";
	if (l->type != IMAP_LIST)
		return 0;
	for (a = imap_child(&s->cmd, l); a; a = imap_next(&s->cmd, a)) {
		if (imap_is_atom(a, "CONDSTORE")) {
			s->condstore = 1;
		} else if (imap_is_atom(a, "QRESYNC")) {
			*err = "QRESYNC needs ENABLE QRESYNC first";
			if (!s->qresync)
				return 0;
			*err = "bad QRESYNC parameter";
			a = imap_next(&s->cmd, a);
			if (o->qresync || !a || !qresync_arg(s, a, o))
				return 0;
			o->qresync = 1;
		} else {
			return 0;
		}
	}
	return 1;
}

static void cmd_select(struct session *s, int readonly)
{
	const struct imap_arg *a = imap_first(&s->cmd), *l;
	struct select_opts o;
	const char *name, *err;
	size_t n;

	memset(&o, 0, sizeof o);
	l = a ? imap_next(&s->cmd, a) : 0;
	if (!imap_astring(a, &name, &n) || (l && imap_next(&s->cmd, l))) {
		reply_bad(s, "takes a mailbox name and parameters");
		return;
	}
	if (l && !select_params(s, l, &o, &err)) {
		reply_bad(s, err);
		return;
	}
	s->autosync = 0;
	mb_select(s, name, n, readonly, &o);
}

/* RFC 5161: what is unknown is ignored; ENABLED names what this
 * command turned on. QRESYNC implies CONDSTORE (RFC 7162 3.2.3). */
static void cmd_enable(struct session *s)
{
	const struct imap_arg *a = imap_first(&s->cmd);

	if (!a) {
		reply_bad(s, "ENABLE takes capability names");
		return;
	}
	for (; a; a = imap_next(&s->cmd, a))
		if (a->type != IMAP_ATOM) {
			reply_bad(s, "ENABLE takes capability names");
			return;
		}
	conn_puts(&s->c, "* ENABLED");
	for (a = imap_first(&s->cmd); a; a = imap_next(&s->cmd, a)) {
		int *on = imap_is_atom(a, "CONDSTORE") ? &s->condstore :
		          imap_is_atom(a, "QRESYNC") ? &s->qresync : 0;

		if (!on || *on)
			continue;
		*on = 1;
		conn_puts(&s->c, on == &s->qresync ? " QRESYNC" : " CONDSTORE");
		if (on == &s->qresync)
			s->condstore = 1;
	}
	conn_puts(&s->c, "\r\n");
	reply(s, "OK ENABLE completed");
}

/* IDLE (RFC 2177): inotify on new/ and cur/ wakes the session at once;
 * without inotify the folder is checked every IDLE_POLL ms. */
static int idle_watch(struct session *s)
{
	static const char *const subs[] = { "/new", "/cur" };
	int fd, k;

	if (!s->selected)
		return -1;
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		return -1;
	for (k = 0; k < 2; k++) {
		s->u.len = 0;
		if (!str_cats(&s->u, s->mb.dir) || !str_cats(&s->u, subs[k]) ||
		    !str_0(&s->u))
			die_nomem();
		if (inotify_add_watch(fd, s->u.s, IN_CREATE | IN_DELETE |
		                      IN_MOVED_FROM | IN_MOVED_TO) < 0) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

static void idle_drain(int fd)
{
	char buf[4096];

	while (read(fd, buf, sizeof buf) > 0)
		;
}

static int idle_done(struct session *s)
{
	int r = conn_line(&s->c, 64);

	if (r != CONN_OK)
		return -1;
	if (s->c.line.len == 4 && case_eqb(s->c.line.s, "DONE", 4))
		reply(s, "OK IDLE terminated");
	else
		reply_bad(s, "expected DONE");
	return 0;
}

static int idle_wait(struct session *s, int ino, int ms)
{
	struct pollfd p[2];
	int n = 1, r;

	if (rd_avail(&s->c.r))
		return 1;
	p[0].fd = s->c.r.fd;
	p[0].events = POLLIN;
	p[1].fd = ino;
	p[1].events = POLLIN;
	if (ino >= 0)
		n = 2;
	r = poll(p, (nfds_t)n, ms);
	if (r <= 0)
		return r < 0 && errno != EINTR ? -1 : 0;
	if (p[0].revents)
		return 1;
	return 2;
}

static void cmd_idle(struct session *s)
{
	long long start = io_now_ms(), last = start;
	int ino = idle_watch(s), r;

	conn_puts(&s->c, "+ idling\r\n");
	for (;;) {
		if (conn_flush(&s->c) < 0)
			break;
		r = idle_wait(s, ino, ino >= 0 ? 10000 : IDLE_POLL);
		if (r < 0)
			break;
		if (r == 1) {
			if (idle_done(s) < 0)
				s->done = 1;
			break;
		}
		if (r == 2) {
			struct timespec ts = { 0, IDLE_SETTLE * 1000000L };

			nanosleep(&ts, 0);
			idle_drain(ino);
		}
		if (s->selected && (r == 2 || (ino < 0 && mb_changed(s))) &&
		    mb_sync(s, 1) < 0)
			log_kv("warn", "event", "sync", "error", strerror(errno),
			       NULL);
		if (io_now_ms() - last > IDLE_KEEPALIVE * 1000LL) {
			conn_puts(&s->c, "* OK Still here\r\n");
			last = io_now_ms();
		}
		if (io_now_ms() - start > (long long)SESSION_TIMEOUT * 1000) {
			conn_puts(&s->c, "* BYE Idle for too long\r\n");
			s->done = 1;
			break;
		}
	}
	if (ino >= 0)
		close(ino);
}

#define IS(w) (s->cmd.namelen == sizeof w - 1 && \
               case_eqb(s->cmd.name, w, s->cmd.namelen))

/* Commands valid with or without a selected folder. */
static int dispatch_auth(struct session *s, int noargs)
{
	if (IS("CAPABILITY") && noargs) {
		conn_puts(&s->c, "* CAPABILITY " CAP_SESSION "\r\n");
		reply(s, "OK CAPABILITY completed");
	} else if (IS("NOOP") && noargs) {
		reply(s, "OK NOOP completed");
	} else if (IS("LOGOUT") && noargs) {
		conn_puts(&s->c, "* BYE Logging out\r\n");
		s->autosync = 0;
		reply(s, "OK LOGOUT completed");
		s->done = 1;
	} else if (IS("ID")) {
		conn_puts(&s->c, "* ID (\"name\" \"quail\")\r\n");
		reply(s, "OK ID completed");
	} else if (IS("ENABLE")) {
		cmd_enable(s);
	} else if (IS("NAMESPACE") && noargs) {
		conn_puts(&s->c, "* NAMESPACE ((\"\" \".\")) NIL NIL\r\n");
		reply(s, "OK NAMESPACE completed");
	} else if (IS("SELECT")) {
		cmd_select(s, 0);
	} else if (IS("EXAMINE")) {
		cmd_select(s, 1);
	} else if (IS("CREATE")) {
		cmd_create(s);
	} else if (IS("DELETE")) {
		cmd_delete(s);
	} else if (IS("RENAME")) {
		cmd_rename(s);
	} else if (IS("SUBSCRIBE")) {
		cmd_subscribe(s, 1);
	} else if (IS("UNSUBSCRIBE")) {
		cmd_subscribe(s, 0);
	} else if (IS("LIST")) {
		cmd_list(s, 0);
	} else if (IS("LSUB")) {
		cmd_list(s, 1);
	} else if (IS("STATUS")) {
		cmd_status(s);
	} else if (IS("APPEND")) {
		cmd_append(s);
	} else if (IS("GETQUOTAROOT")) {
		cmd_getquotaroot(s);
	} else if (IS("GETQUOTA")) {
		cmd_getquota(s);
	} else if (IS("SETQUOTA")) {
		reply(s, "NO [NOPERM] Quotas are set by the administrator");
	} else if (IS("IDLE") && noargs) {
		cmd_idle(s);
	} else if (IS("LOGIN") || IS("AUTHENTICATE") || IS("STARTTLS")) {
		reply_bad(s, "Already logged in");
	} else {
		return 0;
	}
	return 1;
}

/* Commands of the selected state; 0 when name is none of them. */
static int dispatch_selected(struct session *s, int noargs)
{
	int seqcmd = IS("FETCH") || IS("STORE") || IS("SEARCH") || IS("COPY");

	if (!seqcmd && !IS("CHECK") && !IS("CLOSE") && !IS("UNSELECT") &&
	    !IS("EXPUNGE") && !IS("MOVE"))
		return 0;
	if (!need_selected(s))
		return 1;
	mb_ready(s);
	s->autoexpunge = !seqcmd;
	if (IS("FETCH")) {
		cmd_fetch(s);
	} else if (IS("STORE")) {
		cmd_store(s);
	} else if (IS("SEARCH")) {
		cmd_search(s);
	} else if (IS("COPY")) {
		cmd_copy(s, 0);
	} else if (IS("MOVE")) {
		cmd_copy(s, 1);
	} else if (IS("EXPUNGE")) {
		cmd_expunge(s);
	} else if (!noargs) {
		reply_bad(s, "takes no arguments");
	} else if (IS("CHECK")) {
		reply(s, "OK CHECK completed");
	} else if (IS("CLOSE")) {
		cmd_close(s);
	} else {
		mb_close(s);
		s->autosync = 0;
		reply(s, "OK UNSELECT completed");
	}
	return 1;
}

static void dispatch(struct session *s)
{
	int noargs = s->cmd.first == 0;

	s->autosync = 1;
	s->autoexpunge = 1;
	if (s->cmd.uid) {
		if (IS("FETCH") || IS("STORE") || IS("SEARCH") || IS("COPY") ||
		    IS("MOVE") || IS("EXPUNGE"))
			dispatch_selected(s, noargs);
		else
			reply_bad(s, "Unknown UID command");
		return;
	}
	if (!dispatch_auth(s, noargs) && !dispatch_selected(s, noargs))
		reply_bad(s, "Unknown command");
}
#undef IS

/* 1 a command, 0 answered already, -1 the session is over */
static int session_read(struct session *s)
{
	int r = conn_command(&s->c);

	if (r == CONN_OK) {
		r = imap_parse(&s->cmd, s->c.cmd.s, s->c.cmd.len);
		if (r == IMAP_NOMEM)
			die_nomem();
		if (r == IMAP_OK)
			return 1;
		conn_bad(&s->c, s->cmd.tag, s->cmd.taglen, s->cmd.err);
		return 0;
	}
	if (r == CONN_BIG) {
		conn_puts(&s->c, "* NO [TOOBIG] Literal too big\r\n");
		return 0;
	}
	if (r == CONN_LONG)
		conn_puts(&s->c, "* BYE Line too long\r\n");
	else if (r == CONN_ERR && errno == ETIMEDOUT)
		conn_puts(&s->c, "* BYE Autologout; idle for too long\r\n");
	else if (r == CONN_NOMEM)
		die_nomem();
	conn_flush(&s->c);
	return -1;
}

/* Input the login stage read ahead of the login goes first. */
static void pending_load(struct session *s)
{
	const char *p = getenv(ENV_PENDING);
	struct str raw = STR_ZERO;

	if (!p)
		return;
	if (login_hex_decode(&raw, p, strlen(p)) && raw.len <= CONN_RBUF) {
		memcpy(s->c.r.buf, raw.s, raw.len);
		s->c.r.end = raw.len;
	}
	str_free(&raw);
	unsetenv(ENV_PENDING);
}

static void session_start(struct session *s, const char *tag)
{
	const char *md = getenv("MAILDIR");

	if (!md || !*md)
		md = "./Maildir/";
	if (getuid() == 0) {
		conn_tagged(&s->c, tag, tag ? strlen(tag) : 0,
		            "NO [UNAVAILABLE] Refusing to serve mail as root");
		conn_flush(&s->c);
		die_kv(EXIT_PERM, "event", "root", NULL);
	}
	if (chdir(md) < 0 && (errno != ENOENT || maildir_make(md, 0700) < 0 ||
	                      chdir(md) < 0)) {
		int e = errno;

		conn_tagged(&s->c, tag, tag ? strlen(tag) : 0,
		            "NO [UNAVAILABLE] The mailbox can't be opened");
		conn_flush(&s->c);
		die_kv(EXIT_TEMP, "event", "maildir", "error", strerror(e), NULL);
	}
	if (maildir_make(".", 0700) < 0 || folders_first_login() < 0)
		log_kv("warn", "event", "setup", "error", strerror(errno), NULL);
	if (tag) {
		conn_puts(&s->c, tag);
		conn_puts(&s->c, " OK [CAPABILITY " CAP_SESSION "] Logged in\r\n");
	} else {
		conn_puts(&s->c, "* PREAUTH [CAPABILITY " CAP_SESSION
		          "] Logged in\r\n");
	}
}

int session_main(void)
{
	static struct session s;
	const char *tag = getenv(ENV_TAG), *sfd = getenv(ENV_STATUSFD);
	unsigned long long secs, fd;

	/* tell the login stage this process took over the connection */
	if (sfd && scan_ulong(sfd, strlen(sfd), &fd) && fd > 2 && fd < 1024) {
		if (write((int)fd, "1", 1) < 0)
			log_kv("warn", "event", "statusfd", "error",
			       strerror(errno), NULL);
		close((int)fd);
	}
	if (setting_ulong(0, "timeoutimap", &secs, SESSION_TIMEOUT) < 0 ||
	    secs < 60 || secs > 86400)
		secs = SESSION_TIMEOUT;
	conn_init(&s.c, 0, 1, (int)secs * 1000);
	pending_load(&s);
	session_start(&s, tag);
	log_kv("info", "event", "session", "user", getenv("USER"), NULL);
	while (!s.done) {
		int r;

		if (conn_flush(&s.c) < 0)
			break;
		r = session_read(&s);
		if (r < 0)
			break;
		if (r > 0)
			dispatch(&s);
	}
	/* what the session learnt goes to the folder's cache */
	msg_cache_close(&s);
	conn_flush(&s.c);
	return 0;
}
