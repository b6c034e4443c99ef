/* Connection I/O for quail-remote, plain or TLS: see remote_conn.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "io.h"
#include "remote_conn.h"

static int wait_fd(int fd, short ev, int timeout)
{
	int r = io_wait(fd, ev, timeout, 0);

	if (r == 0)
		errno = ETIMEDOUT;
	return r == 1 ? 0 : -1;
}

int conn_open(struct conn *c, const struct dns_addr *a,
              const struct dns_addr *src, int timeout_ms)
{
	int fd, err = 0;
	socklen_t len = sizeof err;

	c->fd = -1;
	c->ssl = 0;
	c->wlen = 0;
	c->tls_info[0] = 0;
	fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	            0);
	if (fd < 0)
		return -1;
	if (src && src->sa.ss_family == a->sa.ss_family &&
	    bind(fd, (const struct sockaddr *)&src->sa, src->len) < 0)
		goto fail;
	if (connect(fd, (const struct sockaddr *)&a->sa, a->len) < 0) {
		if (errno != EINPROGRESS)
			goto fail;
		if (wait_fd(fd, POLLOUT, timeout_ms) < 0)
			goto fail;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			goto fail;
		if (err) {
			errno = err;
			goto fail;
		}
	}
	c->fd = fd;
	return 0;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

void conn_close(struct conn *c)
{
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = 0;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* After an SSL call returned r <= 0: 1 when it should be retried once
 * the socket is ready, else -1 with errno set. */
static int tls_retry(struct conn *c, int r)
{
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return wait_fd(c->fd, POLLIN, c->timeout) < 0 ? -1 : 1;
	case SSL_ERROR_WANT_WRITE:
		return wait_fd(c->fd, POLLOUT, c->timeout) < 0 ? -1 : 1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (!errno)
			errno = ECONNRESET;
		return -1;
	default:
		errno = EPROTO;
		return -1;
	}
}

ssize_t conn_read(struct conn *c, char *buf, size_t n)
{
	ssize_t r;
	int t;

	if (n > 1 << 30)
		n = 1 << 30;
	if (c->ssl) {
		for (;;) {
			errno = 0;
			r = SSL_read(c->ssl, buf, (int)n);
			if (r > 0)
				return r;
			t = tls_retry(c, (int)r);
			if (t <= 0)
				return t;
		}
	}
	for (;;) {
		r = read(c->fd, buf, n);
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || wait_fd(c->fd, POLLIN, c->timeout) < 0)
			return -1;
	}
}

static ssize_t write_some(struct conn *c, const char *p, size_t n)
{
	ssize_t r;
	int t;

	if (c->ssl) {
		for (;;) {
			errno = 0;
			r = SSL_write(c->ssl, p, (int)n);
			if (r > 0)
				return r;
			t = tls_retry(c, (int)r);
			if (t <= 0) {
				if (t == 0)
					errno = EPIPE;
				return -1;
			}
		}
	}
	for (;;) {
		r = send(c->fd, p, n, MSG_NOSIGNAL);
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || wait_fd(c->fd, POLLOUT, c->timeout) < 0)
			return -1;
	}
}

int conn_flush(struct conn *c)
{
	size_t i = 0;
	ssize_t r;

	while (i < c->wlen) {
		r = write_some(c, c->wbuf + i, c->wlen - i);
		if (r < 0)
			return -1;
		i += (size_t)r;
	}
	c->wlen = 0;
	return 0;
}

int conn_put(struct conn *c, const char *p, size_t n)
{
	size_t k;

	while (n) {
		if (c->wlen == CONN_WBUF && conn_flush(c) < 0)
			return -1;
		k = CONN_WBUF - c->wlen;
		if (k > n)
			k = n;
		memcpy(c->wbuf + c->wlen, p, k);
		c->wlen += k;
		p += k;
		n -= k;
	}
	return 0;
}

static int tls_fail(struct str *err, const char *why)
{
	unsigned long e = ERR_get_error();
	const char *r = e ? ERR_reason_error_string(e) : 0;

	err->len = 0;
	if (!str_cats(err, why))
		return -1;
	if (r && (!str_cats(err, ": ") || !str_cats(err, r)))
		return -1;
	ERR_clear_error();
	return -1;
}

static SSL_CTX *tls_ctx(int policy, const char *cafile, struct str *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx)
		return tls_fail(err, "TLS setup failed"), (SSL_CTX *)0;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (policy == TLS_VERIFY) {
		if ((cafile && SSL_CTX_load_verify_locations(ctx, cafile, 0) != 1)
		    || (!cafile && SSL_CTX_set_default_verify_paths(ctx) != 1)) {
			SSL_CTX_free(ctx);
			tls_fail(err, "cannot load the CA certificates");
			return 0;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, 0);
	} else {
		/* opportunistic: encryption without authentication beats
		 * plain text (RFC 7435) */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, 0);
	}
	return ctx;
}

static int tls_handshake(struct conn *c, SSL *ssl, struct str *err)
{
	long v;
	int r, t;

	for (;;) {
		errno = 0;
		r = SSL_connect(ssl);
		if (r == 1)
			break;
		t = tls_retry(c, r);
		if (t <= 0) {
			v = SSL_get_verify_result(ssl);
			if (v != X509_V_OK) {
				err->len = 0;
				if (!str_cats(err, "TLS certificate not verified: ") ||
				    !str_cats(err, X509_verify_cert_error_string(v)))
					return -1;
				ERR_clear_error();
				return -1;
			}
			return tls_fail(err, errno == ETIMEDOUT ?
			                "TLS handshake timed out" :
			                "TLS handshake failed");
		}
	}
	return 0;
}

/* "protocol cipher" into c->tls_info, cut to fit. */
static void info_set(struct conn *c, const char *proto, const char *cipher)
{
	size_t n = 0, max = sizeof c->tls_info - 1;

	while (*proto && n < max)
		c->tls_info[n++] = *proto++;
	if (n < max)
		c->tls_info[n++] = ' ';
	while (cipher && *cipher && n < max)
		c->tls_info[n++] = *cipher++;
	c->tls_info[n] = 0;
}

int conn_starttls(struct conn *c, const char *host, int policy,
                  const char *cafile, struct str *err)
{
	SSL_CTX *ctx;
	SSL *ssl;

	ctx = tls_ctx(policy, cafile, err);
	if (!ctx)
		return -1;
	ssl = SSL_new(ctx);
	SSL_CTX_free(ctx);      /* the SSL keeps its own reference */
	if (!ssl)
		return tls_fail(err, "TLS setup failed");
	if (SSL_set_fd(ssl, c->fd) != 1 ||
	    SSL_set_tlsext_host_name(ssl, host) != 1 ||
	    (policy == TLS_VERIFY && SSL_set1_host(ssl, host) != 1)) {
		SSL_free(ssl);
		return tls_fail(err, "TLS setup failed");
	}
	c->ssl = ssl;
	if (tls_handshake(c, ssl, err) < 0)
		return -1;
	info_set(c, SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	return 0;
}
