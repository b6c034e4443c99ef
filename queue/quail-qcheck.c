/* quail-qcheck: creates the queue tree when missing and repairs it.
 *
 * quail-qcheck [-q DIR] [-n]
 *
 * Creates the missing parts of the tree (lib/qfile.h), sets modes and
 * owners of the tree entries to what they should be (owner: the owner of
 * the queue directory), removes tmp/ files and orphan messages (mess/NN/ID
 * without env/NN/ID) older than 36 hours, and removes envelopes whose
 * message is gone (never acknowledged to a client) once they are an hour
 * old. Damaged envelopes and stray names are reported, never touched.
 * With -n it only reports. Safe while quail-queue and quail-send run: the
 * age limits keep it away from anything in flight.
 *
 * Reads and writes the queue ($QUAIL_QUEUE or QUEUEDIR, or -q DIR). Each
 * fix (or, with -n, each needed fix) is one log line on fd 2; a summary
 * goes to fd 1. Runs as the queue user or root.
 * Exit codes: 0 the queue is fine (or was repaired); 100 bad usage; 111
 * something could not be checked or repaired, or a damaged envelope.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "exitcode.h"
#include "fmt.h"
#include "io.h"
#include "log.h"
#include "qfile.h"

/* Nothing in flight is older: quail-queue gives up after 24 hours. */
#define QCHECK_TMP_AGE (36 * 3600)
#define QCHECK_ORPHAN_AGE (36 * 3600)
/* An envelope without its message is never in flight, but its inode
 * number may be reused at once by a new message: wait a while. */
#define QCHECK_ENV_AGE 3600

struct check {
	const char *dir;
	int qfd;
	int dry;                /* -n */
	int fresh;              /* the root was just made: one log line */
	time_t now;
	uid_t uid;              /* owner of the queue directory */
	gid_t gid;
	unsigned long created, fixed, tmp, orphans, envs, damaged, junk,
	              errors;
};

static void usage(void)
{
	die_kv(EXIT_PERM, "event", "usage",
	       "usage", "quail-qcheck [-q DIR] [-n]", (char *)0);
}

static void options(struct check *c, int argc, char **argv)
{
	int opt;

	while ((opt = getopt(argc, argv, "q:n")) != -1)
		switch (opt) {
		case 'q':
			c->dir = optarg;
			break;
		case 'n':
			c->dry = 1;
			break;
		default:
			usage();
		}
	if (optind != argc)
		usage();
}

static const char *errname(int e)
{
	return log_errname(e);
}

static void error(struct check *c, const char *event, const char *path, int e)
{
	c->errors++;
	log_kv("warn", "event", event, "path", path,
	       "error", e ? errname(e) : 0, (char *)0);
}

/* The root: created (only the last component) when missing. */
static void root_open(struct check *c)
{
	struct stat st;

	if (!c->dry && mkdir(c->dir, 0750) == 0) {
		c->created++;
		c->fresh = 1;
		log_kv("info", "event", "create", "path", c->dir, (char *)0);
		if (chmod(c->dir, 0750) < 0)
			die_kv(EXIT_TEMP, "event", "chmod", "path", c->dir,
			       "error", errname(errno), (char *)0);
	}
	c->qfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->qfd < 0 && errno == ENOENT && c->dry) {
		c->created++;
		log_kv("info", "event", "create", "path", c->dir, (char *)0);
		return;
	}
	if (c->qfd < 0)
		die_kv(EXIT_TEMP, "event", "open", "path", c->dir,
		       "error", errname(errno), (char *)0);
	if (fstat(c->qfd, &st) < 0)
		die_kv(EXIT_TEMP, "event", "stat", "path", c->dir,
		       "error", errname(errno), (char *)0);
	c->uid = st.st_uid;
	c->gid = st.st_gid;
}

static void entry_create(struct check *c, const char *path, mode_t mode,
                         int fifo)
{
	c->created++;
	if (!c->fresh)
		log_kv("info", "event", "create", "path", path, (char *)0);
	if (c->dry)
		return;
	if (qfile_mkentry(c->qfd, path, mode, fifo) < 0)
		error(c, "create", path, errno);
	else if (fchownat(c->qfd, path, c->uid, c->gid,
	                  AT_SYMLINK_NOFOLLOW) < 0)
		error(c, "chown", path, errno);
}

