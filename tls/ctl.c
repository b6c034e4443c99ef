/* Parsers for quail-tlsd: control bytes, info blocks, host names and
 * settings. No OpenSSL and no system calls here (see ctl.h). */
#include <string.h>

#include "ctl.h"
#include "fmt.h"

/* The variables an info block may carry (mod_ssl and s6-tlsd names). */
static const char *const info_names[] = {
	"SSL_PROTOCOL",
	"SSL_CIPHER",
	"SSL_CIPHER_USEKEYSIZE",
	"SSL_CIPHER_ALGKEYSIZE",
	"SSL_TLS_SNI_SERVERNAME",
	"SSL_PEER_CERT_SUBJECT",
	"SSL_PEER_CERT_HASH",
	0
};

int ctl_scan(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == 'y')
			return CTL_START;
		if (p[i] == 'Y')
			return CTL_START_INFO;
	}
	return CTL_NONE;
}

int ctl_name_ok(const char *name, size_t n)
{
	size_t i;

	for (i = 0; info_names[i]; i++)
		if (strlen(info_names[i]) == n && !memcmp(info_names[i], name, n))
			return 1;
	return 0;
}

const char *ctl_info_name(size_t i)
{
	return i < sizeof info_names / sizeof info_names[0] ? info_names[i] : 0;
}

int ctl_info_add(struct str *b, const char *name, const char *value,
                 size_t n)
{
	size_t namelen = strlen(name), need, i, start = b->len;

	if (!ctl_name_ok(name, namelen))
		return 0;
	if (n > CTL_VALUE_MAX)
		n = CTL_VALUE_MAX;
	/* name '=' value NUL, and room left for the end marker */
	if (__builtin_add_overflow(namelen, n, &need) ||
	    __builtin_add_overflow(need, 3, &need) ||
	    __builtin_add_overflow(need, b->len, &need) || need > CTL_INFO_MAX)
		return 0;
	if (!str_catb(b, name, namelen) || !str_catc(b, '='))
		goto fail;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)value[i];

		if (!str_catc(b, c >= 32 && c < 127 ? (char)c : '?'))
			goto fail;
	}
	if (!str_catc(b, 0))
		goto fail;
	return 1;
fail:
	b->len = start;
	return 0;
}

int ctl_info_end(struct str *b)
{
	return str_catc(b, 0);
}

int ctl_info_next(const char *p, size_t n, size_t *pos, struct ctl_var *v)
{
	size_t at = *pos, end, eq;

	if (at >= n)
		return -1;
	if (p[at] == 0) {
		*pos = at + 1;
		return 0;
	}
	end = at + byte_chr(p + at, n - at, 0);
	if (end == n)
		return -1;
	eq = at + byte_chr(p + at, end - at, '=');
	if (eq == end || !ctl_name_ok(p + at, eq - at))
		return -1;
	if (end - eq - 1 > CTL_VALUE_MAX)
		return -1;
	v->name = p + at;
	v->namelen = eq - at;
	v->value = p + eq + 1;
	v->valuelen = end - eq - 1;
	*pos = end + 1;
	return 1;
}

long ctl_info_check(const char *p, size_t n)
{
	size_t pos = 0;
	struct ctl_var v;
	int r;

	for (;;) {
		if (pos >= n)
			return n > CTL_INFO_MAX ? -1 : 0;
		/* An entry cut short is incomplete, not malformed, while
		 * what we have of it could still become a good one. */
		if (p[pos] != 0 && byte_chr(p + pos, n - pos, 0) == n - pos)
			return n > CTL_INFO_MAX ? -1 : 0;
		r = ctl_info_next(p, n, &pos, &v);
		if (r < 0)
			return -1;
		if (pos > CTL_INFO_MAX)
			return -1;
		if (r == 0)
			return (long)pos;
	}
}

static int host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

int ctl_host(const char *p, size_t n, char out[CTL_HOST_MAX + 1])
{
	size_t i, label = 0;

	if (n > 0 && p[n - 1] == '.')
		n--;
	if (n == 0 || n > CTL_HOST_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = case_lower(p[i]);

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else {
			if (!host_char(c) || (label == 0 && c == '-'))
				return 0;
			if (++label > CTL_LABEL_MAX)
				return 0;
		}
		out[i] = c;
	}
	if (label == 0)
		return 0;
	out[n] = 0;
	return 1;
}

static int ends_with(const char *p, size_t n, const char *sfx, size_t *stem)
{
	size_t k = strlen(sfx);

	if (n <= k || memcmp(p + n - k, sfx, k))
		return 0;
	*stem = n - k;
	return 1;
}

int ctl_certfile(const char *p, size_t n, char name[CTL_HOST_MAX + 3],
                 int *kind)
{
	size_t stem;

	if (ends_with(p, n, ".pem", &stem))
		*kind = CTL_PEM;
	else if (ends_with(p, n, ".crt", &stem))
		*kind = CTL_CRT;
	else if (ends_with(p, n, ".key", &stem))
		*kind = CTL_KEY;
	else
		return 0;
	/* A trailing dot would make "a..pem" and "a.pem" one name. */
	if (p[stem - 1] == '.')
		return 0;
	if (stem >= 2 && p[0] == '*' && p[1] == '.') {
		name[0] = '*';
		name[1] = '.';
		return ctl_host(p + 2, stem - 2, name + 2);
	}
	return ctl_host(p, stem, name);
}

int ctl_wildcard(const char *host, char out[CTL_HOST_MAX + 3])
{
	size_t n = strlen(host), dot = byte_chr(host, n, '.');

	if (dot >= n || n > CTL_HOST_MAX)
		return 0;
	out[0] = '*';
	memcpy(out + 1, host + dot, n - dot + 1);
	return 1;
}

int ctl_seconds(const char *s, unsigned long long max,
                unsigned long long *out)
{
	unsigned long long u;

	if (!s || !scan_ulong(s, strlen(s), &u) || u == 0 || u > max)
		return 0;
	*out = u;
	return 1;
}

int ctl_id(const char *s, unsigned long *out)
{
	unsigned long long u;

	/* (id_t)-1 means "no change" to setuid and friends. */
	if (!s || !scan_ulong(s, strlen(s), &u) || u >= 0xffffffffULL)
		return 0;
	*out = (unsigned long)u;
	return 1;
}

int ctl_flag(const char *s)
{
	if (!s || !*s || !strcmp(s, "0"))
		return 0;
	if (!strcmp(s, "1"))
		return 1;
	return -1;
}
