/* quail-users: compiles the users file into the user database.
 *
 *   quail-users [-a uid:gid:home] [-o out.cdb] users.txt
 *   quail-users -s [-a uid:gid:home] users.txt
 *   quail-users -p
 *
 * Reads the users file (quail-users(8) gives its format; "-" is fd 0),
 * checks every line and every record with userdb_parse, and writes the
 * cdb of lib/userdb.h: out.cdb ($QUAIL_USERDB, else USERDB, unless -o) is
 * built as out.cdb.tmp, fsynced, renamed into place and its directory
 * fsynced, so readers see the old file or the new one, never a mix. With
 * -s it writes SQL for the users and domains tables of auth/schema.sql
 * on fd 1 instead, and no file. With -p it reads one password line on
 * fd 0 and writes its yescrypt hash on fd 1.
 *
 * Errors in the file go to fd 2 as "FILE:LINE: what"; then nothing is
 * written, the old cdb stays and the exit code is 100. Exit 0 once the
 * new cdb is in place (or the SQL written); 100 bad usage or bad input;
 * 111 no memory or an I/O error. Runs as whoever maintains the userdb
 * (root for /etc/quail). */
#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>              /* rename */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exitcode.h"
#include "fmt.h"
#include "io.h"
#include "log.h"
#include "pwcheck.h"
#include "str.h"
#include "userdb.h"
#include "usersfile.h"

#define SQL_ROWS 1000           /* rows per INSERT statement */
#define CDB_MODE 0640           /* new file: it holds password hashes */

/* Where the records go: the cdb, or the SQL, written only if all is
 * well. */
struct out {
	const char *file;               /* the users file, for errors */
	struct cdb_make cm;
	struct str key;                 /* scratch */
	struct str sql;
	const char *table;              /* of the INSERT being written */
	size_t rows;
};

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
	static const char u[] =
		"usage: quail-users [-a uid:gid:home] [-o out.cdb] users.txt\n"
		"       quail-users -s [-a uid:gid:home] users.txt\n"
		"       quail-users -p\n";

	io_writeall(2, u, sizeof u - 1);
	exit(EXIT_PERM);
}

static void die_io(const char *event, const char *file)
{
	die_kv(EXIT_TEMP, "event", event, "file", file, "error",
	       strerror(errno), (char *)0);
}

static void sql_quote(struct out *o, struct usersfile_span s)
{
	size_t i;

	if (!str_catc(&o->sql, '\''))
		die_nomem();
	for (i = 0; i < s.n; i++)
		if (!str_catc(&o->sql, s.p[i]) ||
		    (s.p[i] == '\'' && !str_catc(&o->sql, '\'')))
			die_nomem();
	if (!str_catc(&o->sql, '\''))
		die_nomem();
}

/* Starts one row of table, in a new INSERT every SQL_ROWS rows. */
static void sql_row(struct out *o, const char *table, const char *cols)
{
	if (o->table == table && o->rows < SQL_ROWS) {
		if (!str_cats(&o->sql, ",\n("))
			die_nomem();
		o->rows++;
		return;
	}
	if ((o->table && !str_cats(&o->sql, ";\n")) ||
	    !str_cats(&o->sql, "INSERT INTO ") || !str_cats(&o->sql, table) ||
	    !str_cats(&o->sql, cols) || !str_cats(&o->sql, " VALUES\n("))
		die_nomem();
	o->table = table;
	o->rows = 1;
}

