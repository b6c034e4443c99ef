#ifndef QUAIL_USERSFILE_H
#define QUAIL_USERSFILE_H

/* The users file of quail-users(8): reading and checking it, for
 * quail-users to write as a cdb or as SQL. */

#include <stddef.h>

struct usersfile_span {
	const char *p;
	size_t n;
};

/* One record, its fields as they go into the database: addr lower-cased,
 * hash empty for no login, maildir the "&target ..." list of an alias,
 * quota in Maildir++ form. */
struct usersfile_entry {
	struct usersfile_span addr, hash, home, maildir, quota, flags;
	unsigned long long uid, gid;
};

/* Where the records go, while the file holds no error: user gets each
 * mailbox and alias with its value for the cdb (rec[0..len), what
 * userdb_parse reads), domain each domain that has an entry. */
struct usersfile_sink {
	void (*user)(void *arg, const struct usersfile_entry *e,
	             const char *rec, size_t len);
	void (*domain)(void *arg, const char *d, size_t n);
	void *arg;
};

/* -a uid:gid:home, the owner of every alias: 1 ok, 0 malformed (uid 0,
 * a home not absolute). home points into arg. */
struct usersfile_owner {
	unsigned long long uid, gid;
	struct usersfile_span home;
};
int usersfile_owner(const char *arg, struct usersfile_owner *o);

/* Reads the users file on fd (file names it in error lines), handing its
 * records to sink; aliases take their uid:gid:home from owner when it is
 * not NULL, else from their domain. Returns how many errors were shown
 * on fd 2 (0: the sink got everything). Exits 100 after too many errors,
 * 111 on a read error or when memory runs out. */
int usersfile_read(int fd, const char *file,
                   const struct usersfile_owner *owner,
                   const struct usersfile_sink *sink);

#endif
