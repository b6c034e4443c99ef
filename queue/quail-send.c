/* quail-send: the scheduler. Delivers every queued message to each of its
 * pending recipients, through quail-lspawn (local domains) and quail-rspawn
 * (everything else), retries temporary failures on a schedule and bounces
 * permanent ones.
 *
 * Reads:  the queue (QUEUE/env, QUEUE/mess) from its working directory,
 *         the queue directory; QUEUE/trigger for "ID\n" from quail-queue;
 *         control files me, locals, concurrencylocal, concurrencyremote,
 *         queuelifetime, retrybase, bouncefrom, bouncehost, doublebounceto,
 *         doublebouncehost.
 * Writes: recipient states in env files (one byte each), removes finished
 *         messages, queues bounces through quail-queue; one log line per
 *         event on stderr.
 * Signals: TERM stops gracefully (no new deliveries, waits for running
 *         ones); ALRM makes every message due now; HUP rereads control.
 * Runs as: the queue user. Started as root, it first starts quail-lspawn
 *         (which stays root to become each mailbox owner) and quail-rspawn
 *         as the user given with -r, then becomes the user given with -u.
 * Exit:   0 after TERM; 111 on a fatal error (a spawner died, the queue
 *         is unreadable), so the supervisor restarts it.
 *
 * Nothing is lost: a recipient is removed from the work only once its
 * delivery said so (K or D), and the state byte is synced before the
 * message is dropped or bounced. The one window is duplication: a crash
 * after a delivery but before its state byte reaches the disk delivers
 * that recipient again.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../deliver/spawn.h"
#include "addr.h"
#include "bounce.h"
#include "control.h"
#include "dest.h"
#include "exitcode.h"
#include "fmt.h"
#include "gone.h"
#include "io.h"
#include "log.h"
#include "msgs.h"
#include "qfile.h"
#include "retry.h"
#include "str.h"
#include "userdb.h"

#ifndef BINDIR
#define BINDIR "/usr/local/bin"
#endif

#define CONC_LOCAL 10           /* concurrencylocal */
#define CONC_REMOTE 20          /* concurrencyremote */
#define CONC_DOMAIN 10          /* concurrencydomain: per remote domain */
#define CONC_MAX 500
#define LIFETIME 604800         /* queuelifetime, seconds */
#define RETRY_BASE 60           /* retrybase, seconds */
#define RESCAN 600              /* full queue scan, seconds */

extern char **environ;

struct active {
	struct msg *m;
	int fd;                 /* env file, O_RDWR */
	struct qfile_env env;
	unsigned jobs;          /* outstanding */
	int temp;               /* some recipient failed temporarily */
	int marked;             /* states written, not yet synced */
	struct bounce b;        /* permanent failures collected this round */
};

struct job {
	struct active *a;
	struct dest *dest;      /* remote jobs: the recipients' domain */
	size_t rcpt[SPAWN_RCPT_MAX];
	size_t n;
	struct job *next;
};

struct chan {
	const char *name;
	int in, out;            /* spawner's fd 0 (we write), fd 1 (we read) */
	pid_t pid;
	unsigned max, running;
	struct job **slot;      /* running jobs by job number */
	struct job *head, *tail;        /* waiting */
	struct str rbuf;        /* replies not yet parsed */
};

static struct {
	struct str me, locals;
	unsigned long long conc[2], concdomain, lifetime, retrybase;
	struct bounce_cfg bcfg;
} cfg;

static struct chan chans[2] = { { "local", -1, -1, -1, 0, 0, 0, 0, 0, STR_ZERO },
                                { "remote", -1, -1, -1, 0, 0, 0, 0, 0, STR_ZERO } };
static int sigpipe_fd[2];
static volatile sig_atomic_t got_term, got_hup, got_alrm;
static int stopping;

static long long now(void)
{
	return (long long)time(0);
}

