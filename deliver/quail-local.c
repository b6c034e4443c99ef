/*
 * quail-local: delivers one message to one local user, the qmail-local
 * way, following the user's .qmail file (dot-qmail(5)).
 *
 *   quail-local [-anN] user homedir local dash ext domain sender defaultdelivery
 *
 * Reads: the message on fd 0 (seekable, at offset 0; reread from the
 * start for each instruction); homedir/.qmail<dash><ext> and its
 * "-default" forms; $QUOTA (Maildir++ "<n>S,<n>C") for Maildir deliveries;
 * $QUAILQUEUE (else BINDIR/quail-queue) for forwards.
 * Writes: Maildirs (created when missing) and mbox files named in the
 * .qmail file, runs |programs through /bin/sh -c in homedir, queues
 * forwards; one human-readable result line on fd 1 (the log and bounce
 * text); warnings as key=value lines on fd 2.
 * Exit: 0 delivered, 100 permanent failure (bounce), 111 temporary
 * failure (retry), as qmail-local.
 * Runs as the mailbox owner (quail-lspawn switches to it); refuses root.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dotqmail.h"
#include "exitcode.h"
#include "fmt.h"
#include "io.h"
#include "log.h"
#include "maildir.h"
#include "mbox.h"
#include "qq.h"
#include "str.h"

#define HEADER_LINE_MAX 4096    /* a longer header line is no Delivered-To */
#define PROGRAM_OUTPUT_MAX 1000 /* bytes of program output kept */
#define RESULT_MAX 2000         /* bytes of the result line */
#define COPY_BUF 16384

struct local {
	const char *user, *home, *local, *dash, *ext, *host, *sender, *defdel;
	int doit;
	struct str dtline, rpline, ufline, newsender;
	struct str cmds;        /* the .qmail file, or defdel */
	int alias;              /* -a: defdel only, no .qmail files */
	int forwardonly;        /* the .qmail file has its x bit set */
	struct maildir_quota quota;
	unsigned long nfile, nforward, nprog;
	int stop;               /* a program exited 99 */
};

static void result_cat(struct str *out, const char *s)
{
	size_t i;

	for (i = 0; s && s[i] && out->len < RESULT_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		/* one line: program output keeps its lines as qmail shows them */
		if (c == '\n')
			c = '/';
		else if (c < 32 || c == 127)
			c = '_';
		if (!str_catc(out, (char)c))
			break;
	}
}

/* The one result line, then exit. */
static void finish(int code, const char *a, const char *b, const char *c)
	__attribute__((noreturn));
static void finish(int code, const char *a, const char *b, const char *c)
{
	struct str out = STR_ZERO;

	result_cat(&out, a);
	result_cat(&out, b);
	result_cat(&out, c);
	while (out.len && out.s[out.len - 1] == '/')
		out.len--;
	if (str_catc(&out, '\n'))
		io_writeall(1, out.s, out.len);
	else
		io_writeall(1, "Out of memory. (#4.3.0)\n", 24);
	str_free(&out);
	exit(code);
}

static void nomem(void) __attribute__((noreturn));
static void nomem(void)
{
	finish(EXIT_TEMP, "Out of memory. (#4.3.0)", 0, 0);
}

/* Every system error here is temporary: retrying is safe, bouncing on a
 * misconfigured home directory would lose mail. */
static void die_errno(const char *what, const char *name)
	__attribute__((noreturn));
static void die_errno(const char *what, const char *name)
{
	static struct str t;    /* static: still reachable at exit */
	const char *e = strerror(errno);

	if (!str_cats(&t, what) || !str_cats(&t, name ? name : "") ||
	    !str_cats(&t, ": ") || !str_cats(&t, e) ||
	    !str_cats(&t, ". (#4.3.0)") ||
	    !str_0(&t))
		nomem();
	finish(EXIT_TEMP, t.s, 0, 0);
}

static void env_put(const char *name, const char *value)
{
	if (setenv(name, value, 1) == -1)
		nomem();
}

