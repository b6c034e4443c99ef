/* The SMTP client dialog of quail-remote: see remote_smtp.h. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "base64.h"
#include "fmt.h"
#include "log.h"
#include "remote_reply.h"
#include "remote_smtp.h"

#define SMTP_RBUF 4096
#define SMTP_MSGBUF 65536
#define SMTP_QUIT_TIMEOUT 5000  /* ms: no one waits long for QUIT's reply */

/* One session's state. */
struct smtp {
	struct smtp_job *j;
	struct conn *c;
	const char *host, *ip;
	struct smtp_result *res;
	struct reply r;
	struct ehlo e;
	char rbuf[SMTP_RBUF];
	size_t rpos, rend;
};

static void nomem_if(int ok)
{
	if (!ok)
		die_nomem();
}

/* "host[ip]" then what: the start of every text. */
static void text_where(struct smtp *s, struct str *t)
{
	t->len = 0;
	nomem_if(str_cats(t, s->host) && str_catc(t, '[') &&
	         str_cats(t, s->ip) && str_catc(t, ']'));
}

/* Ends the session: code, whether to try the next host, and the text
 * "host[ip] said: REPLY" (r) or "host[ip]: WHY". */
static void finish(struct smtp *s, char code, int next, const char *why,
                   const struct reply *r)
{
	struct str *t = &s->res->text;

	s->res->code = code;
	s->res->next = next;
	text_where(s, t);
	if (r) {
		nomem_if(str_cats(t, " said: ") &&
		         str_catb(t, r->text.s, r->text.len));
		if (why)
			nomem_if(str_cats(t, " (") && str_cats(t, why) &&
			         str_catc(t, ')'));
	} else {
		nomem_if(str_cats(t, ": ") && str_cats(t, why));
	}
}

static const char *io_why(int e)
{
	if (e == ETIMEDOUT)
		return "timed out waiting for the server";
	if (e == EPROTO)
		return "TLS error";
	if (e == 0)
		return "connection closed by the server";
	return strerror(e);
}

/* Reads one reply into s->r: 1 ok, 0 failed with the reason in *why. */
static int read_reply(struct smtp *s, const char **why)
{
	size_t used;
	ssize_t n;
	int rc;

	reply_reset(&s->r);
	for (;;) {
		if (s->rpos < s->rend) {
			rc = reply_feed(&s->r, s->rbuf + s->rpos,
			                s->rend - s->rpos, &used);
			s->rpos += used;
			if (rc == REPLY_DONE)
				return 1;
			if (rc == REPLY_ENOMEM)
				die_nomem();
			if (rc < 0) {
				*why = reply_error(rc);
				return 0;
			}
		}
		n = conn_read(s->c, s->rbuf, sizeof s->rbuf);
		if (n <= 0) {
			*why = io_why(n == 0 ? 0 : errno);
			return 0;
		}
		s->rpos = 0;
		s->rend = (size_t)n;
	}
}

/* As read_reply; a failure ends the session (next host). */
static int get_reply(struct smtp *s)
{
	const char *why;

	if (read_reply(s, &why))
		return 1;
	finish(s, 'Z', 1, why, 0);
	return 0;
}

static int put(struct smtp *s, const char *p, size_t n)
{
	if (conn_put(s->c, p, n) == 0)
		return 1;
	finish(s, 'Z', 1, io_why(errno), 0);
	return 0;
}

static int puts_(struct smtp *s, const char *p)
{
	return put(s, p, strlen(p));
}

static int flush(struct smtp *s)
{
	if (conn_flush(s->c) == 0)
		return 1;
	finish(s, 'Z', 1, io_why(errno), 0);
	return 0;
}

/* Sends one command line and reads its reply: 1 ok, 0 failed. */
static int command(struct smtp *s, const char *a, const char *b)
{
	return puts_(s, a) && (!b || puts_(s, b)) && put(s, "\r\n", 2) &&
	       flush(s) && get_reply(s);
}