static void *xalloc(size_t n)
{
	void *p = calloc(1, n);

	if (!p)
		die_nomem();
	return p;
}

static void idstr(char buf[FMT_ULONG], unsigned long long id)
{
	fmt_u(buf, id);
}

static int scan_one(void *arg, int nn, const char *name)
{
	unsigned long long id;

	(void)arg;
	(void)nn;
	if (qfile_id(name, &id))
		msgs_add(id, now());
	return 0;
}

static void scan_queue(void)
{
	if (qfile_scan(AT_FDCWD, QFILE_ENV, scan_one, 0) < 0)
		die_kv(EXIT_TEMP, "event", "scan", "error", strerror(errno),
		       (char *)0);
}

/* --- configuration --- */

static void config_load(void)
{
	char host[256];
	int r;

	if (gethostname(host, sizeof host - 1) < 0)
		host[0] = 0;
	host[sizeof host - 1] = 0;
	r = control_line("me", &cfg.me, host);
	if (r >= 0)
		r = control_lines("locals", &cfg.locals);
	if (r == 0 && cfg.locals.len == 0)
		if (!str_copyb(&cfg.locals, cfg.me.s, cfg.me.len + 1))
			die_nomem();
	if (r >= 0)
		r = control_ulong("concurrencylocal", &cfg.conc[0], CONC_LOCAL);
	if (r >= 0)
		r = control_ulong("concurrencyremote", &cfg.conc[1], CONC_REMOTE);
	if (r >= 0)
		r = control_ulong("concurrencydomain", &cfg.concdomain, CONC_DOMAIN);
	if (r >= 0)
		r = control_ulong("queuelifetime", &cfg.lifetime, LIFETIME);
	if (r >= 0)
		r = control_ulong("retrybase", &cfg.retrybase, RETRY_BASE);
	if (r >= 0)
		r = bounce_config(&cfg.bcfg, cfg.me.s);
	if (r < 0)
		die_kv(EXIT_TEMP, "event", "config", "error", strerror(errno),
		       (char *)0);
	if (cfg.conc[0] < 1)
		cfg.conc[0] = 1;
	if (cfg.conc[1] < 1)
		cfg.conc[1] = 1;
	if (cfg.concdomain < 1)
		cfg.concdomain = 1;
}

/* 1 when the recipient's domain is in locals (case-insensitive) or is
 * one of the user database's domains. A userdb that cannot answer makes
 * it local: quail-lspawn then defers it, where remote delivery could
 * send our own users' mail away. (With no userdb at all, userdb_domain
 * says 0.) */
static int is_local(const char *addr, size_t len)
{
	size_t at = len, i, n;

	while (at > 0 && addr[at - 1] != '@')
		at--;
	if (at == 0)
		return 1;
	for (i = 0; i < cfg.locals.len; i += n + 1) {
		n = strlen(cfg.locals.s + i);
		if (n == len - at && case_eqb(cfg.locals.s + i, addr + at, n))
			return 1;
	}
	return userdb_domain(addr + at, len - at) != 0;
}

/* --- spawners --- */

static void chan_start(struct chan *c, const char *envname, const char *prog,
                       uid_t uid, gid_t gid, gid_t extra)
{
	const char *p = getenv(envname);
	int in[2], out[2];
	char *argv[2];

	if (!p || !*p)
		p = prog;
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		die_kv(EXIT_TEMP, "event", "pipe", "error", strerror(errno),
		       (char *)0);
	c->pid = fork();
	if (c->pid < 0)
		die_kv(EXIT_TEMP, "event", "fork", "error", strerror(errno),
		       (char *)0);
	if (c->pid == 0) {
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0)
			_exit(EXIT_TEMP);
		gid_t groups[2] = { gid, extra };

		if (uid && (setgroups(2, groups) < 0 || setgid(gid) < 0 ||
		            setuid(uid) < 0))
			_exit(EXIT_TEMP);
		argv[0] = (char *)p;
		argv[1] = 0;
		execve(p, argv, environ);
		log_kv("fatal", "event", "exec", "program", p, "error",
		       strerror(errno), (char *)0);
		_exit(EXIT_TEMP);
	}
	close(in[0]);
	close(out[1]);
	c->in = in[1];
	c->out = out[0];
	fcntl(c->out, F_SETFL, O_NONBLOCK);
}

