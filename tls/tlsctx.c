/* The OpenSSL side of quail-tlsd (see tlsctx.h). Certificate files are
 * read into memory while quail-tlsd is still privileged; a handshake
 * parses only the chain and key it picks, after the privileges are gone,
 * so a directory of many names costs reads, not parses. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "exitcode.h"
#include "fmt.h"
#include "io.h"
#include "log.h"
#include "tlsctx.h"

static void die_config(int code, const char *error, const char *file)
{
	char buf[200];

	die_kv(code, "event", "config", "error", error, "file", file,
	       "ssl", tlsctx_error(buf, sizeof buf), NULL);
}

const char *tlsctx_error(char *buf, size_t cap)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : 0;
	size_t i;

	if (!r || cap == 0)
		return "-";
	for (i = 0; r[i] && i + 1 < cap; i++)
		buf[i] = r[i] == ' ' ? '_' : r[i];
	buf[i] = 0;
	return buf;
}

/* Reads a whole certificate or key file into out. */
static void file_read(const char *path, struct str *out)
{
	struct stat st;
	char buf[8192];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		die_kv(errno_temporary(errno) ? EXIT_TEMP : EXIT_PERM,
		       "event", "config", "error", "open", "file", path, NULL);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		die_kv(EXIT_PERM, "event", "config", "error", "not_a_file",
		       "file", path, NULL);
	out->len = 0;
	for (;;) {
		n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die_kv(EXIT_TEMP, "event", "config", "error", "read",
			       "file", path, NULL);
		if (n == 0)
			break;
		if (out->len + (size_t)n > TLS_CERTFILE_MAX)
			die_kv(EXIT_PERM, "event", "config", "error", "too_big",
			       "file", path, NULL);
		if (!str_catb(out, buf, (size_t)n))
			die_nomem();
	}
	OPENSSL_cleanse(buf, sizeof buf);
	close(fd);
}

static struct tls_cert *cert_find(struct tlsctx *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->ncerts; i++)
		if (!strcmp(t->certs[i].name, name))
			return &t->certs[i];
	return 0;
}

static struct tls_cert *cert_add(struct tlsctx *t, const char *name)
{
	struct tls_cert *c = cert_find(t, name);

	if (c)
		return c;
	if (t->ncerts >= TLS_CERTS_MAX)
		die_kv(EXIT_PERM, "event", "config", "error", "too_many_certs",
		       NULL);
	if (t->ncerts % 16 == 0) {
		c = realloc(t->certs, (t->ncerts + 16) * sizeof *c);
		if (!c)
			die_nomem();
		t->certs = c;
	}
	c = &t->certs[t->ncerts++];
	memset(c, 0, sizeof *c);
	memcpy(c->name, name, strlen(name) + 1);
	return c;
}

static void path_make(struct str *p, const char *dir, const char *file)
{
	if (!str_copys(p, dir) || !str_catc(p, '/') || !str_cats(p, file) ||
	    !str_0(p))
		die_nomem();
}

/* CERTDIR: NAME.pem, or NAME.crt and NAME.key, for each name. */
static void certdir_load(struct tlsctx *t, const char *dir)
{
	char name[CTL_HOST_MAX + 3];
	struct str path = STR_ZERO;
	struct dirent *d;
	struct tls_cert *c;
	int kind;
	DIR *dp = opendir(dir);

	if (!dp)
		die_kv(EXIT_TEMP, "event", "config", "error", "opendir",
		       "file", dir, NULL);
	while ((errno = 0, d = readdir(dp)) != 0) {
		if (!ctl_certfile(d->d_name, strlen(d->d_name), name, &kind))
			continue;
		path_make(&path, dir, d->d_name);
		c = cert_add(t, name);
		if (kind == CTL_KEY) {
			if (c->key.len)
				die_config(EXIT_PERM, "two_keys", path.s);
			file_read(path.s, &c->key);
		} else {
			if (c->pem.len)
				die_config(EXIT_PERM, "two_certs", path.s);
			file_read(path.s, &c->pem);
		}
		if (kind != CTL_KEY && c->pem.len == 0)
			die_config(EXIT_PERM, "empty", path.s);
	}
	if (errno)
		die_kv(EXIT_TEMP, "event", "config", "error", "readdir",
		       "file", dir, NULL);
	closedir(dp);
	str_free(&path);
	for (size_t i = 0; i < t->ncerts; i++)
		if (t->certs[i].pem.len == 0)
			die_kv(EXIT_PERM, "event", "config", "error",
			       "key_without_cert", "name", t->certs[i].name,
			       "file", dir, NULL);
}

