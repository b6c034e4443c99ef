/* quail-tlsd: TLS for a UCSPI server application, in its own process.
 *
 * Usage: quail-tlsd [-n] [-u user] [-t timeout] prog [arg...]
 *
 * Runs under tcpserver with the client on fd 0 (read) and fd 1 (write).
 * Reads its certificates (CERTFILE/KEYFILE or CERTDIR; CAFILE) while
 * privileged, starts prog as a child, then drops to the TLS user (-u, or
 * TLS_UID/TLS_GID) before it reads a byte from the network.
 *   implicit TLS (no -n): handshakes at once; prog gets plaintext on fd
 *     0/1 (pipes to this process) and SSL_* variables in its environment.
 *   STARTTLS (-n): prog gets the connection itself on fd 0/1, and
 *     SSLCTLFD, SSLREADFD, SSLWRITEFD; it writes 'y' or 'Y' to SSLCTLFD
 *     to start TLS, then talks through the other two (quail-tlsd.8).
 * Relays both directions until they close, then waits for prog.
 * Logs one line per connection on fd 2. Never logs keys or contents.
 * Exit: prog's exit status (111 if a signal killed it); 0 when the
 * handshake failed before prog started (the client's failure, logged);
 * 100 bad usage or settings; 111 unreadable certificates or a failed
 * system call.
 * Runs as root only until the certificates are read.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>

#include "ctl.h"
#include "exitcode.h"
#include "fmt.h"
#include "io.h"
#include "log.h"
#include "relay.h"
#include "str.h"
#include "tlsctx.h"

/* Seconds for the handshake (-t) and without traffic (TLSIDLE). */
#define HANDSHAKE_DEFAULT 30
#define HANDSHAKE_MAX 3600
#define IDLE_DEFAULT 1200
#define IDLE_MAX 86400

struct cfg {
	int starttls;                 /* -n */
	int have_user;
	uid_t uid;
	gid_t gid;
	unsigned long long handshake_s, idle_s;
	char **prog;
	const char *ip;
};

struct tlsd {
	struct cfg cfg;
	struct tlsctx tls;
	SSL *ssl;
	pid_t pid;                    /* the application */
	struct str info;
	char errbuf[120];
};

/* Written by the SIGCHLD handler: the relay polls the read end. */
static int exit_pipe[2] = { -1, -1 };

/* Settings the engine reads; prog does not inherit them. */
static const char *const engine_vars[] = {
	"CERTFILE", "KEYFILE", "CERTDIR", "CAFILE", "VERIFYCLIENT", "CIPHERS",
	"CIPHERSUITES", "TLS_UID", "TLS_GID", "TLSIDLE", 0
};

static void usage(void)
{
	die_kv(EXIT_PERM, "event", "usage", "error",
	       "usage:_quail-tlsd_[-n]_[-u_user]_[-t_timeout]_prog_[arg...]",
	       NULL);
}

static void user_set(struct cfg *c, const char *name)
{
	struct passwd *pw = getpwnam(name);

	if (!pw)
		die_kv(EXIT_PERM, "event", "config", "error", "no_such_user",
		       "user", name, NULL);
	c->uid = pw->pw_uid;
	c->gid = pw->pw_gid;
	c->have_user = 1;
}

static void user_env(struct cfg *c)
{
	const char *u = getenv("TLS_UID"), *g = getenv("TLS_GID");
	unsigned long uid, gid;

	if (c->have_user || (!u && !g))
		return;
	if (!ctl_id(u, &uid) || !ctl_id(g, &gid))
		die_kv(EXIT_PERM, "event", "config", "error", "bad_tls_uid_gid",
		       NULL);
	c->uid = (uid_t)uid;
	c->gid = (gid_t)gid;
	c->have_user = 1;
}

