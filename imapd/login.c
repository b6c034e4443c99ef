/* The login stage of quail-imapd: greeting, CAPABILITY, NOOP, LOGOUT,
 * ID, STARTTLS, LOGIN and AUTHENTICATE PLAIN. A login runs the
 * checkpassword program (with the session stage after it) as a child
 * and waits: when the session stage says it started, its exit ends this
 * process too; otherwise the exit code becomes a NO and the client may
 * try again. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base64.h"
#include "conn.h"
#include "control.h"
#include "exitcode.h"
#include "fmt.h"
#include "log.h"
#include "login.h"
#include "parse.h"

struct login {
	struct conn c;
	struct imap_cmd cmd;
	const char *host;
	char **prog;
	int tls;                /* the connection is encrypted */
	int starttls;           /* STARTTLS is offered */
	int plain;              /* passwords allowed in the clear */
	int tlsfd[3];           /* SSLCTLFD, SSLREADFD, SSLWRITEFD */
	unsigned fails;
	unsigned long long maxfails;
	struct str sasl;
};

static int env_fd(const char *name)
{
	const char *v = getenv(name);
	unsigned long long u;

	if (!v || !scan_ulong(v, strlen(v), &u) || u > 1000000)
		return -1;
	return (int)u;
}

static void login_setup(struct login *l)
{
	const char *u = getenv("UCSPITLS");
	unsigned long long secs;

	l->tls = getenv("SSL_PROTOCOL") != 0;
	l->tlsfd[0] = env_fd("SSLCTLFD");
	l->tlsfd[1] = env_fd("SSLREADFD");
	l->tlsfd[2] = env_fd("SSLWRITEFD");
	l->starttls = !l->tls && u && strcmp(u, "-") && !getenv("DISABLETLS") &&
	              l->tlsfd[0] >= 0 && l->tlsfd[1] >= 0 && l->tlsfd[2] >= 0;
	l->plain = getenv("AUTHPLAINTEXT") != 0;
	if (setting_ulong(0, "maxauthfail", &l->maxfails, LOGIN_FAILS_MAX) < 0)
		die_kv(EXIT_TEMP, "event", "control", "file", "maxauthfail",
		       "error", strerror(errno), NULL);
	if (setting_ulong(0, "timeoutimaplogin", &secs, LOGIN_TIMEOUT) < 0 ||
	    secs == 0 || secs > 86400)
		secs = LOGIN_TIMEOUT;
	conn_init(&l->c, 0, 1, (int)secs * 1000);
}

static int login_allowed(const struct login *l)
{
	return l->tls || l->plain;
}

static void capability(struct login *l)
{
	conn_puts(&l->c, "CAPABILITY IMAP4rev1 SASL-IR LITERAL+ ID ENABLE IDLE");
	if (l->starttls)
		conn_puts(&l->c, " STARTTLS");
	if (login_allowed(l))
		conn_puts(&l->c, " AUTH=PLAIN");
	else
		conn_puts(&l->c, " LOGINDISABLED");
}

static void reply(struct login *l, const char *text)
{
	conn_tagged(&l->c, l->cmd.tag, l->cmd.taglen, text);
}

static void cmd_capability(struct login *l)
{
	conn_puts(&l->c, "* ");
	capability(l);
	conn_puts(&l->c, "\r\n");
	reply(l, "OK CAPABILITY completed");
}

static void cmd_id(struct login *l)
{
	conn_puts(&l->c, "* ID (\"name\" \"quail\")\r\n");
	reply(l, "OK ID completed");
}

/* UCSPI-TLS: answer, flush, drop what the client sent after STARTTLS
 * (it came in the clear: CVE-2011-0411), ask for the handshake, then use
 * the TLS descriptors as 0 and 1 from here on, for the children too. */