static void certs_load(struct tlsctx *t)
{
	const char *certfile = getenv("CERTFILE");
	const char *keyfile = getenv("KEYFILE");
	const char *dir = getenv("CERTDIR");
	struct tls_cert *c;

	if (certfile && *certfile) {
		c = cert_add(t, "default");
		file_read(certfile, &c->pem);
		if (keyfile && *keyfile)
			file_read(keyfile, &c->key);
	} else if (keyfile && *keyfile) {
		die_kv(EXIT_PERM, "event", "config", "error",
		       "keyfile_without_certfile", NULL);
	}
	if (dir && *dir) {
		if (t->ncerts)
			die_kv(EXIT_PERM, "event", "config", "error",
			       "certfile_and_certdir", NULL);
		certdir_load(t, dir);
	}
	if (t->ncerts == 0)
		die_kv(EXIT_PERM, "event", "config", "error", "no_certificate",
		       NULL);
}

/* Never prompt for a pass phrase on a terminal: keys are unencrypted. */
static int no_passphrase(char *buf, int size, int rw, void *u)
{
	(void)buf;
	(void)size;
	(void)rw;
	(void)u;
	return 0;
}

/* Parses c and puts it on ssl: 1 ok, 0 bad chain or key. */
static int cert_use(SSL *ssl, const struct tls_cert *c)
{
	const struct str *k = c->key.len ? &c->key : &c->pem;
	BIO *b = BIO_new_mem_buf(c->pem.s, (int)c->pem.len);
	BIO *kb = BIO_new_mem_buf(k->s, (int)k->len);
	STACK_OF(X509) *chain = sk_X509_new_null();
	X509 *x = 0, *ca;
	EVP_PKEY *key = 0;
	int ok = 0;

	if (!b || !kb || !chain)
		goto done;
	x = PEM_read_bio_X509_AUX(b, 0, no_passphrase, 0);
	if (!x)
		goto done;
	while ((ca = PEM_read_bio_X509(b, 0, no_passphrase, 0)) != 0)
		if (!sk_X509_push(chain, ca)) {
			X509_free(ca);
			goto done;
		}
	/* The loop ends on "no start line": not an error. */
	ERR_clear_error();
	key = PEM_read_bio_PrivateKey(kb, 0, no_passphrase, 0);
	if (!key)
		goto done;
	ok = SSL_use_cert_and_key(ssl, x, key, chain, 1) == 1;
done:
	X509_free(x);
	EVP_PKEY_free(key);
	sk_X509_pop_free(chain, X509_free);
	BIO_free(b);
	BIO_free(kb);
	return ok;
}

/* Runs once the ClientHello is in: picks the certificate by SNI name,
 * then the "*." name one level up, then "default". */
static int cert_pick(SSL *ssl, void *arg)
{
	struct tlsctx *t = arg;
	const char *sn = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	char wild[CTL_HOST_MAX + 3];
	struct tls_cert *c = 0;

	if (t->cert_set)
		return 1;
	if (!sn || !ctl_host(sn, strlen(sn), t->sni))
		t->sni[0] = 0;
	if (t->sni[0]) {
		c = cert_find(t, t->sni);
		if (!c && ctl_wildcard(t->sni, wild))
			c = cert_find(t, wild);
	}
	if (!c)
		c = cert_find(t, "default");
	if (!c || !cert_use(ssl, c))
		return 0;
	t->cert_set = 1;
	return 1;
}

static void ca_load(SSL_CTX *ctx)
{
	const char *cafile = getenv("CAFILE");
	int require = ctl_flag(getenv("VERIFYCLIENT"));
	STACK_OF(X509_NAME) *names;

	if (require < 0)
		die_kv(EXIT_PERM, "event", "config", "error", "bad_verifyclient",
		       NULL);
	if (!cafile || !*cafile) {
		if (require)
			die_kv(EXIT_PERM, "event", "config", "error",
			       "verifyclient_without_cafile", NULL);
		return;
	}
	if (SSL_CTX_load_verify_locations(ctx, cafile, 0) != 1)
		die_config(EXIT_TEMP, "cafile", cafile);
	names = SSL_load_client_CA_file(cafile);
	if (!names)
		die_config(EXIT_TEMP, "cafile", cafile);
	SSL_CTX_set_client_CA_list(ctx, names);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (require ?
	                   SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), 0);
}

