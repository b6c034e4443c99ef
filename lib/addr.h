#ifndef QUAIL_ADDR_H
#define QUAIL_ADDR_H

#include <stddef.h>

#include "str.h"

/* RFC 5321 paths, as in MAIL FROM:<path> and RCPT TO:<path>. */

#define ADDR_LOCAL_MAX 64       /* RFC 5321 4.5.3.1.1 */
#define ADDR_DOMAIN_MAX 255     /* 4.5.3.1.2 */
#define ADDR_PATH_MAX 256       /* 4.5.3.1.3, with the angle brackets */

enum {
	ADDR_OK = 0,
	ADDR_SYNTAX,            /* not a path at all */
	ADDR_LOCAL_LONG,
	ADDR_DOMAIN_LONG,
	ADDR_PATH_LONG,
	ADDR_BAD_DOMAIN,        /* a domain or address literal that is not valid */
	ADDR_NOMEM
};

/* Parses a path at the start of p[0..n): "<>", "<local@domain>",
 * "<@a,@b:local@domain>" (the source route is dropped), with local parts
 * as dot-strings or quoted strings (RFC 5321 4.1.2) and domains as names
 * or address literals ([1.2.3.4], [IPv6:...]). A path without angle
 * brackets is a syntax error. On ADDR_OK, out holds the mailbox as
 * local@domain with the quoted local part kept quoted only when it needs to
 * be (a quoted string that is a valid dot-string is unquoted), the null
 * path gives an empty out, *used is the number of bytes through '>', and
 * *has_domain is 0 for a bare local part such as <postmaster>. Never reads
 * past p + n. */
int addr_parse_path(const char *p, size_t n, struct str *out, size_t *used,
                    int *has_domain);

/* A short English text for an ADDR_ code, for replies and logs. */
const char *addr_error(int);

/* The domain part of local@domain (after the last '@'), or an empty
 * string when there is none. */
const char *addr_domain(const char *addr, size_t len, size_t *dlen);

#endif
