#ifndef QUAIL_IMAPD_FETCH_H
#define QUAIL_IMAPD_FETCH_H

#include <stddef.h>

#include "mime.h"
#include "parse.h"
#include "str.h"

/* FETCH data items (RFC 3501 6.4.5), parsed from the argument tree
 * without I/O so the parser can be fuzzed. */

#define FETCH_ITEMS_MAX 64

enum { FI_UID = 1, FI_FLAGS, FI_DATE, FI_SIZE, FI_ENVELOPE, FI_BODY,
       FI_STRUCTURE, FI_SECTION };

struct fitem {
	int kind;
	int peek;               /* does not set \Seen */
	const char *label;      /* for FI_SECTION: the name in the reply, up
	                         * to and including ']' (or RFC822...) */
	size_t labellen;
	int body;               /* label is "BODY[" + sec + "]" */
	const char *sec;        /* the section text between the brackets */
	size_t seclen;
	unsigned path[MIME_PATH_MAX];
	size_t depth;
	int spec;               /* SEC_ */
	struct str names;       /* HEADER.FIELDS names, NUL after each */
	size_t nnames;
	int partial;
	unsigned long long pstart, plen;
};

struct fetch {
	struct fitem it[FETCH_ITEMS_MAX];
	size_t n;
	int need_text;          /* the message must be read */
	int need_mime;          /* ... and its structure parsed */
	int sets_seen;
};

/* 1 ok, 0 bad syntax, -1 no memory. */
int fetch_parse(struct fetch *f, const struct imap_cmd *c,
                const struct imap_arg *a);
void fetch_free(struct fetch *f);

#endif
