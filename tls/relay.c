/* The relay between a TLS session and the application's pipes (relay.h).
 *
 * One loop tries every step that can run (read the client, write the
 * app, read the app, write the client, close a direction) and polls only
 * when none moved, so a byte goes on as soon as it arrives and no timer
 * adds latency. Each direction holds at most one buffer: while it waits
 * to be written, its source is not read, so a slow reader slows its
 * writer instead of growing memory. SSL_read and SSL_write may each need
 * the socket readable or writable (TLS 1.3 key updates, partial records);
 * each remembers which, and is retried when poll says so. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "relay.h"
#include "tlsctx.h"

struct state {
	struct relay *r;
	char ib[RELAY_BUF];        /* client to app */
	size_t ipos, ilen;
	char ob[RELAY_BUF];        /* app to client */
	size_t opos, olen;
	short rd_wait;             /* SSL_read needs POLLIN or POLLOUT */
	short wr_wait;             /* SSL_write or SSL_shutdown does */
	int app_w_wait, app_r_wait;
	int net_in_done;           /* no more reading from the client */
	int net_out_done;          /* close_notify sent, socket half-closed */
	int app_out_done;          /* the app's output is at its end */
	int app_exited;
	int progress;
};

static int fail(struct state *s, const char *why)
{
	s->r->error = why;
	return -1;
}

/* An OpenSSL failure: a short reason, as tlsctx_accept gives. */
static int ssl_fail(struct state *s, int ret, int err)
{
	/* the app has said all it had to (221 after QUIT, say): a client
	 * that then hangs up without close_notify ends the session cleanly */
	if (err == SSL_ERROR_SYSCALL && !ERR_peek_error() && s->app_out_done &&
	    (ret == 0 || errno == 0 || errno == ECONNRESET || errno == EPIPE))
		return -1;
	if (err == SSL_ERROR_SYSCALL && !ERR_peek_error())
		return fail(s, ret == 0 || errno == 0 ? "eof" :
		            errno == ECONNRESET ? "reset" :
		            errno == EPIPE ? "eof" : "io");
	return fail(s, tlsctx_error(s->r->errbuf, sizeof s->r->errbuf));
}

static void app_in_close(struct state *s)
{
	if (s->r->app_wfd >= 0)
		close(s->r->app_wfd);
	s->r->app_wfd = -1;
	s->ipos = s->ilen = 0;
}

static int net_read(struct state *s)
{
	int n, e;

	ERR_clear_error();
	errno = 0;
	n = SSL_read(s->r->ssl, s->ib, RELAY_BUF);
	if (n > 0) {
		s->ipos = 0;
		s->ilen = (size_t)n;
		s->r->bytes_in += (unsigned)n;
		s->progress = 1;
		return 0;
	}
	e = SSL_get_error(s->r->ssl, n);
	if (e == SSL_ERROR_WANT_READ)
		s->rd_wait = POLLIN;
	else if (e == SSL_ERROR_WANT_WRITE)
		s->rd_wait = POLLOUT;
	else if (e == SSL_ERROR_ZERO_RETURN) {
		/* close_notify, or a plain EOF (IGNORE_UNEXPECTED_EOF) */
		s->net_in_done = 1;
		s->progress = 1;
	} else
		return ssl_fail(s, n, e);
	return 0;
}

static void app_write(struct state *s)
{
	ssize_t n = write(s->r->app_wfd, s->ib + s->ipos, s->ilen - s->ipos);

	if (n > 0) {
		s->ipos += (size_t)n;
		if (s->ipos == s->ilen)
			s->ipos = s->ilen = 0;
		s->progress = 1;
	} else if (n < 0 && errno == EAGAIN) {
		s->app_w_wait = 1;
	} else if (n < 0 && errno == EINTR) {
		s->progress = 1;
	} else {
		/* The app closed its input (or exited): what the client
		 * sends from now on has nowhere to go. */
		app_in_close(s);
		s->net_in_done = 1;
		s->progress = 1;
	}
}

static void app_read(struct state *s)
{
	ssize_t n = read(s->r->app_rfd, s->ob, RELAY_BUF);

	if (n > 0) {
		s->opos = 0;
		s->olen = (size_t)n;
		s->r->bytes_out += (size_t)n;
		s->progress = 1;
	} else if (n < 0 && errno == EAGAIN) {
		/* An app that exited wrote all it will; a child it left
		 * behind holding the pipe must not keep the session. */
		if (s->app_exited)
			s->app_out_done = 1;
		else
			s->app_r_wait = 1;
	} else if (n < 0 && errno == EINTR) {
		s->progress = 1;
	} else {
		s->app_out_done = 1;
		s->progress = 1;
	}
}

static int net_write(struct state *s)
{
	int n, e;

	ERR_clear_error();
	errno = 0;
	n = SSL_write(s->r->ssl, s->ob + s->opos, (int)(s->olen - s->opos));
	if (n > 0) {
		s->opos += (size_t)n;
		if (s->opos == s->olen)
			s->opos = s->olen = 0;
		s->progress = 1;
		return 0;
	}
	e = SSL_get_error(s->r->ssl, n);
	if (e == SSL_ERROR_WANT_READ)
		s->wr_wait = POLLIN;
	else if (e == SSL_ERROR_WANT_WRITE)
		s->wr_wait = POLLOUT;
	else
		return ssl_fail(s, n, e);
	return 0;
}

