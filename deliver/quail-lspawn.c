/* quail-lspawn: runs local deliveries for quail-send.
 *
 * Reads spawn requests on fd 0 and writes replies on fd 1 (spawn.h), one
 * recipient per request. For each it forks a child that looks the
 * recipient up in the userdb, switches to the mailbox owner and runs
 *   quail-local user home local dash ext domain sender defaultdelivery
 * in the home directory with the message on fd 0, its fd 1 piped back,
 * and $QUOTA set to the user's Maildir++ quota. quail-local's exit code
 * and its fd 1 (at most SPAWN_TEXT_MAX bytes) become the result: 0 'K';
 * 111, 71, 74, 75 or a signal 'Z'; anything else 'D'. Its fd 2 is ours,
 * the log: quail-local writes key=value warnings there, which have no
 * place in a bounce (it folds a |program's output into its fd 1 itself).
 *
 * Runs as root, in the queue directory (quail-send starts it there).
 * Started as another user it delivers everything as that user, so tests
 * and the demo need no root.
 *
 * Env: QUAILLOCAL (the delivery program, default BINDIR/quail-local),
 * QUAIL_USERDB (userdb.h), QUAIL_LOCAL_TIMEOUT (else control file
 * timeoutlocaldelivery, default 86400 s; 0 none). The rest of the
 * environment, QUAILQUEUE and QUAIL_QUEUE among it, passes to quail-local.
 * Built against musl it cannot load libpq: where the userdb is PostgreSQL
 * it execs quail-lspawn-pgsql at start (userdb_handover in userdb.h).
 * Exit: 0 after EOF on fd 0 and every delivery answered; 111 on a
 * malformed request (after answering the deliveries under way) or setup
 * failure; 100 bad usage. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control.h"
#include "exitcode.h"
#include "fmt.h"
#include "log.h"
#include "spawn.h"
#include "userdb.h"

#ifndef BINDIR
#define BINDIR "/usr/local/bin"
#endif

#define HOME_MODE 0700

static const char *local_prog;  /* fixed before input is read */
static int as_root;

static void fail(int code, const char *text) __attribute__((noreturn));
static void fail(int code, const char *text)
{
	spawn_child_exit(text, strlen(text), code);
}

/* Makes the home directory when it is missing and its parent exists:
 * the first delivery to a new virtual user. Only the last component is
 * made, so a typo in a record cannot grow a tree. */
static void home_make(const struct userdb_user *u)
{
	struct stat st;
	int fd;

	if (stat(u->home.s, &st) == 0)
		return;
	if (errno != ENOENT)
		return;                 /* chdir will say what is wrong */
	if (mkdir(u->home.s, HOME_MODE) < 0) {
		if (errno == EEXIST)
			return;
		if (errno == ENOENT)
			fail(EXIT_TEMP, "home directory missing (#4.3.0)");
		log_kv("warn", "event", "mkdir", "file", u->home.s, "error",
		       strerror(errno), (char *)0);
		fail(EXIT_TEMP, "unable to create home directory (#4.3.0)");
	}
	if (!as_root)
		return;
	/* by fd, never by name: the name could be swapped for a link */
	fd = open(u->home.s, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fchown(fd, u->uid, u->gid) < 0) {
		log_kv("warn", "event", "chown", "file", u->home.s, "error",
		       strerror(errno), (char *)0);
		fail(EXIT_TEMP, "unable to create home directory (#4.3.0)");
	}
	close(fd);
	log_kv("info", "event", "home_created", "file", u->home.s, (char *)0);
}

static void become(const struct userdb_user *u)
{
	gid_t g = u->gid;

	if (!as_root)
		return;
	if (setgroups(1, &g) < 0 || setgid(u->gid) < 0 || setuid(u->uid) < 0 ||
	    getuid() != u->uid || geteuid() != u->uid) {
		log_kv("warn", "event", "setuid", "error", strerror(errno),
		       (char *)0);
		fail(EXIT_TEMP, "unable to switch to the user (#4.3.0)");
	}
}

static const char *need(struct str *s)
{
	if (!str_0(s))
		fail(EXIT_TEMP, "out of memory (#4.3.0)");
	return s->s;
}

