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

#define USERS_LINE_MAX 8192     /* bytes in one line of the users file */
#define USERS_ERRORS_MAX 50     /* errors shown before giving up */
#define USERS_FIELDS_MAX 8      /* address:hash:uid:gid:home:maildir:quota:flags */
#define READ_SIZE (1 << 20)     /* one read(2) of the users file */
#define SQL_ROWS 1000           /* rows per INSERT statement */
#define CDB_MODE 0640           /* new file: it holds password hashes */
#define DEFAULT_MAILDIR "./Maildir/"

struct span {
	const char *p;
	size_t n;
};

/* A set of byte strings (open addressing), each with a number: the line
 * an address was first seen on, the index of a domain. */
struct ent {
	size_t off, val;
	uint32_t len, hash;
};
struct tab {
	struct ent *e;
	size_t cap, n;
	struct str keys;
};

/* Where an alias of a domain gets its uid:gid:home. */
enum { SRC_NONE, SRC_USER, SRC_CATCHALL };
struct dom {
	size_t key;                     /* index in doms.e */
	unsigned long long uid, gid;
	size_t home, hlen;              /* in heap */
	int src;
};

struct alias {
	size_t addr, alen, tgt, tlen;   /* in heap */
	size_t dom;
	unsigned long line;
};

struct entry {
	struct span addr, hash, home, maildir, quota, flags;
	unsigned long long uid, gid;
};

struct build {
	const char *file;
	unsigned long line;
	int errors;
	int sql;
	struct tab addrs, doms;
	struct dom *dom;
	size_t ndom, domcap;
	struct alias *al;
	size_t nal, alcap;
	struct str heap;
	struct str rec;                 /* scratch */
	struct userdb_user u;           /* scratch for userdb_parse */
	int has_a;                      /* -a given */
	struct dom a;                   /* its uid:gid:home */
	struct cdb_make cm;
	struct str out;                 /* the SQL, written only if all is well */
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

/* "FILE:LINE: what detail" on fd 2. */
static void bad(struct build *b, const char *what, struct span detail)
{
	struct str m = STR_ZERO;

	if (!str_cats(&m, b->file) || !str_catc(&m, ':') ||
	    !str_catu(&m, b->line) || !str_cats(&m, ": ") ||
	    !str_cats(&m, what) || !str_catb(&m, detail.p, detail.n) ||
	    !str_catc(&m, '\n'))
		die_nomem();
	io_writeall(2, m.s, m.len);
	str_free(&m);
	if (++b->errors >= USERS_ERRORS_MAX) {
		static const char t[] = "quail-users: too many errors\n";

		io_writeall(2, t, sizeof t - 1);
		exit(EXIT_PERM);
	}
}

static const struct span none = { "", 0 };

static struct span sp(const char *p, size_t n)
{
	struct span s = { p, n };

	return s;
}

/* FNV-1a */
static uint32_t hash_bytes(const char *p, size_t n)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 16777619u;
	return h;
}

static size_t tab_slot(const struct tab *t, const char *k, size_t n,
                       uint32_t h)
{
	size_t i = h & (t->cap - 1);

	while (t->e[i].len && (t->e[i].hash != h || t->e[i].len != n ||
	                       memcmp(t->keys.s + t->e[i].off, k, n)))
		i = (i + 1) & (t->cap - 1);
	return i;
}

static int tab_grow(struct tab *t)
{
	struct tab nt = *t;
	size_t i, j;

	if (__builtin_mul_overflow(t->cap ? t->cap : 512, 2, &nt.cap))
		return 0;
	nt.e = calloc(nt.cap, sizeof *nt.e);
	if (!nt.e)
		return 0;
	for (i = 0; i < t->cap; i++) {
		if (!t->e[i].len)
			continue;
		j = t->e[i].hash & (nt.cap - 1);
		while (nt.e[j].len)
			j = (j + 1) & (nt.cap - 1);
		nt.e[j] = t->e[i];
	}
	free(t->e);
	*t = nt;
	return 1;
}

/* Finds k[0..n) (n > 0), adding it with val when missing: returns its
 * entry, *added telling which. Dies when memory runs out. */
static struct ent *tab_add(struct tab *t, const char *k, size_t n,
                           size_t val, int *added)
{
	uint32_t h = hash_bytes(k, n);
	struct ent *e;

	if (t->n >= t->cap / 4 * 3 && !tab_grow(t))
		die_nomem();
	e = &t->e[tab_slot(t, k, n, h)];
	*added = !e->len;
	if (!*added)
		return e;
	e->off = t->keys.len;
	if (n > UINT32_MAX || !str_catb(&t->keys, k, n))
		die_nomem();
	e->len = (uint32_t)n;
	e->hash = h;
	e->val = val;
	t->n++;
	return e;
}

