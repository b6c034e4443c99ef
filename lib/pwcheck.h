#ifndef QUAIL_PWCHECK_H
#define QUAIL_PWCHECK_H

#include <stddef.h>

#include "str.h"

/* Password hashes through crypt(3) from libxcrypt. Accepted schemes, by
 * the prefix of the hash: yescrypt "$y$", bcrypt "$2b$" (and its
 * equivalents "$2y$", "$2a$"), SHA-512-crypt "$6$", SHA-256-crypt "$5$".
 * Everything else, DES and MD5-crypt ("$1$") among it, never matches:
 * those are cheap to brute-force once the hash leaks.
 *
 * Never log a password: these functions keep none beyond the call and
 * wipe their copies. */

/* Longest password accepted: libxcrypt's CRYPT_MAX_PASSPHRASE_SIZE less
 * its NUL. checkpassword's fd 3 holds at most 512 bytes for login,
 * password and timestamp together, so no real password comes near. */
#define PWCHECK_PASSWORD_MAX 511
/* Longest hash string looked at. */
#define PWCHECK_HASH_MAX 383

/* 1 when hash (NUL-terminated) starts with an accepted scheme prefix. */
int pwcheck_scheme(const char *hash);

/* Checks password[0..n) against hash: 1 match; 0 no match, also for an
 * empty password, a password with a NUL or longer than
 * PWCHECK_PASSWORD_MAX, an empty or "-" hash, a refused scheme or a
 * malformed hash; -1 error (no memory) with errno set. The result string
 * is compared in constant time. */
int pwcheck_verify(const char *password, size_t n, const char *hash);

/* Makes a yescrypt hash of password[0..n) with a fresh random salt and
 * libxcrypt's default cost, into out (NUL-terminated, not counted in
 * len): 1 ok; 0 unusable password (empty, holds a NUL, too long); -1
 * error with errno set (no memory, no randomness). */
int pwcheck_hash(const char *password, size_t n, struct str *out);

#endif