static int cmd_starttls(struct login *l)
{
	if (!l->starttls) {
		reply(l, "BAD STARTTLS not available");
		return 0;
	}
	reply(l, "OK Begin TLS negotiation now");
	if (conn_flush(&l->c) < 0)
		return -1;
	conn_discard(&l->c);
	if (io_writeall(l->tlsfd[0], "y", 1) < 0)
		die_kv(EXIT_TEMP, "event", "starttls", "error", strerror(errno),
		       NULL);
	if (dup2(l->tlsfd[1], 0) < 0 || dup2(l->tlsfd[2], 1) < 0)
		die_kv(EXIT_TEMP, "event", "starttls", "error", strerror(errno),
		       NULL);
	if (l->tlsfd[1] > 1)
		close(l->tlsfd[1]);
	if (l->tlsfd[2] > 1 && l->tlsfd[2] != l->tlsfd[1])
		close(l->tlsfd[2]);
	/* the descriptors are 0 and 1 now: the session stage must not
	 * think it could start TLS again */
	if (unsetenv("SSLCTLFD") || unsetenv("SSLREADFD") ||
	    unsetenv("SSLWRITEFD") || unsetenv("UCSPITLS"))
		die_nomem();
	l->tls = 1;
	l->starttls = 0;
	return 0;
}

static void child_env(struct login *l, int pending)
{
	struct str hex = STR_ZERO;
	char *tag;

	tag = malloc(l->cmd.taglen + 1);
	if (!tag)
		_exit(EXIT_TEMP);
	memcpy(tag, l->cmd.tag, l->cmd.taglen);
	tag[l->cmd.taglen] = 0;
	if (setenv("QUAIL_SERVICE", "imap", 1) || setenv(ENV_TAG, tag, 1) ||
	    setenv(ENV_STATUSFD, "5", 1) ||
	    (l->tls && setenv(ENV_TLS, "1", 1)))
		_exit(EXIT_TEMP);
	if (pending && (!login_hex_encode(&hex, l->c.r.buf + l->c.r.pos,
	                                  rd_avail(&l->c.r)) || !str_0(&hex) ||
	                setenv(ENV_PENDING, hex.s, 1)))
		_exit(EXIT_TEMP);
}

/* In the child: creds on fd 3, the status pipe on fd 5, then exec. */
static void child_run(struct login *l, int cred, int status, int pending)
{
	int s;

	if (l->tlsfd[0] >= 0)
		close(l->tlsfd[0]);
	s = fcntl(status, F_DUPFD, 10);
	if (s < 0 || dup2(cred, 3) < 0 || dup2(s, LOGIN_STATUSFD) < 0)
		_exit(EXIT_TEMP);
	if (cred != 3)
		close(cred);
	close(s);
	if (status != LOGIN_STATUSFD && status != 3)
		close(status);
	child_env(l, pending);
	signal(SIGPIPE, SIG_DFL);
	io_untime(l->c.r.fd);
	io_untime(l->c.w.fd);
	execvp(l->prog[0], l->prog);
	log_kv("fatal", "event", "exec", "prog", l->prog[0], "error",
	       strerror(errno), NULL);
	_exit(EXIT_TEMP);
}

/* Runs checkpassword and waits. Returns its exit code, or -1 when the
 * session stage took over (then this process exits with its code). */
static int check_run(struct login *l, const char *cred, size_t n)
{
	int cp[2], sp[2], st;
	int pending = rd_avail(&l->c.r) > 0 &&
	              rd_avail(&l->c.r) <= LOGIN_PENDING_MAX;
	pid_t pid;
	char b;

	if (conn_flush(&l->c) < 0)
		return 111;
	if (pipe(cp) < 0 || pipe(sp) < 0)
		return 111;
	if (io_writeall(cp[1], cred, n) < 0)
		return 111;
	close(cp[1]);
	pid = fork();
	if (pid < 0)
		return 111;
	if (pid == 0) {
		close(sp[0]);
		child_run(l, cp[0], sp[1], pending);
	}
	close(cp[0]);
	close(sp[1]);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 111;
	if (read(sp[0], &b, 1) == 1)
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : EXIT_TEMP);
	close(sp[0]);
	/* the child took the socket's timeouts off */
	rd_retime(&l->c.r);
	wr_retime(&l->c.w);
	if (!WIFEXITED(st))
		return 111;
	return WEXITSTATUS(st);
}

