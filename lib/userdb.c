/* The user database: the value format, the lookup order, and the cdb
 * backend; the PostgreSQL backend is userdb_pg.c. Both are described in
 * userdb.h. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdbf.h"
#include "control.h"
#include "fmt.h"
#include "log.h"
#include "userdb.h"

static const struct userdb_backend userdb_cdb;

/* The backend named by the control file, once known; a failure to read
 * the file is not remembered, so the next lookup tries again. */
static const struct userdb_backend *chosen;

static const struct userdb_backend *backend(void)
{
	struct str v = STR_ZERO;

	if (chosen)
		return chosen;
	if (control_line("userdb", &v, "cdb") < 0)
		return 0;
	if (str_eqb(&v, "cdb", 3))
		chosen = &userdb_cdb;
	else if (str_eqb(&v, "pgsql", 5))
		chosen = &userdb_pgsql;
	else
		log_kv("warn", "event", "userdb", "error", "unknown_backend",
		       "backend", v.s, (char *)0);
	str_free(&v);
	if (!chosen)
		errno = EINVAL;
	return chosen;
}

int userdb_handover(const char *name, char **argv)
{
#ifdef QUAIL_NO_LIBPQ
	static const char suffix[] = "-pgsql", bin[] = BINDIR "/";
	char p[PATH_MAX];
	size_t k = strlen(name);
	ssize_t n;

	if (backend() != &userdb_pgsql)
		return 0;
	n = readlink("/proc/self/exe", p, sizeof p - sizeof suffix);
	if (n > 0) {
		memcpy(p + n, suffix, sizeof suffix);
		execv(p, argv);
	}
	if (k < sizeof p - sizeof bin - sizeof suffix) {
		memcpy(p, bin, sizeof bin - 1);
		memcpy(p + sizeof bin - 1, name, k);
		memcpy(p + sizeof bin - 1 + k, suffix, sizeof suffix);
		execv(p, argv);
	}
	return -1;
#else
	(void)name;
	(void)argv;
	return 0;
#endif
}

