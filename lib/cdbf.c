/* Lookups in cdb files. The file is opened for each lookup (or each group
 * of keys), so a file rebuilt and renamed into place is seen by the next
 * one; a reader holding the old file keeps a consistent view through its
 * mapping.
 *
 * The format: a header of 256 (position, slots) pairs, one hash table
 * each; records (key length, data length, key, data); then the tables,
 * whose slots are (hash, record position) pairs, position 0 for an empty
 * slot. All numbers are 32-bit little-endian. A key's hash h picks table
 * h % 256 and the first slot (h / 256) % slots; probing goes on slot by
 * slot, wrapping around, until an empty slot or a full turn. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdbf.h"

#define HEADER 2048

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint32_t hash(const char *key, size_t n)
{
	uint32_t h = 5381;
	size_t i;

	for (i = 0; i < n; i++)
		h = ((h << 5) + h) ^ (unsigned char)key[i];
	return h;
}

int cdbf_open(struct cdbf *c, const char *path)
{
	struct stat st;
	void *m;
	int fd, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = S_ISDIR(st.st_mode) ? EISDIR : EPROTO;
		goto fail;
	}
	/* 4 GB is the format's own limit: its offsets are 32 bits */
	if (st.st_size < HEADER || (uint64_t)st.st_size > UINT32_MAX) {
		errno = EPROTO;
		goto fail;
	}
	m = mmap(0, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		goto fail;
	close(fd);
	c->map = m;
	c->size = (size_t)st.st_size;
	return 0;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* 1 when n bytes at off lie inside the file. */
static int inside(const struct cdbf *c, uint64_t off, uint64_t n)
{
	return off <= c->size && n <= c->size - off;
}

int cdbf_get(struct cdbf *c, const char *key, size_t klen, const char **v,
             size_t *vn)
{
	uint32_t h, tpos, slots, slot, i, sh, rpos, rk, rd;

	if (klen > UINT32_MAX)          /* in no file */
		return 0;
	h = hash(key, klen);
	tpos = get32(c->map + (h & 255) * 8);
	slots = get32(c->map + (h & 255) * 8 + 4);
	if (!slots)
		return 0;
	if (!inside(c, tpos, (uint64_t)slots * 8))
		goto corrupt;
	slot = (h >> 8) % slots;
	for (i = 0; i < slots; i++) {
		sh = get32(c->map + tpos + (uint64_t)slot * 8);
		rpos = get32(c->map + tpos + (uint64_t)slot * 8 + 4);
		if (!rpos)
			return 0;
		if (sh == h) {
			if (!inside(c, rpos, 8))
				goto corrupt;
			rk = get32(c->map + rpos);
			rd = get32(c->map + rpos + 4);
			if (!inside(c, (uint64_t)rpos + 8, (uint64_t)rk + rd))
				goto corrupt;
			if (rk == klen && !memcmp(c->map + rpos + 8, key, klen)) {
				if (v) {
					*v = (const char *)c->map + rpos + 8 + rk;
					*vn = rd;
				}
				return 1;
			}
		}
		if (++slot == slots)
			slot = 0;
	}
	return 0;
corrupt:
	errno = EPROTO;
	return -1;
}

void cdbf_close(struct cdbf *c)
{
	int saved = errno;

	munmap((void *)c->map, c->size);
	c->map = 0;
	errno = saved;
}

int cdbf_lookup(const char *path, const char *key, size_t klen,
                struct str *val)
{
	struct cdbf c;
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
