/* quail-queue: puts one message into the queue; qmail-queue compatible.
 *
 * Reads the message on fd 0 to EOF, then the envelope on fd 1
 * ("Fsender\0Trcpt\0...\0" and a final "\0"; nothing after it is read).
 * Writes QUEUE/mess/NN/ID and QUEUE/env/NN/ID (layout in lib/qfile.h),
 * as unnamed files (O_TMPFILE in mess/NN and env/NN) linked into place
 * (commit says in which order with which fsyncs), or, where the
 * filesystem or a missing /proc rules that out, as files named in
 * QUEUE/tmp and renamed into place once fsync'd;
 * writes "ID\n" to the QUEUE/trigger FIFO, writes "K<ID>" on fd 6 when
 * fd 6 is a pipe, and, when QUAIL_SID is set (quail-smtpd sets it, so
 * the line joins the SMTP log), logs one line on fd 2; otherwise it is
 * silent on success, as qmail-queue is, so sendmail from cron prints
 * nothing. It exits 0 only once both
 * files and the directory entries naming them are on disk.
 *
 * Environment: QUAIL_QUEUE names the queue (ignored when setuid or
 * setgid); QUAIL_SID is copied into the log line.
 * Runs as the queue user: installed setuid to it, or started by it.
 *
 * Exit codes (qmail-queue(8)): 0 queued; 11 address over 1003 bytes;
 * 31 envelope over the size limit; 51 out of memory; 52 timeout;
 * 53 write error or disk full; 54 cannot read the message or envelope
 * (EOF before the final NUL); 62 trouble with the queue directory;
 * 91 bad envelope (also: no recipients, LF in an address). On any
 * failure nothing is left in mess/ or env/.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>              /* rename only: no stdio */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "exitcode.h"
#include "fmt.h"
#include "io.h"
#include "log.h"
#include "qfile.h"
#include "str.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE 1      /* linux/fs.h */
#endif

/* Whole run, like qmail-queue's 24 hours: a safety net against a caller
 * that hangs, not a per-read timeout (the caller has its own). */
#define QQ_DEATH 86400
/* A qmail-queue envelope larger than this is refused for good (31): the
 * envelope file it becomes must stay within QFILE_ENV_MAX. */
#define QQ_ENV_MAX (QFILE_ENV_MAX / 2)
#define QQ_READBUF 65536
#define TMP_NAME_MAX (4 + 3 * FMT_ULONG + 5)

/* The tmp files, global so the timeout handler can remove them. An
 * unnamed (O_TMPFILE) file needs no removal: it dies with its last fd,
 * crash or not, so a crash leaves nothing for quail-qcheck. */
static char tmp_mess[TMP_NAME_MAX], tmp_env[TMP_NAME_MAX];
static volatile sig_atomic_t have_tmp_mess, have_tmp_env;
static int unnamed;             /* 1: the files are O_TMPFILE ones */

struct job {
	int mfd, efd;
	unsigned long long id, bytes;
	struct timespec birth;
	struct str qq;          /* the envelope as read from fd 1 */
	struct qfile_qq check;
	struct str env;         /* the envelope file */
	char mess[QFILE_PATH_MAX], envp[QFILE_PATH_MAX];
	int in_mess, in_env;    /* renamed into mess/ or env/ */
};

static void cleanup(struct job *j)
{
	/* the envelope first: without it nothing is scheduled */
	if (j->in_env)
		unlink(j->envp);
	if (j->in_mess)
		unlink(j->mess);
	if (have_tmp_env)
		unlink(tmp_env);
	if (have_tmp_mess)
		unlink(tmp_mess);
	have_tmp_env = have_tmp_mess = 0;
	j->in_env = j->in_mess = 0;
}

/* Fails with code, logging what and the errno e (0: none). */
static void __attribute__((noreturn))
fail(struct job *j, int code, const char *what, const char *file, int e)
{
	cleanup(j);
	die_kv(code, "event", what, "file", file,
	       "error", e ? log_errname(e) : 0, (char *)0);
}

