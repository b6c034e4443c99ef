#include <crypt.h>
#include <errno.h>
#include <string.h>

#include "pwcheck.h"
#include "test.h"

#define PW "Tr0ub4dor&3"

/* Made with mkpasswd(1) from Debian's whois package, password PW. */
static const struct {
	const char *hash;
	int want;
} fixed[] = {
	{ "$y$j9T$6/YgPTwT5z.XDTHkxYKEu.$304JY2d4z7LsrLVqxMtw/v9wp2d8UdV5s.sZQSNVRQ8", 1 },
	{ "$2b$05$hBJdXVxK4iTTVoETlOUBxekRk305ubhi3DOi5wxLk4M0UxavwXPtm", 1 },
	{ "$6$NvL4S.bFF/aCBHd8$mk/g/umjoYSlJyKteyTgroumoGgWBgSzWt3XKu2Dvxud93QVsUd/v9m3psd6AFpVZSA3sO8u3PP4fKiTCwmta0", 1 },
	{ "$5$nPeys/GTRom6WEof$EC03sPIC1UO6Id52MeYNeb2o2KtV38DKamvf2La.8.4", 1 },
	/* right password, refused schemes */
	{ "$1$cYxPL9d.$uswooHO0bEjqPhdl5qVTB.", 0 },
	{ "aHR5IFA1kQ4vI", 0 },
	/* no password login */
	{ "", 0 },
	{ "-", 0 },
	{ "*", 0 },
	{ "!", 0 },
	/* a locked hash, shadow-style */
	{ "!$6$NvL4S.bFF/aCBHd8$mk/g/umjoYSlJyKteyTgroumoGgWBgSzWt3XKu2Dvxud93QVsUd/v9m3psd6AFpVZSA3sO8u3PP4fKiTCwmta0", 0 },
	/* one character changed, cut short, malformed */
	{ "$5$nPeys/GTRom6WEof$EC03sPIC1UO6Id52MeYNeb2o2KtV38DKamvf2La.8.5", 0 },
	{ "$5$nPeys/GTRom6WEof$EC03sPIC1UO6Id52MeYNeb2o2KtV38DKamvf2La.8.", 0 },
	{ "$5$nPeys/GTRom6WEof$", 0 },
	{ "$y$", 0 },
	{ "$y$j9T$", 0 },
	{ "$2b$", 0 },
	{ "$2b$99$hBJdXVxK4iTTVoETlOUBxekRk305ubhi3DOi5wxLk4M0UxavwXPtm", 0 },
	{ "$6$", 0 },
	{ "$6$$", 0 },
	{ "$7$", 0 },
	{ "$gy$j9T$6/YgPTwT5z.XDTHkxYKEu.$304JY2d4z7LsrLVqxMtw/v9wp2d8UdV5s.sZQSNVRQ8", 0 },
	{ "$2x$05$hBJdXVxK4iTTVoETlOUBxekRk305ubhi3DOi5wxLk4M0UxavwXPtm", 0 },
};

static void test_fixed(void)
{
	size_t i;

	for (i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
		int r = pwcheck_verify(PW, strlen(PW), fixed[i].hash);

		if (r != fixed[i].want)
			printf("  hash %zu: got %d\n", i, r);
		CHECK(r == fixed[i].want);
	}
}

static void test_wrong_passwords(void)
{
	static const char *const wrong[] = { "tr0ub4dor&3", "Tr0ub4dor&", "Tr0ub4dor&33",
	                                     "Tr0ub4dor&3 ", "x" };
	size_t i, j;

	for (i = 0; i < 4; i++)
		for (j = 0; j < sizeof wrong / sizeof wrong[0]; j++)
			CHECK(pwcheck_verify(wrong[j], strlen(wrong[j]),
			                     fixed[i].hash) == 0);
	/* empty, and a NUL that would cut the password short in crypt(3) */
	for (i = 0; i < 4; i++) {
		CHECK(pwcheck_verify("", 0, fixed[i].hash) == 0);
		CHECK(pwcheck_verify(PW "\0x", sizeof PW + 1, fixed[i].hash) == 0);
		CHECK(pwcheck_verify(PW, strlen(PW), fixed[i].hash) == 1);
	}
}

/* Hashes made here with crypt_rn for each scheme, from the same
 * settings libxcrypt would make for an administrator. */
