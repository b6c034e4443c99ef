#ifndef QUAIL_GONE_H
#define QUAIL_GONE_H

/* Removing delivered messages so that a power cut cannot bring a name
 * back on a newer file (quail-send).
 *
 * A queue ID is the message file's inode number. Without a journal the
 * disk does not order metadata writes, so after a power cut the names of
 * a removed message can come back while its inode (or its envelope's)
 * already holds a newer file, which the scheduler would then deliver.
 * So a removed message's files stay open, and their inodes taken, until
 * the fsyncs of the directories that named them make the removal
 * durable. gone_remove unlinks env/NN/ID (then mess/NN/ID) under the
 * current directory (the queue) and keeps envfd (the envelope, open, or
 * -1) and the message's fd; gone_flush fsyncs every directory touched
 * and closes them all. It runs by itself when GONE_MAX messages wait;
 * the caller runs it when gone_wait says, and before it exits.
 *
 * A message whose removal is not yet durable may come back after a
 * power cut, whole, and be delivered again; never another's bytes. */

#define GONE_MAX 256            /* messages held, two fds each */
#define GONE_MS 500             /* the longest a removal waits */

void gone_remove(unsigned long long id, int envfd);
/* ms until gone_flush is due (0: now), or -1 when nothing waits. */
long long gone_wait(long long now_ms);
void gone_flush(void);

#endif
