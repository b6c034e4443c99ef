/* The event loop quail-lspawn and quail-rspawn share: requests in on
 * fd 0, one child per request, replies out on fd 1 (protocol in spawn.h).
 *
 * One poll() waits on fd 0, fd 1 (while replies are pending), every
 * child's output pipe and a self-pipe the SIGCHLD handler writes to, with
 * the nearest delivery deadline as its timeout. Nothing blocks: fd 1 and
 * the pipes are non-blocking, so a busy quail-send that is itself writing
 * requests cannot deadlock against us. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control.h"
#include "exitcode.h"
#include "fmt.h"
#include "io.h"
#include "log.h"
#include "spawn.h"

#define JOB_DIGITS_MAX 20
#define PIPE_DRAIN_MAX (1024 * 1024)  /* Linux's default pipe-max-size */

struct child {
	pid_t pid;              /* 0 once reaped */
	int fd;                 /* output pipe; -1 once closed */
	int status;
	int timedout;
	long long deadline;     /* io_now_ms(); 0 none */
	struct str req;         /* the request's bytes, r points into them */
	struct spawn_req r;
	struct str out;
};

struct loop {
	const struct spawner *sp;
	struct str in;          /* request bytes not yet dispatched */
	size_t scan;            /* bytes of in already scanned */
	size_t field;           /* where the current field starts */
	size_t nfields;         /* fields ended in the current request */
	int in_open;
	int bad;                /* exit 111 once drained */
	struct str out;         /* replies not yet written */
	size_t outpos;
	int out_dead;
	struct child **kids;
	size_t nkids, capkids;
	struct pollfd *pfd;
	size_t capfd;
};

static int selfpipe[2] = { -1, -1 };

static void on_sigchld(int sig)
{
	int saved = errno;

	(void)sig;
	/* full pipe: a wakeup is pending already */
	if (write(selfpipe[1], "", 1) < 0) {
		/* nothing to do */
	}
	errno = saved;
}

void spawn_result(struct str *reply, char code, const char *text,
                  size_t len)
{
	size_t i, kept = 0, start;

	while (len && (unsigned char)text[len - 1] <= ' ')
		len--;
	while (len && (unsigned char)*text <= ' ') {
		text++;
		len--;
	}
	if (!str_catc(reply, code))
		die_nomem();
	start = reply->len;
	for (i = 0; i < len && kept < SPAWN_TEXT_MAX; i++) {
		if (!text[i])
			continue;
		if (!str_catc(reply, text[i]))
			die_nomem();
		kept++;
	}
	/* cutting may leave white space at the end */
	while (reply->len > start &&
	       (unsigned char)reply->s[reply->len - 1] <= ' ')
		reply->len--;
	if (!str_catc(reply, 0))
		die_nomem();
}

void spawn_child_exit(const char *p, size_t n, int code)
{
	io_writeall(1, p, n);
	_exit(code);
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* fds 0, 1 and 2 must be open, or a pipe could land on one of them. */
static void setup_fds(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd < 0)
		die_kv(EXIT_TEMP, "event", "open", "file", "/dev/null", (char *)0);
	close(fd);
}

static void setup_signals(void)
{
	struct sigaction sa;

	if (pipe2(selfpipe, O_CLOEXEC | O_NONBLOCK) < 0)
		die_kv(EXIT_TEMP, "event", "pipe", "error", strerror(errno),
		       (char *)0);
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	/* a vanished quail-send shows as EPIPE on fd 1, not as death */
	if (sigaction(SIGPIPE, &sa, 0) < 0)
		die_kv(EXIT_TEMP, "event", "sigaction", (char *)0);
	sa.sa_handler = on_sigchld;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	if (sigaction(SIGCHLD, &sa, 0) < 0)
		die_kv(EXIT_TEMP, "event", "sigaction", (char *)0);
}

/* In the new child: the fds and signals spawn.h promises, then the
 * spawner's part. */
static void child_run(const struct spawner *sp, const struct spawn_req *r,
                      int messfd, int outfd)
{
	struct sigaction sa;
	sigset_t none;

	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGPIPE, &sa, 0);
	sigaction(SIGCHLD, &sa, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, 0);
	setpgid(0, 0);
	if (dup2(messfd, 0) < 0 || dup2(outfd, 1) < 0)
		_exit(EXIT_TEMP);
	close(messfd);
	close(outfd);
	sp->child(r);
}

/* Answers every recipient of c's request with one code and text. */
static void answer_all(struct str *reply, const struct child *c, char code,
                       const char *text)
{
	size_t i;

	for (i = 0; i < c->r.nrcpt; i++)
		spawn_result(reply, code, text, strlen(text));
}

