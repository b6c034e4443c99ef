#ifndef QUAIL_DEST_H
#define QUAIL_DEST_H

#include <stddef.h>

/* quail-send's remote destinations (domains): how many deliveries to each
 * are running, and whether it is resting after failures, so that one slow
 * or dead domain neither takes every remote slot nor is tried for each of
 * its messages in turn. */

#define DEST_BACKOFF_MIN 60     /* seconds of rest after a failed attempt */
#define DEST_BACKOFF_MAX 900    /* doubling up to this */

struct dest {
	char *name;             /* lower case */
	unsigned running;
	unsigned fails;         /* attempts in a row that all failed for now */
	long long until;        /* no attempts before this time */
	struct dest *next;
};

/* The entry for a domain, made on first use (NULL: no memory). */
struct dest *dest_get(const char *domain, size_t len);
/* After an attempt: ok is 1 when any recipient was settled (delivered or
 * refused for good), 0 when all were deferred. */
void dest_result(struct dest *, int ok, long long now);
/* Drops idle entries with no rest pending, so the table stays small. */
void dest_sweep(long long now);

#endif
