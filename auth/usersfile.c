/* The users file of quail-users(8), read and checked line by line.
 *
 * Each mailbox line becomes a record of lib/userdb.h as its line is read;
 * aliases wait for the end, when every domain's uid:gid:home is known;
 * then comes one entry per domain. Every record passes userdb_parse, the
 * readers' own check, before it goes to the sink, and nothing goes there
 * once an error is found. Errors go to fd 2 as "FILE:LINE: what". */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcode.h"
#include "fmt.h"
#include "io.h"
#include "log.h"
#include "pwcheck.h"
#include "str.h"
#include "userdb.h"
#include "usersfile.h"

#define USERS_LINE_MAX 8192     /* bytes in one line of the users file */
#define USERS_ERRORS_MAX 50     /* errors shown before giving up */
#define USERS_FIELDS_MAX 8      /* address:hash:uid:gid:home:maildir:quota:flags */
#define READ_SIZE (1 << 20)     /* one read(2) of the users file */
#define DEFAULT_MAILDIR "./Maildir/"

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

struct build {
	const char *file;
	unsigned long line;
	int errors;
	const struct usersfile_sink *sink;
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
};

static void die_io(const char *event, const char *file)
{
	die_kv(EXIT_TEMP, "event", event, "file", file, "error",
	       strerror(errno), (char *)0);
}

/* "FILE:LINE: what detail" on fd 2. */
static void bad(struct build *b, const char *what, struct usersfile_span detail)
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

static const struct usersfile_span none = { "", 0 };

static struct usersfile_span sp(const char *p, size_t n)
{
	struct usersfile_span s = { p, n };

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

static int scan_id(struct usersfile_span s, unsigned long long *out)
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

static int valid_flags(struct build *b, struct usersfile_span f)
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
static int quota_spec(struct build *b, struct usersfile_span q,
                      struct usersfile_span *out)
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

static int valid_hash(struct build *b, struct usersfile_span *h, int catchall)
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

/* Writes one record, once userdb_parse, the reader's own check, takes
 * it: what the readers would refuse never gets into the database. */
static void entry_put(struct build *b, const struct usersfile_entry *e)
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
	if (!b->errors)
		b->sink->user(b->sink->arg, e, b->rec.s, b->rec.len);
}

/* Splits s at ':' into at most max fields: how many, or max + 1 when
 * there are more. */
static size_t split(struct usersfile_span s, struct usersfile_span *f,
                    size_t max)
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

static int printable(struct usersfile_span s)
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
	struct usersfile_span f[USERS_FIELDS_MAX];
	struct usersfile_entry e;
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
	struct usersfile_entry e;
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

/* Each domain with an entry, in the order first seen. */
static void domains_put(struct build *b)
{
	const struct ent *e;
	size_t i;

	for (i = 0; i < b->ndom && !b->errors; i++) {
		e = &b->doms.e[b->dom[i].key];
		b->sink->domain(b->sink->arg, b->doms.keys.s + e->off, e->len);
	}
}

static void build_free(struct build *b)
{
	free(b->addrs.e);
	str_free(&b->addrs.keys);
	free(b->doms.e);
	str_free(&b->doms.keys);
	free(b->dom);
	free(b->al);
	str_free(&b->heap);
	str_free(&b->rec);
	userdb_free(&b->u);
}

int usersfile_owner(const char *arg, struct usersfile_owner *o)
{
	struct usersfile_span f[3];

	if (split(sp(arg, strlen(arg)), f, 3) != 3 || !scan_id(f[0], &o->uid) ||
	    !scan_id(f[1], &o->gid) || o->uid == 0 || !f[2].n ||
	    f[2].p[0] != '/' || !printable(f[2]))
		return 0;
	o->home = f[2];
	return 1;
}

int usersfile_read(int fd, const char *file,
                   const struct usersfile_owner *owner,
                   const struct usersfile_sink *sink)
{
	struct build b;
	int errors;

	memset(&b, 0, sizeof b);
	b.file = file;
	b.sink = sink;
	if (owner) {
		b.a.uid = owner->uid;
		b.a.gid = owner->gid;
		b.a.hlen = owner->home.n;
		b.a.home = heap_add(&b, owner->home.p, owner->home.n);
		b.a.src = SRC_CATCHALL;
		b.has_a = 1;
	}
	users_read(&b, fd);
	aliases_put(&b);
	domains_put(&b);
	errors = b.errors;
	build_free(&b);
	return errors;
}