static void entry_mode(struct check *c, const char *path, mode_t want,
                       const struct stat *st)
{
	char has[8], mode[8];
	size_t i;

	for (i = 0; i < 4; i++) {
		has[3 - i] = (char)('0' + ((st->st_mode >> (3 * i)) & 7));
		mode[3 - i] = (char)('0' + ((want >> (3 * i)) & 7));
	}
	has[4] = mode[4] = 0;
	c->fixed++;
	log_kv("info", "event", "chmod", "path", path, "mode", has,
	       "want", mode, (char *)0);
	if (!c->dry && fchmodat(c->qfd, path, want, 0) < 0)
		error(c, "chmod", path, errno);
}

static void entry_owner(struct check *c, const char *path,
                        const struct stat *st)
{
	char has[FMT_ULONG], want[FMT_ULONG];

	c->fixed++;
	log_kv("info", "event", "chown", "path", path,
	       "uid", fmt_u(has, st->st_uid), "want", fmt_u(want, c->uid),
	       (char *)0);
	if (!c->dry && fchownat(c->qfd, path, c->uid, c->gid,
	                        AT_SYMLINK_NOFOLLOW) < 0)
		error(c, "chown", path, errno);
}

static void tree_check(struct check *c)
{
	char path[QFILE_PATH_MAX];
	struct stat st;
	mode_t mode;
	size_t i;
	int fifo;

	for (i = 0; qfile_tree(i, path, &mode, &fifo); i++) {
		if (fstatat(c->qfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				entry_create(c, path, mode, fifo);
			else
				error(c, "stat", path, errno);
			continue;
		}
		if (fifo ? !S_ISFIFO(st.st_mode) : !S_ISDIR(st.st_mode)) {
			error(c, "wrong_type", path, 0);
			continue;
		}
		if ((st.st_mode & 07777) != mode)
			entry_mode(c, path, mode, &st);
		if (st.st_uid != c->uid || st.st_gid != c->gid)
			entry_owner(c, path, &st);
	}
}

/* The age of path in seconds, or -1 when it is gone (or on error,
 * reported). */
static long long age(struct check *c, const char *path)
{
	struct stat st;

	if (fstatat(c->qfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			error(c, "stat", path, errno);
		return -1;
	}
	return (long long)c->now - (long long)st.st_mtime;
}

static void remove_file(struct check *c, const char *event, const char *path,
                        long long secs, unsigned long *count)
{
	char buf[FMT_ULONG];

	(*count)++;
	log_kv("info", "event", event, "path", path,
	       "age", fmt_u(buf, (unsigned long long)secs), (char *)0);
	if (!c->dry && unlinkat(c->qfd, path, 0) < 0 && errno != ENOENT)
		error(c, "unlink", path, errno);
}

/* path = sub + "/" + name, or 0 when it does not fit (reported). */
static const char *join(struct check *c, char *buf, size_t cap,
                        const char *sub, const char *name)
{
	size_t a = strlen(sub), b = strlen(name);

	if (a + 1 + b >= cap) {
		error(c, "name_too_long", sub, 0);
		return 0;
	}
	memcpy(buf, sub, a);
	buf[a] = '/';
	memcpy(buf + a + 1, name, b + 1);
	return buf;
}

static int tmp_one(void *arg, int nn, const char *name)
{
	struct check *c = arg;
	char buf[512];
	const char *path = join(c, buf, sizeof buf, "tmp", name);
	long long secs;

	(void)nn;
	if (!path)
		return 0;
	secs = age(c, path);
	if (secs > QCHECK_TMP_AGE)
		remove_file(c, "remove_tmp", path, secs, &c->tmp);
	return 0;
}

/* The ID of a name in kind's subdirectory nn, or 0 (reported) when the
 * name is not one quail-queue would have made there. */
static unsigned long long entry_id(struct check *c, enum qfile_kind kind,
                                   int nn, const char *name)
{
	char sub[QFILE_PATH_MAX], buf[512];
	unsigned long long id;

	if (qfile_id(name, &id) && id % QFILE_SPLIT == (unsigned)nn)
		return id;
	qfile_subdir(sub, kind, (unsigned)nn);
	c->junk++;
	log_kv("warn", "event", "stray_name", "path",
	       join(c, buf, sizeof buf, sub, name), (char *)0);
	return 0;
}

static int mess_one(void *arg, int nn, const char *name)
{
	struct check *c = arg;
	char mess[QFILE_PATH_MAX], env[QFILE_PATH_MAX];
	unsigned long long id = entry_id(c, QFILE_MESS, nn, name);
	long long secs;
	struct stat st;

	if (!id)
		return 0;
	qfile_path(env, QFILE_ENV, id);
	if (fstatat(c->qfd, env, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	if (errno != ENOENT) {
		error(c, "stat", env, errno);
		return 0;
	}
	qfile_path(mess, QFILE_MESS, id);
	secs = age(c, mess);
	if (secs > QCHECK_ORPHAN_AGE)
		remove_file(c, "remove_orphan", mess, secs, &c->orphans);
	return 0;
}

/* Reports a damaged envelope; it holds recipients, so it stays. */
static void env_parse(struct check *c, const char *path)
{
	struct qfile_env e = QFILE_ENV_ZERO;
	int fd, r;

	fd = openat(c->qfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno != ENOENT)
			error(c, "open", path, errno);
		return;
	}
	r = qfile_env_read(&e, fd);
	if (r < 0)
		error(c, "read", path, errno);
	if (r == 0) {
		c->damaged++;
		log_kv("warn", "event", "damaged_envelope", "path", path,
		       (char *)0);
	}
	close(fd);
	qfile_env_free(&e);
}

static int env_one(void *arg, int nn, const char *name)
{
	struct check *c = arg;
	char mess[QFILE_PATH_MAX], env[QFILE_PATH_MAX];
	unsigned long long id = entry_id(c, QFILE_ENV, nn, name);
	long long secs;
	struct stat st;

	if (!id)
		return 0;
	qfile_path(env, QFILE_ENV, id);
	qfile_path(mess, QFILE_MESS, id);
	if (fstatat(c->qfd, mess, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		env_parse(c, env);
		return 0;
	}
	if (errno != ENOENT) {
		error(c, "stat", mess, errno);
		return 0;
	}
	secs = age(c, env);
	if (secs > QCHECK_ENV_AGE)
		remove_file(c, "remove_envelope", env, secs, &c->envs);
	return 0;
}

static void scan(struct check *c, enum qfile_kind kind, qfile_scan_fn *fn)
{
	if (qfile_scan(c->qfd, kind, fn, c) < 0)
		error(c, "scan", kind == QFILE_TMP ? "tmp" :
		      kind == QFILE_MESS ? "mess" : "env", errno);
}

static void put_count(struct wr *w, const char *label, unsigned long n)
{
	char buf[FMT_ULONG];

	wr_puts(w, label);
	wr_put(w, buf, fmt_ulong(buf, n));
	wr_put(w, "\n", 1);
}

static void summary(const struct check *c)
{
	char buf[1024];
	struct wr w;

	wr_init(&w, 1, buf, sizeof buf, -1);
	if (c->dry)
		wr_puts(&w, "dry run (-n): counts are fixes needed, "
		        "none made\n");
	put_count(&w, "created: ", c->created);
	put_count(&w, "fixed: ", c->fixed);
	put_count(&w, "tmp removed: ", c->tmp);
	put_count(&w, "orphans removed: ", c->orphans);
	put_count(&w, "envelopes removed: ", c->envs);
	put_count(&w, "damaged envelopes: ", c->damaged);
	put_count(&w, "stray names: ", c->junk);
	put_count(&w, "errors: ", c->errors);
	if (wr_flush(&w) < 0)
		die_kv(EXIT_TEMP, "event", "write", "error", errname(errno),
		       (char *)0);
}

int main(int argc, char **argv)
{
	struct check c;

	memset(&c, 0, sizeof c);
	log_init("quail-qcheck");
	c.dir = qfile_dir();
	options(&c, argc, argv);
	c.now = time(0);
	root_open(&c);
	if (c.qfd >= 0)
		tree_check(&c);
	/* A tree just made or repaired must outlive a power cut before
	 * anything is queued in it: without a journal, directories made a
	 * moment ago can be on disk in part, unreadable (tests/test_crash's
	 * test_power_cut). Once per fix, so the whole filesystem's. */
	if (!c.dry && c.qfd >= 0 && (c.created || c.fixed) &&
	    syncfs(c.qfd) < 0)
		error(&c, "syncfs", c.dir, errno);
	/* the rest needs the tree; a dry run on a missing tree stops here */
	if (c.created == 0 || !c.dry) {
		scan(&c, QFILE_TMP, tmp_one);
		scan(&c, QFILE_MESS, mess_one);
		scan(&c, QFILE_ENV, env_one);
	}
	summary(&c);
	return c.errors || c.damaged ? EXIT_TEMP : 0;
}
