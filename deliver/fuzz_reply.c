/* libFuzzer target for the SMTP reply parser (remote_reply.c): feeds the
 * input in pieces whose sizes come from the input, reads replies until
 * an error or the end, and checks what a finished reply promises. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remote_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reply r = REPLY_ZERO;
	struct ehlo e;
	size_t i = 1, n, used;
	int rc;

	if (!size)
		return 0;
	memset(&e, 0, sizeof e);
	r.ehlo = (data[0] & 1) ? &e : 0;
	while (i < size) {
		n = 1 + data[i - 1] % 64;
		if (n > size - i)
			n = size - i;
		rc = reply_feed(&r, (const char *)data + i, n, &used);
		if (rc < 0)
			break;
		if (used > n)
			abort();
		if (rc == REPLY_DONE) {
			if (r.code < 200 || r.code > 599 ||
			    r.text.len > REPLY_TEXT_MAX)
				abort();
			for (size_t k = 0; k < r.text.len; k++)
				if ((unsigned char)r.text.s[k] < 0x20 ||
				    (unsigned char)r.text.s[k] > 0x7e)
					abort();
			reply_reset(&r);
		}
		i += used ? used : n;
	}
	reply_free(&r);
	return 0;
}
