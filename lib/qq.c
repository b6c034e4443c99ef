/* Running the queue program: the qmail-queue interface, client side. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exitcode.h"
#include "qq.h"

#ifndef BINDIR
#define BINDIR "/usr/local/bin"
#endif

extern char **environ;

static void close3(int a, int b, int c)
{
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
	if (c >= 0)
		close(c);
}

int qq_start(struct qq *q)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t def, none;
	const char *prog = getenv("QUAILQUEUE");
	char *argv[2];
	int m[2] = { -1, -1 }, e[2] = { -1, -1 }, r[2] = { -1, -1 };
	int err;

	if (!prog || !*prog)
		prog = BINDIR "/quail-queue";
	q->pid = -1;
	q->failed = 0;
	if (pipe2(m, O_CLOEXEC) < 0 || pipe2(e, O_CLOEXEC) < 0 ||
	    pipe2(r, O_CLOEXEC) < 0) {
		err = errno;
		close3(m[0], e[0], r[0]);
		close3(m[1], e[1], r[1]);
		errno = err;
		return -1;
	}
	argv[0] = (char *)prog;
	argv[1] = 0;
	/* the queue program starts with default SIGPIPE and no blocked
	 * signals, whatever the caller had */
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigemptyset(&none);
	err = posix_spawnattr_init(&at);
	if (!err)
		err = posix_spawnattr_setsigdefault(&at, &def);
	if (!err)
		err = posix_spawnattr_setsigmask(&at, &none);
	if (!err)
		err = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF |
		                               POSIX_SPAWN_SETSIGMASK);
	if (!err)
		err = posix_spawn_file_actions_init(&fa);
	if (!err)
		err = posix_spawn_file_actions_adddup2(&fa, m[0], 0);
	if (!err)
		err = posix_spawn_file_actions_adddup2(&fa, e[0], 1);
	if (!err)
		err = posix_spawn_file_actions_adddup2(&fa, r[1], 6);
	if (!err)
		err = posix_spawn(&q->pid, prog, &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close3(m[0], e[0], r[1]);
	if (err) {
		close3(m[1], e[1], r[0]);
		q->pid = -1;
		errno = err;
		return -1;
	}
	q->msgfd = m[1];
	q->envfd = e[1];
	q->errfd = r[0];
	wr_init(&q->w, q->msgfd, q->buf, sizeof q->buf, -1);
	return 0;
}

void qq_put(struct qq *q, const char *p, size_t n)
{
	if (!q->failed && wr_put(&q->w, p, n) < 0)
		q->failed = 1;
}

void qq_puts(struct qq *q, const char *s)
{
	qq_put(q, s, strlen(s));
}

static int reap(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return st;
}

void qq_abort(struct qq *q)
{
	if (q->pid < 0)
		return;
	close3(q->msgfd, q->envfd, q->errfd);
	reap(q->pid);
	q->pid = -1;
}

int qq_env_from(struct str *env, const char *sender, size_t len)
{
	env->len = 0;
	return str_catc(env, 'F') && str_catb(env, sender, len) &&
	       str_catc(env, 0);
}

int qq_env_rcpt(struct str *env, const char *rcpt, size_t len)
{
	return str_catc(env, 'T') && str_catb(env, rcpt, len) &&
	       str_catc(env, 0);
}

/* Sets text to code + message; 1 ok, 0 no memory. */
static int say(struct str *text, const char *s)
{
	return str_copys(text, s) && str_0(text);
}

int qq_status(int st, const char *errtext, size_t errlen, struct str *text)
{
	int code;

	if (!WIFEXITED(st)) {
		say(text, "4.3.0 queue program crashed");
		return QQ_R_TEMP;
	}
	code = WEXITSTATUS(st);
	if (code == 0) {
		/* quail-queue's "K<id>": the ID for the 250 reply */
		text->len = 0;
		if (errlen > 1 && errtext[0] == 'K')
			str_copyb(text, errtext + 1, errlen - 1);
		str_0(text);
		return QQ_R_OK;
	}
	if (code == QQ_CUSTOM && errlen > 1 &&
	    (errtext[0] == 'D' || errtext[0] == 'Z')) {
		int perm = errtext[0] == 'D';
		size_t i;

		text->len = 0;
		str_cats(text, perm ? "5.3.0 " : "4.3.0 ");
		for (i = 1; i < errlen && i < 256; i++) {
			unsigned char c = (unsigned char)errtext[i];

			str_catc(text, (c >= 32 && c < 127) ? (char)c : ' ');
		}
		str_0(text);
		return perm ? QQ_R_PERM : QQ_R_TEMP;
	}
	switch (code) {
	case QQ_ADDR_TOOLONG:
		say(text, "5.1.3 address too long");
		return QQ_R_PERM;
	case QQ_WRITE:
		say(text, "4.3.1 queue write error or disk full");
		return QQ_R_TEMP;
	case QQ_NOMEM:
		say(text, "4.3.0 queue out of memory");
		return QQ_R_TEMP;
	case QQ_TIMEOUT:
		say(text, "4.3.0 queue timed out");
		return QQ_R_TEMP;
	case QQ_ENVELOPE:
		say(text, "4.3.0 queue rejected the envelope format");
		return QQ_R_TEMP;
	}
	if (code >= 11 && code <= 40) {
		say(text, "5.3.0 mail server permanently rejected message");
		return QQ_R_PERM;
	}
	say(text, "4.3.0 temporary queue failure");
	return QQ_R_TEMP;
}

int qq_finish(struct qq *q, const struct str *env, struct str *text)
{
	char err[256];
	size_t errlen = 0;
	ssize_t n;
	int st, r;

	if (q->pid < 0)
		return say(text, "4.3.0 queue not running"), QQ_R_TEMP;
	if (!q->failed && wr_flush(&q->w) < 0)
		q->failed = 1;
	close(q->msgfd);
	if (!q->failed && (io_writeall(q->envfd, env->s, env->len) < 0 ||
	                   io_writeall(q->envfd, "", 1) < 0))
		q->failed = 1;
	close(q->envfd);
	/* reap first: a grandchild holding fd 6 open must not hang us; what
	 * the program wrote (at most a few hundred bytes) is in the pipe */
	st = reap(q->pid);
	q->pid = -1;
	fcntl(q->errfd, F_SETFL, O_NONBLOCK);
	for (;;) {
		n = read(q->errfd, err + errlen, sizeof err - errlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		errlen += (size_t)n;
		if (errlen == sizeof err)
			break;
	}
	close(q->errfd);
	if (st < 0)
		return say(text, "4.3.0 lost the queue program"), QQ_R_TEMP;
	r = qq_status(st, err, errlen, text);
	/* it never saw all of the message: whatever it says, not queued */
	if (r == QQ_R_OK && q->failed) {
		say(text, "4.3.0 queue write error");
		r = QQ_R_TEMP;
	}
	return r;
}
