#ifndef QUAIL_CDBF_H
#define QUAIL_CDBF_H

#include <stddef.h>

#include "str.h"

/* Reads cdb files (D. J. Bernstein's constant database, as tinycdb's
 * cdb(1) and quail-users write them). Every offset and length in the file
 * is checked against its size, so a corrupt or hostile file is an error,
 * never a read out of bounds.
 *
 * Looks key up in the cdb file path (opened and closed on each call, so a
 * rebuilt file is seen at once; the file is replaced by rename, never
 * rewritten). Returns 1 found (value in val, if val is not NULL), 0 not
 * found or no such file, -1 error with errno set. */
int cdbf_lookup(const char *path, const char *key, size_t klen,
                struct str *val);

/* For several keys that must all see the same file (userdb.c): open once,
 * get each key, close. cdbf_open returns 0, or -1 with errno set (ENOENT:
 * no such file; EPROTO: not a cdb). cdbf_get returns 1 found, with the
 * value at *v for *vn bytes when v is not NULL (in the file's mapping,
 * valid until cdbf_close), 0 not found, -1 error with errno set (EPROTO:
 * a corrupt file). cdbf_close leaves errno as it was. */
struct cdbf {
	const unsigned char *map;
	size_t size;
};

int cdbf_open(struct cdbf *c, const char *path);
int cdbf_get(struct cdbf *c, const char *key, size_t klen, const char **v,
             size_t *vn);
void cdbf_close(struct cdbf *c);

#endif
