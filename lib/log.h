#ifndef QUAIL_LOG_H
#define QUAIL_LOG_H

/* One line per event on stderr, no timestamp (multilog or svlogd adds it):
 *   prog: level: key=value key=value
 * Values are escaped (bytes outside printable ASCII, space and backslash
 * become \xHH) and cut at LOG_VALUE_MAX bytes, so one line stays one event
 * whatever the network sent. */
#define LOG_VALUE_MAX 200

void log_init(const char *prog);
/* level is "info", "warn" or "fatal"; then key, value pairs, then a NULL.
 * A NULL value (as a pair's second) is written as "-". */
void log_kv(const char *level, ...) __attribute__((sentinel));
/* As log_kv("fatal", ...), then exit(code). */
void die_kv(int code, ...) __attribute__((noreturn, sentinel));
/* The symbol of errno value e ("ENOSPC") for the values a mail system
 * meets, else "E" and the number: stable across C libraries, unlike
 * strerror's text. */
const char *log_errname(int e);
/* Out of memory: log and exit 111. */
void die_nomem(void) __attribute__((noreturn));

#endif
