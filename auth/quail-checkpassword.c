/* quail-checkpassword: checks a login against the userdb, checkpassword
 * style, and runs a program as that user.
 *
 *   quail-checkpassword prog [arg ...]
 *
 * Reads fd 3 to EOF (at most CKPW_INPUT_MAX bytes), "login\0password\0"
 * and usually a timestamp and NUL, which is ignored; then closes it. The
 * login is a full address and must be a key of the userdb exactly (case
 * aside): an extension (alice-foo@), a catch-all or a role alias is a
 * mailbox, not a login. The account must have a password hash, not be
 * disabled, be a mailbox rather than an alias, and allow the service
 * named by $QUAIL_SERVICE ("pop3", "imap", "smtp"; unset or empty: no
 * service check).
 *
 * On success: setgroups, setgid and setuid to the record's gid and uid
 * when run as root (otherwise it goes on as itself, and only if the
 * record's uid is its own, or for QUAIL_SERVICE=smtp, where it only
 * checks the password and runs prog as the caller, without the chdir),
 * chdir to the home directory, set USER (the
 * login, lower-cased), HOME, SHELL (/bin/sh) and MAILDIR (absolute, ends
 * with '/'), and exec prog with its args.
 *
 * Env read: QUAIL_SERVICE, TCPREMOTEIP (for the log), QUAIL_USERDB and
 * QUAIL_CONTROL (userdb.h, control.h). Control file authdelay: seconds
 * to wait before answering a failed login (default AUTHDELAY_DEFAULT).
 * Logs one line per attempt on fd 2, never the password.
 *
 * Exit (the checkpassword interface): 1 bad login (after the delay);
 * 2 misuse (no prog, unreadable or malformed fd 3, unknown service);
 * 111 temporary (userdb unavailable, can't switch user or chdir, exec
 * failed). Runs as root under a POP3 or IMAP server; as the mail user
 * when it only checks a password for quail-smtpd. */
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "exitcode.h"
#include "io.h"
#include "log.h"
#include "pwcheck.h"
#include "str.h"
#include "userdb.h"

#define CKPW_INPUT_MAX 512              /* bytes on fd 3, as DJB's */
#define CKPW_READ_TIMEOUT 60000         /* ms for the client to write fd 3 */
#define AUTHDELAY_DEFAULT 2             /* s before a failure is answered */
#define AUTHDELAY_MAX 60
#define CKPW_BAD 1
#define CKPW_MISUSE 2
#define SHELL "/bin/sh"

/* Verified instead of a real hash when there is none, so an unknown
 * login takes as long as a wrong password. Its password is not known. */
static const char dummy_hash[] =
	"$y$j9T$L31x05R/I/uLurOi.l.iL.$IO39VvvGhUkOMYXOLdaM7lRJk650A8ctSgSPcvKZDMD";

static unsigned long long authdelay;    /* fixed before input is read */

struct login {
	char buf[CKPW_INPUT_MAX + 1];
	size_t len;
	const char *user, *pass;        /* in buf */
	size_t ulen, plen;
	const char *service, *ip;
	unsigned deny;                  /* the flag the service forbids */
	struct userdb_user u;
	struct str name;                /* USER: the key found */
	struct str maildir;
};

/* The password, and all after it, out of memory; the login stays for
 * the log. */
static void pass_wipe(struct login *l)
{
	size_t at = l->pass ? (size_t)(l->pass - l->buf) : 0;

	explicit_bzero(l->buf + at, sizeof l->buf - at);
}

static void say(const char *level, const struct login *l, const char *result,
                const char *reason)
{
	log_kv(level, "event", "login", "result", result, "user", l->user,
	       "ip", l->ip, "service", l->service, "reason", reason, (char *)0);
}

static void misuse(const char *what) __attribute__((noreturn));
static void misuse(const char *what)
{
	die_kv(CKPW_MISUSE, "event", "misuse", "error", what, (char *)0);
}

static void temp(struct login *l, const char *reason) __attribute__((noreturn));
static void temp(struct login *l, const char *reason)
{
	const char *e = strerror(errno);

	pass_wipe(l);
	log_kv("warn", "event", "login", "result", "error", "user", l->user,
	       "ip", l->ip, "service", l->service, "reason", reason,
	       "error", e, (char *)0);
	exit(EXIT_TEMP);
}

/* Bad credentials: every failure waits, so guessing is slow. */
static void fail(struct login *l, const char *reason) __attribute__((noreturn));
static void fail(struct login *l, const char *reason)
{
	struct timespec t = { (time_t)authdelay, 0 };

	pass_wipe(l);
	say("warn", l, "fail", reason);
	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
	exit(CKPW_BAD);
}

static void delay_load(void)
{
	int r = control_ulong("authdelay", &authdelay, AUTHDELAY_DEFAULT);

	if (r < 0) {
		log_kv("warn", "event", "control", "file", "authdelay", "error",
		       strerror(errno), (char *)0);
		authdelay = AUTHDELAY_DEFAULT;
	}
	if (authdelay > AUTHDELAY_MAX)
		authdelay = AUTHDELAY_MAX;
}

/* The flag that forbids the service, 0 for none; misuse when unknown, so
 * a typo in a run script locks everyone out rather than letting all in. */
static unsigned service_flag(const char *s)
{
	if (!s || !*s)
		return 0;
	if (!strcmp(s, "pop3"))
		return USERDB_NOPOP;
	if (!strcmp(s, "imap"))
		return USERDB_NOIMAP;
	if (!strcmp(s, "smtp"))
		return USERDB_NOSMTP;
	misuse("unknown QUAIL_SERVICE");
}