static void sql_user(void *arg, const struct usersfile_entry *e,
                     const char *rec, size_t len)
{
	struct out *o = arg;

	(void)rec;
	(void)len;
	sql_row(o, "users", " (address, hash, uid, gid, home, maildir, "
	        "quota, flags)");
	sql_quote(o, e->addr);
	if (!str_cats(&o->sql, ", "))
		die_nomem();
	sql_quote(o, e->hash);
	if (!str_cats(&o->sql, ", ") || !str_catu(&o->sql, e->uid) ||
	    !str_cats(&o->sql, ", ") || !str_catu(&o->sql, e->gid) ||
	    !str_cats(&o->sql, ", "))
		die_nomem();
	sql_quote(o, e->home);
	if (!str_cats(&o->sql, ", "))
		die_nomem();
	sql_quote(o, e->maildir);
	if (!str_cats(&o->sql, ", "))
		die_nomem();
	sql_quote(o, e->quota);
	if (!str_cats(&o->sql, ", "))
		die_nomem();
	sql_quote(o, e->flags);
	if (!str_catc(&o->sql, ')'))
		die_nomem();
}

static void sql_domain(void *arg, const char *d, size_t n)
{
	struct out *o = arg;

	sql_row(o, "domains", " (domain)");
	sql_quote(o, (struct usersfile_span){ d, n });
	if (!str_catc(&o->sql, ')'))
		die_nomem();
}

static void cdb_add(struct out *o, const char *k, size_t kn,
                    const char *v, size_t vn)
{
	if (kn > UINT32_MAX || vn > UINT32_MAX ||
	    cdb_make_add(&o->cm, k, (unsigned)kn, v, (unsigned)vn) != 0)
		die_io("write", o->file);
}

static void cdb_user(void *arg, const struct usersfile_entry *e,
                     const char *rec, size_t len)
{
	cdb_add(arg, e->addr.p, e->addr.n, rec, len);
}

/* "%domain" -> "", the key userdb_domain looks for. */
static void cdb_domain(void *arg, const char *d, size_t n)
{
	struct out *o = arg;

	o->key.len = 0;
	if (!str_catc(&o->key, '%') || !str_catb(&o->key, d, n))
		die_nomem();
	cdb_add(o, o->key.s, o->key.len, "", 0);
}

/* -p: one line on fd 0, its hash on fd 1. */
static int hash_stdin(void)
{
	char buf[PWCHECK_PASSWORD_MAX + 2];
	struct str h = STR_ZERO;
	size_t len = 0, n;
	ssize_t r;
	int ok;

	while (len < sizeof buf && !memchr(buf, '\n', len)) {
		r = read(0, buf + len, sizeof buf - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die_io("read", "-");
		if (r == 0)
			break;
		len += (size_t)r;
	}
	n = byte_chr(buf, len, '\n');
	if (n == len && len == sizeof buf)
		die_kv(EXIT_PERM, "event", "hash", "error", "password too long",
		       (char *)0);
	if (n && buf[n - 1] == '\r')
		n--;
	ok = pwcheck_hash(buf, n, &h);
	explicit_bzero(buf, sizeof buf);
	if (ok == 0)
		die_kv(EXIT_PERM, "event", "hash", "error",
		       "empty password, one with a NUL, or longer than 511 bytes", (char *)0);
	if (ok < 0)
		die_io("hash", "-");
	if (!str_catc(&h, '\n') || io_writeall(1, h.s, h.len) < 0)
		die_io("write", "-");
	str_free(&h);
	return 0;
}

/* Writes the new cdb as out.tmp, keeping the owner and mode of the file
 * it replaces: an administrator's chgrp for quail-smtpd's RCPT checks
 * must survive a rebuild. */
static int tmp_open(const char *out, const char *tmp)
{
	struct stat st;
	int fd;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	          CDB_MODE);
	if (fd < 0)
		die_io("open", tmp);
	if (stat(out, &st) == 0) {
		if (geteuid() == 0 && fchown(fd, st.st_uid, st.st_gid) < 0)
			die_io("chown", tmp);
		if (fchmod(fd, st.st_mode & 07777) < 0)
			die_io("chmod", tmp);
	} else if (errno != ENOENT) {
		die_io("stat", out);
	} else if (fchmod(fd, CDB_MODE) < 0) {
		die_io("chmod", tmp);
	}
	return fd;
}

