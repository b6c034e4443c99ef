/* Tests for userdb: a cdb built in a temporary directory, looked up; the
 * pgsql backend's failures without a server (tests/test_userdb_pg.py runs
 * it against a real one). */
#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io.h"

#include "test.h"
#include "userdb.h"

static char dir[] = "/tmp/userdb_test.XXXXXX";
static char dbpath[64];

/* Writes the control file dir/name (the test's control directory). */
static void put(const char *name, const char *text)
{
	char path[128];
	int fd;

	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
		exit(111);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) ||
	    close(fd) < 0)
		exit(111);
}

static void drop(const char *name)
{
	char path[128];

	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
		exit(111);
	unlink(path);
}

static const char *records[][2] = {
	{ "alice@example.org",
	  "1000:1000:/home/alice:./Maildir/:104857600S,0C::$6$s$h:with:colons" },
	{ "alice-list@example.org", "1001:1001:/home/list:/var/mail/list/:::" },
	{ "bob@example.org", "1002:1002:/home/bob:./Maildir/::disabled,nopop,x:" },
	{ "postmaster@example.org", "1003:1003:/home/pm:./Maildir/::noimap:" },
	{ "@example.org", "1004:1004:/home/catch:./:1000C::" },
	{ "carol@other.org", "1005:1005:/home/carol:./Maildir/:::" },
	{ "root@other.org", "0:0:/root:./Maildir/:::" },
	{ "bad@other.org", "1000:1000:relative:./Maildir/:::" },
	{ "badquota@other.org", "1000:1000:/h:./Maildir/:10X::" },
	{ "short@other.org", "1000:1000:/h:./Maildir/" },
	{ "a-@third.org", "1006:1006:/home/a:./Maildir/:::" },
	{ "list@third.org",
	  "1007:1007:/home/a:&alice@example.org &ops@other.org:::" },
	{ "badalias@third.org", "1007:1007:/home/a:&alice:::" },
	{ "dan@third.org", "1008:1008:/home/dan:./Maildir/::nosmtp,noimap:" },
	{ "%example.org", "" },
	{ "%other.org", "" },
};

static void build(const char *path)
{
	struct cdb_make m;
	size_t i;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || cdb_make_start(&m, fd) < 0)
		exit(111);
	for (i = 0; i < sizeof records / sizeof records[0]; i++)
		if (cdb_make_add(&m, records[i][0], strlen(records[i][0]),
		                 records[i][1], strlen(records[i][1])) < 0)
			exit(111);
	if (cdb_make_finish(&m) < 0 || close(fd) < 0)
		exit(111);
}

static int look(const char *a, struct userdb_user *u)
{
	return userdb_lookup(a, strlen(a), u);
}

static int eq(const struct str *s, const char *want)
{
	return s->len == strlen(want) && !memcmp(s->s, want, s->len) &&
	       s->s[s->len] == 0;
}

static const struct {
	const char *addr;
	int r;
	enum userdb_match match;
	const char *name, *ext;
	unsigned uid;
} table[] = {
	{ "alice@example.org", 1, USERDB_EXACT, "alice", "", 1000 },
	{ "Alice@EXAMPLE.Org", 1, USERDB_EXACT, "alice", "", 1000 },
	{ "alice-foo@example.org", 1, USERDB_EXTENSION, "alice", "foo", 1000 },
	{ "alice-a-b@example.org", 1, USERDB_EXTENSION, "alice", "a-b", 1000 },
	{ "alice-list@example.org", 1, USERDB_EXACT, "alice-list", "", 1001 },
	{ "Alice-List-X@example.org", 1, USERDB_EXTENSION, "alice-list", "x",
	  1001 },
	{ "alice-@example.org", 1, USERDB_EXTENSION, "alice", "", 1000 },
	/* an empty prefix would be the catch-all key: never tried as one */
	{ "-alice@example.org", 1, USERDB_CATCHALL, "", "-alice", 1004 },
	{ "abuse@example.org", 1, USERDB_ROLE, "postmaster", "", 1003 },
	{ "Mailer-Daemon@example.org", 1, USERDB_ROLE, "postmaster", "", 1003 },
	{ "postmaster@example.org", 1, USERDB_EXACT, "postmaster", "", 1003 },
	{ "nobody@example.org", 1, USERDB_CATCHALL, "", "nobody", 1004 },
	{ "\"a@b\"@example.org", 1, USERDB_CATCHALL, "", "\"a@b\"", 1004 },
	{ "carol@other.org", 1, USERDB_EXACT, "carol", "", 1005 },
	{ "carol-x@other.org", 1, USERDB_EXTENSION, "carol", "x", 1005 },
	{ "root@other.org", 1, USERDB_EXACT, "root", "", 0 },
	{ "a--b@third.org", 1, USERDB_EXTENSION, "a-", "b", 1006 },
	{ "List-X@third.org", 1, USERDB_EXTENSION, "list", "x", 1007 },
	{ "%example.org", 0, 0, 0, 0, 0 },     /* a marker is no address */
	{ "abuse@other.org", 0, 0, 0, 0, 0 },
	{ "nobody@other.org", 0, 0, 0, 0, 0 },
	{ "alice@example.org.", 0, 0, 0, 0, 0 },
	{ "alice", 0, 0, 0, 0, 0 },
	{ "@example.org", 0, 0, 0, 0, 0 },
	{ "alice@", 0, 0, 0, 0, 0 },
	{ "", 0, 0, 0, 0, 0 },
	/* malformed records are temporary errors, never "no such user" */
	{ "bad@other.org", -1, 0, 0, 0, 0 },
	{ "badquota@other.org", -1, 0, 0, 0, 0 },
	{ "short@other.org", -1, 0, 0, 0, 0 },
	{ "short-ext@other.org", -1, 0, 0, 0, 0 },
	{ "badalias@third.org", -1, 0, 0, 0, 0 },
};

