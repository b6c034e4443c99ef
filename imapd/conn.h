#ifndef QUAIL_IMAPD_CONN_H
#define QUAIL_IMAPD_CONN_H

#include <stddef.h>

#include "io.h"
#include "str.h"

/* The client connection of either stage: commands in (whole, literals
 * included, with "+ OK" continuations sent for synchronising literals),
 * responses out through one large buffer flushed at the end of each
 * reply.
 *
 * The one exception is an APPEND's message, which may be up to
 * IMAP_APPEND_MAX bytes: conn_command stops at its literal marker and
 * leaves the bytes unread, so they can go to a file through a fixed
 * buffer instead of memory. c->cmd then holds an empty literal "{0}" in
 * the message's place (the command parses as usual) and c->lit what the
 * client announced. The handler checks the command, then reads the
 * bytes with conn_literal_start, conn_literal_chunk and
 * conn_literal_end; a literal it does not take is dropped by the next
 * conn_command (refused when synchronising, read and thrown away when
 * not, so the stream stays in step). */

#define CONN_RBUF 16384
#define CONN_WBUF 65536

#define CONN_DISCARD_MAX (1024ULL * 1024 * 1024) /* bytes of non-synchronising
                                             * literals read and thrown away
                                             * for one refused command */

enum {
	LIT_NONE = 0,
	LIT_PENDING,            /* announced, no byte taken, no "+" sent */
	LIT_READING             /* being read: left bytes to go */
};

struct conn_lit {
	int state;
	int sync;               /* "{N}": the client waits for "+" */
	unsigned long long size, left;
};

struct conn {
	struct rd r;
	struct wr w;
	char rbuf[CONN_RBUF];
	char wbuf[CONN_WBUF];
	struct str cmd;         /* the last command read */
	struct str line;
	int werr;               /* a write failed: the session is over */
	struct conn_lit lit;    /* an APPEND message not yet read */
};

enum {
	CONN_OK = 0,
	CONN_EOF,
	CONN_ERR,               /* read error or timeout, errno set */
	CONN_LONG,              /* line or non-synchronising literal past its
	                         * limit: say BYE and hang up */
	CONN_BIG,               /* synchronising literal refused: the client
	                         * sends nothing more of this command */
	CONN_NOMEM,
	CONN_MORE               /* conn_literal_end: arguments followed the
	                         * literal (read and dropped) */
};

void conn_init(struct conn *c, int rfd, int wfd, int timeout_ms);
/* Reads one command into c->cmd (without its final line ending). */
int conn_command(struct conn *c);
/* Starts reading c->lit: sends the continuation of a synchronising
 * literal. CONN_OK or CONN_ERR. */
int conn_literal_start(struct conn *c);
/* The next bytes of c->lit, in the read buffer (valid until the next
 * read): CONN_OK with *n > 0, CONN_EOF or CONN_ERR. Call only while
 * c->lit.left > 0. */
int conn_literal_chunk(struct conn *c, const char **p, size_t *n);
/* After the last byte, the end of the command: CONN_OK when nothing
 * followed the literal, CONN_MORE when arguments did (they are read and
 * dropped), or CONN_EOF, CONN_ERR, CONN_LONG, CONN_NOMEM. */
int conn_literal_end(struct conn *c);
/* Drops c->lit and the rest of its command (see above): CONN_OK, or
 * CONN_EOF, CONN_ERR, CONN_LONG (over CONN_DISCARD_MAX), CONN_NOMEM. */
int conn_literal_drop(struct conn *c);
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
