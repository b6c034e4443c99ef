/* libFuzzer target for cdbf_get over a hostile cdb image. The input is
 * a key length byte, the key, then the file (padded to the 2048-byte
 * header cdbf_open insists on). Besides crashes and bad reads (ASan,
 * UBSan), it checks what cdbf_get promises: a value found lies inside
 * the file, and an error is EPROTO. Any failure aborts. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cdbf.h"

static void must(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cdbf c;
	const char *v;
	unsigned char *file;
	size_t klen, vn, n;
	int r;

	if (size < 1)
		return 0;
	klen = data[0];
	if (klen > size - 1)
		klen = size - 1;
	n = size - 1 - klen;
	/* a file too short for its header never reaches cdbf_get */
	file = calloc(1, n < 2048 ? 2048 : n);
	if (!file)
		return 0;
	memcpy(file, data + 1 + klen, n);
	c.map = file;
	c.size = n < 2048 ? 2048 : n;
	errno = 0;
	r = cdbf_get(&c, (const char *)data + 1, klen, &v, &vn);
	must(r == 1 || r == 0 || (r == -1 && errno == EPROTO));
	if (r == 1)
		must(v >= (const char *)file && vn <= c.size &&
		     (size_t)(v - (const char *)file) <= c.size - vn);
	free(file);
	return 0;
}
