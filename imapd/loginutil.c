/* Pure helpers of the login stage, apart for the unit test and the
 * fuzz target: SASL PLAIN and the hex coding of read-ahead input. */
#include <string.h>

#include "login.h"

int login_sasl_plain(const char *msg, size_t n, const char **user,
                     size_t *un, const char **pass, size_t *pn)
{
	const char *z1, *z2;
	size_t zn;

	z1 = memchr(msg, 0, n);
	if (!z1)
		return 0;
	z2 = memchr(z1 + 1, 0, n - (size_t)(z1 + 1 - msg));
	if (!z2)
		return 0;
	*user = z1 + 1;
	*un = (size_t)(z2 - *user);
	*pass = z2 + 1;
	*pn = n - (size_t)(*pass - msg);
	zn = (size_t)(z1 - msg);
	if (*un == 0 || *pn == 0 || memchr(*pass, 0, *pn))
		return 0;
	if (zn && (zn != *un || memcmp(msg, *user, zn)))
		return 0;
	return 1;
}

static const char hexdig[] = "0123456789abcdef";

int login_hex_encode(struct str *out, const char *p, size_t n)
{
	size_t i;

	out->len = 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (!str_catc(out, hexdig[ch >> 4]) ||
		    !str_catc(out, hexdig[ch & 15]))
			return 0;
	}
	return 1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* 1 ok, 0 malformed or no memory */
int login_hex_decode(struct str *out, const char *p, size_t n)
{
	size_t i;

	out->len = 0;
	if (n % 2)
		return 0;
	for (i = 0; i < n; i += 2) {
		int hi = hexval(p[i]), lo = hexval(p[i + 1]);

		if (hi < 0 || lo < 0 || !str_catc(out, (char)(hi * 16 + lo)))
			return 0;
	}
	return 1;
}
