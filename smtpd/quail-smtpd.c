/* quail-smtpd: the ESMTP server (RFC 5321), one session per process.
 *
 * Usage: quail-smtpd [checkpassword prog...]. Runs under tcpserver
 * (UCSPI-TCP) as an unprivileged user: the client on fd 0 and fd 1, log
 * lines on fd 2. Reads TCPREMOTEIP, TCPREMOTEHOST, RELAYCLIENT,
 * QUAILQUEUE, QUAIL_CONTROL, AUTHPLAINTEXT, SMTPAUTH and the upper-case
 * overrides of the numeric settings from the environment, and the control
 * files (me, smtpgreeting, rcpthosts, morercpthosts.cdb, badmailfrom,
 * badrcptto, databytes, timeoutsmtpd, timeoutsession, maxrcpt, maxerrors,
 * maxcmdline, maxdataline, maxauthfail, timeoutauth, senderauth,
 * rcptcheck) once, at start; the userdb (lib/userdb.h) at each RCPT. For
 * each message it runs $QUAILQUEUE (else BINDIR/quail-queue) with the
 * message on its fd 0, the envelope on fd 1 and a pipe for its reply text
 * on fd 6, and exports QUAIL_SID to it. With a checkpassword program it
 * offers AUTH (smtpd/auth.c runs the program for each attempt).
 *
 * Built against musl it cannot load libpq: where the userdb is PostgreSQL
 * it execs quail-smtpd-pgsql at start (userdb_handover in userdb.h).
 *
 * Exit: 0 after QUIT or EOF; 100 after too many errors; 111 on a timeout,
 * an I/O error or a temporary failure (no memory, unreadable control).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "auth.h"
#include "smtpd.h"
#include "cdbf.h"
#include "cmd.h"
#include "control.h"
#include "data.h"
#include "date.h"
#include "exitcode.h"
#include "fmt.h"
#include "io.h"
#include "log.h"
#include "qq.h"
#include "str.h"
#include "userdb.h"

#ifndef BINDIR
#define BINDIR "/usr/local/bin"
#endif

#define DEF_DATABYTES 52428800  /* 0 is unlimited */
#define DEF_TIMEOUT 300         /* idle seconds per read or write */
#define DEF_SESSION 3600        /* seconds for the whole session */
#define DEF_MAXRCPT 100
#define DEF_MAXERRORS 10        /* syntax and sequence errors, then 421 */
#define DEF_MAXCMDLINE 512      /* bytes, CRLF included (RFC 5321 4.5.3.1.4) */
#define DEF_MAXDATALINE 1000    /* bytes, CRLF included; 0 is unlimited */
#define MIN_MAXCMDLINE 16       /* below this no command fits */
#define IN_BUF 65536            /* client reads */
#define OUT_BUF 4096            /* replies */

struct smtpd_cfg cfg;
static char inbuf[IN_BUF], outbuf[OUT_BUF];

static int auth_offered(const struct session *s)
{
	return cfg.auth.checkpw && (s->tls || cfg.auth.plaintext);
}


/* ---- configuration ---- */

static void config_fail(const char *name)
{
	static const char msg[] = "421 4.3.0 temporary configuration error\r\n";

	log_kv("fatal", "event", "error", "op", "control", "name", name,
	       "error", strerror(errno), (char *)0);
	io_writeall(1, msg, sizeof msg - 1);
	_exit(EXIT_TEMP);
}

static void config_ulong(const char *env, const char *name,
                         unsigned long long *out, unsigned long long def)
{
	if (setting_ulong(env, name, out, def) < 0)
		config_fail(name);
}