static void test_lookup_table(void)
{
	struct userdb_user u = USERDB_USER_ZERO;
	size_t i;
	int r;

	for (i = 0; i < sizeof table / sizeof table[0]; i++) {
		errno = 0;
		r = look(table[i].addr, &u);
		CHECK(r == table[i].r);
		if (r != table[i].r)
			printf("  addr=%s r=%d\n", table[i].addr, r);
		if (r < 0)
			CHECK(errno == EBADMSG);
		if (r != 1 || table[i].r != 1)
			continue;
		CHECK(u.match == table[i].match);
		CHECK(eq(&u.name, table[i].name));
		CHECK(eq(&u.ext, table[i].ext));
		CHECK(u.uid == table[i].uid && u.gid == table[i].uid);
	}
	userdb_free(&u);
}

static void test_fields(void)
{
	struct userdb_user u = USERDB_USER_ZERO;

	CHECK(look("ALICE-Foo@Example.ORG", &u) == 1);
	CHECK(eq(&u.local, "alice-foo"));
	CHECK(eq(&u.domain, "example.org"));
	CHECK(eq(&u.home, "/home/alice"));
	CHECK(eq(&u.maildir, "./Maildir/"));
	CHECK(eq(&u.quota, "104857600S,0C"));
	CHECK(eq(&u.hash, "$6$s$h:with:colons"));
	CHECK(u.flags == 0);
	CHECK(look("bob@example.org", &u) == 1);
	CHECK(u.flags == (USERDB_DISABLED | USERDB_NOPOP));
	CHECK(eq(&u.hash, ""));
	CHECK(look("postmaster@example.org", &u) == 1);
	CHECK(u.flags == USERDB_NOIMAP);
	CHECK(look("alice-list@example.org", &u) == 1);
	CHECK(eq(&u.maildir, "/var/mail/list/"));
	CHECK(eq(&u.quota, ""));
	CHECK(look("dan@third.org", &u) == 1);
	CHECK(u.flags == (USERDB_NOSMTP | USERDB_NOIMAP));
	userdb_free(&u);
}

static void test_alias(void)
{
	struct userdb_user u = USERDB_USER_ZERO;
	struct str f = STR_ZERO;

	CHECK(look("list@third.org", &u) == 1);
	CHECK(u.flags == USERDB_ALIAS);
	CHECK(eq(&u.maildir, "&alice@example.org &ops@other.org"));
	CHECK(userdb_forwards(&u, &f) == 1);
	CHECK(eq(&f, "&alice@example.org\n&ops@other.org\n"));
	CHECK(look("alice@example.org", &u) == 1);
	CHECK(!(u.flags & USERDB_ALIAS));
	CHECK(userdb_forwards(&u, &f) == 0 && f.len == 0);
	CHECK(userdb_parse("1:2:/h:&a@b:::", 14, &u) == 1);
	CHECK(u.flags == USERDB_ALIAS);
	CHECK(userdb_forwards(&u, &f) == 1 && eq(&f, "&a@b\n"));
	/* the flag comes from the field, never from a flag word */
	CHECK(userdb_parse("1:2:/h:./M/::alias:", 19, &u) == 1);
	CHECK(u.flags == 0);
	userdb_free(&u);
	str_free(&f);
}

