#ifndef QUAIL_UNIQ_H
#define QUAIL_UNIQ_H

#include <stddef.h>

#include "str.h"

/* Maildir unique names: "<sec>.M<usec>P<pid>Q<n>.<host>", the modern
 * form from the Maildir spec, with Q a per-process counter so one process
 * can make many names in one microsecond. The host part has '/' and ':'
 * escaped as \057 and \072. Returns 1 ok, 0 no memory. */
int uniq_name(struct str *out);

/* The host name used in unique names, escaped, NUL-terminated. */
const char *uniq_host(void);

/* Uses raw[0..n) (up to a NUL, at most HOST_NAME_MAX bytes) as the host
 * name instead of gethostname(); for a configured name, and for tests. */
void uniq_sethost(const char *raw, size_t n);

#endif