/* The exit code for a failed write, fsync, create or rename. */
static int code_for(int e, int other)
{
	switch (e) {
	case ENOSPC:
	case EDQUOT:
	case EIO:
	case EFBIG:
	case EROFS:
		return QQ_WRITE;
	case ENOMEM:
		return QQ_NOMEM;
	default:
		return other;
	}
}

static void on_timeout(int sig)
{
	static const char msg[] = "quail-queue: fatal: event=timeout\n";

	(void)sig;
	if (have_tmp_env)
		unlink(tmp_env);
	if (have_tmp_mess)
		unlink(tmp_mess);
	if (write(2, msg, sizeof msg - 1) < 0)
		_exit(QQ_TIMEOUT);
	_exit(QQ_TIMEOUT);
}

static void setup(void)
{
	struct sigaction sa;

	umask(027);
	/* a caller closing fd 6 or a dying quail-send must not kill us
	 * after the message is queued */
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_timeout;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, 0);
	alarm(QQ_DEATH);
}

/* "tmp/<sec>.<nsec>.<pid>": unique among live processes sharing the
 * queue, even across pid namespaces, short of a clock going backwards. */
static void tmp_name(struct job *j)
{
	size_t n = 4;

	clock_gettime(CLOCK_REALTIME, &j->birth);
	memcpy(tmp_mess, "tmp/", 4);
	n += fmt_ulong(tmp_mess + n, (unsigned long long)j->birth.tv_sec);
	tmp_mess[n++] = '.';
	n += fmt_ulong(tmp_mess + n, (unsigned long long)j->birth.tv_nsec);
	tmp_mess[n++] = '.';
	n += fmt_ulong(tmp_mess + n, (unsigned long long)getpid());
	tmp_mess[n] = 0;
	memcpy(tmp_env, tmp_mess, n);
	memcpy(tmp_env + n, ".env", 5);
}

/* An unnamed file made in kind's subdirectory nn (io_tmpfile), or -1.
 * ext4 takes the inode from the block group of the directory it is made
 * in, and the NN of mess/ and env/ lie in different groups
 * (qfile_mkentry), so spreading the files over them spreads the inodes
 * too, where tmp/ would put every one in the same group. */
static int tmp_open(enum qfile_kind kind, unsigned nn, mode_t mode)
{
	char dir[QFILE_PATH_MAX];

	qfile_subdir(dir, kind, nn % QFILE_SPLIT);
	return io_tmpfile(AT_FDCWD, dir, mode);
}

static void mess_create(struct job *j)
{
	struct stat st;
	int tries;

	/* group-readable: quail-rspawn, under its own user, reads
	 * messages through the queue's group (quail-send gives it) */
	tmp_name(j);            /* the birth time; the name if needed */
	j->mfd = tmp_open(QFILE_MESS, (unsigned)getpid(), 0640);
	unnamed = j->mfd >= 0;
	for (tries = 0; j->mfd < 0; tries++) {
		if (tries)
			tmp_name(j);
		j->mfd = open(tmp_mess, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		              0640);
		if (j->mfd >= 0 || errno != EEXIST || tries == 3)
			break;
	}
	if (j->mfd < 0)
		fail(j, code_for(errno, QQ_QUEUEDIR), "create", tmp_mess,
		     errno);
	have_tmp_mess = !unnamed;
	if (fstat(j->mfd, &st) < 0)
		fail(j, QQ_QUEUEDIR, "stat", tmp_mess, errno);
	j->id = (unsigned long long)st.st_ino;
	qfile_path(j->mess, QFILE_MESS, j->id);
	qfile_path(j->envp, QFILE_ENV, j->id);
}

/* fd 0 to EOF into the message file, in big blocks and nothing else. */
static void mess_copy(struct job *j)
{
	static char buf[QQ_READBUF];
	ssize_t n;

	for (;;) {
		n = read(0, buf, sizeof buf);
		if (n == 0)
			return;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fail(j, QQ_READ, "read", "message", errno);
		}
		if (io_writeall(j->mfd, buf, (size_t)n) < 0)
			fail(j, code_for(errno, QQ_WRITE), "write", tmp_mess,
			     errno);
		j->bytes += (unsigned long long)n;
	}
}