/* fsync before rename, so a crash leaves the old file or the whole new
 * one; fsync the directory after, so the rename itself lasts. */
static void cdb_commit(struct out *o, int fd, const char *out,
                       const char *tmp)
{
	if (cdb_make_finish(&o->cm) != 0 || fsync(fd) < 0)
		die_io("write", tmp);
	if (close(fd) < 0)
		die_io("close", tmp);
	if (rename(tmp, out) < 0)
		die_io("rename", out);
	if (io_fsync_parent(out) < 0)
		die_io("fsync", out);  /* its directory */
}

static void sql_finish(struct out *o)
{
	static const char head[] =
		"-- made by quail-users: replaces the users and domains tables\n"
		"SET standard_conforming_strings = on;\n"
		"BEGIN;\n"
		"DELETE FROM users;\n"
		"DELETE FROM domains;\n";

	if ((o->table && !str_cats(&o->sql, ";\n")) ||
	    !str_cats(&o->sql, "COMMIT;\n"))
		die_nomem();
	if (io_writeall(1, head, sizeof head - 1) < 0 ||
	    io_writeall(1, o->sql.s, o->sql.len) < 0)
		die_io("write", "-");
}

/* -a uid:gid:home: 1, or exits 100. */
static int opt_a(const char *arg, struct usersfile_owner *owner)
{
	if (!usersfile_owner(arg, owner))
		die_kv(EXIT_PERM, "event", "usage", "error",
		       "-a wants uid:gid:/home (uid not 0)", (char *)0);
	return 1;
}

/* Starts out.tmp for the new cdb: its fd. */
static int cdb_start(struct out *o, const char *out, struct str *tmp)
{
	int fd;

	if (!str_cats(tmp, out) || !str_cats(tmp, ".tmp") || !str_0(tmp))
		die_nomem();
	fd = tmp_open(out, tmp->s);
	if (cdb_make_start(&o->cm, fd) != 0)
		die_io("write", tmp->s);
	return fd;
}

int main(int argc, char **argv)
{
	static struct out o;
	struct usersfile_owner owner;
	struct usersfile_sink sink = { cdb_user, cdb_domain, &o };
	struct str tmp = STR_ZERO;
	const char *out = 0;
	int c, fd, cfd = -1, hash = 0, sql = 0, has_a = 0;

	log_init("quail-users");
	while ((c = getopt(argc, argv, "a:o:ps")) != -1) {
		if (c == 'a')
			has_a = opt_a(optarg, &owner);
		else if (c == 'o')
			out = optarg;
		else if (c == 'p')
			hash = 1;
		else if (c == 's')
			sql = 1;
		else
			usage();
	}
	if (hash && (optind != argc || sql || out || has_a))
		usage();
	if (hash)
		return hash_stdin();
	if (optind + 1 != argc || (sql && out))
		usage();
	o.file = argv[optind];
	fd = strcmp(o.file, "-") ? open(o.file, O_RDONLY | O_CLOEXEC) : 0;
	if (fd < 0)
		die_kv(errno == ENOENT ? EXIT_PERM : EXIT_TEMP, "event", "open",
		       "file", o.file, "error", strerror(errno), (char *)0);
	if (sql) {
		sink.user = sql_user;
		sink.domain = sql_domain;
	} else {
		if (!out)
			out = getenv("QUAIL_USERDB");
		if (!out || !*out)
			out = USERDB;
		cfd = cdb_start(&o, out, &tmp);
	}
	if (usersfile_read(fd, o.file, has_a ? &owner : 0, &sink)) {
		if (cfd >= 0)
			unlink(tmp.s);
		str_free(&tmp);
		return EXIT_PERM;
	}
	if (sql)
		sql_finish(&o);
	else
		cdb_commit(&o, cfd, out, tmp.s);
	str_free(&tmp);
	return 0;
}
