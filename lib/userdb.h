#ifndef QUAIL_USERDB_H
#define QUAIL_USERDB_H

#include <stddef.h>
#include <sys/types.h>

#include "str.h"

/* The user database: which mailbox an address names, whose uid and gid
 * own it, its quota, flags and password hash. One lookup serves delivery
 * (quail-lspawn), login (quail-checkpassword) and RCPT checks. The
 * interface is backend-neutral; the backend today is a cdb file.
 *
 * The cdb file is $QUAIL_USERDB, else USERDB from the build (default
 * /etc/quail/users.cdb). It is replaced by rename, never rewritten, and
 * opened afresh for each lookup, so a rebuilt file is seen at once.
 *
 * Keys, lower-cased:
 *   alice@example.org     one address
 *   @example.org          the domain's catch-all
 * Value:
 *   uid:gid:home:maildir:quota:flags:hash
 *   uid, gid  decimal; uid 0 is stored as given (deliverers refuse it)
 *   home      absolute path, no control characters
 *   maildir   "./Maildir/" (relative to home) or "/abs/path/": it starts
 *             with "./" or "/" and ends with '/', as a .qmail maildir line
 *   quota     a Maildir++ quota ("104857600S,0C", "1000C") or empty
 *   flags     comma-separated words or empty: "disabled" (no delivery, no
 *             login), "nopop", "noimap"; unknown words are ignored, so
 *             older programs read newer files
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
 * Errors: a missing or unreadable file, a corrupt cdb and a malformed
 * record are all temporary (-1), because "no such user" bounces mail and
 * must never be said falsely. errno is EBADMSG for a malformed record. */

#ifndef USERDB
#define USERDB "/etc/quail/users.cdb"
#endif

#define USERDB_ADDR_MAX 1024    /* bytes in an address looked up */
#define USERDB_RECORD_MAX 4096  /* bytes in one value */

/* flag bits */
#define USERDB_DISABLED 1
#define USERDB_NOPOP 2
#define USERDB_NOIMAP 4

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

/* The cdb file in use, for log lines. */
const char *userdb_path(void);

/* Parses one value as described above into u (not the match fields): 1 ok,
 * 0 malformed, -1 no memory. For the userdb builders and tests. */
int userdb_parse(const char *v, size_t n, struct userdb_user *u);

#endif