const char *userdb_path(void)
{
	const char *p = getenv("QUAIL_USERDB");

	if (backend() == &userdb_pgsql)
		return "pgsql";
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

/* -- The value ---------------------------------------------------------- */

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

/* "&local@domain": both parts non-empty, no space (the caller checked
 * for control characters). */
static int valid_forward(const char *p, size_t n)
{
	size_t at;

	if (n < 4 || n - 1 > USERDB_ADDR_MAX || p[0] != '&')
		return 0;
	if (byte_chr(p, n, ' ') != n)
		return 0;
	for (at = n; at > 1 && p[at - 1] != '@'; at--)
		;
	return at > 2 && at < n;
}

/* One or more forwards joined by single spaces. */
static int valid_alias(const char *p, size_t n)
{
	size_t i = 0, w;

	if (n == 0 || !printable(p, n))
		return 0;
	for (;;) {
		w = byte_chr(p + i, n - i, ' ');
		if (!valid_forward(p + i, w))
			return 0;
		i += w;
		if (i == n)
			return 1;
		i++;            /* a trailing space leaves an empty forward */
	}
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

static const struct {
	const char *word;
	unsigned bit;
} flag_words[] = {
	{ "disabled", USERDB_DISABLED },
	{ "nopop", USERDB_NOPOP },
	{ "noimap", USERDB_NOIMAP },
	{ "nosmtp", USERDB_NOSMTP },
};

static unsigned flag_bit(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof flag_words / sizeof flag_words[0]; i++)
		if (strlen(flag_words[i].word) == n &&
		    !memcmp(p, flag_words[i].word, n))
			return flag_words[i].bit;
	return 0;
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
		*out |= flag_bit(p + i, w);
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
	int alias;

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
	alias = flen[3] > 0 && f[3][0] == '&';
	if (!scan_id(f[0], flen[0], &uid) || !scan_id(f[1], flen[1], &gid) ||
	    !valid_home(f[2], flen[2]) ||
	    !(alias ? valid_alias(f[3], flen[3]) : valid_maildir(f[3], flen[3])) ||
	    !valid_quota(f[4], flen[4]) || !scan_flags(f[5], flen[5], &flags) ||
	    !printable(v + at, n - at))
		return 0;
	if (!set(&u->home, f[2], flen[2]) || !set(&u->maildir, f[3], flen[3]) ||
	    !set(&u->quota, f[4], flen[4]) || !set(&u->hash, v + at, n - at))
		return -1;
	u->uid = (uid_t)uid;
	u->gid = (gid_t)gid;
	u->flags = flags | (alias ? USERDB_ALIAS : 0);
	return 1;
}

int userdb_forwards(const struct userdb_user *u, struct str *out)
{
	const char *p = u->maildir.s;
	size_t n = u->maildir.len, i = 0, w;

	out->len = 0;
	if (!(u->flags & USERDB_ALIAS))
		return 0;
	while (i < n) {
		w = byte_chr(p + i, n - i, ' ');
		if (!str_catb(out, p + i, w) || !str_catc(out, '\n'))
			return -1;
		i += w + (w < n - i);
	}
	return str_0(out) ? 1 : -1;
}

/* -- The cdb backend ------------------------------------------------------ */

/* One open file for the keys of one lookup, so all of them see the same
 * file even when it is replaced meanwhile. */
static struct cdbf db;

static int file_begin(void)
{
	return cdbf_open(&db, userdb_path());
}

static int file_get(const char *key, size_t n, const char **v, size_t *vn)
{
	return cdbf_get(&db, key, n, v, vn);
}

static void file_end(void)
{
	cdbf_close(&db);
}

static const struct userdb_backend userdb_cdb = {
	"cdb", file_begin, file_get, 0, file_end
};

/* -- The lookup order ----------------------------------------------------- */

struct search {
	const struct userdb_backend *be;
	struct str key;
	const char *val;
	size_t vlen;
};

/* Tries the key name@domain: 1, 0 or -1 as a backend's get. name is ""
 * for the catch-all. */
static int try_key(struct search *s, const char *name, size_t nlen,
                   const struct userdb_user *u)
{
	s->key.len = 0;
	if (!str_catb(&s->key, name, nlen) || !str_catc(&s->key, '@') ||
	    !str_catb(&s->key, u->domain.s, u->domain.len) || !str_0(&s->key)) {
		errno = ENOMEM;
		return -1;
	}
	return s->be->get(s->key.s, s->key.len, &s->val, &s->vlen);
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

/* Runs the lookup order of userdb.h. */
static int search(struct search *s, struct userdb_user *u)
{
	const char *l = u->local.s;
	size_t n = u->local.len, i;
	int r;

	r = try_key(s, l, n, u);
	if (r)
		return r < 0 ? r : matched(u, USERDB_EXACT, l, n, "", 0);
	for (i = n; i-- > 1;) {
		if (l[i] != '-')
			continue;
		r = try_key(s, l, i, u);
		if (r)
			return r < 0 ? r : matched(u, USERDB_EXTENSION, l, i,
			                           l + i + 1, n - i - 1);
	}
	if (is_role(&u->local)) {
		r = try_key(s, "postmaster", 10, u);
		if (r)
			return r < 0 ? r : matched(u, USERDB_ROLE, "postmaster",
			                           10, "", 0);
	}
	r = try_key(s, "", 0, u);
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

/* The record found, parsed into u: 1, or -1 for a malformed one. */
static int found(const struct search *s, struct userdb_user *u)
{
	int r = userdb_parse(s->val, s->vlen, u);

	if (r > 0)
		return 1;
	errno = r == 0 ? EBADMSG : ENOMEM;
	return -1;
}

int userdb_lookup(const char *addr, size_t len, struct userdb_user *u)
{
	struct search s = { 0, STR_ZERO, 0, 0 };
	int r;

	r = split(addr, len, u);
	if (r <= 0) {
		if (r < 0)
			errno = ENOMEM;
		return r;
	}
	s.be = backend();
	if (!s.be || s.be->begin() < 0)
		return -1;
	r = search(&s, u);
	if (r == 1)
		r = found(&s, u);
	s.be->end();
	str_free(&s.key);
	return r;
}

/* The marker key "%domain" through get, for backends without a domain
 * query. */
static int domain_key(const struct userdb_backend *be, const struct str *d)
{
	struct str key = STR_ZERO;
	const char *v;
	size_t vn;
	int r;

	if (!str_catc(&key, '%') || !str_catb(&key, d->s, d->len) ||
	    !str_0(&key)) {
		str_free(&key);
		errno = ENOMEM;
		return -1;
	}
	r = be->get(key.s, key.len, &v, &vn);
	str_free(&key);
	return r;
}

int userdb_domain(const char *domain, size_t len)
{
	const struct userdb_backend *be;
	struct str d = STR_ZERO;
	int r;

	if (len == 0 || len > USERDB_ADDR_MAX || memchr(domain, 0, len) ||
	    memchr(domain, '@', len))
		return 0;
	if (!set(&d, domain, len)) {
		errno = ENOMEM;
		return -1;
	}
	case_lowerb(d.s, d.len);
	be = backend();
	if (!be || be->begin() < 0) {
		str_free(&d);
		/* no users.cdb at all: a host that keeps no users (a relay,
		 * an MX for rcpthosts only) has no domains of its own here */
		return be == &userdb_cdb && errno == ENOENT ? 0 : -1;
	}
	r = be->domain ? be->domain(d.s, d.len) : domain_key(be, &d);
	be->end();
	str_free(&d);
	return r;
}