/* fd 1 up to the final NUL, checked as it arrives. */
static void env_read(struct job *j)
{
	ssize_t n;
	int r;

	while (!j->check.done) {
		if (j->qq.len > QQ_ENV_MAX)
			fail(j, QQ_PERM_REFUSED, "envelope_too_big",
			     "envelope", 0);
		if (!str_ready(&j->qq, 4096))
			fail(j, QQ_NOMEM, "nomem", "envelope", 0);
		n = read(1, j->qq.s + j->qq.len, j->qq.cap - j->qq.len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail(j, QQ_READ, "read", "envelope", errno);
		if (n == 0)
			fail(j, QQ_READ, "envelope_eof", "envelope", 0);
		j->qq.len += (size_t)n;
		r = qfile_qq_check(&j->check, j->qq.s, j->qq.len);
		if (r)
			fail(j, r, r == QQ_ADDR_TOOLONG ? "address_too_long" :
			     "bad_envelope", "envelope", 0);
	}
}

static void env_write(struct job *j)
{
	int r;

	r = qfile_env_from_qq(&j->env, j->qq.s, j->check.end,
	                      (unsigned long long)j->birth.tv_sec, j->bytes);
	if (r)
		fail(j, r, "bad_envelope", "envelope", 0);
	if (unnamed) {
		j->efd = tmp_open(QFILE_ENV, (unsigned)j->id, 0600);
		if (j->efd < 0)
			fail(j, code_for(errno, QQ_QUEUEDIR), "create", "env",
			     errno);
	} else {
		j->efd = open(tmp_env, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		              0600);
		if (j->efd < 0 && errno == EEXIST) {
			/* a dead process's: the live owner of its name
			 * would be us */
			unlink(tmp_env);
			j->efd = open(tmp_env,
			              O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			              0600);
		}
		if (j->efd < 0)
			fail(j, code_for(errno, QQ_QUEUEDIR), "create",
			     tmp_env, errno);
		have_tmp_env = 1;
	}
	if (io_writeall(j->efd, j->env.s, j->env.len) < 0)
		fail(j, code_for(errno, QQ_WRITE), "write", tmp_env, errno);
}

/* An unnamed file stays open until it has its name. */
static void file_sync(struct job *j, int fd, const char *name)
{
	if (fsync(fd) < 0)
		fail(j, code_for(errno, QQ_WRITE), "fsync", name, errno);
	if (!unnamed && close(fd) < 0)
		fail(j, code_for(errno, QQ_WRITE), "close", name, errno);
}

static void dir_sync(struct job *j, enum qfile_kind kind)
{
	char dir[QFILE_PATH_MAX];

	qfile_subdir(dir, kind, (unsigned)(j->id % QFILE_SPLIT));
	if (io_fsync_dir(AT_FDCWD, dir) < 0)
		fail(j, code_for(errno, QQ_WRITE), "fsync", dir, errno);
}

/* The message into mess/, never over an existing file: a name taken by
 * some other inode (a queue restored from backup) must not be replaced. */
static int mess_rename(struct job *j)
{
	if (unnamed)
		return io_tmplink(j->mfd, AT_FDCWD, j->mess);
	/* the system call: not every C library wraps renameat2 */
	if (syscall(SYS_renameat2, AT_FDCWD, tmp_mess, AT_FDCWD, j->mess,
	            RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (link(tmp_mess, j->mess) < 0)
		return -1;
	unlink(tmp_mess);
	return 0;
}

/* The envelope into env/, over a stale one: the message's name is
 * ours, so an envelope that names the same inode is a dead message's. */
static int env_rename(struct job *j)
{
	if (!unnamed)
		return rename(tmp_env, j->envp);
	if (io_tmplink(j->efd, AT_FDCWD, j->envp) == 0)
		return 0;
	if (errno != EEXIST || unlink(j->envp) < 0)
		return -1;
	return io_tmplink(j->efd, AT_FDCWD, j->envp);
}

static void mess_name(struct job *j)
{
	if (mess_rename(j) < 0)
		fail(j, code_for(errno, QQ_QUEUEDIR), "rename", j->mess, errno);
	have_tmp_mess = 0;
	j->in_mess = 1;
}

/* Both files durable, then both names; the envelope's name last, as it
 * is what schedules the message.
 *
 * Linking an unnamed file raises its link count, in its inode, which the
 * directory's fsync does not write: without a journal a power cut could
 * leave a name pointing at an inode the disk calls free (tests/test_crash
 * test_power_cut). So an unnamed file is fsync'd once it has its name.
 * The message's name schedules nothing (only env/ does; one without an
 * envelope is an orphan quail-qcheck removes), so it is given first and
 * one fsync covers its data and its link count; the envelope must not be
 * seen before it is whole, so it is fsync'd before its link and after. */
static void commit(struct job *j)
{
	if (unnamed)
		mess_name(j);
#ifdef SYNC_FILE_RANGE_WRITE
	/* start writeback of both before the first fsync, so one journal
	 * commit can carry both files' blocks (ext4, xfs) */
	sync_file_range(j->mfd, 0, 0, SYNC_FILE_RANGE_WRITE);
	sync_file_range(j->efd, 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
	file_sync(j, j->mfd, unnamed ? j->mess : tmp_mess);
	file_sync(j, j->efd, tmp_env);
	if (!unnamed)
		mess_name(j);
	if (env_rename(j) < 0)
		fail(j, code_for(errno, QQ_QUEUEDIR), "rename", j->envp, errno);
	have_tmp_env = 0;
	j->in_env = 1;
	if (unnamed) {
		file_sync(j, j->efd, j->envp);
		close(j->mfd);
		close(j->efd);
	}
	dir_sync(j, QFILE_MESS);
	dir_sync(j, QFILE_ENV);
	/* Named files: their tmp/ names must be gone from the disk too, or
	 * a power cut could bring one back beside the queue's name with a
	 * link count of 1, and quail-qcheck's removal of the leftover would
	 * free the message. */
	if (!unnamed)
		dir_sync(j, QFILE_TMP);
}

/* The message is queued: nothing here may fail the run. */
static void announce(struct job *j)
{
	char id[FMT_ULONG + 2], bytes[FMT_ULONG], rcpts[FMT_ULONG];
	char from[QFILE_ADDR_MAX + 3];
	const char *sid = getenv("QUAIL_SID");
	struct stat st;
	size_t n, slen;
	int fd;

	id[0] = 'K';
	n = 1 + fmt_ulong(id + 1, j->id);
	id[n] = '\n';
	fd = open("trigger", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, id + 1, n) < 0) {
			/* quail-send rescans; a full or closed FIFO is fine */
		}
		close(fd);
	}
	if (fstat(6, &st) == 0 && S_ISFIFO(st.st_mode))
		io_writeall(6, id, n);
	id[n] = 0;
	slen = strlen(j->qq.s + 1);   /* the sender, NUL-terminated in qq */
	from[0] = '<';
	memcpy(from + 1, j->qq.s + 1, slen);
	memcpy(from + 1 + slen, ">", 2);
	fmt_u(bytes, j->bytes);
	fmt_u(rcpts, j->check.nrcpt);
	if (sid)
		log_kv("info", "event", "queued", "id", id + 1, "bytes", bytes,
		       "rcpts", rcpts, "from", from, "sid", sid, (char *)0);
}

int main(void)
{
	struct job j;
	const char *dir;

	memset(&j, 0, sizeof j);
	j.mfd = j.efd = -1;
	log_init("quail-queue");
	setup();
	dir = qfile_dir();
	if (chdir(dir) < 0)
		fail(&j, QQ_QUEUEDIR, "chdir", dir, errno);
	mess_create(&j);
	mess_copy(&j);
	env_read(&j);
	alarm(0);               /* from here on, only our own disk writes */
	env_write(&j);
	commit(&j);
	announce(&j);
	return 0;
}
