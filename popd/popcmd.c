/* POP3 parsing and message output shared by quail-popup and quail-pop3d
 * (no I/O here; see popcmd.h). */
#include <string.h>

#include "fmt.h"
#include "popcmd.h"

#define POP_NUM_DIGITS 19       /* decimal digits accepted in a number */

int pop_line(const char *line, size_t n, size_t *len)
{
	size_t i;

	if (n && line[n - 1] == '\n')
		n--;
	if (n && line[n - 1] == '\r')
		n--;
	for (i = 0; i < n; i++)
		if (line[i] == 0 || line[i] == '\r' || line[i] == '\n')
			return 0;
	*len = n;
	return 1;
}

static const struct {
	const char *name;
	int verb;
} verbs[] = {
	{ "USER", POP_USER }, { "PASS", POP_PASS }, { "APOP", POP_APOP },
	{ "AUTH", POP_AUTH }, { "STLS", POP_STLS }, { "CAPA", POP_CAPA },
	{ "QUIT", POP_QUIT }, { "STAT", POP_STAT }, { "LIST", POP_LIST },
	{ "RETR", POP_RETR }, { "DELE", POP_DELE }, { "NOOP", POP_NOOP },
	{ "RSET", POP_RSET }, { "TOP", POP_TOP }, { "UIDL", POP_UIDL },
};

void pop_parse(const char *line, size_t n, struct pop_cmd *c)
{
	size_t v = byte_chr(line, n, ' '), i;

	c->verb = n ? POP_UNKNOWN : POP_EMPTY;
	c->arg = 0;
	c->arglen = 0;
	if (!n)
		return;
	for (i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (strlen(verbs[i].name) == v &&
		    case_eqb(line, verbs[i].name, v)) {
			c->verb = verbs[i].verb;
			break;
		}
	if (v < n) {
		c->arg = line + v + 1;
		c->arglen = n - v - 1;
	}
}

int pop_num(const char *p, size_t n, unsigned long long max,
            unsigned long long *out)
{
	unsigned long long u;

	if (n == 0 || n > POP_NUM_DIGITS)
		return 0;
	if (!scan_ulong(p, n, &u) || u > max)
		return 0;
	*out = u;
	return 1;
}

int pop_two(const char *arg, size_t n, const char **a, size_t *an,
            const char **b, size_t *bn)
{
	size_t sp = byte_chr(arg, n, ' ');

	if (sp == 0 || sp >= n - 1)
		return 0;
	if (byte_chr(arg + sp + 1, n - sp - 1, ' ') != n - sp - 1)
		return 0;
	*a = arg;
	*an = sp;
	*b = arg + sp + 1;
	*bn = n - sp - 1;
	return 1;
}

int pop_plain(const char *msg, size_t n, struct str *user, struct str *pass)
{
	size_t z1 = byte_chr(msg, n, 0), z2, ulen;
	const char *u;

	if (z1 >= n)
		return 0;
	u = msg + z1 + 1;
	z2 = byte_chr(u, n - z1 - 1, 0);
	if (z2 >= n - z1 - 1)
		return 0;
	ulen = z2;
	/* no third NUL: the password is the rest */
	if (byte_chr(u + z2 + 1, n - z1 - 2 - z2, 0) != n - z1 - 2 - z2)
		return 0;
	if (ulen == 0 || n - z1 - 2 - z2 == 0)
		return 0;
	if (z1 && (z1 != ulen || memcmp(msg, u, ulen) != 0))
		return 0;
	if (!str_copyb(user, u, ulen) ||
	    !str_copyb(pass, u + z2 + 1, n - z1 - 2 - z2))
		return -1;
	return 1;
}

/* The end of the unique part: before ':', and before ",S=" or ",W=". */
static size_t uidl_base(const char *name, size_t n)
{
	size_t i;

	n = byte_chr(name, n, ':');
	for (i = 0; i + 2 < n; i++)
		if (name[i] == ',' && (name[i + 1] == 'S' || name[i + 1] == 'W') &&
		    name[i + 2] == '=')
			return i;
	return n;
}

size_t pop_uidl(const char *name, size_t n, char out[POP_UIDL_MAX])
{
	static const char hex[] = "0123456789abcdef";
	unsigned long long h = 14695981039346656037ULL;
	size_t i, b = uidl_base(name, n);
	int ok = b > 0 && b <= POP_UIDL_MAX;

	for (i = 0; ok && i < b; i++)
		if ((unsigned char)name[i] < 0x21 || (unsigned char)name[i] > 0x7e)
			ok = 0;
	if (ok) {
		memcpy(out, name, b);
		return b;
	}
	for (i = 0; i < b; i++) {
		h ^= (unsigned char)name[i];
		h *= 1099511628211ULL;
	}
	out[0] = 'X';
	for (i = 0; i < 16; i++)
		out[1 + i] = hex[(h >> (60 - 4 * i)) & 15];
	return 17;
}

void pop_xf_init(struct pop_xf *x, int limited, unsigned long long lines)
{
	x->bol = 1;
	x->blank = 1;
	x->body = 0;
	x->limited = limited;
	x->done = 0;
	x->left = lines;
}

/* Only the header is scanned for its blank line; the body is copied in
 * runs between LFs. */
size_t pop_xf(struct pop_xf *x, const char *in, size_t n, char *out)
{
	size_t i = 0, o = 0, end, j;
	const char *lf;

	while (i < n && !x->done) {
		if (x->bol) {
			if (x->limited && x->body && x->left == 0) {
				x->done = 1;
				break;
			}
			if (in[i] == '.')
				out[o++] = '.';
			x->bol = 0;
			x->blank = 1;
		}
		lf = memchr(in + i, '\n', n - i);
		end = lf ? (size_t)(lf - in) : n;
		if (!x->body && x->blank)
			for (j = i; j < end; j++)
				if (in[j] != '\r') {
					x->blank = 0;
					break;
				}
		memcpy(out + o, in + i, end - i);
		o += end - i;
		i = end;
		if (!lf)
			break;
		out[o++] = '\r';
		out[o++] = '\n';
		i++;
		x->bol = 1;
		if (x->body) {
			if (x->limited)
				x->left--;
		} else if (x->blank)
			x->body = 1;
	}
	return o;
}

size_t pop_xf_end(struct pop_xf *x, char *out)
{
	size_t o = 0;

	if (!x->bol && !x->done) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	memcpy(out + o, ".\r\n", 3);
	return o + 3;
}

void pop_size_init(struct pop_size *s)
{
	s->n = 0;
	s->bol = 1;
}

void pop_size_add(struct pop_size *s, const char *p, size_t n)
{
	const char *e = p + n, *lf;

	if (!n)
		return;
	s->n += n;
	while ((lf = memchr(p, '\n', (size_t)(e - p))) != 0) {
		s->n++;
		p = lf + 1;
	}
	s->bol = e[-1] == '\n';
}

unsigned long long pop_size_end(const struct pop_size *s)
{
	return s->n + (s->bol ? 0 : 2);
}