static void env_putb(const char *name, const char *p, size_t n)
{
	struct str v = STR_ZERO;

	if (!str_copyb(&v, p, n) || !str_0(&v))
		nomem();
	env_put(name, v.s);
	str_free(&v);
}

/* Builds a header-style line; a LF in an argument would end the header
 * early, so it becomes '_' as in qmail-local. */
static void line_build(struct str *l, const char *a, const char *b,
                       const char *c, const char *d)
{
	size_t i;

	l->len = 0;
	if (!str_cats(l, a) || !str_cats(l, b) || !str_cats(l, c) ||
	    !str_cats(l, d))
		nomem();
	for (i = 0; i < l->len; i++)
		if (l->s[i] == '\n')
			l->s[i] = '_';
	if (!str_catc(l, '\n') || !str_0(l))
		nomem();
}

/* "Thu Nov 25 13:42:54 2026", UTC, as ctime(3) gives it for mbox. */
static void ctime_cat(struct str *l, time_t t)
{
	static const char days[] = "SunMonTueWedThuFriSat";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct tm tm;
	char b[32];
	size_t n = 0;

	if (!gmtime_r(&t, &tm))
		memset(&tm, 0, sizeof tm);
	memcpy(b, days + 3 * (tm.tm_wday % 7), 3);
	b[3] = ' ';
	memcpy(b + 4, months + 3 * (tm.tm_mon % 12), 3);
	b[7] = ' ';
	b[8] = tm.tm_mday < 10 ? ' ' : (char)('0' + tm.tm_mday / 10);
	b[9] = (char)('0' + tm.tm_mday % 10);
	b[10] = ' ';
	b[11] = (char)('0' + tm.tm_hour / 10);
	b[12] = (char)('0' + tm.tm_hour % 10);
	b[13] = ':';
	b[14] = (char)('0' + tm.tm_min / 10);
	b[15] = (char)('0' + tm.tm_min % 10);
	b[16] = ':';
	b[17] = (char)('0' + tm.tm_sec / 10 % 10);
	b[18] = (char)('0' + tm.tm_sec % 10);
	b[19] = ' ';
	n = 20 + fmt_ulong(b + 20, (unsigned long long)tm.tm_year + 1900);
	if (!str_catb(l, b, n))
		nomem();
}

static void lines_build(struct local *s)
{
	size_t i;

	line_build(&s->dtline, "Delivered-To: ", s->local, "@", s->host);
	line_build(&s->rpline, "Return-Path: <", s->sender, ">", "");
	/* mbox "From " line: the sender is one word there */
	if (!str_copys(&s->ufline, "From ") ||
	    !str_cats(&s->ufline, *s->sender ? s->sender : "MAILER-DAEMON"))
		nomem();
	for (i = 5; i < s->ufline.len; i++)
		if (s->ufline.s[i] == ' ' || s->ufline.s[i] == '\t' ||
		    s->ufline.s[i] == '\n')
			s->ufline.s[i] = '-';
	if (!str_catc(&s->ufline, ' '))
		nomem();
	ctime_cat(&s->ufline, time(0));
	if (!str_catc(&s->ufline, '\n') || !str_0(&s->ufline))
		nomem();
}

/* EXT2..EXT4: what follows the first, second, third '-' of EXT;
 * HOST2..HOST4: HOST without its last one, two, three dot parts. */
static void env_parts(const struct local *s)
{
	static const char *const extn[] = { "EXT2", "EXT3", "EXT4" };
	static const char *const hostn[] = { "HOST2", "HOST3", "HOST4" };
	const char *x = s->ext;
	size_t i, n = strlen(s->host);

	for (i = 0; i < 3; i++) {
		x += strcspn(x, "-");
		if (*x)
			x++;
		env_put(extn[i], x);
	}
	for (i = 0; i < 3; i++) {
		const char *dot = memrchr(s->host, '.', n);

		if (dot)
			n = (size_t)(dot - s->host);
		env_putb(hostn[i], s->host, n);
	}
}

