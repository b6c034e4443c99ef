/* quail-qstat: counts what is in the queue.
 *
 * quail-qstat [-q DIR]
 *
 * Prints on fd 1, one "label: N" line each:
 *   messages            envelopes in env/ (scheduled messages)
 *   recipients pending  recipients of those still to be delivered
 *   orphans             messages in mess/ without an envelope (being
 *                       queued or removed right now, or crash leftovers)
 *   broken              envelopes that cannot be used: damaged, or
 *                       without their message
 *   tmp                 files in tmp/ (being written, or crash leftovers)
 * Problems reading the queue are logged on fd 2.
 *
 * Reads the queue ($QUAIL_QUEUE or QUEUEDIR, or -q DIR); writes nothing
 * there. Runs as the queue user or root.
 * Exit codes: 0 counted; 100 bad usage; 111 the queue could not be read
 * completely (the counts printed are what could be read).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exitcode.h"
#include "fmt.h"
#include "io.h"
#include "log.h"
#include "qfile.h"

struct stat_counts {
	int qfd;
	unsigned long long messages, pending, orphans, broken, tmp;
	int errors;
	struct qfile_env env;   /* reused for every envelope */
};

static void warn(struct stat_counts *s, const char *event, const char *path,
                 int e)
{
	s->errors = 1;
	log_kv("warn", "event", event, "path", path,
	       "error", e ? log_errname(e) : 0, (char *)0);
}

/* 1 when path exists, 0 when not, -1 on error (reported). */
static int exists(struct stat_counts *s, const char *path)
{
	struct stat st;

	if (fstatat(s->qfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	warn(s, "stat", path, errno);
	return -1;
}

static int count_tmp(void *arg, int nn, const char *name)
{
	struct stat_counts *s = arg;

	(void)nn;
	(void)name;
	s->tmp++;
	return 0;
}

static int count_mess(void *arg, int nn, const char *name)
{
	struct stat_counts *s = arg;
	char env[QFILE_PATH_MAX];
	unsigned long long id;

	(void)nn;
	if (!qfile_id(name, &id))
		return 0;
	qfile_path(env, QFILE_ENV, id);
	if (exists(s, env) == 0)
		s->orphans++;
	return 0;
}

static int count_env(void *arg, int nn, const char *name)
{
	struct stat_counts *s = arg;
	char env[QFILE_PATH_MAX], mess[QFILE_PATH_MAX];
	unsigned long long id;
	const char *step;
	int r;

	(void)nn;
	if (!qfile_id(name, &id))
		return 0;
	r = qfile_env_load(&s->env, s->qfd, id, &step);
	if (r < 0) {
		if (errno != ENOENT) {  /* else removed since the scan saw it */
			qfile_path(env, QFILE_ENV, id);
			warn(s, step, env, errno);
		}
		return 0;
	}
	s->messages++;
	qfile_path(mess, QFILE_MESS, id);
	if (r == 0 || exists(s, mess) == 0)
		s->broken++;
	else
		s->pending += s->env.pending;
	return 0;
}

static void put_count(struct wr *w, const char *label, unsigned long long n)
{
	char buf[FMT_ULONG];

	wr_puts(w, label);
	wr_put(w, buf, fmt_ulong(buf, n));
	wr_put(w, "\n", 1);
}

int main(int argc, char **argv)
{
	struct stat_counts s = { -1, 0, 0, 0, 0, 0, 0, QFILE_ENV_ZERO };
	const char *dir;
	char buf[512];
	struct wr w;

	log_init("quail-qstat");
	dir = qfile_dir_opt(argc, argv, "quail-qstat [-q DIR]");
	s.qfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s.qfd < 0)
		die_kv(EXIT_TEMP, "event", "open", "path", dir,
		       "error", log_errname(errno), (char *)0);
	if (qfile_scan(s.qfd, QFILE_ENV, count_env, &s) < 0)
		warn(&s, "scan", "env", errno);
	if (qfile_scan(s.qfd, QFILE_MESS, count_mess, &s) < 0)
		warn(&s, "scan", "mess", errno);
	if (qfile_scan(s.qfd, QFILE_TMP, count_tmp, &s) < 0)
		warn(&s, "scan", "tmp", errno);
	wr_init(&w, 1, buf, sizeof buf, -1);
	put_count(&w, "messages: ", s.messages);
	put_count(&w, "recipients pending: ", s.pending);
	put_count(&w, "orphans: ", s.orphans);
	put_count(&w, "broken: ", s.broken);
	put_count(&w, "tmp: ", s.tmp);
	if (wr_flush(&w) < 0)
		die_kv(EXIT_TEMP, "event", "write", "error",
		       log_errname(errno), (char *)0);
	qfile_env_free(&s.env);
	return s.errors ? EXIT_TEMP : 0;
}
