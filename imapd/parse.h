#ifndef QUAIL_IMAPD_PARSE_H
#define QUAIL_IMAPD_PARSE_H

#include <stddef.h>
#include <time.h>

/* The IMAP command parser (RFC 3501 section 9, RFC 9051, RFC 7888
 * LITERAL+). Pure: no I/O. The connection code reads one whole command,
 * literals included (but an APPEND's message, which conn.h streams), into
 * a buffer (see imap_literal_end) and hands it to imap_parse, which takes it apart in place into a tree of arguments
 * whose strings point into the buffer. Command handlers then check the
 * tree against their own grammar. */

#define IMAP_LINE_MAX (64 * 1024)       /* command text outside literals */
#define IMAP_LITERAL_MAX (64 * 1024)    /* all literals of one command */
#define IMAP_APPEND_MAX (64ULL * 1024 * 1024) /* literals of one APPEND */
#define IMAP_DEPTH_MAX 32               /* nested parenthesised lists */
#define IMAP_ARGS_MAX 20000             /* arguments in one command */
#define IMAP_TAG_MAX 64                 /* bytes of a tag */
#define IMAP_SEQ_MAX 10000              /* ranges in one sequence set */

enum {
	IMAP_ATOM = 1,          /* also NIL, flags (\Seen), sequence sets and
	                         * fetch items with a [section]<partial> */
	IMAP_QUOTED,            /* unescaped in place */
	IMAP_LITERAL,
	IMAP_LIST
};

struct imap_arg {
	int type;
	char *s;                /* not NUL-terminated; NULL for a list */
	size_t len;
	size_t child;           /* a list's first member: index + 1, 0 none */
	size_t next;            /* the next sibling: index + 1, 0 none */
};

struct imap_cmd {
	char *tag;              /* NULL when no valid tag was found */
	size_t taglen;
	char *name;             /* the command, as sent (compare ci) */
	size_t namelen;
	int uid;                /* the command came after "UID " */
	struct imap_arg *arg;
	size_t narg, cap;
	size_t first;           /* the first argument: index + 1, 0 none */
	const char *err;        /* why, for a BAD reply */
};

#define IMAP_CMD_ZERO { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }

enum { IMAP_OK = 0, IMAP_BAD, IMAP_NOMEM };

/* Parses buf[0..n), one command without its final line ending. Between
 * its lines a literal marker "{N}" or "{N+}" is followed by CRLF and N
 * bytes, as imap_literal_end describes. IMAP_BAD sets c->err (and
 * c->tag when the tag itself was fine). */
int imap_parse(struct imap_cmd *c, char *buf, size_t n);
void imap_cmd_free(struct imap_cmd *c);

/* A line (without its line ending) that ends in a literal marker: 1 and
 * its size and whether it is synchronising ("{N}": the server must send
 * a continuation before the client sends the bytes), 0 when the line
 * ends otherwise, -1 for a marker whose size is not a number that fits
 * (the command is then BAD). */
int imap_literal_end(const char *line, size_t n, unsigned long long *size,
                     int *sync);

/* Accessors: the argument at index+1 i (0 is "none": NULL). */
const struct imap_arg *imap_arg_at(const struct imap_cmd *c, size_t i);
const struct imap_arg *imap_first(const struct imap_cmd *c);
const struct imap_arg *imap_next(const struct imap_cmd *c,
                                 const struct imap_arg *a);
const struct imap_arg *imap_child(const struct imap_cmd *c,
                                  const struct imap_arg *a);
size_t imap_nargs(const struct imap_cmd *c);
/* 1 when a is an atom equal to word, ASCII case ignored. */
int imap_is_atom(const struct imap_arg *a, const char *word);
/* An astring (atom, quoted or literal): 1 and the bytes, else 0. */
int imap_astring(const struct imap_arg *a, const char **s, size_t *n);
/* A string (quoted or literal), not an atom. */
int imap_string(const struct imap_arg *a, const char **s, size_t *n);
/* A number: 1 ok (fits in 32 bits when max32), else 0. */
int imap_number(const struct imap_arg *a, unsigned long long *out);

/* Sequence sets (RFC 3501 sequence-set, RFC 9051): "1:4,7,9:*". '*' is
 * IMAP_STAR, to be resolved against the mailbox. Ranges keep the order
 * given, lo <= hi after resolving. 1 ok, 0 malformed or over
 * IMAP_SEQ_MAX ranges, -1 no memory. "$" (RFC 5182 SEARCHRES) is not
 * taken. */
#define IMAP_STAR 0xffffffffUL
struct imap_range {
	unsigned long lo, hi;
};
struct imap_seq {
	struct imap_range *r;
	size_t n, cap;
};
int imap_seq_parse(struct imap_seq *q, const char *s, size_t n);
/* Replaces IMAP_STAR by max (the largest number in the mailbox, or 0
 * when it is empty) and orders each range. */
void imap_seq_resolve(struct imap_seq *q, unsigned long max);
/* 1 when v is in the (resolved) set. */
int imap_seq_has(const struct imap_seq *q, unsigned long v);
void imap_seq_free(struct imap_seq *q);

/* Dates. "d-Mon-yyyy" (SEARCH; day of 1 or 2 digits): 1 ok, with the
 * day as days since 1970-01-01 in *days; 0 malformed. */
int imap_date_parse(const char *s, size_t n, long *days);
/* "dd-Mon-yyyy hh:mm:ss +zzzz" (APPEND, INTERNALDATE; the day may start
 * with a space): 1 ok with the time in *t, 0 malformed. */
int imap_datetime_parse(const char *s, size_t n, time_t *t);
/* Writes t as an INTERNALDATE, "dd-Mon-yyyy hh:mm:ss +0000" (UTC), 26
 * bytes, no quotes; returns the length. */
#define IMAP_DATETIME 27
size_t imap_datetime_fmt(char buf[IMAP_DATETIME], time_t t);
/* Days since 1970-01-01 (civil, proleptic Gregorian). */
long imap_days(long y, unsigned m, unsigned d);

/* Mailbox names as sent: 1 when a name is acceptable for a Maildir++
 * folder (not empty, no '/', '%' or '*', no NUL or control bytes, no empty
 * hierarchy level, no "." or ".." level, at most IMAP_MAILBOX_MAX
 * bytes), else 0. The hierarchy separator is '.'. */
#define IMAP_MAILBOX_MAX 512
int imap_mailbox_ok(const char *s, size_t n);

#endif
