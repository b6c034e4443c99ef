/* quail-pop3d: the TRANSACTION and UPDATE states of POP3 (RFC 1939, RFC
 * 2449) over a Maildir.
 *
 * Usage: quail-pop3d [maildir]. Run by a checkpassword program (which
 * quail-popup ran) as the mailbox's owner, never as root, in the home
 * directory: the client on fd 0 and fd 1 (after STLS quail-popup has put
 * the TLS helper's descriptors there), log lines on fd 2. maildir is
 * relative to the working directory; without it, or as "-", $MAILDIR.
 * Reads USER, TCPREMOTEIP, QUAIL_TLS, SSL_PROTOCOL, TIMEOUTPOP and
 * MAXPOPERRORS from the environment and the control files timeoutpop and
 * maxpoperrors. Its first line answers the client's PASS or AUTH.
 * Moves new/ into cur/, and at QUIT unlinks the deleted messages.
 *
 * Exit: 0 once the session has begun, however it ended (the log says
 * how); 111 when the maildrop could not be taken, before anything was
 * written to the client (quail-popup then answers -ERR).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control.h"
#include "exitcode.h"
#include "fmt.h"
#include "io.h"
#include "log.h"
#include "maildrop.h"
#include "popcmd.h"
#include "str.h"

#define DEF_TIMEOUT 600         /* s idle (RFC 1939 3: at least 10 min) */
#define DEF_MAXERRORS 20        /* bad commands, then -ERR and close */
#define IN_BUF 4096
#define OUT_BUF 262144          /* replies and messages */
#define MSG_BUF 65536           /* file reads; out needs 2x per read */
#define AHEAD_MAX 65536         /* octets of a message read ahead */

/* Read-ahead: POP3 clients fetch in order, so after answering RETR i
 * with no command waiting, quail-pop3d makes the reply to RETR i+1 while
 * the client is busy with the last one (small messages only). The next
 * command uses it if it is that RETR and the file still has a name (not
 * removed by another session meanwhile); any command drops it. */
struct ahead {
	size_t i;
	int fd;                 /* the message, open; -1: no read-ahead */
	struct str reply;
	size_t head;            /* octets of its "+OK" line */
};

struct pop {
	struct maildrop d;
	struct rd in;
	struct wr out;
	struct str line;
	const char *user, *ip;
	int tls;
	unsigned long long timeout, maxerrors, errors;
	unsigned long long retrieved, bytes;
	const char *end;        /* why the session ended, for the log */
	size_t next;            /* after RETR i, i + 1 to read ahead; else 0 */
	struct ahead ahead;
};

static char inbuf[IN_BUF];
static char outbuf[OUT_BUF];

static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

static void config(struct pop *p)
{
	if (setting_ulong("TIMEOUTPOP", "timeoutpop", &p->timeout,
	                  DEF_TIMEOUT) < 0 ||
	    setting_ulong("MAXPOPERRORS", "maxpoperrors", &p->maxerrors,
	                  DEF_MAXERRORS) < 0)
		die_kv(EXIT_TEMP, "event", "config", "error", strerror(errno),
		       NULL);
	if (p->timeout == 0 || p->timeout > 86400)
		p->timeout = DEF_TIMEOUT;
	p->user = env_or("USER", "-");
	p->ip = env_or("TCPREMOTEIP", "unknown");
	p->tls = getenv("SSL_PROTOCOL") != 0 || *env_or("QUAIL_TLS", "") == '1';
}

static const char *maildir_path(int argc, char **argv)
{
	const char *m = argc > 1 ? argv[1] : "-";

	if (strcmp(m, "-") == 0)
		m = getenv("MAILDIR");
	if (!m || !*m)
		die_kv(EXIT_TEMP, "event", "start", "user", env_or("USER", "-"),
		       "error", "no maildir: no argument and no $MAILDIR", NULL);
	return m;
}

/* ---- output ---- */

static void out_fail(struct pop *p)
{
	p->end = errno == ETIMEDOUT ? "timeout" : "write";
}

static int put(struct pop *p, const char *s, size_t n)
{
	if (p->end)
		return -1;
	if (wr_put(&p->out, s, n) < 0) {
		out_fail(p);
		return -1;
	}
	return 0;
}

static int puts_(struct pop *p, const char *s)
{
	return put(p, s, strlen(s));
}

static int putu(struct pop *p, unsigned long long u)
{
	char b[FMT_ULONG];

	return put(p, b, fmt_ulong(b, u));
}

