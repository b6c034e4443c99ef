#ifndef QUAIL_IMAPD_MIME_H
#define QUAIL_IMAPD_MIME_H

#include <stddef.h>

#include "str.h"

/* MIME structure of a message held in memory with CRLF line ends, for
 * BODYSTRUCTURE, BODY, ENVELOPE and BODY[section] (RFC 3501 6.4.5,
 * 7.4.2; RFC 2045, 2046). Pure: no I/O, fuzzed. Each entity is a header
 * and a body; a multipart's body holds its children, a message/rfc822's
 * body holds one child, the message inside. Broken input never fails:
 * a multipart without a boundary or without parts is taken as one text
 * part, a missing close delimiter ends the part at the end of its
 * parent. */

#define MIME_DEPTH_MAX 32       /* nested entities */
#define MIME_PARTS_MAX 10000    /* entities in one message */
#define MIME_PATH_MAX 32        /* numbers in a section part path */

enum { MIME_LEAF = 0, MIME_MULTI, MIME_MESSAGE };

struct mime_ent {
	size_t start;           /* the header */
	size_t hdrlen;          /* through the blank line, if any */
	size_t body, bodylen;
	int kind;
	size_t child;           /* first child + 1, 0 none */
	size_t next;            /* next sibling + 1 */
	size_t nchild;
};

struct mime {
	const char *t;
	size_t n;
	struct mime_ent *e;     /* e[0] is the whole message */
	size_t ne, cap;
};

#define MIME_ZERO { 0, 0, 0, 0, 0 }

/* 0 ok, -1 no memory. */
int mime_parse(struct mime *m, const char *t, size_t n);
void mime_free(struct mime *m);

/* Appends the BODYSTRUCTURE (ext 1) or BODY (ext 0) of entity i. 1 ok,
 * 0 no memory. */
int mime_bodystructure(const struct mime *m, size_t i, int ext,
                       struct str *out);
/* Appends the ENVELOPE of the header h[0..n). 1 ok, 0 no memory. */
int mime_envelope(const char *h, size_t n, struct str *out);

/* Section specifiers after the part path. */
enum { SEC_ALL = 0, SEC_HEADER, SEC_FIELDS, SEC_FIELDS_NOT, SEC_TEXT,
       SEC_MIME };
/* The bytes a section names: 1 and the range in m->t, 0 when the path
 * names no part (the result is then empty, as RFC 3501 allows). For
 * SEC_FIELDS and SEC_FIELDS_NOT the range is the header to filter. */
int mime_section(const struct mime *m, const unsigned *path, size_t depth,
                 int spec, size_t *off, size_t *len);
/* Appends the fields of header h[0..n) whose names are (not, for
 * keep 0) in names (NUL-separated, count k), then a blank line. */
int mime_fields(const char *h, size_t n, const char *names, size_t k,
                int keep, struct str *out);

/* The unfolded value of the first field called name in h[0..n), into out
 * (replaced): 1 found, 0 not there, -1 no memory. */
int mime_header(const char *h, size_t n, const char *name, struct str *out);

/* Appends p[0..n) as an IMAP quoted string, or a literal when it can't
 * be one; NIL for a NULL p. 1 ok, 0 no memory. */
int mime_nstring(struct str *out, const char *p, size_t n);

/* Skips white space and (nested) comments, RFC 5322 CFWS, from *i. */
void mime_skip_cfws(const char *p, size_t n, size_t *i);

#endif
