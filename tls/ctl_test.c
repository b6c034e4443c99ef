/* Tests for quail-tlsd's parsers: control bytes, info blocks, host and
 * certificate file names, settings. */
#include <string.h>

#include "ctl.h"
#include "test.h"

static const struct {
	const char *in;
	size_t n;
	int want;
} scans[] = {
	{ "", 0, CTL_NONE },
	{ "y", 1, CTL_START },
	{ "Y", 1, CTL_START_INFO },
	{ "y\n", 2, CTL_START },
	{ "\nY", 2, CTL_START_INFO },
	{ "x", 1, CTL_NONE },
	{ "yes", 3, CTL_START },
	{ "\0Y", 2, CTL_START_INFO },
	{ "nN\r\n", 4, CTL_NONE },
};

static void test_scan(void)
{
	size_t i;

	for (i = 0; i < sizeof scans / sizeof scans[0]; i++)
		CHECK(ctl_scan(scans[i].in, scans[i].n) == scans[i].want);
}

static const struct {
	const char *in;
	const char *out;            /* NULL: refused */
} hosts[] = {
	{ "mail.example.org", "mail.example.org" },
	{ "MAIL.Example.ORG", "mail.example.org" },
	{ "mail.example.org.", "mail.example.org" },
	{ "localhost", "localhost" },
	{ "a-b_c.d9", "a-b_c.d9" },
	{ "", 0 },
	{ ".", 0 },
	{ ".example.org", 0 },
	{ "a..b", 0 },
	{ "a.b..", 0 },
	{ "..", 0 },
	{ "../etc/passwd", 0 },
	{ "a/b", 0 },
	{ "*.example.org", 0 },
	{ "-a.example", 0 },
	{ "a b", 0 },
	{ "caf\xc3\xa9.example", 0 },
	{ "default.pem\n", 0 },
	/* 63-byte label fits, 64 does not */
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.x",
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.x" },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.x", 0 },
};

static void test_host(void)
{
	char out[CTL_HOST_MAX + 1];
	size_t i;

	for (i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
		int ok = ctl_host(hosts[i].in, strlen(hosts[i].in), out);

		CHECK(ok == (hosts[i].out != 0));
		if (ok && hosts[i].out)
			CHECK(!strcmp(out, hosts[i].out));
	}
	/* a NUL inside is refused: "a\0b" */
	CHECK(!ctl_host("a\0b", 3, out));
}

static void test_host_length(void)
{
	char in[300], out[CTL_HOST_MAX + 1];
	size_t i;

	/* 253 bytes in labels of 9 and dots: fits; 254 does not */
	for (i = 0; i < sizeof in; i++)
		in[i] = i % 10 == 9 ? '.' : 'a';
	in[252] = 'a';
	CHECK(ctl_host(in, 253, out));
	CHECK(strlen(out) == 253);
	in[253] = 'a';
	CHECK(!ctl_host(in, 254, out));
}

static const struct {
	const char *file;
	const char *name;           /* NULL: skipped */
	int kind;
} certfiles[] = {
	{ "default.pem", "default", CTL_PEM },
	{ "default.crt", "default", CTL_CRT },
	{ "default.key", "default", CTL_KEY },
	{ "Mail.Example.org.pem", "mail.example.org", CTL_PEM },
	{ "*.example.org.pem", "*.example.org", CTL_PEM },
	{ "*.pem", 0, 0 },
	{ ".pem", 0, 0 },
	{ "pem", 0, 0 },
	{ "a..pem", 0, 0 },
	{ "a.pem~", 0, 0 },
	{ "a.PEM", 0, 0 },
	{ "README", 0, 0 },
	{ ".", 0, 0 },
	{ "..", 0, 0 },
	{ "a*b.pem", 0, 0 },
	{ "*.*.b.pem", 0, 0 },
};

static void test_certfile(void)
{
	char name[CTL_HOST_MAX + 3];
	size_t i;
	int kind;

	for (i = 0; i < sizeof certfiles / sizeof certfiles[0]; i++) {
		const char *f = certfiles[i].file;
		int ok = ctl_certfile(f, strlen(f), name, &kind);

		CHECK(ok == (certfiles[i].name != 0));
		if (ok && certfiles[i].name) {
			CHECK(!strcmp(name, certfiles[i].name));
			CHECK(kind == certfiles[i].kind);
		}
	}
}

static void test_wildcard(void)
{
	char out[CTL_HOST_MAX + 3];

	CHECK(ctl_wildcard("a.example.org", out) && !strcmp(out, "*.example.org"));
	CHECK(ctl_wildcard("a.b", out) && !strcmp(out, "*.b"));
	CHECK(!ctl_wildcard("localhost", out));
}

static void test_info_roundtrip(void)
{
	struct str b = STR_ZERO;
	struct ctl_var v;
	size_t pos = 0;

	CHECK(ctl_info_add(&b, "SSL_PROTOCOL", "TLSv1.3", 7));
	/* bytes outside printable ASCII become '?' */
	CHECK(ctl_info_add(&b, "SSL_PEER_CERT_SUBJECT", "CN=a\0b\n\xff", 8));
	CHECK(!ctl_info_add(&b, "PATH", "/tmp", 4));
	CHECK(!ctl_info_add(&b, "SSL_PROTOCOLX", "x", 1));
	CHECK(ctl_info_end(&b));
	CHECK(ctl_info_check(b.s, b.len) == (long)b.len);
	CHECK(ctl_info_next(b.s, b.len, &pos, &v) == 1);
	CHECK(v.namelen == 12 && !memcmp(v.name, "SSL_PROTOCOL", 12));
	CHECK(!strcmp(v.value, "TLSv1.3"));
	CHECK(ctl_info_next(b.s, b.len, &pos, &v) == 1);
	CHECK(!strcmp(v.value, "CN=a?b??"));
	CHECK(ctl_info_next(b.s, b.len, &pos, &v) == 0);
	CHECK(pos == b.len);
	str_free(&b);
}