static const struct {
	const char *d;
	int r;
} domains[] = {
	{ "example.org", 1 },
	{ "EXAMPLE.Org", 1 },
	{ "other.org", 1 },
	{ "third.org", 0 },             /* users, but no marker */
	{ "example.org.", 0 },
	{ "xample.org", 0 },
	{ "alice@example.org", 0 },
	{ "@example.org", 0 },
	{ "%example.org", 0 },
	{ "", 0 },
};

static void test_domain_table(void)
{
	char big[USERDB_ADDR_MAX + 1];
	size_t i;
	int r;

	for (i = 0; i < sizeof domains / sizeof domains[0]; i++) {
		r = userdb_domain(domains[i].d, strlen(domains[i].d));
		CHECK(r == domains[i].r);
		if (r != domains[i].r)
			printf("  domain=%s r=%d\n", domains[i].d, r);
	}
	CHECK(userdb_domain("example.org\0x", 13) == 0);
	memset(big, 'a', sizeof big);
	CHECK(userdb_domain(big, USERDB_ADDR_MAX) == 0);
	CHECK(userdb_domain(big, USERDB_ADDR_MAX + 1) == 0);
}

static void test_limits(void)
{
	struct userdb_user u = USERDB_USER_ZERO;
	char big[USERDB_ADDR_MAX + 1];

	/* at the limit a catch-all answers; one byte over, no user */
	memset(big, 'a', sizeof big);
	memcpy(big + USERDB_ADDR_MAX - 12, "@example.org", 12);
	CHECK(userdb_lookup(big, USERDB_ADDR_MAX, &u) == 1);
	CHECK(u.match == USERDB_CATCHALL);
	memcpy(big + USERDB_ADDR_MAX + 1 - 12, "@example.org", 12);
	CHECK(userdb_lookup(big, USERDB_ADDR_MAX + 1, &u) == 0);
	CHECK(userdb_lookup("al\0ce@example.org", 17, &u) == 0);
	userdb_free(&u);
}

static const struct {
	const char *v;
	int ok;
} parses[] = {
	{ "1:2:/h:./M/:::", 1 },
	{ "1:2:/h:/m/:1S:a,b:x", 1 },
	{ "1:2:/h:./:1S,2C::", 1 },
	{ "1:2:/h:./M/:::a:b:c", 1 },
	{ "4294967294:2:/h:./M/:::", 1 },
	{ "4294967295:2:/h:./M/:::", 0 },      /* (uid_t)-1 */
	{ "99999999999:2:/h:./M/:::", 0 },
	{ ":2:/h:./M/:::", 0 },
	{ "1:x:/h:./M/:::", 0 },
	{ "-1:2:/h:./M/:::", 0 },
	{ "1:2::./M/:::", 0 },
	{ "1:2:h:./M/:::", 0 },
	{ "1:2:/h\n:./M/:::", 0 },
	{ "1:2:/h:M/:::", 0 },                  /* would read as a forward */
	{ "1:2:/h:./M:::", 0 },                 /* mbox, not a maildir */
	{ "1:2:/h::::", 0 },
	{ "1:2:/h:./M/:1:::", 0 },
	{ "1:2:/h:./M/:S:::", 0 },
	{ "1:2:/h:./M/:1S,:::", 0 },
	{ "1:2:/h:./M/:1S,,2C:::", 0 },
	{ "1:2:/h:./M/::Disabled:", 0 },
	{ "1:2:/h:./M/::a,,b:", 0 },
	{ "1:2:/h:./M/::a,:", 0 },
	{ "1:2:/h:./M/:::x\ny", 0 },
	{ "1:2:/h:./M/::", 0 },
	{ "", 0 },
	/* aliases: "&local@domain" forwards joined by single spaces */
	{ "1:2:/h:&a@b:::", 1 },
	{ "1:2:/h:&a@b &c@d.e:::x", 1 },
	{ "1:2:/h:&a@b&c@d:::", 1 },
	{ "1:2:/h:&a@b  &c@d:::", 0 },
	{ "1:2:/h:&a@b :::", 0 },
	{ "1:2:/h: &a@b:::", 0 },
	{ "1:2:/h:&a@b\t&c@d:::", 0 },
	{ "1:2:/h:&@b:::", 0 },
	{ "1:2:/h:&a@:::", 0 },
	{ "1:2:/h:&a:::", 0 },
	{ "1:2:/h:&:::", 0 },
	{ "1:2:/h:& a@b:::", 0 },
	{ "1:2:/h:&a@b &/x/:::", 0 },
	{ "1:2:/h:&a@b ./M/:::", 0 },
	{ "1:2:/h:./M/ &a@b:::", 0 },
	{ "1:2:h:&a@b:::", 0 },
};