/* Starts c: 1 child running, 0 answered at once into reply. */
static int child_start(struct loop *l, struct child *c, struct str *reply)
{
	int messfd, p[2];
	pid_t pid;

	messfd = open(c->r.mess, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (messfd < 0) {
		log_kv("warn", "event", "open", "job", c->r.job, "file",
		       c->r.mess, "error", strerror(errno), (char *)0);
		answer_all(reply, c, 'Z', "unable to open message (#4.3.0)");
		return 0;
	}
	if (pipe2(p, O_CLOEXEC) < 0) {
		log_kv("warn", "event", "pipe", "job", c->r.job, "error",
		       strerror(errno), (char *)0);
		close(messfd);
		answer_all(reply, c, 'Z', "unable to make a pipe (#4.3.0)");
		return 0;
	}
	pid = fork();
	if (pid == 0)
		child_run(l->sp, &c->r, messfd, p[1]);
	close(messfd);
	close(p[1]);
	if (pid < 0) {
		log_kv("warn", "event", "fork", "job", c->r.job, "error",
		       strerror(errno), (char *)0);
		close(p[0]);
		answer_all(reply, c, 'Z', "unable to fork (#4.3.0)");
		return 0;
	}
	if (set_nonblock(p[0]) < 0)
		die_kv(EXIT_TEMP, "event", "fcntl", (char *)0);
	c->pid = pid;
	c->fd = p[0];
	if (l->sp->timeout)
		c->deadline = io_now_ms() + (long long)l->sp->timeout * 1000;
	return 1;
}

static void child_free(struct child *c)
{
	str_free(&c->req);
	str_free(&c->out);
	free(c);
}

/* Queues a finished reply for fd 1. */
static void reply_queue(struct loop *l, const struct child *c,
                        const struct str *reply)
{
	size_t i, n = 0;

	for (i = 0; i < reply->len; i++)
		n += !reply->s[i];
	/* job\0 and one NUL per result: anything else is a bug here */
	if (n != c->r.nrcpt + 1)
		die_kv(EXIT_TEMP, "event", "bug", "job", c->r.job, "what",
		       "result count", (char *)0);
	if (l->out_dead)
		return;
	if (!str_catb(&l->out, reply->s, reply->len))
		die_nomem();
}

static struct str reply_start(const struct child *c)
{
	struct str reply = STR_ZERO;

	if (!str_cats(&reply, c->r.job) || !str_catc(&reply, 0))
		die_nomem();
	return reply;
}

/* A child that has exited and whose pipe is closed: its reply. */
static void child_done(struct loop *l, struct child *c)
{
	struct str reply = reply_start(c);
	char num[FMT_ULONG];

	if (c->timedout && WIFSIGNALED(c->status)) {
		log_kv("warn", "event", "timeout", "job", c->r.job, "seconds",
		       fmt_u(num, l->sp->timeout), (char *)0);
		answer_all(&reply, c, 'Z', "delivery timed out (#4.3.0)");
	} else {
		l->sp->finish(&c->r, c->status, c->out.s ? c->out.s : "",
		              c->out.len, &reply);
	}
	reply_queue(l, c, &reply);
	str_free(&reply);
}

/* Reads what c's pipe holds, up to SPAWN_READ_MAX bytes a call while c
 * runs, so a chatty child cannot starve the others. Closes it at EOF, or
 * once c has exited and the pipe is drained: a grandchild holding the pipe
 * open (or writing on) must not hold up the reply. */
static void child_read(struct loop *l, struct child *c)
{
	char buf[4096];
	ssize_t n = 0;
	size_t room, total = 0, max = SPAWN_READ_MAX;

	/* an exited child's output is all in the pipe, at most its size */
	if (!c->pid)
		max = l->sp->out_max + PIPE_DRAIN_MAX;
	while (total < max) {
		n = read(c->fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		total += (size_t)n;
		/* past out_max, keep reading so the child never blocks */
		room = l->sp->out_max - c->out.len;
		if (room > (size_t)n)
			room = (size_t)n;
		if (room && !str_catb(&c->out, buf, room))
			die_nomem();
	}
	if (c->pid && (n > 0 || (n < 0 && errno == EAGAIN)))
		return;
	close(c->fd);
	c->fd = -1;
}

static struct child *child_find(struct loop *l, pid_t pid)
{
	size_t i;

	for (i = 0; i < l->nkids; i++)
		if (l->kids[i]->pid == pid)
			return l->kids[i];
	return 0;
}

static void reap(struct loop *l)
{
	char buf[64];
	struct child *c;
	pid_t pid;
	int st;

	while (read(selfpipe[0], buf, sizeof buf) > 0)
		;
	for (;;) {
		pid = waitpid(-1, &st, WNOHANG);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid <= 0)
			return;
		c = child_find(l, pid);
		if (!c)
			continue;
		c->pid = 0;
		c->status = st;
		if (c->fd >= 0)
			child_read(l, c);
	}
}

/* Replies for finished children; they leave the table. */
static void sweep(struct loop *l)
{
	size_t i = 0;

	while (i < l->nkids) {
		struct child *c = l->kids[i];

		if (c->pid || c->fd >= 0) {
			i++;
			continue;
		}
		child_done(l, c);
		child_free(c);
		l->kids[i] = l->kids[--l->nkids];
	}
}

static void kids_add(struct loop *l, struct child *c)
{
	size_t cap;
	struct child **k;

	if (l->nkids == l->capkids) {
		if (__builtin_mul_overflow(l->capkids ? l->capkids : 8, 2, &cap))
			die_nomem();
		k = reallocarray(l->kids, cap, sizeof *k);
		if (!k)
			die_nomem();
		l->kids = k;
		l->capkids = cap;
	}
	l->kids[l->nkids++] = c;
}

/* Points c->r at the fields of c->req (NUL-separated, counted already). */
static void req_fields(struct child *c)
{
	const char *p = c->req.s, *end = c->req.s + c->req.len;
	const char **f[3] = { &c->r.job, &c->r.mess, &c->r.sender };
	size_t k;

	for (k = 0; k < 3; k++) {
		*f[k] = p;
		p += strlen(p) + 1;
	}
	c->r.nrcpt = 0;
	while (p < end && *p) {
		c->r.rcpt[c->r.nrcpt++] = p;
		p += strlen(p) + 1;
	}
}

/* A complete request p[0..n): start its delivery. */
static void dispatch(struct loop *l, const char *p, size_t n)
{
	struct child *c = calloc(1, sizeof *c);
	struct str reply;

	if (!c || !str_copyb(&c->req, p, n))
		die_nomem();
	c->fd = -1;
	req_fields(c);
	if (l->sp->check && !l->sp->check(&c->r)) {
		log_kv("fatal", "event", "malformed", "job", c->r.job, "what",
		       "recipients", (char *)0);
		l->bad = 1;
		l->in_open = 0;
		child_free(c);
		return;
	}
	reply = reply_start(c);
	if (child_start(l, c, &reply)) {
		kids_add(l, c);
	} else {
		reply_queue(l, c, &reply);
		child_free(c);
	}
	str_free(&reply);
}

static int valid_job(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || n > JOB_DIGITS_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	return 1;
}

/* "mess/" and then only digits and '/': never a path out of the queue,
 * which matters because quail-lspawn opens it as root. */
static int valid_mess(const char *p, size_t n)
{
	size_t i;

	if (n <= 5 || memcmp(p, "mess/", 5))
		return 0;
	for (i = 5; i < n; i++)
		if (!(p[i] >= '0' && p[i] <= '9') && p[i] != '/')
			return 0;
	return 1;
}

/* One field in[field..end) has ended: 1 the request goes on, 0 it is
 * malformed, 2 it is complete. */
static int field_end(struct loop *l, size_t end)
{
	const char *p = l->in.s + l->field;
	size_t n = end - l->field;

	switch (l->nfields) {
	case 0:
		return valid_job(p, n);
	case 1:
		return valid_mess(p, n);
	case 2:
		return 1;
	default:
		if (n == 0)
			return l->nfields > 3 ? 2 : 0;
		return l->nfields - 3 < l->sp->rcpt_max;
	}
}

/* Scans new input for complete requests and dispatches them. */
static void parse(struct loop *l)
{
	size_t i, done = 0;
	int r = 1;

	for (i = l->scan; i < l->in.len && !l->bad; i++) {
		if (l->in.s[i]) {
			if (i - l->field >= SPAWN_FIELD_MAX)
				r = 0;
			if (!r)
				break;
			continue;
		}
		r = field_end(l, i);
		if (r == 0)
			break;
		l->nfields++;
		l->field = i + 1;
		if (r == 2) {
			dispatch(l, l->in.s + done, i + 1 - done);
			done = i + 1;
			l->nfields = 0;
		}
	}
	if (r == 0) {
		log_kv("fatal", "event", "malformed", "what", "request",
		       "field", l->nfields < 3 ? "header" : "recipient",
		       (char *)0);
		l->bad = 1;
		l->in_open = 0;
	}
	if (l->bad)
		return;
	memmove(l->in.s, l->in.s + done, l->in.len - done);
	l->in.len -= done;
	l->field -= done;
	l->scan = l->in.len;
}

static void read_input(struct loop *l)
{
	ssize_t n;

	if (!str_ready(&l->in, SPAWN_READ_MAX))
		die_nomem();
	n = read(0, l->in.s + l->in.len, SPAWN_READ_MAX);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0) {
		l->in.len += (size_t)n;
		parse(l);
		return;
	}
	l->in_open = 0;
	if (n < 0 || l->in.len) {
		log_kv("fatal", "event", n < 0 ? "read" : "truncated", "error",
		       n < 0 ? strerror(errno) : 0, (char *)0);
		l->bad = 1;
	}
}