static void config_names(void)
{
	char host[256];

	if (gethostname(host, sizeof host - 1) < 0)
		memcpy(host, "localhost", 10);
	host[sizeof host - 1] = 0;
	if (control_line("me", &cfg.me, host) < 0)
		config_fail("me");
	if (control_line("smtpgreeting", &cfg.greeting, cfg.me.s) < 0)
		config_fail("smtpgreeting");
	if (control_lines("rcpthosts", &cfg.rcpthosts) < 0)
		config_fail("rcpthosts");
	case_lowerb(cfg.rcpthosts.s, cfg.rcpthosts.len);
	if (control_lines("badmailfrom", &cfg.badmailfrom) < 0)
		config_fail("badmailfrom");
	if (control_lines("badrcptto", &cfg.badrcptto) < 0)
		config_fail("badrcptto");
	if (!str_cats(&cfg.mrh, control_dir()) ||
	    !str_cats(&cfg.mrh, "/morercpthosts.cdb") || !str_0(&cfg.mrh))
		die_nomem();
}

static void config_load(int argc, char **argv)
{
	const char *e;

	config_names();
	if (!auth_config(&cfg.auth, argc, argv, &e))
		config_fail(e);
	config_ulong("DATABYTES", "databytes", &cfg.databytes, DEF_DATABYTES);
	config_ulong("TIMEOUTSMTPD", "timeoutsmtpd", &cfg.timeout, DEF_TIMEOUT);
	config_ulong("TIMEOUTSESSION", "timeoutsession", &cfg.session,
	             DEF_SESSION);
	config_ulong("MAXRCPT", "maxrcpt", &cfg.maxrcpt, DEF_MAXRCPT);
	config_ulong("MAXERRORS", "maxerrors", &cfg.maxerrors, DEF_MAXERRORS);
	config_ulong("MAXCMDLINE", "maxcmdline", &cfg.maxcmdline,
	             DEF_MAXCMDLINE);
	config_ulong("MAXDATALINE", "maxdataline", &cfg.maxdataline,
	             DEF_MAXDATALINE);
	if (cfg.maxcmdline < MIN_MAXCMDLINE)
		cfg.maxcmdline = MIN_MAXCMDLINE;
	if (cfg.maxcmdline > SIZE_MAX / 2)
		cfg.maxcmdline = SIZE_MAX / 2;
	if (cfg.maxdataline > SIZE_MAX / 2)
		cfg.maxdataline = SIZE_MAX / 2;
	cfg.relayclient = getenv("RELAYCLIENT");
	e = getenv("QUAILQUEUE");
	cfg.queue = e && *e ? e : BINDIR "/quail-queue";
	e = getenv("TCPREMOTEIP");
	cfg.remoteip = e && *e ? e : "unknown";
	e = getenv("TCPREMOTEHOST");
	cfg.remotehost = e && *e ? e : "unknown";
	tls_config();
}

/* ---- the client connection ---- */

static void session_init(struct session *s)
{
	static const char hex[] = "0123456789abcdef";
	unsigned long long t = (unsigned long long)time(0);
	long long deadline = 0;
	int ms = -1, i;

	memset(s, 0, sizeof *s);
	/* 8 hex digits of time, then the pid: unique among live sessions */
	for (i = 0; i < 8; i++)
		s->sid[i] = hex[(t >> (28 - 4 * i)) & 15];
	s->sid[8 + fmt_xlong(s->sid + 8, (unsigned long long)getpid())] = 0;
	if (cfg.timeout)
		ms = cfg.timeout > INT_MAX / 1000 ? INT_MAX : (int)cfg.timeout * 1000;
	if (cfg.session)
		deadline = io_now_ms() + (long long)(cfg.session > 86400000 ?
		           86400000 : cfg.session) * 1000;
	rd_init(&s->in, 0, inbuf, sizeof inbuf, ms);
	wr_init(&s->out, 1, outbuf, sizeof outbuf, ms);
	s->in.deadline = s->out.deadline = deadline;
	s->qq.pid = -1;
	/* behind an implicit-TLS wrapper (port 465) the session is TLS */
	s->tls = getenv("SSL_PROTOCOL") != 0;
	if (s->tls)
		tls_info(s, getenv("SSL_PROTOCOL"), getenv("SSL_CIPHER"));
	if (cfg.auth.checkpw && !auth_init(&s->auth))
		die_nomem();
}

static void session_gone(struct session *s, const char *op)
{
	log_kv("warn", "event", "error", "sid", s->sid, "op", op,
	       "error", strerror(errno), (char *)0);
	session_exit(s, EXIT_TEMP);
}

