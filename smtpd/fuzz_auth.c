/* libFuzzer target for the SASL side of SMTP AUTH: the input is an AUTH
 * argument and then the client's responses, one per line; the exchange
 * runs as far as they take it. Also base64 both ways, the Received
 * comment and the SENDERAUTH comparison on the raw bytes. No program is
 * run and no userdb read. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "base64.h"
#include "fmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_result(const struct auth *a, int r)
{
	size_t i;

	if (r == AUTH_CHECK) {
		if (!a->user.len || !a->pass.len || a->user.s[a->user.len] ||
		    a->user.len + a->pass.len > AUTH_CRED_MAX - 3 ||
		    memchr(a->user.s, 0, a->user.len) ||
		    memchr(a->pass.s, 0, a->pass.len))
			abort();
		return;
	}
	if (r == AUTH_CHALLENGE) {
		if (!auth_waiting(a) || !a->challenge)
			abort();
		return;
	}
	if (auth_waiting(a) || a->pass.len)
		abort();
	for (i = 0; i < a->pass.cap; i++)
		if (a->pass.s[i])
			abort();        /* a secret left behind */
}

static void exchange(struct auth *a, const char *p, size_t n)
{
	size_t i = byte_chr(p, n, '\n');
	int r = auth_begin(a, p, i);

	check_result(a, r);
	while (r == AUTH_CHALLENGE && i < n) {
		p += i + 1;
		n -= i + 1;
		i = byte_chr(p, n, '\n');
		r = auth_response(a, p, i);
		check_result(a, r);
	}
	auth_wipe(a);
}

static void codec(const char *p, size_t n)
{
	struct str e = STR_ZERO, d = STR_ZERO;

	if (base64_decode(p, n, &d) == 1) {
		if (!base64_encode(d.s, d.len, &e))
			abort();
		if (e.len != n || memcmp(e.s, p, n))
			abort();        /* strict: one text per meaning */
	}
	e.len = 0;
	if (base64_encode(p, n, &e) == 1 &&
	    (base64_decode(e.s, e.len, &d) != 1 || d.len != n ||
	     (n && memcmp(d.s, p, n))))
		abort();
	str_free(&e);
	str_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a heap copy of exactly size bytes, so ASan sees any overread */
	char *in = malloc(size ? size : 1);
	struct auth a = AUTH_ZERO;
	struct str h = STR_ZERO;
	size_t half = size / 2;

	if (!in)
		return 0;
	memcpy(in, data, size);
	if (auth_init(&a)) {
		exchange(&a, in, size);
		auth_free(&a);
	}
	codec(in, size);
	if (auth_received(&h, in, size) &&
	    (memchr(h.s, '\n', h.len) || h.s[h.len - 1] != ')'))
		abort();
	auth_sender_ok(in, half, in + half, size - half);
	str_free(&h);
	free(in);
	return 0;
}
