#ifndef QUAIL_IMAPD_SESSION_H
#define QUAIL_IMAPD_SESSION_H

#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

#include "conn.h"
#include "keywords.h"
#include "parse.h"
#include "str.h"

/* The session stage: the state of a logged-in client and the commands
 * that work on it, split by topic over session.c (loop, dispatch,
 * IDLE), mailbox.c (the selected folder: sync, flags, STORE, EXPUNGE,
 * COPY, MOVE, APPEND, STATUS), folders.c (names, CREATE, DELETE,
 * RENAME, subscriptions), list.c (LIST, LSUB), fetch.c and search.c.
 * The process runs as the mailbox owner in the Maildir's top directory, so folder
 * paths are relative: "." for INBOX, "./.Name" for Maildir++ folders. */

#define SESSION_TIMEOUT 1800    /* s of silence (RFC 9051 5.4: >= 30 min) */
#define SESSION_IDLE_TICK 29    /* s between IDLE keepalives */
#define SESSION_SPECIAL "quail-subscriptions" /* its absence: first login */
#define MSG_MAX (64ULL * 1024 * 1024) /* bytes of a message we read */

/* System flags; Maildir letters in flag_letter order. */
#define FL_DRAFT 1              /* D */
#define FL_FLAGGED 2            /* F */
#define FL_ANSWERED 4           /* R */
#define FL_SEEN 8               /* S */
#define FL_DELETED 16           /* T */
#define FL_ALL 31
/* keywords above: FL_KW() in keywords.h */

#define CAP_SESSION "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE " \
	"UIDPLUS MOVE UNSELECT CHILDREN LIST-EXTENDED SPECIAL-USE QUOTA " \
	"QUOTA=RES-STORAGE QUOTA=RES-MESSAGE CONDSTORE QRESYNC"

struct msg {
	unsigned long uid;
	char *name;             /* the file name in cur/ (or new/) */
	size_t baselen;
	unsigned flags;         /* FL_ bits, from the name */
	unsigned char recent;
	unsigned char innew;    /* in new/ (a read-only view leaves it there) */
	unsigned char gone;     /* the file is gone; EXPUNGE not sent yet */
	unsigned char sized;    /* size is known */
	unsigned char dated;    /* date is known */
	unsigned long long size; /* RFC822.SIZE: the CRLF size */
	time_t date;            /* INTERNALDATE */
	unsigned long long modseq; /* RFC 7162, from the uid list */
};

struct mailbox {
	char *dir;              /* "." or "./.Name" */
	char *name;             /* as the client named it */
	int readonly;
	unsigned long validity, next;
	unsigned long long highest; /* HIGHESTMODSEQ of the last sync */
	struct msg *m;          /* ascending uid; seq = index + 1 */
	size_t n, cap;
	size_t recent;          /* \Recent count last reported */
	size_t exists;          /* EXISTS last reported */
	struct timespec mt_new, mt_cur;
	struct kwmap kw;        /* the folder's keywords */
	size_t kwsent;          /* keywords in the FLAGS last sent */
};

/* The message last read, CRLF line ends, for FETCH and SEARCH. */
struct msgtext {
	unsigned long uid;      /* 0: none */
	struct str text;
};

struct session {
	struct conn c;
	struct imap_cmd cmd;
	int selected;
	struct mailbox mb;
	struct msgtext cache;
	struct imap_seq seq;
	struct str t, u;        /* scratch */
	int enabled_utf8;
	int condstore;          /* RFC 7162: FETCH responses carry MODSEQ */
	int qresync;            /* ... and expunges are VANISHED */
	int autosync;           /* reply() first reports folder changes */
	int autoexpunge;        /* ... EXPUNGE included (not during FETCH,
	                         * STORE, SEARCH, COPY: RFC 3501 7.4.1) */
	int done;               /* LOGOUT */
};

int session_main(void);

/* Replies to the current command. */
void reply(struct session *s, const char *text);
void reply_bad(struct session *s, const char *why);
/* "NO" with the text of errno for a failed system call on what. */
void reply_errno(struct session *s, const char *what);

/* store.c: CLOSE, its expunge silent (RFC 3501 6.4.2) */
void cmd_close(struct session *s);

/* SELECT's parameters (RFC 7162): QRESYNC (validity modseq [known]). */
struct select_opts {
	int qresync;
	unsigned long validity;
	unsigned long long modseq;
	const char *known;      /* known-uids, or NULL: all below UIDNEXT */
	size_t knownlen;
};

#define MODSEQ_MAX 0x7fffffffffffffffULL /* RFC 7162: 63 bits */

/* mailbox.c */
int mb_select(struct session *s, const char *name, size_t n, int readonly,
              const struct select_opts *o);
/* Builds the message list a SELECT left to the first command that needs
 * it. */
void mb_ready(struct session *s);
void mb_close(struct session *s);
/* Brings the view up to date and writes the untagged responses;
 * expunges are reported (and dropped from the view) only when allowed.
 * 0 ok, -1 error (errno). */