static void run_local(const struct spawn_req *r, struct userdb_user *u)
{
	struct str user = STR_ZERO, forwards = STR_ZERO;
	const char *argv[11], **a = argv;
	int alias;

	/* the catch-all has no local part of its own: its key names it */
	if (u->name.len ? !str_copyb(&user, u->name.s, u->name.len)
	    : (!str_catc(&user, '@') ||
	       !str_catb(&user, u->domain.s, u->domain.len)))
		fail(EXIT_TEMP, "out of memory (#4.3.0)");
	/* an alias's forwards become one "&address" line each of
	 * defaultdelivery, and -a keeps .qmail files in its home out of it */
	alias = userdb_forwards(u, &forwards);
	if (alias < 0)
		fail(EXIT_TEMP, "out of memory (#4.3.0)");
	*a++ = "quail-local";
	if (alias)
		*a++ = "-a";
	*a++ = need(&user);
	*a++ = u->home.s;
	*a++ = u->local.s;
	*a++ = u->ext.len ? "-" : "";
	*a++ = u->ext.s;
	*a++ = u->domain.s;
	*a++ = r->sender;
	*a++ = alias ? need(&forwards) : u->maildir.s;
	*a = 0;
	if (setenv("QUOTA", u->quota.s, 1) < 0)
		fail(EXIT_TEMP, "out of memory (#4.3.0)");
	execv(local_prog, (char *const *)argv);
	fail(EXIT_TEMP, errno == ENOENT
	     ? "local delivery program not available (#4.3.0)"
	     : "unable to run the local delivery program (#4.3.0)");
}

static void lspawn_child(const struct spawn_req *r)
	__attribute__((noreturn));
static void lspawn_child(const struct spawn_req *r)
{
	struct userdb_user u = USERDB_USER_ZERO;
	int found;

	found = userdb_lookup(r->rcpt[0], strlen(r->rcpt[0]), &u);
	if (found < 0) {
		log_kv("warn", "event", "userdb", "job", r->job, "file",
		       userdb_path(), "error", strerror(errno), (char *)0);
		fail(EXIT_TEMP, "temporary failure looking up the user (#4.3.0)");
	}
	if (found == 0)
		fail(EXIT_PERM, "Sorry, no mailbox here by that name. (#5.1.1)");
	if (u.flags & USERDB_DISABLED)
		fail(EXIT_PERM, "Sorry, this mailbox is disabled. (#5.2.1)");
	if (as_root && u.uid == 0)
		fail(EXIT_TEMP, "refusing to deliver to root (#4.3.0)");
	home_make(&u);
	become(&u);
	if (chdir(u.home.s) < 0)
		fail(EXIT_TEMP, errno == ENOENT
		     ? "home directory missing (#4.3.0)"
		     : "unable to enter the home directory (#4.3.0)");
	run_local(r, &u);
	_exit(EXIT_TEMP);
}

/* A fallback when quail-local said nothing. */
static void explain(struct str *t, const char *what, int n, const char *code)
{
	if (!str_cats(t, "quail-local ") || !str_cats(t, what) ||
	    !str_catu(t, (unsigned long long)n) || !str_cats(t, " (#") ||
	    !str_cats(t, code) || !str_catc(t, ')'))
		die_nomem();
}

static void lspawn_finish(const struct spawn_req *r, int status,
                          const char *out, size_t len, struct str *reply)
{
	struct str t = STR_ZERO;
	int e = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	char code;

	(void)r;
	if (e == 0)
		code = 'K';
	else if (e == -1 || e == 111 || e == 71 || e == 74 || e == 75)
		code = 'Z';
	else
		code = 'D';
	if (!str_catb(&t, out, len))
		die_nomem();
	while (t.len && (unsigned char)t.s[t.len - 1] <= ' ')
		t.len--;
	if (!t.len && e == -1)
		explain(&t, "was killed by signal ", WTERMSIG(status), "4.3.0");
	else if (!t.len && e != 0)
		explain(&t, "exited with status ", e,
		        code == 'Z' ? "4.3.0" : "5.3.0");
	spawn_result(reply, code, t.s ? t.s : "", t.len);
	str_free(&t);
}

int main(int argc, char **argv)
{
	struct spawner sp = { 1, SPAWN_TEXT_MAX, SPAWN_TIMEOUT_LOCAL, 0,
	                      lspawn_child, lspawn_finish };

	local_prog = spawn_init(&sp, "quail-lspawn", argc, "QUAIL_LOCAL_TIMEOUT",
	                        "timeoutlocaldelivery", "QUAILLOCAL",
	                        BINDIR "/quail-local");
	if (userdb_handover("quail-lspawn", argv) < 0)
		die_kv(EXIT_TEMP, "event", "exec", "prog", "quail-lspawn-pgsql",
		       "error", strerror(errno), (char *)0);
	as_root = geteuid() == 0;
	return spawn_run(&sp);
}
