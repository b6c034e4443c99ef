/* quail-popup: the AUTHORIZATION state of POP3 (RFC 1939, RFC 2449,
 * RFC 5034 AUTH PLAIN, RFC 2595 STLS), in front of a checkpassword
 * program that runs the mailbox server as the user.
 *
 * Usage: quail-popup hostname checkpassword prog... (for example
 * "quail-popup pop.example.org quail-checkpassword quail-pop3d Maildir").
 * Runs under tcpserver (UCSPI-TCP) as an unprivileged user or as root
 * when the checkpassword program needs it; it parses everything the
 * client sends before login and nothing after. The client is on fd 0
 * and fd 1, log lines go to fd 2.
 *
 * For each login it forks checkpassword with a pipe on fd 3 holding
 * "user\0pass\0<pid.time@hostname>\0", fd 0 and 1 the client, and
 * QUAIL_SERVICE=pop3 and QUAIL_TLS (1 over TLS, else 0) in the
 * environment, and waits: exit 0 means the mailbox server answered the
 * login and ran the session, so quail-popup exits; any other end is a
 * failed login, answered with -ERR.
 *
 * Input is never read ahead of the current line (a peek on the socket
 * finds its end; elsewhere it is read a byte at a time): whatever the
 * client pipelines after a login stays in the kernel for the mailbox
 * server, and whatever it sends after STLS goes to the TLS engine,
 * never to a command (CVE-2011-0411).
 *
 * Environment: TCPREMOTEIP (log), AUTHPLAINTEXT (set: USER/PASS and AUTH
 * allowed without TLS), UCSPITLS ("" offers STLS, "!" requires it before
 * a login, "-" or unset: no STLS), DISABLETLS, SSLCTLFD, SSLREADFD,
 * SSLWRITEFD (UCSPI-TLS), SSL_PROTOCOL (set: TLS from the start),
 * TIMEOUTPOP, MAXAUTHFAIL, MAXPOPERRORS and the control files
 * timeoutpop, maxauthfail, maxpoperrors.
 *
 * Exit: 0 after a session or QUIT; 100 bad usage or too many errors or
 * failed logins; 111 timeout, I/O error, no memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base64.h"
#include "control.h"
#include "exitcode.h"
#include "fmt.h"
#include "io.h"
#include "log.h"
#include "popcmd.h"
#include "str.h"

#define DEF_TIMEOUT 600         /* s for a command line to arrive */
#define DEF_MAXAUTHFAIL 3       /* failed logins, then close */
#define DEF_MAXERRORS 20        /* bad commands, then close */
#define HOST_MAX 255            /* bytes of hostname in the timestamp */
#define OUT_BUF 1024

enum { TLS_NONE, TLS_OFFER, TLS_REQUIRE };

struct popup {
	char **prog;            /* checkpassword and its arguments */
	const char *ip;
	struct str stamp;       /* <pid.time@host> */
	struct str line, user, pass, dec;
	int tls;                /* the session runs over TLS now */
	int tlsmode;            /* TLS_ */
	int plaintext;          /* $AUTHPLAINTEXT */
	int ctlfd, rfd, wfd;    /* UCSPI-TLS */
	unsigned long long timeout, maxauthfail, maxerrors;
	unsigned long long fails, errors;
	struct wr out;
};

static char outbuf[OUT_BUF];

/* ---- I/O ---- */

static void quit(struct popup *p, int code, const char *event)
{
	char f[FMT_ULONG];

	log_kv(code ? "warn" : "info", "event", event, "ip", p->ip,
	       "fails", fmt_u(f, p->fails), NULL);
	_exit(code);
}

static void reply(struct popup *p, const char *a, const char *b)
{
	if (wr_puts(&p->out, a) < 0 || (b && wr_puts(&p->out, b) < 0) ||
	    wr_put(&p->out, "\r\n", 2) < 0 || wr_flush(&p->out) < 0)
		quit(p, EXIT_TEMP, errno == ETIMEDOUT ? "timeout" : "write");
}

