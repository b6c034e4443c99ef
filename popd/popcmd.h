#ifndef QUAIL_POPCMD_H
#define QUAIL_POPCMD_H

#include <stddef.h>

#include "str.h"

/* The POP3 (RFC 1939, RFC 2449, RFC 5034) pieces both quail-popup and
 * quail-pop3d use, without I/O so they can be unit tested and fuzzed:
 * the command line parser, message numbers, the SASL PLAIN message and
 * the output transformation of a stored message (LF to CRLF, dot
 * stuffing, TOP's line limit). */

#define POP_CMD_MAX 255         /* bytes in a command line, CRLF included
                                 * (RFC 2449 4) */
#define POP_AUTH_LINE_MAX 1024  /* an AUTH line or SASL response: room for
                                 * the base64 of POP_CRED_MAX bytes */
#define POP_CRED_MAX 512        /* "login\0pass\0timestamp\0" on fd 3, the
                                 * checkpassword interface's limit */
#define POP_UIDL_MAX 70         /* bytes in a unique-id (RFC 1939 7) */

enum pop_verb {
	POP_EMPTY = 0,          /* nothing on the line */
	POP_UNKNOWN,
	POP_USER, POP_PASS, POP_APOP, POP_AUTH, POP_STLS, POP_CAPA, POP_QUIT,
	POP_STAT, POP_LIST, POP_RETR, POP_DELE, POP_NOOP, POP_RSET, POP_TOP,
	POP_UIDL
};

struct pop_cmd {
	int verb;               /* enum pop_verb */
	const char *arg;        /* after the verb and one space, or NULL */
	size_t arglen;
};

/* Strips the line end (CRLF, or a bare LF) from line[0..n): *len is what
 * is left. 1 ok; 0 when the line holds a NUL or a CR other than the one
 * before the LF (such a line is refused whole). */
int pop_line(const char *line, size_t n, size_t *len);

/* Splits a line (without its line end) into verb and argument. The verb
 * is matched without regard to case; an argument follows one space.
 * Always fills c. */
void pop_parse(const char *line, size_t n, struct pop_cmd *c);

/* A message number or line count: 1..max decimal digits, no sign, value
 * at most max: 1 ok, 0 not a number or too big. */
int pop_num(const char *p, size_t n, unsigned long long max,
            unsigned long long *out);

/* Splits arg[0..n) into two words separated by one space, as TOP takes
 * them: 1 ok, 0 when there are not exactly two non-empty words. */
int pop_two(const char *arg, size_t n, const char **a, size_t *an,
            const char **b, size_t *bn);

/* The decoded SASL PLAIN message (RFC 4616) msg[0..n): "authzid\0authcid\0
 * passwd". The authzid must be empty or the authcid (no proxy logins);
 * authcid and passwd non-empty. 1 ok (user and pass replaced), 0
 * malformed, -1 no memory. */
int pop_plain(const char *msg, size_t n, struct str *user, struct str *pass);

/* A UIDL unique-id for a Maildir file name[0..n): its unique part (up to
 * ':' and before ",S=" or ",W="). When that is empty, longer than
 * POP_UIDL_MAX or holds bytes outside 0x21..0x7e, it is replaced by "X"
 * and 16 hex digits of its FNV-1a hash. Writes at most POP_UIDL_MAX bytes
 * into out; returns the length. */
size_t pop_uidl(const char *name, size_t n, char out[POP_UIDL_MAX]);

/* Message output. Stored messages have LF line ends; POP3 sends CRLF,
 * with a '.' starting a line doubled, then ".\r\n". For TOP, the header
 * (through its blank line) and then at most `lines` body lines. */
struct pop_xf {
	int bol;                /* at the start of a line */
	int blank;              /* the current line holds only CRs so far */
	int body;               /* past the blank line ending the header */
	int limited;            /* TOP */
	int done;               /* TOP's limit reached: the rest is skipped */
	unsigned long long left;        /* body lines still to send */
};

void pop_xf_init(struct pop_xf *, int limited, unsigned long long lines);
/* Transforms in[0..n) into out, which has room for 2 * n bytes: returns
 * the bytes written. Everything is consumed; once x->done the rest of
 * the message is dropped. */
size_t pop_xf(struct pop_xf *, const char *in, size_t n, char *out);
/* The end: a CRLF for an unterminated last line, then ".\r\n". out has
 * room for POP_XF_END bytes; returns the bytes written. */
#define POP_XF_END 5
size_t pop_xf_end(struct pop_xf *, char *out);

/* The size of the CRLF form of a stored message read in pieces: feed
 * each piece, then pop_size_end. */
struct pop_size {
	unsigned long long n;
	int bol;
};
void pop_size_init(struct pop_size *);
void pop_size_add(struct pop_size *, const char *p, size_t n);
unsigned long long pop_size_end(const struct pop_size *);

#endif
