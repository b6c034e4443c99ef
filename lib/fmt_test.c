/* Tests for number formatting and scanning and the ASCII case helpers. */
#include <limits.h>
#include <string.h>

#include "fmt.h"
#include "test.h"

static const struct {
	unsigned long long u;
	const char *dec, *hex;
} nums[] = {
	{ 0, "0", "0" },
	{ 1, "1", "1" },
	{ 9, "9", "9" },
	{ 10, "10", "a" },
	{ 15, "15", "f" },
	{ 16, "16", "10" },
	{ 99, "99", "63" },
	{ 100, "100", "64" },
	{ 255, "255", "ff" },
	{ 256, "256", "100" },
	{ 65535, "65535", "ffff" },
	{ 4294967295ULL, "4294967295", "ffffffff" },
	{ 4294967296ULL, "4294967296", "100000000" },
	{ 999999999999999999ULL, "999999999999999999", "de0b6b3a763ffff" },
	{ 1000000000000000000ULL, "1000000000000000000", "de0b6b3a7640000" },
	{ 9223372036854775807ULL, "9223372036854775807", "7fffffffffffffff" },
	{ 9223372036854775808ULL, "9223372036854775808", "8000000000000000" },
	{ ULLONG_MAX - 1, "18446744073709551614", "fffffffffffffffe" },
	{ ULLONG_MAX, "18446744073709551615", "ffffffffffffffff" },
};

#define NNUMS (sizeof nums / sizeof nums[0])

static void test_fmt_ulong(void)
{
	char buf[FMT_ULONG + 1];
	size_t i, n;

	for (i = 0; i < NNUMS; i++) {
		memset(buf, '#', sizeof buf);
		n = fmt_ulong(buf, nums[i].u);
		CHECK(n == strlen(nums[i].dec));
		CHECK(memcmp(buf, nums[i].dec, n) == 0);
		CHECK(buf[n] == '#');    /* no NUL, nothing past the digits */
	}
	/* the longest fits with its NUL */
	CHECK(strlen(nums[NNUMS - 1].dec) + 1 == FMT_ULONG);
}

static void test_fmt_u(void)
{
	char buf[FMT_ULONG];
	size_t i;

	for (i = 0; i < NNUMS; i++) {
		memset(buf, '#', sizeof buf);
		CHECK(fmt_u(buf, nums[i].u) == buf);
		CHECK(strcmp(buf, nums[i].dec) == 0);
	}
}

static void test_fmt_xlong(void)
{
	char buf[FMT_ULONG + 1];
	size_t i, n;

	for (i = 0; i < NNUMS; i++) {
		memset(buf, '#', sizeof buf);
		n = fmt_xlong(buf, nums[i].u);
		CHECK(n == strlen(nums[i].hex));
		CHECK(memcmp(buf, nums[i].hex, n) == 0);
		CHECK(buf[n] == '#');
	}
}

static void test_scan_ulong(void)
{
	static const struct {
		const char *s;
		size_t n;               /* 0: strlen */
		int ok;
		unsigned long long u;
	} t[] = {
		{ "0", 0, 1, 0 },
		{ "00", 0, 1, 0 },
		{ "7", 0, 1, 7 },
		{ "0042", 0, 1, 42 },
		{ "4294967296", 0, 1, 4294967296ULL },
		{ "18446744073709551615", 0, 1, ULLONG_MAX },
		{ "018446744073709551615", 0, 1, ULLONG_MAX },
		{ "18446744073709551616", 0, 0, 0 },
		{ "18446744073709551620", 0, 0, 0 },
		{ "18446744073709551699", 0, 0, 0 },
		{ "99999999999999999999", 0, 0, 0 },
		{ "184467440737095516150", 0, 0, 0 },
		{ "", 0, 0, 0 },
		{ "12a", 0, 0, 0 },
		{ "a12", 0, 0, 0 },
		{ " 12", 0, 0, 0 },
		{ "12 ", 0, 0, 0 },
		{ "12\n", 0, 0, 0 },
		{ "+1", 0, 0, 0 },
		{ "-1", 0, 0, 0 },
		{ "1.5", 0, 0, 0 },
		{ "0x10", 0, 0, 0 },
		{ "1\0", 2, 0, 0 },
		{ "\xb9", 0, 0, 0 },        /* superscript one in Latin-1 */
		{ "/", 0, 0, 0 },           /* the bytes either side of the digits */
		{ ":", 0, 0, 0 },
		{ "123", 2, 1, 12 },        /* the length bounds the scan */
		{ "1x", 1, 1, 1 },
	};
	unsigned long long u;
	size_t i, n;

	for (i = 0; i < sizeof t / sizeof t[0]; i++) {
		n = t[i].n ? t[i].n : strlen(t[i].s);
		u = 12345;
		CHECK(scan_ulong(t[i].s, n, &u) == t[i].ok);
		CHECK(u == (t[i].ok ? t[i].u : 12345));
	}
}