void out_put(struct session *s, const char *p, size_t n)
{
	if (wr_put(&s->out, p, n) < 0)
		session_gone(s, "write");
}

void out_puts(struct session *s, const char *p)
{
	out_put(s, p, strlen(p));
}

void out_flush(struct session *s)
{
	if (wr_flush(&s->out) < 0)
		session_gone(s, "write");
}

/* One reply line: code is "250 2.0.0" and the like. */
void reply(struct session *s, const char *code, const char *text)
{
	out_puts(s, code);
	out_put(s, " ", 1);
	out_puts(s, text);
	out_put(s, "\r\n", 2);
}

/* A syntax or sequence error, counted against maxerrors. */
void reply_err(struct session *s, const char *code, const char *text)
{
	reply(s, code, text);
	if (++s->errors < cfg.maxerrors)
		return;
	reply(s, "421 4.7.0", "too many errors, closing connection");
	out_flush(s);
	log_kv("info", "event", "rejected", "sid", s->sid, "reason",
	       "errors", (char *)0);
	session_exit(s, EXIT_PERM);
}

/* Reads more input; replies are flushed first, as this may block. */
void session_fill(struct session *s)
{
	ssize_t r;

	out_flush(s);
	r = rd_fill(&s->in);
	if (r > 0)
		return;
	if (r == 0)
		session_exit(s, 0);
	if (errno != ETIMEDOUT)
		session_gone(s, "read");
	s->out.deadline = 0;    /* past, at the session's end; the idle
	                         * timeout still bounds this last write */
	reply(s, "421 4.4.2", "timeout, closing connection");
	wr_flush(&s->out);
	log_kv("info", "event", "timeout", "sid", s->sid, (char *)0);
	session_exit(s, EXIT_TEMP);
}

/* Reads one line through its LF into s->line; 0 when it was longer than
 * max (read through its LF; s->line keeps only its first max bytes). */
static int session_line(struct session *s, size_t max)
{
	size_t n, i, take;
	int toolong = 0;
	char *p;

	s->line.len = 0;
	for (;;) {
		p = s->in.buf + s->in.pos;
		n = rd_avail(&s->in);
		i = byte_chr(p, n, '\n');
		take = i < n ? i + 1 : n;
		if (take > max - s->line.len) {
			toolong = 1;
			take = max - s->line.len;
		}
		if (!str_catb(&s->line, p, take))
			die_nomem();
		s->in.pos += i < n ? i + 1 : n;
		if (i < n)
			return !toolong;
		session_fill(s);
	}
}

/* ---- session state ---- */

void mail_reset(struct session *s)
{
	s->in_mail = 0;
	s->rcpts = 0;
	s->sender.len = 0;
	s->env.len = 0;
}

void session_exit(struct session *s, int code)
{
	char n[FMT_ULONG];

	qq_abort(&s->qq);
	log_kv("info", "event", "disconnect", "sid", s->sid, "msgs",
	       fmt_u(n, s->msgs), (char *)0);
	_exit(code);
}

/* The sender as <addr>, NUL-terminated, for log lines. */
const char *log_from(struct session *s)
{
	s->from.len = 0;
	if (!str_catc(&s->from, '<') ||
	    !str_catb(&s->from, s->sender.s, s->sender.len) ||
	    !str_catc(&s->from, '>') || !str_0(&s->from))
		die_nomem();
	return s->from.s;
}

static void log_reject(struct session *s, const char *reason,
                       const struct str *addr)
{
	struct str a = STR_ZERO;

	if (!str_catb(&a, addr->s, addr->len) || !str_0(&a))
		die_nomem();
	log_kv("info", "event", "rejected", "sid", s->sid, "reason", reason,
	       "from", log_from(s), "addr", a.s, (char *)0);
	str_free(&a);
}

/* ---- policy ---- */

/* An address in a badmailfrom-style list: the address itself or
 * "@domain", without regard to case. */
