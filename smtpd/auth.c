/* SMTP AUTH for quail-smtpd: the PLAIN and LOGIN exchanges (no I/O), the
 * checkpassword run, and the userdb checks on senders and recipients. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "auth.h"
#include "base64.h"
#include "control.h"
#include "exitcode.h"
#include "fmt.h"
#include "io.h"
#include "userdb.h"

enum { AUTH_S_IDLE = 0, AUTH_S_PLAIN, AUTH_S_USER, AUTH_S_PASS };

/* RFC 4954 4 leaves LOGIN's prompts to the server; these are the ones
 * every client expects, base64 of "Username:" and "Password:". */
#define CH_USER "VXNlcm5hbWU6"
#define CH_PASS "UGFzc3dvcmQ6"

int auth_init(struct auth *a)
{
	a->state = AUTH_S_IDLE;
	if (!str_ready(&a->user, AUTH_LINE_MAX) ||
	    !str_ready(&a->pass, AUTH_LINE_MAX) ||
	    !str_ready(&a->dec, AUTH_LINE_MAX))
		return 0;
	memset(a->pass.s, 0, a->pass.cap);
	memset(a->dec.s, 0, a->dec.cap);
	return 1;
}

int auth_waiting(const struct auth *a)
{
	return a->state != AUTH_S_IDLE;
}

static void wipe(struct str *x)
{
	if (x->s)
		explicit_bzero(x->s, x->cap);
	x->len = 0;
}

void auth_wipe(struct auth *a)
{
	a->state = AUTH_S_IDLE;
	wipe(&a->pass);
	wipe(&a->dec);
}

void auth_free(struct auth *a)
{
	auth_wipe(a);
	str_free(&a->pass);
	str_free(&a->dec);
	str_free(&a->user);
}

/* Decodes a response into a->dec; "*" cancels (RFC 4954 4). */
static int decode(struct auth *a, const char *p, size_t n)
{
	int r;

	if (n == 1 && p[0] == '*')
		return AUTH_CANCEL;
	/* the line limit counts the CRLF the caller took off */
	if (n > AUTH_LINE_MAX - 2)
		return AUTH_TOOLONG;
	r = base64_decode(p, n, &a->dec);
	if (r < 0)
		return AUTH_NOMEM;
	return r ? 0 : AUTH_BASE64;
}

static int refuse(struct auth *a, const char *reason)
{
	a->reason = reason;
	return AUTH_REFUSED;
}

/* Checks the credentials now in user and pass. checkpassword cannot
 * carry a NUL inside either, and takes no empty password. */
static int creds(struct auth *a)
{
	size_t total;

	a->state = AUTH_S_IDLE;
	if (!a->user.len || !a->pass.len)
		return refuse(a, "empty");
	if (byte_chr(a->user.s, a->user.len, 0) < a->user.len ||
	    byte_chr(a->pass.s, a->pass.len, 0) < a->pass.len)
		return refuse(a, "nul");
	if (__builtin_add_overflow(a->user.len, a->pass.len, &total) ||
	    total > AUTH_CRED_MAX - 3)
		return refuse(a, "toolong");
	if (!str_0(&a->user))
		return AUTH_NOMEM;
	return AUTH_CHECK;
}

/* Copies without growing, NUL-terminated (for log lines): user and pass
 * were sized by auth_init, and every decoded response fits them. */
static int take(struct str *to, const char *p, size_t n)
{
	if (n >= to->cap)
		return 0;
	if (n)
		memcpy(to->s, p, n);
	to->s[n] = 0;
	to->len = n;
	return 1;
}

/* RFC 4616: [authzid] NUL authcid NUL passwd. We act only for the
 * authcid itself, so an authzid must be empty or the same. */
static int plain(struct auth *a)
{
	const char *d = a->dec.s;
	size_t n = a->dec.len, z, c;

	z = byte_chr(d, n, 0);
	if (z == n)
		return AUTH_MALFORMED;
	c = z + 1 + byte_chr(d + z + 1, n - z - 1, 0);
	if (c == n)
		return AUTH_MALFORMED;
	/* passwd is 1*SAFE: it holds no NUL either */
	if (byte_chr(d + c + 1, n - c - 1, 0) < n - c - 1)
		return AUTH_MALFORMED;
	if (!take(&a->user, d + z + 1, c - z - 1) ||
	    !take(&a->pass, d + c + 1, n - c - 1))
		return refuse(a, "toolong");
	if (z && (z != a->user.len || memcmp(d, a->user.s, z)))
		return refuse(a, "authzid");
	return creds(a);
}

/* The next step of an exchange with the response decoded in dec. */
static int advance(struct auth *a)
{
	switch (a->state) {
	case AUTH_S_PLAIN:
		return plain(a);
	case AUTH_S_USER:
		if (!take(&a->user, a->dec.s, a->dec.len))
			return refuse(a, "toolong");
		a->state = AUTH_S_PASS;
		a->challenge = CH_PASS;
		return AUTH_CHALLENGE;
	default:
		if (!take(&a->pass, a->dec.s, a->dec.len))
			return refuse(a, "toolong");
		return creds(a);
	}
}