/* fmt_ulong and scan_ulong are inverses over the table. */
static void test_roundtrip(void)
{
	char buf[FMT_ULONG];
	unsigned long long u;
	size_t i;

	for (i = 0; i < NNUMS; i++) {
		CHECK(scan_ulong(buf, fmt_ulong(buf, nums[i].u), &u));
		CHECK(u == nums[i].u);
	}
}

static void test_case(void)
{
	char buf[] = "Hello, WORLD @[`{ 09 azAZ";
	int c;

	for (c = 0; c < 256; c++) {
		char want = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : (char)c;

		CHECK(case_lower((char)c) == want);
	}
	case_lowerb(buf, sizeof buf - 1);
	CHECK(strcmp(buf, "hello, world @[`{ 09 azaz") == 0);
	case_lowerb(buf, 0);

	CHECK(case_eqb("", "", 0));
	CHECK(case_eqb("abc", "xyz", 0));
	CHECK(case_eqb("MAIL FROM", "mail from", 9));
	CHECK(case_eqb("Example.ORG", "example.org", 11));
	CHECK(!case_eqb("abc", "abd", 3));
	CHECK(case_eqb("abc", "abd", 2));
	/* only letters fold: @ [ \ ] ^ _ are not ` { | } ~ DEL */
	CHECK(!case_eqb("@", "`", 1));
	CHECK(!case_eqb("[", "{", 1));
	CHECK(!case_eqb("^", "~", 1));
	CHECK(!case_eqb("\xc4", "\xe4", 1));
	CHECK(case_eqb("a\0b", "A\0B", 3));

	CHECK(case_startb("MAIL FROM:<a@b>", 15, "mail from:"));
	CHECK(case_startb("mail", 4, "MAIL"));
	CHECK(!case_startb("mai", 3, "MAIL"));
	CHECK(!case_startb("MAIL", 4, "MAIL FROM:"));
	CHECK(case_startb("x", 1, ""));
	CHECK(case_startb("", 0, ""));
	CHECK(!case_startb("RCPT TO:", 8, "MAIL"));
	/* n bounds the read, even when the prefix would match past it */
	CHECK(!case_startb("HELO", 2, "HELO"));
}

static void test_byte_chr(void)
{
	static const char s[] = "ab\0c\xff\n";
	size_t n = sizeof s - 1;

	CHECK(byte_chr(s, n, 'a') == 0);
	CHECK(byte_chr(s, n, 'b') == 1);
	CHECK(byte_chr(s, n, 0) == 2);
	CHECK(byte_chr(s, n, 'c') == 3);
	CHECK(byte_chr(s, n, 0xff) == 4);
	CHECK(byte_chr(s, n, '\xff') == 4);
	CHECK(byte_chr(s, n, '\n') == 5);
	CHECK(byte_chr(s, n, 'z') == n);
	CHECK(byte_chr(s, 0, 'a') == 0);
	CHECK(byte_chr(s, 3, 'c') == 3);
	CHECK(byte_chr("aaa", 3, 'a') == 0);
}

int main(void)
{
	RUN(test_fmt_ulong);
	RUN(test_fmt_u);
	RUN(test_fmt_xlong);
	RUN(test_scan_ulong);
	RUN(test_roundtrip);
	RUN(test_case);
	RUN(test_byte_chr);
	return test_done();
}
