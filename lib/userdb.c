/* The user database, cdb backend. The format and the lookup order are
 * described in userdb.h. */
#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fmt.h"
#include "userdb.h"

/* One open database for the keys of one lookup, so all of them see the
 * same file even when it is replaced meanwhile. */
struct db {
	struct cdb c;
	struct str key;
	const char *val;
	size_t vlen;
};

const char *userdb_path(void)
{
	const char *p = getenv("QUAIL_USERDB");

	/* a setuid caller must not be pointed at a file of the user's making */
	if (getuid() != geteuid() || getgid() != getegid())
		return USERDB;
	return p && *p ? p : USERDB;
}

void userdb_free(struct userdb_user *u)
{
	str_free(&u->home);
	str_free(&u->maildir);
	str_free(&u->quota);
	str_free(&u->hash);
	str_free(&u->local);
	str_free(&u->domain);
	str_free(&u->name);
	str_free(&u->ext);
}

/* 1 when p[0..n) is a decimal id that fits the type and is not -1, the
 * value that means "unchanged" to setuid and chown. */
static int scan_id(const char *p, size_t n, unsigned long long *out)
{
	if (!scan_ulong(p, n, out))
		return 0;
	return *out < 0xffffffffULL;
}

/* 1 when p[0..n) has no control characters (and so no NUL). */
static int printable(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] < 32 || p[i] == 127)
			return 0;
	return 1;
}

static int valid_home(const char *p, size_t n)
{
	return n > 0 && p[0] == '/' && printable(p, n);
}

static int valid_maildir(const char *p, size_t n)
{
	if (n == 0 || p[n - 1] != '/' || !printable(p, n))
		return 0;
	return p[0] == '/' || (n >= 2 && p[0] == '.' && p[1] == '/');
}

/* Empty, or NNNS / NNNC items joined by ','. */
static int valid_quota(const char *p, size_t n)
{
	size_t i = 0, digits;

	if (n == 0)
		return 1;
	for (;;) {
		for (digits = 0; i < n && p[i] >= '0' && p[i] <= '9'; i++)
			digits++;
		if (!digits || i == n || (p[i] != 'S' && p[i] != 'C'))
			return 0;
		if (++i == n)
			return 1;
		if (p[i++] != ',' || i == n)
			return 0;
	}
}

/* Reads the flag words; unknown ones are skipped. 1 ok, 0 malformed. */
static int scan_flags(const char *p, size_t n, unsigned *out)
{
	size_t i = 0, w, j;
	char c;

	*out = 0;
	while (i < n) {
		w = byte_chr(p + i, n - i, ',');
		if (w == 0)
			return 0;
		for (j = 0; j < w; j++) {
			c = p[i + j];
			if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			      c == '-' || c == '_'))
				return 0;
		}
		if (w == 8 && !memcmp(p + i, "disabled", 8))
			*out |= USERDB_DISABLED;
		else if (w == 5 && !memcmp(p + i, "nopop", 5))
			*out |= USERDB_NOPOP;
		else if (w == 6 && !memcmp(p + i, "noimap", 6))
			*out |= USERDB_NOIMAP;
		i += w;
		if (i < n && ++i == n)
			return 0;       /* a trailing ',' */
	}
	return 1;
}

static int set(struct str *s, const char *p, size_t n)
{
	return str_copyb(s, p, n) && str_0(s);
}

int userdb_parse(const char *v, size_t n, struct userdb_user *u)
{
	const char *f[6];
	size_t flen[6], i = 0, k, at = 0;
	unsigned long long uid, gid;
	unsigned flags;

	if (n > USERDB_RECORD_MAX || memchr(v, 0, n))
		return 0;
	for (k = 0; k < 6; k++) {
		i = at + byte_chr(v + at, n - at, ':');
		if (i == n)
			return 0;
		f[k] = v + at;
		flen[k] = i - at;
		at = i + 1;
	}
	if (!scan_id(f[0], flen[0], &uid) || !scan_id(f[1], flen[1], &gid) ||
	    !valid_home(f[2], flen[2]) || !valid_maildir(f[3], flen[3]) ||
	    !valid_quota(f[4], flen[4]) || !scan_flags(f[5], flen[5], &flags) ||
	    !printable(v + at, n - at))
		return 0;
	if (!set(&u->home, f[2], flen[2]) || !set(&u->maildir, f[3], flen[3]) ||
	    !set(&u->quota, f[4], flen[4]) || !set(&u->hash, v + at, n - at))
		return -1;
	u->uid = (uid_t)uid;
	u->gid = (gid_t)gid;
	u->flags = flags;
	return 1;
}

