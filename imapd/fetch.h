#ifndef QUAIL_IMAPD_FETCH_H
#define QUAIL_IMAPD_FETCH_H

#include <stddef.h>

#include "cache.h"
#include "mime.h"
#include "parse.h"
#include "str.h"

/* FETCH data items (RFC 3501 6.4.5, and MODSEQ from RFC 7162 3.1.4),
 * parsed from the argument tree without I/O so the parser can be
 * fuzzed. */

#define FETCH_ITEMS_MAX 64

enum { FI_UID = 1, FI_FLAGS, FI_DATE, FI_SIZE, FI_ENVELOPE, FI_BODY,
       FI_STRUCTURE, FI_SECTION, FI_MODSEQ };

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

/* The selected folder's cache (cache.h), used by FETCH and SEARCH. */
struct session;
/* Message i's cache entry, holding at least the fields in need (CF_
 * bits): from the cache, else made from the message's text and added.
 * 1 ok (e valid until the next call), -1 the message can't be read
 * (errno; ENOENT: it is gone). */
int msg_cached(struct session *s, size_t i, unsigned need,
               struct cache_ent *e);
/* At the end of a command: writes the cache file when enough is new. */
void msg_cache_done(struct session *s);
/* When the folder is closed: writes what is worth it, frees the rest. */
void msg_cache_close(struct session *s);

#endif
