#ifndef QUAIL_STR_H
#define QUAIL_STR_H

#include <stddef.h>

/* An owned, growable byte string. The length travels with the data; a NUL
 * is added only by str_0, for system calls, and is not counted in len. */
struct str {
	char *s;
	size_t len, cap;
};

#define STR_ZERO { 0, 0, 0 }

/* Each returns 1 on success, 0 when memory runs out or a size would
 * overflow; the string is then unchanged. */
int str_ready(struct str *, size_t more);
int str_catb(struct str *, const char *, size_t);
int str_cats(struct str *, const char *);
int str_catc(struct str *, char);
int str_catu(struct str *, unsigned long long);
int str_copyb(struct str *, const char *, size_t);
int str_copys(struct str *, const char *);
int str_0(struct str *);
void str_free(struct str *);

/* 1 when the string equals b[0..n), case-insensitively for the _ci form
 * (ASCII only). */
int str_eqb(const struct str *, const char *, size_t);
int str_eqb_ci(const struct str *, const char *, size_t);

#endif