static int code_class(const struct reply *r)
{
	return r->code / 100;
}

static int hello(struct smtp *s)
{
	memset(&s->e, 0, sizeof s->e);
	s->r.ehlo = &s->e;
	if (!command(s, "EHLO ", s->j->helo))
		return 0;
	s->r.ehlo = 0;
	if (code_class(&s->r) == 2)
		return 1;
	if (code_class(&s->r) == 5) {
		memset(&s->e, 0, sizeof s->e);
		if (!command(s, "HELO ", s->j->helo))
			return 0;
		if (code_class(&s->r) == 2)
			return 1;
	}
	finish(s, 'Z', 1, "refused our greeting", &s->r);
	return 0;
}

static int starttls(struct smtp *s)
{
	struct smtp_job *j = s->j;
	struct str err = STR_ZERO;

	if (j->tls == TLS_NONE || j->skip_tls)
		return 1;
	if (!s->e.starttls) {
		if (j->tls == TLS_MAY)
			return 1;
		finish(s, 'Z', 1, "TLS required but not offered (#4.7.4)", 0);
		return 0;
	}
	if (!command(s, "STARTTLS", 0))
		return 0;
	if (s->r.code != 220) {
		if (j->tls == TLS_MAY)
			return 1;
		finish(s, 'Z', 1, "TLS required but refused (#4.7.4)", &s->r);
		return 0;
	}
	/* no plain text may be read as if it came over TLS */
	s->rpos = s->rend = 0;
	if (conn_starttls(s->c, s->host, j->tls, j->cafile, &err) < 0) {
		j->tls_tried_failed = 1;
		nomem_if(str_0(&err));
		finish(s, 'Z', 1, err.s, 0);
		str_free(&err);
		return 0;
	}
	str_free(&err);
	memcpy(s->res->tls, s->c->tls_info, sizeof s->res->tls);
	return hello(s);
}

/* AUTH PLAIN or LOGIN, when the route has credentials. */
static int auth_send(struct smtp *s, const char *cmd, const char *p,
                     size_t n)
{
	struct str b = STR_ZERO;
	int ok;

	nomem_if(str_cats(&b, cmd) && base64_encode(p, n, &b) &&
	         str_0(&b));
	ok = command(s, b.s, 0);
	memset(b.s, 0, b.cap);
	str_free(&b);
	return ok;
}

static int auth(struct smtp *s)
{
	struct smtp_job *j = s->j;
	struct str cred = STR_ZERO;
	int ok;

	if (!j->user)
		return 1;
	if (!s->e.auth_plain && !s->e.auth_login)
		return 1;       /* it may relay for us by address */
	if (!s->c->ssl && !j->auth_plaintext) {
		finish(s, 'Z', 1, "refusing to send a password without TLS "
		       "(#4.7.0)", 0);
		return 0;
	}
	if (s->e.auth_plain) {
		nomem_if(str_catc(&cred, 0) && str_cats(&cred, j->user) &&
		         str_catc(&cred, 0) && str_cats(&cred, j->pass));
		ok = auth_send(s, "AUTH PLAIN ", cred.s, cred.len);
		memset(cred.s, 0, cred.cap);
		str_free(&cred);
	} else {
		ok = auth_send(s, "AUTH LOGIN ", j->user, strlen(j->user)) &&
		     s->r.code == 334 &&
		     auth_send(s, "", j->pass, strlen(j->pass));
	}
	if (!ok)
		return 0;
	if (s->r.code == 235)
		return 1;
	finish(s, 'Z', 1, "authentication failed", &s->r);
	return 0;
}

