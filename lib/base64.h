#ifndef QUAIL_BASE64_H
#define QUAIL_BASE64_H

#include <stddef.h>

#include "str.h"

/* Base64 (RFC 4648 section 4): the standard alphabet with '=' padding, as
 * SASL (RFC 4954) and MIME use it.
 *
 * base64_decode is strict: in[0..n) must be whole groups of four, padded
 * with '=' only at the end, with no white space or other bytes, and with
 * the unused bits of the last group zero (RFC 4648 3.5), so one text has
 * one meaning. It replaces out's contents: 1 ok, 0 malformed (out empty),
 * -1 no memory (out empty). The output is at most 3 * n / 4 bytes; a
 * caller decoding secrets can size out beforehand with str_ready so the
 * string is never moved, leaving no copy behind.
 *
 * base64_encode appends the encoding of in[0..n) to out: 1 ok, 0 no
 * memory or a size that would overflow (out unchanged). */
int base64_decode(const char *in, size_t n, struct str *out);
/* The 6-bit value of byte c, or -1 for one outside the alphabet ('='
 * too): for decoders of their own, such as MIME's lenient one. */
int base64_value(unsigned char c);
int base64_encode(const char *in, size_t n, struct str *out);

#endif