static void config_load(struct cfg *c, int argc, char **argv)
{
	const char *idle = getenv("TLSIDLE");
	int opt;

	c->handshake_s = HANDSHAKE_DEFAULT;
	c->idle_s = IDLE_DEFAULT;
	while ((opt = getopt(argc, argv, "+nu:t:")) != -1) {
		switch (opt) {
		case 'n':
			c->starttls = 1;
			break;
		case 'u':
			user_set(c, optarg);
			break;
		case 't':
			if (!ctl_seconds(optarg, HANDSHAKE_MAX, &c->handshake_s))
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	c->prog = argv + optind;
	user_env(c);
	if (idle && *idle && !ctl_seconds(idle, IDLE_MAX, &c->idle_s))
		die_kv(EXIT_PERM, "event", "config", "error", "bad_tlsidle", NULL);
	/* No process that parses network input runs as root. */
	if (geteuid() == 0 && (!c->have_user || c->uid == 0))
		die_kv(EXIT_PERM, "event", "config", "error", "root_without_user",
		       NULL);
	c->ip = getenv("TCPREMOTEIP");
	if (!c->ip)
		c->ip = "unknown";
}

static int priv_drop(const struct cfg *c)
{
	if (!c->have_user)
		return 0;
	if (geteuid() == 0 && setgroups(1, &c->gid) < 0)
		return -1;
	if (setgid(c->gid) < 0 || setuid(c->uid) < 0)
		return -1;
	if (getuid() != c->uid || geteuid() != c->uid ||
	    getgid() != c->gid || getegid() != c->gid)
		return -1;
	if (c->uid != 0 && setuid(0) == 0)
		return -1;
	return 0;
}

static void on_child(int sig)
{
	int e = errno;

	(void)sig;
	if (write(exit_pipe[1], "x", 1) < 0) {
		/* full pipe: the relay has been told already */
	}
	errno = e;
}

static int cloexec(int fd, int on)
{
	return fcntl(fd, F_SETFD, on ? FD_CLOEXEC : 0);
}

static void signals_init(void)
{
	struct sigaction sa;

	if (pipe2(exit_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		die_kv(EXIT_TEMP, "event", "pipe", "error", "pipe", NULL);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_child;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGCHLD, &sa, 0) < 0)
		die_kv(EXIT_TEMP, "event", "sigaction", "error", "sigaction", NULL);
}

/* In the child: the environment prog gets, and prog. */
static void __attribute__((noreturn)) app_exec(struct tlsd *t)
{
	size_t i;
	const char *name;

	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	for (i = 0; engine_vars[i]; i++)
		unsetenv(engine_vars[i]);
	execvp(t->cfg.prog[0], t->cfg.prog);
	name = t->cfg.prog[0];
	log_kv("fatal", "event", "exec", "error", errno == ENOENT ? "ENOENT" :
	       "exec", "prog", name, NULL);
	_exit(EXIT_TEMP);
}

static void env_clear(void)
{
	const char *n;
	size_t i;

	for (i = 0; (n = ctl_info_name(i)) != 0; i++)
		unsetenv(n);
	unsetenv("SSLCTLFD");
	unsetenv("SSLREADFD");
	unsetenv("SSLWRITEFD");
}

/* Reads the info block from the engine: its length, or 0 when the
 * engine closed the pipe first (no handshake, so no application). */
static size_t info_read(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	ssize_t n;
	long done;

	for (;;) {
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		len += (size_t)n;
		done = ctl_info_check(buf, len);
		if (done > 0)
			return (size_t)done;
		if (done < 0 || len == cap)
			_exit(EXIT_TEMP);
	}
}

/* The child in implicit mode: waits until the handshake is done, then
 * runs prog with the pipes as fd 0/1 and the session's SSL_* variables.
 * The engine that sends them parses network input, so only the names
 * ctl_name_ok allows are taken from it. */
static void __attribute__((noreturn)) child_implicit(struct tlsd *t,
                                                    int in[2], int out[2],
                                                    int info[2])
{
	static char buf[CTL_INFO_MAX + 1];
	char name[64];
	struct ctl_var v;
	size_t len, pos = 0;
	int info_r = info[0];

	/* The engine's ends go, or the info pipe would never see EOF. */
	close(in[1]);
	close(out[0]);
	close(info[1]);
	if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0)
		_exit(EXIT_TEMP);
	len = info_read(info_r, buf, sizeof buf);
	if (len == 0)
		_exit(0);
	env_clear();
	while (ctl_info_next(buf, len, &pos, &v) == 1) {
		if (v.namelen >= sizeof name)
			_exit(EXIT_TEMP);
		memcpy(name, v.name, v.namelen);
		name[v.namelen] = 0;
		if (setenv(name, v.value, 1) < 0)
			_exit(EXIT_TEMP);
	}
	close(info_r);
	app_exec(t);
}

static int env_fd(const char *name, int fd)
{
	char num[FMT_ULONG];

	return cloexec(fd, 0) < 0 ? -1 : setenv(name, fmt_u(num, (unsigned)fd), 1);
}

/* The child in STARTTLS mode: prog at once, on the connection itself. */
static void __attribute__((noreturn)) child_starttls(struct tlsd *t, int ctl,
                                                    int in_r, int out_w)
{
	env_clear();
	if (env_fd("SSLCTLFD", ctl) < 0 || env_fd("SSLREADFD", in_r) < 0 ||
	    env_fd("SSLWRITEFD", out_w) < 0)
		_exit(EXIT_TEMP);
	app_exec(t);
}

static int app_wait(struct tlsd *t)
{
	int st;

	while (waitpid(t->pid, &st, 0) < 0)
		if (errno != EINTR)
			return EXIT_TEMP;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return EXIT_TEMP;
}

static void die_sys(const char *what)
{
	die_kv(EXIT_TEMP, "event", what, "error", "syscall", NULL);
}

/* Non-blocking, and without Nagle: the relay writes whole records as
 * they come, and a small one held back for an ACK (the last reply, then
 * close_notify) would wait out the client's delayed ACK. */
static int net_nonblock(void)
{
	int fd, fl, one = 1;

	for (fd = 0; fd <= 1; fd++) {
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 &&
		    errno != ENOTSOCK && errno != EOPNOTSUPP)
			return -1;
		fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
			return -1;
	}
	return 0;
}

