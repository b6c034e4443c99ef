/* Password checking and hashing with libxcrypt; see pwcheck.h. */
#include <crypt.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pwcheck.h"

_Static_assert(PWCHECK_PASSWORD_MAX < CRYPT_MAX_PASSPHRASE_SIZE,
               "crypt_rn takes the password with its NUL");

static const char *const schemes[] = { "$y$", "$2b$", "$2y$", "$2a$",
                                       "$6$", "$5$" };

int pwcheck_scheme(const char *hash)
{
	size_t i, n;

	for (i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
		n = strlen(schemes[i]);
		if (!strncmp(hash, schemes[i], n) && hash[n])
			return 1;
	}
	return 0;
}

/* A NUL-terminated copy of the password, or 0 when it can't be one:
 * crypt(3) takes a C string, so a NUL inside would cut it short. */
static char *pw_copy(const char *password, size_t n)
{
	char *p;

	if (n == 0 || n > PWCHECK_PASSWORD_MAX || memchr(password, 0, n))
		return 0;
	p = malloc(n + 1);
	if (!p)
		return 0;
	memcpy(p, password, n);
	p[n] = 0;
	return p;
}

static void pw_wipe(char *p, size_t n)
{
	if (!p)
		return;
	explicit_bzero(p, n + 1);
	free(p);
}

static struct crypt_data *cd_new(void)
{
	/* about 32 KB: too big for a small stack; zeroed, as crypt_rn wants */
	return calloc(1, sizeof(struct crypt_data));
}

static void cd_wipe(struct crypt_data *cd)
{
	explicit_bzero(cd, sizeof *cd);
	free(cd);
}

/* Constant time in the contents: the lengths are not secret. */
static int same(const char *a, const char *b, size_t n)
{
	unsigned char d = 0;
	size_t i;

	for (i = 0; i < n; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)b[i];
	return d == 0;
}

/* 1 when some hash could match the password: the checks of pw_copy,
 * made first so that a failed copy means no memory. */
static int usable(const char *password, size_t n)
{
	return n > 0 && n <= PWCHECK_PASSWORD_MAX && !memchr(password, 0, n);
}

int pwcheck_verify(const char *password, size_t n, const char *hash)
{
	struct crypt_data *cd;
	const char *r;
	char *pw;
	size_t hlen = strnlen(hash, PWCHECK_HASH_MAX + 1);
	int ok;

	if (!usable(password, n) || hlen > PWCHECK_HASH_MAX ||
	    !pwcheck_scheme(hash))
		return 0;
	pw = pw_copy(password, n);
	cd = cd_new();
	if (!pw || !cd) {
		pw_wipe(pw, n);
		free(cd);
		errno = ENOMEM;
		return -1;
	}
	errno = 0;
	r = crypt_rn(pw, hash, cd, (int)sizeof *cd);
	pw_wipe(pw, n);
	if (!r) {
		/* EINVAL: a malformed hash, which can never match */
		ok = errno == ENOMEM ? -1 : 0;
		cd_wipe(cd);
		if (ok < 0)
			errno = ENOMEM;
		return ok;
	}
	ok = strlen(r) == hlen && r[0] != '*' && same(r, hash, hlen);
	cd_wipe(cd);
	return ok;
}

int pwcheck_hash(const char *password, size_t n, struct str *out)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	const char *r;
	char *pw;
	int ok = 1;

	if (!usable(password, n))
		return 0;
	errno = 0;
	/* count 0: libxcrypt's default cost; no rbytes: it reads the OS's
	 * random source itself */
	if (!crypt_gensalt_rn("$y$", 0, 0, 0, setting, sizeof setting)) {
		if (!errno)
			errno = EIO;
		return -1;
	}
	pw = pw_copy(password, n);
	cd = cd_new();
	if (!pw || !cd) {
		pw_wipe(pw, n);
		free(cd);
		errno = ENOMEM;
		return -1;
	}
	r = crypt_rn(pw, setting, cd, (int)sizeof *cd);
	pw_wipe(pw, n);
	if (!r || r[0] != '$') {
		if (!errno)
			errno = EINVAL;
		ok = -1;
	} else if (!str_copys(out, r) || !str_0(out)) {
		errno = ENOMEM;
		ok = -1;
	}
	cd_wipe(cd);
	return ok;
}
