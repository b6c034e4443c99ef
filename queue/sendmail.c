/* sendmail: the /usr/sbin/sendmail that applications (PHP, cron, scripts)
 * call, translated to quail programs by exec, never through a shell.
 *
 *   sendmail [-t] [-i] [-f sender] [-F name] [ignored options] [--] [rcpt ...]
 *     execs $QUAILINJECT (else BINDIR/quail-inject) with -t, -f and -F as
 *     given and -d unless -i or -oi (a line holding only "." ends the
 *     message, as in classic sendmail);
 *   sendmail -bs   execs $QUAILSMTPD (else BINDIR/quail-smtpd) with
 *     RELAYCLIENT="", SMTP on fd 0 and fd 1, for a local user who may
 *     relay just as with -t;
 *   sendmail -bp, mailq   execs $QUAILQREAD (else BINDIR/quail-qread);
 *   sendmail -q..., -bi, -I, newaliases   exit 0: quail-send runs the
 *     queue by itself and there is no aliases database to rebuild;
 *   sendmail -bd and other modes exit 100: not supported.
 * Options other sendmails take and quail has no use for (-v, -m, -n, -o*,
 * -N, -R, -V, -B, -X, -U, -L, -h, -C, -O, -A, -e, -p, ...) are ignored
 * with their arguments, as Postfix's sendmail does.
 *
 * Reads argv[0] (its basename picks newaliases or mailq) and the
 * environment named above; writes only a log line on fd 2 on failure.
 * Runs as the invoking user. Exit: whatever the program it execs exits
 * with; 0 for the no-op modes; 100 for bad usage or an unsupported mode;
 * 111 when the exec fails.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcode.h"
#include "log.h"

#ifndef BINDIR
#define BINDIR "/usr/local/bin"
#endif

#define SENDMAIL_FIXED_ARGS 10  /* quail-inject argv besides recipients */

struct sm {
	char mode;              /* the -b letter: 'm' deliver, 's', 'p', 'i' */
	int queue_run;          /* -q */
	int headers;            /* -t */
	int dot;                /* a lone "." ends input (no -i, -oi) */
	const char *sender;     /* -f, -r */
	const char *name;       /* -F */
	char **rcpt;
	int nrcpt;
};

/* Option letters that are flags, and those that take an argument (attached
 * or as the next word), as Postfix's sendmail has them. */
#define SM_FLAGS "GIUcimntvx"
#define SM_ARGS "ABCFLNORVXbefhopr"

static void usage(const char *why, const char *arg)
{
	die_kv(EXIT_PERM, "event", "usage", "error", why, "arg", arg,
	       (char *)0);
}

/* One option letter with its argument, if it takes one. */
static void opt_one(struct sm *s, char c, const char *val, const char *word)
{
	switch (c) {
	case 't':
		s->headers = 1;
		break;
	case 'i':
		s->dot = 0;
		break;
	case 'I':
		s->mode = 'i';
		break;
	case 'f':
	case 'r':
		s->sender = val;
		break;
	case 'F':
		s->name = val;
		break;
	case 'o':
		if (!strcmp(val, "i"))
			s->dot = 0;
		break;
	case 'b':
		if (strlen(val) != 1 || !strchr("mspdi", val[0]))
			die_kv(EXIT_PERM, "event", "unsupported", "option", word,
			       (char *)0);
		s->mode = val[0];
		break;
	}
}

static void opts_parse(struct sm *s, int argc, char **argv)
{
	int i;
	size_t j;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		for (j = 1; a[j]; j++) {
			if (a[j] == 'q') {
				s->queue_run = 1;       /* -q, -q30m, -qI...: */
				break;                  /* the rest is its value */
			}
			if (strchr(SM_FLAGS, a[j])) {
				opt_one(s, a[j], "", a);
				continue;
			}
			if (!strchr(SM_ARGS, a[j]))
				usage("unknown_option", a);
			if (a[j + 1])
				opt_one(s, a[j], a + j + 1, a);
			else if (i + 1 < argc)
				opt_one(s, a[j], argv[++i], a);
			else
				usage("option_needs_argument", a);
			break;
		}
	}
	s->rcpt = argv + i;
	s->nrcpt = argc - i;
}

/* $env when set and not empty, else BINDIR/name. */
static const char *prog(const char *env, const char *path)
{
	const char *p = getenv(env);

	return p && *p ? p : path;
}

static void run(const char *path, char **argv)
{
	execv(path, argv);
	die_kv(EXIT_TEMP, "event", "exec", "program", path, "error",
	       strerror(errno), (char *)0);
}

static void run_inject(const struct sm *s)
{
	char **argv;
	size_t n = 0, max;
	int i;

	if (__builtin_add_overflow((size_t)s->nrcpt, SENDMAIL_FIXED_ARGS, &max))
		usage("too_many_arguments", "");
	argv = calloc(max, sizeof *argv);
	if (!argv)
		die_nomem();
	argv[n++] = (char *)"quail-inject";
	if (s->headers)
		argv[n++] = (char *)"-t";
	if (s->dot)
		argv[n++] = (char *)"-d";
	if (s->sender) {
		argv[n++] = (char *)"-f";
		argv[n++] = (char *)s->sender;
	}
	if (s->name) {
		argv[n++] = (char *)"-F";
		argv[n++] = (char *)s->name;
	}
	argv[n++] = (char *)"--";
	for (i = 0; i < s->nrcpt; i++)
		argv[n++] = s->rcpt[i];
	argv[n] = 0;
	run(prog("QUAILINJECT", BINDIR "/quail-inject"), argv);
}

int main(int argc, char **argv)
{
	struct sm s = { 'm', 0, 0, 1, 0, 0, 0, 0 };
	const char *base = argc > 0 ? argv[0] : "sendmail";
	char *args[2] = { 0, 0 };

	if (strrchr(base, '/'))
		base = strrchr(base, '/') + 1;
	log_init("sendmail");
	if (!strcmp(base, "newaliases"))
		return EXIT_OK;
	if (!strcmp(base, "mailq"))
		s.mode = 'p';
	if (argc > 0)
		opts_parse(&s, argc, argv);

	if (s.mode == 'i')
		return EXIT_OK;         /* applications call newaliases */
	if (s.mode == 'd')
		die_kv(EXIT_PERM, "event", "unsupported", "option", "-bd",
		       "error", "not_supported:_quail_has_no_aliases_database_"
		       "and_no_daemon_mode;_see_INSTALL", (char *)0);
	if (s.queue_run)
		return EXIT_OK;         /* quail-send runs the queue itself */
	if (s.mode != 'm' && s.nrcpt)
		usage("recipients_not_allowed_in_this_mode", s.rcpt[0]);
	if (s.mode == 's') {
		if (setenv("RELAYCLIENT", "", 1) < 0)
			die_nomem();
		args[0] = (char *)"quail-smtpd";
		run(prog("QUAILSMTPD", BINDIR "/quail-smtpd"), args);
	}
	if (s.mode == 'p') {
		args[0] = (char *)"quail-qread";
		run(prog("QUAILQREAD", BINDIR "/quail-qread"), args);
	}
	run_inject(&s);
	return EXIT_TEMP;
}
