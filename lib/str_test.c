/* Tests for owned strings: growth, refusal of sizes that overflow or
 * cannot be had, and that a refused call leaves the string unchanged. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "str.h"
#include "test.h"

/* Under ASan a huge malloc must fail as it does in production, not abort. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

static int same(const struct str *x, const char *s)
{
	return str_eqb(x, s, strlen(s));
}

static void test_growth(void)
{
	struct str x = STR_ZERO;
	size_t i, lastcap = 0, grows = 0;
	int ok = 1;

	for (i = 0; i < 100000; i++) {
		ok &= str_catc(&x, (char)('a' + i % 26));
		CHECK(x.cap > x.len);
		if (x.cap != lastcap) {
			grows++;
			lastcap = x.cap;
		}
	}
	CHECK(ok);
	CHECK(x.len == 100000);
	/* doubling: a handful of reallocations, not one per byte */
	CHECK(grows < 20);
	for (i = 0; i < x.len; i++)
		if (x.s[i] != (char)('a' + i % 26))
			break;
	CHECK(i == x.len);
	str_free(&x);
	CHECK(x.s == 0 && x.len == 0 && x.cap == 0);
	str_free(&x);
}

static void test_cat(void)
{
	struct str x = STR_ZERO;

	CHECK(str_catb(&x, "ab", 2));
	CHECK(str_cats(&x, "cd"));
	CHECK(str_catc(&x, 'e'));
	CHECK(str_catc(&x, 0));
	CHECK(str_catb(&x, "zz", 0));
	CHECK(x.len == 6 && memcmp(x.s, "abcde\0", 6) == 0);
	CHECK(str_cats(&x, ""));
	CHECK(x.len == 6);
	str_free(&x);
	/* an empty append to an empty string allocates nothing it needs */
	CHECK(str_catb(&x, 0, 0));
	CHECK(x.len == 0);
	str_free(&x);
}

static void test_catu(void)
{
	static const struct {
		unsigned long long u;
		const char *s;
	} t[] = {
		{ 0, "0" },
		{ 7, "7" },
		{ 10, "10" },
		{ 4294967295ULL, "4294967295" },
		{ 4294967296ULL, "4294967296" },
		{ ULLONG_MAX, "18446744073709551615" },
	};
	struct str x = STR_ZERO;
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		x.len = 0;
		CHECK(str_cats(&x, "n=") && str_catu(&x, t[i].u));
		CHECK(x.len == 2 + strlen(t[i].s));
		CHECK(memcmp(x.s + 2, t[i].s, strlen(t[i].s)) == 0);
	}
	str_free(&x);
}

static void test_copy(void)
{
	struct str x = STR_ZERO;

	CHECK(str_copys(&x, "hello, world"));
	CHECK(same(&x, "hello, world"));
	CHECK(str_copyb(&x, "hi", 2));
	CHECK(same(&x, "hi"));
	CHECK(str_copyb(&x, "", 0));
	CHECK(x.len == 0);
	CHECK(str_copys(&x, "again"));
	CHECK(same(&x, "again"));
	str_free(&x);
}

static void test_nul(void)
{
	struct str x = STR_ZERO;
	size_t i;

	CHECK(str_0(&x));
	CHECK(x.s && x.s[0] == 0 && x.len == 0);
	CHECK(str_cats(&x, "abc") && str_0(&x));
	CHECK(x.len == 3 && strcmp(x.s, "abc") == 0);
	/* the spare byte: str_0 right at capacity needs no growth */
	x.len = 0;
	for (i = 0; x.len + 1 < x.cap; i++)
		CHECK(str_catc(&x, 'x'));
	i = x.cap;
	CHECK(str_0(&x));
	CHECK(x.cap == i && x.s[x.len] == 0);
	str_free(&x);
}

static void test_eq(void)
{
	struct str x = STR_ZERO, e = STR_ZERO;

	CHECK(str_eqb(&e, "", 0));
	CHECK(str_eqb(&e, 0, 0));
	CHECK(str_eqb_ci(&e, "", 0));
	CHECK(!str_eqb(&e, "a", 1));
	CHECK(str_copys(&x, "MiXeD@Example.ORG"));
	CHECK(str_eqb(&x, "MiXeD@Example.ORG", 17));
	CHECK(!str_eqb(&x, "mixed@example.org", 17));
	CHECK(str_eqb_ci(&x, "mixed@example.org", 17));
	CHECK(str_eqb_ci(&x, "MIXED@EXAMPLE.ORG", 17));
	CHECK(!str_eqb_ci(&x, "mixed@example.or", 16));
	CHECK(!str_eqb_ci(&x, "mixed@example.orgx", 18));
	CHECK(!str_eqb_ci(&x, "mixed`example.org", 17));
	CHECK(str_copyb(&x, "a\0b", 3));
	CHECK(str_eqb(&x, "a\0b", 3) && !str_eqb(&x, "a\0c", 3));
	str_free(&x);
}

/* Sizes that overflow or that no allocator gives are refused, and the
 * string keeps its content. */
static void test_overflow(void)
{
	struct str x = STR_ZERO;
	char *s;
	size_t cap;

	CHECK(!str_ready(&x, SIZE_MAX));
	CHECK(!str_ready(&x, SIZE_MAX - 1));
	CHECK(x.len == 0 && x.cap == 0 && x.s == 0);
	CHECK(str_cats(&x, "keep"));
	s = x.s;
	cap = x.cap;
	CHECK(!str_ready(&x, SIZE_MAX - 4));
	CHECK(!str_ready(&x, SIZE_MAX - 5));
	CHECK(!str_ready(&x, SIZE_MAX / 2));
	CHECK(!str_ready(&x, SIZE_MAX / 4));
	/* the source is never read when the size is refused */
	CHECK(!str_catb(&x, "x", SIZE_MAX));
	CHECK(!str_catb(&x, "x", SIZE_MAX - 3));
	CHECK(!str_catb(&x, "x", SIZE_MAX / 2 + 1));
	CHECK(x.s == s && x.cap == cap && same(&x, "keep"));
	CHECK(str_catc(&x, '!') && same(&x, "keep!"));
	str_free(&x);
}

/* str.h: "the string is then unchanged" holds for the copy calls too. */
static void test_copy_refused(void)
{
	struct str x = STR_ZERO;

	CHECK(str_copys(&x, "keep"));
	CHECK(!str_copyb(&x, "x", SIZE_MAX));
	CHECK(same(&x, "keep"));
	CHECK(!str_copyb(&x, "x", SIZE_MAX / 2 + 1));
	CHECK(same(&x, "keep"));
	str_free(&x);
}

int main(void)
{
	RUN(test_growth);
	RUN(test_cat);
	RUN(test_catu);
	RUN(test_copy);
	RUN(test_nul);
	RUN(test_eq);
	RUN(test_overflow);
	RUN(test_copy_refused);
	return test_done();
}