/* After a refused login: 0 go on, -1 too many (BYE sent). */
static int login_try(struct login *l, const char *user, size_t un,
                     const char *pass, size_t pn)
{
	char cred[LOGIN_CRED_MAX];
	int rc;

	if (un == 0 || pn == 0 || un + pn + 3 > sizeof cred ||
	    memchr(user, 0, un) || memchr(pass, 0, pn)) {
		rc = 1;
	} else {
		memcpy(cred, user, un);
		cred[un] = 0;
		memcpy(cred + un + 1, pass, pn);
		cred[un + 1 + pn] = 0;
		cred[un + 2 + pn] = 0;
		rc = check_run(l, cred, un + pn + 3);
		memset(cred, 0, sizeof cred);
	}
	if (rc == 1) {
		reply(l, "NO [AUTHENTICATIONFAILED] Authentication failed");
		if (++l->fails >= l->maxfails) {
			conn_puts(&l->c, "* BYE Too many failed logins\r\n");
			conn_flush(&l->c);
			return -1;
		}
		return 0;
	}
	log_kv("warn", "event", "checkpassword", "status",
	       rc == 2 ? "misuse" : "temporary", NULL);
	reply(l, "NO [UNAVAILABLE] Authentication is not available now");
	return 0;
}

static int cmd_login(struct login *l)
{
	const struct imap_arg *a = imap_first(&l->cmd);
	const char *u, *p;
	size_t un, pn;

	if (!login_allowed(l)) {
		reply(l, "NO [PRIVACYREQUIRED] LOGIN needs TLS first");
		return 0;
	}
	if (imap_nargs(&l->cmd) != 2 || !imap_astring(a, &u, &un) ||
	    !imap_astring(imap_next(&l->cmd, a), &p, &pn)) {
		reply(l, "BAD LOGIN takes a user name and a password");
		return 0;
	}
	return login_try(l, u, un, p, pn);
}

static int sasl_read(struct login *l, const struct imap_arg *ir,
                     const char **s, size_t *n)
{
	int r;

	if (ir) {
		*s = ir->s;
		*n = ir->len;
		return 1;
	}
	conn_puts(&l->c, "+ \r\n");
	if (conn_flush(&l->c) < 0)
		return -1;
	r = conn_line(&l->c, LOGIN_SASL_MAX);
	if (r == CONN_LONG) {
		reply(l, "BAD SASL response too long");
		return 0;
	}
	if (r != CONN_OK)
		return -1;
	*s = l->c.line.s;
	*n = l->c.line.len;
	return 1;
}

static int cmd_authenticate(struct login *l)
{
	const struct imap_arg *a = imap_first(&l->cmd);
	const struct imap_arg *ir = imap_next(&l->cmd, a);
	const char *s, *u, *p;
	size_t n, un, pn;
	int r;

	if (!imap_is_atom(a, "PLAIN") || !login_allowed(l)) {
		reply(l, a && a->type == IMAP_ATOM && !imap_is_atom(a, "PLAIN") ?
		      "NO Unsupported authentication mechanism" :
		      a ? "NO [PRIVACYREQUIRED] AUTHENTICATE needs TLS first" :
		      "BAD AUTHENTICATE needs a mechanism");
		return 0;
	}
	if (ir && (ir->type != IMAP_ATOM || imap_next(&l->cmd, ir))) {
		reply(l, "BAD bad initial response");
		return 0;
	}
	if ((r = sasl_read(l, ir, &s, &n)) <= 0)
		return r;
	if (n == 1 && s[0] == '*') {
		reply(l, "BAD AUTHENTICATE cancelled");
		return 0;
	}
	if (n == 1 && s[0] == '=')
		n = 0;
	if (!str_ready(&l->sasl, n))
		die_nomem();
	r = base64_decode(s, n, &l->sasl);
	if (r < 0)
		die_nomem();
	if (r == 0) {
		reply(l, "BAD malformed base64");
		return 0;
	}
	if (!login_sasl_plain(l->sasl.s, l->sasl.len, &u, &un, &p, &pn)) {
		memset(l->sasl.s, 0, l->sasl.len);
		reply(l, "NO [AUTHENTICATIONFAILED] Authentication failed");
		return ++l->fails >= l->maxfails ? -1 : 0;
	}
	r = login_try(l, u, un, p, pn);
	memset(l->sasl.s, 0, l->sasl.len);
	return r;
}

