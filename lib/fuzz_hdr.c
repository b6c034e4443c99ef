/* libFuzzer target for hdr: the header parser and the address-list
 * parser. Besides crashes and bad reads (ASan, UBSan) it checks what the
 * parsers promise:
 *   - parsing whole and in two pieces split at the first input byte's
 *     value gives the same fields, blank flag and body;
 *   - every field lies in the header part of text, fields follow each
 *     other without gaps, each ends in LF, and the header is within max;
 *   - every address hdr_addrlist returns is within HDR_ADDR_MAX, holds no
 *     NUL, CR or LF, and parses again to exactly itself.
 * Any failure aborts, which libFuzzer reports. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hdr.h"

static void must(int cond)
{
	if (!cond)
		abort();
}

static void check_fields(const struct hdr *h)
{
	size_t i, end = 0;

	must(h->len <= h->text.len && h->len <= h->max);
	for (i = 0; i < h->nfield; i++) {
		const struct hdr_field *f = &h->field[i];

		must(f->pos == end && f->len > f->namelen && f->namelen > 0);
		must(f->pos + f->len <= h->len);
		must(h->text.s[f->pos + f->len - 1] == '\n');
		must(h->text.s[f->value - 1] == ':');
		must(f->value + f->valuelen + 1 == f->pos + f->len);
		end = f->pos + f->len;
	}
	must(end == h->len);
}

/* Parses p whole and in two pieces; both must agree. Returns the body
 * offset in p of the whole parse via *used. */
static void check_header(const uint8_t *p, size_t n)
{
	struct hdr a, b;
	size_t used, u1, u2 = 0, cut = n ? p[0] % (n + 1) : 0;
	int ra, rb;

	hdr_init(&a);
	hdr_init(&b);
	a.max = b.max = 4096;
	a.maxfields = b.maxfields = 16;
	ra = hdr_parse(&a, (const char *)p, n, &used);
	rb = hdr_feed(&b, (const char *)p, cut, &u1);
	if (rb == HDR_MORE) {
		rb = hdr_feed(&b, (const char *)p + cut, n - cut, &u2);
		u1 = cut + u2;
		if (rb == HDR_MORE)
			rb = hdr_end(&b);
	}
	must(ra == rb);
	if (ra == HDR_DONE) {
		check_fields(&a);
		must(used <= n && u1 == used);
		must(a.len == b.len && a.nfield == b.nfield && a.blank == b.blank);
		must(a.text.len == b.text.len &&
		     (!a.text.len || memcmp(a.text.s, b.text.s, a.text.len) == 0));
		must(memcmp(a.field, b.field, a.nfield * sizeof *a.field) == 0);
	} else {
		must(ra == HDR_TOOBIG || ra == HDR_TOOMANY);
		must(a.text.len <= a.max && a.nfield <= a.maxfields);
	}
	hdr_free(&a);
	hdr_free(&b);
}

static void check_addrs(const uint8_t *p, size_t n)
{
	struct str out = STR_ZERO, again = STR_ZERO;
	size_t count = 0, c2, i = 0, k, got = 0;

	if (hdr_addrlist((const char *)p, n, &out, &count) != HDR_ADDR_OK) {
		must(out.len == 0 && count == 0);
		str_free(&out);
		return;
	}
	while (i < out.len) {
		k = i + strlen(out.s + i);
		must(k < out.len && k > i && k - i <= HDR_ADDR_MAX);
		must(!memchr(out.s + i, '\r', k - i) && !memchr(out.s + i, '\n', k - i));
		again.len = 0;
		c2 = 0;
		must(hdr_addrlist(out.s + i, k - i, &again, &c2) == HDR_ADDR_OK);
		must(c2 == 1 && again.len == k - i + 1);
		must(memcmp(again.s, out.s + i, again.len) == 0);
		got++;
		i = k + 1;
	}
	must(got == count);
	str_free(&out);
	str_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_header(data, size);
	check_addrs(data, size);
	return 0;
}