static size_t heap_add(struct build *b, const char *p, size_t n)
{
	size_t off = b->heap.len;

	if (!str_catb(&b->heap, p, n))
		die_nomem();
	return off;
}

static int is_atext(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-/=?^_`{|}~.", c));
}

static int valid_domain(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || p[0] == '.' || p[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		char c = p[i];

		if (c == '.' && p[i + 1] == '.')
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

/* An address: local@domain, one '@', local in RFC 5322 atext and dots,
 * and empty only for a catch-all when catchall is set. Returns where the
 * domain starts, or 0 when the address is no good. */
static size_t valid_addr(const char *p, size_t n, int catchall)
{
	size_t at = byte_chr(p, n, '@'), i;

	if (n > USERDB_ADDR_MAX || at == n || (at == 0 && !catchall))
		return 0;
	for (i = 0; i < at; i++)
		if (!is_atext(p[i]))
			return 0;
	if (!valid_domain(p + at + 1, n - at - 1))
		return 0;
	return at + 1;
}

/* The domain of an address, for aliases and the "%domain" markers. */
static struct dom *dom_get(struct build *b, const char *d, size_t n)
{
	struct ent *e;
	int added;

	e = tab_add(&b->doms, d, n, b->ndom, &added);
	if (!added)
		return &b->dom[e->val];
	if (b->ndom == b->domcap) {
		size_t cap;
		struct dom *p;

		if (__builtin_mul_overflow(b->domcap ? b->domcap : 64, 2, &cap) ||
		    !(p = reallocarray(b->dom, cap, sizeof *p)))
			die_nomem();
		b->dom = p;
		b->domcap = cap;
	}
	memset(&b->dom[b->ndom], 0, sizeof b->dom[0]);
	b->dom[b->ndom].key = (size_t)(e - b->doms.e);
	return &b->dom[b->ndom++];
}

/* Lower-cases addr in place and claims it: 0 when it is a duplicate. */
static int addr_claim(struct build *b, char *addr, size_t n)
{
	struct ent *e;
	char num[FMT_ULONG];
	int added;

	case_lowerb(addr, n);
	e = tab_add(&b->addrs, addr, n, b->line, &added);
	if (added)
		return 1;
	fmt_u(num, e->val);
	bad(b, "duplicate address, first on line ", sp(num, strlen(num)));
	return 0;
}

static int scan_id(struct span s, unsigned long long *out)
{
	return scan_ulong(s.p, s.n, out) && *out < 0xffffffffULL;
}

static int known_flag(const char *p, size_t n)
{
	static const char *const words[] = { "disabled", "nopop", "noimap",
	                                     "nosmtp" };
	size_t i;

	for (i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strlen(words[i]) == n && !memcmp(words[i], p, n))
			return 1;
	return 0;
}

static int valid_flags(struct build *b, struct span f)
{
	size_t i = 0, w;

	while (i < f.n) {
		w = byte_chr(f.p + i, f.n - i, ',');
		if (!known_flag(f.p + i, w)) {
			bad(b, "unknown flag: ", sp(f.p + i, w));
			return 0;
		}
		i += w;
		if (i < f.n && ++i == f.n) {
			bad(b, "empty flag at the end", none);
			return 0;
		}
	}
	return 1;
}

/* A Maildir++ quota as it is, or a size such as 500M (powers of 1024)
 * as "NNNS", into out (which stays valid until the next call). */
static int quota_spec(struct build *b, struct span q, struct span *out)
{
	static char buf[FMT_ULONG + 1];
	unsigned long long n, mul;
	const char *u = "kKmMgGtT", *x;

	*out = q;
	if (q.n == 0 || q.p[q.n - 1] == 'S' || q.p[q.n - 1] == 'C')
		return 1;       /* userdb_parse checks the Maildir++ form */
	x = strchr(u, q.p[q.n - 1]);
	if (!q.p[q.n - 1] || !x || !scan_ulong(q.p, q.n - 1, &n)) {
		bad(b, "quota: want 104857600S, 1000C, both joined by ',', "
		    "or a size such as 500M: ", q);
		return 0;
	}
	mul = 1ULL << (10 * ((size_t)(x - u) / 2 + 1));
	if (__builtin_mul_overflow(n, mul, &n)) {
		bad(b, "quota too big: ", q);
		return 0;
	}
	out->n = fmt_ulong(buf, n);
	buf[out->n++] = 'S';
	out->p = buf;
	return 1;
}

static int valid_hash(struct build *b, struct span *h, int catchall)
{
	int ok;

	if (h->n == 1 && h->p[0] == '-')
		h->n = 0;
	if (h->n == 0)
		return 1;
	if (catchall) {
		bad(b, "a catch-all is no login: its hash must be - or empty", none);
		return 0;
	}
	if (!str_copyb(&b->rec, h->p, h->n) || !str_0(&b->rec))
		die_nomem();
	ok = pwcheck_scheme(b->rec.s);
	if (!ok)
		bad(b, "hash: not yescrypt, bcrypt, SHA-512 or SHA-256 crypt "
		    "(quail-users -p makes one)", none);
	return ok;
}

static void sql_quote(struct build *b, struct span s)
{
	size_t i;

	if (!str_catc(&b->out, '\''))
		die_nomem();
	for (i = 0; i < s.n; i++)
		if (!str_catc(&b->out, s.p[i]) ||
		    (s.p[i] == '\'' && !str_catc(&b->out, '\'')))
			die_nomem();
	if (!str_catc(&b->out, '\''))
		die_nomem();
}

/* Starts one row of table, in a new INSERT every SQL_ROWS rows. */
static void sql_row(struct build *b, const char *table, const char *cols)
{
	if (b->table == table && b->rows < SQL_ROWS) {
		if (!str_cats(&b->out, ",\n("))
			die_nomem();
		b->rows++;
		return;
	}
	if ((b->table && !str_cats(&b->out, ";\n")) ||
	    !str_cats(&b->out, "INSERT INTO ") || !str_cats(&b->out, table) ||
	    !str_cats(&b->out, cols) || !str_cats(&b->out, " VALUES\n("))
		die_nomem();
	b->table = table;
	b->rows = 1;
}

static void sql_user(struct build *b, const struct entry *e)
{
	sql_row(b, "users", " (address, hash, uid, gid, home, maildir, "
	        "quota, flags)");
	sql_quote(b, e->addr);
	if (!str_cats(&b->out, ", "))
		die_nomem();
	sql_quote(b, e->hash);
	if (!str_cats(&b->out, ", ") || !str_catu(&b->out, e->uid) ||
	    !str_cats(&b->out, ", ") || !str_catu(&b->out, e->gid) ||
	    !str_cats(&b->out, ", "))
		die_nomem();
	sql_quote(b, e->home);
	if (!str_cats(&b->out, ", "))
		die_nomem();
	sql_quote(b, e->maildir);
	if (!str_cats(&b->out, ", "))
		die_nomem();
	sql_quote(b, e->quota);
	if (!str_cats(&b->out, ", "))
		die_nomem();
	sql_quote(b, e->flags);
	if (!str_catc(&b->out, ')'))
		die_nomem();
}

static void cdb_add(struct build *b, const char *k, size_t kn,
                    const char *v, size_t vn)
{
	if (kn > UINT32_MAX || vn > UINT32_MAX ||
	    cdb_make_add(&b->cm, k, (unsigned)kn, v, (unsigned)vn) != 0)
		die_io("write", b->file);
}

/* Writes one record, once userdb_parse, the reader's own check, takes
 * it: what the readers would refuse never gets into the database. */
static void entry_put(struct build *b, const struct entry *e)
{
	int r;

	b->rec.len = 0;
	if (!str_catu(&b->rec, e->uid) || !str_catc(&b->rec, ':') ||
	    !str_catu(&b->rec, e->gid) || !str_catc(&b->rec, ':') ||
	    !str_catb(&b->rec, e->home.p, e->home.n) || !str_catc(&b->rec, ':') ||
	    !str_catb(&b->rec, e->maildir.p, e->maildir.n) ||
	    !str_catc(&b->rec, ':') ||
	    !str_catb(&b->rec, e->quota.p, e->quota.n) ||
	    !str_catc(&b->rec, ':') ||
	    !str_catb(&b->rec, e->flags.p, e->flags.n) ||
	    !str_catc(&b->rec, ':') ||
	    !str_catb(&b->rec, e->hash.p, e->hash.n))
		die_nomem();
	r = userdb_parse(b->rec.s, b->rec.len, &b->u);
	if (r < 0)
		die_nomem();
	if (r == 0) {
		bad(b, b->rec.len > USERDB_RECORD_MAX ? "record too long: " :
		    "record refused by the userdb: ", sp(b->rec.s, b->rec.len));
		return;
	}
	if (b->errors)
		return;
	if (b->sql)
		sql_user(b, e);
	else
		cdb_add(b, e->addr.p, e->addr.n, b->rec.s, b->rec.len);
}

/* Splits s at ':' into at most max fields: how many, or max + 1 when
 * there are more. */
static size_t split(struct span s, struct span *f, size_t max)
{
	size_t k = 0, i;

	for (;;) {
		if (k == max)
			return max + 1;
		i = byte_chr(s.p, s.n, ':');
		f[k++] = sp(s.p, i);
		if (i == s.n)
			return k;
		s.p += i + 1;
		s.n -= i + 1;
	}
}

static int printable(struct span s)
{
	size_t i;

	for (i = 0; i < s.n; i++)
		if ((unsigned char)s.p[i] < 32 || s.p[i] == 127)
			return 0;
	return 1;
}

/* address:hash:uid:gid:home[:maildir[:quota[:flags]]] */
static void user_line(struct build *b, char *p, size_t n)
{
	struct span f[USERS_FIELDS_MAX];
	struct entry e;
	struct dom *d;
	size_t k, at;

	if (!printable(sp(p, n))) {
		bad(b, "control character in line", none);
		return;
	}
	k = split(sp(p, n), f, USERS_FIELDS_MAX);
	if (k < 5 || k > USERS_FIELDS_MAX) {
		bad(b, k < 5 ? "too few fields: want address:hash:uid:gid:home"
		    "[:maildir[:quota[:flags]]]" : "too many fields", none);
		return;
	}
	memset(&e, 0, sizeof e);
	e.addr = f[0];
	e.hash = f[1];
	e.home = f[4];
	e.maildir = k > 5 && f[5].n ? f[5] : sp(DEFAULT_MAILDIR, strlen(DEFAULT_MAILDIR));
	e.quota = k > 6 ? f[6] : none;
	e.flags = k > 7 ? f[7] : none;
	at = valid_addr(e.addr.p, e.addr.n, 1);
	if (!at) {
		bad(b, "not an address (local@domain, or @domain for a "
		    "catch-all): ", e.addr);
		return;
	}
	if (!addr_claim(b, p, e.addr.n) || !valid_hash(b, &e.hash, at == 1))
		return;
	if (!scan_id(f[2], &e.uid) || !scan_id(f[3], &e.gid)) {
		bad(b, "uid and gid must be decimal numbers below 4294967295", none);
		return;
	}
	if (e.uid == 0) {
		bad(b, "uid 0 (root) owns no mailbox", none);
		return;
	}
	if (!e.home.n || e.home.p[0] != '/') {
		bad(b, "home must be an absolute path: ", e.home);
		return;
	}
	if (e.maildir.p[0] == '&' || e.maildir.p[e.maildir.n - 1] != '/' ||
	    (e.maildir.p[0] != '/' && (e.maildir.n < 2 || e.maildir.p[0] != '.' ||
	                               e.maildir.p[1] != '/'))) {
		bad(b, "maildir must start with ./ or / and end with /: ", e.maildir);
		return;
	}
	if (!quota_spec(b, e.quota, &e.quota) || !valid_flags(b, e.flags))
		return;
	d = dom_get(b, p + at, e.addr.n - at);
	if (at == 1 || d->src == SRC_NONE) {
		d->src = at == 1 ? SRC_CATCHALL : SRC_USER;
		d->uid = e.uid;
		d->gid = e.gid;
		d->hlen = e.home.n;
		d->home = heap_add(b, e.home.p, e.home.n);
	}
	entry_put(b, &e);
}

static int is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* address = target[, target ...], kept for the end, when every domain's
 * uid:gid:home is known. */
static void alias_line(struct build *b, char *p, size_t n)
{
	struct alias a;
	size_t i = 0, t, start, at;

	while (i < n && !is_space(p[i]) && p[i] != '=')
		i++;
	at = valid_addr(p, i, 1);
	if (!at) {
		bad(b, "not an address (local@domain, or @domain): ", sp(p, i));
		return;
	}
	if (!addr_claim(b, p, i))
		return;
	memset(&a, 0, sizeof a);
	a.line = b->line;
	a.alen = i;
	a.addr = heap_add(b, p, i);
	a.dom = (size_t)(dom_get(b, p + at, i - at) - b->dom);
	while (i < n && is_space(p[i]))
		i++;
	if (i == n || p[i++] != '=') {
		bad(b, "want address:hash:uid:gid:home or address = target, ...", none);
		return;
	}
	a.tgt = b->heap.len;
	for (;;) {
		while (i < n && is_space(p[i]))
			i++;
		for (start = i; i < n && !is_space(p[i]) && p[i] != ','; i++)
			;
		t = i - start;
		if (!t || !valid_addr(p + start, t, 0)) {
			bad(b, "alias target is not an address: ", sp(p + start, t));
			return;
		}
		if (a.tlen && !str_catc(&b->heap, ' '))
			die_nomem();
		if (!str_catc(&b->heap, '&') || !str_catb(&b->heap, p + start, t))
			die_nomem();
		a.tlen = b->heap.len - a.tgt;
		while (i < n && is_space(p[i]))
			i++;
		if (i == n)
			break;
		if (p[i++] != ',') {
			bad(b, "alias targets are separated by ','", none);
			return;
		}
	}
	if (b->nal == b->alcap) {
		size_t cap;
		struct alias *q;

		if (__builtin_mul_overflow(b->alcap ? b->alcap : 64, 2, &cap) ||
		    !(q = reallocarray(b->al, cap, sizeof *q)))
			die_nomem();
		b->al = q;
		b->alcap = cap;
	}
	b->al[b->nal++] = a;
}

static void line_do(struct build *b, char *p, size_t n)
{
	while (n && (is_space(p[n - 1]) || p[n - 1] == '\r'))
		n--;
	while (n && is_space(*p)) {
		p++;
		n--;
	}
	if (n == 0 || *p == '#')
		return;
	if (n > USERS_LINE_MAX) {
		bad(b, "line too long", none);
		return;
	}
	if (memchr(p, ':', n))
		user_line(b, p, n);
	else
		alias_line(b, p, n);
}

/* Big reads and memchr: no system call per line, so a million users
 * take a second, not a minute. */
static void users_read(struct build *b, int fd)
{
	char *buf = malloc(READ_SIZE), *nl;
	size_t len = 0, start;
	int skip = 0;   /* in the rest of an overlong line */
	ssize_t r;

	if (!buf)
		die_nomem();
	for (;;) {
		r = read(fd, buf + len, READ_SIZE - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die_io("read", b->file);
		len += (size_t)r;
		for (start = 0; (nl = memchr(buf + start, '\n', len - start));
		     start = (size_t)(nl - buf) + 1) {
			b->line++;
			if (!skip)
				line_do(b, buf + start, (size_t)(nl - buf) - start);
			skip = 0;
		}
		if (r == 0) {
			if (start < len && !skip) {
				b->line++;
				line_do(b, buf + start, len - start);
			}
			break;
		}
		memmove(buf, buf + start, len - start);
		len -= start;
		if (len == READ_SIZE) {
			if (!skip) {
				b->line++;
				bad(b, "line too long", none);
				b->line--;
			}
			skip = 1;
			len = 0;
		}
	}
	free(buf);
}

/* The aliases, with their uid:gid:home from -a or their domain. */
static void aliases_put(struct build *b)
{
	struct entry e;
	const struct dom *d;
	size_t i;

	for (i = 0; i < b->nal; i++) {
		const struct alias *a = &b->al[i];

		d = b->has_a ? &b->a : &b->dom[a->dom];
		b->line = a->line;
		if (d->src == SRC_NONE) {
			bad(b, "no uid:gid:home for this alias: its domain has "
			    "no user and no catch-all (use -a)", none);
			continue;
		}
		memset(&e, 0, sizeof e);
		e.addr = sp(b->heap.s + a->addr, a->alen);
		e.hash = e.quota = e.flags = none;
		e.uid = d->uid;
		e.gid = d->gid;
		e.home = sp(b->heap.s + d->home, d->hlen);
		e.maildir = sp(b->heap.s + a->tgt, a->tlen);
		entry_put(b, &e);
	}
}

/* "%domain" -> "" for each domain with an entry: userdb_domain. */
static void domains_put(struct build *b)
{
	const struct ent *e;
	size_t i;

	for (i = 0; i < b->ndom && !b->errors; i++) {
		e = &b->doms.e[b->dom[i].key];
		b->rec.len = 0;
		if (!str_catc(&b->rec, '%') ||
		    !str_catb(&b->rec, b->doms.keys.s + e->off, e->len))
			die_nomem();
		if (!b->sql) {
			cdb_add(b, b->rec.s, b->rec.len, "", 0);
			continue;
		}
		sql_row(b, "domains", " (domain)");
		sql_quote(b, sp(b->rec.s + 1, b->rec.len - 1));
		if (!str_catc(&b->out, ')'))
			die_nomem();
	}
}

/* -a uid:gid:home */
static void opt_a(struct build *b, char *arg)
{
	struct span f[3];

	if (split(sp(arg, strlen(arg)), f, 3) != 3 || !scan_id(f[0], &b->a.uid) ||
	    !scan_id(f[1], &b->a.gid) || b->a.uid == 0 || !f[2].n ||
	    f[2].p[0] != '/' || !printable(f[2]))
		die_kv(EXIT_PERM, "event", "usage", "error",
		       "-a wants uid:gid:/home (uid not 0)", (char *)0);
	b->a.hlen = f[2].n;
	b->a.home = heap_add(b, f[2].p, f[2].n);
	b->a.src = SRC_CATCHALL;
	b->has_a = 1;
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
static void cdb_commit(struct build *b, int fd, const char *out,
                       const char *tmp)
{
	struct str dir = STR_ZERO;
	size_t slash;
	int dfd;

	if (cdb_make_finish(&b->cm) != 0 || fsync(fd) < 0)
		die_io("write", tmp);
	if (close(fd) < 0)
		die_io("close", tmp);
	if (rename(tmp, out) < 0)
		die_io("rename", out);
	for (slash = strlen(out); slash > 0 && out[slash - 1] != '/'; slash--)
		;
	if (!str_catb(&dir, slash ? out : ".", slash ? slash : 1) || !str_0(&dir))
		die_nomem();
	dfd = open(dir.s, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0)
		die_io("fsync", dir.s);
	close(dfd);
	str_free(&dir);
}

static void sql_finish(struct build *b)
{
	static const char head[] =
		"-- made by quail-users: replaces the users and domains tables\n"
		"SET standard_conforming_strings = on;\n"
		"BEGIN;\n"
		"DELETE FROM users;\n"
		"DELETE FROM domains;\n";

	if ((b->table && !str_cats(&b->out, ";\n")) ||
	    !str_cats(&b->out, "COMMIT;\n"))
		die_nomem();
	if (io_writeall(1, head, sizeof head - 1) < 0 ||
	    io_writeall(1, b->out.s, b->out.len) < 0)
		die_io("write", "-");
}

int main(int argc, char **argv)
{
	static struct build b;
	struct str tmp = STR_ZERO;
	const char *out = 0;
	int c, fd, cfd = -1, hash = 0;

	log_init("quail-users");
	while ((c = getopt(argc, argv, "a:o:ps")) != -1) {
		if (c == 'a')
			opt_a(&b, optarg);
		else if (c == 'o')
			out = optarg;
		else if (c == 'p')
			hash = 1;
		else if (c == 's')
			b.sql = 1;
		else
			usage();
	}
	if (hash && (optind != argc || b.sql || out || b.has_a))
		usage();
	if (hash)
		return hash_stdin();
	if (optind + 1 != argc || (b.sql && out))
		usage();
	b.file = argv[optind];
	fd = strcmp(b.file, "-") ? open(b.file, O_RDONLY | O_CLOEXEC) : 0;
	if (fd < 0)
		die_kv(errno == ENOENT ? EXIT_PERM : EXIT_TEMP, "event", "open",
		       "file", b.file, "error", strerror(errno), (char *)0);
	if (!b.sql) {
		if (!out)
			out = getenv("QUAIL_USERDB");
		if (!out || !*out)
			out = USERDB;
		if (!str_cats(&tmp, out) || !str_cats(&tmp, ".tmp") || !str_0(&tmp))
			die_nomem();
		cfd = tmp_open(out, tmp.s);
		if (cdb_make_start(&b.cm, cfd) != 0)
			die_io("write", tmp.s);
	}
	users_read(&b, fd);
	aliases_put(&b);
	domains_put(&b);
	if (b.errors) {
		if (cfd >= 0)
			unlink(tmp.s);
		str_free(&tmp);
		return EXIT_PERM;
	}
	if (b.sql)
		sql_finish(&b);
	else
		cdb_commit(&b, cfd, out, tmp.s);
	str_free(&tmp);
	return 0;
}
