/* musl builds only (see the Makefile): the three macros libxcrypt's
 * <crypt.h> takes from glibc's <sys/cdefs.h>, which musl does not have. */
#ifndef QUAIL_MUSL_SYS_CDEFS_H
#define QUAIL_MUSL_SYS_CDEFS_H
#define __BEGIN_DECLS
#define __END_DECLS
#define __THROW
#endif
