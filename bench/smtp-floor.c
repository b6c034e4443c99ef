/* smtp-floor: the least a server started per connection by tcpserver can
 * do for smtp-source. It answers every command with a canned reply: no
 * parsing beyond the verb, a static binary with nothing to load.
 * bench/smtp-accept times it under the same tcpserver as quail-smtpd, so
 * its rate is the ceiling of the process-per-connection model itself on
 * this machine.
 *
 *	smtp-floor        throws the message away
 *	smtp-floor DIR    stores it first as DESIGN.md asks of any quail
 *	                  queue, with quail-queue's fsyncs: a message file
 *	                  and an envelope file, made unnamed, named (in
 *	                  DIR/m/NN and DIR/e/NN) and fsync'd as store_one
 *	                  says, both directories fsync'd, and only then 250.
 *	                  The ceiling of that durability in that process
 *	                  model, with no queue program to exec.
 *
 * fd 0/1: the client, as tcpserver gives it. Exit 0 at QUIT or EOF, 1 on
 * any failure (smtp-source then reports it). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "floor.h"

static char mess[1 << 20], env[4096];
static size_t messlen, envlen;

static void say(const char *s)
{
	if (write(1, s, strlen(s)) < 0)
		_exit(1);
}

static void add(char *buf, size_t max, size_t *len, const char *s)
{
	size_t n = strlen(s);

	if (*len + n > max)
		_exit(1);
	memcpy(buf + *len, s, n);
	*len += n;
}

/* One file of the pair, made unnamed in DIR/kind/NN and named there as
 * quail-queue does: the envelope (first) is fsync'd before its link,
 * and each is fsync'd after it (the link count). The directory's fd is
 * left in *dfd for the caller to fsync. */
static void store_one(const char *dir, char kind, unsigned nn,
                      const char *name, const char *p, size_t n, int *dfd)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof path, "%s/%c/%02u", dir, kind, nn);
	*dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*dfd < 0)
		_exit(1);
	fd = openat(*dfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, p, n) != (ssize_t)n ||
	    (kind == 'e' && fsync(fd) < 0) ||
	    linkat(fd, "", *dfd, name, AT_EMPTY_PATH) < 0 || fsync(fd) < 0 ||
	    close(fd) < 0)
		_exit(1);
}

static void store(const char *dir)
{
	struct timespec t;
	char name[64];
	unsigned nn = (unsigned)getpid() % 32;
	int md, ed;

	clock_gettime(CLOCK_REALTIME, &t);
	snprintf(name, sizeof name, "%lld.%ld.%d", (long long)t.tv_sec,
	         t.tv_nsec, (int)getpid());
	store_one(dir, 'm', nn, name, mess, messlen, &md);
	store_one(dir, 'e', nn, name, env, envlen, &ed);
	if (fsync(md) < 0 || fsync(ed) < 0)
		_exit(1);
	close(md);
	close(ed);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : 0;
	char l[1024];

	say("220 floor ESMTP\r\n");
	while (line_get(l, sizeof l) == 0) {
		if (!strncasecmp(l, "EHLO", 4)) {
			say("250-floor\r\n250 PIPELINING\r\n");
		} else if (!strncasecmp(l, "MAIL", 4) ||
		           !strncasecmp(l, "RCPT", 4)) {
			add(env, sizeof env, &envlen, l);
			say("250 ok\r\n");
		} else if (!strncasecmp(l, "DATA", 4)) {
			say("354 go ahead\r\n");
			while (line_get(l, sizeof l) == 0 && strcmp(l, ".\r\n"))
				if (dir)
					add(mess, sizeof mess, &messlen, l);
			if (dir)
				store(dir);
			messlen = envlen = 0;
			say("250 ok\r\n");
		} else if (!strncasecmp(l, "QUIT", 4)) {
			say("221 bye\r\n");
			return 0;
		} else {
			say("250 ok\r\n");
		}
	}
	return 0;
}