static void chan_size(struct chan *c, unsigned long long max)
{
	if (max > CONC_MAX)
		max = CONC_MAX;
	if (max <= c->max)
		return;         /* shrinking waits for a restart */
	c->slot = realloc(c->slot, max * sizeof *c->slot);
	if (!c->slot)
		die_nomem();
	memset(c->slot + c->max, 0, (max - c->max) * sizeof *c->slot);
	c->max = (unsigned)max;
}

/* Sends the job to the spawner in slot s. */
static void chan_send(struct chan *c, unsigned s, struct job *j)
{
	struct str req = STR_ZERO;
	char path[QFILE_PATH_MAX];
	const struct qfile_env *e = &j->a->env;
	size_t i;
	int ok;

	qfile_path(path, QFILE_MESS, j->a->m->id);
	ok = str_catu(&req, s) && str_catc(&req, 0) && str_cats(&req, path) &&
	     str_catc(&req, 0) && str_catb(&req, e->sender, e->senderlen) &&
	     str_catc(&req, 0);
	for (i = 0; ok && i < j->n; i++)
		ok = str_catb(&req, e->rcpt[j->rcpt[i]].addr,
		              e->rcpt[j->rcpt[i]].len) && str_catc(&req, 0);
	if (!ok || !str_catc(&req, 0))
		die_nomem();
	if (io_writeall(c->in, req.s, req.len) < 0)
		die_kv(EXIT_TEMP, "event", "spawner", "chan", c->name,
		       "error", strerror(errno), (char *)0);
	str_free(&req);
	c->slot[s] = j;
	c->running++;
}

static void job_done(struct job *j);
static void rcpt_result(struct active *a, size_t i, char status,
                        const char *text);

/* A remote job for a domain that is resting is deferred at once, without
 * a connection: it uses no slot and the message waits for its retry. */
static void job_rest(struct job *j)
{
	size_t k;

	for (k = 0; k < j->n; k++)
		rcpt_result(j->a, j->rcpt[k], 'Z',
		            "destination is resting after failed attempts");
	job_done(j);
}

/* Starts waiting jobs in order while slots are free; a remote job whose
 * domain has concurrencydomain deliveries running waits its turn. */
static void chan_dispatch(struct chan *c)
{
	struct job **p = &c->head, *j, *last = 0;
	unsigned s = 0;

	while ((j = *p) != 0) {
		while (s < c->max && c->slot[s])
			s++;
		if (s == c->max)
			break;
		if (j->dest && j->dest->running >= cfg.concdomain) {
			last = j;
			p = &j->next;
			continue;
		}
		*p = j->next;
		if (c->tail == j)
			c->tail = last;
		if (j->dest && j->dest->until > now()) {
			job_rest(j);
			continue;
		}
		if (j->dest)
			j->dest->running++;
		chan_send(c, s, j);
	}
}

static void chan_queue(struct chan *c, struct job *j)
{
	j->next = 0;
	if (c->tail)
		c->tail->next = j;
	else
		c->head = j;
	c->tail = j;
}

/* --- delivery rounds --- */

static void round_end(struct active *a);

static void log_result(struct active *a, size_t i, const char *result,
                       const char *text)
{
	char id[FMT_ULONG], delay[FMT_ULONG], att[FMT_ULONG];

	idstr(id, a->m->id);
	log_kv("info", "event", "delivery", "id", id, "rcpt",
	       a->env.rcpt[i].addr, "result", result, "delay",
	       fmt_u(delay, (unsigned long long)(now() - (long long)a->env.birth)),
	       "attempts", fmt_u(att, a->m->attempts), "text", text, (char *)0);
}

