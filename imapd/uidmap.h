#ifndef QUAIL_IMAPD_UIDMAP_H
#define QUAIL_IMAPD_UIDMAP_H

#include <stddef.h>
#include <time.h>

#include "str.h"

/* Persistent UIDs of one Maildir folder, in the folder's file
 * quail-uidlist:
 *
 *	QUAIL-UIDLIST 2 <uidvalidity> <uidnext> <stamp: 12 numbers>
 *	<uid> <file name in cur/>
 *	<uid> new/<file name in new/>
 *	...
 *
 * one line per message, in ascending UID order, keyed by the base name
 * (the unique part before ':'), so a message keeps its UID when it moves
 * from new/ to cur/ or is renamed for its flags. (Version 1 files, which
 * hold base names only and no stamp, are read and replaced.) The file
 * is replaced whole (written to quail-uidlist.tmp, fsync'd, renamed) by a
 * session holding the folder's lock, quail-uidlist.lock: a file made in
 * tmp/ and link()ed into place, which works on NFS where fcntl locks may
 * not. A lock older than UIDMAP_LOCK_STALE seconds is left from a crash
 * and is broken. UIDs are never reused: uidnext only grows; a lost or
 * damaged file gives a new UIDVALIDITY.
 *
 * The stamp is what stat() said of new/ and cur/ (mtime and ctime with
 * nanoseconds, size, inode) just before the scan whose names the file
 * holds. Every rename, link and unlink in a directory changes its
 * mtime, so while both directories still match the stamp the file's
 * names are the folder and the scan is skipped. An mtime within
 * UIDMAP_TRUST_SECS of now is not trusted (a change later in the same
 * timestamp tick would not show): such a stamp is written as all zeros,
 * which never matches. */

#define UIDMAP_FILE "quail-uidlist"
#define UIDMAP_LOCK "quail-uidlist.lock"
#define UIDMAP_LOCK_STALE 120   /* s: a lock this old is broken */
#define UIDMAP_LOCK_WAIT 20000  /* ms to wait for the lock */
#define UIDMAP_NAME_MAX 1024    /* bytes of a file name we keep */
#define UIDMAP_TRUST_SECS 2     /* s a directory time must be old */

struct uidmap_dirstamp {
	long long msec, mnsec, csec, cnsec;
	unsigned long long size, ino;
};

struct uidmap_stamp {
	struct uidmap_dirstamp d[2];    /* new/, cur/; all 0: none */
};

struct uidmap_head {
	unsigned long validity, next;
	int version;
	struct uidmap_stamp stamp;
};

struct uidmap_rec {
	unsigned long uid;
	const char *name;       /* the file name, NUL-terminated, in m->buf */
	size_t baselen;         /* its unique part, before ':' */
	int recent;             /* moved from new/ by this sync, or in new/ */
	int innew;              /* still in new/: name is the file there */
};

struct uidmap {
	unsigned long validity, next;
	struct uidmap_rec *r;   /* ascending uid */
	size_t n, cap;
	char *buf;              /* holds the names */
	int changed;            /* the file was (re)written */
	int skipped;            /* the directories were not read */
};

#define UIDMAP_ZERO { 0, 0, 0, 0, 0, 0, 0, 0 }

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
/* 1 ok, 0 malformed: fills h, and calls back per line with the name
 * (without "new/") and whether it is in new/. */
int uidmap_parse(const char *p, size_t n, struct uidmap_head *h,
                 int (*line)(void *, unsigned long, const char *, size_t,
                             int),
                 void *arg);
/* Stats dir's new/ and cur/: 0 ok, -1 error (errno). */
int uidmap_stamp_take(const char *dir, struct uidmap_stamp *st);
/* 1 when st is not none and neither mtime is within UIDMAP_TRUST_SECS
 * of now (or later). */
int uidmap_stamp_trusted(const struct uidmap_stamp *st,
                         const struct timespec *now);
/* 1 when a file stamped file may stand for directories that stat as
 * disk at now: both the same, not none, and trusted. */
int uidmap_may_skip(const struct uidmap_stamp *file,
                    const struct uidmap_stamp *disk,
                    const struct timespec *now);
/* Arrival order of two Maildir names: by the seconds and microseconds of
 * the unique name ("<sec>.M<usec>..."), then bytewise. */
int uidmap_arrival_cmp(const char *a, const char *b);

/* Shared by uidmap.c and uidfile.c. */
int uidmap_path(struct str *p, const char *dir, const char *a, const char *b);
unsigned long long uidmap_stamp_get(const struct uidmap_stamp *st, int k);
int uidmap_stamp_eq(const struct uidmap_stamp *a, const struct uidmap_stamp *b);

#endif