/* One command: 0 go on, 1 LOGOUT, -1 hang up. */
static int login_dispatch(struct login *l)
{
	const char *name = l->cmd.name;
	size_t n = l->cmd.namelen;
	int noargs = l->cmd.first == 0;

#define IS(w) (n == sizeof w - 1 && case_eqb(name, w, n))
	if (l->cmd.uid) {
		reply(l, "BAD Log in first");
	} else if (IS("CAPABILITY") && noargs) {
		cmd_capability(l);
	} else if (IS("NOOP") && noargs) {
		reply(l, "OK NOOP completed");
	} else if (IS("LOGOUT") && noargs) {
		conn_puts(&l->c, "* BYE Logging out\r\n");
		reply(l, "OK LOGOUT completed");
		return 1;
	} else if (IS("ID")) {
		cmd_id(l);
	} else if (IS("STARTTLS") && noargs) {
		return cmd_starttls(l);
	} else if (IS("LOGIN")) {
		return cmd_login(l);
	} else if (IS("AUTHENTICATE")) {
		return cmd_authenticate(l);
	} else {
		reply(l, "BAD Command unknown or not valid before login");
	}
#undef IS
	return 0;
}

static int login_read(struct login *l)
{
	int r = conn_command(&l->c);

	if (r == CONN_OK) {
		r = imap_parse(&l->cmd, l->c.cmd.s, l->c.cmd.len);
		if (r == IMAP_NOMEM)
			die_nomem();
		if (r == IMAP_BAD) {
			conn_bad(&l->c, l->cmd.tag, l->cmd.taglen, l->cmd.err);
			return 0;
		}
		return 1;
	}
	if (r == CONN_BIG) {
		conn_puts(&l->c, "* BAD Literal too big\r\n");
		return 0;
	}
	if (r == CONN_LONG)
		conn_puts(&l->c, "* BYE Line too long\r\n");
	else if (r == CONN_ERR && errno == ETIMEDOUT)
		conn_puts(&l->c, "* BYE Autologout; idle for too long\r\n");
	else if (r == CONN_NOMEM)
		die_nomem();
	conn_flush(&l->c);
	return -1;
}

int login_main(const char *host, char **prog)
{
	/* static, not on the stack and zeroed: this process waits beside
	 * the session for as long as it lasts, and zeroing the connection
	 * buffers would make all their pages resident for nothing */
	static struct login l;
	int r;

	l.host = host;
	l.prog = prog;
	login_setup(&l);
	conn_puts(&l.c, "* OK [");
	capability(&l);
	conn_puts(&l.c, "] ");
	conn_puts(&l.c, host);
	conn_puts(&l.c, " IMAP4rev1 ready\r\n");
	for (;;) {
		if (conn_flush(&l.c) < 0)
			return 0;
		r = login_read(&l);
		if (r < 0)
			return 0;
		if (r == 0)
			continue;
		r = login_dispatch(&l);
		if (r) {
			conn_flush(&l.c);
			return 0;
		}
	}
}
