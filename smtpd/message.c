/* DATA for quail-smtpd: receives the message through the data machine
 * (data.c), streams it with a Received header to the queue program
 * (lib/qq.c) and gives the client the queue's answer. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "data.h"
#include "date.h"
#include "fmt.h"
#include "log.h"
#include "smtpd.h"

static void msg_put(struct session *s, const char *p, size_t n)
{
	struct qq *q = &s->qq;

	if (q->pid < 0 || q->failed)
		return;
	qq_put(q, p, n);
	/* A queue program that stops reading would hold the session for
	 * ever in qq_finish: end it, and qq_finish reports a failure. */
	if (q->failed && errno == ETIMEDOUT)
		kill(q->pid, SIGKILL);
}

/* Appends p[0..n) with bytes outside printable ASCII (and space unless
 * spaces) replaced by '?', cut at max bytes. */
static int cat_safe(struct str *o, const char *p, size_t n, size_t max,
                    int spaces)
{
	size_t i;

	for (i = 0; i < n && i < max; i++) {
		char c = p[i];

		if (!(c > 32 && c < 127) && !(spaces && c == ' '))
			c = '?';
		if (!str_catc(o, c))
			return 0;
	}
	return 1;
}

static const char *proto_name(const struct session *s)
{
	/* RFC 3848; AUTH needs EHLO, so an authenticated HELO session is
	 * impossible */
	if (!s->esmtp)
		return "SMTP";
	if (s->auth_user.len)
		return s->tls ? "ESMTPSA" : "ESMTPA";
	return s->tls ? "ESMTPS" : "ESMTP";
}

/* The trace header (RFC 5321 4.4), the first bytes of the message. */
static void qq_received(struct session *s)
{
	struct str *h = &s->tmp;
	char date[DATE_RFC822];
	size_t dn = date_rfc822(date, time(0));
	size_t hn = strlen(cfg.remotehost), in = strlen(cfg.remoteip);

	h->len = 0;
	if (!str_cats(h, "Received: from ") ||
	    !cat_safe(h, s->helo.s, s->helo.len, RECEIVED_FIELD_MAX, 0) ||
	    !str_cats(h, " (") ||
	    !cat_safe(h, cfg.remotehost, hn, RECEIVED_FIELD_MAX, 0) ||
	    !str_cats(h, " [") ||
	    !cat_safe(h, cfg.remoteip, in, RECEIVED_FIELD_MAX, 0) ||
	    !str_cats(h, "])\n\tby ") || !str_catb(h, cfg.me.s, cfg.me.len) ||
	    !str_cats(h, " (quail-smtpd) with ") ||
	    !str_cats(h, proto_name(s)))
		die_nomem();
	if (s->tlsinfo.len && (!str_cats(h, " (") ||
	    !str_catb(h, s->tlsinfo.s, s->tlsinfo.len) || !str_catc(h, ')')))
		die_nomem();
	if (s->auth_user.len &&
	    !auth_received(h, s->auth_user.s, s->auth_user.len))
		die_nomem();
	if (!str_cats(h, " id ") || !str_cats(h, s->sid) ||
	    !str_cats(h, ";\n\t") || !str_catb(h, date, dn) ||
	    !str_catc(h, '\n'))
		die_nomem();
	msg_put(s, h->s, h->len);
}

/* Reads the message up to CRLF.CRLF, streaming it to the queue child;
 * returns the data machine's flags. */
static int data_body(struct session *s, unsigned long long *bytes)
{
	struct data d;
	size_t used, outn;
	char *p;

	data_init(&d, (size_t)cfg.maxdataline, cfg.databytes);
	for (;;) {
		if (!rd_avail(&s->in))
			session_fill(s);
		p = s->in.buf + s->in.pos;
		used = data_feed(&d, p, rd_avail(&s->in), p, &outn);
		s->in.pos += used;
		/* A message to be rejected must not be queued: stop the child
		 * now, so it writes no more of it. */
		if (d.flags)
			qq_abort(&s->qq);
		else
			msg_put(s, p, outn);
		if (data_done(&d))
			break;
	}
	*bytes = d.bytes;
	return d.flags;
}

/* Sends the envelope, waits for the queue program and replies. */
static void data_queue(struct session *s, unsigned long long bytes)
{
	char n[FMT_ULONG], b[FMT_ULONG];
	const char *code;
	int r;

	r = qq_finish(&s->qq, &s->env, &s->qtext);
	s->tmp.len = 0;
	if (!cat_safe(&s->tmp, s->qtext.s, s->qtext.len, REPLY_TEXT_MAX,
	              r != QQ_R_OK) || !str_0(&s->tmp))
		die_nomem();
	if (r == QQ_R_OK) {
		s->msgs++;
		log_kv("info", "event", "accepted", "sid", s->sid, "qid", s->tmp.s,
		       "from", log_from(s), "rcpts", fmt_u(n, s->rcpts),
		       "bytes", fmt_u(b, bytes), (char *)0);
		out_puts(s, "250 2.0.0 ok");
		if (s->tmp.len)
			out_put(s, " ", 1);
		out_put(s, s->tmp.s, s->tmp.len);
		out_put(s, "\r\n", 2);
		return;
	}
	/* qq_finish's text begins with the enhanced code: 4.3.1 is
	 * qmail-queue's disk full, which RFC 5321 says with 452 */
	code = r == QQ_R_PERM ? "554" : s->tmp.len >= 5 &&
	       !memcmp(s->tmp.s, "4.3.1", 5) ? "452" : "451";
	log_kv("info", "event", "rejected", "sid", s->sid, "reason", "queue",
	       "from", log_from(s), "text", s->tmp.s, (char *)0);
	reply(s, code, s->tmp.s);
}

static void data_reject(struct session *s, int flags)
{
	const char *reason, *code, *text;

	if (flags & DATA_TOO_BIG) {
		reason = "size";
		code = "552 5.3.4";
		text = "message size exceeds fixed limit";
	} else if (flags & (DATA_BARE_LF | DATA_BARE_CR)) {
		reason = flags & DATA_BARE_LF ? "bare_lf" : "bare_cr";
		code = "554 5.6.0";
		text = "bare CR or LF in message; lines must end in CRLF";
	} else {
		reason = "line_length";
		code = "554 5.6.0";
		text = "message has a line too long";
	}
	log_kv("info", "event", "rejected", "sid", s->sid, "reason", reason,
	       "from", log_from(s), (char *)0);
	reply(s, code, text);
}

void smtp_data(struct session *s)
{
	unsigned long long bytes;
	int flags;

	if (!s->in_mail) {
		reply_err(s, "503 5.5.1", "send MAIL first");
		return;
	}
	if (!s->rcpts) {
		reply_err(s, "554 5.5.1", "no valid recipients");
		return;
	}
	if (qq_start(&s->qq) < 0) {
		log_kv("warn", "event", "error", "sid", s->sid, "op", "spawn",
		       "prog", cfg.queue, "error", strerror(errno), (char *)0);
		reply(s, "451 4.3.0", "unable to start the queue");
		mail_reset(s);
		return;
	}
	/* lib/qq writes without a timeout; the session's apply */
	s->qq.w.timeout = s->out.timeout;
	s->qq.w.deadline = s->out.deadline;
	qq_received(s);
	reply(s, "354", "End data with <CR><LF>.<CR><LF>");
	out_flush(s);
	flags = data_body(s, &bytes);
	if (flags)
		data_reject(s, flags);
	else
		data_queue(s, bytes);
	mail_reset(s);
	out_flush(s);
}

