#ifndef QUAIL_FMT_H
#define QUAIL_FMT_H

#include <stddef.h>

/* Enough for any unsigned long long in decimal, plus a NUL. */
#define FMT_ULONG 21

/* Writes u in decimal, returns the length; no NUL. */
size_t fmt_ulong(char *buf, unsigned long long u);
/* Like fmt_ulong, NUL-terminated, returns buf: for log fields. */
char *fmt_u(char buf[FMT_ULONG], unsigned long long u);
/* Writes u in lower-case hex, returns the length; no NUL. */
size_t fmt_xlong(char *buf, unsigned long long u);

/* Parses all of p[0..n) as a decimal number: 1 ok, 0 empty, not digits
 * or overflow. */
int scan_ulong(const char *p, size_t n, unsigned long long *out);

char case_lower(char);
void case_lowerb(char *, size_t);
int case_eqb(const char *, const char *, size_t);
/* 1 when p[0..n) starts with the NUL-terminated prefix, ignoring case */
int case_startb(const char *p, size_t n, const char *prefix);

/* Finds c in p[0..n), or returns n. */
size_t byte_chr(const char *p, size_t n, int c);

#endif
