/* Keywords as Maildir letters a-z, named per folder (see keywords.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>              /* rename */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fmt.h"
#include "io.h"
#include "keywords.h"
#include "str.h"
#include "uidmap.h"
#include "uniq.h"

int kw_name_ok(const char *name, size_t n)
{
	size_t i;

	if (n == 0 || n > KW_NAME_MAX || name[0] == '\\')
		return 0;
	/* atom-specials and resp-specials (RFC 3501 9) */
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= ' ' || c >= 127 || strchr("(){%*\"\\]", c))
			return 0;
	}
	return 1;
}

void kw_free(struct kwmap *kw)
{
	size_t k;

	for (k = 0; k < KW_MAX; k++) {
		free(kw->name[k]);
		kw->name[k] = 0;
	}
	kw->n = 0;
}

void kw_parse(struct kwmap *kw, const char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t e = i + byte_chr(p + i, n - i, '\n'), sp;
		unsigned long long k;

		sp = i + byte_chr(p + i, e - i, ' ');
		if (sp < e && scan_ulong(p + i, sp - i, &k) && k < KW_MAX &&
		    !kw->name[k] && kw_name_ok(p + sp + 1, e - sp - 1) &&
		    kw_find(kw, p + sp + 1, e - sp - 1) < 0) {
			kw->name[k] = strndup(p + sp + 1, e - sp - 1);
			kw->n += kw->name[k] != 0;
		}
		i = e + 1;
	}
}

int kw_load(struct kwmap *kw, const char *dir)
{
	struct str p = STR_ZERO;
	char buf[KW_FILE_MAX];
	size_t len = 0;
	ssize_t r;
	int fd, e;

	kw_free(kw);
	if (!str_cats(&p, dir) || !str_cats(&p, "/" KW_FILE) || !str_0(&p)) {
		errno = ENOMEM;
		return -1;
	}
	fd = open(p.s, O_RDONLY);
	e = errno;
	str_free(&p);
	if (fd < 0) {
		errno = e;
		return e == ENOENT ? 0 : -1;
	}
	while (len < sizeof buf &&
	       (r = read(fd, buf + len, sizeof buf - len)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		len += (size_t)r;
	}
	close(fd);
	kw_parse(kw, buf, len);
	return 0;
}

int kw_find(const struct kwmap *kw, const char *name, size_t n)
{
	size_t k;

	for (k = 0; k < KW_MAX; k++)
		if (kw->name[k] && strlen(kw->name[k]) == n &&
		    case_eqb(kw->name[k], name, n))
			return (int)k;
	return -1;
}

/* fsync before rename: a crash leaves the old file or the new one */
static int kw_write(const struct kwmap *kw, const char *dir)
{
	struct str t = STR_ZERO, tmp = STR_ZERO, to = STR_ZERO, u = STR_ZERO;
	size_t k;
	int fd = -1, r = -1, e;

	for (k = 0; k < KW_MAX; k++)
		if (kw->name[k] && (!str_catu(&t, k) || !str_catc(&t, ' ') ||
		                    !str_cats(&t, kw->name[k]) ||
		                    !str_catc(&t, '\n')))
			goto nomem;
	if (!uniq_name(&u) || !str_cats(&tmp, dir) || !str_cats(&tmp, "/tmp/") ||
	    !str_catb(&tmp, u.s, u.len) || !str_0(&tmp) ||
	    !str_cats(&to, dir) || !str_cats(&to, "/" KW_FILE) || !str_0(&to))
		goto nomem;
	fd = open(tmp.s, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		goto out;
	r = io_writeall(fd, t.s, t.len) == 0 && fsync(fd) == 0 ? 0 : -1;
	e = errno;
	if (close(fd) < 0 && r == 0) {
		r = -1;
		e = errno;
	}
	if (r == 0 && rename(tmp.s, to.s) < 0) {
		r = -1;
		e = errno;
	}
	if (r < 0)
		unlink(tmp.s);
	errno = e;
	goto out;
nomem:
	errno = ENOMEM;
out:
	e = errno;
	str_free(&t);
	str_free(&tmp);
	str_free(&to);
	str_free(&u);
	errno = e;
	return r;
}

int kw_add(struct kwmap *kw, const char *dir, const char *name, size_t n)
{
	int k = kw_find(kw, name, n), e;

	if (k >= 0)
		return k;
	if (uidmap_lock(dir) < 0)
		return -1;
	/* another session may have named letters since kw was read */
	if (kw_load(kw, dir) < 0)
		goto fail;
	k = kw_find(kw, name, n);
	if (k < 0) {
		for (k = 0; k < KW_MAX && kw->name[k]; k++)
			;
		if (k == KW_MAX) {
			uidmap_unlock(dir);
			return -2;
		}
		kw->name[k] = strndup(name, n);
		if (!kw->name[k]) {
			errno = ENOMEM;
			goto fail;
		}
		kw->n++;
		if (kw_write(kw, dir) < 0) {
			e = errno;
			free(kw->name[k]);
			kw->name[k] = 0;
			kw->n--;
			errno = e;
			goto fail;
		}
	}
	uidmap_unlock(dir);
	return k;
fail:
	e = errno;
	uidmap_unlock(dir);
	errno = e;
	return -1;
}

void kw_xlat(unsigned used, const struct kwmap *from, struct kwmap *to,
             const char *todir, int xlat[KW_MAX])
{
	size_t k;

	for (k = 0; k < KW_MAX; k++) {
		xlat[k] = -1;
		if ((used & FL_KW(k)) && from->name[k])
			xlat[k] = kw_add(to, todir, from->name[k],
			                 strlen(from->name[k]));
	}
}

unsigned kw_apply(unsigned flags, const int xlat[KW_MAX])
{
	unsigned out = flags & ~FL_KWALL;
	size_t k;

	for (k = 0; k < KW_MAX; k++)
		if ((flags & FL_KW(k)) && xlat[k] >= 0)
			out |= FL_KW(xlat[k]);
	return out;
}
