/* Maildir unique names, modern form: "<sec>.M<usec>P<pid>Q<n>.<host>".
 * Seconds, microseconds and pid make a name unique between processes
 * (a pid is not reused within one microsecond); Q makes it unique within
 * one process, however fast the calls come. */
#include <limits.h>
#include <time.h>
#include <unistd.h>

#include "uniq.h"

#ifndef HOST_NAME_MAX
#define HOST_NAME_MAX 255
#endif

/* Each byte of the host name escapes to at most 4 ("\057"). */
#define UNIQ_HOST_MAX (4 * HOST_NAME_MAX + 1)

static char host[UNIQ_HOST_MAX];
static unsigned long long counter;

/* Escapes the raw name into host: '/' would split the path and ':'
 * starts the info part of a Maildir name. */
static void host_escape(const char *raw, size_t n)
{
	size_t i, k = 0;

	if (n > HOST_NAME_MAX)
		n = HOST_NAME_MAX;
	for (i = 0; i < n && raw[i]; i++) {
		if (raw[i] == '/' || raw[i] == ':') {
			host[k++] = '\\';
			host[k++] = '0';
			host[k++] = raw[i] == '/' ? '5' : '7';
			host[k++] = raw[i] == '/' ? '7' : '2';
		} else {
			host[k++] = raw[i];
		}
	}
	host[k] = 0;
}

const char *uniq_host(void)
{
	char raw[HOST_NAME_MAX + 1];

	if (host[0])
		return host;
	/* POSIX leaves a truncated name unterminated: terminate it here */
	if (gethostname(raw, sizeof raw - 1) != 0 || !raw[0])
		host_escape("localhost", 9);
	else {
		raw[sizeof raw - 1] = 0;
		host_escape(raw, sizeof raw - 1);
	}
	return host;
}

void uniq_sethost(const char *raw, size_t n)
{
	host_escape(raw, n);
	if (!host[0])
		host_escape("localhost", 9);
}

int uniq_name(struct str *out)
{
	struct timespec ts;
	pid_t pid = getpid();

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
		ts.tv_sec = time(0);
		ts.tv_nsec = 0;
	}
	out->len = 0;
	return str_catu(out, (unsigned long long)ts.tv_sec) &&
	       str_cats(out, ".M") &&
	       str_catu(out, (unsigned long long)(ts.tv_nsec / 1000)) &&
	       str_catc(out, 'P') &&
	       str_catu(out, (unsigned long long)pid) &&
	       str_catc(out, 'Q') &&
	       str_catu(out, counter++) &&
	       str_catc(out, '.') &&
	       str_cats(out, uniq_host()) &&
	       str_0(out);
}