/* Looks key up: 1 found (db->val), 0 not, -1 error. */
static int db_find(struct db *db)
{
	int r;

	errno = 0;
	r = cdb_find(&db->c, db->key.s, (unsigned)db->key.len);
	if (r < 0) {
		if (!errno)
			errno = EPROTO;
		return -1;
	}
	if (r == 0)
		return 0;
	db->vlen = cdb_datalen(&db->c);
	db->val = cdb_getdata(&db->c);
	if (!db->val) {
		errno = EPROTO;
		return -1;
	}
	return 1;
}

/* Tries the key name@domain: 1, 0 or -1 as db_find. name is "" for the
 * catch-all. */
static int try_key(struct db *db, const char *name, size_t nlen,
                   const struct userdb_user *u)
{
	db->key.len = 0;
	if (!str_catb(&db->key, name, nlen) || !str_catc(&db->key, '@') ||
	    !str_catb(&db->key, u->domain.s, u->domain.len)) {
		errno = ENOMEM;
		return -1;
	}
	return db_find(db);
}

/* Fills the match fields for a key found: name and ext. */
static int matched(struct userdb_user *u, enum userdb_match m,
                   const char *name, size_t nlen, const char *ext, size_t elen)
{
	u->match = m;
	if (!set(&u->name, name, nlen) || !set(&u->ext, ext, elen)) {
		errno = ENOMEM;
		return -1;
	}
	return 1;
}

static int is_role(const struct str *local)
{
	return str_eqb(local, "abuse", 5) || str_eqb(local, "mailer-daemon", 13);
}

/* Runs the lookup order of userdb.h on an open database. */
static int search(struct db *db, struct userdb_user *u)
{
	const char *l = u->local.s;
	size_t n = u->local.len, i;
	int r;

	r = try_key(db, l, n, u);
	if (r)
		return r < 0 ? r : matched(u, USERDB_EXACT, l, n, "", 0);
	for (i = n; i-- > 1;) {
		if (l[i] != '-')
			continue;
		r = try_key(db, l, i, u);
		if (r)
			return r < 0 ? r : matched(u, USERDB_EXTENSION, l, i,
			                           l + i + 1, n - i - 1);
	}
	if (is_role(&u->local)) {
		r = try_key(db, "postmaster", 10, u);
		if (r)
			return r < 0 ? r : matched(u, USERDB_ROLE, "postmaster",
			                           10, "", 0);
	}
	r = try_key(db, "", 0, u);
	if (r)
		return r < 0 ? r : matched(u, USERDB_CATCHALL, "", 0, l, n);
	return 0;
}

/* Splits addr at its last '@' into u->local and u->domain, lower-cased:
 * 1 ok, 0 not an address any key can match, -1 no memory. */
static int split(const char *addr, size_t len, struct userdb_user *u)
{
	size_t at;

	if (len > USERDB_ADDR_MAX || memchr(addr, 0, len))
		return 0;
	for (at = len; at > 0 && addr[at - 1] != '@'; at--)
		;
	if (at <= 1 || at == len)
		return 0;
	if (!set(&u->local, addr, at - 1) ||
	    !set(&u->domain, addr + at, len - at))
		return -1;
	case_lowerb(u->local.s, u->local.len);
	case_lowerb(u->domain.s, u->domain.len);
	return 1;
}

static int open_db(struct db *db)
{
	int fd, saved;

	fd = open(userdb_path(), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	errno = 0;
	if (cdb_init(&db->c, fd) != 0) {
		saved = errno ? errno : EPROTO;
		close(fd);
		errno = saved;
		return -1;
	}
	return 0;
}

static void close_db(struct db *db)
{
	int saved = errno, fd = cdb_fileno(&db->c);

	cdb_free(&db->c);
	close(fd);
	str_free(&db->key);
	errno = saved;
}

int userdb_lookup(const char *addr, size_t len, struct userdb_user *u)
{
	struct db db;
	int r;

	r = split(addr, len, u);
	if (r <= 0) {
		if (r < 0)
			errno = ENOMEM;
		return r;
	}
	memset(&db, 0, sizeof db);
	if (open_db(&db) < 0)
		return -1;
	r = search(&db, u);
	if (r == 1) {
		r = userdb_parse(db.val, db.vlen, u);
		if (r == 0) {
			errno = EBADMSG;
			r = -1;
		} else if (r < 0) {
			errno = ENOMEM;
		}
	}
	close_db(&db);
	return r;
}
