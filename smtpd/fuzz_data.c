/* libFuzzer target for the DATA state machine: the input, fed whole and
 * again in chunks whose sizes come from the input itself (in place or
 * not), must give the same stored bytes, flags and end every time, and
 * never more output than input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct result {
	char *out;
	size_t outn, used;
	int flags, done;
};

/* Chunk sizes cycle through sizes[0..nsizes), each 1..256. */
static void run(const char *in, size_t n, size_t maxline,
                unsigned long long maxbytes, const uint8_t *sizes,
                size_t nsizes, int inplace, struct result *r)
{
	struct data d;
	char *buf = malloc(n + 1), *out = malloc(n + 1);
	size_t i = 0, c, k = 0, used, on;

	r->out = malloc(n + 1);
	if (!buf || !out || !r->out)
		abort();
	memcpy(buf, in, n);
	r->outn = 0;
	data_init(&d, maxline, maxbytes);
	while (i < n && !data_done(&d)) {
		c = nsizes ? (size_t)sizes[k++ % nsizes] + 1 : n - i;
		if (c > n - i)
			c = n - i;
		used = data_feed(&d, buf + i, c, inplace ? buf + i : out, &on);
		if (used > c || on > used || (used < c && !data_done(&d)))
			abort();
		memcpy(r->out + r->outn, inplace ? buf + i : out, on);
		r->outn += on;
		i += used;
	}
	r->used = i;
	r->flags = d.flags;
	r->done = data_done(&d);
	free(buf);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct result whole, part;
	size_t nsizes, maxline;
	unsigned long long maxbytes;

	/* header: line limit, size limit, number of chunk sizes */
	if (size < 3)
		return 0;
	maxline = data[0] % 4 == 0 ? 0 : (size_t)data[0] * 4;
	maxbytes = data[1] % 4 == 0 ? 0 : (unsigned long long)data[1] * 16;
	nsizes = (size_t)data[2] % 16 + 1;
	data += 3;
	size -= 3;
	if (nsizes > size)
		nsizes = size;
	run((const char *)data + nsizes, size - nsizes, maxline, maxbytes, 0, 0,
	    0, &whole);
	run((const char *)data + nsizes, size - nsizes, maxline, maxbytes, data,
	    nsizes, nsizes & 1, &part);
	if (whole.used != part.used || whole.flags != part.flags ||
	    whole.done != part.done || whole.outn != part.outn ||
	    memcmp(whole.out, part.out, whole.outn) != 0 ||
	    whole.outn > whole.used)
		abort();
	free(whole.out);
	free(part.out);
	return 0;
}
