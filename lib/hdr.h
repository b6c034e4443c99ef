#ifndef QUAIL_HDR_H
#define QUAIL_HDR_H

#include <stddef.h>

#include "io.h"
#include "str.h"

/* The header of an RFC 5322 message: its fields, each a name and a raw
 * value, up to the blank line that ends the header.
 *
 * Input may end its lines in CRLF or LF; the copy kept in h->text ends
 * every line in LF (each CRLF becomes LF; a lone CR is kept as it is).
 * 8-bit bytes and NULs in values are passed through: lengths travel with
 * the data, and whoever needs a clean value (an envelope address, a log
 * line) checks it there. A field name is one or more printable ASCII
 * bytes other than ':' (RFC 5322 ftext), optionally followed by spaces or
 * tabs before the colon (the obsolete syntax).
 *
 * The header ends at the first of:
 *   - a blank line (h->blank is 1; the blank line is not in text);
 *   - a line that is neither a field nor the continuation of one, such as
 *     a "From " mbox line or text without a colon (h->blank is 0). That
 *     line is the start of the body: the bytes of it already read are in
 *     text after the header, text.s[h->len .. text.len), and the rest of
 *     it is still unread. A line starting with a space or tab before any
 *     field is such a line too, and so is one whose would-be name runs
 *     past HDR_NAME_MAX bytes (a long first body line without a colon,
 *     in a message with no header, is not an oversized header);
 *   - the end of the input (h->blank is 0). A last field without its
 *     final newline gets one in text, so every field in text ends in LF.
 *
 * Limits: at most h->max bytes of header (HDR_MAX unless changed after
 * hdr_init) and h->maxfields fields (HDR_FIELDS_MAX). Past either the
 * parser stops with HDR_TOOBIG or HDR_TOOMANY rather than treating the
 * rest as body: a submission agent must not send a Bcc field it did not
 * see as text in the body. The fields read before the limit stay valid
 * for callers that only look (a loop check). */

#define HDR_MAX (256 * 1024)    /* bytes of one header, LF line ends */
#define HDR_FIELDS_MAX 2000     /* fields in one header */
#define HDR_NAME_MAX 998        /* bytes of a field name (RFC 5322 2.1.1) */
#define HDR_ADDR_MAX 1003       /* bytes of one address, as qmail-queue */

enum {
	HDR_DONE = 0,           /* the header is complete */
	HDR_MORE,               /* hdr_feed: give more input, or hdr_end */
	HDR_TOOBIG,             /* over h->max bytes */
	HDR_TOOMANY,            /* over h->maxfields fields */
	HDR_NOMEM,
	HDR_IO                  /* hdr_read: read error, errno set */
};

struct hdr_field {
	size_t pos;             /* where the field starts in text */
	size_t len;             /* the whole field through its final LF */
	size_t namelen;         /* the name at text.s + pos, no WSP, no ':' */
	size_t value;           /* offset of the value: just after the ':' */
	size_t valuelen;        /* through its last line, without the final
	                         * LF; folds stay in it as LF + WSP */
};

struct hdr {
	struct str text;
	size_t len;             /* bytes of header at the start of text */
	struct hdr_field *field;
	size_t nfield;
	int blank;              /* a blank line ended the header */
	size_t max, maxfields;
	/* parser state */
	size_t fcap, line, nlen;
	int state, cr, err;
};

/* Zeroes h and sets the default limits. */
void hdr_init(struct hdr *h);
void hdr_free(struct hdr *h);

/* Push parsing: give the input in pieces of any size (even one byte).
 * Returns HDR_MORE when all of p[0..n) was taken and the header goes on;
 * HDR_DONE once it has ended, with *used the number of bytes of p that
 * belong to the header (the body starts at p + *used, after any body
 * bytes already in text); or an error, which later calls repeat. At the
 * end of the input call hdr_end, which returns HDR_DONE or an error. */
int hdr_feed(struct hdr *h, const char *p, size_t n, size_t *used);
int hdr_end(struct hdr *h);

/* A header at the start of a buffer that holds all of the input there is
 * (a whole message, or just its header): hdr_feed then hdr_end. */
int hdr_parse(struct hdr *h, const char *p, size_t n, size_t *used);

/* Reads the header from r, leaving r at the first body byte not yet in
 * text. HDR_DONE or an error (HDR_IO with errno set, ETIMEDOUT for the
 * reader's timeout). */
int hdr_read(struct hdr *h, struct rd *r);

/* A short English text for an HDR_ code. */
const char *hdr_error(int);

/* 1 when field i is named name (ASCII case ignored). */
int hdr_is(const struct hdr *h, size_t i, const char *name);
/* The index of the first field at or after from named name, or
 * h->nfield when there is none. */
size_t hdr_find(const struct hdr *h, const char *name, size_t from);
/* The value of field i unfolded (RFC 5322 2.2.3: each line break before
 * a space or tab removed), without leading and trailing white space,
 * into out (replaced). 1 ok, 0 no memory. */
int hdr_unfold(const struct hdr *h, size_t i, struct str *out);

/* Address lists (RFC 5322 3.4), the values of To, Cc, Bcc, From, Sender,
 * Reply-To and their Resent- forms: mailboxes separated by commas, each
 * an addr-spec ("a@b.example") or a display name and an angle address
 * ("Ann <a@b.example>", "\"Ann B.\" <a@b.example>", "<@relay:a@b>" with
 * its route dropped), and groups ("team: a@b, c@d;", "undisclosed:;").
 * Comments in parentheses (nested, with \ escapes) and folding white
 * space may sit between any two tokens; empty list members (",,") are
 * skipped as the obsolete syntax allows. An addr-spec without "@domain"
 * ("joe") is accepted as a bare local part, for the caller to complete.
 *
 * Each addr-spec found is appended to out as local@domain followed by a
 * NUL: the local part as a dot-atom when it is one, else as a quoted
 * string with only '"' and '\' escaped; the domain as a dot-atom or a
 * domain literal "[...]". *count is increased by the number added.
 * Bytes >= 0x80 are accepted in atoms (RFC 6532). Returns HDR_ADDR_OK,
 * or an error with out and *count as they were. */
enum {
	HDR_ADDR_OK = 0,
	HDR_ADDR_SYNTAX,        /* not an address list */
	HDR_ADDR_LONG,          /* an address over HDR_ADDR_MAX bytes */
	HDR_ADDR_NOMEM
};
int hdr_addrlist(const char *v, size_t n, struct str *out, size_t *count);
const char *hdr_addr_error(int);

#endif
