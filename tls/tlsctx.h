#ifndef QUAIL_TLS_TLSCTX_H
#define QUAIL_TLS_TLSCTX_H

/* The OpenSSL side of quail-tlsd: settings and certificates loaded while
 * privileged, the handshake, and what the application is told after it. */

#include <openssl/ssl.h>

#include "ctl.h"
#include "str.h"

/* CERTDIR names at most, and bytes in one certificate or key file. */
#define TLS_CERTS_MAX 1000
#define TLS_CERTFILE_MAX (256 * 1024)
/* TLS 1.2 ciphers unless CIPHERS says otherwise; TLS 1.3 suites are
 * OpenSSL's (AES-GCM and ChaCha20-Poly1305) unless CIPHERSUITES does. */
#define TLS_CIPHERS_DEFAULT "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"

/* One certificate chain and its key, as PEM bytes read while privileged
 * and parsed only when a handshake picks it. */
struct tls_cert {
	char name[CTL_HOST_MAX + 3];   /* host, "*.host" or "default" */
	struct str pem;                /* chain, and key when no .key */
	struct str key;                /* NAME.key or KEYFILE; may be empty */
};

struct tlsctx {
	SSL_CTX *ctx;
	struct tls_cert *certs;
	size_t ncerts;
	char sni[CTL_HOST_MAX + 1];    /* the client's name; "" if none */
	int cert_set;
};

#define TLSCTX_ZERO { 0, 0, 0, "", 0 }

/* Reads CERTFILE/KEYFILE and CERTDIR, CAFILE, VERIFYCLIENT, CIPHERS and
 * CIPHERSUITES from the environment and builds the context. Dies with a
 * log line on a bad setting (100) or an unreadable file (111). */
void tlsctx_load(struct tlsctx *);

/* A new SSL object on the connection (rfd, wfd are non-blocking). */
SSL *tlsctx_new(struct tlsctx *, int rfd, int wfd);

/* Runs the server handshake until deadline (io_now_ms() value): NULL
 * when it succeeded, else a short reason for the log ("timeout", "eof",
 * "reset", or OpenSSL's reason with '_' for spaces, in buf). */
const char *tlsctx_accept(SSL *, int rfd, int wfd, long long deadline,
                          char *buf, size_t cap);

/* The info block (ctl.h) describing the session: protocol, cipher, SNI
 * name and the client certificate. 1 ok, 0 no memory. */
int tlsctx_info(struct tlsctx *, SSL *, struct str *out);

/* OpenSSL's reason for the last error, made fit for a log value. */
const char *tlsctx_error(char *buf, size_t cap);

#endif
