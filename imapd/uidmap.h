#ifndef QUAIL_IMAPD_UIDMAP_H
#define QUAIL_IMAPD_UIDMAP_H

#include <stddef.h>
#include <time.h>

#include "str.h"

/* Persistent UIDs of one Maildir folder, in the folder's file
 * quail-uidlist, version 3: binary, read with one mmap and no work per
 * message, so an unchanged folder is selected in the time it takes to
 * check the records' bounds. All numbers are little-endian.
 *
 *	header, UIDMAP_HEAD bytes:
 *	  0  "QUAIL-UIDLIST 3\n"
 *	 16  u32 header size (UIDMAP_HEAD), u32 record size (UIDMAP_REC)
 *	 24  u32 uidvalidity, u32 uidnext
 *	 32  u64 highest modseq
 *	 40  u32 messages, u32 of them in new/
 *	 48  u32 unseen, u32 first unseen (index + 1; 0 none)
 *	 56  u32 bytes of names, u32 0
 *	 64  stamp: 12 u64 (below)
 *	records, one per message in ascending UID order, UIDMAP_REC bytes:
 *	  0  u32 uid, u32 offset of the name in the names
 *	  8  u16 name length, u16 base length (the unique part, before ':')
 *	 12  u32 flags (UIDMAP_FL_), u64 modseq
 *	names: the file names in cur/ (or new/), each NUL-terminated.
 *
 * The file size is exactly header + records + names; every record's UID
 * is above the last and below uidnext, its name within the names, its
 * modseq at most the highest; the counts agree with the records. A file
 * that fails a check is damaged, and treated as lost. Messages are keyed
 * by the base name, so a message keeps its UID when it moves from new/ to
 * cur/ or is renamed for its flags. The modseq (RFC 7162) of a message is
 * raised when its flags change and given to a new message; an expunge
 * raises the highest. Version 1 and 2 files (text: a head line, then
 * "<uid> <name>" lines) are read and replaced, keeping their UIDs.
 *
 * The file is replaced whole (written to quail-uidlist.tmp, fsync'd,
 * renamed), never written in place, by a session holding the folder's
 * lock, quail-uidlist.lock: a file made in tmp/ and link()ed into place,
 * which works on NFS where fcntl locks may not. A lock older than
 * UIDMAP_LOCK_STALE seconds is left from a crash and is broken. UIDs are
 * never reused: uidnext only grows; a lost or damaged file gives a new
 * UIDVALIDITY.
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
#define UIDMAP_VERSION 3
#define UIDMAP_HEAD 160         /* bytes of the version 3 header */
#define UIDMAP_REC 24           /* bytes of a version 3 record */

/* Message flags: the bits of FL_ in session.h (the Maildir letters D F R
 * S T, then keywords a-z), and in the file whether it is in new/. */
#define UIDMAP_FL_SEEN 8u
#define UIDMAP_FL_LETTERS 0x7fffffffu
#define UIDMAP_FL_NEW 0x80000000u

struct uidmap_dirstamp {
	long long msec, mnsec, csec, cnsec;
	unsigned long long size, ino;
};

struct uidmap_stamp {
	struct uidmap_dirstamp d[2];    /* new/, cur/; all 0: none */
};

/* A file's header, any version. */
struct uidmap_head {
	unsigned long validity, next;
	int version;
	struct uidmap_stamp stamp;
	unsigned long long modseq;      /* highest; 1 before version 3 */
	size_t n, nnew, unseen, firstunseen;
	size_t nameslen;
};

/* One message, decoded from a record. */
struct uidmap_rec {
	unsigned long uid;
	const char *name;       /* the file name, NUL-terminated, in the map */
	size_t namelen, baselen;
	unsigned flags;         /* UIDMAP_FL_LETTERS bits */
	int innew;              /* still in new/: name is the file there */
	int recent;             /* moved from new/ by this sync, or in new/ */
	unsigned long long modseq;
};

/* A folder's UIDs: the image of a version 3 file, mapped from the file
 * or built by a sync, and read in place. */
struct uidmap {
	struct uidmap_head h;   /* validity, next, modseq, n and counts */
	const unsigned char *rec; /* h.n records */
	const char *names;
	const unsigned char *img; /* the whole image */
	size_t len;
	void *mapped;           /* munmap this, or */
	char *buf;              /* free this */
	unsigned char *recent;  /* per record, or NULL: recent = innew */
	int checked;            /* the records are (uidmap_check) */
	int changed;            /* the file was (re)written */
	int skipped;            /* the directories were not read */
};

#define UIDMAP_ZERO { .rec = 0 }

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
/* Lock, sync, unlock; an unchanged folder is read without the lock.
 * how: UIDMAP_TAKE_NEW, and UIDMAP_LAZY, which leaves the records of an
 * unchanged folder's file unchecked (only the header and the sizes are):
 * uidmap_check before reading them. */
#define UIDMAP_TAKE_NEW 1
#define UIDMAP_LAZY 2
int uidmap_sync(const char *dir, struct uidmap *m, int how);
void uidmap_free(struct uidmap *m);

/* 1 when m's records are sound (checked once), 0 damaged. */
int uidmap_check(struct uidmap *m);
/* Record i (< m->h.n) of m, which is checked. */
void uidmap_get(const struct uidmap *m, size_t i, struct uidmap_rec *r);
unsigned long uidmap_uid(const struct uidmap *m, size_t i);
/* 1 and r filled when a message has this base name, else 0. Linear: for
 * one-off lookups after APPEND and COPY; m is checked. */
int uidmap_find(const struct uidmap *m, const char *base, size_t n,
                struct uidmap_rec *r);
/* The UIDMAP_FL_LETTERS bits of a file name's ":2," letters. */
unsigned uidmap_flags_of(const char *name, size_t n);

/* The file format, in uidfile.c; exposed for uidmap.c and the test. */
/* Version 1 or 2 text: 1 ok, 0 malformed; fills h, and calls back per
 * line with the name (without "new/") and whether it is in new/. */
int uidmap_parse(const char *p, size_t n, struct uidmap_head *h,
                 int (*line)(void *, unsigned long, const char *, size_t,
                             int),
                 void *arg);
/* Version 3: 1 when p[0..n) is a sound image (m's pointers and h set
 * into it, m checked), 0 damaged; _head checks only the header and the
 * sizes. */
int uidmap_image_check(struct uidmap *m, const unsigned char *p, size_t n);
int uidmap_image_head(struct uidmap *m, const unsigned char *p, size_t n);
/* Building an image: begin with the header's validity, next, modseq
 * and stamp, the number of records and the bytes of their names (NULs
 * included); add the records in ascending UID order; end fills in the
 * counts. 0 ok, -1 error (errno: ENOMEM, or EINVAL for more than was
 * begun, or a record the format can't hold). */
struct uidmap_build {
	struct str img;
	size_t n, k;            /* records planned, added */
	size_t names, used;     /* offset of the names, bytes used */
	size_t nnew, unseen, firstunseen;
	unsigned long last;     /* uid */
};

int uidmap_build_begin(struct uidmap_build *b, const struct uidmap_head *h,
                       size_t n, size_t nameslen);
int uidmap_build_add(struct uidmap_build *b, const struct uidmap_rec *r);
int uidmap_build_end(struct uidmap_build *b);
/* 1 when the first bytes of a file say version 3. */
int uidmap_is_image(const char *p, size_t n);

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
