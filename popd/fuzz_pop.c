/* libFuzzer target for the POP3 parsers: the input is one command line
 * as read; it is stripped, split into verb and argument, its argument
 * taken as message numbers, as TOP's two words and as a decoded SASL
 * PLAIN message, its bytes as a Maildir name for UIDL, and the whole
 * input sent through the message transformation, which must give back
 * exactly the input with every LF as CRLF once the stuffing is removed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "popcmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_xf(const char *in, size_t n)
{
	char *out = malloc(2 * n + POP_XF_END);
	struct pop_xf x;
	struct pop_size s;
	size_t o, i, k = 0, lf = 0;
	int bol = 1;

	if (!out)
		return;
	pop_xf_init(&x, 0, 0);
	o = pop_xf(&x, in, n, out);
	o += pop_xf_end(&x, out + o);
	pop_size_init(&s);
	pop_size_add(&s, in, n);
	for (i = 0; i < n; i++)
		lf += in[i] == '\n';
	/* unstuff and compare */
	for (i = 0; i < n; i++) {
		if (bol && in[i] == '.') {
			if (out[k] != '.' || out[k + 1] != '.')
				abort();
			k++;
		}
		bol = 0;
		if (in[i] == '\n') {
			if (out[k++] != '\r')
				abort();
			bol = 1;
		}
		if (out[k++] != in[i])
			abort();
	}
	if (o - k < 3 || memcmp(out + o - 3, ".\r\n", 3) != 0)
		abort();
	if (pop_size_end(&s) != n + lf + (n && in[n - 1] != '\n' ? 2 : 0))
		abort();
	pop_xf_init(&x, 1, (unsigned char)(n ? in[0] : 0) % 4);
	o = pop_xf(&x, in, n, out);
	if (o > 2 * n)
		abort();
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a heap copy of exactly size bytes, so ASan sees any overread */
	char *line = malloc(size ? size : 1), u[POP_UIDL_MAX];
	struct str user = STR_ZERO, pass = STR_ZERO;
	struct pop_cmd c;
	const char *a, *b;
	size_t len = size, an, bn;
	unsigned long long v;

	if (!line)
		return 0;
	memcpy(line, data, size);
	if (!pop_line(line, size, &len))
		len = size;
	if (len > size)
		abort();
	pop_parse(line, len, &c);
	if (c.arg && (c.arg < line || c.arg + c.arglen > line + len))
		abort();
	if (c.arg) {
		if (pop_num(c.arg, c.arglen, 1000, &v) && v > 1000)
			abort();
		if (pop_two(c.arg, c.arglen, &a, &an, &b, &bn) &&
		    (an == 0 || bn == 0 || b + bn != c.arg + c.arglen))
			abort();
	}
	if (pop_plain(line, size, &user, &pass) == 1 &&
	    (user.len == 0 || pass.len == 0 || user.len + pass.len > size))
		abort();
	if (pop_uidl(line, size, u) > POP_UIDL_MAX)
		abort();
	check_xf(line, size);
	str_free(&user);
	str_free(&pass);
	free(line);
	return 0;
}