static void rcpt_result(struct active *a, size_t i, char status,
                        const char *text)
{
	int expired = now() - (long long)a->env.birth >
	              (long long)cfg.lifetime;

	if (status == 'K') {
		if (qfile_env_mark(&a->env, a->fd, i, QFILE_DONE) < 0)
			a->temp = 1;    /* delivered again later: never lost */
		a->marked = 1;
		log_result(a, i, "ok", text);
		return;
	}
	if (status == 'Z' && !expired) {
		a->temp = 1;
		log_result(a, i, "deferred", text);
		return;
	}
	log_result(a, i, "failed", text);
	if (!bounce_add(&a->b, i, text, status == 'Z'))
		die_nomem();
}

/* Parses complete replies in c->rbuf; returns when more input is needed. */
static void chan_replies(struct chan *c)
{
	size_t pos = 0;

	for (;;) {
		const char *p = c->rbuf.s + pos;
		size_t left = c->rbuf.len - pos, k, end, nres = 0;
		unsigned long long s;
		struct job *j;
		int settled;

		k = byte_chr(p, left, 0);
		if (k == left)
			break;
		if (!scan_ulong(p, k, &s) || s >= c->max || !c->slot[s])
			die_kv(EXIT_TEMP, "event", "badreply", "chan", c->name,
			       (char *)0);
		j = c->slot[s];
		/* need j->n NUL-terminated results after the job number */
		for (end = k + 1; nres < j->n && end < left; end++)
			if (p[end] == 0)
				nres++;
		if (nres < j->n)
			break;
		end = k + 1;
		settled = 0;
		for (k = 0; k < j->n; k++) {
			size_t len = strlen(p + end);

			settled |= len && p[end] != 'Z';
			rcpt_result(j->a, j->rcpt[k], len ? p[end] : 'Z',
			            len ? p + end + 1 : "no result");
			end += len + 1;
		}
		pos += end;
		c->slot[s] = 0;
		c->running--;
		if (j->dest) {
			j->dest->running--;
			dest_result(j->dest, settled, now());
		}
		job_done(j);
	}
	memmove(c->rbuf.s, c->rbuf.s + pos, c->rbuf.len - pos);
	c->rbuf.len -= pos;
}

static void chan_read(struct chan *c)
{
	char buf[8192];
	ssize_t n = read(c->out, buf, sizeof buf);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0)
		die_kv(EXIT_TEMP, "event", "spawner", "chan", c->name, "error",
		       n ? strerror(errno) : "exited", (char *)0);
	if (!str_catb(&c->rbuf, buf, (size_t)n))
		die_nomem();
	chan_replies(c);
}

static void job_done(struct job *j)
{
	if (--j->a->jobs == 0)
		round_end(j->a);
	free(j);
}

static void active_free(struct active *a)
{
	if (a->fd >= 0)
		close(a->fd);
	qfile_env_free(&a->env);
	bounce_free(&a->b);
	free(a);
}

/* Removes a message whose recipients are all done (gone.h: its files
 * stay open, envfd too, until the removal is on disk). */
static void msg_remove(struct msg *m, int envfd)
{
	char id[FMT_ULONG];

	gone_remove(m->id, envfd);
	log_kv("info", "event", "done", "id", (idstr(id, m->id), id), (char *)0);
	msgs_forget(m);
}

