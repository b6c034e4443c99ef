/* libFuzzer target for addr_parse_path. Besides crashes and bad reads
 * (ASan, UBSan), it checks what the parser promises on ADDR_OK: used is
 * within the input and ends with '>', the output fits a path, a null
 * output comes only from "<>", and the output wrapped in <> parses again
 * to itself. Any failure aborts, which libFuzzer reports. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

static void must(int cond)
{
	if (!cond)
		abort();
}

static void check_reparse(const struct str *out, int dom)
{
	char buf[ADDR_PATH_MAX + 2];
	struct str again = STR_ZERO;
	size_t used;
	int dom2;

	buf[0] = '<';
	if (out->len)
		memcpy(buf + 1, out->s, out->len);
	buf[out->len + 1] = '>';
	must(addr_parse_path(buf, out->len + 2, &again, &used, &dom2) ==
	     ADDR_OK);
	must(used == out->len + 2);
	must(dom2 == dom);
	must(str_eqb(&again, out->s, out->len));
	str_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct str out = STR_ZERO;
	size_t used = 0;
	int dom = -1, r;

	r = addr_parse_path((const char *)data, size, &out, &used, &dom);
	must(r >= ADDR_OK && r <= ADDR_NOMEM);
	if (r == ADDR_OK) {
		must(used >= 2 && used <= size && used <= ADDR_PATH_MAX);
		must(data[0] == '<' && data[used - 1] == '>');
		must(out.len <= ADDR_PATH_MAX - 2);
		must(dom == 0 || dom == 1);
		must(out.len > 0 || used == 2);
		must(!dom || memchr(out.s, '@', out.len));
		check_reparse(&out, dom);
	} else {
		must(out.len == 0);
		must(addr_error(r) != 0);
	}
	str_free(&out);
	return 0;
}
