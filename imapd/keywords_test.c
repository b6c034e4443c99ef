/* Tests for keywords: names, the dovecot-keywords file, the 26-letter
 * limit, and the translation for copies between folders. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keywords.h"
#include "maildir.h"
#include "test.h"

#define B(s) s, sizeof s - 1

static void test_name_ok(void)
{
	static const struct {
		const char *s;
		int ok;
	} t[] = {
		{ "$Forwarded", 1 }, { "Junk", 1 }, { "a.b-c_d", 1 },
		{ "", 0 }, { "\\Seen", 0 }, { "a b", 0 }, { "a(b", 0 },
		{ "a]", 0 }, { "a*", 0 }, { "a%", 0 }, { "a\"", 0 },
		{ "a{1}", 0 }, { "\x7f", 0 }, { "\xc3\xa9", 0 },
	};
	char longname[KW_NAME_MAX + 2];
	size_t i;

	for (i = 0; i < sizeof t / sizeof t[0]; i++)
		CHECK(kw_name_ok(t[i].s, strlen(t[i].s)) == t[i].ok);
	memset(longname, 'x', sizeof longname);
	CHECK(kw_name_ok(longname, KW_NAME_MAX));
	CHECK(!kw_name_ok(longname, KW_NAME_MAX + 1));
}

static void test_parse(void)
{
	struct kwmap kw = KWMAP_ZERO;
	static const char text[] = "0 $Forwarded\n2 Junk\n"
		"26 TooHigh\nx Bad\n3 bad name\n2 Again\n4 junk\n5 Last";

	kw_parse(&kw, text, sizeof text - 1);
	CHECK(kw.n == 3);
	CHECK(kw.name[0] && !strcmp(kw.name[0], "$Forwarded"));
	CHECK(!kw.name[1] && kw.name[2] && !strcmp(kw.name[2], "Junk"));
	CHECK(!kw.name[3] && !kw.name[4]);      /* junk: a duplicate */
	CHECK(kw.name[5] && !strcmp(kw.name[5], "Last"));
	CHECK(kw_find(&kw, B("JUNK")) == 2 && kw_find(&kw, B("nope")) == -1);
	kw_free(&kw);
	CHECK(kw.n == 0 && !kw.name[0]);
}

static void test_add_limit(void)
{
	char dir[] = "/tmp/kw_test.XXXXXX", p[64], cmd[80];
	struct kwmap kw = KWMAP_ZERO, again = KWMAP_ZERO, to = KWMAP_ZERO;
	char name[16];
	int xlat[KW_MAX];
	int k;

	CHECK(mkdtemp(dir) != 0);
	snprintf(p, sizeof p, "%s/sub", dir);
	CHECK(maildir_make(dir, 0700) == 0 && maildir_make(p, 0700) == 0);
	CHECK(kw_load(&kw, dir) == 0 && kw.n == 0);
	for (k = 0; k < KW_MAX; k++) {
		snprintf(name, sizeof name, "kw%d", k);
		CHECK(kw_add(&kw, dir, name, strlen(name)) == k);
	}
	CHECK(kw_add(&kw, dir, B("KW3")) == 3);         /* known: no letter */
	CHECK(kw_add(&kw, dir, B("one-more")) == -2);
	CHECK(kw_load(&again, dir) == 0 && again.n == KW_MAX &&
	      !strcmp(again.name[25], "kw25"));
	/* another folder: its own letters */
	CHECK(kw_add(&to, p, B("kw7")) == 0);
	kw_xlat(FL_KW(3) | FL_KW(7), &kw, &to, p, xlat);
	CHECK(xlat[7] == 0 && xlat[3] == 1 && xlat[4] == -1);
	CHECK(kw_apply(FL_KW(7) | FL_KW(3) | 8, xlat) ==
	      (FL_KW(0) | FL_KW(1) | 8));
	kw_free(&kw);
	kw_free(&again);
	kw_free(&to);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
}

int main(void)
{
	RUN(test_name_ok);
	RUN(test_parse);
	RUN(test_add_limit);
	return test_done();
}