static int list_match(const struct str *list, const char *a, size_t n)
{
	size_t i, len, dn;
	const char *d;

	if (n == 0)
		return 0;
	d = addr_domain(a, n, &dn);
	for (i = 0; i < list->len; i += len + 1) {
		const char *l = list->s + i;

		len = strlen(l);
		if (len == n && case_eqb(l, a, n))
			return 1;
		if (dn && l[0] == '@' && len == dn + 1 && case_eqb(l + 1, d, dn))
			return 1;
	}
	return 0;
}

/* 1 when we take mail for domain d[0..n) (lower case), 0 when not, -1
 * when morercpthosts.cdb could not be read. Like qmail, a line ".x.y" in
 * either file covers every name ending in ".x.y". */
static int rcpthosts_match(const char *d, size_t n)
{
	size_t i, len;
	int r;

	for (i = 0; i < cfg.rcpthosts.len; i += len + 1) {
		const char *l = cfg.rcpthosts.s + i;

		len = strlen(l);
		if (len == n && !memcmp(l, d, n))
			return 1;
		if (len && l[0] == '.' && len < n && !memcmp(l, d + n - len, len))
			return 1;
	}
	for (i = 0; i < n; i++) {
		if (i && d[i] != '.')
			continue;
		r = cdbf_lookup(cfg.mrh.s, d + i, n - i, 0);
		if (r != 0)
			return r;
	}
	return 0;
}

/* ---- commands ---- */

static void smtp_ehlo_caps(struct session *s)
{
	char size[5 + FMT_ULONG];
	const char *caps[8];
	size_t n = 0, i;

	memcpy(size, "SIZE", 4);
	size[4] = 0;
	if (cfg.databytes) {
		size[4] = ' ';
		fmt_u(size + 5, cfg.databytes);
	}
	if (cfg.tlsoffer && !s->tls)
		caps[n++] = "STARTTLS";
	caps[n++] = "PIPELINING";
	caps[n++] = "8BITMIME";
	caps[n++] = size;
	caps[n++] = "ENHANCEDSTATUSCODES";
	caps[n++] = "HELP";
	if (auth_offered(s))
		caps[n++] = "AUTH PLAIN LOGIN";
	out_puts(s, "250-");
	out_put(s, cfg.me.s, cfg.me.len);
	out_put(s, "\r\n", 2);
	for (i = 0; i < n; i++) {
		out_puts(s, i + 1 < n ? "250-" : "250 ");
		out_puts(s, caps[i]);
		out_put(s, "\r\n", 2);
	}
}

static void smtp_helo(struct session *s, const struct cmd *c, int esmtp)
{
	if (!c->arglen) {
		reply_err(s, "501 5.5.4", "HELO and EHLO need a domain");
		return;
	}
	if (!str_copyb(&s->helo, c->arg, c->arglen))
		die_nomem();
	s->esmtp = esmtp;
	mail_reset(s);          /* RFC 5321 4.1.4: EHLO also resets */
	if (esmtp) {
		smtp_ehlo_caps(s);
		return;
	}
	out_puts(s, "250 ");
	out_put(s, cfg.me.s, cfg.me.len);
	out_put(s, "\r\n", 2);
}

/* Replies to a failed cmd_mail or cmd_rcpt. */
static void path_fail(struct session *s, int r, const char *pathcode,
                      const char *usage)
{
	switch (r) {
	case CMD_E_NOMEM:
		die_nomem();
	case CMD_E_PATH:        /* a bad address is not a protocol error */
		reply(s, pathcode, addr_error(s->path.addr_err));
		return;
	case CMD_E_PARAM:
		reply_err(s, "555 5.5.4", "unsupported parameter");
		return;
	default:
		reply_err(s, "501 5.5.4", usage);
		return;
	}
}

