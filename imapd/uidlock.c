/* The lock on a folder's uid list (see uidmap.h): a file made in tmp/
 * and link()ed into place, so it works on NFS where fcntl locks may
 * not. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>              /* rename */
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fmt.h"
#include "io.h"
#include "log.h"
#include "str.h"
#include "uidmap.h"
#include "uniq.h"

static int path(struct str *p, const char *dir, const char *a, const char *b)
{
	p->len = 0;
	return str_cats(p, dir) && str_catc(p, '/') && str_cats(p, a) &&
	       (!b || str_cats(p, b)) && str_0(p);
}

static void nap(void)
{
	struct timespec ts = { 0, 20 * 1000000L };

	nanosleep(&ts, 0);
}

/* A stale lock is moved aside before it is removed, and only removed
 * when what was moved is the file that was judged stale: two sessions
 * breaking the same lock must not remove a fresh one. */
static void lock_break(const char *lock, const struct stat *old,
                       struct str *aside)
{
	struct stat st;

	if (!str_cats(aside, ".stale") || !str_0(aside))
		return;
	if (rename(lock, aside->s) < 0)
		return;
	if (stat(aside->s, &st) == 0 && st.st_ino == old->st_ino &&
	    st.st_dev == old->st_dev) {
		unlink(aside->s);
		log_kv("warn", "event", "lock_broken", "file", lock, NULL);
		return;
	}
	if (link(aside->s, lock) == 0)
		unlink(aside->s);
}

/* The lock holds "pid host": a holder on this host that no longer runs
 * crashed, and its lock need not age first. */
static int lock_dead(const char *lock)
{
	char buf[300], *sp;
	unsigned long long pid;
	const char *host = uniq_host();
	ssize_t k;
	int fd = open(lock, O_RDONLY);

	if (fd < 0)
		return 0;
	k = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (k <= 0)
		return 0;
	buf[k] = 0;
	sp = strchr(buf, ' ');
	if (!sp || !scan_ulong(buf, (size_t)(sp - buf), &pid) || pid == 0 ||
	    pid > 0x7fffffffULL || strcmp(sp + 1, host))
		return 0;
	return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

static int lock_try(const char *tmp, const char *lock, struct str *aside)
{
	struct stat st;

	if (link(tmp, lock) == 0)
		return 1;
	/* NFS may report a failure for a link that was made */
	if (stat(tmp, &st) == 0 && st.st_nlink == 2)
		return 1;
	if (errno != EEXIST)
		return -1;
	if (stat(lock, &st) == 0 &&
	    (time(0) - st.st_mtime > UIDMAP_LOCK_STALE || lock_dead(lock))) {
		aside->len = 0;
		if (str_cats(aside, tmp))
			lock_break(lock, &st, aside);
	}
	return 0;
}

int uidmap_lock(const char *dir)
{
	struct str tmp = STR_ZERO, lock = STR_ZERO, u = STR_ZERO, aside = STR_ZERO;
	long long end = io_now_ms() + UIDMAP_LOCK_WAIT;
	char num[FMT_ULONG];
	int fd, r = -1, e;

	if (!uniq_name(&u) || !str_0(&u) || !path(&tmp, dir, "tmp/", u.s) ||
	    !path(&lock, dir, UIDMAP_LOCK, 0)) {
		errno = ENOMEM;
		goto out;
	}
	fd = open(tmp.s, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		goto out;
	fmt_u(num, (unsigned long long)getpid());
	if (io_writeall(fd, num, strlen(num)) < 0 || io_writeall(fd, " ", 1) < 0 ||
	    io_writeall(fd, uniq_host(), strlen(uniq_host())) < 0 ||
	    close(fd) < 0) {
		unlink(tmp.s);
		goto out;
	}
	for (;;) {
		r = lock_try(tmp.s, lock.s, &aside);
		if (r != 0)
			break;
		if (io_now_ms() > end) {
			errno = EAGAIN;
			r = -1;
			break;
		}
		nap();
	}
	e = errno;
	unlink(tmp.s);
	errno = e;
	r = r > 0 ? 0 : -1;
out:
	e = errno;
	str_free(&tmp);
	str_free(&lock);
	str_free(&u);
	str_free(&aside);
	errno = e;
	return r;
}

void uidmap_unlock(const char *dir)
{
	struct str lock = STR_ZERO;

	if (path(&lock, dir, UIDMAP_LOCK, 0))
		unlink(lock.s);
	str_free(&lock);
}