static int flush(struct pop *p)
{
	if (p->end)
		return -1;
	if (wr_flush(&p->out) < 0) {
		out_fail(p);
		return -1;
	}
	return 0;
}

static void err(struct pop *p, const char *text)
{
	puts_(p, "-ERR ");
	puts_(p, text);
	puts_(p, "\r\n");
}

/* A client mistake: counted, and too many end the session. */
static void bad(struct pop *p, const char *text)
{
	err(p, text);
	if (++p->errors >= p->maxerrors) {
		err(p, "too many errors");
		flush(p);
		if (!p->end)
			p->end = "errors";
	}
}

/* ---- commands ---- */

/* The message an argument names: index, or -1 after the -ERR. */
static long long msgnum(struct pop *p, const char *a, size_t n)
{
	unsigned long long u;

	if (!pop_num(a, n, p->d.n, &u) || u == 0) {
		bad(p, "no such message");
		return -1;
	}
	if (p->d.m[u - 1].deleted) {
		bad(p, "message deleted");
		return -1;
	}
	return (long long)(u - 1);
}

static void scan_line(struct pop *p, size_t i, int uidl)
{
	char u[POP_UIDL_MAX];
	const char *name;

	putu(p, i + 1);
	put(p, " ", 1);
	if (uidl) {
		name = maildrop_name(&p->d, i);
		put(p, u, pop_uidl(name, strlen(name), u));
	} else
		putu(p, p->d.m[i].size);
	put(p, "\r\n", 2);
}

static void cmd_list(struct pop *p, const struct pop_cmd *c, int uidl)
{
	long long i;
	size_t k;

	if (c->arg) {
		if ((i = msgnum(p, c->arg, c->arglen)) < 0)
			return;
		puts_(p, "+OK ");
		scan_line(p, (size_t)i, uidl);
		return;
	}
	puts_(p, "+OK\r\n");
	for (k = 0; k < p->d.n && !p->end; k++)
		if (!p->d.m[k].deleted)
			scan_line(p, k, uidl);
	puts_(p, ".\r\n");
}

static void cmd_stat(struct pop *p)
{
	puts_(p, "+OK ");
	putu(p, p->d.n - p->d.ndeleted);
	put(p, " ", 1);
	putu(p, p->d.total);
	put(p, "\r\n", 2);
}

/* One read of the open message fd through the transformation into out,
 * which has room for 2 * MSG_BUF: the octets made, 0 at its end, -1 on a
 * read error (errno set). */
static ssize_t xf_read(int fd, struct pop_xf *x, char *out)
{
	static char buf[MSG_BUF];
	ssize_t r;

	do
		r = read(fd, buf, sizeof buf);
	while (r < 0 && errno == EINTR);
	if (r <= 0 || x->done)
		return r < 0 ? -1 : 0;
	return (ssize_t)pop_xf(x, buf, (size_t)r, out);
}

/* Sends the open message fd through the transformation. A read error
 * after "+OK" cannot be told to the client: the session ends without
 * the final ".", so the client knows the message is incomplete. */
static void send_msg(struct pop *p, int fd, struct pop_xf *x)
{
	struct wr *w = &p->out;
	ssize_t n;

	for (;;) {
		if (w->cap - w->len < 2 * MSG_BUF && flush(p) < 0)
			return;
		n = xf_read(fd, x, w->buf + w->len);
		if (n < 0) {
			p->end = "read";
			log_kv("warn", "event", "retr", "user", p->user, "error",
			       strerror(errno), NULL);
			return;
		}
		if (n == 0)
			break;
		w->len += (size_t)n;
		p->bytes += (size_t)n;
	}
	if (w->cap - w->len < POP_XF_END && flush(p) < 0)
		return;
	n = (ssize_t)pop_xf_end(x, w->buf + w->len);
	w->len += (size_t)n;
	p->bytes += (size_t)n;
}

static void retrieved(struct pop *p, size_t i)
{
	p->d.m[i].retrieved = 1;
	p->retrieved++;
	p->next = i + 1;
}

