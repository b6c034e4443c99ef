#ifndef QUAIL_MBOX_H
#define QUAIL_MBOX_H

#include <stddef.h>

#include "str.h"

/* Appending one message to an mbox file, mboxrd style: a message line
 * matching ^>*From gets one more '>'. Writer: quail-local. */

#define MBOX_LOCK_WAIT 30       /* s to wait for the flock */
#define MBOX_OK 0
#define MBOX_TEMP (-1)          /* retry later; the file is as it was */

/* Appends head[0..headlen) as is (the "From " line and any header lines
 * to put first), then everything readable from msgfd (from its current
 * offset to EOF) quoted, ending the message in LF and a blank line, to
 * path (created 0600 when missing) under an exclusive flock, and fsyncs
 * it. Returns MBOX_OK once the message is durable. Every failure is
 * MBOX_TEMP, as in qmail-local: a lock, a full disk or a bad mode clear
 * up, and a bounce would lose the mail. Then anything appended is
 * truncated away and err holds the one result line for the log and
 * bounce, e.g. "Unable to write PATH: No space left on device. (#4.3.0)",
 * or is empty when memory ran out building it. */
int mbox_deliver(const char *path, int msgfd, const char *head,
                 size_t headlen, struct str *err);

#endif
