#ifndef QUAIL_IO_H
#define QUAIL_IO_H

#include <stddef.h>
#include <sys/types.h>

#include "str.h"

/* Buffered reading from an fd with an idle timeout and an optional
 * overall deadline. The buffer is the caller's; pos..end is unread data,
 * which a protocol parser may consume directly. */
struct rd {
	int fd;
	int timeout;            /* ms per read; < 0 waits forever */
	long long deadline;     /* io_now_ms() value; 0 is none */
	int kernel;             /* the socket itself times reads out */
	char *buf;
	size_t pos, end, cap;
};

void rd_init(struct rd *, int fd, char *buf, size_t cap, int timeout_ms);
/* Reads more into the buffer: > 0 bytes added, 0 EOF, -1 error with
 * errno set (ETIMEDOUT when the timeout or deadline passed). */
ssize_t rd_fill(struct rd *);
size_t rd_avail(const struct rd *);

enum { RD_OK = 1, RD_EOF = 0, RD_ERR = -1, RD_LONG = -2 };
/* Reads one line through its LF into line (LF included). RD_LONG: the line
 * exceeded max bytes; it was read up to and including its LF and dropped.
 * RD_EOF: end of input before a LF (a partial line is dropped). */
int rd_line(struct rd *, struct str *line, size_t max);

/* Buffered writing with a timeout per write. */
struct wr {
	int fd;
	int timeout;
	long long deadline;
	int kernel;             /* the socket itself times writes out */
	char *buf;
	size_t len, cap;
};

void wr_init(struct wr *, int fd, char *buf, size_t cap, int timeout_ms);

/* A program exec'd on the client's socket should find it as tcpserver
 * gave it: io_untime takes the timeouts rd_init and wr_init set on a
 * socket off fd (in the child, before the exec); rd_retime and
 * wr_retime set them again (in the parent, if it goes on). */
void io_untime(int fd);
void rd_retime(struct rd *);
void wr_retime(struct wr *);
/* Each returns 0 on success, -1 on error with errno set. */
int wr_put(struct wr *, const char *, size_t);
int wr_puts(struct wr *, const char *);
int wr_flush(struct wr *);

/* Writes all of p[0..n) to fd, retrying short writes and EINTR. */
int io_writeall(int fd, const char *p, size_t n);
/* Waits until fd is readable (events POLLIN) or writable (POLLOUT):
 * 1 ready, 0 timed out, -1 error. */
int io_wait(int fd, short events, int timeout_ms, long long deadline);
long long io_now_ms(void);

/* Reads n bytes at offset off, retrying short reads and EINTR: the
 * bytes read (fewer than n only at end of file), or -1 with errno set. */
ssize_t io_preadall(int fd, void *buf, size_t n, off_t off);

/* Unnamed files (O_TMPFILE): a crash leaves nothing behind, and the file
 * has a name only once it is complete. io_tmpfile makes one for writing
 * in directory dir (relative to dfd), its inode taken near that
 * directory's; -1 with errno set where the filesystem, or a missing
 * /proc (which io_tmplink needs on Linux before 6.10), rules that out:
 * the caller then makes a named file. io_tmplink gives fd the name path
 * (relative to dfd), never over an existing one (EEXIST): 0, or -1 with
 * errno set. */
int io_tmpfile(int dfd, const char *dir, mode_t mode);
/* The link raises fd's link count (0 to 1) in its inode, which only an
 * fsync of fd writes: a directory's fsync alone can leave, after a
 * power cut on a disk without a journal, a name whose inode the disk
 * calls free. */
int io_tmplink(int fd, int dfd, const char *path);

/* fsync of the directory path (relative to dfd), or of the one holding
 * path's last component ("." when it has none): 0, or -1 with errno set.
 * What makes a new or removed name durable. */
int io_fsync_dir(int dfd, const char *path);
int io_fsync_parent(const char *path);

/* A directory's names in big batches: getdents64 with a 32 KB buffer
 * (musl's readdir asks for 2 KB at a time, 2,500 system calls for a
 * folder of 100,000 messages). io_dir_open opens path relative to dfd:
 * 0, or -1 with errno set. io_dir_next gives the next name (".", ".."
 * included) and its length, or 0 at the end (errno 0) or on an error
 * (errno set). */
struct io_dir {
	int fd;
	size_t pos, len;
	char buf[32768];
};
int io_dir_open(struct io_dir *, int dfd, const char *path);
const char *io_dir_next(struct io_dir *, size_t *len);
void io_dir_close(struct io_dir *);

#endif