static void retr(struct pop *p, size_t i, int top, unsigned long long lines)
{
	struct pop_xf x;
	struct stat st;
	int fd;

	if (!top && p->ahead.fd >= 0 && p->ahead.i == i &&
	    fstat(p->ahead.fd, &st) == 0 && st.st_nlink > 0) {
		put(p, p->ahead.reply.s, p->ahead.reply.len);
		p->bytes += p->ahead.reply.len - p->ahead.head;
		if (!p->end)
			retrieved(p, i);
		return;
	}
	fd = maildrop_msgopen(&p->d, i);
	if (fd < 0) {
		/* gone behind our back (an IMAP client expunged it) */
		log_kv("warn", "event", "retr", "user", p->user, "file",
		       maildrop_name(&p->d, i), "error", strerror(errno), NULL);
		err(p, errno == ENOENT ? "message is gone" :
		    "[SYS/TEMP] cannot open message");
		return;
	}
	puts_(p, "+OK");
	if (!top) {
		put(p, " ", 1);
		putu(p, p->d.m[i].size);
		puts_(p, " octets");
	}
	put(p, "\r\n", 2);
	pop_xf_init(&x, top, lines);
	if (!p->end)
		send_msg(p, fd, &x);
	close(fd);
	if (!top && !p->end)
		retrieved(p, i);
}

static void drop_ahead(struct pop *p)
{
	if (p->ahead.fd >= 0)
		close(p->ahead.fd);
	p->ahead.fd = -1;
}

/* The whole reply to RETR i into p->ahead, if message i is there, not
 * deleted, small, and can be read; else nothing is kept. */
static void read_ahead(struct pop *p, size_t i)
{
	struct ahead *a = &p->ahead;
	struct pop_xf x;
	ssize_t n;
	int fd;

	if (i >= p->d.n || p->d.m[i].deleted || p->d.m[i].size > AHEAD_MAX)
		return;
	fd = maildrop_msgopen(&p->d, i);
	if (fd < 0)
		return;
	a->reply.len = 0;
	if (!str_cats(&a->reply, "+OK ") ||
	    !str_catu(&a->reply, p->d.m[i].size) ||
	    !str_cats(&a->reply, " octets\r\n"))
		goto out;
	a->head = a->reply.len;
	pop_xf_init(&x, 0, 0);
	do {
		/* beyond the size it was listed with: not for a read-ahead */
		if (a->reply.len > AHEAD_MAX + 64 ||
		    !str_ready(&a->reply, 2 * MSG_BUF))
			goto out;
		n = xf_read(fd, &x, a->reply.s + a->reply.len);
		if (n < 0)
			goto out;
		a->reply.len += (size_t)n;
	} while (n > 0);
	if (!str_ready(&a->reply, POP_XF_END))
		goto out;
	a->reply.len += pop_xf_end(&x, a->reply.s + a->reply.len);
	a->i = i;
	a->fd = fd;
	return;
out:
	close(fd);
}

static void cmd_retr(struct pop *p, const struct pop_cmd *c)
{
	long long i;

	if (!c->arg) {
		bad(p, "message number required");
		return;
	}
	if ((i = msgnum(p, c->arg, c->arglen)) >= 0)
		retr(p, (size_t)i, 0, 0);
}

static void cmd_top(struct pop *p, const struct pop_cmd *c)
{
	const char *a, *b;
	size_t an, bn;
	unsigned long long lines;
	long long i;

	if (!c->arg || !pop_two(c->arg, c->arglen, &a, &an, &b, &bn) ||
	    !pop_num(b, bn, ~0ULL, &lines)) {
		bad(p, "usage: TOP msg lines");
		return;
	}
	if ((i = msgnum(p, a, an)) >= 0)
		retr(p, (size_t)i, 1, lines);
}

static void cmd_dele(struct pop *p, const struct pop_cmd *c)
{
	long long i;

	if (!c->arg) {
		bad(p, "message number required");
		return;
	}
	if ((i = msgnum(p, c->arg, c->arglen)) < 0)
		return;
	maildrop_dele(&p->d, (size_t)i);
	puts_(p, "+OK\r\n");
}

static void cmd_capa(struct pop *p)
{
	puts_(p, "+OK\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n"
	      "IMPLEMENTATION quail\r\n.\r\n");
}

/* UPDATE state (RFC 1939 6). */
static void cmd_quit(struct pop *p)
{
	size_t removed, failed = maildrop_commit(&p->d, &removed);

	if (failed) {
		log_kv("warn", "event", "update", "user", p->user, "error",
		       strerror(errno), NULL);
		err(p, "[SYS/TEMP] some deleted messages were not removed");
	} else
		puts_(p, "+OK bye\r\n");
	flush(p);
	if (!p->end)
		p->end = "quit";
}

