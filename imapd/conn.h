#ifndef QUAIL_IMAPD_CONN_H
#define QUAIL_IMAPD_CONN_H

#include <stddef.h>

#include "io.h"
#include "str.h"

/* The client connection of either stage: commands in (whole, literals
 * included, with "+ OK" continuations sent for synchronising literals),
 * responses out through one large buffer flushed at the end of each
 * reply. */

#define CONN_RBUF 16384
#define CONN_WBUF 65536

struct conn {
	struct rd r;
	struct wr w;
	char rbuf[CONN_RBUF];
	char wbuf[CONN_WBUF];
	struct str cmd;         /* the last command read */
	struct str line;
	int werr;               /* a write failed: the session is over */
};

enum {
	CONN_OK = 0,
	CONN_EOF,
	CONN_ERR,               /* read error or timeout, errno set */
	CONN_LONG,              /* line or non-synchronising literal past its
	                         * limit: say BYE and hang up */
	CONN_BIG,               /* synchronising literal refused: the client
	                         * sends nothing more of this command */
	CONN_NOMEM
};

void conn_init(struct conn *c, int rfd, int wfd, int timeout_ms);
/* Reads one command into c->cmd (without its final line ending). */
int conn_command(struct conn *c);
/* Reads one line (a SASL response), without its line ending. */
int conn_line(struct conn *c, size_t max);
/* Drops input already read but not yet taken (after STARTTLS). */
void conn_discard(struct conn *c);

/* Output. Errors are sticky in c->werr; conn_flush returns -1 then. */
void conn_put(struct conn *c, const char *p, size_t n);
void conn_puts(struct conn *c, const char *s);
void conn_putu(struct conn *c, unsigned long long u);
/* A string as a quoted string when it can be one, else a literal. */
void conn_string(struct conn *c, const char *p, size_t n);
/* The same, or NIL for a NULL p. */
void conn_nstring(struct conn *c, const char *p, size_t n);
/* tag, then " ", then the text and CRLF; tag NULL gives "*". */
void conn_tagged(struct conn *c, const char *tag, size_t taglen,
                 const char *text);
/* tag (or "*") " BAD " why CRLF */
void conn_bad(struct conn *c, const char *tag, size_t taglen,
              const char *why);
int conn_flush(struct conn *c);

#endif
