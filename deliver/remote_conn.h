#ifndef QUAIL_REMOTE_CONN_H
#define QUAIL_REMOTE_CONN_H

/* One SMTP connection of quail-remote: a non-blocking socket with a
 * timeout on every wait, plain at first and TLS (OpenSSL) after
 * STARTTLS, with a write buffer. OpenSSL is used here and in quail-tlsd
 * only. */

#include <stddef.h>
#include <sys/types.h>

#include "remote_dns.h"
#include "str.h"

#define CONN_WBUF 16384

enum { TLS_NONE, TLS_MAY, TLS_ENCRYPT, TLS_VERIFY };

struct conn {
	int fd;
	void *ssl;              /* SSL *, once TLS is up */
	int timeout;            /* ms per read or write wait */
	char wbuf[CONN_WBUF];
	size_t wlen;
	char tls_info[128];     /* "TLSv1.3 TLS_AES_256_GCM_SHA384" */
};

/* Connects to a, from the source address src (NULL: any) within
 * timeout_ms: 0 ok, -1 with errno set (ETIMEDOUT, ECONNREFUSED, ...). */
int conn_open(struct conn *c, const struct dns_addr *a,
              const struct dns_addr *src, int timeout_ms);
void conn_close(struct conn *c);

/* Reads what is there (waiting up to the timeout): > 0 bytes, 0 EOF,
 * -1 error with errno (ETIMEDOUT, EPROTO for a TLS error). */
ssize_t conn_read(struct conn *c, char *buf, size_t n);
/* Buffered writes; 0 ok, -1 error with errno. */
int conn_put(struct conn *c, const char *p, size_t n);
int conn_flush(struct conn *c);

/* TLS on the connection after the 220 to STARTTLS. policy TLS_VERIFY
 * checks the chain (against cafile, or the system's CAs when NULL) and
 * that the certificate names host. 0 ok; -1 with a reason in err. */
int conn_starttls(struct conn *c, const char *host, int policy,
                  const char *cafile, struct str *err);

#endif