static void test_parse_table(void)
{
	struct userdb_user u = USERDB_USER_ZERO;
	size_t i;
	int r;

	for (i = 0; i < sizeof parses / sizeof parses[0]; i++) {
		r = userdb_parse(parses[i].v, strlen(parses[i].v), &u);
		CHECK(r == parses[i].ok);
		if (r != parses[i].ok)
			printf("  value=%s r=%d\n", parses[i].v, r);
	}
	CHECK(userdb_parse("1:2:/h:./M/:::\0", 15, &u) == 0);
	userdb_free(&u);
}

/* "1:2:/h:&aaa...@b.c:::" with an address of alen bytes. */
static int parse_forward(size_t alen, struct userdb_user *u)
{
	char v[USERDB_ADDR_MAX + 32];

	memcpy(v, "1:2:/h:&", 8);
	memset(v + 8, 'a', alen - 4);
	memcpy(v + 8 + alen - 4, "@b.c:::", 7);
	return userdb_parse(v, 8 + alen + 3, u);
}

/* A forward of USERDB_ADDR_MAX bytes after its '&', and one over. */
static void test_alias_limit(void)
{
	struct userdb_user u = USERDB_USER_ZERO;

	CHECK(parse_forward(USERDB_ADDR_MAX, &u) == 1);
	CHECK(u.maildir.len == USERDB_ADDR_MAX + 1);
	CHECK(parse_forward(USERDB_ADDR_MAX + 1, &u) == 0);
	userdb_free(&u);
}

static void test_missing_file(void)
{
	struct userdb_user u = USERDB_USER_ZERO;
	char path[96];
	int fd;

	/* a missing database must not bounce mail: temporary */
	memcpy(path, dir, sizeof dir - 1);
	memcpy(path + sizeof dir - 1, "/none.cdb", 10);
	setenv("QUAIL_USERDB", path, 1);
	errno = 0;
	CHECK(look("alice@example.org", &u) == -1);
	CHECK(errno == ENOENT);
	/* a file too short to be a cdb */
	memcpy(path + sizeof dir - 1, "/junk.cdb", 10);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0 && write(fd, "junk", 4) == 4 && close(fd) == 0);
	CHECK(look("alice@example.org", &u) == -1);
	unlink(path);
	unsetenv("QUAIL_USERDB");
	CHECK(!strcmp(userdb_path(), USERDB));
	setenv("QUAIL_USERDB", dbpath, 1);
	CHECK(!strcmp(userdb_path(), dbpath));
	userdb_free(&u);
}

/* An unknown backend is a temporary failure, and is not remembered. */
static void test_backend_unknown(void)
{
	struct userdb_user u = USERDB_USER_ZERO;

	put("userdb", "mysql\n");
	errno = 0;
	CHECK(look("alice@example.org", &u) == -1 && errno == EINVAL);
	CHECK(userdb_domain("example.org", 11) == -1 && errno == EINVAL);
	put("userdb", "# the default\ncdb\n");
	CHECK(look("alice@example.org", &u) == 1);
	drop("userdb");
	userdb_free(&u);
}

/* Each of these is -1, whatever the address, and never 0: the database
 * is not there to say "no such user". */
static void check_pg_down(int want_errno)
{
	struct userdb_user u = USERDB_USER_ZERO;
	static const char *addrs[] = { "alice@example.org", "nobody@x.org",
	                               "abuse@example.org" };
	size_t i;

	for (i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
		errno = 0;
		CHECK(look(addrs[i], &u) == -1);
		CHECK(errno == want_errno);
		if (errno != want_errno)
			printf("  addr=%s errno=%d\n", addrs[i], errno);
	}
	errno = 0;
	CHECK(userdb_domain("example.org", 11) == -1 && errno == want_errno);
	/* not addresses at all: no question for the database */
	CHECK(look("alice", &u) == 0);
	CHECK(userdb_domain("", 0) == 0);
	userdb_free(&u);
}