static int mail_cmd(struct smtp *s)
{
	char num[FMT_ULONG];

	if (!puts_(s, "MAIL FROM:<") || !puts_(s, s->j->sender) ||
	    !puts_(s, ">"))
		return 0;
	if (s->e.size && (!puts_(s, " SIZE=") ||
	                  !puts_(s, fmt_u(num, s->j->size))))
		return 0;
	if (s->e.eightbit && s->j->eightbit && !puts_(s, " BODY=8BITMIME"))
		return 0;
	return put(s, "\r\n", 2);
}

static int rcpt_cmd(struct smtp *s, size_t i)
{
	return puts_(s, "RCPT TO:<") && puts_(s, s->j->rcpt[i]) &&
	       put(s, ">\r\n", 3);
}

static int live(const struct smtp_job *j, size_t i)
{
	return j->state[i] == RCPT_PENDING || j->state[i] == RCPT_TEMP;
}

/* One recipient's reply: its state and text. */
static void rcpt_result(struct smtp *s, size_t i)
{
	struct str *t = &s->j->text[i];
	int k = code_class(&s->r);

	s->j->state[i] = k == 2 ? RCPT_OK : k == 5 ? RCPT_PERM : RCPT_TEMP;
	text_where(s, t);
	nomem_if(str_cats(t, " said: ") &&
	         str_catb(t, s->r.text.s, s->r.text.len));
}

/* Recipients accepted in this session lose that when the message was
 * not taken after all: they follow the message's result, whose text
 * says why. */
static void rcpt_unaccept(struct smtp *s, char to)
{
	size_t i;

	for (i = 0; i < s->j->nrcpt; i++)
		if (s->j->state[i] == RCPT_OK) {
			s->j->state[i] = to;
			s->j->text[i].len = 0;
		}
}

/* Writes the message: CRLF line ends, a dot doubled at the start of a
 * line, a bare CR taken as a line end (so no CRCRLF and no line end
 * the server could read differently), then ".". */
static int data_body(struct smtp *s)
{
	static char buf[SMTP_MSGBUF];
	int bol = 1, cr = 0;
	size_t i, run;
	ssize_t n;
	off_t off = 0;

	for (;;) {
		n = pread(s->j->msgfd, buf, sizeof buf, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_kv("warn", "event", "read", "error", strerror(errno),
			       (char *)0);
			return -1;
		}
		if (n == 0)
			break;
		off += n;
		for (i = 0; i < (size_t)n; i += run) {
			char ch = buf[i];

			if (cr) {
				cr = 0;
				if (!put(s, "\r\n", 2))
					return 0;
				bol = 1;
				if (ch == '\n') {
					run = 1;
					continue;
				}
			}
			if (ch == '\r') {
				cr = 1;
				run = 1;
				continue;
			}
			if (ch == '\n') {
				if (!put(s, "\r\n", 2))
					return 0;
				bol = 1;
				run = 1;
				continue;
			}
			if (bol && ch == '.' && !put(s, ".", 1))
				return 0;
			bol = 0;
			for (run = 1; i + run < (size_t)n; run++)
				if (buf[i + run] == '\r' || buf[i + run] == '\n')
					break;
			if (!put(s, buf + i, run))
				return 0;
		}
	}
	if (cr || !bol)
		if (!put(s, "\r\n", 2))
			return 0;
	return put(s, ".\r\n", 3) && flush(s);
}

/* After DATA's 354: the message and the final reply. */
static void data_send(struct smtp *s)
{
	int rc = data_body(s);

	if (rc < 0) {
		finish(s, 'Z', 0, "cannot read the message (#4.3.0)", 0);
		return;
	}
	if (rc == 0 || !get_reply(s)) {
		/* it may have the message: no other host this time */
		s->res->next = 0;
		return;
	}
	if (code_class(&s->r) == 2) {
		finish(s, 'K', 0, 0, &s->r);
		return;
	}
	finish(s, code_class(&s->r) == 5 ? 'D' : 'Z',
	       code_class(&s->r) != 5, "after the message", &s->r);
}

