#ifndef QUAIL_MAILDROP_H
#define QUAIL_MAILDROP_H

#include <stddef.h>

#include "str.h"

/* quail-pop3d's maildrop: the messages of a Maildir (cr.yp.to/proto/
 * maildir.html) as one POP3 session sees them. Taking it moves new/ into
 * cur/ (":2," appended) and lists cur/ once; later deliveries show in the
 * next session. Sizes are the CRLF sizes: from ",W=" in the name when it
 * is there, else counted by reading the file once. Memory is the names
 * plus MAILDROP_MSG bytes per message. */

struct maildrop_msg {
	size_t name;                    /* offset into names, NUL-terminated */
	unsigned long long size;        /* octets sent (CRLF form) */
	unsigned char deleted;
	unsigned char retrieved;
};

struct maildrop {
	int cur;                        /* fd of cur/ */
	struct str names;
	struct maildrop_msg *m;
	size_t n, cap;
	size_t ndeleted;
	unsigned long long total;       /* octets of messages not deleted */
};

#define MAILDROP_ZERO { -1, STR_ZERO, 0, 0, 0, 0, 0 }
#define MAILDROP_MAX 10000000   /* messages in one maildrop */

/* Takes the maildrop of the Maildir at path: 0 ok, -1 error with errno
 * set (*what names the step). */
int maildrop_open(struct maildrop *, const char *path, const char **what);

/* The file name of message i (0-based). */
const char *maildrop_name(const struct maildrop *, size_t i);

/* Opens message i for reading: fd, or -1 with errno set (ENOENT: it is
 * gone, also under another name with the same unique part). A message
 * renamed behind the session's back (an IMAP client changed its flags)
 * is found again by its unique part. */
int maildrop_msgopen(struct maildrop *, size_t i);

void maildrop_dele(struct maildrop *, size_t i);
void maildrop_rset(struct maildrop *);

/* The UPDATE state: unlinks every deleted message (one already gone is
 * fine). Returns how many could not be removed; errno is the last
 * error. */
size_t maildrop_commit(struct maildrop *, size_t *removed);

void maildrop_free(struct maildrop *);

#endif
