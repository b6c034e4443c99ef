#ifndef QUAIL_QFILE_H
#define QUAIL_QFILE_H

/* The queue on disk, shared by quail-queue, quail-send and the queue tools.
 *
 *   QUEUE/tmp/         files being written (named only without O_TMPFILE);
 *                      crash leftovers, never scheduled
 *   QUEUE/mess/NN/ID   the message as read by quail-queue, immutable
 *   QUEUE/env/NN/ID    the envelope with per-recipient state; its presence
 *                      is what makes a message scheduled
 *   QUEUE/trigger      FIFO; quail-queue writes "ID\n" to wake quail-send
 *
 * ID is the inode number of the message file in decimal, NN is ID % 32 in
 * two decimal digits. Every function here takes paths relative to a queue
 * directory fd (AT_FDCWD after a chdir to the queue works too).
 *
 * Modes: the queue root, mess/, env/ and their subdirectories 0750, tmp/
 * 0700, trigger 0620, message files 0640, envelope files 0600. The whole
 * tree belongs to one user (the queue user); the group bits let the
 * queue's group read messages: quail-send gives that group to
 * quail-rspawn, which runs as its own user.
 *
 * Envelope file (env/NN/ID): text lines, each ending in LF, nothing else:
 *
 *   Q<birth> <bytes> <n>  birth: unix seconds when queued; bytes: size of
 *                         mess/NN/ID; n: number of T lines (so a file cut
 *                         after a whole line is still caught); decimal,
 *                         one space between
 *   F<sender>             envelope sender, empty for the null sender <>
 *   T<state><recipient>   one line per recipient, at least one
 *
 * state is one byte: '-' pending, 'D' delivered, 'B' failed permanently
 * (included in a bounce). It is the only byte ever rewritten in place:
 * quail-send pwrite()s it (qfile_env_mark) and then fdatasync()s the file
 * (qfile_env_sync) before acting on the new state. A one-byte write cannot
 * tear, so a crash leaves the old or the new state, never a broken file.
 * Addresses never contain LF or NUL and are at most QFILE_ADDR_MAX bytes.
 * A file that does not match exactly (truncated, a missing final LF, an
 * unknown line, a bad state) is rejected as a whole.
 *
 * Life of a message: quail-queue writes both files unnamed (O_TMPFILE, in
 * a mess/NN and in env/NN, where the filesystem allows) or else named in
 * tmp/. The envelope is fsync'd before it has its name in env/, as that
 * name schedules the message; an unnamed file is also fsync'd after it
 * gets its name (the link raises its link count, which only its own
 * fsync writes), so the message, whose name in mess/ schedules nothing,
 * is linked first and fsync'd once. Named files are fsync'd, then
 * renamed. Then both directories are fsync'd (and tmp/, for named
 * files). A crash before the envelope's name leaves at most an orphan
 * message. quail-send removes env/NN/ID first and mess/NN/ID
 * second (queue/gone.h: holding both open until the removal is on
 * disk, as an ID is an inode number), so a crash in between leaves an orphan message (which
 * quail-qcheck removes after a grace period) and never an envelope whose
 * message is gone. An envelope without its message was never acknowledged
 * to the client and may be removed.
 */

#include <stddef.h>
#include <sys/types.h>

#include "str.h"

#ifndef QUEUEDIR
#define QUEUEDIR "/var/spool/quail"
#endif

#define QFILE_SPLIT 32            /* hashed subdirectories NN */
#define QFILE_ADDR_MAX 1003       /* bytes per address, as qmail-queue */
#define QFILE_ENV_MAX (64UL << 20) /* bytes of one envelope file */
#define QFILE_PATH_MAX 32         /* "mess/NN/" + 20 digits + NUL, rounded */

#define QFILE_PENDING '-'
#define QFILE_DONE 'D'
#define QFILE_BOUNCED 'B'

enum qfile_kind { QFILE_MESS, QFILE_ENV, QFILE_TMP };

/* $QUAIL_QUEUE, else QUEUEDIR; the environment is ignored in a setuid or
 * otherwise privileged process (secure_getenv). */
const char *qfile_dir(void);
/* For the queue tools: the queue directory from the only option they
 * take, -q DIR, else qfile_dir(); any other argument is a usage error
 * (logged with usage, exit 100). */
const char *qfile_dir_opt(int argc, char **argv, const char *usage);

/* "mess/NN/ID" or "env/NN/ID" into buf, NUL-terminated; returns the
 * length. kind QFILE_TMP is not valid here. */
size_t qfile_path(char buf[QFILE_PATH_MAX], enum qfile_kind,
                  unsigned long long id);
/* "mess/NN" or "env/NN" for nn < QFILE_SPLIT; "tmp" for QFILE_TMP. */
size_t qfile_subdir(char buf[QFILE_PATH_MAX], enum qfile_kind, unsigned nn);
/* Parses a directory entry name as an ID: 1 ok, 0 not a decimal ID. */
int qfile_id(const char *name, unsigned long long *id);

/* The queue tree, entry by entry, for creating and checking it: fills
 * path (relative to the queue; "." is the root), mode (permission bits)
 * and fifo (1 for the trigger, 0 for a directory) for entry i; returns 0
 * past the last entry. Entries come parents first. */
