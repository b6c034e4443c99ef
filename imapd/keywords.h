#ifndef QUAIL_IMAPD_KEYWORDS_H
#define QUAIL_IMAPD_KEYWORDS_H

#include <stddef.h>

/* IMAP keywords of one Maildir folder, kept as the Maildir flag letters
 * a-z after ":2," and named in the folder's file dovecot-keywords (the
 * format Dovecot uses, so a folder moves between the two):
 *
 *	<index> <keyword>
 *
 * one line per keyword, index 0-25 for the letters a-z. The file is
 * only ever added to, replaced whole (tmp/, rename) under the folder's
 * uid list lock, so a letter never changes its meaning. */

#define KW_FILE "dovecot-keywords"
#define KW_MAX 26               /* keywords per folder: the letters a-z */
#define KW_NAME_MAX 100         /* bytes of a keyword */
#define KW_FILE_MAX 65536       /* bytes of dovecot-keywords we read */

/* Message flags: the system flags in the low 5 bits, keyword k above. */
#define FL_KW(k) (1u << (5 + (k)))
#define FL_KWALL (((1u << KW_MAX) - 1) << 5)

struct kwmap {
	char *name[KW_MAX];     /* NULL: letter unused */
	size_t n;               /* how many are named */
};

#define KWMAP_ZERO { { 0 }, 0 }

/* 1 when name can be a keyword: an atom not starting with '\'. */
int kw_name_ok(const char *name, size_t n);
/* Replaces kw with dir's file (none when it is missing): 0 ok, -1 error
 * (errno). A malformed line is skipped. */
int kw_load(struct kwmap *kw, const char *dir);
/* Parses file text into kw (which must be empty). */
void kw_parse(struct kwmap *kw, const char *p, size_t n);
void kw_free(struct kwmap *kw);
/* The index of a keyword (ASCII case-insensitive), -1 when not named. */
int kw_find(const struct kwmap *kw, const char *name, size_t n);
/* The index of a keyword, named in dir's file first when it is new:
 * >= 0 ok, -1 error (errno), -2 all KW_MAX letters taken. */
int kw_add(struct kwmap *kw, const char *dir, const char *name, size_t n);
/* For copies into another folder: xlat[k] is the index in to (named in
 * todir's file first when new) of from's keyword k, for each k in used;
 * -1 when to is full, on error, or for a letter from does not name.
 * Called before todir's uid list is locked: kw_add takes that lock. */
void kw_xlat(unsigned used, const struct kwmap *from, struct kwmap *to,
             const char *todir, int xlat[KW_MAX]);
/* flags with their keywords translated. */
unsigned kw_apply(unsigned flags, const int xlat[KW_MAX]);

#endif
