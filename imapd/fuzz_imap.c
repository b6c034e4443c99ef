/* libFuzzer target for quail-imapd's parsers: the input is taken as one
 * IMAP command (tree, FETCH items, sequence sets, dates, mailbox names
 * from every argument), as a line that may end in a literal marker, as
 * a SASL PLAIN message, and as a message for the MIME parser
 * (BODYSTRUCTURE, ENVELOPE, sections) and SEARCH's text decoding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "fetch.h"
#include "login.h"
#include "mime.h"
#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void args_walk(const struct imap_cmd *c, const struct imap_arg *a,
                      struct imap_seq *q, int depth)
{
	static struct fetch f;
	const char *s;
	size_t n;
	long d;
	time_t t;

	if (depth > IMAP_DEPTH_MAX + 1)
		abort();
	for (; a; a = imap_next(c, a)) {
		if (fetch_parse(&f, c, a) < 0)
			abort();
		fetch_free(&f);
		if (a->type == IMAP_LIST) {
			args_walk(c, imap_child(c, a), q, depth + 1);
			continue;
		}
		if (imap_seq_parse(q, a->s, a->len) == 1)
			imap_seq_resolve(q, 100);
		imap_date_parse(a->s, a->len, &d);
		imap_datetime_parse(a->s, a->len, &t);
		imap_mailbox_ok(a->s, a->len);
		if (imap_astring(a, &s, &n) && n > a->len)
			abort();
	}
}

static void mime_walk(const char *p, size_t n)
{
	static const unsigned paths[][3] = { { 1, 0, 0 }, { 2, 1, 0 },
	                                     { 1, 1, 1 }, { 3, 2, 1 } };
	struct mime m = MIME_ZERO;
	struct str o = STR_ZERO;
	size_t off, len, k;
	int spec;

	if (mime_parse(&m, p, n) < 0)
		return;
	mime_bodystructure(&m, 0, 1, &o);
	mime_envelope(p, m.e[0].hdrlen, &o);
	for (k = 0; k < 4; k++)
		for (spec = SEC_ALL; spec <= SEC_MIME; spec++)
			if (mime_section(&m, paths[k], k % 3 + 1, spec, &off, &len) &&
			    (off > n || len > n - off))
				abort();
	mime_fields(p, m.e[0].hdrlen, "subject\0from\0", 2, 1, &o);
	o.len = 0;
	decode_message(&o, &m, 1);
	decode_header(&o, p, n);
	decode_body(&o, p, m.e[0].hdrlen, p + m.e[0].body, m.e[0].bodylen);
	mime_free(&m);
	str_free(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* heap copies of exactly size bytes, so ASan sees any overread */
	char *buf = malloc(size ? size : 1);
	struct imap_cmd c = IMAP_CMD_ZERO;
	struct imap_seq q = { 0, 0, 0 };
	unsigned long long lit;
	const char *u, *pw;
	size_t un, pn;
	int sync;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (imap_parse(&c, buf, size) == IMAP_OK)
		args_walk(&c, imap_first(&c), &q, 0);
	imap_cmd_free(&c);
	imap_seq_free(&q);
	memcpy(buf, data, size);
	imap_literal_end(buf, size, &lit, &sync);
	if (login_sasl_plain(buf, size, &u, &un, &pw, &pn) &&
	    (un > size || pn > size))
		abort();
	mime_walk(buf, size);
	free(buf);
	return 0;
}