static void env_setup(struct local *s)
{
	struct str r = STR_ZERO;

	if (!str_cats(&r, s->local) || !str_catc(&r, '@') ||
	    !str_cats(&r, s->host) || !str_0(&r))
		nomem();
	env_put("RECIPIENT", r.s);
	env_put("USER", s->user);
	env_put("HOME", s->home);
	env_put("HOST", s->host);
	env_put("LOCAL", s->local);
	env_put("EXT", s->ext);
	env_put("SENDER", s->sender);
	env_put("DTLINE", s->dtline.s);
	env_put("RPLINE", s->rpline.s);
	env_put("UFLINE", s->ufline.s);
	env_parts(s);
	if (unsetenv("DEFAULT") == -1 || unsetenv("NEWSENDER") == -1)
		nomem();
	str_free(&r);
}

static void home_check(const struct local *s)
{
	struct stat st;

	if (chdir(s->home) == -1)
		die_errno("Unable to switch to ", s->home);
	if (stat(".", &st) == -1)
		die_errno("Unable to stat home directory", 0);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		finish(EXIT_TEMP, "Uh-oh: home directory is writable. (#4.7.0)",
		       0, 0);
	if ((st.st_mode & S_ISVTX) && s->doit)
		finish(EXIT_TEMP, "Home directory is sticky: user is editing "
		       "his .qmail file. (#4.2.1)", 0, 0);
}

/* Reads the .qmail file fd into cmds: 1 found, 0 not a regular file. */
static int qmail_read(struct local *s, int fd, const char *name)
{
	struct stat st;
	char buf[4096];
	ssize_t r;

	if (fstat(fd, &st) == -1)
		die_errno("Unable to stat ", name);
	if (!S_ISREG(st.st_mode))
		return 0;
	if (st.st_mode & S_IWOTH)
		finish(EXIT_TEMP, "Uh-oh: .qmail file is writable. (#4.7.0)", 0, 0);
	s->forwardonly = !!(st.st_mode & S_IXUSR);
	s->cmds.len = 0;
	for (;;) {
		r = read(fd, buf, sizeof buf);
		if (r == 0)
			return 1;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die_errno("Unable to read ", name);
		}
		if (s->cmds.len + (size_t)r > DOTQMAIL_SIZE_MAX)
			finish(EXIT_TEMP, "Uh-oh: .qmail file is too long. (#4.7.0)",
			       0, 0);
		if (!str_catb(&s->cmds, buf, (size_t)r))
			nomem();
	}
}

/* Opens the k-th candidate: 1 read, 0 not there. Errors other than "no
 * such file" must not fall through to a wider .qmail-default. */
static int qmail_try(struct local *s, const char *name)
{
	int fd, r;

	fd = open(name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd == -1) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		die_errno("Unable to open ", name);
	}
	r = qmail_read(s, fd, name);
	close(fd);
	return r;
}

static int exists(const char *a, const char *b, const struct str *c,
                  const char *d)
{
	struct str n = STR_ZERO;
	struct stat st;
	int r;

	if (!str_cats(&n, a) || !str_cats(&n, b) ||
	    !str_catb(&n, c->s, c->len) || !str_cats(&n, d) || !str_0(&n))
		nomem();
	r = stat(n.s, &st);
	if (r == -1 && errno != ENOENT && errno != ENOTDIR)
		die_errno("Unable to stat ", n.s);
	str_free(&n);
	return r == 0;
}

/* NEWSENDER: a .qmail<dash><ext>-owner file makes the list owner the
 * sender of forwards; -owner-default too makes it VERP. Bounces keep
 * their null sender. */