/* Up to n bytes of input, none past the first LF. On a socket a peek
 * finds the LF, so a line takes a read or two; elsewhere (the pipe from
 * a TLS engine) a byte at a time. */
static ssize_t read_upto_lf(char *buf, size_t n)
{
	static int nopeek;
	ssize_t k;
	char *lf;

	if (!nopeek) {
		k = recv(0, buf, n, MSG_PEEK | MSG_DONTWAIT);
		if (k > 0) {
			lf = memchr(buf, '\n', (size_t)k);
			return read(0, buf,
			            lf ? (size_t)(lf - buf) + 1 : (size_t)k);
		}
		if (k == 0 || errno != ENOTSOCK)
			return k;
		nopeek = 1;
	}
	return read(0, buf, 1);
}

/* One line through its LF, never reading past it so nothing after it
 * is consumed; the whole line must come within the timeout. */
static int get_line(struct popup *p, size_t max)
{
	long long deadline = io_now_ms() + (long long)p->timeout * 1000;
	int toolong = 0, w;
	char buf[256];
	ssize_t r;
	size_t take;

	p->line.len = 0;
	for (;;) {
		w = io_wait(0, POLLIN, -1, deadline);
		if (w == 0) {
			reply(p, "-ERR timeout", 0);
			quit(p, EXIT_TEMP, "timeout");
		}
		r = w < 0 ? -1 : read_upto_lf(buf, sizeof buf);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			quit(p, EXIT_TEMP, "read");
		if (r == 0)
			quit(p, 0, "eof");
		take = (size_t)r;
		if (!toolong && p->line.len + take > max)
			toolong = 1;
		if (!toolong && !str_catb(&p->line, buf, take))
			die_nomem();
		if (buf[r - 1] == '\n')
			break;
	}
	explicit_bzero(buf, sizeof buf);
	return toolong ? RD_LONG : RD_OK;
}

/* A client mistake: counted, and too many end the session. */
static void bad(struct popup *p, const char *text)
{
	reply(p, "-ERR ", text);
	if (++p->errors >= p->maxerrors) {
		reply(p, "-ERR too many errors", 0);
		quit(p, EXIT_PERM, "errors");
	}
}

/* Zeroes the secrets in place; their buffers were sized at start so
 * they never moved. */
static void wipe(struct popup *p)
{
	if (p->pass.cap)
		explicit_bzero(p->pass.s, p->pass.cap);
	if (p->dec.cap)
		explicit_bzero(p->dec.s, p->dec.cap);
	if (p->line.cap)
		explicit_bzero(p->line.s, p->line.cap);
	p->pass.len = p->dec.len = 0;
}

/* ---- the checkpassword program ---- */

static void child(struct popup *p, int fd)
{
	struct sigaction sa;

	if (fd == 3)
		fcntl(3, F_SETFD, 0);
	else if (dup2(fd, 3) < 0)
		_exit(EXIT_TEMP);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGPIPE, &sa, 0);
	io_untime(0);
	io_untime(1);
	if (setenv("QUAIL_SERVICE", "pop3", 1) < 0 ||
	    setenv("QUAIL_TLS", p->tls ? "1" : "0", 1) < 0)
		_exit(EXIT_TEMP);
	execvp(p->prog[0], p->prog);
	log_kv("warn", "event", "exec", "prog", p->prog[0], "error",
	       strerror(errno), NULL);
	_exit(EXIT_TEMP);
}

/* "user\0pass\0stamp\0" to fd, then closed; a program that exits
 * without reading gives EPIPE, which its exit status explains. */
static void feed(struct popup *p, int fd)
{
	char buf[POP_CRED_MAX];
	size_t n = 0;

	memcpy(buf, p->user.s, p->user.len);
	n += p->user.len;
	buf[n++] = 0;
	memcpy(buf + n, p->pass.s, p->pass.len);
	n += p->pass.len;
	buf[n++] = 0;
	memcpy(buf + n, p->stamp.s, p->stamp.len);
	n += p->stamp.len;
	buf[n++] = 0;
	io_writeall(fd, buf, n);
	explicit_bzero(buf, sizeof buf);
	close(fd);
}

