/* Owned byte strings with checked growth. */
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "str.h"

int str_ready(struct str *x, size_t more)
{
	size_t want, cap;
	char *p;

	/* one spare byte, so str_0 never has to grow */
	if (__builtin_add_overflow(x->len, more, &want) ||
	    __builtin_add_overflow(want, 1, &want))
		return 0;
	if (want <= x->cap)
		return 1;
	cap = x->cap ? x->cap : 32;
	while (cap < want)
		if (__builtin_mul_overflow(cap, 2, &cap))
			return 0;
	p = realloc(x->s, cap);
	if (!p)
		return 0;
	x->s = p;
	x->cap = cap;
	return 1;
}

int str_catb(struct str *x, const char *p, size_t n)
{
	if (!str_ready(x, n))
		return 0;
	if (n)
		memcpy(x->s + x->len, p, n);
	x->len += n;
	return 1;
}

int str_cats(struct str *x, const char *s)
{
	return str_catb(x, s, strlen(s));
}

int str_catc(struct str *x, char c)
{
	return str_catb(x, &c, 1);
}

int str_catu(struct str *x, unsigned long long u)
{
	char buf[FMT_ULONG];

	return str_catb(x, buf, fmt_ulong(buf, u));
}

int str_copyb(struct str *x, const char *p, size_t n)
{
	size_t len = x->len;

	x->len = 0;
	if (str_catb(x, p, n))
		return 1;
	x->len = len;
	return 0;
}

int str_copys(struct str *x, const char *s)
{
	return str_copyb(x, s, strlen(s));
}

int str_0(struct str *x)
{
	if (!str_ready(x, 0))
		return 0;
	x->s[x->len] = 0;
	return 1;
}

void str_free(struct str *x)
{
	free(x->s);
	x->s = 0;
	x->len = x->cap = 0;
}

int str_eqb(const struct str *x, const char *p, size_t n)
{
	return x->len == n && (n == 0 || memcmp(x->s, p, n) == 0);
}

int str_eqb_ci(const struct str *x, const char *p, size_t n)
{
	return x->len == n && case_eqb(x->s, p, n);
}