/* fd 3 to EOF, then closed. */
static void input_read(struct login *l)
{
	ssize_t r;
	int w;

	for (;;) {
		w = io_wait(3, POLLIN, CKPW_READ_TIMEOUT, 0);
		if (w == 0)
			misuse("timeout reading fd 3");
		if (w < 0 && errno != EINTR)
			misuse("unable to read fd 3");
		if (w < 0)
			continue;
		r = read(3, l->buf + l->len, sizeof l->buf - l->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			misuse("unable to read fd 3");
		if (r == 0)
			break;
		l->len += (size_t)r;
		if (l->len > CKPW_INPUT_MAX)
			misuse("more than 512 bytes on fd 3");
	}
	close(3);
}

/* login\0password\0 and anything after. */
static void input_split(struct login *l)
{
	const char *p = l->buf, *z;
	size_t n = l->len;

	z = memchr(p, 0, n);
	if (!z)
		misuse("no NUL after the login on fd 3");
	l->user = p;
	l->ulen = (size_t)(z - p);
	p = z + 1;
	n = l->len - l->ulen - 1;
	z = memchr(p, 0, n);
	if (!z)
		misuse("no NUL after the password on fd 3");
	l->pass = p;
	l->plen = (size_t)(z - p);
}

/* 1 when the password fits the record, after the same work whether or not
 * the login exists. */
static int password_ok(struct login *l, int found)
{
	int has = found && l->u.hash.len;
	int r;

	r = pwcheck_verify(l->pass, l->plen, has ? l->u.hash.s : dummy_hash);
	pass_wipe(l);
	if (r < 0)
		temp(l, "pwcheck");
	return has && r == 1;
}

/* Exits unless the login may have what it asks for. */
static void login_check(struct login *l)
{
	int r;

	if (!l->ulen)
		fail(l, "nouser");
	r = userdb_lookup(l->user, l->ulen, &l->u);
	if (r < 0)
		temp(l, "userdb");
	if (r == 1 && l->u.match != USERDB_EXACT)
		r = 0;
	if (!password_ok(l, r))
		fail(l, !r ? "nouser" : !l->u.hash.len ? "nopassword" : "password");
	if (l->u.flags & USERDB_DISABLED)
		fail(l, "disabled");
	if (l->u.flags & USERDB_ALIAS)
		fail(l, "alias");
	if (l->u.flags & l->deny)
		fail(l, "service");
}

static void user_become(struct login *l)
{
	gid_t g = l->u.gid;

	if (l->u.uid == 0) {
		errno = EPERM;
		temp(l, "uid0");
	}
	if (geteuid() != 0) {
		/* no root to switch with: only our own mailboxes */
		if (l->u.uid != getuid()) {
			errno = EPERM;
			temp(l, "notroot");
		}
		return;
	}
	if (setgroups(1, &g) < 0 || setgid(l->u.gid) < 0 ||
	    setuid(l->u.uid) < 0)
		temp(l, "setuid");
	if (getuid() != l->u.uid || geteuid() != l->u.uid) {
		errno = EPERM;
		temp(l, "setuid");
	}
}

/* HOME plus a relative "./Maildir/", or the absolute maildir itself. */
static int maildir_make(struct login *l)
{
	const struct str *h = &l->u.home, *m = &l->u.maildir;
	size_t hn = h->len;

	if (m->s[0] == '/')
		return str_copyb(&l->maildir, m->s, m->len) && str_0(&l->maildir);
	while (hn > 1 && h->s[hn - 1] == '/')
		hn--;
	return str_copyb(&l->maildir, h->s, hn) &&
	       (hn == 1 || str_catc(&l->maildir, '/')) &&
	       str_catb(&l->maildir, m->s + 2, m->len - 2) && str_0(&l->maildir);
}

static void env_set(struct login *l)
{
	if (!str_copyb(&l->name, l->u.local.s, l->u.local.len) ||
	    !str_catc(&l->name, '@') ||
	    !str_catb(&l->name, l->u.domain.s, l->u.domain.len) ||
	    !str_0(&l->name) || !maildir_make(l)) {
		errno = ENOMEM;
		temp(l, "nomem");
	}
	if (setenv("USER", l->name.s, 1) < 0 ||
	    setenv("HOME", l->u.home.s, 1) < 0 ||
	    setenv("SHELL", SHELL, 1) < 0 ||
	    setenv("MAILDIR", l->maildir.s, 1) < 0)
		temp(l, "setenv");
}

int main(int argc, char **argv)
{
	static struct login l;

	log_init("quail-checkpassword");
	if (argc < 2)
		misuse("no program to run");
	if (userdb_handover("quail-checkpassword", argv) < 0)
		die_kv(EXIT_TEMP, "event", "exec", "prog",
		       "quail-checkpassword-pgsql", "error", strerror(errno),
		       (char *)0);
	delay_load();
	l.service = getenv("QUAIL_SERVICE");
	l.ip = getenv("TCPREMOTEIP");
	l.deny = service_flag(l.service);
	input_read(&l);
	input_split(&l);
	login_check(&l);
	/* SMTP AUTH only asks "is this the password?" (the next program is
	 * /bin/true) from a server that is not root: it needs no switch */
	if (geteuid() != 0 && l.service && strcmp(l.service, "smtp") == 0) {
		env_set(&l);
		say("info", &l, "ok", 0);
		execvp(argv[1], argv + 1);
		temp(&l, "exec");
	}
	user_become(&l);
	if (chdir(l.u.home.s) < 0)
		temp(&l, "chdir");
	env_set(&l);
	say("info", &l, "ok", 0);
	execvp(argv[1], argv + 1);
	temp(&l, "exec");
}