static void newsender_set(struct local *s, const struct str *safe)
{
	if (!str_copys(&s->newsender, s->sender))
		nomem();
	if (*s->sender && strcmp(s->sender, "#@[]") != 0 &&
	    exists(".qmail", s->dash, safe, "-owner")) {
		int verp = exists(".qmail", s->dash, safe, "-owner-default");

		if (!str_copys(&s->newsender, s->local) ||
		    !str_cats(&s->newsender, verp ? "-owner-@" : "-owner@") ||
		    !str_cats(&s->newsender, s->host) ||
		    (verp && !str_cats(&s->newsender, "-@[]")))
			nomem();
	}
	if (!str_0(&s->newsender))
		nomem();
	env_put("NEWSENDER", s->newsender.s);
}

static void qmail_find(struct local *s)
{
	struct str safe = STR_ZERO, name = STR_ZERO;
	size_t k;
	long def;
	int r, found = 0;

	if (!dotqmail_safeext(&safe, s->ext, strlen(s->ext)))
		nomem();
	for (k = 0; !found; k++) {
		r = dotqmail_candidate(&name, s->dash, &safe, k, &def);
		if (r == -1)
			nomem();
		if (r == 0)
			break;
		found = qmail_try(s, name.s);
	}
	/* user-ext with no .qmail-ext or -default file is delivered as to
	 * the user (qmail would bounce it): plus addresses and a domain's
	 * catch-all need no setup, as with Postfix and Dovecot */
	if (!found && *s->dash)
		found = qmail_try(s, ".qmail");
	/* DEFAULT is the original (not lower-cased) ext from that offset */
	if (found && def >= 0 && (size_t)def <= strlen(s->ext))
		env_put("DEFAULT", s->ext + def);
	newsender_set(s, &safe);
	if (!found || !s->cmds.len) {
		if (!str_copys(&s->cmds, s->defdel))
			nomem();
		s->forwardonly = 0;
	}
	str_free(&safe);
	str_free(&name);
}

/* Checks every line before anything is delivered, so a mistake in line 3
 * never leaves line 1 done and the whole message retried. */
static void qmail_check(struct local *s)
{
	struct dotqmail d;
	struct dotqmail_line l;
	char num[FMT_ULONG];
	int r;

	dotqmail_init(&d, s->cmds.s, s->cmds.len);
	while ((r = dotqmail_next(&d, &l)) == 1)
		if (s->forwardonly && l.type != DQ_FORWARD)
			finish(EXIT_TEMP, "Uh-oh: .qmail has file or program "
			       "delivery but has x bit set. (#4.7.0)", 0, 0);
	if (r == -1) {
		static struct str t;

		if (!str_cats(&t, "Uh-oh: .qmail line ") ||
		    !str_cats(&t, fmt_u(num, d.line)) || !str_cats(&t, ": ") ||
		    !str_cats(&t, dotqmail_error(d.error)) ||
		    !str_cats(&t, d.error == DQ_BLANK_FIRST ? ". (#4.2.1)" :
		              ". (#4.7.0)") || !str_0(&t))
			nomem();
		finish(EXIT_TEMP, t.s, 0, 0);
	}
}

static void rewind0(void)
{
	if (lseek(0, 0, SEEK_SET) != 0)
		finish(EXIT_TEMP, "Unable to rewind message. (#4.3.0)", 0, 0);
}

/* 1 when value v[0..n) (a Delivered-To value) names local@host. */
static int is_me(const struct local *s, const char *v, size_t n)
{
	const char *at;
	size_t ll = strlen(s->local), hl = strlen(s->host);

	while (n && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' ||
	             v[n - 1] == '\r' || v[n - 1] == '\n'))
		n--;
	at = memrchr(v, '@', n);
	if (!at || (size_t)(at - v) != ll || memcmp(v, s->local, ll) != 0)
		return 0;
	return n - ll - 1 == hl && case_eqb(at + 1, s->host, hl);
}