/* The app's output ended: send close_notify, then a TCP FIN, and keep
 * reading what the client still sends (a half-close). */
static void net_close(struct state *s)
{
	int n, e;

	ERR_clear_error();
	n = SSL_shutdown(s->r->ssl);
	if (n < 0) {
		e = SSL_get_error(s->r->ssl, n);
		if (e == SSL_ERROR_WANT_WRITE) {
			s->wr_wait = POLLOUT;
			return;
		}
		if (e == SSL_ERROR_WANT_READ) {
			s->wr_wait = POLLIN;
			return;
		}
	}
	if (shutdown(s->r->net_wfd, SHUT_WR) < 0 && errno == ENOTSOCK)
		close(s->r->net_wfd);
	s->net_out_done = 1;
	s->progress = 1;
}

static int step(struct state *s)
{
	struct relay *r = s->r;

	if (!s->net_in_done && s->ilen == 0 && !s->rd_wait && net_read(s) < 0)
		return -1;
	if (s->ilen > 0 && !s->app_w_wait)
		app_write(s);
	if (s->net_in_done && s->ilen == 0 && r->app_wfd >= 0) {
		app_in_close(s);
		s->progress = 1;
	}
	if (!s->app_out_done && s->olen == 0 && !s->app_r_wait)
		app_read(s);
	if (s->olen > 0 && !s->wr_wait && net_write(s) < 0)
		return -1;
	if (s->app_out_done && s->olen == 0 && !s->net_out_done && !s->wr_wait)
		net_close(s);
	return 0;
}

static int finished(struct state *s)
{
	if (!s->net_out_done)
		return 0;
	return s->r->app_wfd < 0 || s->app_exited;
}

static void add(struct pollfd *p, int *n, int fd, short ev)
{
	p[*n].fd = fd;
	p[*n].events = ev;
	p[*n].revents = 0;
	(*n)++;
}

/* Waits for whatever the blocked steps wait on: 1 something is ready,
 * 0 idle timeout, -1 error. */
static int wait_io(struct state *s)
{
	struct relay *r = s->r;
	struct pollfd p[5];
	int n = 0, i, got;
	char junk[64];

	if (s->rd_wait == POLLIN || s->wr_wait == POLLIN)
		add(p, &n, r->net_rfd, POLLIN);
	if (s->rd_wait == POLLOUT || s->wr_wait == POLLOUT)
		add(p, &n, r->net_wfd, POLLOUT);
	if (s->app_w_wait)
		add(p, &n, r->app_wfd, POLLOUT);
	if (s->app_r_wait)
		add(p, &n, r->app_rfd, POLLIN);
	if (!s->app_exited && r->exit_fd >= 0)
		add(p, &n, r->exit_fd, POLLIN);
	got = poll(p, (nfds_t)n, r->idle_ms);
	if (got <= 0)
		return got < 0 && errno == EINTR ? 1 : got;
	for (i = 0; i < n; i++) {
		if (!p[i].revents)
			continue;
		if (p[i].fd == r->exit_fd) {
			while (read(r->exit_fd, junk, sizeof junk) > 0)
				;
			s->app_exited = 1;
			s->app_r_wait = 0;
			continue;
		}
		if (p[i].events == POLLIN && p[i].fd == r->net_rfd) {
			if (s->rd_wait == POLLIN)
				s->rd_wait = 0;
			if (s->wr_wait == POLLIN)
				s->wr_wait = 0;
		}
		if (p[i].events == POLLOUT && p[i].fd == r->net_wfd) {
			if (s->rd_wait == POLLOUT)
				s->rd_wait = 0;
			if (s->wr_wait == POLLOUT)
				s->wr_wait = 0;
		}
		if (p[i].fd == r->app_wfd && p[i].events == POLLOUT)
			s->app_w_wait = 0;
		if (p[i].fd == r->app_rfd && p[i].events == POLLIN)
			s->app_r_wait = 0;
	}
	return 1;
}

static int nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int relay_run(struct relay *r)
{
	static struct state s;        /* 32 KB: off the stack */
	int ret = 0, w;

	s = (struct state){ .r = r };
	r->error = 0;
	if (nonblock(r->app_rfd) < 0 || nonblock(r->app_wfd) < 0) {
		ret = fail(&s, "fcntl");
		goto done;
	}
	for (;;) {
		s.progress = 0;
		if (step(&s) < 0) {
			ret = -1;
			break;
		}
		if (finished(&s))
			break;
		if (s.progress)
			continue;
		w = wait_io(&s);
		if (w == 0) {
			ret = fail(&s, "idle");
			break;
		}
		if (w < 0) {
			ret = fail(&s, "poll");
			break;
		}
	}
done:
	app_in_close(&s);
	if (r->app_rfd >= 0)
		close(r->app_rfd);
	r->app_rfd = -1;
	return ret;
}