void tlsctx_load(struct tlsctx *t)
{
	const char *ciphers = getenv("CIPHERS");
	const char *suites = getenv("CIPHERSUITES");
	SSL_CTX *ctx;

	/* The settings are this environment, not openssl.cnf. */
	if (!OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG, 0))
		die_config(EXIT_TEMP, "init", "-");
	certs_load(t);
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		die_config(EXIT_TEMP, "ssl_ctx", "-");
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION))
		die_config(EXIT_TEMP, "protocol", "-");
	if (!SSL_CTX_set_cipher_list(ctx, ciphers && *ciphers ? ciphers :
	                             TLS_CIPHERS_DEFAULT))
		die_config(EXIT_PERM, "bad_ciphers", "-");
	if (suites && *suites && !SSL_CTX_set_ciphersuites(ctx, suites))
		die_config(EXIT_PERM, "bad_ciphersuites", "-");
	/* Each connection is its own process with its own random ticket
	 * key, so a ticket could never be used: do not make any. Clients
	 * may not renegotiate (a cheap way to make the server work). */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION |
	                    SSL_OP_NO_COMPRESSION);
	/* A client that closes the TCP connection without close_notify
	 * has ended its input, like any other EOF: the mail protocols
	 * frame their own data, so a truncation shows there. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	                 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	SSL_CTX_set_cert_cb(ctx, cert_pick, t);
	ca_load(ctx);
	t->ctx = ctx;
}

SSL *tlsctx_new(struct tlsctx *t, int rfd, int wfd)
{
	SSL *ssl = SSL_new(t->ctx);

	if (!ssl || !SSL_set_rfd(ssl, rfd) || !SSL_set_wfd(ssl, wfd))
		return 0;
	return ssl;
}

static const char *accept_error(SSL *ssl, int r, char *buf, size_t cap)
{
	unsigned long e;

	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_ZERO_RETURN:
		return "eof";
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error())
			break;
		if (r == 0 || errno == 0)
			return "eof";
		return errno == ECONNRESET ? "reset" : "io";
	default:
		break;
	}
	e = ERR_peek_last_error();
	if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
		return "eof";
	return tlsctx_error(buf, cap);
}

const char *tlsctx_accept(SSL *ssl, int rfd, int wfd, long long deadline,
                          char *buf, size_t cap)
{
	int r, w;

	for (;;) {
		ERR_clear_error();
		errno = 0;
		r = SSL_accept(ssl);
		if (r == 1)
			return 0;
		switch (SSL_get_error(ssl, r)) {
		case SSL_ERROR_WANT_READ:
			w = io_wait(rfd, POLLIN, -1, deadline);
			break;
		case SSL_ERROR_WANT_WRITE:
			w = io_wait(wfd, POLLOUT, -1, deadline);
			break;
		default:
			return accept_error(ssl, r, buf, cap);
		}
		if (w == 0)
			return "timeout";
		if (w < 0)
			return "poll";
	}
}

static int info_hex(struct str *out, const char *name, X509 *peer)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	char txt[7 + 2 * EVP_MAX_MD_SIZE];
	unsigned int n, i;

	if (!X509_digest(peer, EVP_sha256(), md, &n))
		return 1;                /* leave the variable out */
	memcpy(txt, "SHA256:", 7);
	for (i = 0; i < n; i++) {
		txt[7 + 2 * i] = hex[md[i] >> 4];
		txt[8 + 2 * i] = hex[md[i] & 15];
	}
	return ctl_info_add(out, name, txt, 7 + 2 * (size_t)n);
}

static int info_subject(struct str *out, const char *name, X509 *peer)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;
	int ok = 1;

	if (!b)
		return 0;
	/* RFC 2253 escaping turns bytes outside ASCII into \XX. */
	if (X509_NAME_print_ex(b, X509_get_subject_name(peer), 0,
	                       XN_FLAG_RFC2253) >= 0) {
		n = BIO_get_mem_data(b, &p);
		if (n >= 0)
			ok = ctl_info_add(out, name, p, (size_t)n);
	}
	BIO_free(b);
	return ok;
}

static int info_num(struct str *out, const char *name, int v)
{
	char num[FMT_ULONG];

	return ctl_info_add(out, name, num,
	                    fmt_ulong(num, v > 0 ? (unsigned)v : 0));
}

int tlsctx_info(struct tlsctx *t, SSL *ssl, struct str *out)
{
	const char *proto = SSL_get_version(ssl);
	const char *cipher = SSL_get_cipher_name(ssl);
	X509 *peer = SSL_get0_peer_certificate(ssl);
	int alg = 0, use = SSL_get_cipher_bits(ssl, &alg);

	out->len = 0;
	if (!ctl_info_add(out, "SSL_PROTOCOL", proto, strlen(proto)) ||
	    !ctl_info_add(out, "SSL_CIPHER", cipher, strlen(cipher)) ||
	    !info_num(out, "SSL_CIPHER_USEKEYSIZE", use) ||
	    !info_num(out, "SSL_CIPHER_ALGKEYSIZE", alg))
		return 0;
	if (t->sni[0] && !ctl_info_add(out, "SSL_TLS_SNI_SERVERNAME", t->sni,
	                               strlen(t->sni)))
		return 0;
	if (peer && SSL_get_verify_result(ssl) == X509_V_OK &&
	    (!info_subject(out, "SSL_PEER_CERT_SUBJECT", peer) ||
	     !info_hex(out, "SSL_PEER_CERT_HASH", peer)))
		return 0;
	return ctl_info_end(out);
}
