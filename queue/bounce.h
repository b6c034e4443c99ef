#ifndef QUAIL_BOUNCE_H
#define QUAIL_BOUNCE_H

#include <stddef.h>

#include "qfile.h"
#include "str.h"

/* RFC 3464 bounces (delivery status notifications) for quail-send. */

struct bounce_cfg {
	struct str me, from, host, dbto, dbhost;
};

struct bounce_item {
	size_t rcpt;            /* index in the envelope */
	char *text;             /* why it failed */
	int expired;            /* temporary failures past queuelifetime */
};

struct bounce {
	struct bounce_item *item;
	size_t n, cap;
};

/* Reads bouncefrom (MAILER-DAEMON), bouncehost (me), doublebounceto
 * (postmaster) and doublebouncehost (me): 0 or 1 ok, -1 error. */
int bounce_config(struct bounce_cfg *, const char *me);
/* Collects one failed recipient: 1 ok, 0 no memory. */
int bounce_add(struct bounce *, size_t rcpt, const char *text, int expired);
/* Queues one bounce for the collected recipients of message id: to the
 * sender; for a message from <> (itself a bounce), a double bounce to
 * doublebounceto@doublebouncehost from "#@[]"; for a message from "#@[]",
 * nothing (logged). 0 done, -1 temporary failure (try again later). */
int bounce_send(struct bounce *, const struct bounce_cfg *,
                unsigned long long id, const struct qfile_env *);
void bounce_free(struct bounce *);

/* The RFC 3463 status in a result text: "5.1.1" from "... (#5.1.1)" or
 * from a leading "5.1.1 "; else def. Writes at most 12 bytes + NUL. */
void bounce_status(const char *text, const char *def, char out[16]);

#endif
