#ifndef QUAIL_MSGS_H
#define QUAIL_MSGS_H

#include <stddef.h>

/* quail-send's table of queued messages: a hash by ID and a heap of the
 * waiting ones ordered by due time. A waiting message costs only a struct
 * msg (about 48 bytes) and a heap slot; its envelope is read when it is
 * due. */

struct active;

struct msg {
	unsigned long long id;
	long long next;         /* due time, unix seconds */
	long heap;              /* index in the heap; -1 while active */
	unsigned attempts;      /* since quail-send started */
	struct msg *hnext;
	struct active *act;
};

/* Adds a message due at the given time, unless the ID is known already. */
void msgs_add(unsigned long long id, long long due);
/* Drops a message that is not in the heap (after msgs_pop). */
void msgs_forget(struct msg *);
/* The heap of waiting messages. */
void msgs_push(struct msg *);
struct msg *msgs_pop(void);
struct msg *msgs_top(void);     /* NULL when none wait */
void msgs_all_due(void);        /* every waiting message due now */
size_t msgs_count(void);        /* all known messages */
size_t msgs_waiting(void);      /* in the heap */

#endif