static void round_end(struct active *a)
{
	struct msg *m = a->m;
	size_t i;

	if (a->b.n) {
		/* the states must be on disk before the bounce exists */
		if (bounce_send(&a->b, &cfg.bcfg, m->id, &a->env) == 0) {
			for (i = 0; i < a->b.n; i++)
				if (qfile_env_mark(&a->env, a->fd, a->b.item[i].rcpt,
				                   QFILE_BOUNCED) == 0)
					a->marked = 1;
		} else
			a->temp = 1;
	}
	if (a->env.pending == 0) {
		int envfd = a->fd;

		a->fd = -1;
		m->act = 0;
		active_free(a);
		msg_remove(m, envfd);
		return;
	}
	if (a->marked && qfile_env_sync(a->fd) < 0)
		log_kv("warn", "event", "sync", "error", strerror(errno),
		       (char *)0);
	m->act = 0;
	m->next = retry_next((long long)a->env.birth, now(),
	                     (long long)cfg.retrybase);
	active_free(a);
	msgs_push(m);
}

/* Starts an attempt on a due message: one job per local recipient, one
 * per remote domain (up to SPAWN_RCPT_MAX recipients each). */
static void msg_start(struct msg *m)
{
	char path[QFILE_PATH_MAX], id[FMT_ULONG];
	struct active *a = xalloc(sizeof *a);
	struct job *byhost = 0;
	size_t i, k;
	int r;

	a->m = m;
	m->act = a;
	m->attempts++;
	qfile_path(path, QFILE_ENV, m->id);
	a->fd = open(path, O_RDWR | O_CLOEXEC);
	r = a->fd < 0 ? -1 : qfile_env_read(&a->env, a->fd);
	if (r <= 0) {
		int gone = a->fd < 0 && errno == ENOENT;

		log_kv(gone ? "info" : "warn", "event", gone ? "gone" : "badenv",
		       "id", (idstr(id, m->id), id), "error",
		       r < 0 ? strerror(errno) : "malformed", (char *)0);
		m->act = 0;
		active_free(a);
		if (gone || r == 0)
			msgs_forget(m); /* quail-qcheck deals with broken files */
		else {
			m->next = now() + (long long)cfg.retrybase;
			msgs_push(m);
		}
		return;
	}
	if (m->attempts == 1) {
		char bytes[FMT_ULONG], n[FMT_ULONG];

		log_kv("info", "event", "new", "id", (idstr(id, m->id), id),
		       "from", a->env.sender, "bytes", fmt_u(bytes, a->env.bytes),
		       "pending", fmt_u(n, a->env.pending), (char *)0);
	}
	for (i = 0; i < a->env.nrcpt; i++) {
		const struct qfile_rcpt *rc = &a->env.rcpt[i];
		int local;
		struct job *j;

		if (rc->state != QFILE_PENDING)
			continue;
		local = is_local(rc->addr, rc->len);
		j = 0;
		if (!local)     /* the same domain shares one transaction */
			for (j = byhost; j; j = j->next) {
				const struct qfile_rcpt *o = &a->env.rcpt[j->rcpt[0]];
				size_t dl, ol;
				const char *d = addr_domain(rc->addr, rc->len, &dl);
				const char *od = addr_domain(o->addr, o->len, &ol);

				if (j->n < SPAWN_RCPT_MAX && dl == ol &&
				    case_eqb(d, od, dl))
					break;
			}
		if (!j) {
			j = xalloc(sizeof *j);
			j->a = a;
			a->jobs++;
			if (local)
				chan_queue(&chans[0], j);
			else {
				size_t dl;
				const char *d = addr_domain(rc->addr, rc->len, &dl);

				if (!(j->dest = dest_get(d, dl)))
					die_nomem();
				j->next = byhost;
				byhost = j;
			}
		}
		j->rcpt[j->n++] = i;
	}
	while (byhost) {
		struct job *j = byhost;

		byhost = j->next;
		chan_queue(&chans[1], j);
	}
	/* a job may end at once (a resting domain), and the round with it:
	 * hold one count so that a stays ours until here */
	a->jobs++;
	for (k = 0; k < 2; k++)
		chan_dispatch(&chans[k]);
	if (--a->jobs == 0)
		round_end(a);
}