static void test_generated(void)
{
	static const char *const prefixes[] = { "$y$", "$2b$", "$6$", "$5$" };
	static const char *const pws[] = { "a", "correct horse battery staple",
	                                   "p\xc3\xa4ssw\xc3\xb6rd", "with:colon$and\\" };
	static struct crypt_data cd;
	char setting[CRYPT_GENSALT_OUTPUT_SIZE], hash[CRYPT_OUTPUT_SIZE];
	size_t i, j;

	for (i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
		for (j = 0; j < sizeof pws / sizeof pws[0]; j++) {
			const char *r;

			CHECK(crypt_gensalt_rn(prefixes[i], 0, 0, 0, setting,
			                       sizeof setting) != 0);
			memset(&cd, 0, sizeof cd);
			r = crypt_rn(pws[j], setting, &cd, sizeof cd);
			CHECK(r != 0 && r[0] == '$');
			if (!r || strlen(r) >= sizeof hash)
				continue;
			memcpy(hash, r, strlen(r) + 1);
			CHECK(pwcheck_scheme(hash) == 1);
			CHECK(pwcheck_verify(pws[j], strlen(pws[j]), hash) == 1);
			CHECK(pwcheck_verify(pws[j], strlen(pws[j]) - 1, hash) == 0);
			CHECK(pwcheck_verify("b", 1, hash) == 0);
		}
}

static void test_hash(void)
{
	struct str h = STR_ZERO, h2 = STR_ZERO;
	char big[PWCHECK_PASSWORD_MAX + 1];

	CHECK(pwcheck_hash(PW, strlen(PW), &h) == 1);
	CHECK(h.len > 4 && !memcmp(h.s, "$y$", 3) && h.s[h.len] == 0);
	CHECK(strlen(h.s) == h.len);
	CHECK(pwcheck_verify(PW, strlen(PW), h.s) == 1);
	CHECK(pwcheck_verify("wrong", 5, h.s) == 0);
	/* a fresh salt each time */
	CHECK(pwcheck_hash(PW, strlen(PW), &h2) == 1);
	CHECK(h.len != h2.len || memcmp(h.s, h2.s, h.len));
	CHECK(pwcheck_verify(PW, strlen(PW), h2.s) == 1);
	/* unusable passwords */
	CHECK(pwcheck_hash("", 0, &h) == 0);
	CHECK(pwcheck_hash("a\0b", 3, &h) == 0);
	memset(big, 'x', sizeof big);
	CHECK(pwcheck_hash(big, PWCHECK_PASSWORD_MAX + 1, &h) == 0);
	CHECK(pwcheck_hash(big, PWCHECK_PASSWORD_MAX, &h) == 1);
	CHECK(pwcheck_verify(big, PWCHECK_PASSWORD_MAX, h.s) == 1);
	CHECK(pwcheck_verify(big, PWCHECK_PASSWORD_MAX + 1, h.s) == 0);
	str_free(&h);
	str_free(&h2);
}

static void test_scheme(void)
{
	static const struct {
		const char *hash;
		int want;
	} t[] = {
		{ "$y$j9T$x", 1 }, { "$2b$05$x", 1 }, { "$2y$05$x", 1 },
		{ "$2a$05$x", 1 }, { "$6$x", 1 }, { "$5$x", 1 },
		{ "$y$", 0 }, { "$1$x", 0 }, { "$2x$05$x", 0 }, { "$3$x", 0 },
		{ "$7$x", 0 }, { "$gy$x", 0 }, { "$sha1$x", 0 }, { "ab01234567890", 0 },
		{ "", 0 }, { "-", 0 }, { "!$6$x", 0 }, { "$Y$x", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++)
		CHECK(pwcheck_scheme(t[i].hash) == t[i].want);
}

static void test_long_hash(void)
{
	char h[PWCHECK_HASH_MAX + 10];

	memset(h, 'a', sizeof h - 1);
	memcpy(h, "$6$", 3);
	h[sizeof h - 1] = 0;
	CHECK(pwcheck_verify(PW, strlen(PW), h) == 0);
	errno = 0;
	CHECK(pwcheck_verify(PW, strlen(PW), "$6$rounds=1$$") == 0);
}

int main(void)
{
	RUN(test_fixed);
	RUN(test_wrong_passwords);
	RUN(test_generated);
	RUN(test_hash);
	RUN(test_scheme);
	RUN(test_long_hash);
	return test_done();
}
