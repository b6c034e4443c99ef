#ifndef QUAIL_USERDB_H
#define QUAIL_USERDB_H

#include <stddef.h>
#include <sys/types.h>

#include "str.h"

/* The user database: which mailbox an address names, whose uid and gid
 * own it, its quota, flags and password hash, and which domains are ours.
 * One lookup serves delivery (quail-lspawn), login (quail-checkpassword)
 * and RCPT checks. The interface is backend-neutral; the control file
 * `userdb` names the backend, read once per process:
 *   cdb     (the default, also when the file is missing) a cdb file
 *   pgsql   PostgreSQL through libpq (userdb_pg.c, below)
 * The lookup order is the same for both: a backend only answers single
 * keys.
 *
 * The cdb file is $QUAIL_USERDB, else USERDB from the build (default
 * /etc/quail/users.cdb). It is replaced by rename, never rewritten, and
 * opened afresh for each lookup, so a rebuilt file is seen at once.
 *
 * Keys, lower-cased:
 *   alice@example.org     one address
 *   @example.org          the domain's catch-all
 *   %example.org          the domain marker: the domain is ours (value "")
 * Value:
 *   uid:gid:home:maildir:quota:flags:hash
 *   uid, gid  decimal; uid 0 is stored as given (deliverers refuse it)
 *   home      absolute path, no control characters
 *   maildir   "./Maildir/" (relative to home) or "/abs/path/": it starts
 *             with "./" or "/" and ends with '/', as a .qmail maildir line;
 *             or, for an alias, one or more forwards "&a@b.example" joined
 *             by single spaces (USERDB_ALIAS; each has a local part, '@'
 *             and a domain, no white space and at most USERDB_ADDR_MAX
 *             bytes)
 *   quota     a Maildir++ quota ("104857600S,0C", "1000C") or empty
 *   flags     comma-separated words or empty: "disabled" (no delivery, no
 *             login), "nopop", "noimap", "nosmtp"; unknown words are
 *             ignored, so older programs read newer files
 *   hash      a crypt(3) string, may be empty (no password login); it is
 *             everything after the 6th ':', so it may hold ':'
 * For example, with tinycdb's tool (key, one space, value per line):
 *   cdb -c -m users.cdb <<EOF
 *   alice@example.org 1000:1000:/home/alice:./Maildir/:::$6$salt$...
 *   @example.org 1001:1001:/home/catchall:./Maildir/:104857600S::
 *   EOF
 *
 * Lookup of local@domain (both parts lower-cased, as qmail does; the last
 * '@' splits them):
 *   1. local@domain exactly                      ext ""
 *   2. extensions, longest prefix first: for a-b-c@d, a-b@d with ext "c",
 *      then a@d with ext "b-c" (a prefix is never empty)
 *   3. for postmaster, abuse and mailer-daemon: postmaster@domain, ext ""
 *   4. the catch-all @domain                     ext = all of local
 * An address with no '@', an empty local part or domain, or longer than
 * USERDB_ADDR_MAX is no user: 0.
 *
 * Errors: a missing or unreadable file, a corrupt cdb, a database that is
 * down or slow, and a malformed record are all temporary (-1), because "no
 * such user" bounces mail and must never be said falsely. errno is
 * EBADMSG for a malformed record, ETIMEDOUT for a database past its
 * timeout, EINVAL for a bad setting.
 *
 * PostgreSQL (control file `userdb` says "pgsql"). Control files:
 *   pgsql               the libpq conninfo, e.g. "host=/run/postgresql
 *                       dbname=mail user=quail sslmode=disable"; required
 *   pgsql_user_query    USERDB_PG_USER_QUERY by default; $1 is a key as
 *                       above ("alice@example.org", "@example.org"); it
 *                       returns no row or one row of 7 columns in the order
 *                       of the value fields; NULL reads as an empty field
 *   pgsql_domain_query  USERDB_PG_DOMAIN_QUERY by default; $1 a domain,
 *                       any row means ours
 *   pgsql_timeout       seconds one lookup may take, connecting included
 *                       (default USERDB_PG_TIMEOUT, 1..USERDB_PG_TIMEOUT_MAX)
 * Both queries are prepared once per connection and run with parameters
 * only. One connection is kept per process and made again after any
 * failure; a connection inherited across fork() is dropped, never used.
 * A timed-out query is cancelled when the server is reached through a
 * unix socket (libpq's PQcancel has no timeout of its own, so over TCP
 * the connection is closed instead). Only the conninfo decides on SSL. */

#ifndef USERDB
#define USERDB "/etc/quail/users.cdb"
#endif

