#ifndef QUAIL_IMAPD_UIDMAP_H
#define QUAIL_IMAPD_UIDMAP_H

#include <stddef.h>

#include "str.h"

/* Persistent UIDs of one Maildir folder, in the folder's file
 * quail-uidlist:
 *
 *	QUAIL-UIDLIST 1 <uidvalidity> <uidnext>
 *	<uid> <base name>
 *	...
 *
 * one line per message, in ascending UID order, keyed by the base name
 * (the unique part before ':'), so a message keeps its UID when it moves
 * from new/ to cur/ or is renamed for its flags. The file is replaced
 * whole (written to quail-uidlist.tmp, fsync'd, renamed) by a session
 * holding the folder's lock, quail-uidlist.lock: a file made in tmp/ and
 * link()ed into place, which works on NFS where fcntl locks may not. A
 * lock older than UIDMAP_LOCK_STALE seconds is left from a crash and is
 * broken. UIDs are never reused: uidnext only grows; a lost or damaged
 * file gives a new UIDVALIDITY. */

#define UIDMAP_FILE "quail-uidlist"
#define UIDMAP_LOCK "quail-uidlist.lock"
#define UIDMAP_LOCK_STALE 120   /* s: a lock this old is broken */
#define UIDMAP_LOCK_WAIT 20000  /* ms to wait for the lock */
#define UIDMAP_NAME_MAX 1024    /* bytes of a file name we keep */

struct uidmap_rec {
	unsigned long uid;
	char *name;             /* the file name in cur/, NUL-terminated */
	size_t baselen;         /* its unique part, before ':' */
	int recent;             /* moved from new/ by this sync, or in new/ */
	int innew;              /* still in new/: name is the file there */
};

struct uidmap {
	unsigned long validity, next;
	struct uidmap_rec *r;   /* ascending uid */
	size_t n, cap;
	int changed;            /* the file was (re)written */
};

#define UIDMAP_ZERO { 0, 0, 0, 0, 0, 0 }

/* Locks dir's uid list: 0 ok, -1 error (errno; EAGAIN: timed out). */
int uidmap_lock(const char *dir);
void uidmap_unlock(const char *dir);

/* With the lock held: reads dir/quail-uidlist, moves new/ messages to
 * cur/ (when take_new; they are marked recent), reads cur/ (and without
 * take_new new/, whose messages stay there, recent and innew), gives UIDs
 * to messages it has not seen before in arrival order, forgets messages
 * that are gone, writes the file back when anything changed, and fills
 * m with the result. 0 ok, -1 error (errno). */
int uidmap_sync_locked(const char *dir, struct uidmap *m, int take_new);
/* Lock, sync, unlock. */
int uidmap_sync(const char *dir, struct uidmap *m, int take_new);
void uidmap_free(struct uidmap *m);

/* The record with this base name, or NULL. Linear: for one-off lookups
 * after APPEND and COPY. */
const struct uidmap_rec *uidmap_find(const struct uidmap *m,
                                     const char *base, size_t n);

/* Parsing and ordering, exposed for the unit test. */
/* 1 ok, 0 malformed: fills validity and next, and calls back per line. */
int uidmap_parse(const char *p, size_t n, unsigned long *validity,
                 unsigned long *next,
                 int (*line)(void *, unsigned long, const char *, size_t),
                 void *arg);
/* Arrival order of two Maildir names: by the seconds and microseconds of
 * the unique name ("<sec>.M<usec>..."), then bytewise. */
int uidmap_arrival_cmp(const char *a, const char *b);

#endif