/* Reads only the header: it ends at the first empty line. */
static void loop_check(const struct local *s)
{
	static const char dt[] = "delivered-to:";
	char buf[COPY_BUF];
	struct rd r;
	struct str line = STR_ZERO;
	int k;

	rewind0();
	rd_init(&r, 0, buf, sizeof buf, -1);
	for (;;) {
		k = rd_line(&r, &line, HEADER_LINE_MAX);
		if (k == RD_LONG)
			continue;
		if (k == RD_ERR)
			die_errno("Unable to read message", 0);
		if (k == RD_EOF || line.len == 1 ||
		    (line.len == 2 && line.s[0] == '\r'))
			break;
		if (case_startb(line.s, line.len, dt) &&
		    is_me(s, line.s + sizeof dt - 1, line.len - (sizeof dt - 1)))
			finish(EXIT_PERM, "This message is looping: it already "
			       "has my Delivered-To line. (#5.4.6)", 0, 0);
	}
	str_free(&line);
}

/* The first delivery makes the Maildir (only then: the mkdir calls are
 * not made on every delivery); a mistake in the user's setup is
 * temporary, as in qmail-local, so no mail is lost to it. */
static void maildir_need(const char *dir)
{
	if (maildir_make(dir, 0700) == -1)
		die_errno("Unable to make maildir ", dir);
}

static void maildir_one(struct local *s, const char *arg, size_t n)
{
	struct str dir = STR_ZERO, name = STR_ZERO, hdr = STR_ZERO;
	unsigned long long size;
	struct stat st;
	int q;

	if (!str_copyb(&dir, arg, n) || !str_0(&dir) ||
	    !str_copyb(&hdr, s->rpline.s, s->rpline.len) ||
	    !str_catb(&hdr, s->dtline.s, s->dtline.len))
		nomem();
	if (s->quota.bytes || s->quota.count) {
		maildir_need(dir.s);
		if (fstat(0, &st) == -1)
			die_errno("Unable to stat message", 0);
		q = maildir_quota_check(dir.s, &s->quota,
		                        (unsigned long long)st.st_size + hdr.len, 1);
		if (q == -1)
			die_errno("Unable to read quota of ", dir.s);
		if (q == 1)
			finish(EXIT_TEMP, "Recipient's mailbox is full (#4.2.2)", 0, 0);
	}
	rewind0();
	q = maildir_deliver(dir.s, hdr.s, hdr.len, 0, &name, &size);
	if (q == -1 && errno == ENOENT) {
		/* nothing was left behind: deliver again once it is there */
		maildir_need(dir.s);
		rewind0();
		q = maildir_deliver(dir.s, hdr.s, hdr.len, 0, &name, &size);
	}
	if (q == -1)
		die_errno("Unable to deliver to maildir ", dir.s);
	/* kept up to date whenever it exists, quota or not */
	if (size <= (unsigned long long)LLONG_MAX &&
	    maildir_quota_add(dir.s, (long long)size, 1) == -1)
		log_kv("warn", "event", "quota_add", "maildir", dir.s,
		       "error", strerror(errno), NULL);
	str_free(&dir);
	str_free(&name);
	str_free(&hdr);
}

static void mbox_one(struct local *s, const char *arg, size_t n)
{
	struct str path = STR_ZERO, head = STR_ZERO, err = STR_ZERO;

	if (!str_copyb(&path, arg, n) || !str_0(&path) ||
	    !str_copyb(&head, s->ufline.s, s->ufline.len) ||
	    !str_catb(&head, s->rpline.s, s->rpline.len) ||
	    !str_catb(&head, s->dtline.s, s->dtline.len))
		nomem();
	rewind0();
	if (mbox_deliver(path.s, 0, head.s, head.len, &err) != MBOX_OK) {
		if (!err.len)
			nomem();
		finish(EXIT_TEMP, err.s, 0, 0);
	}
	str_free(&path);
	str_free(&head);
	str_free(&err);
}

