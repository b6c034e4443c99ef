/* RFC 5321 paths (section 4.1.2): the argument of MAIL FROM and RCPT TO.
 *
 * The grammar, as implemented here:
 *   Path       = "<" [ A-d-l ":" ] Mailbox ">"   and the null path "<>"
 *   A-d-l      = At-domain *( "," At-domain ), At-domain = "@" Domain
 *   Mailbox    = Local-part "@" ( Domain / address-literal ), or a bare
 *                Local-part (<postmaster>; has_domain says which)
 *   Local-part = Dot-string / Quoted-string
 *   Domain     = sub-domain *( "." sub-domain ), labels of letters, digits
 *                and inner hyphens, at most 63 bytes each
 *   literal    = "[" IPv4 "]" / "[IPv6:" IPv6 "]"
 * Bytes >= 0x80 are refused (no SMTPUTF8), as is an empty local part,
 * quoted or not. General address literals ([tag:...]) are refused as
 * bad domains. Every scan stops at its limit, so hostile input costs at
 * most a few hundred bytes of work and never a read past p + n. */
#include <arpa/inet.h>
#include <string.h>

#include "addr.h"
#include "fmt.h"

/* The longest IPv6 text inet_pton can accept: 8 groups of 4 hex digits
 * and 7 colons, or 6 groups with an IPv4 tail (45 bytes). */
#define ADDR_IPV6_TEXT_MAX 45
#define ADDR_LABEL_MAX 63

struct cur {
	const char *p;
	size_t n, i;
};

/* The next byte, or -1 at the end of the input. */
static int cur_peek(const struct cur *c)
{
	return c->i < c->n ? (unsigned char)c->p[c->i] : -1;
}

static int is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int is_letdig(int c)
{
	return is_alpha(c) || is_digit(c);
}

/* atext of RFC 5322 3.2.3, without the 8-bit extension */
static int is_atext(int c)
{
	if (c < 0)
		return 0;
	return is_letdig(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* A byte that can never appear in a path: controls, space, DEL, 8-bit.
 * Seeing one inside a domain is a syntax error rather than a bad name. */
static int is_junk(int c)
{
	return c < 33 || c > 126;
}

/* 1 when s[0..n) is a Dot-string: atoms of atext joined by single dots. */
static int is_dotstring(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (s[i - 1] == '.')
				return 0;
		} else if (!is_atext((unsigned char)s[i])) {
			return 0;
		}
	}
	return 1;
}

/* Checks d[0..n) as sub-domain *("." sub-domain). */
static int domain_name_ok(const char *d, size_t n)
{
	size_t i, start = 0;

	if (n == 0)
		return 0;
	for (i = 0; i <= n; i++) {
		if (i < n && d[i] != '.') {
			if (!is_letdig((unsigned char)d[i]) && d[i] != '-')
				return 0;
			continue;
		}
		/* a label d[start..i) */
		if (i == start || i - start > ADDR_LABEL_MAX)
			return 0;
		if (d[start] == '-' || d[i - 1] == '-')
			return 0;
		start = i + 1;
	}
	return 1;
}

/* Snum 3("." Snum), Snum = 1*3DIGIT with a value of at most 255. */
static int ipv4_ok(const char *s, size_t n)
{
	size_t i = 0, digits;
	unsigned v;
	int part;

	for (part = 0; part < 4; part++) {
		if (part > 0) {
			if (i >= n || s[i] != '.')
				return 0;
			i++;
		}
		v = 0;
		digits = 0;
		while (i < n && is_digit((unsigned char)s[i])) {
			if (digits++ == 3)
				return 0;
			v = v * 10 + (unsigned)(s[i++] - '0');
		}
		if (digits == 0 || v > 255)
			return 0;
	}
	return i == n;
}

static int ipv6_ok(const char *s, size_t n)
{
	char buf[ADDR_IPV6_TEXT_MAX + 1];
	unsigned char bin[16];

	if (n == 0 || n > ADDR_IPV6_TEXT_MAX)
		return 0;
	memcpy(buf, s, n);
	buf[n] = 0;
	return inet_pton(AF_INET6, buf, bin) == 1;
}

/* The inside of an address literal, s[0..n) between the brackets. */
static int literal_ok(const char *s, size_t n)
{
	if (n >= 5 && case_startb(s, n, "IPv6:"))
		return ipv6_ok(s + 5, n - 5);
	return ipv4_ok(s, n);
}

/* A domain or address literal at the cursor, ending where a byte in
 * stop (or the end of input) is. A route allows no literal. On ADDR_OK,
 * d and dlen give the text, and the cursor is on the stop byte. */
static int parse_domain(struct cur *c, const char *stop, int literal,
                        const char **d, size_t *dlen)
{
	size_t start = c->i, close;
	int ch;

	for (;;) {
		ch = cur_peek(c);
		if (ch < 0 || (ch > 0 && strchr(stop, ch)))
			break;
		if (is_junk(ch))
			return ADDR_SYNTAX;
		if (c->i - start >= ADDR_DOMAIN_MAX)
			return ADDR_DOMAIN_LONG;
		c->i++;
	}
	*d = c->p + start;
	*dlen = c->i - start;
	if (ch < 0)
		return ADDR_SYNTAX;
	if (*dlen > 0 && c->p[start] == '[') {
		close = *dlen - 1;
		if (!literal || close == 0 || (*d)[close] != ']')
			return ADDR_BAD_DOMAIN;
		if (!literal_ok(*d + 1, close - 1))
			return ADDR_BAD_DOMAIN;
		return ADDR_OK;
	}
	return domain_name_ok(*d, *dlen) ? ADDR_OK : ADDR_BAD_DOMAIN;
}

