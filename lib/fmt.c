/* Number formatting and scanning, ASCII case helpers. */
#include "fmt.h"

size_t fmt_ulong(char *buf, unsigned long long u)
{
	char tmp[FMT_ULONG];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

char *fmt_u(char buf[FMT_ULONG], unsigned long long u)
{
	buf[fmt_ulong(buf, u)] = 0;
	return buf;
}

size_t fmt_xlong(char *buf, unsigned long long u)
{
	char tmp[FMT_ULONG];
	size_t n = 0, i;

	do {
		tmp[n++] = "0123456789abcdef"[u & 15];
		u >>= 4;
	} while (u);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

int scan_ulong(const char *p, size_t n, unsigned long long *out)
{
	unsigned long long u = 0;
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 0;
		if (__builtin_mul_overflow(u, 10, &u) ||
		    __builtin_add_overflow(u, (unsigned)(p[i] - '0'), &u))
			return 0;
	}
	*out = u;
	return 1;
}

char case_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

void case_lowerb(char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = case_lower(p[i]);
}

int case_eqb(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (case_lower(a[i]) != case_lower(b[i]))
			return 0;
	return 1;
}

int case_startb(const char *p, size_t n, const char *prefix)
{
	size_t i;

	for (i = 0; prefix[i]; i++)
		if (i >= n || case_lower(p[i]) != case_lower(prefix[i]))
			return 0;
	return 1;
}

size_t byte_chr(const char *p, size_t n, int c)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] == (char)c)
			return i;
	return n;
}
