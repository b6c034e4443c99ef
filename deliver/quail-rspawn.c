/* quail-rspawn: runs remote deliveries for quail-send.
 *
 * Reads spawn requests on fd 0 and writes replies on fd 1 (spawn.h), up
 * to SPAWN_RCPT_MAX recipients at one domain per request. For each it
 * runs, in qmail-remote fashion,
 *   quail-remote host sender rcpt...
 * with host the recipients' domain, the message on fd 0 and fd 1 piped
 * back; fd 2 stays the log. The program reports on fd 1 one NUL-ended
 * 'r' (accepted), 'h' (permanent) or 's' (temporary) per recipient, then
 * 'K', 'Z' or 'D' for the message, each with text, and exits 0. As
 * qmail-rspawn: 'h' gives 'D', 's' 'Z', and 'r' or no report at all the
 * message's code; a crash or exit 111 gives 'Z', another non-zero exit
 * 'D'. Where qmail-rspawn says 'D' for output with no message report,
 * this says 'Z': broken output is no reason to bounce. A program that is
 * not there (quail-remote is not part of every build) gives 'Z', so mail
 * waits in the queue.
 *
 * Runs as its own user, in the queue directory (quail-send starts it
 * there). Env: QUAILREMOTE (default BINDIR/quail-remote),
 * QUAIL_REMOTE_TIMEOUT (else control file timeoutremotedelivery, default
 * 3600 s; 0 none); the environment passes to the program.
 * Exit: 0 after EOF on fd 0 and every delivery answered; 111 on a
 * malformed request (after answering the deliveries under way) or setup
 * failure; 100 bad usage. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control.h"
#include "exitcode.h"
#include "fmt.h"
#include "log.h"
#include "spawn.h"

#ifndef BINDIR
#define BINDIR "/usr/local/bin"
#endif

/* room for a full report per recipient and for the message */
#define RSPAWN_OUT_MAX ((SPAWN_RCPT_MAX + 1) * (SPAWN_TEXT_MAX + 2))

static const char *remote_prog; /* fixed before input is read */

/* The host part of an address: after its last '@', or empty. */
static const char *host_of(const char *a, size_t *n)
{
	const char *at = strrchr(a, '@');

	if (!at) {
		*n = 0;
		return a + strlen(a);
	}
	*n = strlen(at + 1);
	return at + 1;
}

/* One transaction goes to one host: every recipient at the same one. */
static int rspawn_check(const struct spawn_req *r)
{
	const char *h0, *h;
	size_t n0, n, i;

	h0 = host_of(r->rcpt[0], &n0);
	for (i = 1; i < r->nrcpt; i++) {
		h = host_of(r->rcpt[i], &n);
		if (n != n0 || !case_eqb(h, h0, n))
			return 0;
	}
	return 1;
}

static void report(const char *p, size_t n) __attribute__((noreturn));
static void report(const char *p, size_t n)
{
	/* the NUL ends the report, as quail-remote's own */
	spawn_child_exit(p, n + 1, 0);
}
#define REPORT(s) report(s, sizeof s - 1)

static void rspawn_child(const struct spawn_req *r)
	__attribute__((noreturn));
static void rspawn_child(const struct spawn_req *r)
{
	const char *argv[SPAWN_RCPT_MAX + 4];
	size_t n, i;
	const char *host = host_of(r->rcpt[0], &n);

	if (n == 0)
		REPORT("Dno host in the recipient address (#5.1.2)");
	argv[0] = "quail-remote";
	argv[1] = host;
	argv[2] = r->sender;
	for (i = 0; i < r->nrcpt; i++)
		argv[3 + i] = r->rcpt[i];
	argv[3 + i] = 0;
	execv(remote_prog, (char *const *)argv);
	if (errno == ENOENT)
		REPORT("Zremote delivery program not available (#4.3.0)");
	log_kv("warn", "event", "exec", "file", remote_prog, "error",
	       strerror(errno), (char *)0);
	REPORT("Zunable to run the remote delivery program (#4.3.0)");
}