int auth_response(struct auth *a, const char *line, size_t n)
{
	int r;

	if (a->state == AUTH_S_IDLE)
		return AUTH_SYNTAX;
	r = decode(a, line, n);
	if (r == 0)
		r = advance(a);
	if (r != AUTH_CHALLENGE)
		a->state = AUTH_S_IDLE;
	if (r != AUTH_CHALLENGE && r != AUTH_CHECK)
		wipe(&a->pass);
	wipe(&a->dec);
	return r;
}

/* The initial response, if any: "=" is an empty one (RFC 4954 4). */
static int initial(struct auth *a, const char *ir, size_t n)
{
	if (n == 1 && ir[0] == '=')
		return auth_response(a, "", 0);
	return auth_response(a, ir, n);
}

int auth_begin(struct auth *a, const char *arg, size_t n)
{
	size_t m = 0, i;

	a->state = AUTH_S_IDLE;
	a->reason = 0;
	a->mech = 0;
	if (!take(&a->user, "", 0))
		return AUTH_NOMEM;
	if (n > AUTH_LINE_MAX)
		return AUTH_TOOLONG;
	while (m < n && arg[m] != ' ' && arg[m] != '\t')
		m++;
	for (i = m; i < n && (arg[i] == ' ' || arg[i] == '\t'); i++)
		;
	if (m == 0)
		return AUTH_SYNTAX;
	if (m == 5 && case_eqb(arg, "PLAIN", 5)) {
		a->mech = "PLAIN";
		a->state = AUTH_S_PLAIN;
		a->challenge = "";
	} else if (m == 5 && case_eqb(arg, "LOGIN", 5)) {
		a->mech = "LOGIN";
		a->state = AUTH_S_USER;
		a->challenge = CH_USER;
	} else
		return AUTH_MECH;
	if (i == n)
		return AUTH_CHALLENGE;
	return initial(a, arg + i, n - i);
}

static const struct {
	int r;
	const char *code, *text;
} replies[] = {
	{ AUTH_CANCEL, "501 5.0.0", "authentication cancelled" },
	{ AUTH_BASE64, "501 5.5.2", "malformed base64" },
	{ AUTH_SYNTAX, "501 5.5.4", "syntax: AUTH mechanism [response]" },
	{ AUTH_MECH, "504 5.5.4", "mechanism not supported" },
	{ AUTH_MALFORMED, "501 5.5.2", "malformed authentication data" },
	{ AUTH_TOOLONG, "500 5.5.6", "authentication line too long" },
	{ AUTH_REFUSED, "535 5.7.8", "authentication failed" },
	{ AUTH_FAIL, "535 5.7.8", "authentication failed" },
	{ AUTH_OK, "235 2.7.0", "authentication successful" },
};

void auth_reply(int r, const char **code, const char **text)
{
	size_t i;

	*code = "454 4.7.0";
	*text = "temporary authentication failure";
	for (i = 0; i < sizeof replies / sizeof replies[0]; i++)
		if (replies[i].r == r) {
			*code = replies[i].code;
			*text = replies[i].text;
		}
}

int auth_received(struct str *h, const char *user, size_t n)
{
	size_t i;
	char c;

	if (!str_cats(h, " (authenticated as "))
		return 0;
	for (i = 0; i < n && i < AUTH_RECEIVED_MAX; i++) {
		c = user[i];
		if (c <= 32 || c >= 127 || c == '(' || c == ')' || c == '\\')
			c = '?';
		if (!str_catc(h, c))
			return 0;
	}
	return str_catc(h, ')');
}

/* ---- settings ---- */

static const struct {
	const char *env, *name;
	size_t off;
	unsigned long long def;
} settings[] = {
	{ "MAXAUTHFAIL", "maxauthfail", offsetof(struct auth_cfg, maxauthfail),
	  AUTH_MAXFAIL },
	{ "TIMEOUTAUTH", "timeoutauth", offsetof(struct auth_cfg, timeout),
	  AUTH_TIMEOUT },
	{ "SENDERAUTH", "senderauth", offsetof(struct auth_cfg, senderauth), 0 },
	{ "RCPTCHECK", "rcptcheck", offsetof(struct auth_cfg, rcptcheck), 1 },
};

int auth_config(struct auth_cfg *c, int argc, char **argv, const char **bad)
{
	const char *e = getenv("SMTPAUTH");
	size_t i;

	c->checkpw = argc > 1 ? argv + 1 : 0;
	c->plaintext = getenv("AUTHPLAINTEXT") != 0;
	c->submission = e && e[0] == '!';
	for (i = 0; i < sizeof settings / sizeof settings[0]; i++) {
		*bad = settings[i].name;
		if (setting_ulong(settings[i].env, settings[i].name,
		                  (unsigned long long *)((char *)c + settings[i].off),
		                  settings[i].def) < 0)
			return 0;
	}
	if (c->timeout > 86400)
		c->timeout = 86400;
	return 1;
}

