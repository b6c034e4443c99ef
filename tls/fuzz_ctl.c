/* libFuzzer target for what quail-tlsd parses: control bytes from the
 * application, info blocks (which the privileged child reads from the
 * unprivileged engine), SNI host names, CERTDIR file names and settings.
 * The first byte picks the parser; each checks its own invariants. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static void host_check(const char *p, size_t n)
{
	char out[CTL_HOST_MAX + 1], wild[CTL_HOST_MAX + 3];
	size_t i, len;

	if (!ctl_host(p, n, out))
		return;
	len = strlen(out);
	if (len == 0 || len > CTL_HOST_MAX || out[0] == '.' || strstr(out, ".."))
		abort();
	for (i = 0; i < len; i++)
		if (out[i] == '/' || out[i] == '*' ||
		    (out[i] >= 'A' && out[i] <= 'Z'))
			abort();
	if (ctl_wildcard(out, wild) && (wild[0] != '*' || wild[1] != '.'))
		abort();
}

static void info_check(const char *p, size_t n)
{
	struct ctl_var v;
	size_t pos = 0;
	long len = ctl_info_check(p, n);
	int r;

	if (len <= 0)
		return;
	if ((size_t)len > n || len > CTL_INFO_MAX)
		abort();
	while ((r = ctl_info_next(p, (size_t)len, &pos, &v)) == 1)
		if (!ctl_name_ok(v.name, v.namelen) ||
		    strlen(v.value) != v.valuelen)
			abort();
	if (r != 0 || pos != (size_t)len)
		abort();
}

/* Builds a block from the input's bytes as values, and reads it back. */
static void info_roundtrip(const char *p, size_t n)
{
	struct str b = STR_ZERO;
	struct ctl_var v;
	size_t pos = 0, half = n / 2, i;

	if (!ctl_info_add(&b, "SSL_CIPHER", p, half) ||
	    !ctl_info_add(&b, "SSL_PEER_CERT_SUBJECT", p + half, n - half) ||
	    !ctl_info_end(&b))
		abort();
	if (ctl_info_check(b.s, b.len) != (long)b.len)
		abort();
	for (i = 0; i < 2; i++) {
		if (ctl_info_next(b.s, b.len, &pos, &v) != 1)
			abort();
		if (v.valuelen > CTL_VALUE_MAX)
			abort();
	}
	if (ctl_info_next(b.s, b.len, &pos, &v) != 0)
		abort();
	str_free(&b);
}

static void settings_check(const char *p, size_t n)
{
	char s[64];
	unsigned long long u;
	unsigned long id;

	if (n >= sizeof s)
		n = sizeof s - 1;
	memcpy(s, p, n);
	s[n] = 0;
	if (ctl_seconds(s, 86400, &u) && (u == 0 || u > 86400))
		abort();
	if (ctl_id(s, &id) && id >= 0xffffffffUL)
		abort();
	(void)ctl_flag(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 1;
	char name[CTL_HOST_MAX + 3];
	int kind;

	if (size == 0)
		return 0;
	switch (data[0] % 5) {
	case 0:
		(void)ctl_scan(p, size - 1);
		break;
	case 1:
		host_check(p, size - 1);
		break;
	case 2:
		info_check(p, size - 1);
		break;
	case 3:
		info_roundtrip(p, size - 1);
		break;
	default:
		settings_check(p, size - 1);
		if (ctl_certfile(p, size - 1, name, &kind) &&
		    (strchr(name, '/') || kind < CTL_PEM || kind > CTL_KEY))
			abort();
		break;
	}
	return 0;
}