static void test_pg_config(void)
{
	char q[USERDB_PG_QUERY_MAX + 2];

	CHECK(!strcmp(userdb_path(), "pgsql"));
	check_pg_down(ENOENT);                  /* no control/pgsql */
	put("pgsql", "# nothing\n\n");
	check_pg_down(ENOENT);
	put("pgsql", "host=/nonexistent/quail port=1 dbname=x user=x\n");
	check_pg_down(EIO);
	put("pgsql_timeout", "0\n");
	check_pg_down(EINVAL);
	put("pgsql_timeout", "301\n");
	check_pg_down(EINVAL);
	put("pgsql_timeout", "300\n");
	check_pg_down(EIO);
	put("pgsql_timeout", "5s\n");
	check_pg_down(EINVAL);
	drop("pgsql_timeout");
	/* a query at the limit is read; one byte over is refused */
	memset(q, ' ', sizeof q);
	memcpy(q, "SELECT 1", 8);
	q[USERDB_PG_QUERY_MAX] = '\n';
	q[USERDB_PG_QUERY_MAX + 1] = 0;
	put("pgsql_user_query", q);
	check_pg_down(EIO);
	q[USERDB_PG_QUERY_MAX] = 'x';
	put("pgsql_user_query", q);
	check_pg_down(EINVAL);
	drop("pgsql_user_query");
}

/* A server that takes the connection and never answers: the lookup ends
 * at the pgsql_timeout deadline (libpq's connect_timeout is not what
 * bounds it), with a temporary failure. */
static void test_pg_timeout(void)
{
	struct userdb_user u = USERDB_USER_ZERO;
	struct sockaddr_un sa;
	char info[128];
	long long t0, ms;
	int s;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	CHECK((size_t)snprintf(sa.sun_path, sizeof sa.sun_path,
	                       "%s/.s.PGSQL.5432", dir) < sizeof sa.sun_path);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof sa) == 0 &&
	      listen(s, 8) == 0);
	CHECK((size_t)snprintf(info, sizeof info, "host=%s port=5432 dbname=x "
	                       "user=x connect_timeout=60\n", dir) < sizeof info);
	put("pgsql", info);
	put("pgsql_timeout", "1\n");
	t0 = io_now_ms();
	errno = 0;
	CHECK(look("alice@example.org", &u) == -1 && errno == ETIMEDOUT);
	errno = 0;
	CHECK(userdb_domain("example.org", 11) == -1 && errno == ETIMEDOUT);
	ms = io_now_ms() - t0;
	/* two lookups of one second each */
	CHECK(ms >= 2000 && ms < 3000);
	if (ms < 2000 || ms >= 3000)
		printf("  took %lld ms\n", ms);
	close(s);
	unlink(sa.sun_path);
	userdb_free(&u);
	drop("pgsql");
	drop("pgsql_timeout");
}

static const char *logpath(void)
{
	static char path[96];

	if ((size_t)snprintf(path, sizeof path, "%s/log", dir) >= sizeof path)
		exit(111);
	return path;
}

/* One line per failure, saying what failed. */
static void test_pg_log(void)
{
	char buf[16384];
	ssize_t n;
	int fd;

	fd = open(logpath(), O_RDONLY);
	n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
	CHECK(n > 0);
	if (n <= 0)
		return;
	buf[n] = 0;
	CHECK(strstr(buf, ": warn: event=pgsql what=config error=no_conninfo\n"));
	CHECK(strstr(buf, ": warn: event=pgsql what=connect error=connection"));
	CHECK(strstr(buf, ": warn: event=pgsql what=connect error=timeout\n"));
	CHECK(strstr(buf, "what=config error=bad_pgsql_timeout\n"));
	CHECK(strstr(buf, "error=query_too_long file=pgsql_user_query\n"));
	close(fd);
	unlink(logpath());
}

/* The pgsql backend, chosen once per process: in a child of its own. */
static void pg_tests(void)
{
	pid_t pid;
	int st, fd;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		exit(111);
	if (pid == 0) {
		/* the log lines go to a file, checked below */
		fd = open(logpath(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 2) < 0)
			exit(111);
		put("userdb", "pgsql\n");
		RUN(test_pg_config);
		RUN(test_pg_timeout);
		drop("userdb");
		exit(test_done());
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		test_failures++;
	RUN(test_pg_log);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 111;
	memcpy(dbpath, dir, sizeof dir - 1);
	memcpy(dbpath + sizeof dir - 1, "/users.cdb", 11);
	build(dbpath);
	setenv("QUAIL_USERDB", dbpath, 1);
	setenv("QUAIL_CONTROL", dir, 1);
	pg_tests();             /* first: no backend is chosen yet */
	RUN(test_backend_unknown);
	RUN(test_lookup_table);
	RUN(test_fields);
	RUN(test_limits);
	RUN(test_alias);
	RUN(test_domain_table);
	RUN(test_parse_table);
	RUN(test_alias_limit);
	RUN(test_missing_file);
	unlink(dbpath);
	rmdir(dir);
	return test_done();
}
