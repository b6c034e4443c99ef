/* quail-qread: lists the messages in the queue.
 *
 * quail-qread [-q DIR]
 *
 * For each envelope in env/, oldest first, prints on fd 1
 *   ID YYYY-MM-DD HH:MM:SS UTC BYTES <SENDER>
 * then one line per recipient, "  pending ADDR", "  done ADDR" or
 * "  bounced ADDR". A damaged envelope prints "ID damaged"; an envelope
 * whose message is gone gets " nomessage" at the end of its first line.
 * Bytes outside printable ASCII in addresses are shown as \xHH.
 * Problems reading the queue are logged on fd 2.
 *
 * Reads the queue ($QUAIL_QUEUE or QUEUEDIR, or -q DIR); writes nothing
 * there. Runs as the queue user or root.
 * Exit codes: 0 listed; 100 bad usage; 111 no memory, or the queue could
 * not be read completely.
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

struct item {
	unsigned long long birth, id;
};

struct list {
	int qfd;
	int errors;
	struct item *items;
	size_t n, cap;
	struct qfile_env env;   /* reused for every envelope */
	struct wr out;
};

static void warn(struct list *l, const char *event, const char *path, int e)
{
	l->errors = 1;
	log_kv("warn", "event", event, "path", path,
	       "error", e ? log_errname(e) : 0, (char *)0);
}

/* Reads env/NN/id into l->env: 1 ok, 0 damaged, -1 gone or error. */
static int env_load(struct list *l, unsigned long long id)
{
	char env[QFILE_PATH_MAX];
	const char *step;
	int r = qfile_env_load(&l->env, l->qfd, id, &step);

	if (r < 0 && errno != ENOENT) {
		qfile_path(env, QFILE_ENV, id);
		warn(l, step, env, errno);
	}
	return r;
}

static int collect(void *arg, int nn, const char *name)
{
	struct list *l = arg;
	struct item *p;
	unsigned long long id;
	size_t cap;

	(void)nn;
	if (!qfile_id(name, &id))
		return 0;
	if (l->n == l->cap) {
		cap = l->cap ? l->cap : 256;
		if (l->cap && __builtin_mul_overflow(cap, 2, &cap))
			die_nomem();
		p = reallocarray(l->items, cap, sizeof *p);
		if (!p)
			die_nomem();
		l->items = p;
		l->cap = cap;
	}
	/* a damaged envelope sorts first, with birth 0 */
	l->items[l->n].birth = env_load(l, id) == 1 ? l->env.birth : 0;
	l->items[l->n].id = id;
	l->n++;
	return 0;
}

static int by_birth(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	if (x->birth != y->birth)
		return x->birth < y->birth ? -1 : 1;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return 0;
}

static void out_put(struct wr *w, const char *p, size_t n)
{
	if (wr_put(w, p, n) < 0)
		die_kv(EXIT_TEMP, "event", "write", "error",
		       log_errname(errno), (char *)0);
}

static void out_puts(struct wr *w, const char *s)
{
	out_put(w, s, strlen(s));
}

static void put_ulong(struct wr *w, unsigned long long u, size_t width)
{
	char buf[FMT_ULONG];
	size_t n = fmt_ulong(buf, u);

	while (n < width--)
		out_put(w, "0", 1);
	out_put(w, buf, n);
}

static void put_time(struct wr *w, unsigned long long secs)
{
	time_t t = (time_t)secs;
	struct tm tm;

	if ((unsigned long long)t != secs || !gmtime_r(&t, &tm)) {
		out_puts(w, "0000-00-00 00:00:00 UTC");
		return;
	}
	put_ulong(w, (unsigned long long)tm.tm_year + 1900, 4);
	out_put(w, "-", 1);
	put_ulong(w, (unsigned long long)tm.tm_mon + 1, 2);
	out_put(w, "-", 1);
	put_ulong(w, (unsigned long long)tm.tm_mday, 2);
	out_put(w, " ", 1);
	put_ulong(w, (unsigned long long)tm.tm_hour, 2);
	out_put(w, ":", 1);
	put_ulong(w, (unsigned long long)tm.tm_min, 2);
	out_put(w, ":", 1);
	put_ulong(w, (unsigned long long)tm.tm_sec, 2);
	out_puts(w, " UTC");
}

/* An address for a terminal: controls, space, backslash and 8-bit bytes
 * as \xHH, so a hostile address cannot forge lines or escapes. */
static void put_addr(struct wr *w, const char *a, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char e[4] = { '\\', 'x', 0, 0 };
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)a[i];

		if (c > 32 && c < 127 && c != '\\') {
			out_put(w, a + i, 1);
			continue;
		}
		e[2] = hex[c >> 4];
		e[3] = hex[c & 15];
		out_put(w, e, 4);
	}
}

static const char *state_name(char state)
{
	switch (state) {
	case QFILE_DONE:
		return "  done ";
	case QFILE_BOUNCED:
		return "  bounced ";
	default:
		return "  pending ";
	}
}

static void print_one(struct list *l, unsigned long long id)
{
	struct qfile_env *e = &l->env;
	char mess[QFILE_PATH_MAX];
	struct stat st;
	size_t i;
	int r = env_load(l, id);

	if (r < 0)
		return;
	put_ulong(&l->out, id, 0);
	if (r == 0) {
		out_puts(&l->out, " damaged\n");
		return;
	}
	out_put(&l->out, " ", 1);
	put_time(&l->out, e->birth);
	out_put(&l->out, " ", 1);
	put_ulong(&l->out, e->bytes, 0);
	out_puts(&l->out, " <");
	put_addr(&l->out, e->sender, e->senderlen);
	out_put(&l->out, ">", 1);
	qfile_path(mess, QFILE_MESS, id);
	if (fstatat(l->qfd, mess, &st, AT_SYMLINK_NOFOLLOW) < 0)
		out_puts(&l->out, " nomessage");
	out_put(&l->out, "\n", 1);
	for (i = 0; i < e->nrcpt; i++) {
		out_puts(&l->out, state_name(e->rcpt[i].state));
		put_addr(&l->out, e->rcpt[i].addr, e->rcpt[i].len);
		out_put(&l->out, "\n", 1);
	}
}

int main(int argc, char **argv)
{
	struct list l;
	const char *dir;
	static char buf[16384];
	size_t i;

	memset(&l, 0, sizeof l);
	log_init("quail-qread");
	dir = qfile_dir_opt(argc, argv, "quail-qread [-q DIR]");
	wr_init(&l.out, 1, buf, sizeof buf, -1);
	l.qfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l.qfd < 0)
		die_kv(EXIT_TEMP, "event", "open", "path", dir,
		       "error", log_errname(errno), (char *)0);
	if (qfile_scan(l.qfd, QFILE_ENV, collect, &l) < 0)
		warn(&l, "scan", "env", errno);
	if (l.n)
		qsort(l.items, l.n, sizeof *l.items, by_birth);
	for (i = 0; i < l.n; i++)
		print_one(&l, l.items[i].id);
	if (wr_flush(&l.out) < 0)
		die_kv(EXIT_TEMP, "event", "write", "error",
		       log_errname(errno), (char *)0);
	qfile_env_free(&l.env);
	free(l.items);
	return l.errors ? EXIT_TEMP : 0;
}
