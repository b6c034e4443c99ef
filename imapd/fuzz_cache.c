/* libFuzzer target for quail-imapd's cache file (cache.h): the input is
 * taken as a folder's quail-cache (in a memfd, with the uidvalidity its
 * head names, so the fuzzer gets past that check), every uid the index
 * names is looked up, an entry is added, and the merged file is written
 * to a second memfd and read back: the entry added must be there. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cache.h"

#define FUZZ_LOOKUPS 2000       /* uids looked up per input */
#define FUZZ_FILE_MAX (4UL << 20) /* the cache's file limit here */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd(const void *p, size_t n)
{
	int fd = memfd_create("quail-cache", MFD_CLOEXEC);

	if (fd < 0)
		abort();
	if (n && write(fd, p, n) != (ssize_t)n)
		abort();
	return fd;
}

static unsigned long le32(const uint8_t *p)
{
	return (unsigned long)p[0] | (unsigned long)p[1] << 8 |
	       (unsigned long)p[2] << 16 | (unsigned long)p[3] << 24;
}

static void lookups(struct cache *c)
{
	struct cache_ent e;
	size_t i;

	for (i = 0; i < c->n && i < FUZZ_LOOKUPS && c->open; i++) {
		unsigned long uid = le32(c->idx + i * 8);

		if (cache_get(c, uid, &e) &&
		    (e.uid != uid || e.baselen > CACHE_BASE_MAX))
			abort();
	}
	cache_get(c, 1, &e);
	cache_get(c, 0xffffffffUL, &e);
}

static int keep_odd(void *arg, unsigned long uid)
{
	(void)arg;
	return uid % 2;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cache c;
	struct cache_ent e, d;
	int fd;

	memset(&c, 0, sizeof c);
	c.validity = size >= 12 ? le32(data + 8) : 1;
	c.filemax = FUZZ_FILE_MAX;
	cache_attach(&c, memfd(data, size));
	lookups(&c);
	memset(&e, 0, sizeof e);
	e.uid = 7;
	e.base = "1700000000.M1P1Q1.fuzz";
	e.baselen = strlen(e.base);
	e.known = CF_BIT(CF_ENVELOPE);
	e.f[CF_ENVELOPE] = (const char *)data;
	e.flen[CF_ENVELOPE] = size < 4096 ? size : 4096;
	if (cache_put(&c, &e) != 1)
		abort();
	fd = memfd(0, 0);
	if (cache_write_fd(&c, fd, keep_odd, 0) == 0) {
		c.add.len = c.nn = 0;
		/* below half the limit no entry is dropped for room */
		if (!cache_attach(&c, fd) || (size < FUZZ_FILE_MAX / 2 &&
		    (!cache_get(&c, 7, &d) ||
		     d.flen[CF_ENVELOPE] != e.flen[CF_ENVELOPE] ||
		     memcmp(d.f[CF_ENVELOPE], data, d.flen[CF_ENVELOPE]) != 0)))
			abort();
		lookups(&c);
	} else {
		close(fd);
	}
	cache_free(&c);
	return 0;
}