/* ---- the checkpassword program ---- */

static void child(char *const *argv, int fd)
{
	struct sigaction sa;
	int null;

	/* the pipe to 3 first, so opening /dev/null cannot take fd 3 */
	if (fd == 3)
		fcntl(3, F_SETFD, 0);
	else if (dup2(fd, 3) < 0)
		_exit(EXIT_TEMP);
	/* fd 0 and 1 are the client: the program must not talk to it */
	null = open("/dev/null", O_RDWR);
	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0)
		_exit(EXIT_TEMP);
	if (null > 1)
		close(null);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;        /* an ignored signal stays ignored */
	sigaction(SIGPIPE, &sa, 0);
	if (setenv("QUAIL_SERVICE", "smtp", 1) < 0)
		_exit(EXIT_TEMP);
	execvp(argv[0], argv);
	_exit(EXIT_TEMP);
}

/* Writes "user\0pass\0\0" (no timestamp: nothing to sign) to fd and
 * closes it: before the fork, so it never waits for the program and never
 * meets a reader gone (SIGPIPE), as AUTH_CRED_MAX fits any pipe. */
static int feed(int fd, const struct auth *a)
{
	char buf[AUTH_CRED_MAX];
	size_t n = 0;
	int r;

	memcpy(buf, a->user.s, a->user.len);
	n += a->user.len;
	buf[n++] = 0;
	memcpy(buf + n, a->pass.s, a->pass.len);
	n += a->pass.len;
	buf[n++] = 0;
	buf[n++] = 0;
	r = io_writeall(fd, buf, n);
	explicit_bzero(buf, sizeof buf);
	if (close(fd) < 0)
		r = -1;
	return r;
}

/* Waits for pid until deadline (io_now_ms): 1 reaped, 0 timed out, -1
 * error. A child's exit cannot be polled, so this sleeps in steps growing
 * from 1 ms to 64 ms. */
static int reap(pid_t pid, int *st, long long deadline)
{
	struct timespec ts = { 0, 1000000 };
	pid_t r;

	for (;;) {
		r = waitpid(pid, st, WNOHANG);
		if (r == pid)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
		if (io_now_ms() >= deadline)
			return 0;
		nanosleep(&ts, 0);
		if (ts.tv_nsec < 64000000)
			ts.tv_nsec *= 2;
	}
}

static int verdict(struct auth *a, int st)
{
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return AUTH_OK;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 1) {
		a->reason = "password";
		return AUTH_FAIL;
	}
	a->reason = WIFEXITED(st) ? WEXITSTATUS(st) == EXIT_TEMP ? "temporary"
	            : "exit" : "signal";
	return AUTH_TEMP;
}

int auth_run(char *const *argv, struct auth *a, unsigned timeout)
{
	int p[2], st, r;
	pid_t pid;

	a->reason = "spawn";
	if (a->user.len + a->pass.len > AUTH_CRED_MAX - 3)
		return AUTH_TEMP;
	if (pipe2(p, O_CLOEXEC) < 0)
		return AUTH_TEMP;
	if (feed(p[1], a) < 0) {
		close(p[0]);
		return AUTH_TEMP;
	}
	pid = fork();
	if (pid == 0)
		child(argv, p[0]);
	close(p[0]);
	if (pid < 0)
		return AUTH_TEMP;
	r = reap(pid, &st, timeout ? io_now_ms() + (long long)timeout * 1000
	         : LLONG_MAX);
	if (r == 1)
		return verdict(a, st);
	if (r == 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		a->reason = "timeout";
	} else
		a->reason = "wait";
	return AUTH_TEMP;
}

/* ---- userdb checks ---- */

int auth_sender_ok(const char *login, size_t ln, const char *sender,
                   size_t n)
{
	size_t dl, ds;
	const char *d1 = addr_domain(login, ln, &dl);
	const char *d2 = addr_domain(sender, n, &ds);

	if (ln != n || !dl || dl != ds)
		return 0;
	return !memcmp(login, sender, n - ds) && case_eqb(d1, d2, dl);
}

int auth_rcpt(const char *addr, size_t n, const char *dom, size_t dn,
              int check)
{
	static struct userdb_user u = USERDB_USER_ZERO;
	int r = userdb_domain(dom, dn);

	if (r < 0)
		return AUTH_RCPT_TEMP;
	if (r == 0)
		return AUTH_RCPT_NOTOURS;
	if (!check)
		return AUTH_RCPT_OK;
	r = userdb_lookup(addr, n, &u);
	if (r < 0)
		return AUTH_RCPT_TEMP;
	return r ? AUTH_RCPT_OK : AUTH_RCPT_UNKNOWN;
}
