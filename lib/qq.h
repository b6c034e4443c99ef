#ifndef QUAIL_QQ_H
#define QUAIL_QQ_H

#include <sys/types.h>

#include "io.h"
#include "str.h"

/* The client side of the qmail-queue interface, shared by every program
 * that queues mail (quail-smtpd, quail-inject, quail-local's forwards,
 * quail-send's bounces). It runs $QUAILQUEUE, else BINDIR/quail-queue,
 * with the message on its fd 0, the envelope on its fd 1 and its reply
 * text (notqmail's exit 82, and quail-queue's "K<id>") on fd 6.
 *
 *	qq_start(&q);
 *	qq_put(&q, hdr, n); ...            message bytes, LF line ends
 *	qq_env_from(&env, sender); qq_env_rcpt(&env, rcpt); ...
 *	r = qq_finish(&q, &env, &text);    or qq_abort(&q) to queue nothing
 *
 * Callers ignore SIGPIPE: a queue program that refuses a message may exit
 * before reading all of it, and qq_finish then reports its exit status.
 */
struct qq {
	pid_t pid;
	int msgfd, envfd, errfd;
	int failed;             /* a write to the queue failed */
	struct wr w;
	char buf[16384];
};

enum { QQ_R_OK = 0, QQ_R_TEMP = 1, QQ_R_PERM = 2 };

/* Starts the queue program: 0 ok, -1 with errno set. */
int qq_start(struct qq *);
/* Message bytes; a failure is remembered and reported by qq_finish. */
void qq_put(struct qq *, const char *, size_t);
void qq_puts(struct qq *, const char *);
/* Ends the message, sends the envelope and waits for the queue program.
 * Returns QQ_R_OK, QQ_R_TEMP or QQ_R_PERM; text gets, NUL-terminated,
 * the queue ID on success (empty when the program gave none), or an
 * explanation starting with an RFC 3463 code ("4.3.0 ...") on failure. */
int qq_finish(struct qq *, const struct str *env, struct str *text);
/* Ends the child without an envelope, so nothing is queued. */
void qq_abort(struct qq *);

/* Building a qmail-queue envelope: from once, rcpt per recipient; the
 * terminating NUL is added by qq_finish. 1 ok, 0 no memory. */
int qq_env_from(struct str *env, const char *sender, size_t len);
int qq_env_rcpt(struct str *env, const char *rcpt, size_t len);

/* What an exit status of the queue program means (for callers that run
 * it themselves): as qq_finish, with text from fd 6 in errtext. */
int qq_status(int wstatus, const char *errtext, size_t errlen,
              struct str *text);

#endif