static size_t accepted(const struct smtp_job *j)
{
	size_t i, n = 0;

	for (i = 0; i < j->nrcpt; i++)
		n += j->state[i] == RCPT_OK;
	return n;
}

/* The replies to MAIL, the RCPTs and DATA, in order. mail_ok tells
 * whether MAIL was taken; without pipelining each reply is read as its
 * command is sent. */
static void transaction(struct smtp *s)
{
	struct smtp_job *j = s->j;
	int pipe = s->e.pipelining, mail_ok;
	size_t i;

	if (!mail_cmd(s) || (!pipe && !(flush(s) && get_reply(s))))
		return;
	if (pipe) {
		for (i = 0; i < j->nrcpt; i++)
			if (live(j, i) && !rcpt_cmd(s, i))
				return;
		if (!puts_(s, "DATA\r\n") || !flush(s) || !get_reply(s))
			return;
	}
	mail_ok = code_class(&s->r) == 2;
	if (!mail_ok)
		finish(s, code_class(&s->r) == 5 ? 'D' : 'Z',
		       code_class(&s->r) != 5, "at MAIL FROM", &s->r);
	for (i = 0; i < j->nrcpt; i++) {
		if (!live(j, i) || (!pipe && !mail_ok))
			continue;
		if (!pipe && !(rcpt_cmd(s, i) && flush(s)))
			return;
		if (!get_reply(s))
			return;
		if (mail_ok)
			rcpt_result(s, i);
	}
	if (!pipe && (!mail_ok || !accepted(j)))
		goto nodata;
	if (!pipe && !command(s, "DATA", 0))
		return;
	if (pipe && !get_reply(s))
		return;
	if (s->r.code == 354) {
		if (mail_ok && accepted(j)) {
			data_send(s);
			return;
		}
		/* pipelined DATA taken with no one to send to: end it empty */
		if (!puts_(s, ".\r\n") || !flush(s) || !get_reply(s))
			return;
	} else if (mail_ok && accepted(j)) {
		finish(s, code_class(&s->r) == 5 ? 'D' : 'Z',
		       code_class(&s->r) != 5, "at DATA", &s->r);
		return;
	}
nodata:
	if (!mail_ok)
		return;
	/* nobody accepted: permanent when nobody can be retried */
	for (i = 0; i < j->nrcpt; i++)
		if (live(j, i)) {
			finish(s, 'Z', 1, "no recipient accepted", 0);
			return;
		}
	finish(s, 'D', 0, "no recipient accepted", 0);
}

static void quit(struct smtp *s)
{
	const char *why;

	if (conn_put(s->c, "QUIT\r\n", 6) < 0 || conn_flush(s->c) < 0)
		return;
	/* the reply to QUIT changes nothing */
	s->c->timeout = SMTP_QUIT_TIMEOUT;
	(void)read_reply(s, &why);
}

void smtp_session(struct smtp_job *j, struct conn *c, const char *host,
                  const char *ip, struct smtp_result *res)
{
	struct smtp s;

	memset(&s, 0, sizeof s);
	s.j = j;
	s.c = c;
	s.host = host;
	s.ip = ip;
	s.res = res;
	res->code = 'Z';
	res->next = 1;
	res->tls[0] = 0;
	c->timeout = j->timeout_ms;
	if (!get_reply(&s))
		goto out;
	if (code_class(&s.r) != 2) {
		finish(&s, 'Z', 1, "refused to talk to us", &s.r);
		goto out;
	}
	if (!hello(&s) || !starttls(&s) || !auth(&s))
		goto out;
	if (s.e.size_max && j->size > s.e.size_max) {
		finish(&s, 'D', 0, "message too big for the server (#5.3.4)", 0);
		goto out;
	}
	transaction(&s);
	quit(&s);
out:
	if (res->code != 'K')
		rcpt_unaccept(&s, res->code == 'D' ? RCPT_PERM : RCPT_TEMP);
	reply_free(&s.r);
}