#define USERDB_ADDR_MAX 1024    /* bytes in an address looked up */
#define USERDB_RECORD_MAX 4096  /* bytes in one value */

#define USERDB_PG_USER_QUERY "SELECT uid, gid, home, maildir, quota, flags, " \
	"hash FROM users WHERE address = $1"
#define USERDB_PG_DOMAIN_QUERY "SELECT 1 FROM domains WHERE domain = $1"
#define USERDB_PG_TIMEOUT 5             /* s, control file pgsql_timeout */
#define USERDB_PG_TIMEOUT_MAX 300
#define USERDB_PG_QUERY_MAX 4096        /* bytes in a query control file */

/* flag bits */
#define USERDB_DISABLED 1
#define USERDB_NOPOP 2
#define USERDB_NOIMAP 4
#define USERDB_NOSMTP 8
#define USERDB_ALIAS 16         /* maildir holds forwards, not a mailbox;
                                 * set by userdb_parse, never a flag word */

/* how the record was found */
enum userdb_match {
	USERDB_EXACT = 1,
	USERDB_EXTENSION,
	USERDB_ROLE,            /* abuse, mailer-daemon -> postmaster */
	USERDB_CATCHALL
};

/* Every str is NUL-terminated (not counted in len), so its s can go to a
 * system call or an argv as it is. */
struct userdb_user {
	uid_t uid;
	gid_t gid;
	struct str home;
	struct str maildir;
	struct str quota;
	unsigned flags;         /* USERDB_DISABLED | ... */
	struct str hash;
	enum userdb_match match;
	struct str local;       /* the whole local part, lower-cased */
	struct str domain;      /* lower-cased */
	struct str name;        /* local part of the key found; "" for @domain */
	struct str ext;         /* the rest of local after name and '-' */
};

#define USERDB_USER_ZERO { 0, 0, STR_ZERO, STR_ZERO, STR_ZERO, 0, STR_ZERO, \
	USERDB_EXACT, STR_ZERO, STR_ZERO, STR_ZERO, STR_ZERO }

/* Looks addr[0..len) up: 1 found (u filled), 0 no such user, -1 temporary
 * failure with errno set. u may be reused across calls; free it with
 * userdb_free. */
int userdb_lookup(const char *addr, size_t len, struct userdb_user *u);
void userdb_free(struct userdb_user *u);

/* Whether domain[0..len) is ours (any case): 1 yes, 0 no, -1 temporary
 * failure with errno set. The cdb backend looks for the key "%domain",
 * the pgsql backend runs pgsql_domain_query. With no cdb file at all the
 * answer is 0 (a host with no users has no domains here), unlike
 * userdb_lookup, for which a missing file is -1. */
int userdb_domain(const char *domain, size_t len);

/* The cdb file in use, or "pgsql", for log lines. */
const char *userdb_path(void);

/* A program built with QUAIL_NO_LIBPQ (static, against musl: see the
 * Makefile) cannot load libpq. When the userdb is PostgreSQL it calls
 * this first thing: it execs NAME-pgsql, the same program built to load
 * libpq, from its own directory (else BINDIR) with argv and the same
 * environment. Returns 0 when the userdb is not PostgreSQL (and always
 * in a build that can load libpq), -1 with errno set when no exec
 * worked. */
int userdb_handover(const char *name, char **argv);

/* Parses one value as described above into u (not the match fields): 1 ok,
 * 0 malformed, -1 no memory. For the userdb builders and tests. */
int userdb_parse(const char *v, size_t n, struct userdb_user *u);

/* For an alias (USERDB_ALIAS), the forwards as .qmail text, one "&address"
 * line each, into out: 1 done, 0 u is no alias, -1 no memory. */
int userdb_forwards(const struct userdb_user *u, struct str *out);

/* The backends, for lib/userdb*.c only. A backend answers single keys;
 * the lookup order is userdb.c's. begin and end bracket the keys of one
 * lookup. */
struct userdb_backend {
	const char *name;
	int (*begin)(void);     /* 0, or -1 with errno set */
	/* key[0..n), NUL-terminated at n: 1 found (*v, *vn valid until the
	 * next call), 0 no such key, -1 error with errno set */
	int (*get)(const char *key, size_t n, const char **v, size_t *vn);
	/* 1, 0 or -1 as userdb_domain, on a lower-cased, NUL-terminated
	 * domain; NULL: look the key "%domain" up with get */
	int (*domain)(const char *d, size_t n);
	void (*end)(void);      /* keeps errno */
};

extern const struct userdb_backend userdb_pgsql;

#endif
