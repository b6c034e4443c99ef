#ifndef QUAIL_REMOTE_REPLY_H
#define QUAIL_REMOTE_REPLY_H

/* SMTP replies as a client reads them (RFC 5321 4.2): one or more lines
 * "NNN-text" ending with "NNN text" (or a bare "NNN"), each ending in CRLF
 * (a bare LF is taken too). The parser is fed bytes as they arrive and
 * owns no fd, so it can be driven by a unit test and a fuzzer alike.
 *
 * What the peer sends is hostile: every line, the number of lines and
 * the text kept have limits, and the text kept is sanitised (bytes
 * outside printable ASCII become '?') so it can go into a log line or a
 * bounce as is. Continuation lines are joined with " / ". */

#include <stddef.h>

#include "str.h"

#define REPLY_LINE_MAX 2048     /* bytes in one reply line, CRLF included */
#define REPLY_LINES_MAX 200     /* lines in one reply */
#define REPLY_TEXT_MAX 1000     /* bytes of text kept; the rest is cut */

enum {
	REPLY_MORE = 0,         /* all bytes used; the reply goes on */
	REPLY_DONE = 1,         /* a whole reply; *used says how far */
	REPLY_ELONG = -1,       /* a line longer than REPLY_LINE_MAX */
	REPLY_EMANY = -2,       /* more than REPLY_LINES_MAX lines */
	REPLY_ESYNTAX = -3,     /* not "NNN", "NNN-..." or "NNN ..." */
	REPLY_ECODE = -4,       /* lines of one reply disagree on the code */
	REPLY_ENOMEM = -5
};

struct ehlo;

struct reply {
	int code;               /* 200..599 once done; 0 before */
	struct str text;        /* the lines' text, sanitised, joined */
	struct str line;        /* the line being read (no terminator) */
	size_t nlines;
	int done;
	/* When set, each line after the first goes to ehlo_line as it is
	 * read: the caller sets it before reading an EHLO reply. */
	struct ehlo *ehlo;
};

#define REPLY_ZERO { 0, STR_ZERO, STR_ZERO, 0, 0, 0 }

/* What an EHLO reply says the server supports. */
struct ehlo {
	int pipelining, size, eightbit, starttls;
	int auth_plain, auth_login;
	unsigned long long size_max;    /* 0: no limit given */
};

/* Empties r for the next reply (keeps its memory). */
void reply_reset(struct reply *r);
void reply_free(struct reply *r);

/* Feeds p[0..n). Returns REPLY_DONE with *used the bytes that made up
 * the reply (the rest belongs to the next one), REPLY_MORE with *used ==
 * n, or an error (negative; the connection cannot be trusted after it).
 * After REPLY_DONE, call reply_reset before feeding again. */
int reply_feed(struct reply *r, const char *p, size_t n, size_t *used);

/* A short name for an error code, for logs and reports. */
const char *reply_error(int err);

/* Notes the keyword in one EHLO line's text (after "250-"), e.g.
 * "PIPELINING", "SIZE 1000000" or "AUTH PLAIN LOGIN". */
void ehlo_line(struct ehlo *e, const char *p, size_t n);

#endif