/* Right after the fork, before any byte from the network or prog. */
static int engine_drop(struct tlsd *t)
{
	if (priv_drop(&t->cfg) == 0)
		return 0;
	log_kv("fatal", "event", "setuid", "error", "cannot_drop", NULL);
	return -1;
}

/* Shakes hands: NULL on success, else why not. */
static const char *tls_start(struct tlsd *t)
{
	long long deadline;

	if (net_nonblock() < 0)
		return "fcntl";
	t->ssl = tlsctx_new(&t->tls, 0, 1);
	if (!t->ssl)
		return "ssl_new";
	deadline = io_now_ms() + (long long)t->cfg.handshake_s * 1000;
	return tlsctx_accept(t->ssl, 0, 1, deadline, t->errbuf,
	                     sizeof t->errbuf);
}

static void log_fail(struct tlsd *t, const char *why)
{
	log_kv("info", "event", "handshake", "result", "fail", "error", why,
	       "ip", t->cfg.ip, NULL);
}

static const char *nz(const char *s)
{
	return s && *s ? s : 0;
}

/* Relays until the session ends; logs its one line. */
static void session_run(struct tlsd *t, int app_rfd, int app_wfd)
{
	struct relay r;
	char in[FMT_ULONG], out[FMT_ULONG];

	memset(&r, 0, sizeof r);
	r.ssl = t->ssl;
	r.net_rfd = 0;
	r.net_wfd = 1;
	r.app_rfd = app_rfd;
	r.app_wfd = app_wfd;
	r.exit_fd = exit_pipe[0];
	r.idle_ms = (int)t->cfg.idle_s * 1000;
	relay_run(&r);
	log_kv("info", "event", "tls", "result", r.error ? "fail" : "ok",
	       "protocol", SSL_get_version(t->ssl),
	       "cipher", SSL_get_cipher_name(t->ssl), "sni", nz(t->tls.sni),
	       "bytes_in", fmt_u(in, r.bytes_in),
	       "bytes_out", fmt_u(out, r.bytes_out), "ip", t->cfg.ip,
	       "error", r.error, NULL);
	close(0);
	close(1);
}