/* Messages with an attempt under way: their envelopes are in memory. */
static size_t nactive(void)
{
	return msgs_count() - msgs_waiting();
}

static size_t active_limit(void)
{
	size_t limit = 4 * (size_t)(cfg.conc[0] + cfg.conc[1]);

	return limit < 64 ? 64 : limit;
}

static void activate_due(void)
{
	long long t = now();

	while (!stopping && msgs_waiting() && msgs_top()->next <= t &&
	       nactive() < active_limit())
		msg_start(msgs_pop());
}

/* Reads "ID\n" lines from the trigger FIFO. */
static void trigger_read(int fd, struct str *pend)
{
	char buf[4096];
	ssize_t n;
	size_t i, start = 0;
	unsigned long long id;

	n = read(fd, buf, sizeof buf);
	if (n <= 0)
		return;
	if (!str_catb(pend, buf, (size_t)n))
		die_nomem();
	for (i = 0; i < pend->len; i++) {
		if (pend->s[i] != '\n')
			continue;
		if (scan_ulong(pend->s + start, i - start, &id))
			msgs_add(id, now());
		start = i + 1;
	}
	memmove(pend->s, pend->s + start, pend->len - start);
	pend->len -= start;
	if (pend->len > 64)     /* not ours: garbage in the FIFO */
		pend->len = 0;
}

static void on_signal(int sig)
{
	int saved = errno;

	if (sig == SIGTERM)
		got_term = 1;
	else if (sig == SIGHUP)
		got_hup = 1;
	else if (sig == SIGALRM)
		got_alrm = 1;
	if (write(sigpipe_fd[1], "", 1) < 0) {
		/* the pipe is full: a wakeup is already pending */
	}
	errno = saved;
}

static void signals_setup(void)
{
	struct sigaction sa;

	if (pipe2(sigpipe_fd, O_CLOEXEC | O_NONBLOCK) < 0)
		die_kv(EXIT_TEMP, "event", "pipe", "error", strerror(errno),
		       (char *)0);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, 0);
	sigaction(SIGHUP, &sa, 0);
	sigaction(SIGALRM, &sa, 0);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, 0);
}

static void signals_handle(void)
{
	char buf[64];
	size_t i;

	while (read(sigpipe_fd[0], buf, sizeof buf) > 0)
		;
	if (got_hup) {
		got_hup = 0;
		config_load();
		chan_size(&chans[0], cfg.conc[0]);
		chan_size(&chans[1], cfg.conc[1]);
		log_kv("info", "event", "reload", (char *)0);
	}
	if (got_alrm) {
		got_alrm = 0;
		msgs_all_due();
		log_kv("info", "event", "retry-all", (char *)0);
	}
	if (got_term && !stopping) {
		stopping = 1;
		log_kv("info", "event", "stopping", (char *)0);
		for (i = 0; i < 2; i++) {
			close(chans[i].in);
			chans[i].in = -1;
			chans[i].head = chans[i].tail = 0;
		}
	}
}

/* As root: starts the spawners, then becomes the queue user. */
static void privileges(const char *senduser, const char *remoteuser)
{
	struct passwd *pw;
	uid_t ruid = 0, suid = 0;
	gid_t rgid = 0, sgid = 0;

	if (geteuid() == 0 && remoteuser) {
		if (!(pw = getpwnam(remoteuser)))
			die_kv(EXIT_TEMP, "event", "nouser", "user", remoteuser,
			       (char *)0);
		ruid = pw->pw_uid;
		rgid = pw->pw_gid;
	}
	if (geteuid() == 0 && senduser) {
		if (!(pw = getpwnam(senduser)))
			die_kv(EXIT_TEMP, "event", "nouser", "user", senduser,
			       (char *)0);
		suid = pw->pw_uid;
		sgid = pw->pw_gid;
	}
	struct stat st;

	/* quail-rspawn runs as its own user with the queue's group as well,
	 * which lets it read message files (0640) and nothing else here */
	if (stat(".", &st) < 0)
		die_kv(EXIT_TEMP, "event", "stat", "error", strerror(errno),
		       (char *)0);
	chan_start(&chans[0], "QUAILLSPAWN", BINDIR "/quail-lspawn", 0, 0, 0);
	chan_start(&chans[1], "QUAILRSPAWN", BINDIR "/quail-rspawn", ruid, rgid,
	           st.st_gid);
	if (suid && (setgroups(1, &sgid) < 0 || setgid(sgid) < 0 ||
	             setuid(suid) < 0))
		die_kv(EXIT_TEMP, "event", "setuid", "error", strerror(errno),
		       (char *)0);
}