static void program_child(const char *cmd, int out) __attribute__((noreturn));
static void program_child(const char *cmd, int out)
{
	static const char msg[] = "Unable to run /bin/sh. (#4.3.0)\n";

	if (dup2(out, 1) == -1 || dup2(out, 2) == -1)
		_exit(EXIT_TEMP);
	signal(SIGPIPE, SIG_DFL);
	execl("/bin/sh", "sh", "-c", cmd, (char *)0);
	io_writeall(1, msg, sizeof msg - 1);
	_exit(EXIT_TEMP);
}

/* Collects up to PROGRAM_OUTPUT_MAX bytes, draining the rest so the
 * program never blocks on a full pipe. */
static void program_output(int fd, struct str *out)
{
	char buf[4096];
	ssize_t r;
	size_t k;

	for (;;) {
		r = read(fd, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
		k = (size_t)r;
		if (k > PROGRAM_OUTPUT_MAX - out->len)
			k = PROGRAM_OUTPUT_MAX - out->len;
		if (!str_catb(out, buf, k))
			nomem();
	}
}

static int exit_permanent(int code)
{
	switch (code) {
	case 64: case 65: case 70: case 76: case 77: case 78:
	case 100: case 112:
		return 1;
	default:
		return 0;
	}
}

static void program_one(struct local *s, const char *arg, size_t n)
{
	struct str cmd = STR_ZERO, out = STR_ZERO;
	char num[FMT_ULONG];
	int p[2], st, code;
	pid_t pid;

	if (!str_copyb(&cmd, arg, n) || !str_0(&cmd) || !str_0(&out))
		nomem();
	rewind0();
	if (pipe2(p, O_CLOEXEC) == -1)
		die_errno("Unable to make a pipe", 0);
	pid = fork();
	if (pid == -1)
		die_errno("Unable to fork", 0);
	if (pid == 0)
		program_child(cmd.s, p[1]);
	close(p[1]);
	program_output(p[0], &out);
	close(p[0]);
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			die_errno("Unable to wait for program", 0);
	if (!str_0(&out))
		nomem();
	if (!WIFEXITED(st))
		finish(EXIT_TEMP, "Aack, child crashed. (#4.3.0)", 0, 0);
	code = WEXITSTATUS(st);
	if (code == 0 || code == 99) {
		s->stop = code == 99;
		str_free(&cmd);
		str_free(&out);
		return;
	}
	if (out.len)
		finish(exit_permanent(code) ? EXIT_PERM : EXIT_TEMP, out.s, 0, 0);
	finish(exit_permanent(code) ? EXIT_PERM : EXIT_TEMP,
	       "Program exited ", fmt_u(num, (unsigned)code),
	       exit_permanent(code) ? ". (#5.2.0)" : ". (#4.2.0)");
}

/* One queue run for every forward, with the sender as NEWSENDER. */
static void forward_all(struct local *s, const struct str *env)
{
	struct qq q;
	struct str text = STR_ZERO;
	char buf[COPY_BUF];
	ssize_t r;
	int k;

	rewind0();
	if (qq_start(&q) == -1)
		die_errno("Unable to run the queue program", 0);
	qq_put(&q, s->dtline.s, s->dtline.len);
	if (s->nforward > 1)
		qq_puts(&q, "Precedence: bulk\n");
	for (;;) {
		r = read(0, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			qq_abort(&q);
			die_errno("Unable to read message", 0);
		}
		if (r == 0)
			break;
		qq_put(&q, buf, (size_t)r);
	}
	k = qq_finish(&q, env, &text);
	if (k == QQ_R_OK) {
		str_free(&text);
		return;
	}
	finish(k == QQ_R_PERM ? EXIT_PERM : EXIT_TEMP,
	       "Unable to forward message: ", text.s, ".");
}

static void say(const char *what, const char *arg, size_t n)
{
	if (io_writeall(1, what, strlen(what)) == -1 ||
	    io_writeall(1, arg, n) == -1 || io_writeall(1, "\n", 1) == -1)
		exit(EXIT_TEMP);
}

/* Each instruction in order; forwards gathered and done last. */
static void qmail_run(struct local *s)
{
	static const char *const show[] = { "", "program ", "forward ",
	                                     "maildir ", "mbox " };
	struct dotqmail d;
	struct dotqmail_line l;
	struct str env = STR_ZERO;

	if (!qq_env_from(&env, s->newsender.s, s->newsender.len))
		nomem();
	dotqmail_init(&d, s->cmds.s, s->cmds.len);
	while (!s->stop && dotqmail_next(&d, &l) == 1) {
		if (!s->doit) {
			say(show[l.type], l.arg, l.len);
			continue;
		}
		switch (l.type) {
		case DQ_MAILDIR:
			s->nfile++;
			maildir_one(s, l.arg, l.len);
			break;
		case DQ_MBOX:
			s->nfile++;
			mbox_one(s, l.arg, l.len);
			break;
		case DQ_PROGRAM:
			s->nprog++;
			program_one(s, l.arg, l.len);
			break;
		case DQ_FORWARD:
			s->nforward++;
			if (!qq_env_rcpt(&env, l.arg, l.len))
				nomem();
			break;
		}
	}
	if (s->nforward)
		forward_all(s, &env);
	str_free(&env);
}

/* qmail-local's "did files+forwards+programs" */
static void report_done(const struct local *s) __attribute__((noreturn));
static void report_done(const struct local *s)
{
	static struct str t;

	if (!str_cats(&t, "did ") || !str_catu(&t, s->nfile) ||
	    !str_catc(&t, '+') || !str_catu(&t, s->nforward) ||
	    !str_catc(&t, '+') || !str_catu(&t, s->nprog) || !str_0(&t))
		nomem();
	finish(EXIT_OK, t.s, 0, 0);
}

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
	finish(EXIT_PERM, "usage: quail-local [-anN] user homedir local dash "
	       "ext domain sender defaultdelivery", 0, 0);
}