static int run_implicit(struct tlsd *t)
{
	int in[2], out[2], info[2];
	const char *why;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
	    pipe2(info, O_CLOEXEC) < 0)
		die_sys("pipe");
	t->pid = fork();
	if (t->pid < 0)
		die_sys("fork");
	if (t->pid == 0)
		child_implicit(t, in, out, info);
	close(in[0]);
	close(out[1]);
	close(info[0]);
	if (engine_drop(t) < 0) {
		close(info[1]);
		app_wait(t);
		return EXIT_TEMP;
	}
	why = tls_start(t);
	if (!why && !tlsctx_info(&t->tls, t->ssl, &t->info))
		why = "nomem";
	if (why) {
		log_fail(t, why);
		close(info[1]);
		close(in[1]);
		close(out[0]);
		app_wait(t);
		return 0;
	}
	if (io_writeall(info[1], t->info.s, t->info.len) < 0)
		log_kv("warn", "event", "info", "error", "write", NULL);
	close(info[1]);
	session_run(t, out[0], in[1]);
	return app_wait(t);
}

/* Waits for the application's request on the control socket. */
static int ctl_wait(int ctl)
{
	struct pollfd p[2];
	char buf[64];
	ssize_t n;
	int r;

	for (;;) {
		p[0].fd = ctl;
		p[0].events = POLLIN;
		p[1].fd = exit_pipe[0];
		p[1].events = POLLIN;
		p[0].revents = p[1].revents = 0;
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return CTL_NONE;
		}
		if (p[0].revents) {
			n = read(ctl, buf, sizeof buf);
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0)
				return CTL_NONE;
			r = ctl_scan(buf, (size_t)n);
			if (r != CTL_NONE)
				return r;
			continue;
		}
		if (p[1].revents)
			return CTL_NONE;    /* prog exited without TLS */
	}
}

static int run_starttls(struct tlsd *t)
{
	int ctl[2], in[2], out[2], req;
	const char *why;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) < 0 ||
	    pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		die_sys("pipe");
	t->pid = fork();
	if (t->pid < 0)
		die_sys("fork");
	if (t->pid == 0)
		child_starttls(t, ctl[1], in[0], out[1]);
	close(ctl[1]);
	close(in[0]);
	close(out[1]);
	req = engine_drop(t) < 0 ? CTL_NONE : ctl_wait(ctl[0]);
	if (req == CTL_NONE) {
		/* Plaintext to the end: the connection is prog's alone. */
		close(ctl[0]);
		close(in[1]);
		close(out[0]);
		close(0);
		close(1);
		return app_wait(t);
	}
	why = tls_start(t);
	if (!why && req == CTL_START_INFO &&
	    !tlsctx_info(&t->tls, t->ssl, &t->info))
		why = "nomem";
	if (why) {
		log_fail(t, why);
		close(ctl[0]);
		close(in[1]);
		close(out[0]);
		close(0);
		close(1);
		return app_wait(t);
	}
	if (req == CTL_START_INFO &&
	    io_writeall(ctl[0], t->info.s, t->info.len) < 0)
		log_kv("warn", "event", "info", "error", "write", NULL);
	close(ctl[0]);
	session_run(t, out[0], in[1]);
	return app_wait(t);
}

int main(int argc, char **argv)
{
	static struct tlsd t = { .tls = TLSCTX_ZERO, .info = STR_ZERO };

	log_init("quail-tlsd");
	config_load(&t.cfg, argc, argv);      /* bad usage: 100 */
	tlsctx_load(&t.tls);                  /* as root: certificates */
	signals_init();
	/* A client or prog that goes away is an EPIPE, not a signal. prog
	 * gets SIGPIPE back in app_exec. */
	signal(SIGPIPE, SIG_IGN);
	if (t.cfg.starttls)
		return run_starttls(&t);
	return run_implicit(&t);
}
