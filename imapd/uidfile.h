#ifndef QUAIL_IMAPD_UIDFILE_H
#define QUAIL_IMAPD_UIDFILE_H

#include <stddef.h>

#include "str.h"
#include "uidmap.h"

/* Private to uidmap.c and uidfile.c: a folder's quail-uidlist as read
 * from disk, and written back, for the sync that matches it against the
 * directories. */

/* One message the file knows, whatever its version. */
struct uidfile_rec {
	unsigned long uid;
	const char *base;       /* into the file */
	size_t len;             /* of the base */
	size_t namelen;         /* of the whole name */
	int innew;
	unsigned flags;
	unsigned long long modseq;
	size_t ent;             /* the sync's matched entry + 1 */
};

struct uidfile {
	const char *dir;
	struct str path, tmp;
	void *map;              /* the file, mapped, */
	char *buf;              /* or read */
	size_t maplen;
	struct uidmap img;      /* its records, when it is version 3 */
	struct uidmap_head h;   /* from the file */
	int valid;              /* h is a sound file's */
	int damaged;
	unsigned long lost;     /* a damaged file's UIDVALIDITY, 0 unknown */
	struct uidfile_rec *f;  /* version 1 and 2: its lines */
	size_t nf, fcap;
};

/* Reads dir/quail-uidlist into u, which is zeroed: 0 ok, with u->valid
 * when there is a sound file (none, or a damaged one, is no error), -1
 * error (errno). lazy: a version 3 file's records are left to
 * uidmap_check. */
int uidfile_read(struct uidfile *u, const char *dir, int lazy);
/* The version 3 records as u->f, for a sync that reads the
 * directories: 0 ok, -1 no memory. */
int uidfile_recs(struct uidfile *u);
/* m takes the version 3 file as it is mapped (or read), no copy. */
void uidfile_give(struct uidfile *u, struct uidmap *m);
/* Replaces the file with img: 0 ok, -1 error (errno). */
int uidfile_write(struct uidfile *u, const struct str *img);
void uidfile_free(struct uidfile *u);

#endif