static void smtp_mail(struct session *s, const struct cmd *c)
{
	struct cmd_path *p = &s->path;
	int r;

	if (!s->helo.len) {
		reply_err(s, "503 5.5.1", "send HELO or EHLO first");
		return;
	}
	if (s->in_mail) {
		reply_err(s, "503 5.5.1", "nested MAIL command");
		return;
	}
	if (cfg.tlsrequire && !s->tls) {
		reply_err(s, "530 5.7.0", "must issue a STARTTLS command first");
		return;
	}
	if (cfg.auth.submission && !s->auth_user.len) {
		reply_err(s, "530 5.7.0", "authentication required");
		return;
	}
	r = cmd_mail(c->arg, c->arglen, p);
	if (r != CMD_OK) {
		path_fail(s, r, "501 5.1.7", "syntax: MAIL FROM:<address>");
		return;
	}
	if (p->addr.len && !p->has_domain) {
		reply(s, "501 5.1.7", "sender address must have a domain");
		return;
	}
	if (p->has_size && cfg.databytes && p->size > cfg.databytes) {
		reply(s, "552 5.3.4", "message size exceeds fixed limit");
		return;
	}
	if (!str_copyb(&s->sender, p->addr.s, p->addr.len))
		die_nomem();
	if (cfg.auth.senderauth && s->auth_user.len && !auth_sender_ok(
	    s->auth_user.s, s->auth_user.len, p->addr.s, p->addr.len)) {
		log_reject(s, "senderauth", &s->auth_user);
		reply(s, "553 5.7.1", "sender is not the authenticated user");
		return;
	}
	if (list_match(&cfg.badmailfrom, p->addr.s, p->addr.len)) {
		log_reject(s, "badmailfrom", &p->addr);
		reply(s, "550 5.7.1", "sender rejected");
		return;
	}
	if (!qq_env_from(&s->env, p->addr.s, p->addr.len))
		die_nomem();
	s->in_mail = 1;
	s->rcpts = 0;
	reply(s, "250 2.1.0", "ok");
}

static void rcpt_temp(struct session *s, const char *op, const char *file)
{
	log_kv("warn", "event", "error", "sid", s->sid, "op", op,
	       "file", file, "error", strerror(errno), (char *)0);
	reply(s, "451 4.3.0", "temporary failure checking recipient");
}

/* The userdb's say on a (domain in s->tmp): 1 ours and accepted, 0 not
 * a userdb domain, -1 rejected (replied). */
static int rcpt_userdb(struct session *s, struct str *a)
{
	switch (auth_rcpt(a->s, a->len, s->tmp.s, s->tmp.len,
	                  cfg.auth.rcptcheck != 0)) {
	case AUTH_RCPT_NOTOURS:
		return 0;
	case AUTH_RCPT_OK:
		return 1;
	case AUTH_RCPT_UNKNOWN:
		log_reject(s, "nouser", a);
		reply(s, "550 5.1.1", "no such user");
		return -1;
	default:
		rcpt_temp(s, "userdb", userdb_path());
		return -1;
	}
}

/* Checks a recipient with a domain: 1 accept, 0 rejected (replied). */
static int rcpt_allowed(struct session *s, struct str *a)
{
	size_t dn;
	const char *d = addr_domain(a->s, a->len, &dn);
	int r;

	if (list_match(&cfg.badrcptto, a->s, a->len)) {
		log_reject(s, "badrcptto", a);
		reply(s, "550 5.1.1", "recipient rejected");
		return 0;
	}
	if (!str_copyb(&s->tmp, d, dn))
		die_nomem();
	case_lowerb(s->tmp.s, s->tmp.len);
	r = rcpt_userdb(s, a);
	if (r < 0)
		return 0;
	/* an authenticated client relays, as one with RELAYCLIENT does */
	if (!r && !cfg.relayclient && !s->auth_user.len) {
		r = rcpthosts_match(s->tmp.s, s->tmp.len);
		if (r < 0) {
			rcpt_temp(s, "cdb", cfg.mrh.s);
			return 0;
		}
		if (r == 0) {
			log_reject(s, "relay", a);
			reply(s, "553 5.7.1", "relaying denied");
			return 0;
		}
	}
	if (cfg.relayclient && !str_cats(a, cfg.relayclient))
		die_nomem();
	return 1;
}

