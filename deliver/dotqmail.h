#ifndef QUAIL_DOTQMAIL_H
#define QUAIL_DOTQMAIL_H

#include <stddef.h>

#include "str.h"

/* Delivery instructions in the dot-qmail format (dot-qmail(5)): pure
 * parsing, no I/O, so quail-local can check a whole file before it
 * delivers anywhere. */

#define DOTQMAIL_SIZE_MAX 65536 /* bytes of .qmail file quail-local reads */

enum dotqmail_type {
	DQ_PROGRAM = 1,         /* |command: arg is the command for sh -c */
	DQ_FORWARD,             /* &address or address: arg is the address */
	DQ_MAILDIR,             /* /path/ or ./path/ (trailing '/') */
	DQ_MBOX                 /* /path or ./path */
};

enum dotqmail_error {
	DQ_OK = 0,
	DQ_BLANK_FIRST,         /* the first line is blank (qmail: #4.2.1) */
	DQ_BAD_LINE,            /* starts with none of # | & / . letter digit */
	DQ_EMPTY,               /* "|" or "&" with nothing after it */
	DQ_CONTROL              /* a NUL or other control byte in a line */
};

struct dotqmail {
	const char *p;
	size_t n, pos;
	unsigned long line;     /* number of the line last read, from 1 */
	int error;              /* enum dotqmail_error after a -1 */
};

struct dotqmail_line {
	enum dotqmail_type type;
	const char *arg;        /* points into the parsed buffer */
	size_t len;
	unsigned long line;
};

void dotqmail_init(struct dotqmail *, const char *p, size_t n);
/* The next instruction, skipping comments and blank lines (trailing spaces
 * and tabs are dropped first): 1 with *out filled, 0 at the end, -1 on a
 * bad line (d->error, d->line tell which). A last line without its LF
 * counts. */
int dotqmail_next(struct dotqmail *d, struct dotqmail_line *out);
/* A short English text for a dotqmail_error. */
const char *dotqmail_error(int);

/* The extension as used in file names: lower case, with '.' and '/'
 * made ':' (so no name leaves the home directory). */
int dotqmail_safeext(struct str *out, const char *ext, size_t n);

/* The k-th (from 0) .qmail file to try for dash and the safe extension
 * (qmail-local's order): ".qmail" dash ext, then for each prefix of ext
 * ending at a '-', longest first, ".qmail" dash prefix "default". With an
 * empty dash only ".qmail" is tried. Returns 1 with name NUL-terminated
 * and *def the offset into ext where DEFAULT starts, or -1 when the file
 * is not a "default" one; 0 when there is no k-th file; -1 no memory. */
int dotqmail_candidate(struct str *name, const char *dash,
                       const struct str *safeext, size_t k, long *def);

#endif
