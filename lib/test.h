#ifndef QUAIL_TEST_H
#define QUAIL_TEST_H

/* A tiny harness for table-driven unit tests. Each TEST prints one line,
 * "PASS name" or "FAIL name: file:line: what", which make check counts.
 *
 *	static void test_x(void) { CHECK(1 + 1 == 2); }
 *	int main(void) { RUN(test_x); return test_done(); }
 */
#include <stdio.h>

extern int test_failed_now, test_failures;

#define CHECK(c) do { if (!(c)) { \
	if (!test_failed_now) printf("FAIL %s: %s:%d: %s\n", test_name, __FILE__, __LINE__, #c); \
	test_failed_now = 1; } } while (0)
#define RUN(f) do { test_name = #f; test_failed_now = 0; f(); \
	if (!test_failed_now) printf("PASS %s\n", #f); else test_failures++; \
	fflush(stdout); } while (0)

extern const char *test_name;
int test_done(void);

#endif