int mb_sync(struct session *s, int allow_expunge);
/* Cheap check: 1 when new/ or cur/ changed since the last sync. */
int mb_changed(struct session *s);
unsigned msg_flags_of(const char *name);
void put_flags(struct session *s, unsigned flags, int recent);
/* "* n FETCH (...)" of message i: UID when uid (or CONDSTORE is on),
 * FLAGS when flags, MODSEQ when CONDSTORE is on. */
void put_fetch_flags(struct session *s, size_t i, int uid, int flags);
/* Flags of a list (or one flag) with keywords of kw, folder dir; new
 * keywords are named in its file when create is set, else skipped.
 * 1 ok, 0 bad, -1 error (errno), -2 too many keywords. */
int parse_flags(struct session *s, const struct imap_arg *list,
                unsigned *flags, struct kwmap *kw, const char *dir,
                int create);
/* The untagged FLAGS and PERMANENTFLAGS of the selected folder. */
void put_flaglists(struct session *s);
/* The list of flags and keywords of the selected folder. */
void put_flaglist(struct session *s, unsigned flags);
/* out = name's unique part, ":2," and letters for flags, other letters
 * it has (P, ...) kept: 0 ok, -1 error. */
int name_withflags(struct str *out, const char *name, unsigned flags);
/* Renames message i for new flags: 0 ok, -1 error. */
int msg_setflags(struct session *s, size_t i, unsigned flags);
/* A set of sequence numbers or UIDs (uid) as a mask of the view's
 * message indexes, sel[0..mb.n) of 0/1, to free(); NULL after a BAD
 * reply for a bad set. */
unsigned char *seq_select(struct session *s, const struct imap_arg *set,
                          int uid);
size_t msg_find_uid(const struct mailbox *mb, unsigned long uid);
int msg_path(struct session *s, struct str *out, size_t i);
int msg_size(struct session *s, size_t i, unsigned long long *size);
time_t msg_date(struct session *s, size_t i);
void cmd_store(struct session *s);
void cmd_expunge(struct session *s);
void cmd_copy(struct session *s, int move);
void cmd_append(struct session *s);
void cmd_status(struct session *s);

/* condstore.c: CONDSTORE and QRESYNC (RFC 7162) */
/* "MODSEQ (n)" of a message. */
void put_modseq(struct session *s, const struct msg *m);
/* Ascending numbers as a set, runs as ranges: "1:3,7". */
void put_uidset(struct session *s, const unsigned long *u, size_t n);
/* "* VANISHED uids" for the messages of the view that are gone (under
 * QRESYNC, in place of EXPUNGE); nothing when there are none. */
void put_vanished(struct session *s);
/* "* VANISHED (EARLIER) uids" for the UIDs of q not in the view (q is
 * resolved and sorted); nothing when there are none. */
void put_vanished_earlier(struct session *s, struct imap_seq *q);
/* A mod-sequence argument, 0 to MODSEQ_MAX: 1 ok, 0 bad. */
int modseq_arg(const struct imap_arg *a, unsigned long long *out);
/* SELECT's HIGHESTMODSEQ, and its QRESYNC replies when o asks (o may be
 * NULL). */
void condstore_select_replies(struct session *s, const struct select_opts *o);

/* folders.c */
/* The directory of a folder name (INBOX in any case is "."): 1 ok, 0 a
 * name that can't be a folder. */
int folder_dir(struct str *out, const char *name, size_t n);
int folder_exists(const char *dir);
int folder_is_inbox(const char *name, size_t n);
/* The special-use attribute ("\\Sent") of a folder name, or NULL. */
const char *folder_special_attr(const char *name);
/* The subscriptions file into out: 1, 0 when there is none yet, -1 when
 * it cannot be read. */
int folders_subs_read(struct str *out);
int folders_first_login(void);
void cmd_create(struct session *s);
void cmd_delete(struct session *s);
void cmd_rename(struct session *s);
void cmd_subscribe(struct session *s, int on);
/* list.c */
void cmd_list(struct session *s, int lsub);

/* fetch.c */
void cmd_fetch(struct session *s);
/* The message at index i, read and with CRLF line ends, in s->cache:
 * 0 ok, -1 error (errno; ENOENT when it is gone). */
int msg_load(struct session *s, size_t i);

/* quota.c */
struct maildir_quota;
/* 1 when the user has a quota (filled in), 0 none. */
int quota_get(struct maildir_quota *q);
/* Before bytes and count more go into folder dir: 0 fine, 1 refused
 * (NO [OVERQUOTA], or NO for an error, sent). */
int quota_refuses(struct session *s, const char *dir,
                  unsigned long long bytes, unsigned long long count);
void cmd_getquotaroot(struct session *s);
void cmd_getquota(struct session *s);

/* search.c */
void cmd_search(struct session *s);

#endif
