/* Lookups in cdb files (tinycdb). The file is opened for each lookup (or
 * each group of keys), so a file rebuilt and renamed into place is seen by
 * the next one; a reader holding the old file keeps a consistent view
 * through its mapping. */
#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "cdbf.h"

int cdbf_open(struct cdb *c, const char *path)
{
	int fd, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	errno = 0;
	if (cdb_init(c, fd) != 0) {
		saved = errno ? errno : EPROTO;
		close(fd);
		errno = saved;
		return -1;
	}
	return 0;
}

int cdbf_get(struct cdb *c, const char *key, size_t klen, const char **v,
             size_t *vn)
{
	int r;

	/* tinycdb keys fit an unsigned: a longer one is in no file */
	if ((size_t)(unsigned)klen != klen)
		return 0;
	errno = 0;
	r = cdb_find(c, key, (unsigned)klen);
	if (r < 0) {
		if (!errno)
			errno = EPROTO;
		return -1;
	}
	if (r == 0 || !v)
		return r;
	*vn = cdb_datalen(c);
	*v = cdb_getdata(c);
	if (!*v) {
		errno = EPROTO;
		return -1;
	}
	return 1;
}

void cdbf_close(struct cdb *c)
{
	int saved = errno, fd = cdb_fileno(c);

	cdb_free(c);
	close(fd);
	errno = saved;
}

int cdbf_lookup(const char *path, const char *key, size_t klen,
                struct str *val)
{
	struct cdb c;
	const char *v;
	size_t vn;
	int r;

	if (cdbf_open(&c, path) < 0)
		return errno == ENOENT ? 0 : -1;
	r = cdbf_get(&c, key, klen, val ? &v : 0, &vn);
	if (r > 0 && val && !str_copyb(val, v, vn)) {
		errno = ENOMEM;
		r = -1;
	}
	cdbf_close(&c);
	return r;
}
