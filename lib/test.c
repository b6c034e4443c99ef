/* Harness for unit tests (see test.h); linked only into test programs. */
#include "test.h"

int test_failed_now, test_failures;
const char *test_name = "";

int test_done(void)
{
	return test_failures ? 1 : 0;
}
