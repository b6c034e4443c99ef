#ifndef QUAIL_REMOTE_SMTP_H
#define QUAIL_REMOTE_SMTP_H

/* The SMTP client side of quail-remote (RFC 5321): one session with one
 * host over a connected struct conn: greeting, EHLO (HELO when EHLO is
 * refused), STARTTLS per policy, AUTH to a smarthost, then MAIL, RCPT
 * and DATA, pipelined when offered, and the message, with CRLF line ends
 * and dot-stuffing. */

#include <stddef.h>

#include "remote_conn.h"
#include "str.h"

/* Per-recipient state, kept across the hosts tried. */
enum { RCPT_PENDING = 0, RCPT_OK = 'r', RCPT_PERM = 'h', RCPT_TEMP = 's' };

struct smtp_job {
	const char *sender;
	const char *const *rcpt;
	size_t nrcpt;
	char *state;            /* nrcpt states */
	struct str *text;       /* nrcpt texts */
	int msgfd;              /* the message, LF line ends, seekable */
	unsigned long long size;        /* its size with CRLF line ends */
	int eightbit;           /* it has bytes above 127 */
	const char *helo;
	int tls;                /* TLS_NONE ... TLS_VERIFY */
	int tls_tried_failed;   /* set by smtp_session: STARTTLS broke */
	const char *cafile;     /* for TLS_VERIFY; NULL: system CAs */
	const char *user, *pass;        /* AUTH, or NULL */
	int auth_plaintext;     /* AUTH allowed without TLS */
	int timeout_ms;         /* per read */
	int skip_tls;           /* do not STARTTLS (a retry after it broke) */
};

/* How one session ended. */
struct smtp_result {
	char code;              /* 'K', 'Z' or 'D' */
	int next;               /* 1: the next host may be tried */
	struct str text;
	char tls[128];          /* the TLS in use, empty for none */
};

/* Runs one session with host (its name, for TLS and texts) at ip (for
 * texts) over c. Fills res, and the recipients' states and texts. */
void smtp_session(struct smtp_job *j, struct conn *c, const char *host,
                  const char *ip, struct smtp_result *res);

#endif
