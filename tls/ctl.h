#ifndef QUAIL_TLS_CTL_H
#define QUAIL_TLS_CTL_H

/* What quail-tlsd parses, kept free of OpenSSL and system calls so that
 * the unit test and the fuzz target link without them: the application's
 * control bytes, the connection-info block ("VAR=value\0...\0\0"), host
 * names from SNI and from certificate file names, and settings from the
 * environment. */

#include <stddef.h>

#include "str.h"

/* Longest DNS name (RFC 1035), and longest label. */
#define CTL_HOST_MAX 253
#define CTL_LABEL_MAX 63
/* An info block, whole, and one value in it. */
#define CTL_INFO_MAX 8192
#define CTL_VALUE_MAX 1024

/* The application's requests on SSLCTLFD. */
enum { CTL_NONE = 0, CTL_START = 1, CTL_START_INFO = 2 };

/* The first request in p[0..n): CTL_START for 'y', CTL_START_INFO for
 * 'Y', CTL_NONE when neither byte is there. Other bytes are ignored, so
 * "y\n" from a shell script works. */
int ctl_scan(const char *p, size_t n);

/* Appends "name=value\0" to an info block. Bytes of value outside
 * printable ASCII become '?' and value is cut at CTL_VALUE_MAX, so a
 * value from a certificate cannot smuggle a NUL or a line end. name must
 * be one ctl_name_ok accepts. 1 ok, 0 no memory or the block would pass
 * CTL_INFO_MAX. */
int ctl_info_add(struct str *, const char *name, const char *value,
                 size_t n);
/* Ends the block with its extra NUL: 1 ok, 0 no memory. */
int ctl_info_end(struct str *);

struct ctl_var {
	const char *name;       /* into the block, not NUL-terminated */
	size_t namelen;
	const char *value;      /* NUL-terminated in the block */
	size_t valuelen;
};
/* Reads the entry at *pos of the block p[0..n) and moves *pos past it:
 * 1 an entry, 0 the end marker (the extra NUL), -1 malformed: no '=',
 * a name ctl_name_ok refuses, an over-long value, or no NUL before n. */
int ctl_info_next(const char *p, size_t n, size_t *pos, struct ctl_var *);
/* Length of the complete block at the start of p[0..n) through its end
 * marker, 0 when p holds only part of one, -1 when it is malformed or
 * longer than CTL_INFO_MAX. */
long ctl_info_check(const char *p, size_t n);
/* 1 when the variable may be set from an info block: only the SSL_*
 * names quail-tlsd writes, so the engine, which parses network input,
 * can never set PATH, LD_PRELOAD or the like for the application. */
int ctl_name_ok(const char *name, size_t n);
/* The i-th of those names, from 0, or NULL past the last: what an
 * application must not inherit from an outer wrapper. */
const char *ctl_info_name(size_t i);

/* Lower-cases the host name p[0..n) into out (NUL-terminated) and
 * returns 1 when it is fit to name a file: dot-separated labels of
 * letters, digits, '-' and '_', each 1 to CTL_LABEL_MAX bytes, no label
 * starting with '-', CTL_HOST_MAX bytes at most, one trailing dot
 * dropped. 0 otherwise ("..", "/", NUL, '*', empty). */
int ctl_host(const char *p, size_t n, char out[CTL_HOST_MAX + 1]);

/* A file in CERTDIR: NAME.pem (chain and key), NAME.crt or NAME.key,
 * where NAME is "default", a host name (ctl_host) or "*." and a host
 * name. Sets name (NUL-terminated, lower case) and kind and returns 1;
 * 0 for any other file, which quail-tlsd skips. */
enum { CTL_PEM = 1, CTL_CRT = 2, CTL_KEY = 3 };
int ctl_certfile(const char *p, size_t n, char name[CTL_HOST_MAX + 3],
                 int *kind);

/* The wildcard name covering host ("*." and all after the first label),
 * in out: 1, or 0 when host has a single label. */
int ctl_wildcard(const char *host, char out[CTL_HOST_MAX + 3]);

/* A number of seconds from the environment or a command line: all
 * decimal digits, 1..max. 1 ok, 0 not. */
int ctl_seconds(const char *s, unsigned long long max,
                unsigned long long *out);
/* A numeric uid or gid: decimal, below (id_t)-1. 1 ok, 0 not. */
int ctl_id(const char *s, unsigned long *out);
/* A yes/no setting: unset or "" or "0" is 0, "1" is 1, else -1. */
int ctl_flag(const char *s);

#endif