static void usage(void)
{
	die_kv(EXIT_PERM, "event", "usage",
	       "usage", "quail-send [-u senduser] [-r remoteuser]", (char *)0);
}

int main(int argc, char **argv)
{
	const char *senduser = 0, *remoteuser = 0;
	struct str trig = STR_ZERO;
	long long lastscan;
	int opt, tfd, k;

	log_init("quail-send");
	while ((opt = getopt(argc, argv, "u:r:")) != -1) {
		if (opt == 'u')
			senduser = optarg;
		else if (opt == 'r')
			remoteuser = optarg;
		else
			usage();
	}
	if (chdir(qfile_dir()) < 0)
		die_kv(EXIT_TEMP, "event", "chdir", "dir", qfile_dir(), "error",
		       strerror(errno), (char *)0);
	signals_setup();
	config_load();
	privileges(senduser, remoteuser);
	chan_size(&chans[0], cfg.conc[0]);
	chan_size(&chans[1], cfg.conc[1]);
	/* O_RDWR: the FIFO never reports EOF when quail-queue closes it */
	tfd = open("trigger", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (tfd < 0)
		die_kv(EXIT_TEMP, "event", "trigger", "error", strerror(errno),
		       (char *)0);
	scan_queue();
	lastscan = now();
	{
		char n[FMT_ULONG];

		log_kv("info", "event", "start", "queued", fmt_u(n, msgs_count()),
		       (char *)0);
	}
	for (;;) {
		struct pollfd p[4];
		long long wait = RESCAN * 1000LL, t;

		signals_handle();
		if (stopping && !chans[0].running && !chans[1].running)
			break;
		if (!stopping && now() - lastscan >= RESCAN) {
			scan_queue();
			dest_sweep(now());
			lastscan = now();
		}
		activate_due();
		for (k = 0; k < 2; k++)
			if (!stopping)
				chan_dispatch(&chans[k]);
		t = now();
		if (msgs_waiting() && !stopping && nactive() < active_limit()) {
			wait = (msgs_top()->next - t) * 1000;
			if (wait < 0)
				wait = 0;
		}
		if (wait > RESCAN * 1000LL)
			wait = RESCAN * 1000LL;
		t = gone_wait(io_now_ms());
		if (t >= 0 && t < wait)
			wait = t;
		p[0].fd = sigpipe_fd[0];
		p[1].fd = stopping ? -1 : tfd;
		p[2].fd = chans[0].out;
		p[3].fd = chans[1].out;
		for (k = 0; k < 4; k++) {
			p[k].events = POLLIN;
			p[k].revents = 0;
		}
		if (poll(p, 4, (int)wait) < 0 && errno != EINTR)
			die_kv(EXIT_TEMP, "event", "poll", "error", strerror(errno),
			       (char *)0);
		if (p[1].revents)
			trigger_read(tfd, &trig);
		for (k = 0; k < 2; k++)
			if (p[2 + k].revents)
				chan_read(&chans[k]);
		if (gone_wait(io_now_ms()) == 0)
			gone_flush();
	}
	gone_flush();
	log_kv("info", "event", "stop", (char *)0);
	return 0;
}
