/* Lookups in cdb files (tinycdb). The file is opened for each lookup, so
 * a file rebuilt and renamed into place is seen by the next one; a reader
 * holding the old file keeps a consistent view through its mapping. */
#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "cdbf.h"

/* Finds key in an open cdb: 1, 0 or -1 as cdbf_lookup. */
static int cdbf_find(struct cdb *c, const char *key, size_t klen,
                     struct str *val)
{
	const void *data;
	int r;

	/* tinycdb keys fit an unsigned: a longer one is in no file */
	if ((size_t)(unsigned)klen != klen)
		return 0;
	r = cdb_find(c, key, (unsigned)klen);
	if (r < 0) {
		if (!errno)
			errno = EPROTO;
		return -1;
	}
	if (r == 0)
		return 0;
	if (!val)
		return 1;
	data = cdb_getdata(c);
	if (!data) {
		errno = EPROTO;
		return -1;
	}
	if (!str_copyb(val, data, cdb_datalen(c))) {
		errno = ENOMEM;
		return -1;
	}
	return 1;
}

int cdbf_lookup(const char *path, const char *key, size_t klen,
                struct str *val)
{
	struct cdb c;
	int fd, r, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	errno = 0;
	if (cdb_init(&c, fd) != 0) {
		saved = errno ? errno : EPROTO;
		close(fd);
		errno = saved;
		return -1;
	}
	errno = 0;
	r = cdbf_find(&c, key, klen, val);
	saved = errno;
	cdb_free(&c);
	close(fd);
	errno = saved;
	return r;
}
