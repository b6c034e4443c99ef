/* Tables for the dot-qmail parser and the .qmail file search order. */
#include <string.h>

#include "dotqmail.h"
#include "test.h"

/* Each case: input, then the instructions expected as "T:arg" lines joined
 * by '\n' (T is P, F, M for maildir, B for mbox), or "E<code>@<line>". */
static const struct {
	const char *in;
	const char *want;
} parse_cases[] = {
	{ "", "" },
	{ "./Maildir/\n", "M:./Maildir/" },
	{ "./Maildir/", "M:./Maildir/" },
	{ "/var/mail/joe\n", "B:/var/mail/joe" },
	{ "./mbox  \t \n", "B:./mbox" },
	{ "|preline procmail\n", "P:preline procmail" },
	{ "| cat > x\n", "P: cat > x" },
	{ "&joe@example.org\n", "F:joe@example.org" },
	{ "& joe@example.org \n", "F:joe@example.org" },
	{ "joe@example.org\n", "F:joe@example.org" },
	{ "9joe\n", "F:9joe" },
	{ "# comment\n./Maildir/\n\n\n&a@b\n", "M:./Maildir/\nF:a@b" },
	{ "#\n|x\n#y\n", "P:x" },
	{ "\n./Maildir/\n", "E1@1" },
	{ "  \n./Maildir/\n", "E1@1" },
	{ "./Maildir/\n-joe\n", "M:./Maildir/\nE2@2" },
	{ " joe\n", "E2@1" },
	{ "<joe@x>\n", "E2@1" },
	{ "|\n", "E3@1" },
	{ "|   \n", "E3@1" },
	{ "&\n", "E3@1" },
	{ "&  \n", "E3@1" },
	{ "./Mail\rdir/\n", "E4@1" },
	{ "# \001 comments may hold anything\nx\n", "F:x" },
	{ "./a\n./b/\n|c\n&d\ne\n", "B:./a\nM:./b/\nP:c\nF:d\nF:e" },
	{ "./\n", "M:./" },
	{ "/\n", "M:/" },
	{ ".\n", "B:." },
};

static void render(const char *in, size_t n, struct str *out)
{
	static const char type[] = "?PFMB";
	struct dotqmail d;
	struct dotqmail_line l;
	int r;

	out->len = 0;
	dotqmail_init(&d, in, n);
	while ((r = dotqmail_next(&d, &l)) == 1) {
		if (out->len)
			str_catc(out, '\n');
		str_catc(out, type[l.type]);
		str_catc(out, ':');
		str_catb(out, l.arg, l.len);
	}
	if (r == -1) {
		if (out->len)
			str_catc(out, '\n');
		str_catc(out, 'E');
		str_catu(out, (unsigned)d.error);
		str_catc(out, '@');
		str_catu(out, d.line);
	}
}

static void test_parse(void)
{
	struct str got = STR_ZERO;
	size_t i, n;

	for (i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
		n = strlen(parse_cases[i].in);
		render(parse_cases[i].in, n, &got);
		if (!str_eqb(&got, parse_cases[i].want,
		             strlen(parse_cases[i].want))) {
			printf("  case %zu: got '%.*s'\n", i, (int)got.len,
			       got.s ? got.s : "");
			CHECK(0);
		}
	}
	str_free(&got);
}

/* Every prefix of a file parses without reading past it. */
static void test_prefixes(void)
{
	static const char f[] = "# c\n./Maildir/\n|prog arg\n&fw@x\nbare\n./mb\n";
	static const char want[] = "M:./Maildir/\nP:prog arg\nF:fw@x\nF:bare\nB:./mb";
	struct str got = STR_ZERO;
	size_t n;

	for (n = 0; n <= sizeof f - 1; n++)
		render(f, n, &got);
	render(f, sizeof f - 1, &got);
	CHECK(str_eqb(&got, want, strlen(want)));
	str_free(&got);
}

/* A NUL inside a line is refused, not taken as its end. */
static void test_nul(void)
{
	static const char f[] = "./ok/\na\0b\n";
	struct str got = STR_ZERO;

	render(f, sizeof f - 1, &got);
	CHECK(str_eqb(&got, "M:./ok/\nE4@2", 12));
	str_free(&got);
}

static void test_errors_text(void)
{
	int e;

	for (e = 0; e <= DQ_CONTROL + 1; e++)
		CHECK(dotqmail_error(e) && dotqmail_error(e)[0]);
}

static const struct {
	const char *ext;
	const char *safe;
} safe_cases[] = {
	{ "", "" },
	{ "Foo-Bar", "foo-bar" },
	{ "a.b", "a:b" },
	{ "../x", ":::x" },
	{ "a/b", "a:b" },
};

static void test_safeext(void)
{
	struct str s = STR_ZERO;
	size_t i;

	for (i = 0; i < sizeof safe_cases / sizeof safe_cases[0]; i++) {
		const char *want = safe_cases[i].safe;

		CHECK(dotqmail_safeext(&s, safe_cases[i].ext,
		                       strlen(safe_cases[i].ext)));
		CHECK(str_eqb(&s, want, strlen(want)));
	}
	str_free(&s);
}

/* Candidate lists: names separated by ' ', each followed by "=DEFAULT"
 * when it sets DEFAULT. */
static const struct {
	const char *dash, *ext, *want;
} cand_cases[] = {
	{ "", "", ".qmail" },
	{ "-", "", ".qmail- .qmail-default=" },
	{ "-", "a", ".qmail-a .qmail-default=a" },
	{ "-", "a-", ".qmail-a- .qmail-a-default= .qmail-default=a-" },
	{ "-", "foo-bar", ".qmail-foo-bar .qmail-foo-default=bar "
	                  ".qmail-default=foo-bar" },
	{ "-", "a-b-c", ".qmail-a-b-c .qmail-a-b-default=c .qmail-a-default=b-c "
	                ".qmail-default=a-b-c" },
	{ "-", "Foo.Bar", ".qmail-foo:bar .qmail-default=foo:bar" },
	{ "-", "list-default", ".qmail-list-default=default "
	                       ".qmail-list-default=default .qmail-default=list-default" },
	{ "-", "--", ".qmail--- .qmail---default= .qmail--default=- "
	             ".qmail-default=--" },
};

static void test_candidates(void)
{
	struct str safe = STR_ZERO, name = STR_ZERO, got = STR_ZERO;
	size_t i, k;
	long def;
	int r;

	for (i = 0; i < sizeof cand_cases / sizeof cand_cases[0]; i++) {
		CHECK(dotqmail_safeext(&safe, cand_cases[i].ext,
		                       strlen(cand_cases[i].ext)));
		got.len = 0;
		for (k = 0; (r = dotqmail_candidate(&name, cand_cases[i].dash,
		                                    &safe, k, &def)) == 1; k++) {
			CHECK(name.s[name.len] == 0);
			if (got.len)
				str_catc(&got, ' ');
			str_catb(&got, name.s, name.len);
			if (def >= 0) {
				str_catc(&got, '=');
				str_catb(&got, safe.s + def, safe.len - (size_t)def);
			}
		}
		CHECK(r == 0);
		if (!str_eqb(&got, cand_cases[i].want,
		             strlen(cand_cases[i].want))) {
			printf("  case %zu: got '%.*s'\n", i, (int)got.len, got.s);
			CHECK(0);
		}
	}
	str_free(&safe);
	str_free(&name);
	str_free(&got);
}

int main(void)
{
	RUN(test_parse);
	RUN(test_prefixes);
	RUN(test_nul);
	RUN(test_errors_text);
	RUN(test_safeext);
	RUN(test_candidates);
	return test_done();
}
