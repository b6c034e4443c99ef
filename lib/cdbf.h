#ifndef QUAIL_CDBF_H
#define QUAIL_CDBF_H

#include <stddef.h>

#include "str.h"

/* Looks key up in the cdb file path (opened and closed on each call, so a
 * rebuilt file is seen at once; the file is replaced by rename, never
 * rewritten). Returns 1 found (value in val, if val is not NULL), 0 not
 * found or no such file, -1 error with errno set. */
int cdbf_lookup(const char *path, const char *key, size_t klen,
                struct str *val);

#endif
