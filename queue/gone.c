/* Durable removal of delivered messages: see gone.h. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "gone.h"
#include "io.h"
#include "log.h"
#include "qfile.h"

static int held[2 * GONE_MAX];  /* envelope and message of each */
static size_t nheld;
static long long first_ms;
static unsigned long long dirs;         /* bit NN: env/NN and mess/NN */

static void unlink_warn(const char *path)
{
	if (unlink(path) < 0 && errno != ENOENT)
		log_kv("warn", "event", "unlink", "file", path, "error",
		       strerror(errno), (char *)0);
}

void gone_remove(unsigned long long id, int envfd)
{
	char path[QFILE_PATH_MAX];
	int mfd;

	if (nheld + 2 > sizeof held / sizeof held[0])
		gone_flush();
	if (!dirs)
		first_ms = io_now_ms();
	/* the envelope first: a crash in between leaves an orphan
	 * message, never an envelope without one */
	qfile_path(path, QFILE_ENV, id);
	unlink_warn(path);
	qfile_path(path, QFILE_MESS, id);
	mfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	unlink_warn(path);
	if (envfd >= 0)
		held[nheld++] = envfd;
	if (mfd >= 0)
		held[nheld++] = mfd;
	dirs |= 1ULL << (id % QFILE_SPLIT);
}

long long gone_wait(long long now_ms)
{
	long long left = first_ms + GONE_MS - now_ms;

	if (!dirs)
		return -1;
	return left > 0 ? left : 0;
}

static void dir_sync(enum qfile_kind kind, unsigned nn)
{
	char dir[QFILE_PATH_MAX];

	qfile_subdir(dir, kind, nn);
	if (io_fsync_dir(AT_FDCWD, dir) < 0)
		log_kv("warn", "event", "fsync", "dir", dir, "error",
		       strerror(errno), (char *)0);
}

void gone_flush(void)
{
	unsigned nn;
	size_t i;

	for (nn = 0; nn < QFILE_SPLIT; nn++)
		if (dirs & (1ULL << nn)) {
			dir_sync(QFILE_ENV, nn);
			dir_sync(QFILE_MESS, nn);
		}
	/* only now may the inodes, and so the IDs, be taken again */
	for (i = 0; i < nheld; i++)
		close(held[i]);
	nheld = 0;
	dirs = 0;
}