static void smtp_rcpt(struct session *s, const struct cmd *c)
{
	struct cmd_path *p = &s->path;
	int r;

	if (!s->in_mail) {
		reply_err(s, "503 5.5.1", "send MAIL first");
		return;
	}
	r = cmd_rcpt(c->arg, c->arglen, p);
	if (r != CMD_OK) {
		path_fail(s, r, "501 5.1.3", "syntax: RCPT TO:<address>");
		return;
	}
	if (s->rcpts >= cfg.maxrcpt) {
		reply(s, "452 4.5.3", "too many recipients");
		return;
	}
	if (!p->has_domain) {
		/* RFC 5321 4.5.1: <postmaster> must work without a domain */
		if (p->addr.len != 10 || !case_eqb(p->addr.s, "postmaster", 10)) {
			reply(s, "553 5.1.3", "recipient must have a domain");
			return;
		}
		if (!str_copys(&p->addr, "postmaster@") ||
		    !str_catb(&p->addr, cfg.me.s, cfg.me.len))
			die_nomem();
	} else if (!rcpt_allowed(s, &p->addr))
		return;
	if (!qq_env_rcpt(&s->env, p->addr.s, p->addr.len))
		die_nomem();
	s->rcpts++;
	reply(s, "250 2.1.5", "ok");
}

/* ---- AUTH (smtpd/auth.c) ---- */

/* A line over maxcmdline is too long unless it is an AUTH command, which
 * may carry an initial response of up to AUTH_LINE_MAX. */
static size_t line_max(const struct session *s)
{
	return auth_offered(s) && cfg.maxcmdline < AUTH_LINE_MAX ?
	       AUTH_LINE_MAX : (size_t)cfg.maxcmdline;
}

static int auth_line(const struct session *s)
{
	return auth_offered(s) && (case_startb(s->line.s, s->line.len, "AUTH ")
	       || case_startb(s->line.s, s->line.len, "AUTH\t"));
}

/* A line may have held a password: it and what the reader consumed. */
static void line_wipe(struct session *s)
{
	explicit_bzero(s->line.s, s->line.len);
	explicit_bzero(s->in.buf, s->in.pos);
}

static void auth_log(struct session *s, const char *result)
{
	log_kv("info", "event", "auth", "sid", s->sid, "result", result,
	       "user", s->auth.user.s, "mech", s->auth.mech, "reason",
	       strcmp(result, "ok") ? s->auth.reason : 0, (char *)0);
}

/* Ends an exchange without success; a refusal or a wrong password counts
 * towards maxauthfail, then the session closes. */
static void auth_end(struct session *s, int r)
{
	const char *code, *text;

	auth_wipe(&s->auth);
	if (r == AUTH_NOMEM)
		die_nomem();
	auth_reply(r, &code, &text);
	if (r == AUTH_CANCEL || r == AUTH_TEMP) {
		reply(s, code, text);
		return;
	}
	if (r != AUTH_REFUSED && r != AUTH_FAIL) {
		reply_err(s, code, text);
		return;
	}
	auth_log(s, "fail");
	reply(s, code, text);
	if (++s->authfail < cfg.auth.maxauthfail)
		return;
	reply(s, "421 4.7.0", "too many authentication failures, closing");
	out_flush(s);
	log_kv("info", "event", "rejected", "sid", s->sid, "reason",
	       "authfail", (char *)0);
	session_exit(s, EXIT_PERM);
}

/* Runs the checkpassword program on the credentials in s->auth. */
static void auth_check(struct session *s)
{
	int r;

	out_flush(s);           /* the check may take seconds */
	r = auth_run(cfg.auth.checkpw, &s->auth, (unsigned)cfg.auth.timeout);
	auth_wipe(&s->auth);
	if (r != AUTH_OK) {
		if (r == AUTH_TEMP)
			auth_log(s, "error");
		auth_end(s, r);
		return;
	}
	if (!str_copyb(&s->auth_user, s->auth.user.s, s->auth.user.len))
		die_nomem();
	auth_log(s, "ok");
	reply(s, "235 2.7.0", "authentication successful");
}