static void command(struct pop *p, const struct pop_cmd *c)
{
	switch (c->verb) {
	case POP_STAT: cmd_stat(p); break;
	case POP_LIST: cmd_list(p, c, 0); break;
	case POP_UIDL: cmd_list(p, c, 1); break;
	case POP_RETR: cmd_retr(p, c); break;
	case POP_TOP: cmd_top(p, c); break;
	case POP_DELE: cmd_dele(p, c); break;
	case POP_NOOP: puts_(p, "+OK\r\n"); break;
	case POP_RSET: maildrop_rset(&p->d); puts_(p, "+OK\r\n"); break;
	case POP_CAPA: cmd_capa(p); break;
	case POP_QUIT: cmd_quit(p); break;
	case POP_USER: case POP_PASS: case POP_APOP: case POP_AUTH:
	case POP_STLS:
		bad(p, "already authenticated");
		break;
	default:
		bad(p, "unknown command");
	}
}

/* A STAT, LIST, UIDL, ... takes no argument where none is defined. */
static int args_ok(const struct pop_cmd *c)
{
	switch (c->verb) {
	case POP_STAT: case POP_NOOP: case POP_RSET: case POP_QUIT:
	case POP_CAPA:
		return c->arg == 0;
	default:
		return 1;
	}
}

static void session(struct pop *p)
{
	struct pop_cmd c;
	size_t len;
	int r;

	while (!p->end) {
		/* pipelined commands are answered in one write; with none
		 * waiting, the next message is read ahead meanwhile (for the
		 * next command only) */
		if (rd_avail(&p->in) == 0 && flush(p) < 0)
			break;
		drop_ahead(p);
		if (rd_avail(&p->in) == 0 && p->next)
			read_ahead(p, p->next);
		r = rd_line(&p->in, &p->line, POP_CMD_MAX);
		p->next = 0;
		if (r == RD_EOF) {
			p->end = "eof";
			break;
		}
		if (r == RD_ERR) {
			if (errno == ETIMEDOUT) {
				err(p, "timeout");
				flush(p);
			}
			if (!p->end)
				p->end = errno == ETIMEDOUT ? "timeout" : "read";
			break;
		}
		if (r == RD_LONG) {
			bad(p, "line too long");
			continue;
		}
		if (!pop_line(p->line.s, p->line.len, &len)) {
			bad(p, "bad characters in command");
			continue;
		}
		pop_parse(p->line.s, len, &c);
		if (!args_ok(&c))
			bad(p, "no argument allowed");
		else
			command(p, &c);
	}
}

static void greet(struct pop *p)
{
	char b[FMT_ULONG];

	log_kv("info", "event", "login", "user", p->user, "ip", p->ip,
	       "tls", p->tls ? "yes" : "no", "messages",
	       fmt_u(b, p->d.n), NULL);
	puts_(p, "+OK ");
	putu(p, p->d.n);
	puts_(p, " messages (");
	putu(p, p->d.total);
	puts_(p, " octets)\r\n");
}

static void logout(struct pop *p)
{
	char r[FMT_ULONG], d[FMT_ULONG], b[FMT_ULONG];

	log_kv("info", "event", "logout", "user", p->user, "ip", p->ip,
	       "retrieved", fmt_u(r, p->retrieved), "deleted",
	       fmt_u(d, strcmp(p->end, "quit") == 0 ? p->d.ndeleted : 0),
	       "bytes", fmt_u(b, p->bytes), "end", p->end, NULL);
}

int main(int argc, char **argv)
{
	static struct pop p = { .d = MAILDROP_ZERO, .ahead.fd = -1 };
	const char *path, *what;

	log_init("quail-pop3d");
	signal(SIGPIPE, SIG_IGN);
	config(&p);
	/* a root login would open every mailbox: refuse (notqmail does) */
	if (getuid() == 0 || geteuid() == 0)
		die_kv(EXIT_TEMP, "event", "start", "user", p.user, "error",
		       "running as root", NULL);
	path = maildir_path(argc, argv);
	if (maildrop_open(&p.d, path, &what) < 0)
		die_kv(EXIT_TEMP, "event", "start", "user", p.user, "step", what,
		       "maildir", path, "error", strerror(errno), NULL);
	rd_init(&p.in, 0, inbuf, sizeof inbuf, (int)(p.timeout * 1000));
	wr_init(&p.out, 1, outbuf, sizeof outbuf, (int)(p.timeout * 1000));
	greet(&p);
	session(&p);
	logout(&p);
	maildrop_free(&p.d);
	str_free(&p.line);
	drop_ahead(&p);
	str_free(&p.ahead.reply);
	return 0;
}