int qfile_tree(size_t i, char path[QFILE_PATH_MAX], mode_t *mode, int *fifo);
/* Creates one entry of the tree at path under dfd with exactly mode; an
 * existing one is left alone. A new mess/ or env/ is marked, where the
 * filesystem allows, as the top of a directory hierarchy (chattr +T), so
 * ext4 spreads the NN under it over its block groups. 0 ok, -1 errno. */
int qfile_mkentry(int dfd, const char *path, mode_t mode, int fifo);
/* Creates dir and whatever part of the tree under it is missing, with the
 * modes above (whatever the umask). Existing entries are left as they are.
 * 0 ok; -1 with errno set, and the failing path in failed when not NULL. */
int qfile_mkqueue(const char *dir, const char **failed);

/* Calls fn for each entry of tmp/ (kind QFILE_TMP, nn -1) or of every
 * mess/NN or env/NN, NN in increasing order; "." and ".." are skipped,
 * everything else is passed, numeric or not. fn returns 0 to go on, else
 * the scan stops and returns that value. Returns 0 when done, -1 with
 * errno set when a directory cannot be read (the scan stops). */
typedef int qfile_scan_fn(void *arg, int nn, const char *name);
int qfile_scan(int qfd, enum qfile_kind, qfile_scan_fn *fn, void *arg);

/* Building an envelope file: qfile_env_head once, then qfile_env_rcpt
 * for each of the nrcpt recipients. Each appends to out and returns 0,
 * or QQ_ADDR_TOOLONG (address over QFILE_ADDR_MAX), QQ_ENVELOPE (LF or
 * NUL in the address, an empty recipient or a bad state) or QQ_NOMEM;
 * on failure out is left as it was. */
int qfile_env_head(struct str *out, unsigned long long birth,
                   unsigned long long bytes, size_t nrcpt,
                   const char *sender, size_t len);
int qfile_env_rcpt(struct str *out, const char *addr, size_t len, char state);

/* A qmail-queue envelope ("Fsender\0Trcpt\0...\0\0") arriving in pieces:
 * zero the struct, then call qfile_qq_check with everything received so
 * far each time more arrives. Returns 0 with done set once the final NUL
 * is in (end is then the envelope's length; later bytes are not part of
 * it), 0 with done clear when more is needed, or a QQ_ exit code:
 * QQ_ENVELOPE for a bad item or no recipients, QQ_ADDR_TOOLONG. An
 * address over the limit is rejected as soon as it passes it, so a hostile
 * caller cannot make the buffer grow without end. */
struct qfile_qq {
	size_t pos;             /* start of the item being checked */
	size_t end;
	size_t nrcpt;
	int done;
};
int qfile_qq_check(struct qfile_qq *, const char *p, size_t n);
/* Converts a complete, checked qmail-queue envelope p[0..n) into an
 * envelope file in out (appended), every recipient pending. Returns 0 or
 * a QQ_ code as qfile_env_head. */
int qfile_env_from_qq(struct str *out, const char *p, size_t n,
                      unsigned long long birth, unsigned long long bytes);

/* A parsed envelope file. sender and each addr point into text and are
 * NUL-terminated there (parsing turns each LF into a NUL); off is the
 * position of the recipient's state byte in the file. */
struct qfile_rcpt {
	const char *addr;
	size_t len;
	size_t off;
	char state;
};
struct qfile_env {
	unsigned long long birth, bytes;
	const char *sender;
	size_t senderlen;
	struct qfile_rcpt *rcpt;
	size_t nrcpt, rcap;
	size_t pending;         /* recipients in state QFILE_PENDING */
	struct str text;
};
#define QFILE_ENV_ZERO { 0, 0, 0, 0, 0, 0, 0, 0, STR_ZERO }

/* Parses e->text in place (filled by the caller): 1 ok, 0 malformed,
 * -1 out of memory (errno ENOMEM). */
int qfile_env_parse(struct qfile_env *e);
/* Reads the whole file open on fd (from offset 0) into e->text and
 * parses it: 1 ok, 0 malformed (or over QFILE_ENV_MAX), -1 error with
 * errno set. */
int qfile_env_read(struct qfile_env *e, int fd);
/* Opens env/NN/ID under qfd (never through a symlink) and reads it as
 * qfile_env_read: 1 ok, 0 malformed, -1 error with errno set and *step
 * saying which call failed, "open" or "read", for the caller's log line.
 * ENOENT means the envelope is gone: delivered since a scan found it. */
int qfile_env_load(struct qfile_env *e, int qfd, unsigned long long id,
                   const char **step);
void qfile_env_free(struct qfile_env *e);

/* Rewrites recipient i's state byte in the file open on fd (O_RDWR), and
 * in e (state and pending). Not yet durable: call qfile_env_sync (once for
 * several marks) before relying on it. 0 ok, -1 error with errno set
 * (EINVAL for a bad state or index). */
int qfile_env_mark(struct qfile_env *e, int fd, size_t i, char state);
int qfile_env_sync(int fd);

#endif
