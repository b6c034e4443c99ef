/* Event logging on stderr: one line, one event, stable key=value fields. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcode.h"
#include "fmt.h"
#include "io.h"
#include "log.h"

static const char *progname = "quail";

void log_init(const char *prog)
{
	progname = prog;
}

static void put(char *line, size_t *len, size_t cap, const char *p, size_t n)
{
	if (n > cap - *len)
		n = cap - *len;
	memcpy(line + *len, p, n);
	*len += n;
}

static void put_value(char *line, size_t *len, size_t cap, const char *v)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;
	char e[4];

	if (!v)
		v = "-";
	for (i = 0; v[i] && i < LOG_VALUE_MAX; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c > 32 && c < 127 && c != '\\') {
			put(line, len, cap, (const char *)&v[i], 1);
			continue;
		}
		e[0] = '\\';
		e[1] = 'x';
		e[2] = hex[c >> 4];
		e[3] = hex[c & 15];
		put(line, len, cap, e, 4);
	}
	if (v[i])
		put(line, len, cap, "...", 3);
}

static void log_va(const char *level, va_list ap)
{
	char line[4096];
	size_t len = 0, cap = sizeof line - 1;
	const char *k;
	int saved = errno;

	put(line, &len, cap, progname, strlen(progname));
	put(line, &len, cap, ": ", 2);
	put(line, &len, cap, level, strlen(level));
	put(line, &len, cap, ":", 1);
	while ((k = va_arg(ap, const char *)) != 0) {
		put(line, &len, cap, " ", 1);
		put(line, &len, cap, k, strlen(k));
		put(line, &len, cap, "=", 1);
		put_value(line, &len, cap, va_arg(ap, const char *));
	}
	line[len++] = '\n';
	io_writeall(2, line, len);
	errno = saved;
}

void log_kv(const char *level, ...)
{
	va_list ap;

	va_start(ap, level);
	log_va(level, ap);
	va_end(ap);
}

void die_kv(int code, ...)
{
	va_list ap;

	va_start(ap, code);
	log_va("fatal", ap);
	va_end(ap);
	_exit(code);
}

void die_nomem(void)
{
	die_kv(EXIT_TEMP, "event", "nomem", (char *)0);
}

const char *log_errname(int e)
{
	static const struct {
		int e;
		const char *name;
	} t[] = {
		{ EPERM, "EPERM" }, { ENOENT, "ENOENT" }, { EINTR, "EINTR" },
		{ EIO, "EIO" }, { EBADF, "EBADF" }, { EAGAIN, "EAGAIN" },
		{ ENOMEM, "ENOMEM" }, { EACCES, "EACCES" }, { EBUSY, "EBUSY" },
		{ EEXIST, "EEXIST" }, { EXDEV, "EXDEV" }, { ENOTDIR, "ENOTDIR" },
		{ EISDIR, "EISDIR" }, { EINVAL, "EINVAL" }, { ENFILE, "ENFILE" },
		{ EMFILE, "EMFILE" }, { EFBIG, "EFBIG" }, { ENOSPC, "ENOSPC" },
		{ EROFS, "EROFS" }, { EMLINK, "EMLINK" }, { EPIPE, "EPIPE" },
		{ ENAMETOOLONG, "ENAMETOOLONG" }, { ENOSYS, "ENOSYS" },
		{ ENOTEMPTY, "ENOTEMPTY" }, { ELOOP, "ELOOP" },
		{ EOPNOTSUPP, "EOPNOTSUPP" }, { ETIMEDOUT, "ETIMEDOUT" },
		{ ESTALE, "ESTALE" }, { EDQUOT, "EDQUOT" },
	};
	static char other[4 + FMT_ULONG];
	size_t k;

	for (k = 0; k < sizeof t / sizeof t[0]; k++)
		if (t[k].e == e)
			return t[k].name;
	other[0] = 'E';
	fmt_u(other + 1, (unsigned long long)(e < 0 ? -e : e));
	return other;
}
