/* Tests for base64: the RFC 4648 section 10 vectors both ways, binary
 * bytes, and every way strict decoding must refuse its input. */
#include <string.h>

#include "base64.h"
#include "test.h"

#define B(s) s, sizeof s - 1    /* a literal with its length, NULs kept */

static const struct {
	const char *plain;
	size_t n;
	const char *enc;
} vectors[] = {
	{ B(""), "" },
	{ B("f"), "Zg==" },
	{ B("fo"), "Zm8=" },
	{ B("foo"), "Zm9v" },
	{ B("foob"), "Zm9vYg==" },
	{ B("fooba"), "Zm9vYmE=" },
	{ B("foobar"), "Zm9vYmFy" },
	{ B("\0alice\0secret"), "AGFsaWNlAHNlY3JldA==" },
	{ B("\xff\xfe\xfd"), "//79" },
	{ B("\xfb\xff"), "+/8=" },
	{ B("\0"), "AA==" },
	{ B("Username:"), "VXNlcm5hbWU6" },
	{ B("Password:"), "UGFzc3dvcmQ6" },
};

static void test_encode(void)
{
	struct str o = STR_ZERO;
	size_t i;

	for (i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
		o.len = 0;
		CHECK(base64_encode(vectors[i].plain, vectors[i].n, &o) == 1);
		CHECK(str_eqb(&o, vectors[i].enc, strlen(vectors[i].enc)));
	}
	/* appends */
	o.len = 0;
	CHECK(base64_encode("f", 1, &o) && base64_encode("fo", 2, &o));
	CHECK(str_eqb(&o, "Zg==Zm8=", 8));
	str_free(&o);
}

static void test_decode(void)
{
	struct str o = STR_ZERO;
	size_t i;

	for (i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
		const char *e = vectors[i].enc;

		CHECK(base64_decode(e, strlen(e), &o) == 1);
		CHECK(str_eqb(&o, vectors[i].plain, vectors[i].n));
	}
	str_free(&o);
}

static const char *const bad[] = {
	"Zg",           /* not a whole group */
	"Zg=",
	"Zm9vY",
	"Zg===",
	"====",         /* padding only */
	"Z===",
	"=Zg=",
	"Zg=a",         /* data after padding */
	"Zg==Zg==",     /* padding before the end */
	"Zm8=Zm9v",
	"Zh==",         /* unused bits set */
	"Zm9=",
	"Zm9vYh==",
	" Zg=",         /* white space anywhere */
	"Zg= ",
	"Zm9v\r\n",
	"Zm 9v",
	"Zm\t9v",
	"Zm9v\n",
	"Zm9-",         /* the URL alphabet is another encoding */
	"Zm9_",
	"Zm*v",
	"Zm9\x80",
	"Zm.v",
};

static void test_bad(void)
{
	struct str o = STR_ZERO;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (!str_copyb(&o, "junk", 4))
			CHECK(0);
		CHECK(base64_decode(bad[i], strlen(bad[i]), &o) == 0);
		CHECK(o.len == 0);
	}
	/* a NUL is not in the alphabet either */
	CHECK(base64_decode("Zm\0v", 4, &o) == 0);
	str_free(&o);
}

static void test_empty(void)
{
	struct str o = STR_ZERO;

	CHECK(str_copyb(&o, "junk", 4));
	CHECK(base64_decode("", 0, &o) == 1);
	CHECK(o.len == 0);
	CHECK(base64_encode("", 0, &o) == 1);
	CHECK(o.len == 0);
	str_free(&o);
}

/* Every byte value round-trips, at every length mod 3. */
static void test_roundtrip(void)
{
	struct str e = STR_ZERO, d = STR_ZERO;
	char all[256];
	size_t i, n;

	for (i = 0; i < 256; i++)
		all[i] = (char)i;
	for (n = 0; n <= 256; n++) {
		e.len = 0;
		CHECK(base64_encode(all + 256 - n, n, &e) == 1);
		CHECK(e.len == (n + 2) / 3 * 4);
		CHECK(base64_decode(e.s, e.len, &d) == 1);
		CHECK(str_eqb(&d, all + 256 - n, n));
	}
	str_free(&e);
	str_free(&d);
}

/* A decode into a string sized beforehand never moves it. */
static void test_no_move(void)
{
	struct str o = STR_ZERO;
	char *before;

	CHECK(str_ready(&o, 64));
	before = o.s;
	CHECK(base64_decode("AGFsaWNlAHNlY3JldA==", 20, &o) == 1);
	CHECK(o.s == before);
	str_free(&o);
}

int main(void)
{
	RUN(test_encode);
	RUN(test_decode);
	RUN(test_bad);
	RUN(test_empty);
	RUN(test_roundtrip);
	RUN(test_no_move);
	return test_done();
}
