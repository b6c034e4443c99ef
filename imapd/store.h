#ifndef QUAIL_IMAPD_STORE_H
#define QUAIL_IMAPD_STORE_H

/* What store.c (COPY, MOVE) and append.c (APPEND) share: both put new
 * files into a folder. */

#include <time.h>

#include "session.h"

/* The flag list a, parsed (see parse_flags), with the reply when it
 * fails: 1 ok, 0 replied. */
int store_flags_arg(struct session *s, const struct imap_arg *a,
                    unsigned *flags, struct kwmap *kw, const char *dir,
                    int create);
/* A new unique name whose leading seconds are t, so the message's
 * INTERNALDATE (see msg_date) is t: 1 ok, 0 no memory. */
int store_dated_name(struct str *out, time_t t);
/* After count files (their base names NUL-separated in bases) were put
 * in dir's cur/ under the lock: their UIDs, and the folder's
 * UIDVALIDITY. 0 ok, -1 error. */
int store_new_uids(const char *dir, struct str *bases, size_t count,
                   unsigned long *uids, unsigned long *validity);
/* The folder an argument names, into dir: 1, or 0 after the reply (BAD
 * for a bad name, NO [TRYCREATE] for a folder that is not there). */
int store_dest_dir(struct session *s, const struct imap_arg *a,
                   struct str *dir);

#endif