/* The reports in quail-remote's output, NUL-ended each; an unended last
 * one (cut at out_max) is dropped. */
struct reports {
	const char *rcpt[SPAWN_RCPT_MAX];
	size_t nrcpt;
	const char *msg;        /* NULL when missing */
};

static void reports_scan(const char *out, size_t len, size_t want,
                         struct reports *rp)
{
	size_t i = 0, n;

	rp->nrcpt = 0;
	rp->msg = 0;
	while (i < len) {
		n = byte_chr(out + i, len - i, 0);
		if (i + n == len)
			return;
		switch (out[i]) {
		case 'K': case 'Z': case 'D':
			rp->msg = out + i;
			return;
		case 'r': case 'h': case 's':
			if (rp->nrcpt < want)
				rp->rcpt[rp->nrcpt++] = out + i;
			break;
		}
		i += n + 1;
	}
}

/* qmail-rspawn's ranking: K 1, Z 0, D -1. */
static int rank(char c)
{
	return c == 'K' || c == 'r' ? 1 : c == 'Z' || c == 's' ? 0 : -1;
}

static char code_of(int rk)
{
	return rk > 0 ? 'K' : rk == 0 ? 'Z' : 'D';
}

static void one_result(const char *rc, const char *msg, int mrank,
                       struct str *reply)
{
	struct str t = STR_ZERO;
	int rk = mrank;

	if (rc && *rc != 'r')
		rk = rank(*rc);
	if (rc && !str_cats(&t, rc + 1))
		die_nomem();
	/* the message's text too, unless it is better news than the
	 * recipient's own (an accepted message says nothing about a
	 * refused recipient) */
	if (!rc || mrank <= rk)
		if ((t.len && !str_catc(&t, ' ')) || !str_cats(&t, msg))
			die_nomem();
	spawn_result(reply, code_of(rk), t.s ? t.s : "", t.len);
	str_free(&t);
}

/* The text for a child that gave no usable reports, or NULL. */
static const char *broken(int status, size_t len, char *code)
{
	*code = 'Z';
	if (!WIFEXITED(status))
		return "quail-remote crashed (#4.3.0)";
	if (WEXITSTATUS(status) == EXIT_TEMP)
		return "unable to run quail-remote (#4.3.0)";
	if (WEXITSTATUS(status)) {
		*code = 'D';
		return "unable to run quail-remote (#5.3.0)";
	}
	if (!len)
		return "quail-remote produced no output (#4.3.0)";
	return 0;
}

static void rspawn_finish(const struct spawn_req *r, int status,
                          const char *out, size_t len, struct str *reply)
{
	struct reports rp = { { 0 }, 0, 0 };
	const char *text;
	size_t i;
	char code;

	text = broken(status, len, &code);
	if (!text) {
		reports_scan(out, len, r->nrcpt, &rp);
		if (!rp.msg)
			text = "quail-remote produced incomplete output (#4.3.0)";
	}
	for (i = 0; i < r->nrcpt; i++)
		if (text)
			spawn_result(reply, code, text, strlen(text));
		else
			one_result(i < rp.nrcpt ? rp.rcpt[i] : 0, rp.msg + 1,
			           rank(rp.msg[0]), reply);
}

int main(int argc, char **argv)
{
	struct spawner sp = { SPAWN_RCPT_MAX, RSPAWN_OUT_MAX,
	                      SPAWN_TIMEOUT_REMOTE, rspawn_check,
	                      rspawn_child, rspawn_finish };

	(void)argv;
	remote_prog = spawn_init(&sp, "quail-rspawn", argc,
	                         "QUAIL_REMOTE_TIMEOUT", "timeoutremotedelivery",
	                         "QUAILREMOTE", BINDIR "/quail-remote");
	return spawn_run(&sp);
}
