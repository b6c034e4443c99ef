#ifndef QUAIL_MAILDIR_H
#define QUAIL_MAILDIR_H

#include <stddef.h>
#include <sys/types.h>

#include "str.h"

/* Maildir (cr.yp.to/proto/maildir.html) with the Maildir++ quota file
 * maildirsize (Courier README.maildirquota). Writers: quail-local.
 * Readers: quail-pop3d, quail-imapd. Functions returning int give 0 on
 * success and -1 with errno set, unless said otherwise. */

#define MAILDIR_CREATE_TRIES 3  /* new unique name after EEXIST on tmp/ */
#define MAILDIR_FILE_MODE 0600
#define MAILDIRSIZE_MAX 5120    /* a longer maildirsize is recalculated */
#define MAILDIRSIZE_STALE 900   /* s: recheck an over-quota answer this old */

/* Creates path, path/tmp, path/new and path/cur when missing (an existing
 * one is fine). What it makes is on disk when it returns: fsync'd, with
 * the directories that name it. */
int maildir_make(const char *path, mode_t mode);

/* Delivers hdr[0..hdrlen) followed by everything readable from fd (from
 * its current offset to EOF) into the Maildir dir: tmp/NAME created with
 * O_EXCL, written, fsync'd and closed, linked to new/NAME,S=<s>,W=<w>,
 * tmp/NAME unlinked, new/ fsync'd. s is the stored size (LF line ends), w
 * the size with every LF as CRLF. On success name holds the file name in
 * new/ (not NUL-terminated) and *size the stored size. On failure nothing
 * is left in tmp/ or new/; errno_temporary() sorts the errno. */
int maildir_deliver(const char *dir, const char *hdr, size_t hdrlen, int fd,
                    struct str *name, unsigned long long *size);

/* Names: "<unique>[,S=<s>][,W=<w>][:2,<flags>]". */

/* The length of the unique part, up to the first ':' (or all of it). */
size_t maildir_name_base(const char *name, size_t n);

#define MAILDIR_HAS_S 1
#define MAILDIR_HAS_W 2
/* Reads ",S=" and ",W=" from the unique part; returns a mask of the
 * MAILDIR_HAS_ bits of those present and well formed. */
int maildir_name_sizes(const char *name, size_t n, unsigned long long *s,
                       unsigned long long *w);

/* The flags after ":2,", with *flen their length, or NULL when the name
 * has no ":2," info. */
const char *maildir_name_flags(const char *name, size_t n, size_t *flen);
/* 1 when flag c is set in the name's ":2," info. */
int maildir_name_hasflag(const char *name, size_t n, char c);

/* out = the unique part of name + ":2," + flags, sorted in ASCII order
 * with duplicates dropped, as the spec requires. Flags are printable
 * ASCII other than '/', ':' and ','; others give EINVAL. */
int maildir_name_setflags(struct str *out, const char *name, size_t n,
                          const char *flags, size_t flen);

/* Maildir++ quota. A limit of 0 means none (as in Courier). */
struct maildir_quota {
	unsigned long long bytes, count;
};
/* The usage totals may go negative in a damaged file; such a file is
 * recalculated. */
struct maildir_usage {
	long long bytes, count;
};

/* Parses a spec such as "1000000S,1000C", "5000S" or "" (no quota):
 * 1 ok, 0 malformed. */
int maildir_quota_parse(const char *spec, size_t n, struct maildir_quota *q);
/* Formats q back as a spec, "<n>S,<n>C" with only the nonzero parts. */
int maildir_quota_fmt(struct str *out, const struct maildir_quota *q);

/* Parses maildirsize content: the quota line, then "<bytes> <count>"
 * lines (spaces may pad them; deltas may be negative), summed into u.
 * 1 ok, 0 malformed (then recalculate). */
int maildirsize_parse(const char *p, size_t n, struct maildir_quota *q,
                      struct maildir_usage *u);

/* Walks new/, cur/ and each Maildir++ folder ".X/new", ".X/cur" except
 * ".Trash" (which Courier leaves out of quota), using S= from names and
 * stat otherwise, and writes dir/maildirsize atomically (tmp/, rename)
 * with quota line q. */
int maildir_quota_recalc(const char *dir, const struct maildir_quota *q,
                         struct maildir_usage *u);

/* Reads dir/maildirsize into u, recalculating it when missing, too long,
 * malformed or giving another quota than q. A reader that has no quota of
 * its own passes q NULL: the file's quota line is kept (best effort when
 * the file is damaged; none when it is missing). */
int maildir_quota_read(const char *dir, const struct maildir_quota *q,
                       struct maildir_usage *u);

/* 1 when bytes and count more would exceed q given usage u, else 0. */
int maildir_quota_over(const struct maildir_quota *q,
                       const struct maildir_usage *u,
                       unsigned long long bytes, unsigned long long count);

/* The check a delivery makes: read, and when the answer is "over" and
 * maildirsize is older than MAILDIRSIZE_STALE, recalculate and check
 * again. 1 over, 0 fits, -1 error. */
int maildir_quota_check(const char *dir, const struct maildir_quota *q,
                        unsigned long long bytes, unsigned long long count);

/* Appends "<bytes> <count>\n" to dir/maildirsize with one O_APPEND write;
 * a missing maildirsize is fine (nothing to keep up to date). */
int maildir_quota_add(const char *dir, long long bytes, long long count);

#endif