static void write_output(struct loop *l)
{
	ssize_t n;

	while (l->outpos < l->out.len) {
		n = write(1, l->out.s + l->outpos, l->out.len - l->outpos);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			/* nobody to answer: stop taking work, finish what runs */
			log_kv("fatal", "event", "write", "error", strerror(errno),
			       (char *)0);
			l->out_dead = l->bad = 1;
			l->in_open = 0;
			break;
		}
		l->outpos += (size_t)n;
	}
	l->out.len = l->outpos = 0;
}

/* Kills children past their deadline; returns the poll timeout until the
 * next one, or -1. */
static int deadlines(struct loop *l)
{
	long long now = io_now_ms(), next = -1, left;
	size_t i;

	for (i = 0; i < l->nkids; i++) {
		struct child *c = l->kids[i];

		if (!c->pid || !c->deadline || c->timedout)
			continue;
		left = c->deadline - now;
		if (left <= 0) {
			/* the group too: what the delivery started dies with it */
			kill(-c->pid, SIGKILL);
			kill(c->pid, SIGKILL);
			c->timedout = 1;
			continue;
		}
		if (next < 0 || left < next)
			next = left;
	}
	if (next > 86400000)
		next = 86400000;
	return (int)next;
}

static size_t build_pollfds(struct loop *l)
{
	size_t n = 0, i, need;
	struct pollfd *p;

	if (__builtin_add_overflow(l->nkids, 3, &need))
		die_nomem();
	if (need > l->capfd || !l->pfd) {
		p = reallocarray(l->pfd, need, sizeof *p);
		if (!p)
			die_nomem();
		l->pfd = p;
		l->capfd = need;
	}
	l->pfd[n].fd = selfpipe[0];
	l->pfd[n++].events = POLLIN;
	l->pfd[n].fd = l->in_open ? 0 : -1;
	l->pfd[n++].events = POLLIN;
	l->pfd[n].fd = l->outpos < l->out.len ? 1 : -1;
	l->pfd[n++].events = POLLOUT;
	for (i = 0; i < l->nkids; i++) {
		l->pfd[n].fd = l->kids[i]->fd;
		l->pfd[n++].events = POLLIN;
	}
	return n;
}