/* One exchange: challenges and responses until credentials or an end. */
static void smtp_auth(struct session *s, const struct cmd *c)
{
	size_t len;
	int r;

	if (!auth_offered(s)) {
		if (cfg.auth.checkpw)
			reply_err(s, "538 5.7.11", "encryption required for AUTH");
		else
			reply_err(s, "502 5.5.1", "AUTH not available");
		return;
	}
	if (s->auth_user.len || s->in_mail) {
		reply_err(s, "503 5.5.1", s->in_mail ? "AUTH not allowed "
		          "in a mail transaction" : "already authenticated");
		return;
	}
	for (r = auth_begin(&s->auth, c->arg, c->arglen); r == AUTH_CHALLENGE;) {
		out_puts(s, "334 ");
		out_puts(s, s->auth.challenge);
		out_put(s, "\r\n", 2);
		if (!session_line(s, AUTH_LINE_MAX))
			r = AUTH_TOOLONG;
		else if (cmd_line(s->line.s, s->line.len, &len) != CMD_OK)
			r = AUTH_BASE64;
		else
			r = auth_response(&s->auth, s->line.s, len);
		line_wipe(s);
	}
	if (r == AUTH_CHECK)
		auth_check(s);
	else
		auth_end(s, r);
}

static void session_command(struct session *s)
{
	struct cmd c;
	size_t len;

	if (cmd_line(s->line.s, s->line.len, &len) != CMD_OK) {
		reply_err(s, "500 5.5.2", "bad characters in command");
		return;
	}
	if (cmd_parse(s->line.s, len, &c) != CMD_OK) {
		reply_err(s, "501 5.5.4", "no parameters allowed");
		return;
	}
	switch (c.verb) {
	case CMD_HELO: smtp_helo(s, &c, 0); break;
	case CMD_EHLO: smtp_helo(s, &c, 1); break;
	case CMD_MAIL: smtp_mail(s, &c); break;
	case CMD_RCPT: smtp_rcpt(s, &c); break;
	case CMD_DATA: smtp_data(s); break;
	case CMD_RSET: mail_reset(s); reply(s, "250 2.0.0", "ok"); break;
	case CMD_NOOP: reply(s, "250 2.0.0", "ok"); break;
	case CMD_VRFY:
		reply(s, "252 2.5.2", "cannot verify, but will accept and try");
		break;
	case CMD_HELP: reply(s, "214 2.0.0", "see RFC 5321"); break;
	case CMD_AUTH: smtp_auth(s, &c); break;
	case CMD_STARTTLS: smtp_starttls(s); break;
	case CMD_QUIT:
		out_puts(s, "221 2.0.0 ");
		out_put(s, cfg.me.s, cfg.me.len);
		out_puts(s, " closing connection\r\n");
		out_flush(s);
		session_exit(s, 0);
	default: reply_err(s, "500 5.5.2", "unrecognized command"); break;
	}
}

static void session_run(struct session *s)
{
	int ok, au;

	out_puts(s, "220 ");
	out_put(s, cfg.greeting.s, cfg.greeting.len);
	out_puts(s, " ESMTP quail\r\n");
	for (;;) {
		ok = session_line(s, line_max(s));
		au = auth_line(s);
		if (!ok && au)
			reply_err(s, "500 5.5.6", "authentication line too long");
		else if (!ok || (s->line.len > cfg.maxcmdline && !au))
			reply_err(s, "500 5.5.2", "line too long");
		else
			session_command(s);
		if (au)
			line_wipe(s);
	}
}

int main(int argc, char **argv)
{
	static struct session s;
	struct sigaction sa;

	log_init("quail-smtpd");
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;        /* a gone client or child is EPIPE */
	sigaction(SIGPIPE, &sa, 0);
	if (userdb_handover("quail-smtpd", argv) < 0)
		config_fail("quail-smtpd-pgsql");
	config_load(argc, argv);
	session_init(&s);
	if (setenv("QUAIL_SID", s.sid, 1) < 0)
		die_nomem();
	log_kv("info", "event", "connect", "sid", s.sid, "ip", cfg.remoteip,
	       "host", cfg.remotehost, (char *)0);
	session_run(&s);
	return 0;
}
