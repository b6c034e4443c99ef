/* Tests for Maildir unique names: the format, uniqueness within a process
 * and across a fork, and the escaping of the host name. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fmt.h"
#include "uniq.h"
#include "test.h"

#define NAMES 10000

/* Reads decimal digits at *p up to the byte stop; 1 when there were some
 * and stop followed. */
static int field(const char **p, const char *end, char stop,
                 unsigned long long *v)
{
	size_t n = byte_chr(*p, (size_t)(end - *p), stop);

	if (*p + n == end || !scan_ulong(*p, n, v))
		return 0;
	*p += n + 1;
	return 1;
}

/* Splits "<sec>.M<usec>P<pid>Q<n>.<host>"; 1 when it has that form. */
static int parse_name(const struct str *s, unsigned long long v[4],
                      const char **host)
{
	const char *p = s->s, *end = s->s + s->len;

	if (!field(&p, end, '.', &v[0]) || p == end || *p++ != 'M')
		return 0;
	if (!field(&p, end, 'P', &v[1]) || !field(&p, end, 'Q', &v[2]) ||
	    !field(&p, end, '.', &v[3]))
		return 0;
	*host = p;
	return 1;
}

static void test_format(void)
{
	struct str s = STR_ZERO;
	unsigned long long v[4], q;
	const char *host;
	time_t now = time(0);

	CHECK(uniq_name(&s));
	CHECK(s.len > 0 && s.s[s.len] == 0);
	CHECK(strlen(s.s) == s.len);
	CHECK(parse_name(&s, v, &host));
	CHECK(v[0] + 2 >= (unsigned long long)now &&
	      v[0] <= (unsigned long long)now + 2);
	CHECK(v[1] < 1000000);
	CHECK(v[2] == (unsigned long long)getpid());
	CHECK(strcmp(host, uniq_host()) == 0);
	CHECK(*host != 0);
	CHECK(!strchr(s.s, '/') && !strchr(s.s, ':'));
	q = v[3];
	CHECK(uniq_name(&s));
	CHECK(parse_name(&s, v, &host));
	CHECK(v[3] == q + 1);
	str_free(&s);
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_unique(void)
{
	struct str s = STR_ZERO;
	char **names = calloc(NAMES, sizeof *names);
	size_t i, made = 0;

	CHECK(names != 0);
	for (i = 0; names && i < NAMES; i++) {
		CHECK(uniq_name(&s));
		names[i] = strdup(s.s);
		CHECK(names[i] != 0);
		if (names[i])
			made++;
	}
	CHECK(made == NAMES);
	if (made == NAMES) {
		qsort(names, NAMES, sizeof *names, cmp);
		for (i = 1; i < NAMES; i++)
			CHECK(strcmp(names[i - 1], names[i]) != 0);
	}
	for (i = 0; names && i < NAMES; i++)
		free(names[i]);
	free(names);
	str_free(&s);
}

/* A child makes a name in the same microsecond window as its parent. */
static void test_fork(void)
{
	struct str mine = STR_ZERO, theirs = STR_ZERO;
	char buf[1200];
	int fd[2], status;
	ssize_t n;
	pid_t pid;

	CHECK(pipe(fd) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(fd[0]);
		if (!uniq_name(&mine) ||
		    write(fd[1], mine.s, mine.len) != (ssize_t)mine.len)
			_exit(1);
		_exit(0);
	}
	close(fd[1]);
	CHECK(uniq_name(&mine));
	n = read(fd[0], buf, sizeof buf);
	close(fd[0]);
	CHECK(waitpid(pid, &status, 0) == pid && status == 0);
	CHECK(n > 0 && str_copyb(&theirs, buf, (size_t)n));
	CHECK(!str_eqb(&theirs, mine.s, mine.len));
	str_free(&mine);
	str_free(&theirs);
}

static void test_host_escape(void)
{
	static const struct {
		const char *raw, *esc;
	} t[] = {
		{ "mail.example.org", "mail.example.org" },
		{ "a/b", "a\\057b" },
		{ "a:b", "a\\072b" },
		{ "/:/", "\\057\\072\\057" },
		{ "::", "\\072\\072" },
		{ "host-1", "host-1" },
		{ "", "localhost" },
	};
	struct str s = STR_ZERO;
	unsigned long long v[4];
	const char *host;
	char longname[400];
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		uniq_sethost(t[i].raw, strlen(t[i].raw));
		CHECK(strcmp(uniq_host(), t[i].esc) == 0);
		CHECK(uniq_name(&s));
		CHECK(parse_name(&s, v, &host));
		CHECK(strcmp(host, t[i].esc) == 0);
		CHECK(!strchr(s.s, '/') && !strchr(s.s, ':'));
	}
	/* the length bounds the name, and so does a NUL */
	uniq_sethost("ab:cd", 3);
	CHECK(strcmp(uniq_host(), "ab\\072") == 0);
	uniq_sethost("ab\0cd", 5);
	CHECK(strcmp(uniq_host(), "ab") == 0);
	/* a name longer than any host name is cut, all of it escaped */
	memset(longname, '/', sizeof longname);
	uniq_sethost(longname, sizeof longname);
	CHECK(strlen(uniq_host()) == 4 * (size_t)HOST_NAME_MAX);
	str_free(&s);
}

int main(void)
{
	RUN(test_format);
	RUN(test_unique);
	RUN(test_fork);
	RUN(test_host_escape);
	return test_done();
}