static void step(struct loop *l)
{
	size_t n, i;
	int t, r;

	t = deadlines(l);
	n = build_pollfds(l);
	r = poll(l->pfd, n, t);
	if (r < 0 && errno != EINTR)
		die_kv(EXIT_TEMP, "event", "poll", "error", strerror(errno),
		       (char *)0);
	if (r <= 0)
		return;
	/* children first: the table is in pollfd order until sweep */
	for (i = 0; i < l->nkids; i++)
		if (l->pfd[3 + i].fd >= 0 && l->pfd[3 + i].revents)
			child_read(l, l->kids[i]);
	if (l->pfd[0].revents)
		reap(l);
	sweep(l);
	if (l->in_open && l->pfd[1].revents)
		read_input(l);
}

int spawn_run(const struct spawner *sp)
{
	struct loop l;

	memset(&l, 0, sizeof l);
	l.sp = sp;
	l.in_open = 1;
	if (sp->rcpt_max < 1 || sp->rcpt_max > SPAWN_RCPT_MAX)
		die_kv(EXIT_TEMP, "event", "bug", "what", "rcpt_max", (char *)0);
	setup_fds();
	setup_signals();
	if (set_nonblock(1) < 0)
		die_kv(EXIT_TEMP, "event", "fcntl", "fd", "1", (char *)0);
	while (l.in_open || l.nkids || (l.outpos < l.out.len && !l.out_dead)) {
		step(&l);
		write_output(&l);
	}
	str_free(&l.in);
	str_free(&l.out);
	free(l.kids);
	free(l.pfd);
	return l.bad ? EXIT_TEMP : 0;
}

const char *spawn_init(struct spawner *sp, const char *name, int argc,
                       const char *envname, const char *ctl,
                       const char *progenv, const char *def)
{
	unsigned long long t;
	const char *p;

	log_init(name);
	if (argc != 1)
		die_kv(EXIT_PERM, "event", "usage", "usage", name, (char *)0);
	if (setting_ulong(envname, ctl, &t, sp->timeout) < 0 ||
	    t > 10 * 86400ULL * 365)
		die_kv(EXIT_TEMP, "event", "config", "setting", ctl, (char *)0);
	sp->timeout = (unsigned long)t;
	p = getenv(progenv);
	return p && *p ? p : def;
}
