/* musl builds only (see the Makefile): the glibc functions Debian's
 * static libxcrypt (libcrypt.a, built against glibc) calls that musl
 * does not have. Each does what glibc's does, checks aside: the two _chk
 * ones are what glibc's fortified headers turned explicit_bzero and
 * snprintf into, and arc4random_buf serves crypt_gensalt. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

void __explicit_bzero_chk(void *p, size_t n, size_t size);
int __snprintf_chk(char *s, size_t n, int flag, size_t size,
                   const char *fmt, ...);
void arc4random_buf(void *p, size_t n);

void __explicit_bzero_chk(void *p, size_t n, size_t size)
{
	if (n > size)
		abort();
	explicit_bzero(p, n);
}

int __snprintf_chk(char *s, size_t n, int flag, size_t size,
                   const char *fmt, ...)
{
	va_list ap;
	int r;

	(void)flag;
	if (n > size)
		abort();
	va_start(ap, fmt);
	r = vsnprintf(s, n, fmt, ap);
	va_end(ap);
	return r;
}

void arc4random_buf(void *p, size_t n)
{
	unsigned char *b = p;
	ssize_t r;

	while (n > 0) {
		r = getrandom(b, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			abort();        /* as glibc's: no weak salt, ever */
		}
		b += r;
		n -= (size_t)r;
	}
}