static void test_info_limits(void)
{
	static char big[CTL_VALUE_MAX + 100];
	struct str b = STR_ZERO;
	struct ctl_var v;
	size_t pos = 0, i;

	memset(big, 'x', sizeof big);
	/* a value is cut at CTL_VALUE_MAX */
	CHECK(ctl_info_add(&b, "SSL_CIPHER", big, sizeof big));
	CHECK(ctl_info_next(b.s, b.len, &pos, &v) == 1);
	CHECK(v.valuelen == CTL_VALUE_MAX);
	/* the block stops growing before CTL_INFO_MAX */
	for (i = 0; i < 20; i++)
		if (!ctl_info_add(&b, "SSL_CIPHER", big, sizeof big))
			break;
	CHECK(i < 20);
	CHECK(b.len + 1 <= CTL_INFO_MAX);
	CHECK(ctl_info_end(&b));
	CHECK(ctl_info_check(b.s, b.len) == (long)b.len);
	str_free(&b);
}

static const struct {
	const char *in;
	size_t n;
	long want;
} checks[] = {
	{ "", 0, 0 },
	{ "\0", 1, 1 },
	{ "SSL_CIPHER=x\0\0", 14, 14 },
	{ "SSL_CIPHER=x\0\0junk", 18, 14 },
	{ "SSL_CIPHER=x\0", 13, 0 },           /* no end marker yet */
	{ "SSL_CIPHER=x", 12, 0 },             /* entry cut short */
	{ "SSL_CIPHER", 10, 0 },
	{ "PATH=/x\0\0", 9, -1 },               /* name not allowed */
	{ "SSL_CIPHER\0\0", 12, -1 },           /* no '=' */
	{ "=x\0\0", 4, -1 },
	{ "LD_PRELOAD=/x\0\0", 15, -1 },
};

static void test_info_check(void)
{
	size_t i;

	for (i = 0; i < sizeof checks / sizeof checks[0]; i++)
		CHECK(ctl_info_check(checks[i].in, checks[i].n) == checks[i].want);
}

static void test_info_bytewise(void)
{
	struct str b = STR_ZERO;
	size_t i;

	/* fed a byte at a time, the block is incomplete until its end */
	CHECK(ctl_info_add(&b, "SSL_PROTOCOL", "TLSv1.2", 7));
	CHECK(ctl_info_add(&b, "SSL_CIPHER", "ECDHE-RSA-AES128-GCM-SHA256", 27));
	CHECK(ctl_info_end(&b));
	for (i = 0; i < b.len; i++)
		CHECK(ctl_info_check(b.s, i) == 0);
	CHECK(ctl_info_check(b.s, b.len) == (long)b.len);
	str_free(&b);
}

static void test_settings(void)
{
	unsigned long long u;
	unsigned long id;

	CHECK(ctl_seconds("30", 3600, &u) && u == 30);
	CHECK(ctl_seconds("3600", 3600, &u) && u == 3600);
	CHECK(!ctl_seconds("3601", 3600, &u));
	CHECK(!ctl_seconds("0", 3600, &u));
	CHECK(!ctl_seconds("", 3600, &u));
	CHECK(!ctl_seconds("-1", 3600, &u));
	CHECK(!ctl_seconds("1s", 3600, &u));
	CHECK(!ctl_seconds(" 1", 3600, &u));
	CHECK(!ctl_seconds("99999999999999999999999", 3600, &u));
	CHECK(!ctl_seconds(0, 3600, &u));
	CHECK(ctl_id("0", &id) && id == 0);
	CHECK(ctl_id("984", &id) && id == 984);
	CHECK(!ctl_id("4294967295", &id));
	CHECK(!ctl_id("x", &id));
	CHECK(!ctl_id("", &id));
	CHECK(!ctl_id(0, &id));
	CHECK(ctl_flag(0) == 0);
	CHECK(ctl_flag("") == 0);
	CHECK(ctl_flag("0") == 0);
	CHECK(ctl_flag("1") == 1);
	CHECK(ctl_flag("yes") == -1);
}

static void test_names(void)
{
	size_t i;
	const char *n;

	for (i = 0; (n = ctl_info_name(i)) != 0; i++) {
		CHECK(!strncmp(n, "SSL_", 4));
		CHECK(ctl_name_ok(n, strlen(n)));
	}
	CHECK(i == 7);
	CHECK(!ctl_name_ok("SSL_", 4));
	CHECK(!ctl_name_ok("SSLCTLFD", 8));
}

int main(void)
{
	RUN(test_scan);
	RUN(test_host);
	RUN(test_host_length);
	RUN(test_certfile);
	RUN(test_wildcard);
	RUN(test_info_roundtrip);
	RUN(test_info_limits);
	RUN(test_info_check);
	RUN(test_info_bytewise);
	RUN(test_settings);
	RUN(test_names);
	return test_done();
}