static void args_parse(struct local *s, int argc, char **argv)
{
	int opt;

	s->doit = 1;
	while ((opt = getopt(argc, argv, "anN")) != -1)
		switch (opt) {
		case 'a':
			s->alias = 1;
			break;
		case 'n':
			s->doit = 0;
			break;
		case 'N':
			s->doit = 1;
			break;
		default:
			usage();
		}
	if (argc - optind != 8)
		usage();
	argv += optind;
	s->user = argv[0];
	s->home = argv[1];
	s->local = argv[2];
	s->dash = argv[3];
	s->ext = argv[4];
	s->host = argv[5];
	s->sender = argv[6];
	s->defdel = argv[7];
	if (s->home[0] != '/')
		usage();
}

static void quota_setup(struct local *s)
{
	const char *q = getenv("QUOTA");

	if (q && !maildir_quota_parse(q, strlen(q), &s->quota))
		finish(EXIT_TEMP, "Unable to parse QUOTA ", q, ". (#4.3.5)");
}

int main(int argc, char **argv)
{
	struct local s;

	memset(&s, 0, sizeof s);
	log_init("quail-local");
	umask(077);
	signal(SIGPIPE, SIG_IGN);       /* a queue or program exiting early */
	args_parse(&s, argc, argv);
	if (getuid() == 0 || geteuid() == 0)
		finish(EXIT_TEMP, "Refusing to deliver as root. (#4.3.0)", 0, 0);
	home_check(&s);
	lines_build(&s);
	env_setup(&s);
	quota_setup(&s);
	if (s.alias) {          /* defaultdelivery only: an alias's forwards */
		if (!str_copys(&s.cmds, s.defdel) ||
		    !str_copys(&s.newsender, s.sender) || !str_0(&s.newsender))
			nomem();
		env_put("NEWSENDER", s.newsender.s);
	} else
		qmail_find(&s);
	qmail_check(&s);
	if (s.doit)
		loop_check(&s);
	qmail_run(&s);
	if (!s.doit)
		return 0;
	report_done(&s);
}
