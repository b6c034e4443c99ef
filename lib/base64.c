/* Base64 (RFC 4648), strict on input. */
#include <string.h>

#include "base64.h"

static const char alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* One group of four: writes 1 to 3 bytes to o, returns how many, or 0
 * when the group is malformed. last says whether padding may appear. */
static size_t group(const char *in, int last, unsigned char *o)
{
	int v[4], i, pad = 0;
	unsigned long w;

	for (i = 0; i < 4; i++) {
		v[i] = base64_value((unsigned char)in[i]);
		if (v[i] >= 0) {
			if (pad)
				return 0;       /* data after '=' */
			continue;
		}
		if (in[i] != '=' || !last || i < 2)
			return 0;
		pad++;
		v[i] = 0;
	}
	w = (unsigned long)v[0] << 18 | (unsigned long)v[1] << 12 |
	    (unsigned long)v[2] << 6 | (unsigned long)v[3];
	o[0] = (unsigned char)(w >> 16);
	o[1] = (unsigned char)(w >> 8);
	o[2] = (unsigned char)w;
	/* bits the padding leaves unused must be zero */
	if ((pad == 2 && (w & 0xffff)) || (pad == 1 && (w & 0xff)))
		return 0;
	return (size_t)(3 - pad);
}

int base64_decode(const char *in, size_t n, struct str *out)
{
	unsigned char o[3];
	size_t i, k;

	out->len = 0;
	if (n % 4)
		return 0;
	if (!str_ready(out, n / 4 * 3))
		return -1;
	for (i = 0; i < n; i += 4) {
		k = group(in + i, i + 4 == n, o);
		if (!k) {
			memset(out->s, 0, out->len);
			out->len = 0;
			memset(o, 0, sizeof o);
			return 0;
		}
		memcpy(out->s + out->len, o, k);
		out->len += k;
	}
	memset(o, 0, sizeof o);
	return 1;
}

int base64_encode(const char *in, size_t n, struct str *out)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t need, i;
	unsigned long w;
	char *o;

	if (__builtin_add_overflow(n, 2, &need))
		return 0;
	need /= 3;
	if (__builtin_mul_overflow(need, 4, &need) || !str_ready(out, need))
		return 0;
	o = out->s + out->len;
	for (i = 0; i + 3 <= n; i += 3) {
		w = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8 | p[i + 2];
		*o++ = alphabet[w >> 18 & 63];
		*o++ = alphabet[w >> 12 & 63];
		*o++ = alphabet[w >> 6 & 63];
		*o++ = alphabet[w & 63];
	}
	if (i < n) {
		w = (unsigned long)p[i] << 16;
		if (i + 1 < n)
			w |= (unsigned long)p[i + 1] << 8;
		*o++ = alphabet[w >> 18 & 63];
		*o++ = alphabet[w >> 12 & 63];
		*o++ = i + 1 < n ? alphabet[w >> 6 & 63] : '=';
		*o++ = '=';
	}
	out->len += need;
	return 1;
}
