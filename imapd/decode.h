#ifndef QUAIL_IMAPD_DECODE_H
#define QUAIL_IMAPD_DECODE_H

#include <stddef.h>

#include "mime.h"
#include "str.h"

/* Text as SEARCH compares it (RFC 3501 6.4.4, RFC 9051 6.4.4): headers
 * with their RFC 2047 encoded words decoded, bodies with their transfer
 * encoding undone, both converted to UTF-8 from the charsets mail uses
 * most (US-ASCII, UTF-8, ISO-8859-1, ISO-8859-15, Windows-1252; bytes in
 * any other charset pass through as they are), then case-folded, so a
 * search string folded the same way is found by a plain substring
 * match. Pure: no I/O, fuzzed. Broken input never fails: a malformed
 * encoded word stays as written, a bad escape passes through. Every
 * function appends to out and returns 1, or 0 when out of memory. */

enum { CS_UTF8 = 0, CS_LATIN1, CS_LATIN9, CS_CP1252, CS_OTHER };

/* The charset called name[0..n) (ASCII case ignored; an RFC 2231
 * "*language" suffix is ignored). US-ASCII is CS_UTF8: a subset. */
int decode_charset(const char *name, size_t n);

/* p[0..n) in charset cs, as UTF-8. */
int decode_utf8(struct str *out, const char *p, size_t n, int cs);

/* An unstructured header value: folding undone, encoded words decoded
 * (white space between two adjacent ones dropped, RFC 2047 6.2). */
int decode_header(struct str *out, const char *v, size_t n);

/* The body of one entity, whose header is h[0..hn): its
 * Content-Transfer-Encoding (quoted-printable, base64; anything else is
 * taken as it is) undone, then its Content-Type charset converted. */
int decode_body(struct str *out, const char *h, size_t hn, const char *b,
                size_t bn);

/* ASCII and Latin-1 letters to lower case (UTF-8 in, UTF-8 out, the same
 * length), the "i;unicode-casemap" subset mail in western languages
 * needs. */
int decode_fold(struct str *out, const char *p, size_t n);

/* The searchable text of a parsed message: with headers 1, the top
 * header (decoded, one field per line); then the decoded body of every
 * text part, message/rfc822 parts' headers included, parts separated by
 * a line break. Folded. */
int decode_message(struct str *out, const struct mime *m, int headers);

#endif
