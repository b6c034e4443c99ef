#ifndef QUAIL_IMAPD_CACHE_H
#define QUAIL_IMAPD_CACHE_H

#include <stddef.h>

#include "str.h"

/* The per-folder cache of what FETCH ENVELOPE, BODY, BODYSTRUCTURE and
 * the header SEARCH keys need from a message, so a warm command reads one
 * file instead of one per message. It lives in the folder's file
 * quail-cache, beside quail-uidlist:
 *
 *	head:  "QCACHE2\n", u32 uidvalidity, u32 count n, u32 file length,
 *	       u32 0
 *	index: n times (u32 uid, u32 offset of its entry), uids ascending,
 *	       offsets ascending; an entry ends where the next one starts
 *	entry: u32 uid, u32 checksum of the rest, u64 file size, u64 CRLF
 *	       size, u16 base name length, u16 fields known, u16 fields
 *	       absent, u16 0, the base name, then for each field known and
 *	       not absent (in CF_ order) u32 length and its bytes
 *
 * all numbers little-endian. An entry belongs to a message only while
 * uid, base name (the unique part before ':') and file size all match:
 * Maildir files never change, so such an entry is valid for as long as
 * the message exists. The file is read lazily, by the first command that
 * wants an entry, through a window of CACHE_WINDOW bytes, so a session
 * that never asks costs nothing and one that asks for a few messages
 * reads a few blocks. Everything read is checked: a bad head or index
 * and the file is ignored, a bad entry and the rest of the file is too;
 * either way it is rebuilt as messages are read again.
 *
 * It is replaced whole: written to a unique name in the folder's tmp/
 * and renamed over, so no reader sees half a file and, as it is only a
 * cache, no lock or fsync is needed (the last rename of two writers
 * wins; entries one of them lose are computed again later). */

#define CACHE_FILE "quail-cache"
#define CACHE_MAGIC "QCACHE2\n"
#define CACHE_HEAD 24           /* bytes of the head */
#define CACHE_ENT_HEAD 32       /* bytes of an entry before its name */
#define CACHE_ENTRY_MAX 16384   /* bytes: a larger entry is not kept */
#define CACHE_FILE_MAX (256UL * 1024 * 1024) /* bytes: the oldest
                                 * entries are dropped to stay within,
                                 * and a larger file is ignored */
#define CACHE_ENTRIES_MAX 1000000 /* entries on file (its index is read
                                 * whole: 8 MB at most) */
#define CACHE_WINDOW 65536      /* bytes read at a time */
#define CACHE_BASE_MAX 1024     /* bytes of a base name we keep */
#define CACHE_REWRITE_RATIO 8   /* after a command, rewrite once new
                                 * entries are 1/8 of those on file */
#define CACHE_CLOSE_RATIO 64    /* on leaving the folder: 1/64 */

/* The fields of an entry. From CF_SUBJECT on they are the value of the
 * first header field of that name as SEARCH compares it: decoded and
 * folded (decode.h), but for CF_DATE, kept as written. (Version 1 files
 * held raw values and are ignored.) */
enum { CF_ENVELOPE = 0, CF_STRUCTURE, CF_BODY, CF_SUBJECT, CF_FROM, CF_TO,
       CF_CC, CF_BCC, CF_DATE, CF_MESSAGEID, CF_N };
#define CF_BIT(k) (1u << (k))
#define CF_HEADERS (CF_BIT(CF_SUBJECT) | CF_BIT(CF_FROM) | CF_BIT(CF_TO) | \
	CF_BIT(CF_CC) | CF_BIT(CF_BCC) | CF_BIT(CF_DATE) | CF_BIT(CF_MESSAGEID))
/* What an entry made from a message always holds: all of it comes from
 * the header. BODY and BODYSTRUCTURE, which need the whole message
 * parsed, are added when asked for. */
#define CF_DEFAULT (CF_BIT(CF_ENVELOPE) | CF_HEADERS)
#define CF_ALL (CF_DEFAULT | CF_BIT(CF_STRUCTURE) | CF_BIT(CF_BODY))

struct cache_ent {
	unsigned long uid;
	unsigned long long fsize;       /* bytes of the file */
	unsigned long long csize;       /* ... with CRLF line ends */
	const char *base;
	size_t baselen;
	unsigned known;                 /* CF_BITs computed */
	unsigned absent;                /* header fields not in the message */
	const char *f[CF_N];
	size_t flen[CF_N];
};

struct cache_new {
	unsigned long uid;
	size_t off, len;                /* in add */
};

struct cache {
	char *dir;                      /* the folder; NULL: unused */
	unsigned long validity;
	int looked;                     /* the file was opened (or tried) */
	int fd;                         /* when n or open: the file */
	int open;
	size_t n;                       /* entries on file */
	unsigned char *idx;             /* its index, 8 bytes an entry */
	size_t total;                   /* its length */
	struct str win;                 /* bytes winoff.. of the file */
	size_t winoff;
	struct str add;                 /* new entries, encoded */
	struct cache_new *nw;           /* their index, ascending uid */
	size_t nn, ncap;
	size_t filemax;                 /* bytes of the file; 0: the default
	                                 * CACHE_FILE_MAX (a test sets less) */
};

/* Called before each use: a cache for another folder (or validity) is
 * written out if worth it and dropped. Opens nothing. dir is copied;
 * 0 ok, -1 no memory. */
int cache_use(struct cache *c, const char *dir, unsigned long validity);
/* Drops everything, writing nothing. */
void cache_free(struct cache *c);

/* The entry of uid: 1 found (e points into the cache: valid until the
 * next call), 0 none. The caller checks it still belongs to its message
 * with cache_ent_matches. */
int cache_get(struct cache *c, unsigned long uid, struct cache_ent *e);
int cache_ent_matches(const struct cache_ent *e, const char *base,
                      size_t baselen, unsigned long long fsize);
/* Adds (or replaces) an entry: 1 ok, 0 not kept (too large), -1 no
 * memory. */
int cache_put(struct cache *c, const struct cache_ent *e);

/* 1 when uid's entry should be kept in the file written. */
typedef int cache_keep_fn(void *arg, unsigned long uid);
/* Writes the file if new entries are at least 1/ratio of those on file
 * (ratio 0: whenever there are any), keeping the entries keep accepts
 * (keep NULL: all): 1 written, 0 nothing to do, -1 error (errno). */
int cache_flush(struct cache *c, size_t ratio, cache_keep_fn *keep,
                void *arg);

/* Exposed for the unit test and the fuzz target. */
/* Takes fd (closed on failure) as the file: 1 usable, 0 not. */
int cache_attach(struct cache *c, int fd);
/* The merged file to fd: 0 ok, -1 error (errno). */
int cache_write_fd(struct cache *c, int fd, cache_keep_fn *keep, void *arg);
/* Appends entry e in the file's form: 1 ok, 0 no memory or a field or
 * name too long to encode. */
int cache_ent_encode(struct str *out, const struct cache_ent *e);
/* Decodes an entry of uid from p[0..n): 1 ok, 0 malformed. */
int cache_ent_decode(const char *p, size_t n, unsigned long uid,
                     struct cache_ent *e);
/* The CF_ field for a header field name, or -1. */
int cache_field_find(const char *name, size_t n);
/* The header field name of a CF_ field from CF_SUBJECT on. */
const char *cache_field_name(int k);

#endif
