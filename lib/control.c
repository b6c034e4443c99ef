/* Control files and settings from the environment. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "control.h"
#include "exitcode.h"
#include "fmt.h"

#ifndef CONTROLDIR
#define CONTROLDIR "/etc/quail/control"
#endif

const char *control_dir(void)
{
	const char *d = getenv("QUAIL_CONTROL");

	return d && *d ? d : CONTROLDIR;
}

/* Reads the whole file into out: 1 read, 0 missing, -1 error. */
static int slurp(const char *name, struct str *out)
{
	struct str path = STR_ZERO;
	char buf[4096];
	ssize_t n;
	int fd, saved;

	out->len = 0;
	if (!str_cats(&path, control_dir()) || !str_catc(&path, '/') ||
	    !str_cats(&path, name) || !str_0(&path)) {
		str_free(&path);
		errno = ENOMEM;
		return -1;
	}
	fd = open(path.s, O_RDONLY | O_CLOEXEC);
	str_free(&path);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	for (;;) {
		n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (!str_catb(out, buf, (size_t)n)) {
			errno = ENOMEM;
			n = -1;
			break;
		}
	}
	saved = errno;
	close(fd);
	errno = saved;
	return n < 0 ? -1 : 1;
}

int control_lines(const char *name, struct str *out)
{
	struct str raw = STR_ZERO;
	size_t i = 0, j, end;
	int r;

	out->len = 0;
	r = slurp(name, &raw);
	while (r == 1 && i < raw.len) {
		j = i + byte_chr(raw.s + i, raw.len - i, '\n');
		end = j;
		while (end > i && (raw.s[end - 1] == ' ' || raw.s[end - 1] == '\t' ||
		                   raw.s[end - 1] == '\r'))
			end--;
		if (end > i && raw.s[i] != '#')
			if (!str_catb(out, raw.s + i, end - i) || !str_catc(out, 0)) {
				errno = ENOMEM;
				r = -1;
			}
		i = j + 1;
	}
	str_free(&raw);
	return r;
}

int control_line(const char *name, struct str *out, const char *def)
{
	int r = control_lines(name, out);

	if (r == 1 && out->len) {
		out->len = byte_chr(out->s, out->len, 0);
		return 1;
	}
	if (r < 0)
		return -1;
	if (!str_copys(out, def ? def : "") || !str_0(out)) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

int control_ulong(const char *name, unsigned long long *out,
                  unsigned long long def)
{
	struct str s = STR_ZERO;
	int r = control_line(name, &s, 0);

	if (r == 1 && !scan_ulong(s.s, s.len, out)) {
		errno = EINVAL;
		r = -1;
	}
	if (r == 0)
		*out = def;
	str_free(&s);
	return r;
}

int setting_ulong(const char *envname, const char *name,
                  unsigned long long *out, unsigned long long def)
{
	const char *e = envname ? getenv(envname) : 0;
	size_t n = 0;

	if (!e || !*e)          /* set but empty counts as unset */
		return control_ulong(name, out, def);
	while (e[n])
		n++;
	if (!scan_ulong(e, n, out)) {
		errno = EINVAL;
		return -1;
	}
	return 1;
}

int errno_temporary(int e)
{
	switch (e) {
	case EINVAL:
	case ENAMETOOLONG:
	case ELOOP:
	case ENOTDIR:
		return 0;
	default:
		return 1;
	}
}