/* Runs checkpassword; returns only when the login failed. */
static void login(struct popup *p)
{
	char f[FMT_ULONG];
	int fd[2], st;
	pid_t pid;

	if (p->user.len + p->pass.len + p->stamp.len + 3 > POP_CRED_MAX) {
		wipe(p);
		bad(p, "[AUTH] credentials too long");
		return;
	}
	if (pipe2(fd, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		wipe(p);
		reply(p, "-ERR [SYS/TEMP] temporary failure", 0);
		quit(p, EXIT_TEMP, "fork");
	}
	if (pid == 0)
		child(p, fd[0]);
	close(fd[0]);
	feed(p, fd[1]);
	wipe(p);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			quit(p, EXIT_TEMP, "wait");
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		_exit(0);       /* the mailbox server had the session */
	wr_retime(&p->out);     /* the child took the socket's timeout off */
	p->fails++;
	log_kv("warn", "event", "auth", "result",
	       WIFEXITED(st) && WEXITSTATUS(st) == 1 ? "fail" : "error",
	       "user", p->user.len ? p->user.s : "-", "ip", p->ip,
	       "tls", p->tls ? "yes" : "no",
	       "status", fmt_u(f, WIFEXITED(st) ? (unsigned)WEXITSTATUS(st) :
	                       128u + (unsigned)WTERMSIG(st)), NULL);
	p->user.len = 0;
	if (p->fails >= p->maxauthfail) {
		reply(p, "-ERR [AUTH] authorization failed; too many failures",
		      0);
		quit(p, EXIT_PERM, "authfail");
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 1)
		reply(p, "-ERR [AUTH] authorization failed", 0);
	else
		reply(p, "-ERR [SYS/TEMP] temporary failure, try later", 0);
}

/* ---- commands ---- */

static int login_allowed(const struct popup *p)
{
	return p->tls || (p->plaintext && p->tlsmode != TLS_REQUIRE);
}

static int stls_offered(const struct popup *p)
{
	return !p->tls && p->tlsmode != TLS_NONE;
}

static void cmd_capa(struct popup *p)
{
	reply(p, "+OK", 0);
	reply(p, "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING", 0);
	if (login_allowed(p))
		reply(p, "USER\r\nSASL PLAIN", 0);
	if (stls_offered(p))
		reply(p, "STLS", 0);
	reply(p, "IMPLEMENTATION quail\r\n.", 0);
}

static int refuse_plain(struct popup *p)
{
	if (login_allowed(p))
		return 0;
	bad(p, "[AUTH] login only after STLS");
	return 1;
}

static void cmd_user(struct popup *p, const struct pop_cmd *c)
{
	if (refuse_plain(p))
		return;
	if (!c->arg || !c->arglen || c->arglen > POP_CRED_MAX) {
		bad(p, "usage: USER name");
		return;
	}
	if (!str_copyb(&p->user, c->arg, c->arglen) || !str_0(&p->user))
		die_nomem();
	reply(p, "+OK", 0);
}

static void cmd_pass(struct popup *p, const struct pop_cmd *c)
{
	if (refuse_plain(p))
		return;
	if (!p->user.len) {
		bad(p, "USER first");
		return;
	}
	if (!c->arg || !c->arglen || c->arglen > POP_CRED_MAX) {
		p->user.len = 0;
		bad(p, "usage: PASS password");
		return;
	}
	/* pass was sized at start: the copy never reallocates */
	memcpy(p->pass.s, c->arg, c->arglen);
	p->pass.len = c->arglen;
	login(p);
}

/* The SASL PLAIN message: the initial response, or one asked for. */
static int plain_message(struct popup *p, const char *ir, size_t n)
{
	size_t len;
	int r;

	if (!ir) {
		reply(p, "+ ", 0);
		if (get_line(p, POP_AUTH_LINE_MAX) == RD_LONG) {
			bad(p, "line too long");
			return 0;
		}
		if (!pop_line(p->line.s, p->line.len, &len)) {
			bad(p, "bad characters");
			return 0;
		}
		ir = p->line.s;
		n = len;
		if (n == 1 && ir[0] == '*') {
			bad(p, "authentication cancelled");
			return 0;
		}
	}
	if (n == 1 && ir[0] == '=')
		n = 0;          /* RFC 5034 4: an empty initial response */
	r = base64_decode(ir, n, &p->dec);
	if (r < 0)
		die_nomem();
	if (r == 0) {
		bad(p, "malformed base64");
		return 0;
	}
	r = pop_plain(p->dec.s, p->dec.len, &p->user, &p->pass);
	if (r < 0)
		die_nomem();
	if (r == 0 || !str_0(&p->user)) {
		bad(p, "malformed PLAIN message");
		return 0;
	}
	return 1;
}

static void cmd_auth(struct popup *p, const struct pop_cmd *c)
{
	size_t m;

	if (!c->arg) {
		if (login_allowed(p))
			reply(p, "+OK\r\nPLAIN\r\n.", 0);
		else
			reply(p, "+OK\r\n.", 0);
		return;
	}
	if (refuse_plain(p))
		return;
	m = byte_chr(c->arg, c->arglen, ' ');
	if (m != 5 || !case_eqb(c->arg, "PLAIN", 5)) {
		bad(p, "unsupported mechanism");
		return;
	}
	if (plain_message(p, m < c->arglen ? c->arg + m + 1 : 0,
	                  m < c->arglen ? c->arglen - m - 1 : 0))
		login(p);
	wipe(p);
}

/* RFC 2595 4: nothing read before the switch may count after it. Input
 * is never read ahead, so bytes sent after STLS reach the TLS engine. */
static void cmd_stls(struct popup *p, const struct pop_cmd *c)
{
	if (!stls_offered(p)) {
		bad(p, p->tls ? "already under TLS" : "STLS not available");
		return;
	}
	if (c->arg) {
		bad(p, "no argument allowed");
		return;
	}
	reply(p, "+OK begin TLS", 0);
	if (io_writeall(p->ctlfd, "y", 1) < 0 || dup2(p->rfd, 0) < 0 ||
	    dup2(p->wfd, 1) < 0)
		quit(p, EXIT_TEMP, "starttls");
	p->tls = 1;
	p->user.len = 0;
	p->errors = 0;
}

static void command(struct popup *p, const struct pop_cmd *c)
{
	switch (c->verb) {
	case POP_CAPA: cmd_capa(p); break;
	case POP_USER: cmd_user(p, c); break;
	case POP_PASS: cmd_pass(p, c); break;
	case POP_AUTH: cmd_auth(p, c); break;
	case POP_STLS: cmd_stls(p, c); break;
	case POP_QUIT:
		reply(p, "+OK bye", 0);
		quit(p, 0, "quit");
		break;
	case POP_APOP: bad(p, "APOP not supported"); break;
	case POP_STAT: case POP_LIST: case POP_RETR: case POP_DELE:
	case POP_NOOP: case POP_RSET: case POP_TOP: case POP_UIDL:
		bad(p, "authenticate first");
		break;
	default:
		bad(p, "unknown command");
	}
}

/* ---- set-up ---- */

static int env_fd(const char *name)
{
	const char *v = getenv(name);
	unsigned long long u;

	if (!v || !scan_ulong(v, strlen(v), &u) || u > 65535 ||
	    fcntl((int)u, F_GETFD) < 0)
		return -1;
	return (int)u;
}

static void config_tls(struct popup *p)
{
	const char *m = getenv("UCSPITLS");

	p->tls = getenv("SSL_PROTOCOL") != 0;
	p->tlsmode = TLS_NONE;
	if (p->tls || !m || getenv("DISABLETLS"))
		return;
	if (*m && strcmp(m, "!") != 0)
		return;
	p->ctlfd = env_fd("SSLCTLFD");
	p->rfd = env_fd("SSLREADFD");
	p->wfd = env_fd("SSLWRITEFD");
	if (p->ctlfd < 0 || p->rfd < 0 || p->wfd < 0) {
		log_kv("warn", "event", "config", "error",
		       "UCSPITLS set without SSLCTLFD, SSLREADFD, SSLWRITEFD", NULL);
		return;
	}
	p->tlsmode = *m ? TLS_REQUIRE : TLS_OFFER;
}

static void config(struct popup *p, int argc, char **argv)
{
	char b[FMT_ULONG];
	const char *host, *ip = getenv("TCPREMOTEIP");
	size_t hn;

	if (argc < 3)
		die_kv(EXIT_PERM, "event", "usage", "error",
		       "usage: quail-popup hostname checkpassword prog...", NULL);
	host = argv[1];
	hn = strlen(host);
	if (hn == 0 || hn > HOST_MAX)
		die_kv(EXIT_PERM, "event", "usage", "error", "bad hostname", NULL);
	p->prog = argv + 2;
	p->ip = ip && *ip ? ip : "unknown";
	if (setting_ulong("TIMEOUTPOP", "timeoutpop", &p->timeout,
	                  DEF_TIMEOUT) < 0 ||
	    setting_ulong("MAXAUTHFAIL", "maxauthfail", &p->maxauthfail,
	                  DEF_MAXAUTHFAIL) < 0 ||
	    setting_ulong("MAXPOPERRORS", "maxpoperrors", &p->maxerrors,
	                  DEF_MAXERRORS) < 0)
		die_kv(EXIT_TEMP, "event", "config", "error", strerror(errno),
		       NULL);
	if (p->timeout == 0 || p->timeout > 86400)
		p->timeout = DEF_TIMEOUT;
	if (p->maxauthfail == 0)
		p->maxauthfail = DEF_MAXAUTHFAIL;
	if (p->maxerrors == 0)
		p->maxerrors = DEF_MAXERRORS;
	p->plaintext = getenv("AUTHPLAINTEXT") != 0;
	config_tls(p);
	if (!str_cats(&p->stamp, "<") ||
	    !str_cats(&p->stamp, fmt_u(b, (unsigned long long)getpid())) ||
	    !str_catc(&p->stamp, '.') ||
	    !str_cats(&p->stamp, fmt_u(b, (unsigned long long)time(0))) ||
	    !str_catc(&p->stamp, '@') || !str_catb(&p->stamp, host, hn) ||
	    !str_catc(&p->stamp, '>') || !str_0(&p->stamp) ||
	    !str_ready(&p->pass, POP_AUTH_LINE_MAX) ||
	    !str_ready(&p->dec, POP_AUTH_LINE_MAX) ||
	    !str_ready(&p->line, POP_AUTH_LINE_MAX + 1))
		die_nomem();
}

int main(int argc, char **argv)
{
	static struct popup p = { .ctlfd = -1, .rfd = -1, .wfd = -1 };
	struct pop_cmd c;
	size_t len;

	log_init("quail-popup");
	signal(SIGPIPE, SIG_IGN);
	config(&p, argc, argv);
	wr_init(&p.out, 1, outbuf, sizeof outbuf, (int)(p.timeout * 1000));
	reply(&p, "+OK ", p.stamp.s);
	for (;;) {
		if (get_line(&p, POP_AUTH_LINE_MAX) == RD_LONG) {
			bad(&p, "line too long");
			continue;
		}
		if (!pop_line(p.line.s, p.line.len, &len)) {
			bad(&p, "bad characters in command");
			continue;
		}
		pop_parse(p.line.s, len, &c);
		command(&p, &c);
		wipe(&p);
	}
}
