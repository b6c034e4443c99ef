/* STARTTLS for quail-smtpd over UCSPI-TLS (quail-tlsd -n, sslserver -n):
 * the wrapper's descriptors come in SSLCTLFD, SSLREADFD and SSLWRITEFD,
 * UCSPITLS says whether to offer or require it, and after 'Y' the wrapper
 * sends the TLS session's description on the control descriptor. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcode.h"
#include "fmt.h"
#include "log.h"
#include "smtpd.h"

/* A descriptor number from the environment, or -1. */
static int env_fd(const char *name)
{
	const char *e = getenv(name);
	unsigned long long n;

	if (!e || !scan_ulong(e, strlen(e), &n) || n > INT_MAX)
		return -1;
	return (int)n;
}

/* UCSPI-TLS (quail-tlsd -n, sslserver -n): STARTTLS is offered when the
 * wrapper gave us its descriptors and UCSPITLS is "" (offer) or "!"
 * (required before MAIL and AUTH); unset or "-" is no STARTTLS. */
void tls_config(void)
{
	const char *u = getenv("UCSPITLS");

	cfg.tlsctl = env_fd("SSLCTLFD");
	cfg.tlsrd = env_fd("SSLREADFD");
	cfg.tlswr = env_fd("SSLWRITEFD");
	cfg.tlsoffer = u && (!*u || *u == '!') && cfg.tlsctl >= 0 &&
	               cfg.tlsrd >= 0 && cfg.tlswr >= 0;
	cfg.tlsrequire = cfg.tlsoffer && *u == '!';
	/* ours alone: the queue and checkpassword children need none */
	if (cfg.tlsoffer) {
		fcntl(cfg.tlsctl, F_SETFD, FD_CLOEXEC);
		fcntl(cfg.tlsrd, F_SETFD, FD_CLOEXEC);
		fcntl(cfg.tlswr, F_SETFD, FD_CLOEXEC);
	}
}

/* What Received says of the TLS session: protocol and cipher, as the
 * wrapper named them, cut and made printable. */
void tls_info(struct session *s, const char *proto, const char *cipher)
{
	const char *v[2];
	size_t i, k;

	v[0] = proto;
	v[1] = cipher;
	s->tlsinfo.len = 0;
	for (k = 0; k < 2; k++) {
		if (!v[k] || !*v[k])
			continue;
		if (s->tlsinfo.len && !str_catc(&s->tlsinfo, ' '))
			die_nomem();
		for (i = 0; v[k][i] && i < 64; i++) {
			char c = v[k][i];

			if (!str_catc(&s->tlsinfo, c > 32 && c < 127 && c != '(' &&
			              c != ')' ? c : '?'))
				die_nomem();
		}
	}
}

/* After 'Y', quail-tlsd (like sslserver) sends "VAR=value\0...\0\0" on the
 * control descriptor once the handshake is done. Only SSL_PROTOCOL and
 * SSL_CIPHER are kept; a wrapper that sends nothing leaves them out. */
static void tls_read_info(struct session *s)
{
	struct str blob = STR_ZERO, proto = STR_ZERO, cipher = STR_ZERO;
	char buf[1024];
	size_t i, j;
	ssize_t n;

	while (blob.len < 16384) {
		if (io_wait(cfg.tlsctl, POLLIN, s->in.timeout, s->in.deadline) <= 0)
			break;
		n = read(cfg.tlsctl, buf, sizeof buf);
		if (n <= 0)
			break;
		if (!str_catb(&blob, buf, (size_t)n))
			die_nomem();
		if (blob.len >= 2 && !blob.s[blob.len - 1] && !blob.s[blob.len - 2])
			break;
	}
	for (i = 0; i < blob.len; i = j + 1) {
		j = i + byte_chr(blob.s + i, blob.len - i, 0);
		if (j - i > 13 && !memcmp(blob.s + i, "SSL_PROTOCOL=", 13))
			str_copyb(&proto, blob.s + i + 13, j - i - 13);
		if (j - i > 11 && !memcmp(blob.s + i, "SSL_CIPHER=", 11))
			str_copyb(&cipher, blob.s + i + 11, j - i - 11);
	}
	if (!str_0(&proto) || !str_0(&cipher))
		die_nomem();
	tls_info(s, proto.s, cipher.s);
	str_free(&blob);
	str_free(&proto);
	str_free(&cipher);
}

/* RFC 3207. Whatever the client sent after STARTTLS is thrown away
 * unread (CVE-2011-0411: commands pipelined in plaintext must never run
 * inside TLS); the wrapper reads nothing from the socket before our 'y',
 * so such bytes can only be taken as the TLS handshake. All that was
 * learnt before (HELO, AUTH, the transaction) is forgotten. */
void smtp_starttls(struct session *s)
{
	if (!cfg.tlsoffer || s->tls) {
		reply_err(s, "502 5.5.1", s->tls ? "already in TLS"
		          : "STARTTLS not available");
		return;
	}
	reply(s, "220 2.0.0", "ready to start TLS");
	out_flush(s);
	s->in.pos = s->in.end = 0;
	if (io_writeall(cfg.tlsctl, "Y", 1) < 0) {
		log_kv("warn", "event", "starttls", "sid", s->sid, "error",
		       strerror(errno), (char *)0);
		session_exit(s, EXIT_TEMP);
	}
	tls_read_info(s);
	close(cfg.tlsctl);
	s->in.fd = cfg.tlsrd;
	s->out.fd = cfg.tlswr;
	s->tls = 1;
	s->esmtp = 0;
	s->helo.len = 0;
	s->auth_user.len = 0;
	mail_reset(s);
	log_kv("info", "event", "starttls", "sid", s->sid, (char *)0);
}

