/* Tests for userdb: a cdb built in a temporary directory, looked up. */
#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "userdb.h"

static char dir[] = "/tmp/userdb_test.XXXXXX";
static char dbpath[64];

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
	userdb_free(&u);
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

int main(void)
{
	if (!mkdtemp(dir))
		return 111;
	memcpy(dbpath, dir, sizeof dir - 1);
	memcpy(dbpath + sizeof dir - 1, "/users.cdb", 11);
	build(dbpath);
	setenv("QUAIL_USERDB", dbpath, 1);
	RUN(test_lookup_table);
	RUN(test_fields);
	RUN(test_limits);
	RUN(test_parse_table);
	RUN(test_missing_file);
	unlink(dbpath);
	rmdir(dir);
	return test_done();
}