/* A-d-l ":" at the cursor, which is on the first '@'. */
static int parse_route(struct cur *c)
{
	const char *d;
	size_t dlen;
	int r;

	for (;;) {
		if (cur_peek(c) != '@')
			return ADDR_SYNTAX;
		c->i++;
		r = parse_domain(c, ",:>", 0, &d, &dlen);
		if (r != ADDR_OK)
			return r;
		/* many short hops could go on for ever: stop at the limit */
		if (c->i >= ADDR_PATH_MAX)
			return ADDR_PATH_LONG;
		if (c->p[c->i] == ':') {
			c->i++;
			return ADDR_OK;
		}
		if (c->p[c->i] != ',')
			return ADDR_SYNTAX;
		c->i++;
	}
}

/* Appends the quoted form of s[0..n), escaping only '"' and '\'. */
static int quote(struct str *out, const char *s, size_t n)
{
	size_t i;

	if (!str_catc(out, '"'))
		return 0;
	for (i = 0; i < n; i++) {
		if ((s[i] == '"' || s[i] == '\\') && !str_catc(out, '\\'))
			return 0;
		if (!str_catc(out, s[i]))
			return 0;
	}
	return str_catc(out, '"');
}

/* Quoted-string at the cursor (on the opening quote). */
static int parse_quoted(struct cur *c, struct str *out)
{
	char text[ADDR_LOCAL_MAX];
	size_t start = c->i, len = 0;
	int ch;

	c->i++;
	for (;;) {
		/* the limit counts the local part as sent, quotes included */
		if (c->i - start >= ADDR_LOCAL_MAX)
			return ADDR_LOCAL_LONG;
		ch = cur_peek(c);
		if (ch < 0)
			return ADDR_SYNTAX;
		c->i++;
		if (ch == '"')
			break;
		if (ch == '\\') {
			ch = cur_peek(c);
			if (ch < 32 || ch > 126)
				return ADDR_SYNTAX;
			c->i++;
		} else if (ch < 32 || ch > 126) {
			return ADDR_SYNTAX;
		}
		text[len++] = (char)ch;
	}
	if (len == 0)
		return ADDR_SYNTAX;
	if (is_dotstring(text, len))
		return str_catb(out, text, len) ? ADDR_OK : ADDR_NOMEM;
	return quote(out, text, len) ? ADDR_OK : ADDR_NOMEM;
}

/* Local-part at the cursor, appended to out in canonical form. */
static int parse_local(struct cur *c, struct str *out)
{
	size_t start = c->i;
	int ch;

	if (cur_peek(c) == '"')
		return parse_quoted(c, out);
	for (;;) {
		ch = cur_peek(c);
		if (ch != '.' && !is_atext(ch))
			break;
		if (c->i - start >= ADDR_LOCAL_MAX)
			return ADDR_LOCAL_LONG;
		c->i++;
	}
	if (!is_dotstring(c->p + start, c->i - start))
		return ADDR_SYNTAX;
	return str_catb(out, c->p + start, c->i - start) ? ADDR_OK : ADDR_NOMEM;
}

/* Mailbox and the closing '>', the cursor just past '<' or the route. */
static int parse_mailbox(struct cur *c, struct str *out, int *has_domain)
{
	const char *d;
	size_t dlen;
	int r;

	r = parse_local(c, out);
	if (r != ADDR_OK)
		return r;
	if (cur_peek(c) == '>') {
		*has_domain = 0;
		return ADDR_OK;
	}
	if (cur_peek(c) != '@')
		return ADDR_SYNTAX;
	c->i++;
	r = parse_domain(c, ">", 1, &d, &dlen);
	if (r != ADDR_OK)
		return r;
	if (!str_catc(out, '@') || !str_catb(out, d, dlen))
		return ADDR_NOMEM;
	*has_domain = 1;
	return ADDR_OK;
}

int addr_parse_path(const char *p, size_t n, struct str *out, size_t *used,
                    int *has_domain)
{
	struct cur c = { p, n, 0 };
	int r, dom = 0;

	out->len = 0;
	if (cur_peek(&c) != '<')
		return ADDR_SYNTAX;
	c.i++;
	if (cur_peek(&c) == '>') {
		c.i++;
	} else {
		if (cur_peek(&c) == '@') {
			r = parse_route(&c);
			if (r != ADDR_OK)
				goto fail;
		}
		r = parse_mailbox(&c, out, &dom);
		if (r != ADDR_OK)
			goto fail;
		c.i++;          /* parse_mailbox stopped on '>' */
	}
	if (c.i > ADDR_PATH_MAX) {
		r = ADDR_PATH_LONG;
		goto fail;
	}
	*used = c.i;
	*has_domain = dom;
	return ADDR_OK;
fail:
	out->len = 0;
	return r;
}

const char *addr_error(int code)
{
	switch (code) {
	case ADDR_OK:
		return "ok";
	case ADDR_SYNTAX:
		return "syntax error in address";
	case ADDR_LOCAL_LONG:
		return "local part too long";
	case ADDR_DOMAIN_LONG:
		return "domain too long";
	case ADDR_PATH_LONG:
		return "path too long";
	case ADDR_BAD_DOMAIN:
		return "invalid domain";
	case ADDR_NOMEM:
		return "out of memory";
	default:
		return "unknown address error";
	}
}

const char *addr_domain(const char *addr, size_t len, size_t *dlen)
{
	size_t i = len;

	/* the last '@': a quoted local part may hold more of them */
	while (i > 0) {
		i--;
		if (addr[i] == '@') {
			*dlen = len - i - 1;
			return addr + i + 1;
		}
	}
	*dlen = 0;
	return "";
}
